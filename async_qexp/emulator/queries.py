"""What a request asks of the store: who asks (:class:`Principal`) and, for the list endpoints,
frozen query objects that carry the filters, the sort order and the page.

The route modules parse a request into these; the store turns them into its own query
language (SQL for :class:`~async_qexp.emulator.store.SQLiteStore`). Nothing here knows SQL.
Filter semantics: ``docs/protocol.md#list-filters``, ``#sorting`` and ``#paging``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import attrs

from async_qexp.models.records import (
    AnalysisResult,
    Experiment,
    ExperimentShareLevel,
    ResultQuality,
)

__all__ = [
    "EXPERIMENT_DEFAULT_SORT",
    "EXPERIMENT_FIELDS",
    "EXPERIMENT_SORT_FIELDS",
    "QUALITY_SPELLINGS",
    "RESULT_DEFAULT_SORT",
    "RESULT_FIELDS",
    "RESULT_SORT_FIELDS",
    "TIME_OPERATORS",
    "VISIBILITIES",
    "ComponentMatch",
    "ExperimentQuery",
    "JobQuery",
    "ListQuery",
    "Page",
    "Principal",
    "ProgramQuery",
    "ResultQuery",
    "SortSpec",
    "TagMatch",
    "TextMatch",
    "TimeBound",
    "TimeOperator",
]


def _wire_fields(cls: type[Any]) -> tuple[str, ...]:
    return tuple(f.metadata["wire"] for f in attrs.fields(cls) if "wire" in f.metadata)


EXPERIMENT_FIELDS = _wire_fields(Experiment)
"""The fields of an experiment on the wire (from the models), as the store returns them."""
RESULT_FIELDS = _wire_fields(AnalysisResult)
"""The fields of an analysis result on the wire (from the models), as the store returns them."""

VISIBILITIES: tuple[str, ...] = tuple(level.value for level in ExperimentShareLevel)
"""The stored share levels, from the narrowest (``private``) to ``public``."""

QUALITY_SPELLINGS: dict[str, str] = {
    **{quality.value.lower(): quality.wire for quality in ResultQuality},
    **{quality.wire.lower(): quality.wire for quality in ResultQuality},
}
"""Accepted quality inputs (lower-cased: ``good``, ``unknown``, ``no information`` ...) to the
stored wire value (``Good``, ``Bad``, ``No Information``)."""

EXPERIMENT_SORT_FIELDS = ("start_time", "type", "uuid")
"""Fields experiments can be sorted by."""
RESULT_SORT_FIELDS = ("created_at", "device_components", "type", "uuid")
"""Fields analysis results can be sorted by."""
EXPERIMENT_DEFAULT_SORT: tuple[tuple[str, str], ...] = (("start_time", "desc"), ("uuid", "asc"))
"""Experiments come newest first, then by uuid."""
RESULT_DEFAULT_SORT: tuple[tuple[str, str], ...] = (("created_at", "desc"), ("uuid", "asc"))
"""Analysis results come newest first, then by uuid."""

TimeOperator = Literal["ge", "le", "gt", "lt", "eq"]
"""A comparison of a time bound."""
TIME_OPERATORS: tuple[TimeOperator, ...] = ("ge", "le", "gt", "lt", "eq")
"""Comparisons of a time bound (``ge:`` and ``le:`` are inclusive)."""


@attrs.frozen
class Principal:
    """An authenticated user: id and hub/group/project triples (first = default)."""

    id: str
    hgps: tuple[tuple[str, str, str], ...]
    open_projects: bool = False
    """Without a users file: hub/group/project are free labels (no other user belongs to any
    project but the default one, so a label shares with nobody)."""

    @property
    def default_hgp(self) -> tuple[str, str, str]:
        """The user's default hub/group/project."""
        return self.hgps[0]

    def may_write_to(self, hub: str, group: str = "", project: str = "") -> bool:
        """Whether the user may put a record in this hub/group/project: one of theirs, or a
        prefix of one (``hub`` alone, or ``hub`` and ``group``); any label without a users
        file. A group without its hub, or a project without its group, is no place at all."""
        if (group and not hub) or (project and not group):
            return False
        if self.open_projects:
            return True
        given = tuple(part for part in (hub, group, project) if part)
        return any(hgp[: len(given)] == given for hgp in self.hgps)

    def can_see(self, row: dict[str, Any]) -> bool:
        """Whether the user may read an experiment (or a row carrying its ``owner``,
        ``visibility``, ``hub_id``, ``group_id`` and ``project_id``); see
        ``docs/protocol.md#visibility``."""
        if row["owner"] == self.id:
            return True
        vis = row["visibility"]
        hgp = (row["hub_id"], row["group_id"], row["project_id"])
        if vis == "public":
            return True
        if vis == "project":
            return hgp in self.hgps
        if vis == "group":
            return hgp[:2] in {h[:2] for h in self.hgps}
        if vis == "hub":
            return hgp[0] in {h[0] for h in self.hgps}
        return False


@attrs.frozen
class SortSpec:
    """A resolved ordering: ``(field, "asc"|"desc")`` pairs ending with ``uuid``."""

    keys: tuple[tuple[str, str], ...]

    @classmethod
    def build(
        cls,
        requested: Sequence[tuple[str, str]],
        defaults: Sequence[tuple[str, str]],
    ) -> SortSpec:
        """Requested keys first, then the defaults as tie-breakers, each key once."""
        seen: set[str] = set()
        keys: list[tuple[str, str]] = []
        for key, direction in [*requested, *defaults, ("uuid", "asc")]:
            if key not in seen:
                seen.add(key)
                keys.append((key, direction))
        return cls(tuple(keys))

    def token(self) -> str:
        """A compact string identifying this ordering (embedded in markers)."""
        return ",".join(f"{k}:{d}" for k, d in self.keys)


@attrs.frozen
class Page:
    """One page of records plus the marker of the next page (``None`` on the last page)."""

    rows: list[dict[str, Any]]
    marker: str | None


@attrs.frozen
class TimeBound:
    """``<field> <op> <value>``; ``value`` is a normalised UTC timestamp."""

    op: TimeOperator
    value: str


@attrs.frozen
class TextMatch:
    """An exact value, or a (case-sensitive) substring with ``substring=True``."""

    value: str
    substring: bool = False


@attrs.frozen
class TagMatch:
    """Records carrying every one of ``tags`` (``every=True``) or at least one of them."""

    tags: tuple[str, ...]
    every: bool


@attrs.frozen
class ComponentMatch:
    """Device components: exactly ``exact`` (in any order) if given, and at least ``contains``."""

    exact: tuple[str, ...] | None = None
    contains: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class ListQuery:
    """What every list of the experiment service takes: the order, the page, and the filters
    experiments and analysis results share (``device_name`` is the experiment's device)."""

    sort: SortSpec
    limit: int
    marker: str | None = None
    device_name: str | None = None
    type: TextMatch | None = None
    tags: TagMatch | None = None
    components: ComponentMatch | None = None


@attrs.frozen(kw_only=True)
class ExperimentQuery(ListQuery):
    """A ``GET /experiments`` request: what the caller may see, narrowed by these filters.

    ``visibility`` and ``owner`` are ``(value, negate)`` pairs (``visibility=!public``,
    ``owner=!me``; ``me`` already resolved to the caller's id). ``components`` match through
    the experiment's analysis results.
    """

    hub_id: str | None = None
    group_id: str | None = None
    project_id: str | None = None
    parent_experiment_uuid: str | None = None
    start_time: tuple[TimeBound, ...] = ()
    visibility: tuple[str, bool] | None = None
    owner: tuple[str, bool] | None = None


@attrs.frozen(kw_only=True)
class ResultQuery(ListQuery):
    """A ``GET /analysis_results`` request."""

    experiment_uuid: str | None = None
    quality: tuple[str, ...] | None = None
    verified: bool | None = None
    created_at: tuple[TimeBound, ...] = ()


@attrs.frozen
class ProgramQuery:
    """A ``GET /programs`` request: the programs ``user_id`` may see, oldest first."""

    user_id: str
    limit: int
    offset: int = 0


@attrs.frozen
class JobQuery:
    """A ``GET /jobs`` request: the jobs of ``owner``, newest first unless ``ascending``.

    ``pending``: ``True`` for jobs that are not final, ``False`` for final ones, ``None`` for all.
    """

    owner: str
    limit: int
    offset: int = 0
    pending: bool | None = None
    program_id: str | None = None
    hgp: tuple[str, str, str] | None = None
    ascending: bool = False
