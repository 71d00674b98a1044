"""The records the experiment service speaks, as attrs classes.

Each field declares, in its metadata, its wire name (``wire``) and when a client sends it:
``create`` (in the body of a create, when it differs from its default), ``update`` (it can be
changed by a partial update), ``always`` (in every create body, even at its default). Fields
with none of these are set by the service. :mod:`async_qexp.models.codec` builds every request
body, partial update and response mapping from this, and from nothing else
(``docs/protocol.md#experiments`` and ``#analysis-results``).

Fields are validated when a record is made or changed: a wrong type is a ``TypeError``, a bad
value a ``ValueError``.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import attrs

from . import _checks as check
from ._display import Column, Displayable, cell_text, plural, short_id, short_time
from .timeutil import parse_datetime

__all__ = [
    "AnalysisResult",
    "Device",
    "Experiment",
    "ExperimentShareLevel",
    "FileInfo",
    "ResultQuality",
    "fit_text",
]


def _wire(
    name: str, *, create: bool = False, update: bool = False, always: bool = False
) -> dict[str, Any]:
    return {"wire": name, "create": create or update or always, "update": update, "always": always}


def _as_datetime(value: Any) -> Any:
    """An ISO-8601 string a user typed (naive = local time) as a datetime."""
    return parse_datetime(value, naive_as_local=True) if isinstance(value, str) else value


def _datetime(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, datetime):
        raise TypeError(f"{attribute.name} must be a datetime, not {type(value).__name__}")


class ExperimentShareLevel(str, enum.Enum):
    """Who can see an experiment (wire field ``visibility``)."""

    PRIVATE = "private"
    """Only the owner (the default for new experiments)."""
    PROJECT = "project"
    """Everyone in the owner's hub/group/project."""
    GROUP = "group"
    """Everyone in the owner's hub and group."""
    HUB = "hub"
    """Everyone in the owner's hub."""
    PUBLIC = "public"
    """Everyone."""

    @classmethod
    def parse(cls, value: ExperimentShareLevel | str) -> ExperimentShareLevel:
        """Accept a member or any case variant of its value (``"Group"`` works).

        Raises:
            TypeError: for anything but a member or a string.
            ValueError: for an unknown share level.
        """
        if isinstance(value, cls):
            return value
        if not isinstance(value, str):
            raise TypeError(f"a share level is a string, not {type(value).__name__}")
        try:
            return cls(value.lower())
        except ValueError:
            valid = ", ".join(m.value for m in cls)
            raise ValueError(f"invalid share level {value!r}; expected one of: {valid}") from None


class ResultQuality(str, enum.Enum):
    """The quality of an analysis result."""

    GOOD = "GOOD"
    BAD = "BAD"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, value: Any) -> ResultQuality:
        """Accept a member, its value in any case (``"good"``, ``"Unknown"``), or a member of
        another library's quality enum with one of these names.

        Raises:
            TypeError: for anything else but a string.
            ValueError: for an unknown quality.
        """
        if isinstance(value, cls):
            return value
        if isinstance(value, enum.Enum) and not isinstance(value, str):
            value = value.name
        if not isinstance(value, str):
            raise TypeError(f"a quality is a string, not {type(value).__name__}")
        try:
            return cls(value.upper())
        except ValueError:
            raise ValueError(
                f"invalid quality {value!r}; expected one of: GOOD, BAD, UNKNOWN"
            ) from None

    @property
    def wire(self) -> str:
        """The value the service stores: ``Good``, ``Bad`` or ``No Information``."""
        return _QUALITY_TO_WIRE[self]

    @classmethod
    def from_wire(cls, value: str) -> ResultQuality:
        """Map a wire value back to the enum.

        Raises:
            ValueError: for a value outside the three the service defines.
        """
        try:
            return _QUALITY_FROM_WIRE[value]
        except (KeyError, TypeError):
            raise ValueError(f"unknown quality on the wire: {value!r}") from None


_QUALITY_TO_WIRE = {
    ResultQuality.GOOD: "Good",
    ResultQuality.BAD: "Bad",
    ResultQuality.UNKNOWN: "No Information",
}
_QUALITY_FROM_WIRE = {v: k for k, v in _QUALITY_TO_WIRE.items()}


def _share_level(value: Any) -> ExperimentShareLevel | None:
    return None if value is None else ExperimentShareLevel.parse(value)


def _quality(value: Any) -> ResultQuality | None:
    return None if value is None else ResultQuality.parse(value)


@attrs.define(kw_only=True, repr=False)
class Experiment(Displayable):
    """An experiment as stored by the service.

    The read-only fields (``owner``, ``figure_names``, ``creation_datetime``,
    ``updated_datetime``) are set by the service. It shows itself briefly
    (``<Experiment 3c5d2f4e T1 on ibmq_lima, 2026-11-29 10:02, 3 tags>``), and as a table in
    a notebook and IPython.
    """

    _noun = "experiment"
    _columns = (
        Column("id", "experiment_id", short_id),
        Column("type", "experiment_type"),
        Column("backend", "backend_name"),
        Column("created", "creation_datetime"),
        Column("tags", "tags"),
        Column("share level", "share_level"),
        Column("figures", "figure_names"),
        Column("notes", "notes"),
    )

    experiment_id: str = attrs.field(validator=check.ident, metadata=_wire("uuid", create=True))
    experiment_type: str = attrs.field(validator=check.text, metadata=_wire("type", create=True))
    backend_name: str = attrs.field(
        validator=check.text, metadata=_wire("device_name", create=True)
    )
    metadata: dict[str, Any] = attrs.field(
        factory=dict,
        converter=check.as_dict,
        validator=check.mapping,
        metadata=_wire("extra", update=True),
    )
    parent_id: str | None = attrs.field(
        default=None,
        validator=check.optional(check.ident),
        metadata=_wire("parent_experiment_uuid", create=True),
    )
    job_ids: list[str] = attrs.field(
        factory=list,
        converter=check.as_list,
        validator=check.str_list,
        metadata=_wire("jobs", update=True),
    )
    tags: list[str] = attrs.field(
        factory=list,
        converter=check.as_list,
        validator=check.str_list,
        metadata=_wire("tags", update=True),
    )
    notes: str = attrs.field(default="", validator=check.text, metadata=_wire("notes", update=True))
    share_level: ExperimentShareLevel | None = attrs.field(
        default=None, converter=_share_level, metadata=_wire("visibility", update=True)
    )
    hub: str = attrs.field(default="", validator=check.text, metadata=_wire("hub_id", create=True))
    group: str = attrs.field(
        default="", validator=check.text, metadata=_wire("group_id", create=True)
    )
    project: str = attrs.field(
        default="", validator=check.text, metadata=_wire("project_id", create=True)
    )
    owner: str = attrs.field(default="", validator=check.text, metadata=_wire("owner"))
    figure_names: list[str] = attrs.field(
        factory=list,
        converter=check.as_list,
        validator=check.str_list,
        metadata=_wire("plot_names"),
    )
    start_datetime: datetime | None = attrs.field(
        default=None,
        converter=_as_datetime,
        validator=_datetime,
        metadata=_wire("start_time", create=True),
    )
    end_datetime: datetime | None = attrs.field(
        default=None,
        converter=_as_datetime,
        validator=_datetime,
        metadata=_wire("end_time", update=True),
    )
    creation_datetime: datetime | None = attrs.field(
        default=None, validator=_datetime, metadata=_wire("created_at")
    )
    updated_datetime: datetime | None = attrs.field(
        default=None, validator=_datetime, metadata=_wire("updated_at")
    )

    def _summary(self) -> str:
        parts = [f"Experiment {short_id(self.experiment_id)} {self.experiment_type}"]
        parts[0] += f" on {self.backend_name}"
        when = self.creation_datetime or self.start_datetime
        if when is not None:
            parts.append(short_time(when))
        if self.tags:
            parts.append(plural(len(self.tags), "tag"))
        return ", ".join(parts)

    def _fields(self) -> list[tuple[str, Any]]:
        hgp = "/".join(x for x in (self.hub, self.group, self.project) if x)
        return [
            ("id", self.experiment_id),
            ("type", self.experiment_type),
            ("backend", self.backend_name),
            ("created", self.creation_datetime),
            ("updated", self.updated_datetime),
            ("started", self.start_datetime),
            ("ended", self.end_datetime),
            ("tags", self.tags),
            ("share level", self.share_level),
            ("owner", self.owner),
            ("hub/group/project", hgp),
            ("parent", self.parent_id),
            ("jobs", self.job_ids),
            ("figures", self.figure_names),
            ("metadata", self.metadata),
            ("notes", self.notes),
        ]


def fit_text(data: Any) -> str:
    """The value of an analysis result's data as a human reads it: ``62.1 ± 3.1 us``.

    Reads ``value``, and ``stderr`` or ``variance``, and ``unit`` (what this client and the
    reference store); ``""`` when there is no ``value``.
    """
    if not isinstance(data, dict) or data.get("value") is None:
        return ""
    text = cell_text(data["value"], None)
    error = data.get("stderr")
    variance = data.get("variance")
    if error is None and isinstance(variance, int | float) and variance >= 0:
        error = variance**0.5
    if isinstance(error, int | float) and not isinstance(error, bool):
        text += f" ± {cell_text(float(error), None)}"
    if isinstance(data.get("unit"), str) and data["unit"]:
        text += f" {data['unit']}"
    return text


@attrs.define(kw_only=True, repr=False)
class AnalysisResult(Displayable):
    """An analysis result as stored by the service.

    ``backend_name`` and the date-times are set by the service. It shows itself briefly
    (``<AnalysisResult 1a2b3c4d T1 on Q0 = 62.1 ± 3.1 us, GOOD>``), and as a table in a
    notebook and IPython.
    """

    _noun = "analysis result"
    _columns = (
        Column("id", "result_id", short_id),
        Column("type", "result_type"),
        Column("components", "device_components"),
        Column("value", "result_data", fit_text),
        Column("quality", "quality"),
        Column("chisq", "chisq"),
        Column("experiment", "experiment_id", short_id),
        Column("created", "creation_datetime"),
    )

    result_id: str = attrs.field(validator=check.ident, metadata=_wire("uuid", create=True))
    experiment_id: str = attrs.field(
        validator=check.ident, metadata=_wire("experiment_uuid", create=True)
    )
    result_type: str = attrs.field(validator=check.text, metadata=_wire("type", create=True))
    result_data: dict[str, Any] = attrs.field(
        factory=dict,
        converter=check.as_dict,
        validator=check.mapping,
        metadata=_wire("fit", update=True),
    )
    device_components: list[str] = attrs.field(
        factory=list,
        converter=check.component_list,
        metadata=_wire("device_components", create=True),
    )
    quality: ResultQuality | None = attrs.field(
        default=None, converter=_quality, metadata=_wire("quality", update=True, always=True)
    )
    verified: bool = attrs.field(
        default=False, validator=check.boolean, metadata=_wire("verified", update=True, always=True)
    )
    tags: list[str] = attrs.field(
        factory=list,
        converter=check.as_list,
        validator=check.str_list,
        metadata=_wire("tags", update=True),
    )
    chisq: float | None = attrs.field(
        default=None, validator=check.optional(check.number), metadata=_wire("chisq", update=True)
    )
    backend_name: str = attrs.field(default="", validator=check.text, metadata=_wire("device_name"))
    creation_datetime: datetime | None = attrs.field(
        default=None, validator=_datetime, metadata=_wire("created_at")
    )
    updated_datetime: datetime | None = attrs.field(
        default=None, validator=_datetime, metadata=_wire("updated_at")
    )

    def _summary(self) -> str:
        text = f"AnalysisResult {short_id(self.result_id)} {self.result_type}"
        if self.device_components:
            text += f" on {cell_text(self.device_components)}"
        value = fit_text(self.result_data)
        if value:
            text += f" = {value}"
        if self.quality is not None:
            text += f", {self.quality.value}"
        return text

    def _fields(self) -> list[tuple[str, Any]]:
        return [
            ("id", self.result_id),
            ("type", self.result_type),
            ("experiment", self.experiment_id),
            ("components", self.device_components),
            ("value", fit_text(self.result_data)),
            ("quality", self.quality),
            ("verified", self.verified),
            ("chisq", self.chisq),
            ("backend", self.backend_name),
            ("tags", self.tags),
            ("created", self.creation_datetime),
            ("updated", self.updated_datetime),
            ("data", self.result_data),
        ]


@attrs.frozen(kw_only=True)
class Device:
    """A backend that experiments can be stored for (``GET /devices``).

    ``name`` is the backend name; ``details`` holds every other field the service returned.
    """

    name: str
    details: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class FileInfo:
    """One entry of an experiment's file listing (``GET /experiments/{id}/files``)."""

    name: str = attrs.field(metadata=_wire("Key"))
    size: int = attrs.field(default=0, metadata=_wire("Size"))
    last_modified: datetime | None = attrs.field(default=None, metadata=_wire("LastModified"))
