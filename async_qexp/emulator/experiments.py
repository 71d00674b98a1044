"""The experiment-service (resultsDB) routes of PROTOCOL §3, mounted at ``/resultsdb``."""

from __future__ import annotations

import email.parser
import email.policy
import json
import mimetypes
import uuid as uuidlib
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ._req import read_json_object
from ._util import HTTPProblem, dumps, json_response, normalize_timestamp, now_ts
from .auth import base_urls
from .state import EmulatorState
from .store import EXPERIMENT_SORT_KEYS, RESULT_SORT_KEYS, Principal, SortSpec

__all__ = ["blob_routes", "resultsdb_routes"]

VISIBILITIES = ("private", "project", "group", "hub", "public")
_QUALITY = {
    "good": "Good",
    "bad": "Bad",
    "no information": "No Information",
    "unknown": "No Information",
}
EXPERIMENT_DEFAULT_SORT = (("start_time", "desc"), ("uuid", "asc"))
RESULT_DEFAULT_SORT = (("created_at", "desc"), ("uuid", "asc"))
_MAX_ID = 512


def _state(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emu
    return state


def _auth(request: Request) -> tuple[EmulatorState, Principal]:
    state = _state(request)
    return state, state.authenticate(request)


# -- body validation -------------------------------------------------------------------------


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


def _obj_json(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if value is None:
        return "{}"
    if not isinstance(value, dict):
        raise HTTPProblem(400, f"'{key}' must be a JSON object")
    return dumps(value).decode()


def _ident(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value or len(value) > _MAX_ID or "/" in value:
        raise HTTPProblem(400, f"'{key}' must be a non-empty string without '/'")
    return value


def _visibility(value: Any) -> str:
    if value is None:
        return "private"
    if isinstance(value, str) and value.lower() in VISIBILITIES:
        return value.lower()
    raise HTTPProblem(400, f"'visibility' must be one of {', '.join(VISIBILITIES)}")


def _quality(value: Any) -> str:
    if isinstance(value, str) and value.strip().lower() in _QUALITY:
        return _QUALITY[value.strip().lower()]
    raise HTTPProblem(400, "'quality' must be one of Good, Bad, No Information")


def _opt_ts(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    return None if value is None else normalize_timestamp(value, key)


def _chisq(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise HTTPProblem(400, "'chisq' must be a number")
    return dumps(value).decode()


def _dc_key(components: list[str]) -> str:
    return dumps(sorted(components)).decode()


# -- row rendering -----------------------------------------------------------------------------


def experiment_json(row: dict[str, Any]) -> dict[str, Any]:
    """The wire form of an experiment row."""
    return {
        "uuid": row["uuid"],
        "type": row["type"],
        "device_name": row["device_name"],
        "extra": json.loads(row["extra"]),
        "parent_experiment_uuid": row["parent_experiment_uuid"],
        "hub_id": row["hub_id"],
        "group_id": row["group_id"],
        "project_id": row["project_id"],
        "visibility": row["visibility"],
        "tags": json.loads(row["tags"]),
        "jobs": json.loads(row["jobs"]),
        "notes": row["notes"],
        "start_time": row["start_time"],
        "end_time": row["end_time"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "owner": row["owner"],
        "plot_names": json.loads(row.get("plot_names") or "[]"),
    }


def result_json(row: dict[str, Any]) -> dict[str, Any]:
    """The wire form of an analysis-result row."""
    return {
        "uuid": row["uuid"],
        "experiment_uuid": row["experiment_uuid"],
        "device_name": row["device_name"],
        "type": row["type"],
        "fit": json.loads(row["fit"]),
        "device_components": json.loads(row["device_components"]),
        "tags": json.loads(row["tags"]),
        "quality": row["quality"],
        "verified": bool(row["verified"]),
        "chisq": None if row["chisq"] is None else json.loads(row["chisq"]),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


# -- lookups with visibility -------------------------------------------------------------------


def _visible_experiment(state: EmulatorState, user: Principal, uuid: str) -> dict[str, Any]:
    row = state.store.get_experiment(uuid)
    if row is None or not user.can_see(row):
        raise HTTPProblem(404, f"experiment {uuid!r} not found")
    return row


def _owned_experiment(state: EmulatorState, user: Principal, uuid: str) -> dict[str, Any]:
    row = _visible_experiment(state, user, uuid)
    if row["owner"] != user.id:
        raise HTTPProblem(403, "only the owner may modify this experiment")
    return row


def _visible_result(state: EmulatorState, user: Principal, uuid: str) -> dict[str, Any]:
    row = state.store.get_result(uuid)
    if row is None or not user.can_see(row):
        raise HTTPProblem(404, f"analysis result {uuid!r} not found")
    return row


def _owned_result(state: EmulatorState, user: Principal, uuid: str) -> dict[str, Any]:
    row = _visible_result(state, user, uuid)
    if row["owner"] != user.id:
        raise HTTPProblem(403, "only the owner of the experiment may modify this result")
    return row


def _check_parent(
    state: EmulatorState, user: Principal, parent: str, uuid: str, device: str
) -> None:
    if parent == uuid:
        raise HTTPProblem(400, "an experiment cannot be its own parent")
    row = state.store.get_experiment(parent)
    if row is None or not user.can_see(row):
        raise HTTPProblem(400, f"parent experiment {parent!r} not found")
    if row["device_name"] != device:
        raise HTTPProblem(400, "the parent experiment must be on the same device")


# -- query parsing -----------------------------------------------------------------------------


def _last(request: Request, key: str) -> str | None:
    values = request.query_params.getlist(key)
    return values[-1] if values else None


def _split_list(text: str, key: str) -> list[str]:
    items = [t for t in text.split(",") if t]
    if not items:
        raise HTTPProblem(400, f"'{key}': empty value list")
    return items


def _limit(state: EmulatorState, request: Request) -> int:
    raw = _last(request, "limit")
    if raw is None or raw == "":
        return state.config.default_page_size
    if not (raw.isascii() and raw.isdigit()) or int(raw) <= 0:
        raise HTTPProblem(400, "'limit' must be a positive integer")
    return min(int(raw), state.config.max_page_size)


def _sort(
    request: Request, allowed: dict[str, tuple[str, str]], defaults: tuple[tuple[str, str], ...]
) -> SortSpec:
    raw = _last(request, "sort")
    requested: list[tuple[str, str]] = []
    if raw:
        for part in raw.split(","):
            bits = part.split(":")
            if len(bits) != 2 or bits[0] not in allowed or bits[0] == "uuid":
                raise HTTPProblem(400, f"invalid sort key {part!r}")
            if bits[1] not in ("asc", "desc"):
                raise HTTPProblem(400, f"invalid sort direction in {part!r}")
            requested.append((bits[0], bits[1]))
    return SortSpec.build(requested, defaults)


def _type_filter(col: str, value: str, where: list[str], args: list[Any]) -> None:
    if value.startswith("like:"):
        where.append(f"instr({col}, ?) > 0")
        args.append(value[5:])
    else:
        where.append(f"{col} = ?")
        args.append(value)


def _tags_filter(col: str, value: str, where: list[str], args: list[Any]) -> None:
    if value.startswith("any:"):
        tags = _split_list(value[4:], "tags")
        where.append(
            f"EXISTS (SELECT 1 FROM json_each({col}) WHERE value IN ({','.join('?' * len(tags))}))"
        )
        args.extend(tags)
        return
    tags = _split_list(value[9:], "tags") if value.startswith("contains:") else [value]
    for tag in tags:
        where.append(f"EXISTS (SELECT 1 FROM json_each({col}) WHERE value = ?)")
        args.append(tag)


_TIME_OPS = {"ge": ">=", "le": "<=", "gt": ">", "lt": "<", "eq": "="}


def _time_filters(col: str, key: str, values: list[str], where: list[str], args: list[Any]) -> None:
    for value in values:
        op, sep, rest = value.partition(":")
        if sep and op in _TIME_OPS:
            sql_op, ts = _TIME_OPS[op], rest
        else:
            sql_op, ts = "=", value
        where.append(f"{col} {sql_op} ?")
        args.append(normalize_timestamp(ts, key))


def _dc_conditions(alias: str, values: list[str], args: list[Any]) -> list[str]:
    conds: list[str] = []
    exact: list[str] = []
    for value in values:
        if value.startswith("contains:"):
            for comp in _split_list(value[9:], "device_components"):
                conds.append(
                    f"EXISTS (SELECT 1 FROM json_each({alias}.device_components) WHERE value = ?)"
                )
                args.append(comp)
        else:
            exact.append(value)
    if exact:
        conds.append(f"{alias}.dc_key = ?")
        args.append(_dc_key(exact))
    return conds


def _common_filters(request: Request, alias: str, where: list[str], args: list[Any]) -> None:
    value = _last(request, "type")
    if value:
        _type_filter(f"{alias}.type", value, where, args)
    value = _last(request, "tags")
    if value:
        _tags_filter(f"{alias}.tags", value, where, args)


def _page_response(key: str, rows: list[dict[str, Any]], marker: str | None) -> Response:
    body: dict[str, Any] = {key: rows}
    if marker:
        body["marker"] = marker
    return json_response(body)


# -- devices -----------------------------------------------------------------------------------


async def list_devices(request: Request) -> Response:
    """``GET /devices``."""
    state, _ = _auth(request)
    return json_response({"devices": [{"name": d.name, **d.extra} for d in state.devices]})


async def list_device_components(request: Request) -> Response:
    """``GET /device_components[?device_name=]``."""
    state, _ = _auth(request)
    name = _last(request, "device_name")
    comps = [
        {"device_name": d.name, "type": c}
        for d in state.devices
        if not name or d.name == name
        for c in d.components
    ]
    return json_response({"device_components": comps})


# -- experiments -------------------------------------------------------------------------------


async def list_experiments(request: Request) -> Response:
    """``GET /experiments`` with every filter of §3.5.3."""
    state, user = _auth(request)
    where: list[str] = []
    args: list[Any] = []
    q = request.query_params
    for key in ("device_name", "hub_id", "group_id", "project_id", "parent_experiment_uuid"):
        value = _last(request, key)
        if value:
            where.append(f"e.{key} = ?")
            args.append(value)
    _common_filters(request, "e", where, args)
    starts = [v for v in q.getlist("start_time") if v]
    if starts:
        _time_filters("e.start_time", "start_time", starts, where, args)
    comps = [v for v in q.getlist("device_components") if v]
    if comps:
        conds = _dc_conditions("a", comps, args)
        where.append(
            "EXISTS (SELECT 1 FROM analysis_results a WHERE a.experiment_uuid = e.uuid AND "
            + " AND ".join(conds)
            + ")"
        )
    vis = _last(request, "visibility")
    if vis:
        negate = vis.startswith("!")
        level = vis[1:] if negate else vis
        if level not in VISIBILITIES:
            raise HTTPProblem(400, "'visibility' filter must be public or !public")
        where.append(f"e.visibility {'!=' if negate else '='} ?")
        args.append(level)
    owner = _last(request, "owner")
    if owner:
        negate = owner.startswith("!")
        who = owner[1:] if negate else owner
        where.append(f"e.owner {'!=' if negate else '='} ?")
        args.append(user.id if who == "me" else who)
    sort = _sort(request, EXPERIMENT_SORT_KEYS, EXPERIMENT_DEFAULT_SORT)
    limit = _limit(state, request)
    page = state.store.list_experiments(user, where, args, sort, limit, _last(request, "marker"))
    return _page_response("experiments", [experiment_json(r) for r in page.rows], page.marker)


async def create_experiment(request: Request) -> Response:
    """``POST /experiments``."""
    state, user = _auth(request)
    body = await read_json_object(request)
    uuid = body.get("uuid")
    uuid = str(uuidlib.uuid4()) if uuid is None else _ident(uuid, "uuid")
    device = _req_str(body, "device_name")
    hgp_given = [body.get(k) for k in ("hub_id", "group_id", "project_id")]
    if all(v is None or v == "" for v in hgp_given):
        hub, group, project = user.default_hgp
    else:
        hub, group, project = (
            _opt_str(body, "hub_id") or "",
            _opt_str(body, "group_id") or "",
            _opt_str(body, "project_id") or "",
        )
    now = now_ts()
    values: dict[str, Any] = {
        "uuid": uuid,
        "type": _req_str(body, "type"),
        "device_name": device,
        "extra": _obj_json(body, "extra"),
        "parent_experiment_uuid": _opt_str(body, "parent_experiment_uuid") or None,
        "hub_id": hub,
        "group_id": group,
        "project_id": project,
        "visibility": _visibility(body.get("visibility")),
        "tags": dumps(_str_list(body, "tags")).decode(),
        "jobs": dumps(_str_list(body, "jobs")).decode(),
        "notes": _opt_str(body, "notes") or "",
        "start_time": _opt_ts(body, "start_time"),
        "end_time": _opt_ts(body, "end_time"),
        "created_at": now,
        "updated_at": now,
        "owner": user.id,
    }
    if values["parent_experiment_uuid"]:
        _check_parent(state, user, values["parent_experiment_uuid"], uuid, device)
    if not state.store.insert_experiment(values):
        raise HTTPProblem(409, f"experiment {uuid!r} already exists")
    row = state.store.get_experiment(uuid)
    assert row is not None
    return json_response(experiment_json(row), status=201)


async def get_experiment(request: Request) -> Response:
    """``GET /experiments/{uuid}``."""
    state, user = _auth(request)
    return json_response(experiment_json(_visible_experiment(state, user, _uuid(request))))


async def update_experiment(request: Request) -> Response:
    """``PUT /experiments/{uuid}``: partial update of the fields present."""
    state, user = _auth(request)
    uuid = _uuid(request)
    body = await read_json_object(request)
    row = _owned_experiment(state, user, uuid)
    values: dict[str, Any] = {}
    if "extra" in body:
        values["extra"] = _obj_json(body, "extra")
    if "visibility" in body:
        values["visibility"] = _visibility(body["visibility"])
    for key in ("tags", "jobs"):
        if key in body:
            values[key] = dumps(_str_list(body, key)).decode()
    if "notes" in body:
        values["notes"] = _opt_str(body, "notes") or ""
    for key in ("start_time", "end_time"):
        if key in body:
            values[key] = _opt_ts(body, key)
    if "parent_experiment_uuid" in body:
        parent = _opt_str(body, "parent_experiment_uuid") or None
        if parent:
            _check_parent(state, user, parent, uuid, row["device_name"])
        values["parent_experiment_uuid"] = parent
    if values:
        values["updated_at"] = now_ts()
        state.store.update_experiment(uuid, values)
    new = state.store.get_experiment(uuid)
    if new is None:
        raise HTTPProblem(404, f"experiment {uuid!r} not found")
    return json_response(experiment_json(new))


async def delete_experiment(request: Request) -> Response:
    """``DELETE /experiments/{uuid}``: cascades to results, figures and files."""
    state, user = _auth(request)
    uuid = _uuid(request)
    row = _owned_experiment(state, user, uuid)
    state.store.delete_experiment(uuid)
    return json_response(experiment_json(row))


def _uuid(request: Request) -> str:
    value: str = request.path_params["uuid"]
    return value


# -- analysis results --------------------------------------------------------------------------


async def list_results(request: Request) -> Response:
    """``GET /analysis_results`` with every filter of §3.5.8."""
    state, user = _auth(request)
    where: list[str] = []
    args: list[Any] = []
    q = request.query_params
    value = _last(request, "device_name")
    if value:
        where.append("e.device_name = ?")
        args.append(value)
    value = _last(request, "experiment_uuid")
    if value:
        where.append("a.experiment_uuid = ?")
        args.append(value)
    _common_filters(request, "a", where, args)
    comps = [v for v in q.getlist("device_components") if v]
    if comps:
        where.extend(_dc_conditions("a", comps, args))
    value = _last(request, "quality")
    if value:
        if value.startswith("in:"):
            quals = [_quality(v) for v in _split_list(value[3:], "quality")]
        else:
            quals = [_quality(value)]
        where.append(f"a.quality IN ({','.join('?' * len(quals))})")
        args.extend(quals)
    value = _last(request, "verified")
    if value:
        if value.lower() not in ("true", "false"):
            raise HTTPProblem(400, "'verified' must be true or false")
        where.append("a.verified = ?")
        args.append(1 if value.lower() == "true" else 0)
    created = [v for v in q.getlist("created_at") if v]
    if created:
        _time_filters("a.created_at", "created_at", created, where, args)
    sort = _sort(request, RESULT_SORT_KEYS, RESULT_DEFAULT_SORT)
    limit = _limit(state, request)
    page = state.store.list_results(user, where, args, sort, limit, _last(request, "marker"))
    return _page_response("analysis_results", [result_json(r) for r in page.rows], page.marker)


async def create_result(request: Request) -> Response:
    """``POST /analysis_results``."""
    state, user = _auth(request)
    body = await read_json_object(request)
    uuid = body.get("uuid")
    uuid = str(uuidlib.uuid4()) if uuid is None else _ident(uuid, "uuid")
    exp_uuid = _req_str(body, "experiment_uuid")
    rtype = _req_str(body, "type")
    components = _str_list(body, "device_components", allow_scalar=True)
    quality = _quality(body["quality"]) if body.get("quality") is not None else "No Information"
    verified = body.get("verified", False)
    if verified is None:
        verified = False
    if not isinstance(verified, bool):
        raise HTTPProblem(400, "'verified' must be a boolean")
    now = now_ts()
    values: dict[str, Any] = {
        "uuid": uuid,
        "experiment_uuid": exp_uuid,
        "type": rtype,
        "fit": _obj_json(body, "fit"),
        "device_components": dumps(components).decode(),
        "dc_key": _dc_key(components),
        "tags": dumps(_str_list(body, "tags")).decode(),
        "quality": quality,
        "verified": int(verified),
        "chisq": _chisq(body.get("chisq")),
        "created_at": now,
        "updated_at": now,
    }
    _owned_experiment(state, user, exp_uuid)
    if not state.store.insert_result(values):
        raise HTTPProblem(409, f"analysis result {uuid!r} already exists")
    row = state.store.get_result(uuid)
    assert row is not None
    return json_response(result_json(row), status=201)


async def get_result(request: Request) -> Response:
    """``GET /analysis_results/{uuid}``."""
    state, user = _auth(request)
    return json_response(result_json(_visible_result(state, user, _uuid(request))))


def _result_changes(body: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "fit" in body:
        values["fit"] = _obj_json(body, "fit")
    if "tags" in body:
        values["tags"] = dumps(_str_list(body, "tags")).decode()
    if "quality" in body:
        values["quality"] = None if body["quality"] is None else _quality(body["quality"])
    if "verified" in body:
        verified = body["verified"]
        if verified is not None and not isinstance(verified, bool):
            raise HTTPProblem(400, "'verified' must be a boolean")
        values["verified"] = int(bool(verified))
    if "chisq" in body:
        values["chisq"] = _chisq(body["chisq"])
    return values


async def update_result(request: Request) -> Response:
    """``PUT /analysis_results/{uuid}``: partial update."""
    state, user = _auth(request)
    uuid = _uuid(request)
    body = await read_json_object(request)
    _owned_result(state, user, uuid)
    values = _result_changes(body)
    if values:
        values["updated_at"] = now_ts()
        state.store.update_results([(uuid, values)])
    row = state.store.get_result(uuid)
    if row is None:
        raise HTTPProblem(404, f"analysis result {uuid!r} not found")
    return json_response(result_json(row))


async def bulk_update_results(request: Request) -> Response:
    """``PUT /analysis_results/bulkupdate``: all-or-nothing partial updates."""
    state, user = _auth(request)
    body = await read_json_object(request)
    items = body.get("analysis_results")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise HTTPProblem(400, "'analysis_results' must be a list of objects")
    updates: list[tuple[str, dict[str, Any]]] = []
    now = now_ts()
    for item in items:
        uuid = _req_str(item, "uuid")
        _owned_result(state, user, uuid)
        values = _result_changes(item)
        if values:
            values["updated_at"] = now
        updates.append((uuid, values))
    state.store.update_results(updates)
    rows = [state.store.get_result(u) for u, _ in updates]
    return json_response({"analysis_results": [result_json(r) for r in rows if r is not None]})


async def delete_result(request: Request) -> Response:
    """``DELETE /analysis_results/{uuid}``."""
    state, user = _auth(request)
    uuid = _uuid(request)
    row = _owned_result(state, user, uuid)
    state.store.delete_result(uuid)
    return json_response(result_json(row))


# -- figures and files ---------------------------------------------------------------------------


def _name(request: Request) -> str:
    name: str = request.path_params["name"]
    if not name:
        raise HTTPProblem(404, "missing name")
    return name


def _media_type(name: str, default: str) -> str:
    lower = name.lower()
    if lower.endswith(".svg"):
        return "image/svg+xml"
    if lower.endswith(".json"):
        return "application/json"
    if lower.endswith((".yaml", ".yml")):
        return "application/x-yaml"
    guessed, _ = mimetypes.guess_type("x" + lower[lower.rfind(".") :] if "." in lower else "x")
    return guessed or default


def _upload_url(request: Request, kind: str) -> Response:
    state, user = _auth(request)
    uuid = _uuid(request)
    name = _name(request)
    _owned_experiment(state, user, uuid)
    http, _ = base_urls(request)
    return json_response({"url": http + state.signed_upload_path(kind, uuid, name)})


async def plot_upload_url(request: Request) -> Response:
    """``GET /experiments/{uuid}/plots/upload/{name}`` → ``{"url": <signed URL>}``."""
    return _upload_url(request, "plot")


async def file_upload_url(request: Request) -> Response:
    """``GET /experiments/{uuid}/files/upload/{path}`` → ``{"url": <signed URL>}``."""
    return _upload_url(request, "file")


def _get_blob(request: Request, kind: str) -> Response:
    state, user = _auth(request)
    uuid = _uuid(request)
    name = _name(request)
    _visible_experiment(state, user, uuid)
    data = state.store.get_blob(kind, uuid, name)
    if data is None:
        raise HTTPProblem(404, f"{'figure' if kind == 'plot' else 'file'} {name!r} not found")
    return Response(data, media_type=_media_type(name, "application/octet-stream"))


def _delete_blob(request: Request, kind: str) -> Response:
    state, user = _auth(request)
    uuid = _uuid(request)
    name = _name(request)
    _owned_experiment(state, user, uuid)
    if not state.store.delete_blob(kind, uuid, name):
        raise HTTPProblem(404, f"{'figure' if kind == 'plot' else 'file'} {name!r} not found")
    state.store.update_experiment(uuid, {"updated_at": now_ts()})
    return json_response({})


async def get_plot(request: Request) -> Response:
    """``GET /experiments/{uuid}/plots/{name}``: the raw figure bytes."""
    return _get_blob(request, "plot")


async def delete_plot(request: Request) -> Response:
    """``DELETE /experiments/{uuid}/plots/{name}``."""
    return _delete_blob(request, "plot")


async def get_file(request: Request) -> Response:
    """``GET /experiments/{uuid}/files/{path}``: the raw file body."""
    return _get_blob(request, "file")


async def delete_file(request: Request) -> Response:
    """``DELETE /experiments/{uuid}/files/{path}``."""
    return _delete_blob(request, "file")


async def list_files(request: Request) -> Response:
    """``GET /experiments/{uuid}/files`` → ``{"files": [{"Key", "Size", "LastModified"}]}``."""
    state, user = _auth(request)
    uuid = _uuid(request)
    _visible_experiment(state, user, uuid)
    files = [
        {"Key": r["name"], "Size": r["size"], "LastModified": r["updated_at"]}
        for r in state.store.list_blobs("file", uuid)
    ]
    return json_response({"files": files})


async def blob_put(request: Request) -> Response:
    """``PUT /_blob/{kind}/{uuid}/{name}?expires=…&sig=…``: the signed upload (no auth)."""
    state = _state(request)
    kind: str = request.path_params["kind"]
    if kind not in ("plot", "file"):
        raise HTTPProblem(404, "unknown upload kind")
    uuid = _uuid(request)
    name = _name(request)
    q = request.query_params
    state.check_upload_sig(kind, uuid, name, q.get("expires"), q.get("sig"))
    data = await request.body()
    now = now_ts()
    if not state.store.put_blob(kind, uuid, name, data, now):
        raise HTTPProblem(404, f"experiment {uuid!r} not found")
    if kind == "plot":
        state.store.update_experiment(uuid, {"updated_at": now})
    return json_response({"name": name, "size": len(data)})


def _multipart_plot(content_type: str, raw: bytes) -> tuple[str | None, bytes]:
    """``(filename, bytes)`` of the ``plot`` part of a multipart body; 400 if absent."""
    if not content_type.lower().startswith("multipart/"):
        raise HTTPProblem(400, "expected a multipart/form-data body with a 'plot' part")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    try:
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    except Exception:  # the stdlib parser is lenient; be safe anyway
        raise HTTPProblem(400, "malformed multipart body") from None
    if msg.is_multipart():
        for part in msg.iter_parts():
            if part.get_param("name", header="content-disposition") == "plot":
                payload = part.get_payload(decode=True)
                data = payload if isinstance(payload, bytes) else b""
                return part.get_filename(), data
    raise HTTPProblem(400, "expected a multipart/form-data body with a 'plot' part")


async def legacy_plot_create(request: Request) -> Response:
    """``POST /experiments/{uuid}/plots`` (legacy multipart upload, §3.10.3); 409 if present."""
    state, user = _auth(request)
    uuid = _uuid(request)
    raw = await request.body()
    _owned_experiment(state, user, uuid)
    filename, data = _multipart_plot(request.headers.get("content-type", ""), raw)
    name = filename or _last(request, "name") or f"figure_{now_ts()}.svg"
    if state.store.get_blob("plot", uuid, name) is not None:
        raise HTTPProblem(409, f"figure {name!r} already exists")
    now = now_ts()
    state.store.put_blob("plot", uuid, name, data, now)
    state.store.update_experiment(uuid, {"updated_at": now})
    return json_response({"name": name, "size": len(data)})


async def legacy_plot_update(request: Request) -> Response:
    """``PUT /experiments/{uuid}/plots/{name}`` (legacy multipart update); 404 if absent."""
    state, user = _auth(request)
    uuid = _uuid(request)
    name = _name(request)
    raw = await request.body()
    _owned_experiment(state, user, uuid)
    _, data = _multipart_plot(request.headers.get("content-type", ""), raw)
    if state.store.get_blob("plot", uuid, name) is None:
        raise HTTPProblem(404, f"figure {name!r} not found")
    now = now_ts()
    state.store.put_blob("plot", uuid, name, data, now)
    state.store.update_experiment(uuid, {"updated_at": now})
    return json_response({"name": name, "size": len(data)})


# -- routing ------------------------------------------------------------------------------------


def resultsdb_routes() -> list[BaseRoute]:
    """Routes relative to the resultsDB base URL (mounted at ``/resultsdb``)."""
    return [
        Route("/devices", list_devices, methods=["GET"]),
        Route("/device_components", list_device_components, methods=["GET"]),
        Route("/experiments", list_experiments, methods=["GET"]),
        Route("/experiments", create_experiment, methods=["POST"]),
        Route("/experiments/{uuid}", get_experiment, methods=["GET"]),
        Route("/experiments/{uuid}", update_experiment, methods=["PUT"]),
        Route("/experiments/{uuid}", delete_experiment, methods=["DELETE"]),
        Route("/experiments/{uuid}/plots/upload/{name:path}", plot_upload_url, methods=["GET"]),
        Route("/experiments/{uuid}/plots/{name:path}", get_plot, methods=["GET"]),
        Route("/experiments/{uuid}/plots/{name:path}", delete_plot, methods=["DELETE"]),
        Route("/experiments/{uuid}/plots/{name:path}", legacy_plot_update, methods=["PUT"]),
        Route("/experiments/{uuid}/plots", legacy_plot_create, methods=["POST"]),
        Route("/experiments/{uuid}/files", list_files, methods=["GET"]),
        Route("/experiments/{uuid}/files/upload/{name:path}", file_upload_url, methods=["GET"]),
        Route("/experiments/{uuid}/files/{name:path}", get_file, methods=["GET"]),
        Route("/experiments/{uuid}/files/{name:path}", delete_file, methods=["DELETE"]),
        Route("/analysis_results", list_results, methods=["GET"]),
        Route("/analysis_results", create_result, methods=["POST"]),
        Route("/analysis_results/bulkupdate", bulk_update_results, methods=["PUT"]),
        Route("/analysis_results/{uuid}", get_result, methods=["GET"]),
        Route("/analysis_results/{uuid}", update_result, methods=["PUT"]),
        Route("/analysis_results/{uuid}", delete_result, methods=["DELETE"]),
    ]


def blob_routes() -> list[BaseRoute]:
    """The signed-upload routes at the server root."""
    return [Route("/_blob/{kind}/{uuid}/{name:path}", blob_put, methods=["PUT"])]
