"""The drop-in's data classes, with the fields of qiskit-ibm-experiment's, and the conversions
between whatever a caller passes (duck-typed) and the records of :mod:`async_qexp.models`.

Nothing here imports Qiskit: a value from qiskit-experiments or qiskit-ibm-experiment is judged
by what it has (an enum member by its name, a component by its text, a number by
``numbers.Real``), never by its class.
"""

from __future__ import annotations

import copy
import enum
import math
import numbers
import sys
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..models import AnalysisResult, Experiment, ExperimentShareLevel, ResultQuality

__all__ = [
    "AnalysisResultData",
    "ExperimentData",
    "ExperimentShareLevel",
    "ResultQuality",
    "quality_class",
]


def _new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class ExperimentData:
    """An experiment, with the fields of qiskit-ibm-experiment's ``ExperimentData``: what
    :meth:`IBMExperimentService.experiment` returns and
    :meth:`~IBMExperimentService.create_experiment` takes (any object with these attributes
    will do, such as qiskit-experiments' ``DbExperimentData``).

    ``backend`` is the backend's name. The service sets ``owner``, ``figure_names`` and the
    ``creation_datetime`` / ``updated_datetime``; datetimes come back in the local time zone.
    """

    experiment_id: str = field(default_factory=_new_id)
    parent_id: str | None = None
    experiment_type: str | None = None
    backend: str | None = None
    tags: list[str] | None = field(default_factory=list)
    job_ids: list[str] | None = field(default_factory=list)
    share_level: str | None = None
    metadata: dict[str, Any] | None = field(default_factory=dict)
    figure_names: list[str] | None = field(default_factory=list)
    notes: str | None = None
    hub: str | None = None
    group: str | None = None
    project: str | None = None
    owner: str | None = None
    creation_datetime: datetime | None = None
    start_datetime: datetime | None = None
    end_datetime: datetime | None = None
    updated_datetime: datetime | None = None

    def __str__(self) -> str:
        lines = [f"Experiment: {self.experiment_type}", f"Experiment ID: {self.experiment_id}"]
        if self.backend:
            lines.append(f"Backend: {self.backend}")
        if self.tags:
            lines.append(f"Tags: {self.tags}")
        lines.append(f"Hub\\Group\\Project: {self.hub}\\{self.group}\\{self.project}")
        for label, value in (
            ("Created at", self.creation_datetime),
            ("Started at", self.start_datetime),
            ("Ended at", self.end_datetime),
            ("Updated at", self.updated_datetime),
            ("Metadata", self.metadata),
            ("Figures", self.figure_names),
        ):
            if value:
                lines.append(f"{label}: {value}")
        return "\n".join(lines)

    def copy(self) -> ExperimentData:
        """A deep copy (metadata copied deeply, lists shallowly)."""
        return ExperimentData(
            **{
                **self.__dict__,
                "tags": copy.copy(self.tags),
                "job_ids": copy.copy(self.job_ids),
                "metadata": copy.deepcopy(self.metadata),
                "figure_names": copy.copy(self.figure_names),
            }
        )


@dataclass
class AnalysisResultData:
    """An analysis result, with the fields of qiskit-ibm-experiment's ``AnalysisResultData``:
    what :meth:`IBMExperimentService.analysis_result` returns and
    :meth:`~IBMExperimentService.create_analysis_result` takes (any object with these
    attributes will do, such as qiskit-experiments' ``DbAnalysisResultData``).

    ``quality`` is taken as either library's ``ResultQuality`` member or a string in any case
    (``"good"``, ``"GOOD"``); it comes back as described in
    :meth:`IBMExperimentService.analysis_result`.
    """

    result_id: str | None = field(default_factory=_new_id)
    experiment_id: str | None = None
    result_type: str | None = None
    result_data: dict[str, Any] | None = field(default_factory=dict)
    device_components: Any = field(default_factory=list)
    quality: Any = ResultQuality.UNKNOWN
    verified: bool | None = False
    tags: list[str] | None = field(default_factory=list)
    backend_name: str | None = None
    creation_datetime: datetime | None = None
    updated_datetime: datetime | None = None
    chisq: float | None = None

    def __str__(self) -> str:
        lines = [
            f"Result {self.result_type}",
            f"Result ID: {self.result_id}",
            f"Experiment ID: {self.experiment_id}",
            f"Backend: {self.backend_name}",
            f"Quality: {self.quality}",
            f"Verified: {self.verified}",
            f"Device components: {self.device_components}",
            f"Data: {self.result_data}",
        ]
        for label, value in (
            ("Chi Square", self.chisq),
            ("Tags", self.tags),
            ("Created at", self.creation_datetime),
            ("Updated at", self.updated_datetime),
        ):
            if value:
                lines.append(f"{label}: {value}")
        return "\n".join(lines)

    def copy(self) -> AnalysisResultData:
        """A deep copy (result data copied deeply, lists shallowly)."""
        return AnalysisResultData(
            **{
                **self.__dict__,
                "result_data": copy.deepcopy(self.result_data),
                "device_components": copy.copy(self.device_components),
                "tags": copy.copy(self.tags),
            }
        )


# -- what comes in -----------------------------------------------------------------------


def _field(data: Any, name: str, default: Any = None) -> Any:
    return getattr(data, name, default)


def require_data(data: Any, fields: Iterable[str], what: str) -> None:
    """``data`` has the attributes of a data class (duck-typed), else ``TypeError``."""
    if isinstance(data, str | bytes | Mapping) or data is None:
        raise TypeError(
            f"data must be {what} (an object with its fields), not {type(data).__name__}"
        )
    missing = [name for name in fields if not hasattr(data, name)]
    if missing:
        raise TypeError(f"data must be {what}: {type(data).__name__} has no {', '.join(missing)}")


def quality_in(value: Any) -> ResultQuality:
    """A quality as our enum: either library's member (by name), a string in any case, or the
    wire's own spelling (``"No Information"``); a missing one is ``UNKNOWN``.

    Raises:
        TypeError: for a value that is no quality.
        ValueError: for an unknown quality.
    """
    if value is None or value == "":
        return ResultQuality.UNKNOWN
    try:
        return ResultQuality.parse(value)
    except ValueError:
        if isinstance(value, str):
            try:
                return ResultQuality.from_wire(value)
            except ValueError:
                pass
        raise


def share_level_in(value: Any) -> ExperimentShareLevel | None:
    """A share level from a string in any case or an enum member (by value)."""
    if value is None or value == "":
        return None
    if isinstance(value, enum.Enum) and not isinstance(value, ExperimentShareLevel):
        value = value.value
    if isinstance(value, ExperimentShareLevel):
        return value
    if not isinstance(value, str):
        raise TypeError(f"share_level must be a string, not {type(value).__name__}")
    try:
        return ExperimentShareLevel(value.lower())
    except ValueError:
        levels = ", ".join(level.value for level in ExperimentShareLevel)
        raise ValueError(f"invalid share_level {value!r}; expected one of: {levels}") from None


def strings_in(value: Any, name: str) -> list[str]:
    """Tags or job ids: ``None`` is empty; a list, tuple or array of strings (numpy's
    ``tolist()`` taken); a single string is refused (it is not a list of them)."""
    if value is None:
        return []
    if hasattr(value, "tolist") and not isinstance(value, list | tuple):
        value = value.tolist()
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise TypeError(f"{name} must be a list of strings, not {type(value).__name__}")
    for item in value:
        if not isinstance(item, str):
            raise TypeError(f"{name} must hold strings, not {type(item).__name__}")
    return list(value)


def chisq_in(value: Any) -> float | None:
    """A chi-squared: any real number (numpy's too) as a float. ``None`` and NaN (what
    qiskit-experiments has when there was no fit) are left out; zero is a value, and is sent
    (the reference dropped it)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"chisq must be a number, not {type(value).__name__}")
    number = float(value)
    if math.isnan(number):
        return None
    if math.isinf(number):
        raise ValueError("chisq must be finite")
    return number


def bool_in(value: Any, name: str, default: bool) -> bool:
    """A flag: ``bool`` or numpy's ``bool_``; ``None`` is the default."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if type(value).__name__ in ("bool_", "bool"):
        return bool(value)
    raise TypeError(f"{name} must be a bool, not {type(value).__name__}")


def experiment_record(data: Any, hgp: tuple[str, str, str] | None) -> Experiment:
    """The record a create of ``data`` sends (its metadata already encoded by the caller).

    ``hgp`` is used where ``data`` names no hub.

    Raises:
        TypeError, ValueError: for a field that cannot be stored.
    """
    hub, group, project = (
        (_field(data, "hub"), _field(data, "group"), _field(data, "project"))
        if _field(data, "hub")
        else (hgp or ("", "", ""))
    )
    metadata = _field(data, "metadata")
    experiment_id = _field(data, "experiment_id")
    return Experiment(
        experiment_id=experiment_id if experiment_id is not None else _new_id(),
        experiment_type=_field(data, "experiment_type"),
        backend_name=_field(data, "backend"),
        metadata=metadata if metadata is not None else {},
        parent_id=_field(data, "parent_id") or None,
        job_ids=strings_in(_field(data, "job_ids"), "job_ids"),
        tags=strings_in(_field(data, "tags"), "tags"),
        notes=_field(data, "notes") or "",
        share_level=share_level_in(_field(data, "share_level")),
        hub=hub or "",
        group=group or "",
        project=project or "",
        start_datetime=_field(data, "start_datetime") or None,
        end_datetime=_field(data, "end_datetime") or None,
    )


def experiment_changes(data: Any) -> dict[str, Any]:
    """The fields an update of ``data`` sends (those the reference sends: the set ones among
    metadata, job ids, tags, notes, share level, end time); metadata not yet encoded."""
    changes: dict[str, Any] = {}
    if _field(data, "metadata"):
        changes["metadata"] = _field(data, "metadata")
    if _field(data, "job_ids"):
        changes["job_ids"] = strings_in(_field(data, "job_ids"), "job_ids")
    tags = _field(data, "tags")
    if tags is not None and len(tags) > 0:
        changes["tags"] = strings_in(tags, "tags")
    if _field(data, "notes"):
        changes["notes"] = _field(data, "notes")
    level = share_level_in(_field(data, "share_level"))
    if level is not None:
        changes["share_level"] = level
    if _field(data, "end_datetime"):
        changes["end_datetime"] = _field(data, "end_datetime")
    return changes


RESULT_FIELDS = ("result_id", "experiment_id", "result_type", "result_data")


def result_item(data: Any) -> dict[str, Any]:
    """The arguments of a result create, from an ``AnalysisResultData``-like object.

    Raises:
        TypeError, ValueError: for a field that cannot be stored.
    """
    require_data(data, RESULT_FIELDS, "an AnalysisResultData")
    result_data = _field(data, "result_data")
    if result_data is not None and not isinstance(result_data, Mapping):
        raise TypeError(f"result_data must be a dict, not {type(result_data).__name__}")
    return {
        "result_id": _field(data, "result_id") or _new_id(),
        "experiment_id": _field(data, "experiment_id"),
        "result_type": _field(data, "result_type"),
        "result_data": dict(result_data) if result_data else {},
        "device_components": _field(data, "device_components"),
        "tags": strings_in(_field(data, "tags"), "tags"),
        "quality": quality_in(_field(data, "quality")),
        "verified": bool_in(_field(data, "verified"), "verified", False),
        "chisq": chisq_in(_field(data, "chisq")),
    }


def result_changes(data: Any) -> dict[str, Any]:
    """The fields an update of ``data`` sends, as the reference sends them: result data,
    tags, quality and chi-squared when set, ``verified`` always."""
    require_data(data, ("result_id",), "an AnalysisResultData")
    changes: dict[str, Any] = {}
    result_data = _field(data, "result_data")
    if result_data:
        if not isinstance(result_data, Mapping):
            raise TypeError(f"result_data must be a dict, not {type(result_data).__name__}")
        changes["result_data"] = dict(result_data)
    tags = _field(data, "tags")
    if tags is not None and len(tags) > 0:
        changes["tags"] = strings_in(tags, "tags")
    if _field(data, "quality"):
        changes["quality"] = quality_in(_field(data, "quality"))
    if _field(data, "verified") is not None:
        changes["verified"] = bool_in(_field(data, "verified"), "verified", False)
    chisq = chisq_in(_field(data, "chisq"))
    if chisq is not None:
        changes["chisq"] = chisq
    return changes


# -- what goes out -----------------------------------------------------------------------


def quality_class() -> type[enum.Enum]:
    """The enum qualities come back as: qiskit-experiments' own when it is loaded (0.14 and
    later define one, and its ``load()`` keeps only members of it), else qiskit-ibm-
    experiment's when that is loaded (qiskit-experiments 0.13 compares with its members),
    else ours."""
    for module_name in (
        "qiskit_experiments.database_service.constants",
        "qiskit_ibm_experiment.service.constants",
    ):
        module = sys.modules.get(module_name)
        found = getattr(module, "ResultQuality", None)
        if isinstance(found, type) and issubclass(found, enum.Enum):
            return found
    return ResultQuality


def quality_out(value: ResultQuality | None, cls: type[enum.Enum] | None) -> Any:
    """Our quality as a member of ``cls`` (by name), or of :func:`quality_class`."""
    if value is None:
        return None
    target = cls if cls is not None else quality_class()
    try:
        return target[value.name]
    except KeyError:
        return value


def _local(value: datetime | None) -> datetime | None:
    return value.astimezone() if value is not None else None


def experiment_out(record: Experiment) -> ExperimentData:
    """An :class:`ExperimentData` of a record, datetimes in local time as the reference gives
    them."""
    return ExperimentData(
        experiment_id=record.experiment_id,
        parent_id=record.parent_id,
        experiment_type=record.experiment_type,
        backend=record.backend_name,
        tags=list(record.tags),
        job_ids=list(record.job_ids),
        share_level=record.share_level.value if record.share_level is not None else None,
        metadata=record.metadata if record.metadata is not None else {},
        figure_names=list(record.figure_names),
        notes=record.notes,
        hub=record.hub,
        group=record.group,
        project=record.project,
        owner=record.owner,
        creation_datetime=_local(record.creation_datetime),
        start_datetime=_local(record.start_datetime),
        end_datetime=_local(record.end_datetime),
        updated_datetime=_local(record.updated_datetime),
    )


def result_out(record: AnalysisResult, quality: type[enum.Enum] | None) -> AnalysisResultData:
    """An :class:`AnalysisResultData` of a record: components as their text, quality as
    :func:`quality_out` makes it."""
    return AnalysisResultData(
        result_id=record.result_id,
        experiment_id=record.experiment_id,
        result_type=record.result_type,
        result_data=record.result_data,
        device_components=[str(c) for c in record.device_components],
        quality=quality_out(record.quality, quality),
        verified=record.verified,
        tags=list(record.tags),
        backend_name=record.backend_name or None,
        creation_datetime=_local(record.creation_datetime),
        updated_datetime=_local(record.updated_datetime),
        chisq=record.chisq,
    )
