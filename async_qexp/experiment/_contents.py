"""What an experiment container holds: its record, raw data, results, figures, artifacts,
children, and how they are added, found and removed.

:class:`ExperimentContents` is the synchronous, thread-safe part of
:class:`~async_qexp.ExperimentData`: nothing here waits or does I/O, so a sync analysis
callback running in a worker thread can call any of it. Every value is checked (a wrong type
is a ``TypeError``, a bad value a ``ValueError``) and, for what is saved, encoded when it is
added (``docs/behaviour.md``). The container subclass adds the work: jobs, callbacks, saving
and loading; it is told of every change through :meth:`ExperimentContents._changed`.
"""

from __future__ import annotations

import copy as copy_module
import threading
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar, overload

import attrs

from .._auth import HubGroupProject
from .._logs import get_logger
from .._version import __version__
from ..models import Experiment, ExperimentShareLevel, encode_envelopes
from ..models._checks import require_strings
from ..models._display import (
    Displayable,
    PrettyPrinter,
    RecordList,
    html_fields,
    short_id,
    svg_thumbnail,
)
from ._jobs import backend_name
from ._qiskit import is_qiskit_result, qiskit_items
from ._sync import ExperimentDataError
from .artifacts import ArtifactData, ArtifactStore
from .figures import FigureData, FigureStore, is_svg_text
from .results import AnalysisResultData, AnalysisResultTable

__all__ = ["ExperimentContents"]

logger = get_logger("async_qexp.experiment")

T = TypeVar("T")


class _Field(Generic[T]):
    """A container attribute backed by a field of its experiment record."""

    def __init__(self, doc: str, *, settable: bool = False) -> None:
        self.__doc__ = doc
        self._settable = settable
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, obj: None, owner: type) -> _Field[T]: ...

    @overload
    def __get__(self, obj: ExperimentContents, owner: type) -> T: ...

    def __get__(self, obj: ExperimentContents | None, owner: type) -> T | _Field[T]:
        if obj is None:
            return self
        value: T = getattr(obj._record, self._name)
        return value

    def __set__(self, obj: ExperimentContents, value: T) -> None:
        if not self._settable:
            raise AttributeError(f"{self._name} cannot be set")
        setattr(obj._record, self._name, value)


def _check_mapping(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a dict, not {type(value).__name__}")
    encode_envelopes(value)  # every key a string, every value storable
    return copy_module.deepcopy(dict(value))


class ExperimentContents(Displayable):
    """The contents of one experiment container (see the module docstring).

    Raises:
        TypeError, ValueError: for a field of the wrong type or a bad value.
    """

    def __init__(
        self,
        *,
        experiment_id: str | None,
        experiment_type: str | None,
        backend: Any,
        metadata: Mapping[str, Any] | None,
        parent_id: str | None,
        job_ids: Sequence[str] | None,
        tags: Sequence[str] | None,
        notes: str | None,
        share_level: ExperimentShareLevel | str | None,
        hub: str | None,
        group: str | None,
        project: str | None,
        start_datetime: datetime | None,
    ) -> None:
        self._lock = threading.RLock()
        meta = _check_mapping(metadata, "metadata") if metadata is not None else {}
        meta.setdefault(
            "_source",
            {
                "class": f"{type(self).__module__}.{type(self).__name__}",
                "metadata_version": 1,
                "async_qexp_version": __version__,
            },
        )
        self._record = Experiment(
            experiment_id=experiment_id if experiment_id is not None else str(uuid.uuid4()),
            experiment_type=experiment_type if experiment_type is not None else "",
            backend_name=backend_name(backend) if backend is not None else "",
            metadata=meta,
            parent_id=parent_id,
            job_ids=job_ids if job_ids is not None else [],
            tags=tags if tags is not None else [],
            notes=notes if notes is not None else "",
            share_level=share_level,
            hub=hub or "",
            group=group or "",
            project=project or "",
            start_datetime=start_datetime or datetime.now().astimezone(),
        )
        self._backend = backend
        self._data: list[dict[str, Any]] = []
        self._results = AnalysisResultTable()
        self._figures = FigureStore()
        self._artifacts = ArtifactStore()
        self._children: dict[str, ExperimentContents] = {}

    def _fill_record(self, record: Experiment) -> None:
        """Take every field of ``record`` (copied into this container's own record object,
        which its saver shares)."""
        for field in attrs.fields(Experiment):
            setattr(self._record, field.name, copy_module.deepcopy(getattr(record, field.name)))

    # -- what the container is told ------------------------------------------------------------

    def _changed(self) -> None:
        """Called after a change that an auto-save should save (the container saves it)."""

    def _save_soon(self) -> None:
        """Called when a figure asks to be saved now (``add_figures(save_figure=True)``)."""

    def _busy(self) -> bool:
        """Whether analysis callbacks are queued or running (adding data then warns)."""
        return False

    @property
    def _child_type(self) -> type[ExperimentContents]:
        """The class a child must be."""
        return ExperimentContents

    def _adopt(self, child: ExperimentContents) -> None:
        """Called when a child is added (the container makes its tasks the child's owner)."""

    def errors(self) -> str:
        """Job errors, then analysis errors (none without a container)."""
        return ""

    # -- attributes ----------------------------------------------------------------------------

    experiment_id = _Field[str]("The experiment's id.")
    experiment_type = _Field[str]("The experiment type.", settable=True)
    parent_id = _Field["str | None"]("The parent experiment's id.", settable=True)
    job_ids = _Field["list[str]"]("Ids of the experiment's jobs (the live list).")
    metadata = _Field["dict[str, Any]"]("The experiment metadata (the live dict).")
    backend_name = _Field[str]("The backend's name.")
    hub = _Field[str]("The hub the experiment is stored in.")
    group = _Field[str]("The group the experiment is stored in.")
    project = _Field[str]("The project the experiment is stored in.")
    owner = _Field[str]("The owner's user id (set by the service).")
    creation_datetime = _Field["datetime | None"]("When the service stored the experiment.")
    updated_datetime = _Field["datetime | None"]("When the service last updated the experiment.")
    start_datetime = _Field["datetime | None"]("When the experiment started.", settable=True)
    end_datetime = _Field["datetime | None"](
        "When the last job's data was added successfully.", settable=True
    )
    figure_names = _Field["list[str]"]("Names of the experiment's figures.")

    @property
    def tags(self) -> list[str]:
        """Tags, sorted and without duplicates."""
        return self._record.tags

    @tags.setter
    def tags(self, value: list[str]) -> None:
        if not isinstance(value, list):
            raise TypeError(f"tags must be a list, not {type(value).__name__}")
        self._record.tags = sorted(set(value))
        self._changed()

    @property
    def notes(self) -> str:
        """Free-form notes."""
        return self._record.notes

    @notes.setter
    def notes(self, value: str) -> None:
        self._record.notes = value
        self._changed()

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
            child._changed()
        self._changed()

    @property
    def backend(self) -> Any:
        """The backend (as given: a name or a backend object)."""
        return self._backend

    @backend.setter
    def backend(self, value: Any) -> None:
        self._set_backend(value)
        self._changed()

    def _set_backend(self, value: Any) -> None:
        self._backend = value
        self._record.backend_name = backend_name(value)
        for child in self._children.values():
            child._set_backend(value)

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
        parsed = HubGroupProject.parse(value)
        self._record.hub, self._record.group, self._record.project = (
            parsed.hub,
            parsed.group,
            parsed.project,
        )

    @property
    def source(self) -> dict[str, Any]:
        """The class and version that made the metadata."""
        source: dict[str, Any] = self.metadata.get("_source", {})
        return source

    # -- raw data ------------------------------------------------------------------------------

    def add_data(self, data: Any) -> None:
        """Add raw data: a dict (Qiskit's ``Counts`` is one), or, with Qiskit, a backend
        ``Result``, a ``PrimitiveResult`` or a pub result; or a list of these.

        A Qiskit result adds one item per circuit or pub, as the reference container does
        (``docs/behaviour.md#jobs-and-raw-data``); a backend result's job id is added to the
        experiment's job ids.

        Raises:
            TypeError: for anything else (nothing is added).
            ValueError: for a parameterised sampler pub that does not ask for averaging.
        """
        given = data if isinstance(data, list | tuple) else [data]
        items: list[dict[str, Any]] = []
        job_ids: list[str] = []
        for datum in given:
            if isinstance(datum, dict):
                items.append(datum)
            elif is_qiskit_result(datum):
                converted = qiskit_items(datum, None)
                items += converted
                job_ids += [i["job_id"] for i in converted if i.get("job_id")]
            else:
                raise TypeError(
                    f"Invalid data type {type(datum).__name__}: expected a dict or a Qiskit result"
                )
        for job_id in dict.fromkeys(job_ids):
            self._note_job_id(job_id)
        if self._busy():
            logger.warning(
                "Not all analysis has finished running. Adding new data may create "
                "unexpected analysis results."
            )
        with self._lock:
            self._data.extend(items)

    def _note_job_id(self, job_id: str) -> None:
        """Record the id of a job whose data was added directly."""
        with self._lock:
            if job_id not in self._record.job_ids:
                self._record.job_ids.append(job_id)

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

    # -- analysis results --------------------------------------------------------------------

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
        default to this experiment's; other keywords become extra columns. Every value is
        checked and encoded now: one the service cannot store raises here, not at ``save()``.

        Returns:
            the result id (keyword form) or the list of ids (object form).

        Raises:
            TypeError, ValueError: for a value of the wrong type, or that cannot be stored.
        """
        if results is not None:
            rows = [results] if isinstance(results, AnalysisResultData) else list(results)
            if not all(isinstance(r, AnalysisResultData) for r in rows):
                raise TypeError("results must be AnalysisResultData objects")
            return [self._add_row(copy_module.copy(r)) for r in rows]
        if name is None:
            raise ValueError("an analysis result needs a name")
        row = AnalysisResultData(
            name=name,
            value=value,
            quality=quality,
            components=components,
            experiment=experiment,
            experiment_id=experiment_id,
            result_id=result_id or self._results.new_result_id(),
            tags=tags if tags is not None else [],
            backend=backend,
            run_time=run_time,
            created_time=created_time or datetime.now().astimezone(),
            chisq=chisq,
            verified=verified,
            extra=extra_values,
        )
        return self._add_row(row)

    add_analysis_result = add_analysis_results
    """Alias of :meth:`add_analysis_results`."""

    def _add_row(self, row: AnalysisResultData) -> str:
        row.experiment = row.experiment or self.experiment_type
        row.experiment_id = row.experiment_id or self.experiment_id
        row.backend = row.backend or self.backend_name or None
        row.wire()  # encoded now: a row that cannot be stored is refused here
        with self._lock:
            self._results.add(row)
        self._changed()
        return row.result_id

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
                rows = [] if index is None and not self._results else self._results.select(index)
                return self._results.dataframe(rows, self._results.resolve_columns(columns))
            rows = self._results.select(index)
        if index is not None and len(rows) == 1:
            return rows[0]
        return RecordList(rows)

    def delete_analysis_result(self, result_key: int | slice | str) -> list[str]:
        """Delete results (by position, id, short id or name); returns their full ids.

        They are deleted from the service on the next save (at once with auto-save), even
        one whose create is in flight right now.
        """
        with self._lock:
            rows = self._results.select(result_key)
            for row in rows:
                self._results.remove(row.result_id)
        self._changed()
        return [row.result_id for row in rows]

    # -- figures -----------------------------------------------------------------------------

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
        names: list[Any] = [None] * len(items)
        if figure_names is not None:
            names = [figure_names] if isinstance(figure_names, str) else list(figure_names)
            if len(names) != len(items):
                raise ValueError("figures and figure_names must have the same length")
        metadata = {
            "qubits": self.metadata.get("physical_qubits"),
            "device_components": self.metadata.get("device_components"),
            "experiment_type": self.experiment_type,
        }
        with self._lock:
            added = self._figures.add(
                items,
                names,
                overwrite=overwrite,
                default_name=self._generated_figure_name,
                metadata=metadata,
            )
            for name in added:
                if name not in self._record.figure_names:
                    self._record.figure_names.append(name)
        if save_figure:
            self._save_soon()
        elif save_figure is None:
            self._changed()
        return added if many else added[0]

    def delete_figure(self, figure_key: str | int) -> str:
        """Delete a figure; it is deleted from the service on the next save."""
        with self._lock:
            name = self._figures.resolve(figure_key)
            self._figures.remove(name)
            if name in self._record.figure_names:
                self._record.figure_names.remove(name)
        self._changed()
        return name

    # -- artifacts ---------------------------------------------------------------------------

    def add_artifacts(
        self, artifacts: ArtifactData | Sequence[ArtifactData], overwrite: bool = False
    ) -> None:
        """Add artifacts; a duplicate id needs ``overwrite=True``.

        Raises:
            TypeError: for something that is not an artifact, or whose data cannot be stored.
            ValueError: for a duplicate artifact id without ``overwrite``.
        """
        with self._lock:
            self._artifacts.add(
                artifacts,
                overwrite=overwrite,
                experiment_id=self.experiment_id,
                experiment_type=self.experiment_type,
            )

    def artifacts(self, artifact_key: str | int | None = None) -> ArtifactData | list[ArtifactData]:
        """All artifacts, or those matching an id or a name (one object when one matches)."""
        with self._lock:
            if artifact_key is None:
                return self._artifacts.values()
            found = self._artifacts.select(artifact_key)
        return found[0] if len(found) == 1 else found

    def delete_artifact(self, artifact_key: str | int) -> str | list[str]:
        """Delete artifacts by id or name; returns the deleted id(s)."""
        with self._lock:
            ids = self._artifacts.delete(artifact_key)
        return ids[0] if len(ids) == 1 else ids

    # -- children ----------------------------------------------------------------------------

    def add_child_data(self, experiment_data: ExperimentContents) -> None:
        """Add a child container (its parent id becomes this experiment's id)."""
        if not isinstance(experiment_data, self._child_type):
            raise TypeError(f"a child is an ExperimentData, not {type(experiment_data).__name__}")
        experiment_data.parent_id = self.experiment_id
        with self._lock:
            self._children[experiment_data.experiment_id] = experiment_data
            self.metadata["child_data_ids"] = list(self._children)
        self._adopt(experiment_data)

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

    def _all_children(self) -> list[ExperimentContents]:
        found = []
        for child in self._children.values():
            found.append(child)
            found += child._all_children()
        return found

    def add_tags_recursive(self, tags2add: Sequence[str]) -> None:
        """Add tags here and in every descendant."""
        tags2add = require_strings(tags2add, "tags2add")
        self.tags = self.tags + tags2add
        for child in self._children.values():
            child.add_tags_recursive(tags2add)

    def remove_tags_recursive(self, tags2remove: Sequence[str]) -> None:
        """Remove tags here and in every descendant."""
        tags2remove = require_strings(tags2remove, "tags2remove")
        self.tags = [t for t in self.tags if t not in set(tags2remove)]
        for child in self._children.values():
            child.remove_tags_recursive(tags2remove)

    # -- display -----------------------------------------------------------------------------

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

    def _display_status(self) -> Any:
        """The status a display shows (``None``: the contents alone do not know it)."""
        return None

    def _summary(self) -> str:
        kind = self.experiment_type or "(no type)"
        return f"{type(self).__name__} {kind} {short_id(self.experiment_id)}"

    def _fields(self) -> list[tuple[str, Any]]:
        with self._lock:
            return [
                ("id", self.experiment_id),
                ("status", self._display_status()),
                ("backend", self.backend_name),
                ("tags", self.tags),
                ("parent", self.parent_id),
                ("data", len(self._data)),
                ("jobs", len(self.job_ids)),
                ("analysis results", len(self._results)),
                ("figures", len(self._figures)),
                ("figure names", self._figures.names()),
                ("artifacts", len(self._artifacts)),
                ("children", len(self._children)),
                ("errors", self.errors().strip()),
            ]

    def _repr_pretty_(self, p: PrettyPrinter, cycle: bool) -> None:
        """IPython's pretty printer: the summary, status and counts, one per line (this
        class has its own ``__repr__``, which IPython would use instead)."""
        Displayable._repr_pretty_(self, p, cycle)

    def _repr_html_(self) -> str:
        """A notebook's view: status, counts, figure names, and the figures held in memory
        as SVG drawn small (as images, so no script in them runs)."""
        with self._lock:
            figures = [self._figures.get(name) for name in self._figures.names()]
        drawn: list[str] = []
        for figure in figures:
            svg = _svg_bytes(figure)
            if svg is not None and figure is not None and len(drawn) < 4:
                drawn.append(svg_thumbnail(figure.name, svg))
        extra = f"<tr><th></th><td>{''.join(drawn)}</td></tr>" if drawn else ""
        return html_fields(self._summary(), self._fields(), extra_rows=extra)

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
            f"  data:      {len(self._data)} item(s) from {len(self.job_ids)} job(s)",
            f"  results:   {len(self._results)}",
            f"  figures:   {len(self._figures)}",
            f"  artifacts: {len(self._artifacts)}",
        ]
        errors = self.errors()
        if errors:
            lines.append(f"  errors:    {errors.strip()}")
        return "\n".join(lines)


def _svg_bytes(figure: FigureData | None) -> bytes | None:
    """A figure's SVG when it is in memory as SVG (not a file, not matplotlib, not remote)."""
    raw = None if figure is None else figure.figure
    if isinstance(raw, bytes) and is_svg_text(raw[:4096].decode("utf-8", errors="replace")):
        return raw
    if isinstance(raw, str) and is_svg_text(raw):
        return raw.encode("utf-8")
    return None
