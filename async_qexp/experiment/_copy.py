"""Copying an experiment container: a new experiment id, the same contents
(``docs/behaviour.md#copy``)."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import attrs

from ._jobs import job_id_of

__all__ = ["copy_container"]


async def copy_container(source: Any, copy_results: bool) -> Any:
    """A copy of an ``ExperimentData`` with a new experiment id (and new result ids).

    Pending jobs are waited for by both containers. With ``copy_results`` it first waits for
    the source's analysis, then copies results, figures, artifacts and children (recursively).
    """
    metadata = copy.deepcopy(source.metadata)
    metadata.pop("child_data_ids", None)
    metadata.pop("_source", None)
    pending = source._jobs.pending_jobs()
    pending_ids = {job_id_of(job) for job in pending}
    new = type(source)(
        experiment=source._experiment,
        backend=source._backend,
        service=source._service,
        provider=source._provider,
        parent_id=source.parent_id,
        job_ids=[job_id for job_id in source.job_ids if job_id not in pending_ids],
        verbose=source.verbose,
        start_datetime=source.start_datetime,
        experiment_type=source.experiment_type,
        tags=list(source.tags),
        metadata=metadata,
        share_level=source.share_level,
        notes=source.notes,
        hub=source.hub,
        group=source.group,
        project=source.project,
        **source._extra,
    )
    new.auto_save = source._auto_save
    new.add_data([dict(d) for d in source.data()])
    if pending:
        new._add_jobs(pending, None)
    if not copy_results:
        return new
    pending_analysis = source._analysis.pending()
    if pending_analysis:
        await asyncio.wait(pending_analysis)
    with source._lock:
        rows = list(source._results)
    for row in rows:
        clone = copy.deepcopy(row)
        clone.result_id = new._results.new_result_id()
        clone.experiment_id = new.experiment_id
        new._add_row(clone)
    for name in source._figures.names():
        new.add_figures(await source.figure(name), name, overwrite=True, save_figure=False)
    new.add_artifacts(
        [
            attrs.evolve(copy.deepcopy(a), experiment_id=new.experiment_id)
            for a in source._artifacts.values()
        ]
    )
    for child in source._children.values():
        if hasattr(child, "copy"):
            new.add_child_data(await child.copy(copy_results=True))
    return new
