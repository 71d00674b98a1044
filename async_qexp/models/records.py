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
from .timeutil import parse_datetime

__all__ = [
    "AnalysisResult",
    "Device",
    "Experiment",
    "ExperimentShareLevel",
    "FileInfo",
    "ResultQuality",
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


@attrs.define(kw_only=True)
class Experiment:
    """An experiment as stored by the service.

    The read-only fields (``owner``, ``figure_names``, ``creation_datetime``,
    ``updated_datetime``) are set by the service.
    """

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


@attrs.define(kw_only=True)
class AnalysisResult:
    """An analysis result as stored by the service.

    ``backend_name`` and the date-times are set by the service.
    """

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
