"""A runtime job: status, result, logs, cancel, and its streamed interim results.

How a job behaves, rule by rule, is in ``docs/behaviour.md#runtimejob``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

import anyio

from .._config import StreamPolicy
from .._logs import get_logger
from .._tasks import TaskOwner
from ..errors import JobTimeoutError, RuntimeInvalidStateError, RuntimeJobFailureError
from ..models._checks import require_ident, require_seconds, require_str
from ..models._display import Column, Displayable, short_time
from ..models.runtime import RAN_TOO_LONG, JobRecord, JobStatus
from ._api import JobsApi, known_status
from .decoder import ResultDecoder, check_decoder, decode_result
from .stream import MessageCallback, ResultStream

__all__ = ["JobRuntime", "JobStatus", "RuntimeJob"]

logger = get_logger("async_qexp.runtime")


class JobRuntime(Protocol):
    """What a job needs of the runtime service it belongs to
    (:class:`~async_qexp.runtime.RuntimeService` is one)."""

    @property
    def jobs_api(self) -> JobsApi:
        """The REST calls of jobs."""

    @property
    def tasks(self) -> TaskOwner:
        """The owner of every task the job starts (the provider's)."""

    @property
    def stream_policy(self) -> StreamPolicy:
        """How result streams keep their connection."""


class RuntimeJob(Displayable):
    """A job running a runtime program; get it from ``RuntimeService.run`` or ``.job``.

    It shows its id, program, backend, last known status and creation date (in a ``repr``, in
    IPython, and as a table in a notebook) without asking the server.

    Args:
        runtime: the runtime service the job belongs to.
        job_id: the job's id.
        program_id: the program it runs.
        backend: the backend name.
        inputs: the program inputs.
        creation_date: when the job was created, if known.
        result_decoder: the :class:`ResultDecoder` class for its result and messages.
        image: the runtime image it was run with (``""``: the default, or not known).

    Attributes:
        job_id: the job's id.
        program_id: the program it runs.
        backend: the backend name.
        inputs: the program inputs.
        image: the runtime image ``name:tag`` given to ``run()``; ``""`` for the default
            image, and for a job rebuilt from its record (the reference's ``image``).

    Raises:
        TypeError: for an argument of the wrong type.
        ValueError: for a job id that cannot be an id.
    """

    def __init__(
        self,
        runtime: JobRuntime,
        job_id: str,
        *,
        program_id: str,
        backend: str,
        inputs: Mapping[str, Any] | None = None,
        creation_date: datetime | None = None,
        result_decoder: type[ResultDecoder] = ResultDecoder,
        image: str = "",
    ) -> None:
        if inputs is not None and not isinstance(inputs, Mapping):
            raise TypeError(f"inputs must be a dict, not {type(inputs).__name__}")
        self.image = require_str(image, "image")
        self._runtime = runtime
        self._api = runtime.jobs_api
        self.job_id = require_ident(job_id, "job_id")
        self.program_id = require_str(program_id, "program_id")
        self.backend = require_str(backend, "backend")
        self.inputs: dict[str, Any] = dict(inputs or {})
        self._creation_date = creation_date
        self._decoder = check_decoder(result_decoder, "result_decoder") or ResultDecoder
        self._status = JobStatus.INITIALIZING
        self._final_status_name = ""
        self._results: dict[type[ResultDecoder], Any] = {}
        self._error_message: str | None = None
        self._stream: ResultStream | None = None

    @classmethod
    def from_record(cls, runtime: JobRuntime, record: JobRecord | Mapping[str, Any]) -> RuntimeJob:
        """Build a job from its record (a :class:`~async_qexp.models.JobRecord`, or the
        ``GET /jobs/{id}`` JSON it is read from).

        Raises:
            ValueError: for a record that cannot be read.
        """
        if not isinstance(record, JobRecord):
            record = JobRecord.from_wire(record)
        job = cls(
            runtime,
            record.job_id,
            program_id=record.program_id,
            backend=record.backend,
            inputs=record.inputs,
        )
        job._apply(record, strict=False, announce=False)
        return job

    _noun = "job"
    _columns = (
        Column("id", "job_id"),
        Column("program", "program_id"),
        Column("backend", "backend"),
        Column("status", "cached_status"),
        Column("created", "creation_date"),
    )

    def _summary(self) -> str:
        text = f"RuntimeJob {self.job_id} {self.program_id} on {self.backend}, {self._status.value}"
        if self._creation_date is not None:
            text += f", created {short_time(self._creation_date)}"
        return text

    @property
    def creation_date(self) -> datetime | None:
        """When the job was created (local time zone); known once the job was fetched."""
        return self._creation_date

    @property
    def cached_status(self) -> JobStatus:
        """The last status seen, without asking the server."""
        return self._status

    def _apply(self, record: JobRecord, *, strict: bool = True, announce: bool = True) -> None:
        if record.created is not None and self._creation_date is None:
            self._creation_date = record.created
        if record.status is None and not strict:  # listing a job must not fail
            logger.warning("job %s has an unknown status %r", self.job_id, record.status_name)
            return
        status = known_status(record)
        if not self._status.is_final:
            if announce and status is not self._status:
                logger.info("job %s: %s -> %s", self.job_id, self._status.name, status.name)
            self._status = status
            self._final_status_name = record.status_name

    # -- status and waiting --------------------------------------------------------------

    async def status(self) -> JobStatus:
        """The job's status; asks the server only until the status is final
        (``docs/behaviour.md#status-caching``).

        Raises:
            RuntimeInvalidStateError: for a status this client does not know.
        """
        if not self._status.is_final:
            self._apply(await self._api.record(self.job_id))
        return self._status

    async def error_message(self) -> str | None:
        """Why the job failed (its error text), or ``None`` unless its status is ERROR."""
        if await self.status() is not JobStatus.ERROR:
            return None
        if self._error_message is None:
            raw = await self._api.result_text(self.job_id)
            if self._final_status_name == RAN_TOO_LONG:
                self._error_message = (
                    f"Job {self.job_id} ran longer than maximum execution time. "
                    f"Job was cancelled:\n{raw}"
                )
            else:
                self._error_message = f"Job {self.job_id} has failed:\n{raw}"
        return self._error_message

    async def wait_for_final_state(
        self, timeout: float | None = None, wait: float = 1.0
    ) -> JobStatus:
        """Wait until the job is final and return its status.

        Polls quickly at first, then every ``wait`` seconds at most
        (``docs/behaviour.md#waiting-for-the-final-state``).

        Args:
            timeout: seconds to wait at most (``None``: no limit).
            wait: the longest pause between two status polls, in seconds.

        Raises:
            TypeError: for a ``timeout`` or ``wait`` that is not a number.
            ValueError: for a negative ``timeout`` or a ``wait`` not above 0 (before polling).
            JobTimeoutError: after ``timeout`` seconds (the job itself goes on).
        """
        require_seconds(timeout, "timeout", optional=True, zero=True)
        require_seconds(wait, "wait")
        interval = min(0.05, wait)
        try:
            with anyio.fail_after(timeout):
                while not (await self.status()).is_final:
                    await asyncio.sleep(interval)
                    interval = min(wait, interval * 1.5)
        except TimeoutError:
            raise JobTimeoutError(f"Timeout while waiting for job {self.job_id}.") from None
        return self._status

    async def result(
        self,
        timeout: float | None = None,
        wait: float = 1.0,
        decoder: type[ResultDecoder] | None = None,
    ) -> Any:
        """Wait for the job to finish and return its decoded final result.

        The arguments are the reference's, in its order: ``timeout`` and ``wait`` mean what
        they mean to :meth:`wait_for_final_state`. Results are cached per decoder
        (``docs/behaviour.md#result``).

        Args:
            timeout: seconds to wait for the job at most (``None``: no limit).
            wait: the longest pause between two status polls, in seconds.
            decoder: the :class:`ResultDecoder` class to decode with (the job's if ``None``).

        Raises:
            TypeError: for a decoder that is not a decoder class, or a ``timeout`` or ``wait``
                that is not a number.
            ValueError: for a negative ``timeout`` or a ``wait`` not above 0.
            RuntimeJobFailureError: if the job failed (the message holds its error text).
            JobTimeoutError: after ``timeout`` seconds.
        """
        require_seconds(timeout, "timeout", optional=True, zero=True)
        require_seconds(wait, "wait")
        decoder = check_decoder(decoder) or self._decoder
        if decoder in self._results:
            return self._results[decoder]
        status = await self.wait_for_final_state(timeout, wait)
        if status is JobStatus.ERROR:
            raise RuntimeJobFailureError(
                "Unable to retrieve job result. " + (await self.error_message() or "")
            )
        value = await decode_result(decoder, await self._api.result_text(self.job_id))
        self._results[decoder] = value
        return value

    # -- actions -------------------------------------------------------------------------

    async def cancel(self) -> None:
        """Cancel the job, stop streaming its results, and mark it CANCELLED.

        Raises:
            RuntimeInvalidStateError: if the job is already final.
            RuntimeJobNotFound: if the job does not exist.
        """
        await self._api.cancel(self.job_id)
        await self.cancel_result_streaming()
        if self._status is not JobStatus.CANCELLED:
            logger.info("job %s: %s -> CANCELLED (cancelled)", self.job_id, self._status.name)
        self._status = JobStatus.CANCELLED
        self._final_status_name = "CANCELLED"

    async def logs(self) -> str:
        """The program's output (stdout, stderr and logging); ``""`` if there is none."""
        if not self._status.is_final:
            logger.info("job %s: logs are complete only after the job finishes", self.job_id)
        return await self._api.logs(self.job_id)

    async def interim_results(self, decoder: type[ResultDecoder] | None = None) -> list[Any]:
        """Every interim result published so far, fetched over REST (not streamed).

        Raises:
            TypeError: for a decoder that is not a decoder class.
        """
        decoder = check_decoder(decoder) or self._decoder
        return [decoder.decode(text) for text in await self._api.interim_texts(self.job_id)]

    # -- streaming -----------------------------------------------------------------------

    def stream_results(
        self,
        callback: MessageCallback | None = None,
        decoder: type[ResultDecoder] | None = None,
    ) -> ResultStream:
        """Stream the messages the program publishes, over the websocket.

        Without ``callback``, iterate the returned stream::

            async with job.stream_results() as stream:
                async for message in stream:
                    print(message)

        With ``callback`` (sync or async, called as ``callback(job_id, message)``), a task
        owned by the provider feeds it every message; :meth:`cancel_result_streaming` stops it.
        A callback, or a decoder, that raises is logged and the later messages still arrive.

        Raises:
            TypeError: for a callback that is not callable or a decoder that is not a
                decoder class.
            RuntimeInvalidStateError: if this job is already streaming.
            ClosedError: if the provider is closed.
        """
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        decoder = check_decoder(decoder) or self._decoder
        if self.streaming:
            raise RuntimeInvalidStateError("A callback function is already streaming results.")
        self._stream = ResultStream(
            self._api,
            self.job_id,
            decoder=decoder,
            policy=self._runtime.stream_policy,
            tasks=self._runtime.tasks,
            callback=callback,
        )
        return self._stream

    @property
    def streaming(self) -> bool:
        """Whether a result stream of this job is open."""
        return self._stream is not None and not self._stream.closed

    async def cancel_result_streaming(self) -> None:
        """Stop streaming results (a no-op when not streaming); a callback is fed the messages
        already received before this returns."""
        stream, self._stream = self._stream, None
        if stream is not None:
            await stream.aclose()
