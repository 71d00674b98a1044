"""Job tracking for an experiment container: one task per job, data kept in submission order.

A job is anything with a ``job_id`` and a ``result()`` (async, or sync: it then runs in a
worker thread), such as a :class:`~async_qexp.RuntimeJob`. :class:`JobTracker` waits for each
job in a task of the container's owner and hands the job's data to the container in the order
the jobs were added, whatever order they finish in (``docs/behaviour.md#jobs-and-raw-data``).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import traceback
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import anyio

from .._logs import get_logger
from .._tasks import TaskOwner
from ..errors import QexpError
from ..models import JobStatus
from ._qiskit import is_qiskit_result, qiskit_items
from ._state import JobsState
from .status import first_by_precedence, targets

__all__ = ["JobTracker", "call", "job_backend", "job_id_of"]

logger = get_logger("async_qexp.experiment")

_PRECEDENCE = (
    JobStatus.ERROR,
    JobStatus.CANCELLED,
    JobStatus.RUNNING,
    JobStatus.QUEUED,
    JobStatus.VALIDATING,
    JobStatus.INITIALIZING,
)

Data = list[dict[str, Any]]


async def call(fn: Callable[..., Any], *args: Any) -> Any:
    """Await an async callable; run a sync one in a worker thread (awaiting what it returns)."""
    if inspect.iscoroutinefunction(fn):
        return await fn(*args)
    value = await anyio.to_thread.run_sync(functools.partial(fn, *args))
    return await value if inspect.isawaitable(value) else value


def _attribute(obj: Any, name: str) -> Any:
    value = getattr(obj, name, None)
    return value() if callable(value) else value


def job_id_of(job: Any) -> str:
    """A job's id (its ``job_id`` attribute or method).

    Raises:
        TypeError: for an object without a string ``job_id``.
    """
    value = _attribute(job, "job_id")
    if not isinstance(value, str) or not value:
        raise TypeError(f"a job needs a string job_id, got {type(job).__name__}")
    return value


def backend_name(backend: Any) -> str:
    """The name of a backend given as a name or as an object with a ``name``."""
    if isinstance(backend, str):
        return backend
    name = _attribute(backend, "name")
    return str(name) if name else str(backend)


def job_backend(job: Any) -> str | None:
    """The name of the backend a job ran on, if it says."""
    value = _attribute(job, "backend")
    return None if value is None else backend_name(value)


def _status(value: Any) -> JobStatus:
    if isinstance(value, JobStatus):
        return value
    name = getattr(value, "name", value)
    try:
        return JobStatus(str(name).upper())
    except ValueError:
        raise QexpError(f"unsupported job status {value!r}") from None


async def job_status(job: Any) -> JobStatus | None:
    """A job's status, or ``None`` if it cannot tell (a warning is logged)."""
    method = getattr(job, "status", None)
    if method is None:
        return None
    try:
        return _status(await call(method) if callable(method) else method)
    except Exception as exc:
        logger.warning("could not read the status of job %s: %s", job_id_of(job), exc)
        return None


def _job_data(result: Any, job_id: str, job: Any) -> Data:
    """The data a job's result contributes: one dict per circuit/pub, tagged with the job id."""
    if is_qiskit_result(result):
        return qiskit_items(result, job_id, job)
    if isinstance(result, dict):
        items: list[Any] = [result]
    elif isinstance(result, list | tuple):
        items = list(result)
    else:
        items = [{"value": result}]
    data = []
    for item in items:
        datum = dict(item) if isinstance(item, dict) else {"value": item}
        datum.setdefault("job_id", job_id)
        data.append(datum)
    return data


class JobTracker:
    """The jobs of one container.

    Args:
        owner: the task owner the job waits run in.
        deliver: called with each job's data, in the order the jobs were added.
        finished: called with ``(job_id, when)`` when a job's data was delivered; ``touch``
            tells whether the job was added now (rather than re-attached after a load).
    """

    def __init__(
        self,
        owner: TaskOwner,
        *,
        deliver: Callable[[Data], None],
        finished: Callable[[str, datetime, bool], None],
    ) -> None:
        self._owner = owner
        self._deliver = deliver
        self._finished = finished
        self.jobs: dict[str, Any] = {}
        """Job objects by id (``None`` for ids known without an object)."""
        self._tasks: dict[str, asyncio.Task[bool]] = {}
        self._slots: dict[str, Data | None] = {}
        self._final: dict[str, JobStatus] = {}
        self._errors: dict[str, str] = {}
        self.completion_times: dict[str, datetime] = {}
        """When each job's data arrived, by job id."""

    def tasks(self) -> list[asyncio.Task[bool]]:
        """Every job wait, finished or not."""
        return list(self._tasks.values())

    def pending(self) -> list[asyncio.Task[bool]]:
        """The job waits still running."""
        return [task for task in self._tasks.values() if not task.done()]

    def pending_jobs(self) -> list[Any]:
        """The job objects whose data has not arrived yet."""
        return [self.jobs[jid] for jid, task in self._tasks.items() if not task.done()]

    def known(self, job_ids: Iterable[str]) -> None:
        """Record job ids whose objects are not known (a loaded experiment's)."""
        for job_id in job_ids:
            self.jobs.setdefault(job_id, None)

    def snapshot(self) -> JobsState:
        """What is known of the jobs without their objects (a job still running is kept as
        its id, its status unknown)."""
        return JobsState(
            ids=list(self.jobs),
            completion_times=dict(self.completion_times),
            final=dict(self._final),
            errors=dict(self._errors),
        )

    def restore(self, state: JobsState) -> None:
        """Refill an empty tracker from :meth:`snapshot` (the ids known without objects)."""
        self.known(state.ids)
        self.completion_times.update(state.completion_times)
        self._final.update(state.final)
        self._errors.update(state.errors)

    # -- adding and waiting ----------------------------------------------------------------

    def add(self, job: Any, *, touch: bool = True) -> asyncio.Task[bool] | None:
        """Wait for ``job`` in the background; ``None`` if a job with its id is there already."""
        job_id = job_id_of(job)
        if self.jobs.get(job_id) is not None or job_id in self._tasks:
            logger.warning("Skipping duplicate job, a job with this ID already exists [%s]", job_id)
            return None
        self.jobs[job_id] = job
        self._slots[job_id] = None
        task = self._owner.spawn(self._wait(job_id, job, touch))
        self._tasks[job_id] = task
        return task

    def cancel_after(self, tasks: Sequence[asyncio.Task[bool]], timeout: float) -> None:
        """Cancel the jobs of ``tasks`` that are still running after ``timeout`` seconds."""

        async def watch() -> None:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            if pending:
                ids = [jid for jid, task in self._tasks.items() if task in pending]
                logger.warning("jobs %s did not finish within %s s: cancelling them", ids, timeout)
                await self.cancel(ids)

        self._owner.spawn(watch())

    def _resolve(self, job_id: str, data: Data) -> None:
        """Fill a job's slot, then deliver every filled slot in job order."""
        self._slots[job_id] = data
        for jid in list(self._slots):
            ready = self._slots[jid]
            if ready is None:
                break
            self._deliver(ready)
            del self._slots[jid]

    async def _wait(self, job_id: str, job: Any, touch: bool) -> bool:
        try:
            result = await call(job.result)
            data = _job_data(result, job_id, job)
        except asyncio.CancelledError:
            self._resolve(job_id, [])
            raise
        except Exception as exc:
            self._resolve(job_id, [])
            status = await job_status(job)
            if status is JobStatus.CANCELLED:
                self._final[job_id] = JobStatus.CANCELLED
                logger.warning("Job was cancelled before completion [Job ID: %s]", job_id)
                return False
            if status is JobStatus.ERROR:
                self._final[job_id] = JobStatus.ERROR
                message = getattr(job, "error_message", None)
                text = str(await call(message)) if callable(message) else str(exc)
                self._errors[job_id] = text
                logger.error("Job data not added for errored job [Job ID: %s]: %s", job_id, text)
                return False
            logger.warning("Adding data from job failed [Job ID: %s]: %s", job_id, exc)
            raise
        if await job_status(job) is JobStatus.CANCELLED:  # some jobs return after a cancel
            self._resolve(job_id, [])
            self._final[job_id] = JobStatus.CANCELLED
            return False
        self._resolve(job_id, data)
        now = datetime.now().astimezone()
        self.completion_times[job_id] = now
        self._final[job_id] = JobStatus.DONE
        self._finished(job_id, now, touch)
        return True

    # -- status ------------------------------------------------------------------------------

    async def status(self) -> JobStatus:
        """The overall status: ERROR > CANCELLED > RUNNING > QUEUED > ... > DONE."""
        if not self.jobs:
            return JobStatus.DONE

        async def one(job_id: str, job: Any) -> JobStatus | None:
            if job_id in self._final:
                return self._final[job_id]
            if job is None:
                return None
            status = await job_status(job)
            if status is None:
                task = self._tasks.get(job_id)
                return JobStatus.RUNNING if task is not None and not task.done() else None
            return status

        statuses = await asyncio.gather(*(one(jid, job) for jid, job in self.jobs.items()))
        present = [s for s in statuses if s is not None]
        return first_by_precedence(present, _PRECEDENCE, JobStatus.DONE)

    def cached_status(self) -> JobStatus:
        """The overall status from what is known without asking any service: the final
        statuses, a job's own ``cached_status`` (a :class:`~async_qexp.RuntimeJob` has one),
        RUNNING for a job still waited on."""
        statuses = []
        for job_id, job in self.jobs.items():
            cached = getattr(job, "cached_status", None)
            task = self._tasks.get(job_id)
            if job_id in self._final:
                statuses.append(self._final[job_id])
            elif isinstance(cached, JobStatus):
                statuses.append(cached)
            elif task is not None and not task.done():
                statuses.append(JobStatus.RUNNING)
        return first_by_precedence(statuses, _PRECEDENCE, JobStatus.DONE)

    def errors(self) -> str:
        """Errors of failed jobs and of job waits that raised, one block per job."""
        parts = [f"\n[Job ID: {jid}]: {msg}" for jid, msg in self._errors.items()]
        for job_id, task in self._tasks.items():
            if task.done() and not task.cancelled() and task.exception() is not None:
                exc = task.exception()
                assert exc is not None
                text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
                parts.append(f"\n[Job ID: {job_id}]: {text}")
        return "".join(parts)

    async def cancel(self, ids: Iterable[str] | None = None) -> bool:
        """Cancel jobs that are not final (all by default) and stop waiting for them.

        Returns:
            ``True`` if every targeted job was cancelled.
        """
        ok = True
        for job_id in targets(self.jobs, ids):
            job = self.jobs[job_id]
            task = self._tasks.get(job_id)
            if job is None or (task is not None and task.done()):
                continue
            status = await job_status(job)
            if status is not None and status.is_final:
                continue
            try:
                cancel = getattr(job, "cancel", None)
                if cancel is None:
                    raise QexpError("the job has no cancel()")
                await call(cancel)
                logger.warning("Cancelled job [Job ID: %s]", job_id)
            except Exception as exc:
                ok = False
                logger.warning("Unable to cancel job [Job ID: %s]: %s", job_id, exc)
                continue
            self._final[job_id] = JobStatus.CANCELLED
            if task is not None:
                task.cancel()
        return ok
