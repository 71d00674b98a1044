"""Reading a saved experiment back: its record, results, artifacts, children and jobs.

These are the service calls of ``ExperimentData.load`` (``docs/behaviour.md#loading``), and
:func:`load_container`, which fills a new container (and, recursively, its children) with what
they return.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import anyio

from .._logs import get_logger
from ..models import Experiment, FileInfo
from ..progress import ProgressReporter
from ._save import METADATA_FILE
from .artifacts import ArtifactData, artifacts_from_zip
from .results import AnalysisResultData
from .service import ExperimentService

__all__ = ["fetch_artifacts", "fetch_jobs", "fetch_record", "fetch_results", "load_container"]

logger = get_logger("async_qexp.experiment")


async def fetch_record(
    service: ExperimentService, experiment_id: str
) -> tuple[Experiment, list[FileInfo]]:
    """The experiment record (with the metadata kept in ``metadata.json`` merged back) and
    its files.

    Raises:
        EntryNotFound: for an unknown experiment.
    """
    record, files = await asyncio.gather(
        service.experiment(experiment_id), service.files(experiment_id)
    )
    if any(f.name == METADATA_FILE for f in files):
        stored = await service.file_download(experiment_id, METADATA_FILE)
        if isinstance(stored, dict):
            record.metadata.update(stored)
    return record, files


async def fetch_results(service: ExperimentService, experiment_id: str) -> list[AnalysisResultData]:
    """Every analysis result of the experiment, oldest first, as table rows."""
    records = await service.analysis_results(
        experiment_id=experiment_id, limit=None, sort_by="creation_datetime:asc"
    )
    return [AnalysisResultData.from_record(record) for record in records]


async def fetch_artifacts(
    service: ExperimentService, record: Experiment, files: Sequence[FileInfo]
) -> list[ArtifactData]:
    """The artifacts saved with the experiment (a zip that cannot be read is logged and
    skipped)."""
    names = {f.name for f in files}
    found: list[ArtifactData] = []
    for file_name in record.metadata.get("artifact_files") or []:
        if file_name not in names:
            continue
        try:
            blob = await service.file_download(record.experiment_id, file_name)
            found += await anyio.to_thread.run_sync(artifacts_from_zip, blob)
        except Exception as exc:
            logger.warning("could not load artifacts %s: %s", file_name, exc)
    return found


async def fetch_jobs(runtime: Any, job_ids: Sequence[str]) -> list[Any]:
    """The jobs of these ids that the runtime still knows (the others are logged)."""
    jobs = await asyncio.gather(
        *(runtime.job(job_id) for job_id in job_ids), return_exceptions=True
    )
    found = []
    for job_id, job in zip(job_ids, jobs, strict=True):
        if isinstance(job, BaseException):
            logger.warning("could not retrieve job %s: %s", job_id, job)
        else:
            found.append(job)
    return found


async def load_container(
    make: Callable[[], Any], experiment_id: str, reporter: ProgressReporter
) -> Any:
    """A new container (``make()``) filled with a saved experiment and its children, loaded
    concurrently; ``reporter`` counts the containers. A container that fails is closed.

    Raises:
        EntryNotFound: for an unknown experiment (or child).
    """
    container = make()
    try:
        await _fill(container, make, experiment_id, reporter)
    except BaseException:
        await container.aclose()
        raise
    return container


async def _fill(
    container: Any, make: Callable[[], Any], experiment_id: str, reporter: ProgressReporter
) -> None:
    service = container._service
    loaded, files = await fetch_record(service, experiment_id)
    container._fill_record(loaded)
    container._owner.name = f"ExperimentData {experiment_id}"
    container._backend = loaded.backend_name
    container._jobs.known(loaded.job_ids)
    for name in loaded.figure_names:
        container._figures.put(name, None)
    child_ids = loaded.metadata.get("child_data_ids") or []
    reporter.add_total(len(child_ids))
    rows, artifacts, children = await asyncio.gather(
        fetch_results(service, experiment_id),
        fetch_artifacts(service, loaded, files),
        asyncio.gather(*(load_container(make, child_id, reporter) for child_id in child_ids)),
    )
    with container._lock:
        for row in rows:
            container._results.add(row)
        container._artifacts.add(
            artifacts, overwrite=True, experiment_id=experiment_id, experiment_type=""
        )
    for child in children:
        container.add_child_data(child)
    container._saver.confirm_all()  # the service holds what was just read
    reporter.advance()
    if container._runtime is not None and loaded.job_ids:
        jobs = await fetch_jobs(container._runtime, loaded.job_ids)
        if jobs:
            container._add_jobs(jobs, None, reattach=True)
