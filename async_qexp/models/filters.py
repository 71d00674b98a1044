"""Filter objects for the list calls, validated once and turned into query strings.

:class:`ExperimentFilters` and :class:`ResultFilters` take the filters of
``ExperimentService.experiments`` and ``analysis_results`` under their Python names, check them
when they are made (a wrong type is a ``TypeError``, a bad value or combination a
``ValueError``), and write the query of ``docs/protocol.md#list-filters`` with
:meth:`to_params`. Every parameter name comes from the records' wire names; what this module
adds is the query grammar (``like:``, ``any:``, ``contains:``, ``in:``, ``ge:``/``le:``,
``me``/``!me``, ``<key>:<asc|desc>``).

An operator is checked only when its value is given, as the reference client does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from . import _checks as check
from .codec import wire_name
from .records import AnalysisResult, Experiment, ResultQuality
from .timeutil import format_datetime

__all__ = ["ExperimentFilters", "Params", "ResultFilters"]

Params = list[tuple[str, str]]
"""Query parameters as ordered pairs (a key may repeat)."""


class _Filters:
    """What both filter classes share: being made from a list call's arguments."""

    @classmethod
    def of(cls, arguments: Mapping[str, Any]) -> Any:
        """The filters among a call's arguments (the ``locals()`` of a list call)."""
        names = [f.name for f in attrs.fields(cls) if f.init]  # type: ignore[arg-type]
        return cls(**{name: arguments[name] for name in names if name in arguments})


def _optional_str(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        check.require_str(value, attribute.name)


def _optional_strings(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise TypeError(f"a list of strings is needed, not the string {value!r}")
    return check.require_strings(value, "tags")


def _optional_components(value: Any) -> list[str] | None:
    return None if value is None else check.component_list(value)


def _optional_datetime(value: Any) -> str | None:
    """A bound as the wire writes it (validated now, so a bad one fails before any request)."""
    return None if value is None else format_datetime(value)


def _type_value(value: str | None, operator: str | None, name: str) -> str | None:
    if not value:
        return None
    if operator is None:
        return value
    if operator != "like":
        raise ValueError(f'{name}_operator must be None or "like", not {operator!r}')
    return f"like:{value}"


def _tags_value(tags: list[str] | None, operator: Any) -> str | None:
    if not tags:
        return None
    op = operator.upper() if isinstance(operator, str) else operator
    if op not in ("AND", "OR"):
        raise ValueError(f'tags_operator must be "AND" or "OR", not {operator!r}')
    return ("contains:" if op == "AND" else "any:") + ",".join(tags)


def _components_params(components: list[str] | None, operator: Any) -> Params:
    if not components:
        return []
    if operator not in (None, "contains"):
        raise ValueError(f'device_components_operator must be None or "contains", not {operator!r}')
    name = wire_name(AnalysisResult, "device_components")
    if operator == "contains":
        return [(name, "contains:" + ",".join(components))]
    return [(name, component) for component in components]


def _sort_value(sort_by: Any, keys: dict[str, str]) -> str | None:
    if not sort_by:
        return None
    items = [sort_by] if isinstance(sort_by, str) else sort_by
    if not isinstance(items, list | tuple):
        raise TypeError(f"sort_by must be a string or a list of them, not {type(sort_by).__name__}")
    rendered = []
    for item in items:
        check.require_str(item, "sort_by")
        parts = item.split(":")
        if len(parts) != 2:
            raise ValueError(f"sort_by entry {item!r} must be '<key>:<asc|desc>'")
        key, direction = parts
        wire_key = keys.get(key.lower())
        if wire_key is None:
            raise ValueError(f"invalid sort key {key!r}; valid keys: {', '.join(keys)}")
        if direction not in ("asc", "desc"):
            raise ValueError(f"sort direction must be 'asc' or 'desc', not {direction!r}")
        rendered.append(f"{wire_key}:{direction}")
    return ",".join(rendered)


def _bounds(name: str, after: str | None, before: str | None) -> Params:
    return [(name, f"{op}:{value}") for op, value in (("ge", after), ("le", before)) if value]


_EXPERIMENT_SORT_KEYS = {
    "start_datetime": wire_name(Experiment, "start_datetime"),
    "start_time": wire_name(Experiment, "start_datetime"),
    "experiment_type": wire_name(Experiment, "experiment_type"),
}
_RESULT_SORT_KEYS = {
    "creation_datetime": wire_name(AnalysisResult, "creation_datetime"),
    "device_components": wire_name(AnalysisResult, "device_components"),
    "result_type": wire_name(AnalysisResult, "result_type"),
}


@attrs.frozen(kw_only=True)
class ExperimentFilters(_Filters):
    """The filters of ``experiments()``, checked when made; :meth:`to_params` writes them."""

    backend_name: str | None = attrs.field(default=None, validator=_optional_str)
    experiment_type: str | None = attrs.field(default=None, validator=_optional_str)
    experiment_type_operator: str | None = None
    device_components: list[str] | None = attrs.field(default=None, converter=_optional_components)
    device_components_operator: str | None = None
    tags: list[str] | None = attrs.field(default=None, converter=_optional_strings)
    tags_operator: str | None = "OR"
    start_datetime_after: str | None = attrs.field(default=None, converter=_optional_datetime)
    start_datetime_before: str | None = attrs.field(default=None, converter=_optional_datetime)
    hub: str | None = attrs.field(default=None, validator=_optional_str)
    group: str | None = attrs.field(default=None, validator=_optional_str)
    project: str | None = attrs.field(default=None, validator=_optional_str)
    exclude_public: bool = attrs.field(default=False, validator=check.boolean)
    public_only: bool = attrs.field(default=False, validator=check.boolean)
    exclude_mine: bool = attrs.field(default=False, validator=check.boolean)
    mine_only: bool = attrs.field(default=False, validator=check.boolean)
    parent_id: str | None = attrs.field(default=None, validator=_optional_str)
    sort_by: str | Sequence[str] | None = None
    _params: Params = attrs.field(init=False, factory=list, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.project and not (self.group and self.hub):
            raise ValueError("If project is specified, group and hub must also be specified.")
        if self.group and not self.hub:
            raise ValueError("If group is specified, hub must also be specified.")
        if self.exclude_public and self.public_only:
            raise ValueError("exclude_public and public_only cannot both be True")
        if self.exclude_mine and self.mine_only:
            raise ValueError("exclude_mine and mine_only cannot both be True")
        self._params.extend(self._build())

    def _build(self) -> Params:
        w = {name: wire_name(Experiment, name) for name in _EXPERIMENT_FIELDS}
        params: Params = []
        if self.backend_name:
            params.append((w["backend_name"], self.backend_name))
        type_value = _type_value(
            self.experiment_type, self.experiment_type_operator, "experiment_type"
        )
        if type_value:
            params.append((w["experiment_type"], type_value))
        params += _bounds(
            w["start_datetime"], self.start_datetime_after, self.start_datetime_before
        )
        params += _components_params(self.device_components, self.device_components_operator)
        tags_value = _tags_value(self.tags, self.tags_operator)
        if tags_value:
            params.append((w["tags"], tags_value))
        for name in ("hub", "group", "project", "parent_id"):
            value = getattr(self, name)
            if value:
                params.append((w[name], value))
        if self.exclude_public:
            params.append((w["share_level"], "!public"))
        if self.public_only:
            params.append((w["share_level"], "public"))
        if self.exclude_mine:
            params.append((w["owner"], "!me"))
        if self.mine_only:
            params.append((w["owner"], "me"))
        sort_value = _sort_value(self.sort_by, _EXPERIMENT_SORT_KEYS)
        if sort_value:
            params.append(("sort", sort_value))
        return params

    def to_params(self) -> Params:
        """The query parameters, in a stable order (``limit``/``marker`` are the pager's)."""
        return list(self._params)


_EXPERIMENT_FIELDS = (
    "backend_name",
    "experiment_type",
    "start_datetime",
    "tags",
    "hub",
    "group",
    "project",
    "parent_id",
    "share_level",
    "owner",
)


def _optional_bool(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        check.require_bool(value, attribute.name)


def _qualities(value: Any) -> ResultQuality | list[ResultQuality] | None:
    """One quality, or a list of them (a list is sent as ``in:``, even of one)."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, list | tuple | set | frozenset):
        return [ResultQuality.parse(q) for q in value]
    return ResultQuality.parse(value)


@attrs.frozen(kw_only=True)
class ResultFilters(_Filters):
    """The filters of ``analysis_results()``, checked when made; :meth:`to_params` writes them."""

    backend_name: str | None = attrs.field(default=None, validator=_optional_str)
    device_components: list[str] | None = attrs.field(default=None, converter=_optional_components)
    device_components_operator: str | None = None
    experiment_id: str | None = attrs.field(default=None, validator=_optional_str)
    result_type: str | None = attrs.field(default=None, validator=_optional_str)
    result_type_operator: str | None = None
    quality: ResultQuality | list[ResultQuality] | None = attrs.field(
        default=None, converter=_qualities
    )
    verified: bool | None = attrs.field(default=None, validator=_optional_bool)
    tags: list[str] | None = attrs.field(default=None, converter=_optional_strings)
    tags_operator: str | None = "OR"
    creation_datetime_after: str | None = attrs.field(default=None, converter=_optional_datetime)
    creation_datetime_before: str | None = attrs.field(default=None, converter=_optional_datetime)
    sort_by: str | Sequence[str] | None = None
    _params: Params = attrs.field(init=False, factory=list, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._params.extend(self._build())

    def _build(self) -> Params:
        w = {name: wire_name(AnalysisResult, name) for name in _RESULT_FIELDS}
        params: Params = []
        if self.backend_name:
            params.append((w["backend_name"], self.backend_name))
        params += _components_params(self.device_components, self.device_components_operator)
        if self.experiment_id:
            params.append((w["experiment_id"], self.experiment_id))
        type_value = _type_value(self.result_type, self.result_type_operator, "result_type")
        if type_value:
            params.append((w["result_type"], type_value))
        if isinstance(self.quality, ResultQuality):
            params.append((w["quality"], self.quality.wire))
        elif self.quality:
            params.append((w["quality"], "in:" + ",".join(q.wire for q in self.quality)))
        if self.verified is not None:
            params.append((w["verified"], "true" if self.verified else "false"))
        tags_value = _tags_value(self.tags, self.tags_operator)
        if tags_value:
            params.append((w["tags"], tags_value))
        params += _bounds(
            w["creation_datetime"], self.creation_datetime_after, self.creation_datetime_before
        )
        sort_value = _sort_value(self.sort_by, _RESULT_SORT_KEYS)
        if sort_value:
            params.append(("sort", sort_value))
        return params

    def to_params(self) -> Params:
        """The query parameters, in a stable order (``limit``/``marker`` are the pager's)."""
        return list(self._params)


_RESULT_FIELDS = (
    "backend_name",
    "experiment_id",
    "result_type",
    "quality",
    "verified",
    "tags",
    "creation_datetime",
)
