"""Saving an experiment container: what it saves, kind by kind, and the saver that runs it.

Each source knows the versions of its items and how to put and delete one on the service
(``docs/behaviour.md#save-load-and-auto-save``):

============== ========================= ====================================================
source         items                     version
============== ========================= ====================================================
experiment     the experiment record     a digest of its create body
result         analysis results, by id   the digest of the row's encoded body
figure         figures, by name          a counter bumped by every put
file           ``metadata.json``         a digest of the metadata (only when it is too big
                                         to go inline in the record)
artifact       artifact groups, by name  a digest of the group's JSON (saved as ``<name>.zip``)
============== ========================= ====================================================
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Hashable
from typing import Any

import anyio
import attrs

from .._logs import get_logger
from .._tasks import TaskOwner
from ..models import (
    AnalysisResult,
    Experiment,
    create_body,
    encode_envelopes,
    updatable,
    update_body,
)
from ..progress import ProgressReporter
from ._sync import (
    Bound,
    ExperimentDataError,
    ExperimentDataSaveFailed,
    SaveReport,
    Source,
    Synchroniser,
)
from .artifacts import ArtifactData, ArtifactStore, artifacts_to_zip
from .figures import FigureStore, figure_to_bytes
from .results import AnalysisResultTable
from .service import ExperimentService

logger = get_logger("async_qexp.experiment")

__all__ = [
    "METADATA_FILE",
    "ArtifactSource",
    "ExperimentSource",
    "FigureSource",
    "MetadataFileSource",
    "ResultSource",
    "Saver",
    "digest",
    "split_metadata",
]

METADATA_FILE = "metadata.json"
"""Where metadata too big to go inline in the experiment record is saved."""

MAX_INLINE_METADATA = 10_000
"""Bytes of JSON: larger metadata goes to :data:`METADATA_FILE`."""


def digest(value: Any) -> bytes:
    """A digest of a value's JSON form (with the envelopes; keys sorted)."""
    text = json.dumps(encode_envelopes(value), sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def split_metadata(metadata: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``(inline, separate)``: the metadata for the record, and what goes to a file if any."""
    size = len(json.dumps(encode_envelopes(metadata), separators=(",", ":")))
    return ({}, metadata) if size > MAX_INLINE_METADATA else (metadata, None)


class ExperimentSource:
    """The experiment record (one item, named ``""``).

    What is stored is the container's record with its artifact files listed in the metadata,
    the metadata left out when it goes to :data:`METADATA_FILE`, and a type and backend of
    ``"unknown"`` when they are not set. What the service answers (owner, timestamps) is
    written back into the record.
    """

    prefix = "experiment"
    flips = True

    def __init__(
        self, service: ExperimentService, record: Experiment, artifacts: ArtifactStore
    ) -> None:
        self._service = service
        self._record = record
        self._artifacts = artifacts

    def to_store(self) -> Experiment:
        """The record as it is stored."""
        record = self._record
        files = sorted({f"{a.name}.zip" for a in self._artifacts.values()})
        if files or "artifact_files" in record.metadata:
            record.metadata["artifact_files"] = files
        inline, _ = split_metadata(record.metadata)
        return attrs.evolve(
            record,
            experiment_type=record.experiment_type or "unknown",
            backend_name=record.backend_name or "unknown",
            metadata=inline,
        )

    def versions(self) -> dict[str, Hashable]:
        """The record's version: a digest of its create body."""
        return {"": _digest_json(create_body(self.to_store()))}

    async def put(self, name: str, create: bool) -> Hashable:
        """Create the record, or update its mutable fields."""
        record = self.to_store()
        version = _digest_json(create_body(record))
        if create:
            stored: Experiment | None = await self._service.post_experiment(create_body(record))
        else:
            changes = {n: getattr(record, n) for n in updatable(Experiment)}
            stored = await self._service.put_experiment(
                record.experiment_id,
                update_body(Experiment, {n: v for n, v in changes.items() if v is not None}),
            )
        if stored is not None:
            for field in ("owner", "creation_datetime", "updated_datetime"):
                value = getattr(stored, field)
                if value:
                    setattr(self._record, field, value)
        return version

    async def delete(self, name: str) -> None:
        """Never planned: the record is always held locally, and a save never deletes it."""
        raise ExperimentDataError("a save never deletes the experiment record")


class ResultSource:
    """The analysis results, by id."""

    prefix = "result"
    flips = True

    def __init__(self, service: ExperimentService, table: AnalysisResultTable) -> None:
        self._service = service
        self._table = table

    def generation(self) -> Hashable:
        """Changes whenever a row is added, replaced, removed or edited."""
        return self._table.generation()

    def versions(self) -> dict[str, Hashable]:
        """The digest of every row's encoded body."""
        return {row.result_id: row.digest() for row in self._table}

    async def put(self, name: str, create: bool) -> Hashable:
        """Create the result from the row's encoded body, or update its mutable fields."""
        row = self._table.get(name)
        if row is None:
            return None
        version = row.digest()
        if create:
            await self._service.post_analysis_result(row.wire())
            if row.digest() == version:
                row.release_wire()  # stored: its digest is all a save needs now
        else:
            record = row.to_record()
            changes = {n: getattr(record, n) for n in updatable(AnalysisResult)}
            await self._service.put_analysis_result(
                name,
                update_body(AnalysisResult, {k: v for k, v in changes.items() if v is not None}),
            )
        return version

    async def delete(self, name: str) -> None:
        """Delete the result (one already gone counts as deleted)."""
        await self._service.delete_analysis_result(name)


class FigureSource:
    """The figures, by name."""

    prefix = "figure"
    flips = False

    def __init__(self, service: ExperimentService, store: FigureStore, record: Experiment) -> None:
        self._service = service
        self._store = store
        self._record = record

    def versions(self) -> dict[str, Hashable]:
        """The version of every figure."""
        return dict(self._store.versions())

    async def put(self, name: str, create: bool) -> Hashable:
        """Upload the figure (rendered or read in a worker thread when it must be)."""
        if name not in self._store:
            return None
        version = self._store.versions()[name]
        entry = self._store.get(name)
        if entry is None:
            return None  # stored already, never downloaded: nothing to send
        data = await figure_to_bytes(entry)
        await self._service.upload_figure(self._record.experiment_id, data, name)
        return version

    async def delete(self, name: str) -> None:
        """Delete the figure (one already gone counts as deleted)."""
        await self._service.delete_figure(self._record.experiment_id, name)


class MetadataFileSource:
    """``metadata.json``: metadata too big to go inline in the record."""

    prefix = "file"
    flips = False

    def __init__(self, service: ExperimentService, record: Experiment) -> None:
        self._service = service
        self._record = record

    def versions(self) -> dict[str, Hashable]:
        """The metadata's digest, if it goes to the file."""
        _, separate = split_metadata(self._record.metadata)
        return {} if separate is None else {METADATA_FILE: digest(separate)}

    async def put(self, name: str, create: bool) -> Hashable:
        """Upload the metadata file."""
        _, separate = split_metadata(self._record.metadata)
        if separate is None:
            return None
        version = digest(separate)
        await self._service.file_upload(self._record.experiment_id, METADATA_FILE, dict(separate))
        return version

    async def delete(self, name: str) -> None:
        """Delete the metadata file (it fits inline again)."""
        await self._service.file_delete(self._record.experiment_id, name)


class ArtifactSource:
    """The artifacts, grouped by name; each group is saved as ``<name>.zip``."""

    prefix = "artifact"
    flips = False

    def __init__(
        self, service: ExperimentService, store: ArtifactStore, record: Experiment
    ) -> None:
        self._service = service
        self._store = store
        self._record = record

    def versions(self) -> dict[str, Hashable]:
        """A digest of every group."""
        return {name: _group_digest(group) for name, group in self._store.groups().items()}

    async def put(self, name: str, create: bool) -> Hashable:
        """Zip the group in a worker thread and upload it."""
        group = self._store.groups().get(name)
        if not group:
            return None
        version = _group_digest(group)
        archive = await anyio.to_thread.run_sync(artifacts_to_zip, group)
        await self._service.file_upload(self._record.experiment_id, f"{name}.zip", archive)
        return version

    async def delete(self, name: str) -> None:
        """Delete the group's zip file."""
        await self._service.file_delete(self._record.experiment_id, f"{name}.zip")


def _group_digest(group: list[ArtifactData]) -> bytes:
    return digest([artifact.to_json() for artifact in group])


def _digest_json(value: Any) -> bytes:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


class Saver:
    """Saves one container (and, through their savers, its children).

    It holds the sources of the container's items, the :class:`Synchroniser` that knows what
    the service confirmed, and the auto-saver. The container hands it its record and stores
    when it is made, and its service when it has one.
    """

    def __init__(
        self,
        owner: TaskOwner,
        *,
        record: Experiment,
        results: AnalysisResultTable,
        figures: FigureStore,
        artifacts: ArtifactStore,
        children: Callable[[], list[Saver]],
    ) -> None:
        self.service: ExperimentService | None = None
        """Where the container is saved (``None``: nowhere yet)."""
        self.sync = Synchroniser(owner)
        self._record = record
        self._results = results
        self._figures = figures
        self._artifacts = artifacts
        self._children = children

    @property
    def stored(self) -> bool:
        """Whether the service holds the experiment record (as far as it confirmed)."""
        return f"{ExperimentSource.prefix}:" in self.sync.confirmed

    def confirm(self, prefix: str, name: str, version: Hashable) -> None:
        """Record that the service holds ``version`` of an item (after a load or a fetch)."""
        self.sync.confirm(prefix, name, version)

    def confirm_all(self) -> None:
        """Record that the service holds every item as it is now (right after a load)."""
        if self.service is not None:
            sources = self._sources(self.service, figures=True, artifacts=True)
            local, _ = self.sync.state(sources, None)
            self.sync.confirmed.update(local)

    def _sources(
        self, service: ExperimentService, *, figures: bool, artifacts: bool
    ) -> list[Source]:
        record = self._record
        sources: list[Source] = [
            ExperimentSource(service, record, self._artifacts),
            MetadataFileSource(service, record),
            ResultSource(service, self._results),
        ]
        if figures:
            sources.append(FigureSource(service, self._figures, record))
        if artifacts:
            sources.append(ArtifactSource(service, self._artifacts, record))
        return sources

    async def save(
        self,
        *,
        suppress_errors: bool,
        bound: Bound,
        figures: bool = True,
        artifacts: bool = True,
        children: bool = True,
        progress: ProgressReporter | None = None,
    ) -> SaveReport:
        """Save what the service lacks: the record, then the other items, then the children.

        Raises:
            ExperimentDataSaveFailed: with ``suppress_errors=False``, if anything failed.
        """
        service = self.service
        report = SaveReport()
        if service is None:
            logger.warning("Experiment cannot be saved because no experiment service is available")
            if not suppress_errors:
                raise ExperimentDataSaveFailed("No service found", report)
            return report
        sources = self._sources(service, figures=figures, artifacts=artifacts)
        async with self.sync.lock:
            stored = await self.sync.run(sources, bound=bound, report=report, progress=progress)
        if not stored:
            logger.warning("Could not save experiment metadata to DB, aborting experiment save")
            if not suppress_errors:
                raise ExperimentDataSaveFailed("saving the experiment failed", report)
            return report
        savers = self._children() if children else []
        if savers:
            report.children = list(
                await asyncio.gather(
                    *(
                        saver.save(
                            suppress_errors=True,
                            bound=bound,
                            figures=figures,
                            artifacts=artifacts,
                            progress=progress,
                        )
                        for saver in savers
                    )
                )
            )
        if not suppress_errors and not report.ok:
            failures = report.all_failures()
            raise ExperimentDataSaveFailed(
                f"{len(failures)} item(s) could not be saved; the next save() retries them: "
                + "; ".join(f"{what}: {exc}" for what, exc in failures[:5]),
                report,
            )
        return report

    async def save_record(self) -> SaveReport:
        """Save the experiment record alone."""
        report = SaveReport()
        if self.service is None:
            logger.warning("Experiment cannot be saved because no experiment service is available")
            return report
        source = ExperimentSource(self.service, self._record, self._artifacts)
        async with self.sync.lock:
            await self.sync.run([source], bound=Bound(1), report=report)
        return report

    def request(self) -> None:
        """Ask the auto-saver for a save of this container (not its children); call it on
        the container's loop."""
        if self.service is not None:
            bound = Bound(width=self.service._upload_width)
            self.sync.request(lambda: self.save(suppress_errors=True, bound=bound, children=False))

    async def flush(self) -> None:
        """Wait until every requested auto-save has run."""
        await self.sync.flush()
