"""What pickle and JSON carry of an experiment container, and the JSON form of it.

A container is captured as a :class:`ContainerState` of plain values: its record, raw data,
analysis results, figures (as SVG), artifacts, children, what is known of its jobs and
callbacks, and what the service confirmed holding (so a restored container's next save sends
only what changed). Pickle stores that state as Python objects; :func:`state_to_json` writes
it as a tree of JSON values with the experiment service's envelopes, and
:func:`state_from_json` reads it back.

Left out, as the reference leaves them out: the lock, the tasks (a job still running is kept
as its id, a callback still queued or running as CANCELLED), and the service, provider and
runtime, which a restored container gets again by ``exp.service = provider``. JSON also leaves
out the experiment and backend objects (the backend's name is in the record).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Hashable
from datetime import datetime
from typing import Any

import attrs

from ..models import Experiment, JobStatus, decode_envelopes, encode_envelopes, from_wire, to_wire
from .artifacts import ArtifactData
from .figures import FigureData
from .results import AnalysisResultData
from .status import AnalysisCallback, AnalysisStatus

__all__ = [
    "FORMAT",
    "STATE_VERSION",
    "ContainerState",
    "JobsState",
    "capture",
    "restore",
    "state_from_json",
    "state_to_json",
]

FORMAT = "async_qexp.ExperimentData"
"""The ``format`` of a container's JSON form."""

STATE_VERSION = 1
"""The version of the state layout (checked when reading it back)."""


@attrs.define
class JobsState:
    """What is known of a container's jobs without the job objects."""

    ids: list[str] = attrs.field(factory=list)
    completion_times: dict[str, datetime] = attrs.field(factory=dict)
    final: dict[str, JobStatus] = attrs.field(factory=dict)
    errors: dict[str, str] = attrs.field(factory=dict)


@attrs.define
class ContainerState:
    """The portable state of one container (and, nested, of its children)."""

    record: Experiment
    data: list[dict[str, Any]]
    results: list[AnalysisResultData]
    figures: list[tuple[str, FigureData | None, int]]
    """``(name, figure as SVG or None when not downloaded, version)``, in order."""
    artifacts: list[ArtifactData]
    children: list[ContainerState]
    jobs: JobsState
    callbacks: list[AnalysisCallback]
    confirmed: dict[str, Hashable]
    extra: dict[str, Any]
    verbose: bool
    auto_save: bool
    experiment: Any = None
    backend: Any = None
    version: int = STATE_VERSION


def capture(container: Any, *, for_json: bool) -> ContainerState:
    """The portable state of an ``ExperimentData`` (and, nested, of its children); a job or
    callback still running is kept as its id, or as CANCELLED."""
    with container._lock:
        return ContainerState(
            record=copy.deepcopy(container._record),
            data=list(container._data),
            results=[attrs.evolve(row) for row in container._results],
            figures=container._figures.snapshot(),
            artifacts=container._artifacts.values(),
            children=[
                child._capture(for_json=for_json)
                for child in container._children.values()
                if hasattr(child, "_capture")
            ],
            jobs=container._jobs.snapshot(),
            callbacks=[
                attrs.evolve(r, status=AnalysisStatus.CANCELLED)
                if r.status in (AnalysisStatus.QUEUED, AnalysisStatus.RUNNING)
                else attrs.evolve(r)
                for r in container._analysis.records.values()
            ],
            confirmed=dict(container._saver.sync.confirmed),
            extra=dict(container._extra),
            verbose=container.verbose,
            auto_save=container._auto_save,
            experiment=None if for_json else container._experiment,
            backend=None if for_json else container._backend,
        )


def restore(container: Any, state: ContainerState, init: Callable[..., None]) -> None:
    """Make ``container`` (an object made without ``__init__``) the one ``state`` describes:
    ``init`` is the container class's ``__init__``.

    Raises:
        ValueError: for a state of another version.
    """
    if state.version != STATE_VERSION:
        raise ValueError(f"cannot restore an ExperimentData of state version {state.version}")
    record = state.record
    init(
        container,
        experiment=state.experiment,
        backend=state.backend if state.backend is not None else record.backend_name or None,
        verbose=state.verbose,
        db_data=record,
        **state.extra,
    )
    with container._lock:
        container._data.extend(state.data)
        for row in state.results:
            container._results.add(row)
        container._figures.restore(state.figures)
        container._artifacts.add(
            state.artifacts,
            overwrite=True,
            experiment_id=record.experiment_id,
            experiment_type=record.experiment_type,
        )
    cls: Any = type(container)
    for child_state in state.children:
        child = cls.__new__(cls)
        child._restore(child_state)
        container.add_child_data(child)
    container._jobs.restore(state.jobs)
    container._analysis.records.update({c.callback_id: c for c in state.callbacks})
    container._saver.sync.confirmed.update(state.confirmed)
    container._auto_save = state.auto_save


# -- JSON -------------------------------------------------------------------------------------

_ROW_FIELDS = tuple(f.name for f in attrs.fields(AnalysisResultData) if f.init)


def _row_to_json(row: AnalysisResultData) -> dict[str, Any]:
    return {name: encode_envelopes(getattr(row, name)) for name in _ROW_FIELDS}


def _row_from_json(value: dict[str, Any]) -> AnalysisResultData:
    fields = {k: decode_envelopes(v) for k, v in value.items() if k in _ROW_FIELDS}
    return AnalysisResultData(**fields)


def _figure_to_json(name: str, entry: FigureData | None, version: int) -> dict[str, Any]:
    if entry is None:
        return {"name": name, "version": version, "svg": None, "metadata": None}
    return {
        "name": name,
        "version": version,
        "svg": encode_envelopes(entry.figure),
        "metadata": encode_envelopes(entry.metadata),
    }


def _figure_from_json(value: dict[str, Any]) -> tuple[str, FigureData | None, int]:
    name = value["name"]
    if value.get("svg") is None:
        return name, None, int(value["version"])
    entry = FigureData(decode_envelopes(value["svg"]), name, decode_envelopes(value["metadata"]))
    return name, entry, int(value["version"])


def _encode_part(what: str, value: Any) -> Any:
    try:
        return encode_envelopes(value)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"the {what} of the container cannot be written as JSON: {exc}") from exc


def state_to_json(state: ContainerState) -> dict[str, Any]:
    """The JSON form of a container's state (a tree of standard JSON values).

    Raises:
        TypeError, ValueError: for raw data or an extra attribute with no JSON form.
    """
    jobs = state.jobs
    return {
        "format": FORMAT,
        "version": state.version,
        "record": to_wire(state.record),
        "data": _encode_part("raw data", state.data),
        "results": [_row_to_json(row) for row in state.results],
        "figures": [_figure_to_json(*figure) for figure in state.figures],
        "artifacts": [artifact.to_json() for artifact in state.artifacts],
        "children": [state_to_json(child) for child in state.children],
        "jobs": {
            "ids": list(jobs.ids),
            "completion_times": encode_envelopes(jobs.completion_times),
            "final": {job_id: status.value for job_id, status in jobs.final.items()},
            "errors": dict(jobs.errors),
        },
        "callbacks": [
            {
                "name": c.name,
                "callback_id": c.callback_id,
                "status": c.status.name,
                "error_msg": c.error_msg,
            }
            for c in state.callbacks
        ],
        "confirmed": encode_envelopes(state.confirmed),
        "extra": _encode_part("extra attributes", state.extra),
        "verbose": state.verbose,
        "auto_save": state.auto_save,
    }


def state_from_json(value: Any) -> ContainerState:
    """Read a container's state back from :func:`state_to_json`'s form.

    Raises:
        TypeError: for a value that is not such a form.
        ValueError: for another format, or a version this client cannot read.
    """
    if not isinstance(value, dict):
        raise TypeError(f"an ExperimentData JSON form is an object, not {type(value).__name__}")
    if value.get("format") != FORMAT:
        raise ValueError(f"not an ExperimentData JSON form (format {value.get('format')!r})")
    if value.get("version") != STATE_VERSION:
        raise ValueError(
            f"ExperimentData JSON form version {value.get('version')!r} is not supported "
            f"(this client reads version {STATE_VERSION})"
        )
    try:
        jobs = value["jobs"]
        return ContainerState(
            record=from_wire(Experiment, value["record"]),
            data=decode_envelopes(value["data"]),
            results=[_row_from_json(row) for row in value["results"]],
            figures=[_figure_from_json(figure) for figure in value["figures"]],
            artifacts=[ArtifactData.from_json(a) for a in value["artifacts"]],
            children=[state_from_json(child) for child in value["children"]],
            jobs=JobsState(
                ids=list(jobs["ids"]),
                completion_times=decode_envelopes(jobs["completion_times"]),
                final={job_id: JobStatus(s) for job_id, s in jobs["final"].items()},
                errors=dict(jobs["errors"]),
            ),
            callbacks=[
                AnalysisCallback(
                    name=c["name"],
                    callback_id=c["callback_id"],
                    status=AnalysisStatus[c["status"]],
                    error_msg=c["error_msg"],
                )
                for c in value["callbacks"]
            ],
            confirmed=decode_envelopes(value["confirmed"]),
            extra=decode_envelopes(value["extra"]),
            verbose=bool(value["verbose"]),
            auto_save=bool(value["auto_save"]),
        )
    except (KeyError, AttributeError) as exc:
        raise TypeError(f"a malformed ExperimentData JSON form: {exc!r}") from exc
