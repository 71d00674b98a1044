"""The records the experiment service speaks, as attrs classes.

Every field names its wire field in its metadata (``wire``); :mod:`async_qexp.models.codec`
builds the one cattrs converter from it (PROTOCOL §3.8).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import attrs

__all__ = [
    "AnalysisResult",
    "Device",
    "Experiment",
    "ExperimentShareLevel",
    "FileInfo",
    "ResultQuality",
]


def _wire(name: str) -> dict[str, str]:
    return {"wire": name}


class ExperimentShareLevel(str, enum.Enum):
    """Who can see an experiment (wire field ``visibility``, PROTOCOL §3.11)."""

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
            ValueError: for an unknown share level.
        """
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            try:
                return cls(value.lower())
            except ValueError:
                pass
        valid = ", ".join(m.value for m in cls)
        raise ValueError(f"invalid share level {value!r}; expected one of: {valid}")


class ResultQuality(str, enum.Enum):
    """The quality of an analysis result (PROTOCOL §3.11)."""

    GOOD = "GOOD"
    BAD = "BAD"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, value: ResultQuality | str) -> ResultQuality:
        """Accept a member or its value in any case (``"good"``, ``"Unknown"``).

        Raises:
            ValueError: for an unknown quality.
        """
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            try:
                return cls(value.upper())
            except ValueError:
                pass
        raise ValueError(f"invalid quality {value!r}; expected one of: GOOD, BAD, UNKNOWN")

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
        except KeyError:
            raise ValueError(f"unknown quality on the wire: {value!r}") from None


_QUALITY_TO_WIRE = {
    ResultQuality.GOOD: "Good",
    ResultQuality.BAD: "Bad",
    ResultQuality.UNKNOWN: "No Information",
}
_QUALITY_FROM_WIRE = {v: k for k, v in _QUALITY_TO_WIRE.items()}


@attrs.define(kw_only=True)
class Experiment:
    """An experiment as stored by the service.

    The read-only fields (``owner``, ``figure_names``, ``creation_datetime``,
    ``updated_datetime``) are set by the service.
    """

    experiment_id: str = attrs.field(metadata=_wire("uuid"))
    experiment_type: str = attrs.field(metadata=_wire("type"))
    backend_name: str = attrs.field(metadata=_wire("device_name"))
    metadata: dict[str, Any] = attrs.field(factory=dict, metadata=_wire("extra"))
    parent_id: str | None = attrs.field(default=None, metadata=_wire("parent_experiment_uuid"))
    job_ids: list[str] = attrs.field(factory=list, metadata=_wire("jobs"))
    tags: list[str] = attrs.field(factory=list, metadata=_wire("tags"))
    notes: str = attrs.field(default="", metadata=_wire("notes"))
    share_level: ExperimentShareLevel | None = attrs.field(
        default=None, metadata=_wire("visibility")
    )
    hub: str = attrs.field(default="", metadata=_wire("hub_id"))
    group: str = attrs.field(default="", metadata=_wire("group_id"))
    project: str = attrs.field(default="", metadata=_wire("project_id"))
    owner: str = attrs.field(default="", metadata=_wire("owner"))
    figure_names: list[str] = attrs.field(factory=list, metadata=_wire("plot_names"))
    start_datetime: datetime | None = attrs.field(default=None, metadata=_wire("start_time"))
    end_datetime: datetime | None = attrs.field(default=None, metadata=_wire("end_time"))
    creation_datetime: datetime | None = attrs.field(default=None, metadata=_wire("created_at"))
    updated_datetime: datetime | None = attrs.field(default=None, metadata=_wire("updated_at"))


@attrs.define(kw_only=True)
class AnalysisResult:
    """An analysis result as stored by the service.

    ``backend_name`` and the date-times are set by the service.
    """

    result_id: str = attrs.field(metadata=_wire("uuid"))
    experiment_id: str = attrs.field(metadata=_wire("experiment_uuid"))
    result_type: str = attrs.field(metadata=_wire("type"))
    result_data: dict[str, Any] = attrs.field(factory=dict, metadata=_wire("fit"))
    device_components: list[str] = attrs.field(factory=list, metadata=_wire("device_components"))
    quality: ResultQuality | None = attrs.field(default=None, metadata=_wire("quality"))
    verified: bool = attrs.field(default=False, metadata=_wire("verified"))
    tags: list[str] = attrs.field(factory=list, metadata=_wire("tags"))
    chisq: float | None = attrs.field(default=None, metadata=_wire("chisq"))
    backend_name: str = attrs.field(default="", metadata=_wire("device_name"))
    creation_datetime: datetime | None = attrs.field(default=None, metadata=_wire("created_at"))
    updated_datetime: datetime | None = attrs.field(default=None, metadata=_wire("updated_at"))


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
