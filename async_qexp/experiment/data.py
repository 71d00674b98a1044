"""ExperimentData: the async container for jobs, analysis, results, figures and artifacts.

It follows the reference ``ExperimentData`` rule by rule (``docs/behaviour.md``), with tasks
instead of threads. What it holds (record, data, results, figures, artifacts, children) is its
base, :class:`~async_qexp.experiment._contents.ExperimentContents`; what it does is a thin
facade over three collaborators:

* :class:`~async_qexp.experiment._jobs.JobTracker` waits for the jobs (one task each) and hands
  their data over in submission order;
* :class:`~async_qexp.experiment._analysis.AnalysisQueue` runs the analysis callbacks in order;
* :class:`~async_qexp.experiment._save.Saver` saves: a pure plan of what the service lacks
  (:func:`~async_qexp.experiment._sync.plan`), carried out concurrently under one bound, and
  the serial auto-saver.

Every task runs in the container's :class:`~async_qexp._tasks.TaskOwner`, a child of the
provider's: leaving ``async with ExperimentData(...)`` (or ``await exp.aclose()``), or closing
the provider, cancels what is still pending. The local mutators (``add_data``,
``add_analysis_results``, ``add_figures``, ...) are thread-safe, so a sync analysis callback
(which runs in a worker thread) can call them. Values are checked and encoded when they are
added, so a value the service cannot store is refused at once and never poisons a save.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel

from .._config import DEFAULT_MAX_IN_FLIGHT
from .._logs import get_logger
from .._tasks import TaskOwner
from ..errors import ClosedError, EntryNotFound, QexpError
from ..models import Experiment, ExperimentShareLevel, JobStatus
from ..models._checks import require_bool, require_seconds
from ..progress import Progress, ProgressReporter, check_progress
from ._analysis import AnalysisQueue, running_callback_of
from ._contents import ExperimentContents
from ._copy import copy_container
from ._jobs import JobTracker, job_backend, job_id_of
from ._load import fetch_results, load_container
from ._portable import PortableContainer
from ._save import ResultSource, Saver
from ._sync import Bound, ExperimentDataError, ExperimentDataSaveFailed, SaveReport
from .figures import FigureData, figure_to_bytes
from .service import ExperimentService
from .status import AnalysisStatus, ExperimentStatus

__all__ = [
    "DEFAULT_SAVE_CONCURRENCY",
    "ExperimentData",
    "ExperimentDataError",
    "ExperimentDataSaveFailed",
    "SaveReport",
]

logger = get_logger("async_qexp.experiment")

DEFAULT_SAVE_CONCURRENCY = DEFAULT_MAX_IN_FLIGHT
"""Uploads in flight at once during ``save()`` unless ``max_workers`` says otherwise: the
provider's own bound on requests in flight (``"auto"`` by default: as many as that bound,
adaptive or fixed, keeps busy; ``bench/README.md``)."""

T = TypeVar("T")


class JobSource(Protocol):
    """Where the jobs of a loaded experiment are fetched (a runtime service)."""

    async def job(self, job_id: str) -> Any:
        """The job with this id."""


class ServiceSource(Protocol):
    """What ``ExperimentData(service=...)`` also takes: a provider, with its services."""

    @property
    def experiment(self) -> ExperimentService:
        """The experiment service."""

    @property
    def runtime(self) -> JobSource:
        """The runtime service (used to re-attach the jobs of a loaded experiment)."""


def _provider_of(backend: Any) -> ServiceSource | None:
    """The provider of a backend object, when it is one with an experiment service."""
    provider = getattr(backend, "provider", None)
    if callable(provider) and not hasattr(provider, "experiment"):
        provider = provider()  # qiskit's BackendV1.provider() is a method
    try:
        service = getattr(provider, "experiment", None)
    except QexpError:
        return None
    return provider if isinstance(service, ExperimentService) else None


class ExperimentData(PortableContainer, ExperimentContents):
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
        verbose: log where the experiment was saved.
        db_data: a prepared experiment record (:class:`~async_qexp.Experiment`); its fields
            override the other fields of the stored experiment.
        start_datetime: when the experiment started (default: now).
        experiment_type, experiment_id, tags, metadata, share_level, notes, hub, group,
        project: fields of the stored experiment.
        kwargs: any other value, kept on the container and readable as an attribute.

    The service comes from ``service``, else ``provider``, else the provider of ``backend``
    (see :meth:`get_service_from_backend`).

    A container pickles, and round-trips through JSON with :meth:`to_json` /
    :meth:`from_json`: data, results, figures, artifacts, metadata, tags, children, job ids and
    what the service already holds are kept; the service, the tasks and the lock are not (set
    ``exp.service`` again to save).

    Raises:
        TypeError, ValueError: for a field of the wrong type or a bad value.
    """

    def __init__(
        self,
        experiment: Any = None,
        backend: Any = None,
        service: ExperimentService | ServiceSource | None = None,
        provider: ServiceSource | None = None,
        parent_id: str | None = None,
        job_ids: Sequence[str] | None = None,
        child_data: Sequence[ExperimentData] | None = None,
        verbose: bool = True,
        db_data: Experiment | None = None,
        start_datetime: datetime | None = None,
        *,
        experiment_type: str | None = None,
        experiment_id: str | None = None,
        tags: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        share_level: ExperimentShareLevel | str | None = None,
        notes: str | None = None,
        hub: str | None = None,
        group: str | None = None,
        project: str | None = None,
        **kwargs: Any,
    ) -> None:
        if db_data is not None and not isinstance(db_data, Experiment):
            raise TypeError(f"db_data must be an Experiment record, not {type(db_data).__name__}")
        self._experiment = experiment
        if experiment is not None:
            backend = backend if backend is not None else getattr(experiment, "backend", None)
            experiment_type = experiment_type or getattr(experiment, "experiment_type", "")
            if metadata is None and hasattr(experiment, "_metadata"):
                metadata = experiment._metadata()
        super().__init__(
            experiment_id=experiment_id,
            experiment_type=experiment_type,
            backend=backend,
            metadata=metadata,
            parent_id=parent_id,
            job_ids=job_ids,
            tags=tags,
            notes=notes,
            share_level=share_level,
            hub=hub,
            group=group,
            project=project,
            start_datetime=start_datetime,
        )
        if db_data is not None:
            self._fill_record(db_data)
        self.verbose = verbose
        self._extra = dict(kwargs)
        self._service: ExperimentService | None = None
        self._runtime: JobSource | None = None
        self._provider = provider
        self._auto_save = False
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._token: Any = None
        self._owner = TaskOwner(f"ExperimentData {self._record.experiment_id}")
        self._jobs = JobTracker(self._owner, deliver=self._deliver, finished=self._job_finished)
        self._jobs.known(self._record.job_ids)
        self._analysis = AnalysisQueue(self._owner, self, lambda: self.experiment_id)
        self._saver = Saver(
            self._owner,
            record=self._record,
            results=self._results,
            figures=self._figures,
            artifacts=self._artifacts,
            children=lambda: [
                c._saver for c in self._children.values() if isinstance(c, ExperimentData)
            ],
        )
        with contextlib.suppress(ExperimentDataError):
            self._bind_loop()  # made outside a loop: bound on first use from async code
        if service is not None or provider is not None:
            self._attach_service(service if service is not None else provider)
        elif backend is not None and not isinstance(backend, str):
            found = _provider_of(backend)
            if found is not None:
                self._attach_service(found)
        for child in child_data or []:
            self.add_child_data(child)

    _state_init = __init__  # what a restored container runs (pickle, JSON)

    # -- where the service comes from -----------------------------------------------------

    @staticmethod
    def get_service_from_backend(backend: Any) -> ExperimentService | None:
        """The experiment service of a backend's provider (``backend.provider``, an attribute
        or a method), or ``None`` when it has none."""
        provider = _provider_of(backend)
        return None if provider is None else provider.experiment

    @staticmethod
    def get_service_from_provider(provider: Any) -> ExperimentService | None:
        """The experiment service of a provider (its ``experiment``), or ``None`` (with a
        warning) when it has none: an account of another client is not logged in again."""
        try:
            service = getattr(provider, "experiment", None)
        except QexpError:
            service = None
        if isinstance(service, ExperimentService):
            return service
        logger.warning("%s has no async_qexp experiment service", type(provider).__name__)
        return None

    # -- plumbing ------------------------------------------------------------------------

    def _attach_service(self, source: Any) -> None:
        service: Any = source
        if not isinstance(source, ExperimentService):
            service = getattr(source, "experiment", None)
            if not isinstance(service, ExperimentService):
                raise TypeError(
                    "service must be an ExperimentService or a Provider, "
                    f"not {type(source).__name__}"
                )
            self._provider = self._provider or source
            try:
                self._runtime = source.runtime
            except QexpError:
                self._runtime = None
        if self._owner.parent is None:
            service.tasks.adopt(self._owner)
        self._service = service
        self._saver.service = service
        if service.hgp is not None and not self._record.hub:
            self._record.hub = service.hgp.hub
            self._record.group = service.hgp.group
            self._record.project = service.hgp.project

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            try:
                self._loop = asyncio.get_running_loop()
            except RuntimeError:
                raise ExperimentDataError(
                    "jobs, callbacks and saves need a running event loop: call this from async code"
                ) from None
            self._token = anyio.lowlevel.current_token()
        return self._loop

    def _on_loop(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the container's loop (from a worker thread, wait for it there)."""
        loop = self._bind_loop()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            return fn()
        if running is not None:
            raise ExperimentDataError("this ExperimentData belongs to another event loop")
        return anyio.from_thread.run_sync(fn, token=self._token)

    def _check_open(self) -> None:
        if self._closed or self._owner.closed:
            raise ClosedError(f"{self._owner.name} is closed")

    def _check_not_in_callback(self, what: str) -> None:
        if running_callback_of.get() is self:
            raise RuntimeError(
                f"{what} from inside one of this container's analysis callbacks would wait "
                "for itself; use the non-blocking form"
            )

    # -- attributes ----------------------------------------------------------------------

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
    def db_data(self) -> Experiment:
        """The experiment record: every field the service stores. It is the container's own
        record: a change made through it is saved by the next :meth:`save` (auto-save does
        not see it)."""
        return self._record

    @property
    def running_time(self) -> datetime | None:
        """When the latest successful job started running (not set automatically)."""
        return self._extra.get("running_time")

    @property
    def completion_times(self) -> dict[str, datetime]:
        """When each job's data arrived, by job id."""
        return dict(self._jobs.completion_times)

    @property
    def service(self) -> ExperimentService | None:
        """The experiment service saves and loads go to."""
        return self._service

    @service.setter
    def service(self, value: ExperimentService | ServiceSource) -> None:
        if self._service is not None:
            raise ExperimentDataError("a service is already set")
        self._attach_service(value)
        for child in self._children.values():
            if isinstance(child, ExperimentData) and child._service is None:
                child.service = value
        if self._service is not None and self._service.preferences.get("auto_save"):
            self.auto_save = True

    @property
    def provider(self) -> ServiceSource | None:
        """The provider, if one was given."""
        return self._provider

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
            if isinstance(child, ExperimentData):
                child.auto_save = value
        if value:
            self._changed()

    # -- raw data and jobs ---------------------------------------------------------------

    def _busy(self) -> bool:
        return bool(self._analysis.pending())

    @property
    def _child_type(self) -> type[ExperimentContents]:
        return ExperimentData

    def _adopt(self, child: ExperimentContents) -> None:
        if isinstance(child, ExperimentData) and not self._owner.closed:
            self._owner.adopt(child._owner)

    def _deliver(self, data: list[dict[str, Any]]) -> None:
        with self._lock:
            self._data.extend(data)

    def _note_job_id(self, job_id: str) -> None:
        super()._note_job_id(job_id)
        self._jobs.known([job_id])

    def _job_finished(self, job_id: str, when: datetime, touch: bool) -> None:
        if touch:  # not for the jobs of a loaded experiment: its end time is stored
            self._record.end_datetime = when

    def add_jobs(self, jobs: Any, timeout: float | None = None) -> None:
        """Wait for jobs in the background and add their data as they finish.

        A job is anything with a ``job_id`` and a ``result()`` (async, or sync: it then runs in
        a worker thread), e.g. a :class:`~async_qexp.RuntimeJob`. Data is appended in the
        order the jobs were added. With ``timeout``, jobs still unfinished after that many
        seconds are **cancelled** (to wait without cancelling, use :meth:`block_for_results`).
        """
        self._on_loop(lambda: self._add_jobs(jobs, timeout))

    def _add_jobs(self, jobs: Any, timeout: float | None, *, reattach: bool = False) -> None:
        self._check_open()
        if isinstance(jobs, str | bytes) or not isinstance(jobs, Iterable):
            jobs = [jobs]
        if self._busy():
            logger.warning(
                "Not all analysis has finished running. Adding new jobs may create "
                "unexpected analysis results."
            )
        added = []
        for job in jobs:
            job_id = job_id_of(job)
            backend = job_backend(job)
            if backend:
                if self.backend_name and self.backend_name != backend:
                    logger.warning(
                        "Adding a job from a backend (%s) that is different than the current "
                        "backend (%s)",
                        backend,
                        self.backend_name,
                    )
                self._set_backend(backend)
            with self._lock:
                task = self._jobs.add(job, touch=not reattach)
                if task is None:
                    continue
                if job_id not in self._record.job_ids:
                    self._record.job_ids.append(job_id)
            added.append(task)
        if timeout is not None and added:
            self._jobs.cancel_after(added, timeout)
        self._changed()

    def jobs(self) -> list[Any]:
        """The job objects (``None`` for ids whose object is not known)."""
        return list(self._jobs.jobs.values())

    async def job_status(self) -> JobStatus:
        """The jobs' overall status: ERROR > CANCELLED > RUNNING > QUEUED > ... > DONE."""
        return await self._jobs.status()

    def job_errors(self) -> str:
        """Errors of failed jobs and of job waits that raised, one block per job."""
        return self._jobs.errors()

    async def cancel_jobs(self, ids: str | Sequence[str] | None = None) -> bool:
        """Cancel jobs that are not final (all by default) and stop waiting for them.

        Returns:
            ``True`` if every targeted job was cancelled.
        """
        return await self._jobs.cancel([ids] if isinstance(ids, str) else ids)

    # -- analysis callbacks ------------------------------------------------------------------

    def add_analysis_callback(self, callback: Callable[..., Any], **kwargs: Any) -> str:
        """Run ``callback(self, **kwargs)`` after every job and callback added before it.

        Sync callbacks run in a worker thread, async ones on the loop. If a job or an earlier
        callback fails or is cancelled, this callback is cancelled.

        Returns:
            the callback's id.
        """
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")

        def add() -> str:
            self._check_open()
            return self._analysis.add(callback, kwargs, after=self._jobs.tasks())

        return self._on_loop(add)

    def analysis_status(self) -> AnalysisStatus:
        """The callbacks' overall status: ERROR > CANCELLED > RUNNING > QUEUED > DONE."""
        return self._analysis.status()

    def analysis_errors(self) -> str:
        """The errors of failed callbacks."""
        return self._analysis.errors()

    def cancel_analysis(self, ids: str | Sequence[str] | None = None) -> bool:
        """Cancel queued callbacks (all by default); a running one cannot be cancelled.

        The status of every cancelled callback is CANCELLED at once.

        Returns:
            ``True`` if no targeted callback was running.
        """
        wanted = [ids] if isinstance(ids, str) else ids
        return self._on_loop(lambda: self._analysis.cancel(wanted))

    # -- status, waiting, cancelling ---------------------------------------------------------

    def _is_empty(self) -> bool:
        return not (
            self._data
            or self._jobs.jobs
            or self._analysis.records
            or len(self._figures)
            or len(self._results)
            or self._artifacts
        )

    async def status(self) -> ExperimentStatus:
        """The overall status: job state first, then analysis."""
        if self._is_empty():
            return ExperimentStatus.EMPTY
        return self._overall_status(await self.job_status())

    @property
    def cached_status(self) -> ExperimentStatus:
        """The overall status as last known, without asking any job's service (what a
        notebook shows; :meth:`status` asks)."""
        if self._is_empty():
            return ExperimentStatus.EMPTY
        return self._overall_status(self._jobs.cached_status())

    def _display_status(self) -> ExperimentStatus:
        return self.cached_status

    def _overall_status(self, job_status: JobStatus) -> ExperimentStatus:
        if job_status is not JobStatus.DONE:
            return ExperimentStatus[job_status.name]
        analysis = self.analysis_status()
        if analysis in (AnalysisStatus.RUNNING, AnalysisStatus.QUEUED):
            return ExperimentStatus.POST_PROCESSING
        return ExperimentStatus[analysis.name]

    def errors(self) -> str:
        """Job errors, then analysis errors."""
        return self.job_errors() + self.analysis_errors()

    async def block_for_results(
        self, timeout: float | None = None, *, progress: Progress | None = None
    ) -> ExperimentData:
        """Wait for every job and callback (children's too); returns ``self``.

        On timeout it returns quietly, cancelling nothing: check :meth:`status`. Cancelling
        the caller does not cancel the container's tasks. ``progress(finished, total)`` is
        told the jobs and callbacks finished, of all there are (:mod:`async_qexp.progress`).

        Raises:
            RuntimeError: when called from one of this container's analysis callbacks.
            TypeError, ValueError: for a ``timeout`` that is no finite number of seconds
                (at least 0).
        """
        require_seconds(timeout, "timeout", optional=True, zero=True)
        self._check_not_in_callback("block_for_results")
        reporter = ProgressReporter(check_progress(progress))
        loop = self._bind_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            containers = [c for c in (self, *self._all_children()) if isinstance(c, ExperimentData)]
            work = [t for c in containers for t in (*c._jobs.tasks(), *c._analysis.tasks())]
            pending = {t for t in work if not t.done()}
            reporter.update(len(work) - len(pending), len(work))
            if not pending:
                reporter.finish()
                return self
            remaining = None if deadline is None else max(0.0, deadline - loop.time())
            if remaining == 0.0:
                logger.info("Waiting for jobs and analysis timed out before completion")
                return self
            until = asyncio.FIRST_COMPLETED if progress is not None else asyncio.ALL_COMPLETED
            await asyncio.wait(pending, timeout=remaining, return_when=until)

    def __await__(self) -> Any:
        """``await exp`` is ``await exp.block_for_results()``."""
        return self.block_for_results().__await__()

    async def cancel(self) -> bool:
        """Cancel queued analysis, then the jobs. ``True`` if everything was cancelled."""
        analysis = self.cancel_analysis()
        jobs = await self.cancel_jobs()
        return analysis and jobs

    # -- analysis results and figures, from the service ----------------------------------------

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
            TypeError, ValueError: for an argument of the wrong type or a bad ``timeout``.
        """
        require_bool(refresh, "refresh")
        require_bool(block, "block")
        require_bool(dataframe, "dataframe")
        require_seconds(timeout, "timeout", optional=True, zero=True)
        if block:
            self._check_not_in_callback("analysis_results(block=True)")
            pending = self._analysis.pending()
            if pending:
                _, still = await asyncio.wait(pending, timeout=timeout)
                if still:
                    logger.info("Waiting for analysis timed out; returning what is present")
        if self._service is not None and self._saver.stored and (refresh or not self._results):
            rows = await fetch_results(self._service, self.experiment_id)
            with self._lock:
                for row in rows:
                    key = f"{ResultSource.prefix}:{row.result_id}"
                    if key in self._saver.sync.confirmed and row.result_id not in self._results:
                        continue  # deleted here since it was stored: the next save deletes it
                    self._results.add(row)
                    self._saver.confirm(ResultSource.prefix, row.result_id, row.digest())
        return self.analysis_results_nowait(index, columns=columns, dataframe=dataframe)

    async def figure(
        self, figure_key: str | int, file_name: str | os.PathLike[str] | None = None
    ) -> Any:
        """A figure (downloaded on first use after ``load``).

        Returns:
            its :class:`FigureData`, or, with ``file_name``, the number of bytes written there.

        Raises:
            EntryNotFound: for an unknown figure.
        """
        name = self._figures.resolve(figure_key)
        entry = self._figures.get(name)
        if entry is None:
            if self._service is None:
                raise EntryNotFound(
                    f"Figure {name} is not loaded and there is no service", status=404
                )
            data = await self._service.figure(self.experiment_id, name)
            assert isinstance(data, bytes)
            entry = FigureData(data, name)
            with self._lock:
                self._figures.fill(name, entry)
        if file_name is None:
            return entry
        payload = await figure_to_bytes(entry)
        await anyio.Path(file_name).write_bytes(payload)
        return len(payload)

    # -- save --------------------------------------------------------------------------------

    def _changed(self) -> None:
        if self._auto_save:
            self._save_soon()

    def _save_soon(self) -> None:
        if self._service is None or self._closed:
            return
        try:
            self._on_loop(self._saver.request)
        except ExperimentDataError:
            logger.warning("auto-save needs a running event loop; call save() instead")

    async def flush(self) -> None:
        """Wait until every pending auto-save has run."""
        await self._saver.flush()

    async def save(
        self,
        suppress_errors: bool = True,
        max_workers: int | None = None,
        save_figures: bool = True,
        save_artifacts: bool = True,
        save_children: bool = True,
        *,
        progress: Progress | None = None,
    ) -> SaveReport:
        """Save what changed since the last save: the experiment, then (concurrently) its
        results, figures, artifacts and deletions, then the children.

        What was deleted here is deleted on the service, even an item whose create was in
        flight when it was deleted; what changed while the save ran is saved by it too.

        Args:
            suppress_errors: log failures instead of raising :class:`ExperimentDataSaveFailed`.
                Either way nothing is lost: what failed stays pending for the next save.
            max_workers: uploads in flight at once, one bound shared with the children
                (default: as many as the provider's bound on requests in flight allows,
                :data:`DEFAULT_SAVE_CONCURRENCY`; with ``max_in_flight="auto"`` it follows
                the server's pace).
            save_figures: upload figures.
            save_artifacts: upload artifacts.
            save_children: save the child containers (concurrently, after this one).
            progress: told ``progress(requests done, requests planned)`` as the uploads
                complete (:mod:`async_qexp.progress`); the total grows as the children plan
                theirs, and ends equal to the count done.

        Returns:
            a :class:`SaveReport`.
        """
        if max_workers is not None:
            if isinstance(max_workers, bool) or not isinstance(max_workers, int):
                raise TypeError(f"max_workers must be an int, not {type(max_workers).__name__}")
            if max_workers < 1:
                raise ValueError(f"max_workers must be at least 1, not {max_workers}")
        reporter = ProgressReporter(check_progress(progress))
        if save_children and self._service is not None:
            self._lend_service(self._service)
        await self.flush()
        reporter.start()
        report = await self._saver.save(
            suppress_errors=suppress_errors,
            bound=self._save_bound(max_workers),
            figures=save_figures,
            artifacts=save_artifacts,
            children=save_children,
            progress=reporter,
        )
        reporter.finish()
        if self.verbose and report.total_sent:
            logger.info("saved experiment %s (%d requests)", self.experiment_id, report.total_sent)
        return report

    def _save_bound(self, max_workers: int | None) -> Bound:
        if max_workers is not None:
            return Bound(max_workers)
        if self._service is None:
            return Bound(1)  # nothing is sent without a service
        return Bound(width=self._service._upload_width)

    def _lend_service(self, service: ExperimentService) -> None:
        """Give children without a service this one: the parent lists them, so they must be
        stored beside it (or loading the parent would fail)."""
        for child in self._children.values():
            if isinstance(child, ExperimentData):
                if child._service is None:
                    child._attach_service(service)
                child._lend_service(service)

    async def save_metadata(self) -> None:
        """Save only the experiment record (here and in every child)."""
        report = await self._saver.save_record()
        if not report.ok:
            logger.warning("saving experiment metadata failed: %s", report.failed[0][1])
        await asyncio.gather(
            *(c.save_metadata() for c in self._children.values() if isinstance(c, ExperimentData))
        )

    # -- load and copy -----------------------------------------------------------------------

    @classmethod
    async def load(
        cls,
        experiment_id: str,
        service: ExperimentService | ServiceSource | None = None,
        provider: ServiceSource | None = None,
        *,
        progress: Progress | None = None,
    ) -> ExperimentData:
        """Load a saved experiment: its record, results, artifacts and children.

        Figures are downloaded on first :meth:`figure` access. With a provider that has a
        runtime service, the experiment's jobs are fetched and their data added in the
        background (``await exp.block_for_results()`` waits for it). ``progress(loaded,
        total)`` is told the containers loaded, this one and its descendants, as their
        records reveal them (:mod:`async_qexp.progress`).

        Raises:
            ExperimentDataError: without a service or provider.
            EntryNotFound: for an unknown experiment.
        """
        source = service if service is not None else provider
        if source is None:
            raise ExperimentDataError(
                "Loading an experiment requires a valid provider or experiment service."
            )
        reporter = ProgressReporter(check_progress(progress), total=1)
        reporter.start()
        container: ExperimentData = await load_container(
            lambda: cls(service=source, provider=provider, verbose=False), experiment_id, reporter
        )
        reporter.finish()
        return container

    async def copy(self, copy_results: bool = True) -> ExperimentData:
        """A copy with a new experiment id (and new result ids).

        Pending jobs are waited for by both containers. With ``copy_results`` it first waits
        for this container's analysis, then copies results, figures, artifacts and children.
        """
        if copy_results:
            self._check_not_in_callback("copy(copy_results=True)")
        new: ExperimentData = await copy_container(self, copy_results)
        return new

    # -- lifecycle -------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Cancel every job wait, callback and pending save this container (and its children)
        owns, and wait until they have stopped. A sync callback already running in a thread
        finishes on its own. The jobs themselves are not cancelled (see :meth:`cancel_jobs`).
        """
        self._closed = True
        self._analysis.mark_closed()
        for child in self._all_children():
            if isinstance(child, ExperimentData):
                child._closed = True
                child._analysis.mark_closed()
        await self._owner.aclose()

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
