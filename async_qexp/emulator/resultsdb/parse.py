"""Requests of the experiment service, parsed: bodies into record values, query strings into
query objects. Anything malformed is a :class:`~async_qexp.emulator._util.HTTPProblem` (400).

Fields: ``docs/protocol.md#field-names``; filters: ``#list-filters``; sorting: ``#sorting``.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request

from .. import queries as q
from .._req import MAX_INT_DIGITS
from .._util import HTTPProblem, normalize_timestamp
from ..config import EmulatorConfig
from ..queries import Principal

__all__ = [
    "bulk_updates",
    "check_place",
    "experiment_changes",
    "experiment_query",
    "experiment_values",
    "ident",
    "last",
    "result_changes",
    "result_query",
    "result_values",
]

MAX_ID = 512
"""The longest experiment or result id accepted."""

_TIME_OPERATOR: dict[str, q.TimeOperator] = {op: op for op in q.TIME_OPERATORS}


# -- body fields -------------------------------------------------------------------------------


def _opt_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None or isinstance(value, str):
        return value
    raise HTTPProblem(400, f"'{key}' must be a string")


def _req_str(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise HTTPProblem(400, f"'{key}' is required and must be a non-empty string")
    return value


def _str_list(body: dict[str, Any], key: str, *, allow_scalar: bool = False) -> list[str]:
    value = body.get(key)
    if value is None:
        return []
    if allow_scalar and isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise HTTPProblem(400, f"'{key}' must be a list of strings")
    return value


def _object(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise HTTPProblem(400, f"'{key}' must be a JSON object")
    return value


def ident(value: Any, key: str) -> str:
    """A client-chosen id: a non-empty string without ``/``, at most :data:`MAX_ID` long."""
    if not isinstance(value, str) or not value or len(value) > MAX_ID or "/" in value:
        raise HTTPProblem(400, f"'{key}' must be a non-empty string without '/'")
    return value


def _new_id(body: dict[str, Any]) -> str:
    value = body.get("uuid")
    return str(uuidlib.uuid4()) if value is None else ident(value, "uuid")


def _visibility(value: Any) -> str:
    if value is None:
        return "private"
    if isinstance(value, str) and value.lower() in q.VISIBILITIES:
        return value.lower()
    raise HTTPProblem(400, f"'visibility' must be one of {', '.join(q.VISIBILITIES)}")


def _quality(value: Any) -> str:
    if isinstance(value, str) and value.strip().lower() in q.QUALITY_SPELLINGS:
        return q.QUALITY_SPELLINGS[value.strip().lower()]
    raise HTTPProblem(400, "'quality' must be one of Good, Bad, No Information")


def _opt_ts(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    return None if value is None else normalize_timestamp(value, key)


def _chisq(value: Any) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise HTTPProblem(400, "'chisq' must be a number")
    return value


def _verified(value: Any) -> bool:
    if value is not None and not isinstance(value, bool):
        raise HTTPProblem(400, "'verified' must be a boolean")
    return bool(value)


# -- experiments -------------------------------------------------------------------------------


def check_place(user: Principal, hub: str, group: str, project: str) -> None:
    """400 for a group without its hub or a project without its group; 403 for a
    hub/group/project the user does not belong to (``docs/protocol.md#hub-group-and-project``).
    """
    if (group and not hub) or (project and not group):
        raise HTTPProblem(400, "a group needs its hub, and a project its hub and group")
    if not user.may_write_to(hub, group, project):
        place = "/".join(part for part in (hub, group, project) if part)
        raise HTTPProblem(403, f"you are not a member of {place}")


def experiment_values(body: dict[str, Any], user: Principal, now: str) -> dict[str, Any]:
    """The record of a new experiment (``POST /experiments``), owned by ``user``.

    Without any of ``hub_id``/``group_id``/``project_id`` the experiment goes to the user's
    default hub/group/project.
    """
    uuid = _new_id(body)
    if all(body.get(k) in (None, "") for k in ("hub_id", "group_id", "project_id")):
        hub, group, project = user.default_hgp
    else:
        hub, group, project = (
            _opt_str(body, "hub_id") or "",
            _opt_str(body, "group_id") or "",
            _opt_str(body, "project_id") or "",
        )
        check_place(user, hub, group, project)
    return {
        "uuid": uuid,
        "type": _req_str(body, "type"),
        "device_name": _req_str(body, "device_name"),
        "extra": _object(body, "extra"),
        "parent_experiment_uuid": _opt_str(body, "parent_experiment_uuid") or None,
        "hub_id": hub,
        "group_id": group,
        "project_id": project,
        "visibility": _visibility(body.get("visibility")),
        "tags": _str_list(body, "tags"),
        "jobs": _str_list(body, "jobs"),
        "notes": _opt_str(body, "notes") or "",
        "start_time": _opt_ts(body, "start_time"),
        "end_time": _opt_ts(body, "end_time"),
        "created_at": now,
        "updated_at": now,
        "owner": user.id,
    }


def experiment_changes(body: dict[str, Any], now: str) -> dict[str, Any]:
    """The fields a ``PUT /experiments/{uuid}`` sets (those present; ``{}`` for none)."""
    values: dict[str, Any] = {}
    if "extra" in body:
        values["extra"] = _object(body, "extra")
    if "visibility" in body:
        values["visibility"] = _visibility(body["visibility"])
    for key in ("tags", "jobs"):
        if key in body:
            values[key] = _str_list(body, key)
    if "notes" in body:
        values["notes"] = _opt_str(body, "notes") or ""
    for key in ("start_time", "end_time"):
        if key in body:
            values[key] = _opt_ts(body, key)
    if "parent_experiment_uuid" in body:
        values["parent_experiment_uuid"] = _opt_str(body, "parent_experiment_uuid") or None
    if values:
        values["updated_at"] = now
    return values


# -- analysis results --------------------------------------------------------------------------


def result_values(body: dict[str, Any], now: str) -> dict[str, Any]:
    """The record of a new analysis result (``POST /analysis_results``)."""
    return {
        "uuid": _new_id(body),
        "experiment_uuid": _req_str(body, "experiment_uuid"),
        "type": _req_str(body, "type"),
        "fit": _object(body, "fit"),
        "device_components": _str_list(body, "device_components", allow_scalar=True),
        "tags": _str_list(body, "tags"),
        "quality": "No Information" if body.get("quality") is None else _quality(body["quality"]),
        "verified": _verified(body.get("verified")),
        "chisq": _chisq(body.get("chisq")),
        "created_at": now,
        "updated_at": now,
    }


def result_changes(body: dict[str, Any], now: str) -> dict[str, Any]:
    """The fields a partial update of an analysis result sets (``{}`` for none)."""
    values: dict[str, Any] = {}
    if "fit" in body:
        values["fit"] = _object(body, "fit")
    if "tags" in body:
        values["tags"] = _str_list(body, "tags")
    if "quality" in body:
        values["quality"] = None if body["quality"] is None else _quality(body["quality"])
    if "verified" in body:
        values["verified"] = _verified(body["verified"])
    if "chisq" in body:
        values["chisq"] = _chisq(body["chisq"])
    if values:
        values["updated_at"] = now
    return values


def bulk_updates(body: dict[str, Any], now: str) -> list[tuple[str, dict[str, Any]]]:
    """The ``(uuid, changes)`` of a ``PUT /analysis_results/bulkupdate``."""
    items = body.get("analysis_results")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise HTTPProblem(400, "'analysis_results' must be a list of objects")
    return [(_req_str(item, "uuid"), result_changes(item, now)) for item in items]


# -- query strings -----------------------------------------------------------------------------


def last(request: Request, key: str) -> str | None:
    """The last value of a query parameter (``None`` if absent)."""
    values = request.query_params.getlist(key)
    return values[-1] if values else None


def _all(request: Request, key: str) -> list[str]:
    return [v for v in request.query_params.getlist(key) if v]


def _split_list(text: str, key: str) -> tuple[str, ...]:
    items = tuple(t for t in text.split(",") if t)
    if not items:
        raise HTTPProblem(400, f"'{key}': empty value list")
    return items


def _limit(config: EmulatorConfig, request: Request) -> int:
    raw = last(request, "limit")
    if raw is None or raw == "":
        return config.default_page_size
    if not (raw.isascii() and raw.isdigit()) or len(raw.lstrip("0")) > MAX_INT_DIGITS:
        raise HTTPProblem(
            400, f"'limit' must be a positive integer of at most {MAX_INT_DIGITS} digits"
        )
    if int(raw) <= 0:
        raise HTTPProblem(400, "'limit' must be a positive integer")
    return min(int(raw), config.max_page_size)


def _sort(
    request: Request, fields: Sequence[str], defaults: Sequence[tuple[str, str]]
) -> q.SortSpec:
    raw = last(request, "sort")
    requested: list[tuple[str, str]] = []
    if raw:
        for part in raw.split(","):
            bits = part.split(":")
            if len(bits) != 2 or bits[0] not in fields or bits[0] == "uuid":
                raise HTTPProblem(400, f"invalid sort key {part!r}")
            if bits[1] not in ("asc", "desc"):
                raise HTTPProblem(400, f"invalid sort direction in {part!r}")
            requested.append((bits[0], bits[1]))
    return q.SortSpec.build(requested, defaults)


def _text(request: Request, key: str) -> q.TextMatch | None:
    value = last(request, key)
    if not value:
        return None
    if value.startswith("like:"):
        return q.TextMatch(value[5:], substring=True)
    return q.TextMatch(value)


def _tags(request: Request) -> q.TagMatch | None:
    value = last(request, "tags")
    if not value:
        return None
    if value.startswith("any:"):
        return q.TagMatch(_split_list(value[4:], "tags"), every=False)
    if value.startswith("contains:"):
        return q.TagMatch(_split_list(value[9:], "tags"), every=True)
    return q.TagMatch((value,), every=True)


def _times(request: Request, key: str) -> tuple[q.TimeBound, ...]:
    bounds: list[q.TimeBound] = []
    for value in _all(request, key):
        op, sep, rest = value.partition(":")
        known = _TIME_OPERATOR.get(op) if sep else None
        if known is None:
            bounds.append(q.TimeBound("eq", normalize_timestamp(value, key)))
        else:
            bounds.append(q.TimeBound(known, normalize_timestamp(rest, key)))
    return tuple(bounds)


def _components(request: Request) -> q.ComponentMatch | None:
    values = _all(request, "device_components")
    if not values:
        return None
    contains: list[str] = []
    exact: list[str] = []
    for value in values:
        if value.startswith("contains:"):
            contains.extend(_split_list(value[9:], "device_components"))
        else:
            exact.append(value)
    return q.ComponentMatch(exact=tuple(exact) if exact else None, contains=tuple(contains))


def _negatable(value: str | None) -> tuple[str, bool] | None:
    if not value:
        return None
    return (value[1:], True) if value.startswith("!") else (value, False)


def _list_fields(
    request: Request,
    config: EmulatorConfig,
    fields: Sequence[str],
    defaults: Sequence[tuple[str, str]],
) -> dict[str, Any]:
    """The arguments of :class:`~async_qexp.emulator.queries.ListQuery`."""
    return {
        "sort": _sort(request, fields, defaults),
        "limit": _limit(config, request),
        "marker": last(request, "marker"),
        "device_name": last(request, "device_name") or None,
        "type": _text(request, "type"),
        "tags": _tags(request),
        "components": _components(request),
    }


def experiment_query(
    request: Request, user: Principal, config: EmulatorConfig
) -> q.ExperimentQuery:
    """``GET /experiments``: every filter, the sort order and the page."""
    visibility = _negatable(last(request, "visibility"))
    if visibility is not None and visibility[0] not in q.VISIBILITIES:
        raise HTTPProblem(400, "'visibility' filter must be public or !public")
    owner = _negatable(last(request, "owner"))
    if owner is not None and owner[0] == "me":
        owner = (user.id, owner[1])
    return q.ExperimentQuery(
        **_list_fields(request, config, q.EXPERIMENT_SORT_FIELDS, q.EXPERIMENT_DEFAULT_SORT),
        hub_id=last(request, "hub_id") or None,
        group_id=last(request, "group_id") or None,
        project_id=last(request, "project_id") or None,
        parent_experiment_uuid=last(request, "parent_experiment_uuid") or None,
        start_time=_times(request, "start_time"),
        visibility=visibility,
        owner=owner,
    )


def result_query(request: Request, config: EmulatorConfig) -> q.ResultQuery:
    """``GET /analysis_results``: every filter, the sort order and the page."""
    quality: tuple[str, ...] | None = None
    value = last(request, "quality")
    if value:
        given = _split_list(value[3:], "quality") if value.startswith("in:") else (value,)
        quality = tuple(_quality(v) for v in given)
    verified: bool | None = None
    value = last(request, "verified")
    if value:
        if value.lower() not in ("true", "false"):
            raise HTTPProblem(400, "'verified' must be true or false")
        verified = value.lower() == "true"
    return q.ResultQuery(
        **_list_fields(request, config, q.RESULT_SORT_FIELDS, q.RESULT_DEFAULT_SORT),
        experiment_uuid=last(request, "experiment_uuid") or None,
        quality=quality,
        verified=verified,
        created_at=_times(request, "created_at"),
    )
