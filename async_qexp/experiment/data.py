"""ExperimentData: the async container for jobs, analysis, results, figures and artifacts.

It follows the reference ``ExperimentData`` rule by rule (BEHAVIOUR §1-§10) with asyncio tasks
instead of threads (§12):

* every job wait and every analysis callback is a task owned by the container; leaving
  ``async with ExperimentData(...)`` (or ``await exp.aclose()``) cancels what is still pending;
  cancelling a caller that waits (``block_for_results``) cancels nothing the container owns;
* sync analysis callbacks, file reads and figure rendering run in worker threads, so the event
  loop never blocks; the local mutators (``add_data``, ``add_analysis_results``,
  ``add_figures``, ...) are thread-safe, so a sync callback can call them;
* ``save()`` sends only what changed since the last save, with every upload concurrent under
  one bound, the experiment before its results and figures and a parent before its children;
* with ``auto_save`` on, every change schedules a save on one serial, coalescing saver.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import copy as copy_module
import functools
import hashlib
import inspect
import json
import logging
import os
import threading
import traceback
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import attrs

from .._auth import HubGroupProject
from .._version import __version__
from ..errors import EntryExists, EntryNotFound, QexpError
from ..models import (
    Experiment,
    ExperimentShareLevel,
    JobStatus,
    create_body,
    encode_envelopes,
    update_body,
)
from .artifacts import ArtifactData, artifacts_from_zip, artifacts_to_zip
from .figures import FigureData, figure_to_bytes, free_name, is_svg_text
from .results import AnalysisResultData, AnalysisResultTable, quality_text
from .service import ExperimentService
from .status import AnalysisCallback, AnalysisStatus, ExperimentStatus, first_by_precedence

if TYPE_CHECKING:
    from .._client import Provider
    from ..runtime.service import RuntimeService

__all__ = [
    "DEFAULT_SAVE_CONCURRENCY",
    "ExperimentData",
    "ExperimentDataError",
    "ExperimentDataSaveFailed",
    "SaveReport",
]

logger = logging.getLogger("async_qexp")

DEFAULT_SAVE_CONCURRENCY = 64
"""Uploads in flight at once during ``save()``: the client-wide default bound, so a default
save uses all of it and no more. Measured (``bench/README.md``, 20 ms server latency): up to
32 a save is latency-bound and scales linearly; 64 reaches the emulator's ceiling; 128 is no
faster and its event-loop lag is worse."""

METADATA_FILE = "metadata.json"
_MAX_INLINE_METADATA = 10_000  # bytes of JSON; larger metadata goes to metadata.json (M-9.2)
_FLIP_ATTEMPTS = 3  # create-or-update attempts (M-9.5)
_FINGERPRINT_SLICE = 100  # results fingerprinted between two yields to the loop

_JOB_PRECEDENCE = (
    JobStatus.ERROR,
    JobStatus.CANCELLED,
    JobStatus.RUNNING,
    JobStatus.QUEUED,
    JobStatus.VALIDATING,
    JobStatus.INITIALIZING,
)
_ANALYSIS_PRECEDENCE = (
    AnalysisStatus.ERROR,
    AnalysisStatus.CANCELLED,
    AnalysisStatus.RUNNING,
    AnalysisStatus.QUEUED,
)

# The container whose analysis callback is running in this context (deadlock guard, §12.2).
_running_callback_of: contextvars.ContextVar[ExperimentData | None] = contextvars.ContextVar(
    "async_qexp_running_callback_of", default=None
)

T = TypeVar("T")


class ExperimentDataError(QexpError):
    """Misuse of an :class:`ExperimentData` (e.g. setting a second service)."""


class ExperimentDataSaveFailed(ExperimentDataError):
    """``save(suppress_errors=False)`` could not save everything.

    Attributes:
        report: what was saved and what failed; the failed items stay pending, so a later
            ``save()`` retries exactly them.
    """

    def __init__(self, message: str, report: SaveReport) -> None:
        super().__init__(message)
        self.report = report


@attrs.define
class SaveReport:
    """What one ``save()`` sent.

    Attributes:
        sent: how many requests succeeded (experiment, results, figures, files, deletes).
        failed: ``(what, exception)`` for every item that could not be saved.
        children: the reports of the child containers.
    """

    sent: int = 0
    failed: list[tuple[str, BaseException]] = attrs.field(factory=list)
    children: list[SaveReport] = attrs.field(factory=list)

    @property
    def ok(self) -> bool:
        """Whether everything was saved, children included."""
        return not self.failed and all(child.ok for child in self.children)

    @property
    def total_sent(self) -> int:
        """Requests sent, children included."""
        return self.sent + sum(child.total_sent for child in self.children)

    def all_failures(self) -> list[tuple[str, BaseException]]:
        """Every failure, children included."""
        failures = list(self.failed)
        for child in self.children:
            failures += child.all_failures()
        return failures


class _Bound:
    """The upload bound of one ``save()``: shared by the container and its children."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self.slots = asyncio.Semaphore(self.size)


def _fingerprint(value: Any) -> str:
    text = json.dumps(encode_envelopes(value), sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _job_id_of(job: Any) -> str:
    value = getattr(job, "job_id", None)
    if callable(value):
        value = value()
    if not isinstance(value, str) or not value:
        raise TypeError(f"a job needs a string job_id, got {type(job).__name__}")
    return value


def _backend_of(job: Any) -> str | None:
    value = getattr(job, "backend", None)
    if callable(value):
        value = value()
    if value is None:
        return None
    return value if isinstance(value, str) else _backend_name(value)


def _backend_name(backend: Any) -> str:
    if isinstance(backend, str):
        return backend
    name = getattr(backend, "name", None)
    if callable(name):
        name = name()
    return str(name) if name else str(backend)


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def _call(fn: Callable[..., Any], *args: Any) -> Any:
    """Await an async callable; run a sync one in a worker thread."""
    if inspect.iscoroutinefunction(fn):
        return await fn(*args)
    return await _maybe_await(await anyio.to_thread.run_sync(functools.partial(fn, *args)))


def _normalise_status(value: Any) -> JobStatus:
    if isinstance(value, JobStatus):
        return value
    name = getattr(value, "name", value)
    try:
        return JobStatus(str(name).upper())
    except ValueError:
        raise ExperimentDataError(f"unsupported job status {value!r}") from None


async def _job_status(job: Any) -> JobStatus | None:
    method = getattr(job, "status", None)
    if method is None:
        return None
    try:
        return _normalise_status(await _call(method) if callable(method) else method)
    except Exception as exc:
        logger.warning("could not read the status of job %s: %s", _job_id_of(job), exc)
        return None


def _job_data(result: Any, job_id: str) -> list[dict[str, Any]]:
    """The data a job's result contributes: one dict per circuit/pub, tagged with the job id."""
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


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Done callback: mark a task's exception as retrieved (it is reported elsewhere)."""
    if not task.cancelled():
        task.exception()


class ExperimentData:
    """A container for one experiment: raw data, jobs, analysis, results, figures, artifacts.

    Use it as an async context manager, or close it with :meth:`aclose`::

        async with ExperimentData(service=provider, experiment_type="T1",
                                  backend="ibmq_lima") as exp:
            exp.add_jobs(job)
            exp.add_analysis_callback(fit_t1)
            await exp.block_for_results()
            await exp.save()

    Args:
        experiment: an experiment object (``experiment_type``, ``backend``, ``_metadata()``).
        backend: the backend (a name, or an object with a ``name``).
        service: the experiment service, or a :class:`~async_qexp.Provider` (whose runtime is
            then also used to fetch the jobs of a loaded experiment).
        provider: a :class:`~async_qexp.Provider` (gives the service when ``service`` is not set).
        parent_id: the parent experiment's id.
        job_ids: ids of jobs submitted for the experiment.
        child_data: child containers.
        verbose: print where the experiment can be seen after a save.
        start_datetime: when the experiment started (default: now).
        experiment_type, experiment_id, tags, metadata, share_level, notes, hub, group,
        project: fields of the stored experiment.
        kwargs: any other value, kept on the container and readable as an attribute.
    """

    def __init__(
        self,
        experiment: Any = None,
        backend: Any = None,
        service: ExperimentService | Provider | None = None,
        provider: Provider | None = None,
        parent_id: str | None = None,
        job_ids: Sequence[str] | None = None,
        child_data: Sequence[ExperimentData] | None = None,
        verbose: bool = True,
        start_datetime: datetime | None = None,
        *,
        experiment_type: str | None = None,
        experiment_id: str | None = None,
        tags: Sequence[str] | None = None,
        metadata: dict[str, Any] | None = None,
        share_level: ExperimentShareLevel | str | None = None,
        notes: str | None = None,
        hub: str | None = None,
        group: str | None = None,
        project: str | None = None,
        **kwargs: Any,
    ) -> None:
        self._lock = threading.RLock()
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._experiment = experiment
        if experiment is not None:
            backend = backend if backend is not None else getattr(experiment, "backend", None)
            experiment_type = experiment_type or getattr(experiment, "experiment_type", "")
        meta = copy_module.deepcopy(metadata) if metadata is not None else {}
        if metadata is None and experiment is not None and hasattr(experiment, "_metadata"):
            meta = copy_module.deepcopy(experiment._metadata())
        meta.setdefault(
            "_source",
            {
                "class": f"{type(self).__module__}.{type(self).__name__}",
                "metadata_version": 1,
                "async_qexp_version": __version__,
            },
        )
        self._record = Experiment(
            experiment_id=experiment_id or str(uuid.uuid4()),
            experiment_type=experiment_type or "",
            backend_name=_backend_name(backend) if backend is not None else "",
            metadata=meta,
            parent_id=parent_id,
            job_ids=list(job_ids or []),
            tags=list(tags or []),
            notes=notes or "",
            share_level=ExperimentShareLevel.parse(share_level) if share_level else None,
            hub=hub or "",
            group=group or "",
            project=project or "",
            start_datetime=start_datetime or datetime.now().astimezone(),
        )
        self._backend = backend
        self.verbose = verbose
        self._extra = dict(kwargs)
        self._service: ExperimentService | None = None
        self._runtime: RuntimeService | None = None
        self._provider = provider
        self._auto_save = False

        self._data: list[dict[str, Any]] = []
        self._jobs: dict[str, Any] = dict.fromkeys(self._record.job_ids)
        self._job_tasks: dict[str, asyncio.Task[bool]] = {}
        self._job_slots: dict[str, list[dict[str, Any]] | None] = {}
        self._job_final: dict[str, JobStatus] = {}
        self._job_errors: dict[str, str] = {}
        self._completion_times: dict[str, datetime] = {}
        self._callbacks: dict[str, AnalysisCallback] = {}
        self._callback_tasks: dict[str, asyncio.Task[bool]] = {}
        self._other_tasks: set[asyncio.Task[Any]] = set()
        self._results = AnalysisResultTable()
        self._figures: dict[str, FigureData | None] = {}
        self._figure_versions: dict[str, int] = {}
        self._artifacts: dict[str, ArtifactData] = {}
        self._deleted_results: dict[str, None] = {}
        self._deleted_figures: dict[str, None] = {}
        self._deleted_artifacts: set[str] = set()
        self._children: dict[str, ExperimentData] = {}

        # What the service holds: fingerprints of what was last saved, per item.
        self._created_in_db = False
        self._saved: dict[str, str] = {}
        self._stored_results: set[str] = set()
        self._save_lock: asyncio.Lock | None = None
        self._saver: asyncio.Task[None] | None = None
        self._save_requested = False
        self._closed = False

        if service is not None or provider is not None:
            self._attach_service(service if service is not None else provider)
        for child in child_data or []:
            self.add_child_data(child)

    # -- plumbing ------------------------------------------------------------------------

    def _attach_service(self, service: Any) -> None:
        from .._client import Provider

        if isinstance(service, Provider):
            self._provider = self._provider or service
            self._runtime = service._runtime
            service = service.experiment
        if not isinstance(service, ExperimentService):
            raise TypeError("service must be an ExperimentService or a Provider")
        self._service = service
        if service.hgp is not None and not self._record.hub:
            hgp = service.hgp
            self._record.hub, self._record.group, self._record.project = (
                hgp.hub,
                hgp.group,
                hgp.project,
            )

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            try:
                self._loop = asyncio.get_running_loop()
            except RuntimeError:
                raise ExperimentDataError(
                    "jobs, callbacks and saves need a running event loop: call this from async code"
                ) from None
        return self._loop

    def _on_loop(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the container's loop thread (waiting for it from a worker thread)."""
        loop = self._bind_loop()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            return fn()
        if running is not None:
            raise ExperimentDataError("this ExperimentData belongs to another event loop")
        outcome: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                outcome.set_result(fn())
            except BaseException as exc:  # handed back to the calling thread
                outcome.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return outcome.result()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = self._bind_loop().create_task(coro)
        task.add_done_callback(_retrieve)
        return task

    def _check_not_in_callback(self, what: str) -> None:
        if _running_callback_of.get() is self:
            raise RuntimeError(
                f"{what} from inside one of this container's analysis callbacks would wait "
                "for itself; use the non-blocking form"
            )

    # -- properties ----------------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        extra = self.__dict__.get("_extra", {})
        if name in extra:
            return extra[name]
        raise AttributeError(f"Attribute {name} is not defined")

    @property
    def experiment(self) -> Any:
        """The experiment object that produced the data, if any."""
        return self._experiment

    @property
    def experiment_id(self) -> str:
        """The experiment's id."""
        return self._record.experiment_id

    @property
    def experiment_type(self) -> str:
        """The experiment type."""
        return self._record.experiment_type

    @experiment_type.setter
    def experiment_type(self, value: str) -> None:
        self._record.experiment_type = value

    @property
    def parent_id(self) -> str | None:
        """The parent experiment's id."""
        return self._record.parent_id

    @parent_id.setter
    def parent_id(self, value: str | None) -> None:
        self._record.parent_id = value

    @property
    def job_ids(self) -> list[str]:
        """Ids of the experiment's jobs (the live list)."""
        return self._record.job_ids

    @property
    def metadata(self) -> dict[str, Any]:
        """The experiment metadata (the live dict)."""
        return self._record.metadata

    @property
    def tags(self) -> list[str]:
        """Tags, sorted and without duplicates."""
        return self._record.tags

    @tags.setter
    def tags(self, value: list[str]) -> None:
        if not isinstance(value, list):
            raise ExperimentDataError(f"tags must be a list, not {type(value).__name__}")
        self._record.tags = sorted(set(value))
        self._request_autosave()

    @property
    def notes(self) -> str:
        """Free-form notes."""
        return self._record.notes

    @notes.setter
    def notes(self, value: str) -> None:
        self._record.notes = value
        self._request_autosave()

    @property
    def share_level(self) -> ExperimentShareLevel | None:
        """Who can see the experiment (set on the children too)."""
        return self._record.share_level

    @share_level.setter
    def share_level(self, value: ExperimentShareLevel | str) -> None:
        level = ExperimentShareLevel.parse(value)
        self._record.share_level = level
        for child in self._children.values():
            child._record.share_level = level
            child._request_autosave()
        self._request_autosave()

    @property
    def backend(self) -> Any:
        """The backend (as given: a name or a backend object)."""
        return self._backend

    @backend.setter
    def backend(self, value: Any) -> None:
        self._set_backend(value)
        self._request_autosave()

    def _set_backend(self, value: Any) -> None:
        self._backend = value
        self._record.backend_name = _backend_name(value)
        for child in self._children.values():
            child._set_backend(value)

    @property
    def backend_name(self) -> str:
        """The backend's name."""
        return self._record.backend_name

    @property
    def hub(self) -> str:
        """The hub the experiment is stored in."""
        return self._record.hub

    @property
    def group(self) -> str:
        """The group the experiment is stored in."""
        return self._record.group

    @property
    def project(self) -> str:
        """The project the experiment is stored in."""
        return self._record.project

    @property
    def hgp(self) -> str:
        """``"hub/group/project"``.

        Raises:
            ExperimentDataError: if any part is unset.
        """
        if not (self.hub and self.group and self.project):
            raise ExperimentDataError("hub, group and project are not all set")
        return f"{self.hub}/{self.group}/{self.project}"

    @hgp.setter
    def hgp(self, value: str) -> None:
        try:
            parsed = HubGroupProject.parse(value)
        except ValueError as exc:
            raise ExperimentDataError(str(exc)) from None
        self._record.hub, self._record.group, self._record.project = (
            parsed.hub,
            parsed.group,
            parsed.project,
        )

    @property
    def owner(self) -> str:
        """The owner's user id (set by the service)."""
        return self._record.owner

    @property
    def creation_datetime(self) -> datetime | None:
        """When the service stored the experiment (set by ``save``/``load``)."""
        return self._record.creation_datetime

    @property
    def updated_datetime(self) -> datetime | None:
        """When the service last updated the experiment."""
        return self._record.updated_datetime

    @property
    def start_datetime(self) -> datetime | None:
        """When the experiment started."""
        return self._record.start_datetime

    @start_datetime.setter
    def start_datetime(self, value: datetime) -> None:
        self._record.start_datetime = value

    @property
    def end_datetime(self) -> datetime | None:
        """When the last job's data was added successfully."""
        return self._record.end_datetime

    @end_datetime.setter
    def end_datetime(self, value: datetime) -> None:
        self._record.end_datetime = value

    @property
    def running_time(self) -> datetime | None:
        """When the latest successful job started running (not set automatically)."""
        return self._extra.get("running_time")

    @property
    def completion_times(self) -> dict[str, datetime]:
        """When each job's data arrived, by job id."""
        return dict(self._completion_times)

    @property
    def figure_names(self) -> list[str]:
        """Names of the experiment's figures."""
        return self._record.figure_names

    @property
    def service(self) -> ExperimentService | None:
        """The experiment service saves and loads go to."""
        return self._service

    @service.setter
    def service(self, value: ExperimentService | Provider) -> None:
        if self._service is not None:
            raise ExperimentDataError("a service is already set")
        self._attach_service(value)
        for child in self._children.values():
            if child._service is None:
                child.service = value
        if self._service is not None and self._service.preferences.get("auto_save"):
            self.auto_save = True

    @property
    def provider(self) -> Provider | None:
        """The provider, if one was given."""
        return self._provider

    @property
    def source(self) -> dict[str, Any]:
        """The class and version that made the metadata."""
        source: dict[str, Any] = self.metadata.get("_source", {})
        return source

    @property
    def auto_save(self) -> bool:
        """Whether every change is saved in the background (on one serial saver)."""
        return self._auto_save

    @auto_save.setter
    def auto_save(self, value: bool) -> None:
        if value and self._service is None:
            logger.warning("auto_save needs an experiment service: nothing will be saved")
        self._auto_save = bool(value)
        for child in self._children.values():
            child.auto_save = value
        if value:
            self._request_autosave()

    # -- raw data and jobs (BEHAVIOUR §2) --------------------------------------------------

    def _analysis_pending(self) -> bool:
        return any(not t.done() for t in self._callback_tasks.values())

    def add_data(self, data: dict[str, Any] | Sequence[dict[str, Any]]) -> None:
        """Add raw data: a dict or a list of dicts.

        Raises:
            TypeError: for anything else.
        """
        items = [data] if isinstance(data, dict) else data
        if not isinstance(items, list | tuple) or not all(isinstance(d, dict) for d in items):
            raise TypeError(f"Invalid data type {type(data).__name__}: expected dicts")
        if self._analysis_pending():
            logger.warning(
                "Not all analysis has finished running. Adding new data may create "
                "unexpected analysis results."
            )
        with self._lock:
            self._data.extend(items)

    def data(self, index: int | slice | str | None = None) -> Any:
        """The raw data: all of it, one item, a slice, or every item of one job id."""
        with self._lock:
            if index is None:
                return list(self._data)
            if isinstance(index, int | slice):
                return self._data[index]
            if isinstance(index, str):
                return [d for d in self._data if d.get("job_id") == index]
        raise TypeError(f"Invalid index type {type(index).__name__}")

    def add_jobs(self, jobs: Any, timeout: float | None = None) -> None:
        """Wait for jobs in the background and add their data as they finish.

        A job is anything with a ``job_id`` and a ``result()`` (async, or sync: it then runs in
        a worker thread), e.g. a :class:`~async_qexp.runtime.RuntimeJob`. Data is appended in
        the order the jobs were added. With ``timeout``, jobs still unfinished after that many
        seconds are **cancelled** (to wait without cancelling, use :meth:`block_for_results`).
        """
        self._on_loop(lambda: self._add_jobs(jobs, timeout))

    def _add_jobs(self, jobs: Any, timeout: float | None, *, reattach: bool = False) -> None:
        if self._closed:
            raise ExperimentDataError("this ExperimentData is closed")
        if isinstance(jobs, str | bytes) or not isinstance(jobs, Iterable):
            jobs = [jobs]
        if self._analysis_pending():
            logger.warning(
                "Not all analysis has finished running. Adding new jobs may create "
                "unexpected analysis results."
            )
        added: list[asyncio.Task[bool]] = []
        for job in jobs:
            job_id = _job_id_of(job)
            backend = _backend_of(job)
            if backend:
                if self.backend_name and self.backend_name != backend:
                    logger.warning(
                        "Adding a job from a backend (%s) that is different than the current "
                        "backend (%s)",
                        backend,
                        self.backend_name,
                    )
                self._set_backend(backend)
            if self._jobs.get(job_id) is not None or job_id in self._job_tasks:
                logger.warning(
                    "Skipping duplicate job, a job with this ID already exists [%s]", job_id
                )
                continue
            with self._lock:
                self._jobs[job_id] = job
                if job_id not in self._record.job_ids:
                    self._record.job_ids.append(job_id)
                self._job_slots[job_id] = None
            task = self._spawn(self._wait_job(job_id, job, touch_end=not reattach))
            self._job_tasks[job_id] = task
            added.append(task)
        if timeout is not None and added:
            self._other_tasks.add(self._spawn(self._cancel_after(added, timeout)))
        self._request_autosave()

    async def _cancel_after(self, tasks: list[asyncio.Task[bool]], timeout: float) -> None:
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        if pending:
            ids = [jid for jid, task in self._job_tasks.items() if task in pending]
            logger.warning("jobs %s did not finish within %s s: cancelling them", ids, timeout)
            await self.cancel_jobs(ids)

    def _resolve_slot(self, job_id: str, data: list[dict[str, Any]]) -> None:
        """Fill a job's slot, then append every filled slot in job order (deterministic)."""
        with self._lock:
            self._job_slots[job_id] = data
            for jid in list(self._job_slots):
                ready = self._job_slots[jid]
                if ready is None:
                    break
                self._data.extend(ready)
                del self._job_slots[jid]

    async def _wait_job(self, job_id: str, job: Any, *, touch_end: bool = True) -> bool:
        try:
            result = await _call(job.result)
            data = _job_data(result, job_id)
        except asyncio.CancelledError:
            self._resolve_slot(job_id, [])
            raise
        except Exception as exc:
            self._resolve_slot(job_id, [])
            status = await _job_status(job)
            if status is JobStatus.CANCELLED:
                self._job_final[job_id] = JobStatus.CANCELLED
                logger.warning("Job was cancelled before completion [Job ID: %s]", job_id)
                return False
            if status is JobStatus.ERROR:
                self._job_final[job_id] = JobStatus.ERROR
                message = getattr(job, "error_message", None)
                text = str(await _call(message)) if callable(message) else str(exc)
                self._job_errors[job_id] = text
                logger.error("Job data not added for errored job [Job ID: %s]: %s", job_id, text)
                return False
            logger.warning("Adding data from job failed [Job ID: %s]: %s", job_id, exc)
            raise
        status = await _job_status(job)
        if status is JobStatus.CANCELLED:  # some jobs return after a cancel
            self._resolve_slot(job_id, [])
            self._job_final[job_id] = JobStatus.CANCELLED
            return False
        self._resolve_slot(job_id, data)
        now = datetime.now().astimezone()
        if touch_end:  # not for the jobs of a loaded experiment: its end time is stored
            self._record.end_datetime = now
        self._completion_times[job_id] = now
        self._job_final[job_id] = JobStatus.DONE
        return True

    def jobs(self) -> list[Any]:
        """The job objects (``None`` for ids whose object is not known)."""
        return list(self._jobs.values())

    async def job_status(self) -> JobStatus:
        """The jobs' overall status: ERROR > CANCELLED > RUNNING > QUEUED > ... > DONE."""
        if not self._jobs:
            return JobStatus.DONE

        async def one(job_id: str, job: Any) -> JobStatus | None:
            if job_id in self._job_final:
                final = self._job_final[job_id]
                return final if final is not JobStatus.DONE else JobStatus.DONE
            if job is None:
                return None
            status = await _job_status(job)
            if status is None:
                task = self._job_tasks.get(job_id)
                return JobStatus.RUNNING if task is not None and not task.done() else None
            return status

        statuses = await asyncio.gather(*(one(jid, job) for jid, job in self._jobs.items()))
        present = [s for s in statuses if s is not None]
        return first_by_precedence(present, _JOB_PRECEDENCE, JobStatus.DONE)

    def job_errors(self) -> str:
        """Errors of failed jobs and of job waits that raised, one block per job."""
        parts = [f"\n[Job ID: {jid}]: {msg}" for jid, msg in self._job_errors.items()]
        for job_id, task in self._job_tasks.items():
            if task.done() and not task.cancelled() and task.exception() is not None:
                exc = task.exception()
                assert exc is not None
                text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
                parts.append(f"\n[Job ID: {job_id}]: {text}")
        return "".join(parts)

    async def cancel_jobs(self, ids: str | Sequence[str] | None = None) -> bool:
        """Cancel jobs that are not final (all by default) and stop waiting for them.

        Returns:
            ``True`` if every targeted job was cancelled.
        """
        wanted = {ids} if isinstance(ids, str) else set(ids or [])
        ok = True
        for job_id in reversed(list(self._jobs)):
            if wanted and job_id not in wanted:
                continue
            job = self._jobs[job_id]
            task = self._job_tasks.get(job_id)
            if job is None or (task is not None and task.done()):
                continue
            status = await _job_status(job)
            if status is not None and status.is_final:
                continue
            try:
                cancel = getattr(job, "cancel", None)
                if cancel is None:
                    raise ExperimentDataError("the job has no cancel()")
                await _call(cancel)
                logger.warning("Cancelled job [Job ID: %s]", job_id)
            except Exception as exc:
                ok = False
                logger.warning("Unable to cancel job [Job ID: %s]: %s", job_id, exc)
                continue
            self._job_final[job_id] = JobStatus.CANCELLED
            if task is not None:
                task.cancel()
        return ok

    # -- analysis callbacks (BEHAVIOUR §3) -------------------------------------------------

    def add_analysis_callback(self, callback: Callable[..., Any], **kwargs: Any) -> str:
        """Run ``callback(self, **kwargs)`` after every job and callback added before it.

        Sync callbacks run in a worker thread, async ones on the loop. If a job or an earlier
        callback fails or is cancelled, this callback is cancelled (BEHAVIOUR M-3.1.3).

        Returns:
            the callback's id.
        """
        return self._on_loop(lambda: self._add_callback(callback, kwargs))

    def _add_callback(self, callback: Callable[..., Any], kwargs: dict[str, Any]) -> str:
        if self._closed:
            raise ExperimentDataError("this ExperimentData is closed")
        record = AnalysisCallback(
            name=getattr(callback, "__name__", type(callback).__name__),
            callback_id=uuid.uuid4().hex,
        )
        dependencies = [*self._job_tasks.values(), *self._callback_tasks.values()]
        self._callbacks[record.callback_id] = record
        self._callback_tasks[record.callback_id] = self._spawn(
            self._run_callback(record, callback, kwargs, dependencies)
        )
        return record.callback_id

    async def _run_callback(
        self,
        record: AnalysisCallback,
        callback: Callable[..., Any],
        kwargs: dict[str, Any],
        dependencies: list[asyncio.Task[bool]],
    ) -> bool:
        try:
            if dependencies:
                await asyncio.wait(dependencies)
        except asyncio.CancelledError:
            record.status = AnalysisStatus.CANCELLED
            raise
        clean = all(
            not t.cancelled() and t.exception() is None and t.result() is True for t in dependencies
        )
        if not clean or record.status is AnalysisStatus.CANCELLED:
            record.status = AnalysisStatus.CANCELLED
            logger.info("Cancelled analysis callback [Analysis ID: %s]", record.callback_id)
            return False
        record.status = AnalysisStatus.RUNNING
        token = _running_callback_of.set(self)
        try:
            await _call(functools.partial(callback, self, **kwargs))
        except asyncio.CancelledError:
            record.status = AnalysisStatus.CANCELLED
            raise
        except Exception:
            record.status = AnalysisStatus.ERROR
            record.error_msg = (
                f"Analysis callback failed [Experiment ID: {self.experiment_id}]"
                f"[Analysis Callback ID: {record.callback_id}]:\n{traceback.format_exc()}"
            )
            logger.warning("%s", record.error_msg)
            return False
        finally:
            _running_callback_of.reset(token)
        record.status = AnalysisStatus.DONE
        return True

    def analysis_status(self) -> AnalysisStatus:
        """The callbacks' overall status: ERROR > CANCELLED > RUNNING > QUEUED > DONE."""
        statuses = [r.status for r in self._callbacks.values()]
        return first_by_precedence(statuses, _ANALYSIS_PRECEDENCE, AnalysisStatus.DONE)

    def analysis_errors(self) -> str:
        """The errors of failed callbacks."""
        return "".join(
            f"\n[Analysis Callback ID: {cid}]: {r.error_msg}"
            for cid, r in self._callbacks.items()
            if r.status is AnalysisStatus.ERROR
        )

    def cancel_analysis(self, ids: str | Sequence[str] | None = None) -> bool:
        """Cancel queued callbacks (all by default); a running one cannot be cancelled.

        The status of every cancelled callback is CANCELLED at once.

        Returns:
            ``True`` if no targeted callback was running.
        """
        return self._on_loop(lambda: self._cancel_analysis(ids))

    def _cancel_analysis(self, ids: str | Sequence[str] | None) -> bool:
        wanted = {ids} if isinstance(ids, str) else set(ids or [])
        ok = True
        for cid in reversed(list(self._callbacks)):
            if wanted and cid not in wanted:
                continue
            record = self._callbacks[cid]
            if record.status is AnalysisStatus.RUNNING:
                logger.warning("Unable to cancel running analysis callback [Analysis ID: %s]", cid)
                ok = False
            elif record.status is AnalysisStatus.QUEUED:
                record.status = AnalysisStatus.CANCELLED
                self._callback_tasks[cid].cancel()
        return ok

    # -- status, waiting, cancelling (BEHAVIOUR §4) ---------------------------------------

    def _is_empty(self) -> bool:
        return not (
            self._data
            or self._jobs
            or self._callbacks
            or self._figures
            or len(self._results)
            or self._artifacts
        )

    async def status(self) -> ExperimentStatus:
        """The overall status: job state first, then analysis (BEHAVIOUR §4.2)."""
        if self._is_empty():
            return ExperimentStatus.EMPTY
        job_status = await self.job_status()
        if job_status is not JobStatus.DONE:
            return ExperimentStatus[job_status.name]
        analysis = self.analysis_status()
        if analysis in (AnalysisStatus.RUNNING, AnalysisStatus.QUEUED):
            return ExperimentStatus.POST_PROCESSING
        return ExperimentStatus[analysis.name]

    def errors(self) -> str:
        """Job errors, then analysis errors."""
        return self.job_errors() + self.analysis_errors()

    async def block_for_results(self, timeout: float | None = None) -> ExperimentData:
        """Wait for every job and callback (children's too); returns ``self``.

        On timeout it returns quietly, cancelling nothing: check :meth:`status`. Cancelling
        the caller does not cancel the container's tasks.

        Raises:
            RuntimeError: when called from one of this container's analysis callbacks.
        """
        self._check_not_in_callback("block_for_results")
        loop = self._bind_loop()
        deadline = None if timeout is None else loop.time() + timeout
        containers = [self, *self._all_children()]
        while True:
            pending = {
                t
                for c in containers
                for t in (*c._job_tasks.values(), *c._callback_tasks.values())
                if not t.done()
            }
            if not pending:
                return self
            remaining = None if deadline is None else max(0.0, deadline - loop.time())
            if remaining == 0.0:
                logger.info("Waiting for jobs and analysis timed out before completion")
                return self
            await asyncio.wait(pending, timeout=remaining)

    def __await__(self) -> Any:
        """``await exp`` is ``await exp.block_for_results()``."""
        return self.block_for_results().__await__()

    async def cancel(self) -> bool:
        """Cancel queued analysis, then the jobs. ``True`` if everything was cancelled."""
        analysis = self.cancel_analysis()
        jobs = await self.cancel_jobs()
        return analysis and jobs

    # -- analysis results (BEHAVIOUR §5) --------------------------------------------------

    def add_analysis_results(
        self,
        results: AnalysisResultData | Sequence[AnalysisResultData] | None = None,
        *,
        name: str | None = None,
        value: Any = None,
        quality: Any = None,
        components: Sequence[Any] | None = None,
        experiment: str | None = None,
        experiment_id: str | None = None,
        result_id: str | None = None,
        tags: Sequence[str] | None = None,
        backend: str | None = None,
        run_time: datetime | None = None,
        created_time: datetime | None = None,
        chisq: float | None = None,
        verified: bool = False,
        **extra_values: Any,
    ) -> str | list[str]:
        """Add analysis results: as keywords (one result) or as result objects.

        Keyword form: ``name`` is required; ``experiment``, ``experiment_id`` and ``backend``
        default to this experiment's; other keywords become extra columns.

        Returns:
            the result id (keyword form) or the list of ids (object form).
        """
        if results is not None:
            rows = [results] if isinstance(results, AnalysisResultData) else list(results)
            return [self._add_row(copy_module.copy(r)) for r in rows]
        if not name:
            raise ValueError("an analysis result needs a name")
        row = AnalysisResultData(
            name=name,
            value=value,
            quality=quality_text(quality),
            components=[str(c) for c in (components or [])],
            experiment=experiment,
            experiment_id=experiment_id,
            result_id=result_id or self._results.new_result_id(),
            tags=list(tags or []),
            backend=backend,
            run_time=run_time,
            created_time=created_time or datetime.now().astimezone(),
            chisq=chisq,
            verified=verified,
            extra=dict(extra_values),
        )
        return self._add_row(row)

    add_analysis_result = add_analysis_results
    """Alias of :meth:`add_analysis_results`."""

    def _add_row(self, row: AnalysisResultData) -> str:
        row.experiment = row.experiment or self.experiment_type
        row.experiment_id = row.experiment_id or self.experiment_id
        row.backend = row.backend or self.backend_name or None
        with self._lock:
            self._results.add(row)
            self._deleted_results.pop(row.result_id, None)
        self._request_autosave()
        return row.result_id

    async def analysis_results(
        self,
        index: int | slice | str | None = None,
        refresh: bool = False,
        block: bool = True,
        timeout: float | None = None,
        columns: str | Sequence[str] = "default",
        dataframe: bool = False,
    ) -> Any:
        """The analysis results: all, or by position, slice, id, short id or name.

        With ``block`` it first waits (up to ``timeout``, without raising) for the callbacks.
        With a service, results are fetched from it when the table is empty or ``refresh``.

        Returns:
            a pandas DataFrame with ``dataframe=True`` (needs pandas); otherwise the
            :class:`AnalysisResultData` rows (a single row when one matched a given ``index``).

        Raises:
            EntryNotFound: when ``index`` matches nothing.
        """
        if block:
            self._check_not_in_callback("analysis_results(block=True)")
            pending = [t for t in self._callback_tasks.values() if not t.done()]
            if pending:
                _, still = await asyncio.wait(pending, timeout=timeout)
                if still:
                    logger.info("Waiting for analysis timed out; returning what is present")
        if self._service is not None and self._created_in_db and (refresh or not self._results):
            await self._fetch_results()
        return self.analysis_results_nowait(index, columns=columns, dataframe=dataframe)

    def analysis_results_nowait(
        self,
        index: int | slice | str | None = None,
        *,
        columns: str | Sequence[str] = "default",
        dataframe: bool = False,
    ) -> Any:
        """:meth:`analysis_results` without waiting or fetching (safe inside callbacks)."""
        with self._lock:
            if dataframe:
                if index is None and not self._results:
                    rows: list[AnalysisResultData] = []
                else:
                    rows = self._results.select(index)
                return self._results.dataframe(rows, self._results.resolve_columns(columns))
            rows = self._results.select(index)
        if index is not None and len(rows) == 1:
            return rows[0]
        return rows

    async def _fetch_results(self) -> None:
        assert self._service is not None
        records = await self._service.analysis_results(
            experiment_id=self.experiment_id, limit=None, sort_by="creation_datetime:asc"
        )
        with self._lock:
            for record in records:
                row = AnalysisResultData.from_service(record)
                if row.result_id in self._deleted_results:
                    continue
                self._results.add(row)
                self._stored_results.add(row.result_id)
                self._saved[f"result:{row.result_id}"] = _fingerprint(row.to_service())

    def delete_analysis_result(self, result_key: int | slice | str) -> list[str]:
        """Delete results (by position, id, short id or name); returns their full ids.

        They are deleted from the service on the next save (at once with auto-save).
        """
        with self._lock:
            rows = self._results.select(result_key)
            for row in rows:
                self._results.remove(row.result_id)
                if row.result_id in self._stored_results:
                    self._deleted_results[row.result_id] = None
                self._saved.pop(f"result:{row.result_id}", None)
        self._request_autosave()
        return [row.result_id for row in rows]

    # -- figures (BEHAVIOUR §6) ------------------------------------------------------------

    def _generated_figure_name(self) -> str:
        components = self.metadata.get("device_components") or []
        joined = "_".join(str(c) for c in components[:5])
        return f"{self.experiment_type}_{joined}_{self.experiment_id[:8]}.svg"

    def add_figures(
        self,
        figures: Any,
        figure_names: str | Sequence[str] | None = None,
        overwrite: bool = False,
        save_figure: bool | None = None,
    ) -> str | list[str]:
        """Add figures: SVG bytes or text, file paths, matplotlib Figures or FigureData.

        Names: the given ones, else a file path's own string, a FigureData's name, or
        ``<type>_<components>_<id8>.svg``; ``.svg`` is appended when missing. A taken name
        gets a ``-N`` suffix unless ``overwrite``. Files are read, and matplotlib figures
        rendered, in a worker thread when saved.

        Returns:
            the name, or the list of names when several figures were given.

        Raises:
            ValueError: if ``figure_names`` does not match ``figures`` in length.
        """
        many = isinstance(figures, list | tuple)
        items = list(figures) if many else [figures]
        names: list[str] | None = None
        if figure_names is not None:
            names = [figure_names] if isinstance(figure_names, str) else list(figure_names)
            if len(names) != len(items):
                raise ValueError("figures and figure_names must have the same length")
        added = []
        with self._lock:
            for i, figure in enumerate(items):
                if names is not None:
                    name = names[i]
                elif isinstance(figure, str) and not is_svg_text(figure):
                    name = figure
                elif isinstance(figure, os.PathLike):
                    name = os.fspath(figure)
                elif isinstance(figure, FigureData):
                    name = figure.name
                else:
                    name = self._generated_figure_name()
                if not name.endswith(".svg"):
                    name += ".svg"
                if not overwrite:
                    name = free_name(name, self._figures)
                if isinstance(figure, FigureData):
                    entry = figure.copy(name)
                else:
                    entry = FigureData(
                        figure,
                        name,
                        {
                            "qubits": self.metadata.get("physical_qubits"),
                            "device_components": self.metadata.get("device_components"),
                            "experiment_type": self.experiment_type,
                        },
                    )
                self._figures[name] = entry
                self._figure_versions[name] = self._figure_versions.get(name, 0) + 1
                self._deleted_figures.pop(name, None)
                if name not in self._record.figure_names:
                    self._record.figure_names.append(name)
                added.append(name)
        save = self._auto_save if save_figure is None else save_figure
        if save:
            self._request_save()
        return added if many else added[0]

    def _figure_key(self, key: str | int) -> str:
        names = list(self._figures)
        if isinstance(key, int) and not isinstance(key, bool):
            if not 0 <= key < len(names):
                raise EntryNotFound(f"Figure index {key} out of range.", status=404)
            return names[key]
        if isinstance(key, str):
            name = key if key.endswith(".svg") else key + ".svg"
            if name in self._figures:
                return name
            raise EntryNotFound(f"Figure key {key} not found.", status=404)
        raise TypeError("a figure key is a name or an index")

    async def figure(
        self, figure_key: str | int, file_name: str | os.PathLike[str] | None = None
    ) -> Any:
        """A figure (downloaded on first use after ``load``).

        Returns:
            its :class:`FigureData`, or, with ``file_name``, the number of bytes written there.

        Raises:
            EntryNotFound: for an unknown figure.
        """
        name = self._figure_key(figure_key)
        entry = self._figures[name]
        if entry is None:
            if self._service is None:
                raise EntryNotFound(
                    f"Figure {name} is not loaded and there is no service", status=404
                )
            data = await self._service.figure(self.experiment_id, name)
            assert isinstance(data, bytes)
            entry = FigureData(data, name)
            with self._lock:
                if self._figures.get(name) is None:
                    self._figures[name] = entry
        if file_name is None:
            return entry
        payload = await figure_to_bytes(entry)
        await anyio.Path(file_name).write_bytes(payload)
        return len(payload)

    def delete_figure(self, figure_key: str | int) -> str:
        """Delete a figure; it is deleted from the service on the next save."""
        with self._lock:
            name = self._figure_key(figure_key)
            del self._figures[name]
            self._figure_versions.pop(name, None)
            if name in self._record.figure_names:
                self._record.figure_names.remove(name)
            if self._saved.pop(f"figure:{name}", None) is not None:
                self._deleted_figures[name] = None
        self._request_autosave()
        return name

    # -- artifacts (BEHAVIOUR §7) ----------------------------------------------------------

    def add_artifacts(
        self, artifacts: ArtifactData | Sequence[ArtifactData], overwrite: bool = False
    ) -> None:
        """Add artifacts; a duplicate id needs ``overwrite=True``.

        Raises:
            ValueError: for a duplicate artifact id without ``overwrite``.
        """
        items = [artifacts] if isinstance(artifacts, ArtifactData) else list(artifacts)
        with self._lock:
            for artifact in items:
                if artifact.artifact_id in self._artifacts and not overwrite:
                    raise ValueError(
                        f"an artifact with id {artifact.artifact_id} exists; use overwrite=True"
                    )
                artifact.experiment_id = artifact.experiment_id or self.experiment_id
                artifact.experiment = artifact.experiment or self.experiment_type
                self._artifacts[artifact.artifact_id] = artifact

    def _artifact_matches(self, key: str | int) -> list[ArtifactData]:
        values = list(self._artifacts.values())
        if isinstance(key, int) and not isinstance(key, bool):
            if not -len(values) <= key < len(values):
                raise EntryNotFound(f"artifact index {key} out of range", status=404)
            return [values[key]]
        if key in self._artifacts:
            return [self._artifacts[key]]
        named = [a for a in values if a.name == key]
        if not named:
            raise EntryNotFound(f"artifact {key!r} not found", status=404)
        return named

    def artifacts(self, artifact_key: str | int | None = None) -> ArtifactData | list[ArtifactData]:
        """All artifacts, or those matching an id or a name (one object when one matches)."""
        with self._lock:
            if artifact_key is None:
                return list(self._artifacts.values())
            found = self._artifact_matches(artifact_key)
        return found[0] if len(found) == 1 else found

    def delete_artifact(self, artifact_key: str | int) -> str | list[str]:
        """Delete artifacts by id or name; returns the deleted id(s)."""
        with self._lock:
            found = self._artifact_matches(artifact_key)
            for artifact in found:
                del self._artifacts[artifact.artifact_id]
                self._deleted_artifacts.add(artifact.name)
        ids = [a.artifact_id for a in found]
        return ids[0] if len(ids) == 1 else ids

    # -- children (BEHAVIOUR §8) -----------------------------------------------------------

    def add_child_data(self, experiment_data: ExperimentData) -> None:
        """Add a child container (its parent id becomes this experiment's id)."""
        experiment_data.parent_id = self.experiment_id
        with self._lock:
            self._children[experiment_data.experiment_id] = experiment_data
            self.metadata["child_data_ids"] = list(self._children)

    def child_data(self, index: int | slice | str | None = None) -> Any:
        """The children: all, by position, slice, or experiment id.

        Raises:
            KeyError: for an unknown id.
        """
        children = list(self._children.values())
        if index is None:
            return children
        if isinstance(index, int | slice):
            return children[index]
        if isinstance(index, str):
            return self._children[index]
        raise TypeError(f"invalid child index type {type(index).__name__}")

    def _all_children(self) -> list[ExperimentData]:
        found = []
        for child in self._children.values():
            found.append(child)
            found += child._all_children()
        return found

    def add_tags_recursive(self, tags2add: Sequence[str]) -> None:
        """Add tags here and in every descendant."""
        self.tags = self.tags + list(tags2add)
        for child in self._children.values():
            child.add_tags_recursive(tags2add)

    def remove_tags_recursive(self, tags2remove: Sequence[str]) -> None:
        """Remove tags here and in every descendant."""
        self.tags = [t for t in self.tags if t not in set(tags2remove)]
        for child in self._children.values():
            child.remove_tags_recursive(tags2remove)

    # -- save (BEHAVIOUR §9) --------------------------------------------------------------

    def _request_autosave(self) -> None:
        if self._auto_save:
            self._request_save()

    def _request_save(self) -> None:
        if self._service is None or self._closed:
            return

        def schedule() -> None:
            self._save_requested = True
            if self._saver is None or self._saver.done():
                self._saver = self._spawn(self._saver_loop())

        try:
            self._on_loop(schedule)
        except ExperimentDataError:
            logger.warning("auto-save needs a running event loop; call save() instead")

    async def _saver_loop(self) -> None:
        while self._save_requested:
            self._save_requested = False
            try:
                report = await self._save(suppress_errors=True, save_children=False)
                if not report.ok:
                    logger.warning("auto-save left %d item(s) unsaved", len(report.failed))
            except Exception as exc:
                logger.warning("auto-save failed: %s", exc)

    async def flush(self) -> None:
        """Wait until every pending auto-save has run."""
        while self._saver is not None and not self._saver.done():
            await asyncio.wait([self._saver])

    async def save(
        self,
        suppress_errors: bool = True,
        max_workers: int | None = None,
        save_figures: bool = True,
        save_artifacts: bool = True,
        save_children: bool = True,
        *,
        progress: Callable[[int, int], Any] | None = None,
    ) -> SaveReport:
        """Save what changed since the last save: the experiment, then (concurrently) its
        results, figures, artifacts and deletions, then the children.

        Args:
            suppress_errors: log failures instead of raising :class:`ExperimentDataSaveFailed`.
                Either way nothing is lost: what failed stays pending for the next save.
            max_workers: uploads in flight at once (default :data:`DEFAULT_SAVE_CONCURRENCY`),
                one bound shared with the children.
            save_figures: upload figures.
            save_artifacts: upload artifacts.
            save_children: save the child containers (concurrently, after this one).
            progress: called as ``progress(done, total)`` as the uploads complete.

        Returns:
            a :class:`SaveReport`.
        """
        await self.flush()
        return await self._save(
            suppress_errors=suppress_errors,
            bound=_Bound(max_workers or DEFAULT_SAVE_CONCURRENCY),
            save_figures=save_figures,
            save_artifacts=save_artifacts,
            save_children=save_children,
            progress=progress,
        )

    async def save_metadata(self) -> None:
        """Save only the experiment record (here and in every child)."""
        service = self._service
        if service is None:
            logger.warning("Experiment cannot be saved because no experiment service is available")
            return
        report = SaveReport()
        async with self._lock_for_save():
            await self._save_experiment(service, report)
        if not report.ok:
            logger.warning("saving experiment metadata failed: %s", report.failed[0][1])
        await asyncio.gather(*(child.save_metadata() for child in self._children.values()))

    def _lock_for_save(self) -> asyncio.Lock:
        if self._save_lock is None:
            self._save_lock = asyncio.Lock()
        return self._save_lock

    async def _save(
        self,
        *,
        suppress_errors: bool,
        bound: _Bound | None = None,
        save_figures: bool = True,
        save_artifacts: bool = True,
        save_children: bool = True,
        progress: Callable[[int, int], Any] | None = None,
    ) -> SaveReport:
        service = self._service
        report = SaveReport()
        if service is None:
            logger.warning("Experiment cannot be saved because no experiment service is available")
            if not suppress_errors:
                raise ExperimentDataSaveFailed("No service found", report)
            return report
        bound = bound or _Bound(DEFAULT_SAVE_CONCURRENCY)
        async with self._lock_for_save():
            if save_artifacts:
                files = sorted({f"{a.name}.zip" for a in self._artifacts.values()})
                if files or "artifact_files" in self.metadata:
                    self.metadata["artifact_files"] = files
            await self._save_experiment(service, report)
            if not self._created_in_db:
                logger.warning("Could not save experiment metadata to DB, aborting experiment save")
                if not suppress_errors:
                    raise ExperimentDataSaveFailed("saving the experiment failed", report)
                return report
            work = await self._pending_work(service, save_figures, save_artifacts)
            total, done = len(work), 0
            queue = iter(work)

            async def uploader() -> None:
                # A fixed pool of uploaders drains the work: no task per item, so thousands
                # of results cost no burst of task creation on the loop.
                nonlocal done
                for what, action in queue:
                    async with bound.slots:
                        try:
                            await action()
                            report.sent += 1
                        except Exception as exc:
                            logger.warning("could not save %s: %s", what, exc)
                            report.failed.append((what, exc))
                    done += 1
                    if progress is not None:
                        progress(done, total)

            await asyncio.gather(*(uploader() for _ in range(min(bound.size, total))))
        if save_children and self._children:
            report.children = list(
                await asyncio.gather(
                    *(
                        child._save(
                            suppress_errors=True,
                            bound=bound,
                            save_figures=save_figures,
                            save_artifacts=save_artifacts,
                        )
                        for child in self._children.values()
                    )
                )
            )
        if self.verbose and report.total_sent and self._service is not None:
            logger.info("saved experiment %s (%d requests)", self.experiment_id, report.total_sent)
        if not suppress_errors and not report.ok:
            failures = report.all_failures()
            raise ExperimentDataSaveFailed(
                f"{len(failures)} item(s) could not be saved; the next save() retries them: "
                + "; ".join(f"{what}: {exc}" for what, exc in failures[:5]),
                report,
            )
        return report

    def _experiment_body(
        self, service: ExperimentService, metadata: dict[str, Any]
    ) -> dict[str, Any]:
        hgp = service.hgp
        record = attrs.evolve(
            self._record,
            experiment_type=self._record.experiment_type or "unknown",
            backend_name=self._record.backend_name or "unknown",
            metadata=metadata,
            hub=self._record.hub or (hgp.hub if hgp else ""),
            group=self._record.group or (hgp.group if hgp else ""),
            project=self._record.project or (hgp.project if hgp else ""),
        )
        return create_body(record)

    def _experiment_state(
        self, service: ExperimentService
    ) -> tuple[dict[str, Any], dict[str, Any] | None, str]:
        """The experiment's wire body, its metadata if too big to go inline, and a fingerprint."""
        metadata = dict(self.metadata)
        big = len(json.dumps(encode_envelopes(metadata))) > _MAX_INLINE_METADATA
        body = self._experiment_body(service, {} if big else metadata)
        separate = metadata if big else None
        return body, separate, _fingerprint([body, separate])

    async def _save_experiment(self, service: ExperimentService, report: SaveReport) -> None:
        body, separate, fingerprint = self._experiment_state(service)
        if self._created_in_db and self._saved.get("experiment") == fingerprint:
            return
        try:
            stored = await self._create_or_update_experiment(service, body)
            if separate is not None:
                await service.file_upload(self.experiment_id, METADATA_FILE, separate)
                report.sent += 1
        except Exception as exc:
            logger.error("Experiment data save failed: %s", exc)
            report.failed.append(("experiment", exc))
            return
        report.sent += 1
        self._saved["experiment"] = fingerprint
        if stored is not None:
            for name in ("creation_datetime", "updated_datetime", "owner"):
                value = getattr(stored, name)
                if value:
                    setattr(self._record, name, value)

    async def _create_or_update_experiment(
        self, service: ExperimentService, body: dict[str, Any]
    ) -> Experiment | None:
        create = not self._created_in_db
        record = self._record
        for _ in range(_FLIP_ATTEMPTS):
            try:
                if create:
                    stored: Experiment | None = await service.post_experiment(body)
                else:
                    update = update_body(
                        Experiment,
                        {
                            "metadata": body.get("extra", {}),
                            "share_level": record.share_level,
                            "tags": record.tags,
                            "job_ids": record.job_ids,
                            "notes": record.notes,
                            **({"end_datetime": record.end_datetime} if record.end_datetime else {}),
                        },
                    )
                    if record.share_level is None:
                        update.pop("visibility", None)
                    stored = await service.put_experiment(self.experiment_id, update)
                self._created_in_db = True
                return stored
            except EntryExists:
                create = False
            except EntryNotFound:
                create = True
        raise ExperimentDataError(f"could not create or update experiment {self.experiment_id}")

    async def _pending_work(
        self, service: ExperimentService, save_figures: bool, save_artifacts: bool
    ) -> list[tuple[str, Callable[[], Any]]]:
        """Every request this save must make: what changed since the last save.

        Results are fingerprinted in slices, yielding to the loop between them, so thousands
        of results never stall it.
        """
        work: list[tuple[str, Callable[[], Any]]] = []
        with self._lock:
            rows = list(self._results)
        for start in range(0, len(rows), _FINGERPRINT_SLICE):
            for row in rows[start : start + _FINGERPRINT_SLICE]:
                payload = row.to_service()
                fingerprint = _fingerprint(payload)
                key = f"result:{row.result_id}"
                if self._saved.get(key) != fingerprint:
                    work.append(
                        (
                            f"analysis result {row.result_id}",
                            functools.partial(
                                self._save_result, service, payload, key, fingerprint
                            ),
                        )
                    )
            await asyncio.sleep(0)
        with self._lock:
            for result_id in list(self._deleted_results):
                work.append(
                    (
                        f"deleting analysis result {result_id}",
                        functools.partial(self._delete_result, service, result_id),
                    )
                )
            if save_figures:
                for name, entry in self._figures.items():
                    version = self._figure_versions.get(name, 0)
                    if entry is not None and self._saved.get(f"figure:{name}") != str(version):
                        work.append(
                            (
                                f"figure {name}",
                                functools.partial(self._save_figure, service, name, entry, version),
                            )
                        )
            for name in list(self._deleted_figures):
                work.append(
                    (
                        f"deleting figure {name}",
                        functools.partial(self._delete_figure_remote, service, name),
                    )
                )
            if save_artifacts:
                groups: dict[str, list[ArtifactData]] = {}
                for artifact in self._artifacts.values():
                    groups.setdefault(artifact.name, []).append(artifact)
                for name, group in groups.items():
                    fingerprint = _fingerprint([a.to_json() for a in group])
                    if self._saved.get(f"artifact:{name}") != fingerprint:
                        work.append(
                            (
                                f"artifact {name}",
                                functools.partial(
                                    self._save_artifact, service, name, group, fingerprint
                                ),
                            )
                        )
                for name in list(self._deleted_artifacts - set(groups)):
                    work.append(
                        (
                            f"deleting artifact {name}",
                            functools.partial(self._delete_artifact_remote, service, name),
                        )
                    )
        return work

    async def _save_result(
        self, service: ExperimentService, payload: dict[str, Any], key: str, fingerprint: str
    ) -> None:
        result_id = payload["result_id"]
        create = result_id not in self._stored_results
        for _ in range(_FLIP_ATTEMPTS):
            try:
                if create:
                    await service.create_analysis_result(**payload)
                else:
                    update = {
                        k: v
                        for k, v in payload.items()
                        if k not in ("experiment_id", "result_type", "device_components")
                    }
                    await service.update_analysis_result(**update)
                break
            except EntryExists:
                create = False
            except EntryNotFound:
                create = True
        else:
            raise ExperimentDataError(f"could not create or update analysis result {result_id}")
        self._stored_results.add(result_id)
        self._saved[key] = fingerprint

    async def _delete_result(self, service: ExperimentService, result_id: str) -> None:
        await service.delete_analysis_result(result_id)
        self._stored_results.discard(result_id)
        self._deleted_results.pop(result_id, None)

    async def _save_figure(
        self, service: ExperimentService, name: str, entry: FigureData, version: int
    ) -> None:
        payload = await figure_to_bytes(entry)
        await service.create_figure(self.experiment_id, payload, name)
        if self._figure_versions.get(name) == version:
            self._saved[f"figure:{name}"] = str(version)

    async def _delete_figure_remote(self, service: ExperimentService, name: str) -> None:
        await service.delete_figure(self.experiment_id, name)
        self._deleted_figures.pop(name, None)

    async def _save_artifact(
        self, service: ExperimentService, name: str, group: list[ArtifactData], fingerprint: str
    ) -> None:
        archive = await anyio.to_thread.run_sync(artifacts_to_zip, group)
        await service.file_upload(self.experiment_id, f"{name}.zip", archive)
        self._saved[f"artifact:{name}"] = fingerprint

    async def _delete_artifact_remote(self, service: ExperimentService, name: str) -> None:
        await service.file_delete(self.experiment_id, f"{name}.zip")
        self._deleted_artifacts.discard(name)
        self._saved.pop(f"artifact:{name}", None)

    # -- load (BEHAVIOUR §9.7) --------------------------------------------------------------

    @classmethod
    async def load(
        cls,
        experiment_id: str,
        service: ExperimentService | Provider | None = None,
        provider: Provider | None = None,
    ) -> ExperimentData:
        """Load a saved experiment: its record, results, artifacts and children.

        Figures are downloaded on first :meth:`figure` access. With a provider that has a
        runtime service, the experiment's jobs are fetched and their data added in the
        background (``await exp.block_for_results()`` waits for it).

        Raises:
            ExperimentDataError: without a service or provider.
            EntryNotFound: for an unknown experiment.
        """
        source = service if service is not None else provider
        if source is None:
            raise ExperimentDataError(
                "Loading an experiment requires a valid provider or experiment service."
            )
        expdata = cls(service=source, provider=provider, verbose=False)
        experiment_service = expdata._service
        assert experiment_service is not None
        record, files = await asyncio.gather(
            experiment_service.experiment(experiment_id), experiment_service.files(experiment_id)
        )
        file_names = {f.name for f in files}
        if METADATA_FILE in file_names:
            stored = await experiment_service.file_download(experiment_id, METADATA_FILE)
            if isinstance(stored, dict):
                record.metadata.update(stored)
        expdata._record = record
        expdata._backend = record.backend_name
        expdata._jobs = dict.fromkeys(record.job_ids)
        expdata._created_in_db = True
        with expdata._lock:
            for name in record.figure_names:
                expdata._figures[name] = None
                expdata._figure_versions[name] = 0
                expdata._saved[f"figure:{name}"] = "0"

        async def artifacts() -> None:
            for file_name in record.metadata.get("artifact_files") or []:
                if file_name not in file_names:
                    continue
                try:
                    blob = await experiment_service.file_download(experiment_id, file_name)
                    items = await anyio.to_thread.run_sync(artifacts_from_zip, blob)
                except Exception as exc:
                    logger.warning("could not load artifacts %s: %s", file_name, exc)
                    continue
                expdata.add_artifacts(items, overwrite=True)
                name = file_name[: -len(".zip")]
                expdata._saved[f"artifact:{name}"] = _fingerprint(
                    [a.to_json() for a in expdata._artifacts.values() if a.name == name]
                )

        async def children() -> list[ExperimentData]:
            ids = record.metadata.get("child_data_ids") or []
            return list(
                await asyncio.gather(*(cls.load(cid, experiment_service, provider) for cid in ids))
            )

        _, _, loaded_children = await asyncio.gather(
            expdata._fetch_results(), artifacts(), children()
        )
        for child in loaded_children:
            expdata.add_child_data(child)
        expdata._saved["experiment"] = expdata._experiment_state(experiment_service)[2]
        runtime = expdata._runtime
        if runtime is not None and record.job_ids:
            jobs = await asyncio.gather(
                *(runtime.job(job_id) for job_id in record.job_ids), return_exceptions=True
            )
            found = [j for j in jobs if not isinstance(j, BaseException)]
            for job_id, job in zip(record.job_ids, jobs, strict=True):
                if isinstance(job, BaseException):
                    logger.warning("could not retrieve job %s: %s", job_id, job)
            if found:
                expdata._add_jobs(found, None, reattach=True)
        return expdata

    # -- copy (BEHAVIOUR M-10.3) -----------------------------------------------------------

    async def copy(self, copy_results: bool = True) -> ExperimentData:
        """A copy with a new experiment id (and new result ids).

        Pending jobs are waited for by both containers. With ``copy_results`` it first waits
        for this container's analysis, then copies results, figures, artifacts and children.
        """
        if copy_results:
            self._check_not_in_callback("copy(copy_results=True)")
        new = ExperimentData(
            experiment=self._experiment,
            backend=self._backend,
            service=self._service,
            provider=self._provider,
            parent_id=self.parent_id,
            verbose=self.verbose,
            start_datetime=self.start_datetime,
            experiment_type=self.experiment_type,
            tags=list(self.tags),
            metadata=copy_module.deepcopy(self.metadata),
            share_level=self.share_level,
            notes=self.notes,
            hub=self.hub,
            group=self.group,
            project=self.project,
            **self._extra,
        )
        new._runtime = self._runtime
        new._auto_save = self._auto_save
        with self._lock:
            new._data = [dict(d) for d in self._data]
        pending = []
        for job_id, job in self._jobs.items():
            task = self._job_tasks.get(job_id)
            if job is not None and task is not None and not task.done():
                pending.append(job)
            else:
                new._jobs[job_id] = job
                if job_id not in new._record.job_ids:
                    new._record.job_ids.append(job_id)
        if pending:
            new._add_jobs(pending, None)
        new.metadata.pop("child_data_ids", None)
        if not copy_results:
            return new
        pending_analysis = [t for t in self._callback_tasks.values() if not t.done()]
        if pending_analysis:
            await asyncio.wait(pending_analysis)
        with self._lock:
            rows = list(self._results)
        for row in rows:
            clone = copy_module.deepcopy(row)
            clone.result_id = new._results.new_result_id()
            clone.experiment_id = new.experiment_id
            new._results.add(clone)
        for name in list(self._figures):
            entry = await self.figure(name)
            new.add_figures(entry, name, overwrite=True, save_figure=False)
        new.add_artifacts(
            [
                attrs.evolve(copy_module.deepcopy(a), experiment_id=new.experiment_id)
                for a in self._artifacts.values()
            ]
        )
        for child in self._children.values():
            new.add_child_data(await child.copy(copy_results=True))
        return new

    # -- lifecycle ----------------------------------------------------------------------

    async def aclose(self) -> None:
        """Cancel every job wait, callback and pending save this container (and its children)
        owns, and wait until they have stopped. A sync callback already running in a thread
        finishes on its own. The jobs themselves are not cancelled (see :meth:`cancel_jobs`).
        """
        self._closed = True
        tasks = [
            *self._job_tasks.values(),
            *self._callback_tasks.values(),
            *self._other_tasks,
            *([self._saver] if self._saver is not None else []),
        ]
        for record in self._callbacks.values():
            if record.status in (AnalysisStatus.QUEUED, AnalysisStatus.RUNNING):
                record.status = AnalysisStatus.CANCELLED
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        for child in self._children.values():
            await child.aclose()

    async def __aenter__(self) -> ExperimentData:
        self._bind_loop()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            await self.flush()
        await self.aclose()

    # -- display ------------------------------------------------------------------------

    def __repr__(self) -> str:
        parts = [f"{type(self).__name__}[{self.experiment_type}]", f"id={self.experiment_id}"]
        if self.parent_id:
            parts.append(f"parent_id={self.parent_id}")
        if self.tags:
            parts.append(f"tags={self.tags}")
        if self.job_ids:
            parts.append(f"job_ids={self.job_ids}")
        if self.share_level:
            parts.append(f"share_level={self.share_level.value}")
        parts.append(f"metadata=<{len(self.metadata)} items>")
        if self.figure_names:
            parts.append(f"figure_names={self.figure_names}")
        if self.notes:
            parts.append(f"notes={self.notes!r}")
        return "<" + ", ".join(parts) + ">"

    def __str__(self) -> str:
        lines = [
            f"ExperimentData {self.experiment_type or '(no type)'}",
            f"  id:        {self.experiment_id}",
        ]
        if self.parent_id:
            lines.append(f"  parent:    {self.parent_id}")
        if self._children:
            lines.append(f"  children:  {len(self._children)}")
        lines += [
            f"  backend:   {self.backend_name or '-'}",
            f"  tags:      {', '.join(self.tags) or '-'}",
            f"  data:      {len(self._data)} item(s) from {len(self._jobs)} job(s)",
            f"  results:   {len(self._results)}",
            f"  figures:   {len(self._figures)}",
            f"  artifacts: {len(self._artifacts)}",
        ]
        errors = self.errors()
        if errors:
            lines.append(f"  errors:    {errors.strip()}")
        return "\n".join(lines)
