"""A runtime job: status, result, logs, cancel, and its streamed interim results."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import anyio

from ..errors import (
    EntryExists,
    EntryNotFound,
    JobTimeoutError,
    RuntimeInvalidStateError,
    RuntimeJobFailureError,
    RuntimeJobNotFound,
    not_found_as,
)
from ..models import JobStatus, parse_datetime
from .codec import ResultDecoder, decode_runtime
from .stream import ResultStream, run_callback

if TYPE_CHECKING:
    from .service import RuntimeService

__all__ = ["JobStatus", "RuntimeJob"]

logger = logging.getLogger("async_qexp")

_LARGE_PAYLOAD = 1 << 20  # decode results bigger than this in a worker thread


def _server_status(record: dict[str, Any]) -> str:
    """The server's status name: ``COMPLETED``, ``FAILED``, ``RAN TOO LONG``, ...

    Prefers the R-era ``state: {status, reason}`` and falls back to the P-era ``status``.
    """
    state = record.get("state")
    if isinstance(state, dict) and state.get("status"):
        name = str(state["status"]).upper()
        reason = str(state.get("reason") or "").upper()
        if name == "CANCELLED" and reason == "RAN TOO LONG":
            return "RAN TOO LONG"
        return name
    name = str(record.get("status") or "").upper()
    return "RAN TOO LONG" if name == "CANCELLED - RAN TOO LONG" else name


_STATUS_MAP = {
    "QUEUED": JobStatus.QUEUED,
    "RUNNING": JobStatus.RUNNING,
    "COMPLETED": JobStatus.DONE,
    "FAILED": JobStatus.ERROR,
    "CANCELLED": JobStatus.CANCELLED,
    "RAN TOO LONG": JobStatus.ERROR,
}


def decode_params(params: Any) -> dict[str, Any]:
    """A job's stored inputs: a dict, a one-element list of it, or a JSON string of it."""
    if isinstance(params, list):
        params = params[0] if params else {}
    if isinstance(params, str):
        params = json.loads(params) if params else {}
    decoded = decode_runtime(json.dumps(params)) if params else {}
    return decoded if isinstance(decoded, dict) else {"value": decoded}


class RuntimeJob:
    """A job running a runtime program; get it from ``RuntimeService.run`` or ``.job``.

    Attributes:
        job_id: the job's id.
        program_id: the program it runs.
        backend: the backend name.
        inputs: the program inputs.
    """

    def __init__(
        self,
        service: RuntimeService,
        job_id: str,
        *,
        program_id: str,
        backend: str,
        inputs: dict[str, Any] | None = None,
        creation_date: datetime | None = None,
        result_decoder: type[ResultDecoder] = ResultDecoder,
    ) -> None:
        self._service = service
        self.job_id = job_id
        self.program_id = program_id
        self.backend = backend
        self.inputs: dict[str, Any] = dict(inputs or {})
        self._creation_date = creation_date
        self._decoder = result_decoder
        self._status = JobStatus.INITIALIZING
        self._final_status_name = ""
        self._results: dict[type[ResultDecoder], Any] = {}
        self._error_message: str | None = None
        self._stream: ResultStream | None = None
        self._callback_task: asyncio.Task[None] | None = None

    @classmethod
    def from_record(cls, service: RuntimeService, record: dict[str, Any]) -> RuntimeJob:
        """Build a job from its ``GET /jobs/{id}`` record."""
        program = record.get("program") or {}
        job = cls(
            service,
            str(record["id"]),
            program_id=str(program.get("id", "") if isinstance(program, dict) else program),
            backend=str(record.get("backend") or ""),
            inputs=decode_params(record.get("params")),
        )
        job._apply(record, strict=False)
        return job

    def __repr__(self) -> str:
        return (
            f"<RuntimeJob {self.job_id} program={self.program_id} backend={self.backend} "
            f"status={self._status.value}>"
        )

    @property
    def creation_date(self) -> datetime | None:
        """When the job was created (local time zone); known once the job was fetched."""
        return self._creation_date

    @property
    def cached_status(self) -> JobStatus:
        """The last status seen, without asking the server."""
        return self._status

    def _apply(self, record: dict[str, Any], *, strict: bool = True) -> None:
        created = record.get("created")
        if created and self._creation_date is None:
            with contextlib.suppress(ValueError):
                self._creation_date = parse_datetime(str(created))
        name = _server_status(record)
        status = _STATUS_MAP.get(name)
        if status is None:
            if not strict:  # listing a job must not fail; status() reports it
                logger.warning("job %s has an unknown status %r", self.job_id, name)
                return
            raise RuntimeInvalidStateError(f"unknown job status from the server: {name!r}")
        if not self._status.is_final:
            self._status = status
            self._final_status_name = name

    # -- status and waiting --------------------------------------------------------------

    async def status(self) -> JobStatus:
        """The job's status; asks the server only until the status is final (M-11.3.3)."""
        if not self._status.is_final:
            self._apply(await self._service._job_record(self.job_id))
        return self._status

    async def error_message(self) -> str | None:
        """Why the job failed (its error text), or ``None`` unless its status is ERROR."""
        if await self.status() is not JobStatus.ERROR:
            return None
        if self._error_message is None:
            raw = await self._result_text()
            if self._final_status_name == "RAN TOO LONG":
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

        Polls quickly at first, then every ``wait`` seconds at most.

        Raises:
            JobTimeoutError: after ``timeout`` seconds (the job itself goes on).
        """
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
        self, timeout: float | None = None, decoder: type[ResultDecoder] | None = None
    ) -> Any:
        """Wait for the job to finish and return its decoded final result.

        Results are cached per decoder.

        Raises:
            RuntimeJobFailureError: if the job failed (the message holds its error text).
            JobTimeoutError: after ``timeout`` seconds.
        """
        decoder = decoder or self._decoder
        if decoder in self._results:
            return self._results[decoder]
        status = await self.wait_for_final_state(timeout)
        if status is JobStatus.ERROR:
            raise RuntimeJobFailureError(
                "Unable to retrieve job result. " + (await self.error_message() or "")
            )
        raw = await self._result_text()
        if len(raw) > _LARGE_PAYLOAD:
            value = await anyio.to_thread.run_sync(decoder.decode, raw)
        else:
            value = decoder.decode(raw) if raw else None
        self._results[decoder] = value
        return value

    # -- actions -------------------------------------------------------------------------

    async def cancel(self) -> None:
        """Cancel the job, stop streaming its results, and mark it CANCELLED.

        Raises:
            RuntimeInvalidStateError: if the job is already final.
        """
        try:
            with not_found_as(RuntimeJobNotFound):
                await self._service._request("POST", f"/jobs/{self.job_id}/cancel")
        except EntryExists as exc:  # 409: already final
            raise RuntimeInvalidStateError(f"Job cannot be cancelled: {exc.message}") from exc
        await self.cancel_result_streaming()
        self._status = JobStatus.CANCELLED
        self._final_status_name = "CANCELLED"

    async def logs(self) -> str:
        """The program's output (stdout, stderr and logging); ``""`` if there is none."""
        if not self._status.is_final:
            logger.info("job %s: logs are complete only after the job finishes", self.job_id)
        try:
            response = await self._service._request("GET", f"/jobs/{self.job_id}/logs")
        except EntryNotFound:
            return ""
        return response.text

    async def interim_results(self, decoder: type[ResultDecoder] | None = None) -> list[Any]:
        """Every interim result published so far, fetched over REST (not streamed)."""
        decoder = decoder or self._decoder
        return [decoder.decode(text) for text in await self._interim_texts()]

    async def _interim_texts(self) -> list[str]:
        response = await self._service._request("GET", f"/jobs/{self.job_id}/interim_results")
        body = response.text
        if not body:
            return []
        parsed = json.loads(body)
        items = parsed if isinstance(parsed, list) else [parsed]
        return [item if isinstance(item, str) else json.dumps(item) for item in items]

    async def _result_text(self) -> str:
        with not_found_as(RuntimeJobNotFound):
            response = await self._service._request("GET", f"/jobs/{self.job_id}/results")
        return response.text

    # -- streaming -----------------------------------------------------------------------

    def stream_results(
        self,
        callback: Callable[[str, Any], Any] | None = None,
        decoder: type[ResultDecoder] | None = None,
    ) -> ResultStream:
        """Stream the messages the program publishes, over the websocket.

        Without ``callback``, iterate the returned stream::

            async with job.stream_results() as stream:
                async for message in stream:
                    print(message)

        With ``callback`` (sync or async, called as ``callback(job_id, message)``), a task owned
        by the job feeds it every message; :meth:`cancel_result_streaming` stops it.

        Raises:
            RuntimeInvalidStateError: if this job is already streaming.
        """
        if self._stream is not None:
            raise RuntimeInvalidStateError("A callback function is already streaming results.")
        stream = self._service._open_stream(self, decoder or self._decoder)
        self._stream = stream
        if callback is not None:
            task = asyncio.ensure_future(run_callback(stream, self.job_id, callback))
            self._callback_task = task
            self._service._track(task)
        return stream

    def _stream_closed(self, stream: ResultStream) -> None:
        if self._stream is stream:
            self._stream = None

    @property
    def streaming(self) -> bool:
        """Whether a result stream of this job is open."""
        return self._stream is not None

    async def cancel_result_streaming(self) -> None:
        """Stop streaming results (a no-op when not streaming)."""
        stream, task = self._stream, self._callback_task
        self._callback_task = None
        if stream is not None:
            await stream.aclose()
        if task is not None and task is not asyncio.current_task():
            await asyncio.wait([task])
