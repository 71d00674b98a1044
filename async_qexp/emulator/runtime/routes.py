"""The runtime REST routes (PROTOCOL §5) and the result-stream websocket (§6)."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from .._req import read_json_object
from .._util import HTTPProblem, error_response, json_response, now_ts
from ..state import EmulatorState
from ..store import Principal
from .manager import RuntimeManager
from .store import FINAL_STATUSES, loads_object

__all__ = ["runtime_routes"]

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _ctx(request: Request) -> tuple[EmulatorState, RuntimeManager, Principal]:
    state: EmulatorState = request.app.state.emu
    user = state.authenticate(request)
    manager = state.runtime
    if not isinstance(manager, RuntimeManager):  # pragma: no cover - wiring error
        raise HTTPProblem(404, "the runtime service is disabled")
    return state, manager, user


def _int_param(request: Request, name: str, default: int, *, minimum: int = 0) -> int:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise HTTPProblem(400, f"{name}: expected an integer, not {text!r}") from None
    if value < minimum:
        raise HTTPProblem(400, f"{name}: must be >= {minimum}")
    return value


def _bool_param(request: Request, name: str) -> bool | None:
    text = request.query_params.get(name)
    if text is None or text == "":
        return None
    low = text.lower()
    if low in ("true", "1", "yes"):
        return True
    if low in ("false", "0", "no"):
        return False
    raise HTTPProblem(400, f"{name}: expected true or false, not {text!r}")


def _page(request: Request, state: EmulatorState) -> tuple[int, int]:
    limit = _int_param(request, "limit", state.config.default_page_size, minimum=0)
    if limit == 0:
        limit = state.config.default_page_size
    return min(limit, state.config.max_page_size), _int_param(request, "offset", 0)


def _ok(body: Any = None) -> Response:
    return json_response({} if body is None else body)


# -- programs ------------------------------------------------------------------------------


def _program_json(row: dict[str, Any], with_data: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "cost": row["cost"],
        "is_public": bool(row["is_public"]),
        "creation_date": row["creation_date"],
        "update_date": row["update_date"],
        "spec": loads_object(row["spec"]),
        "owner": row["owner"],
    }
    if row.get("version") is not None:
        body["version"] = row["version"]
    if with_data:
        body["data"] = row["data"]
    return body


def _visible_program(manager: RuntimeManager, user: Principal, program_id: str) -> dict[str, Any]:
    row = manager.db.get_program(program_id)
    if row is None or not (row["is_public"] or row["owner"] == user.id):
        raise HTTPProblem(404, f"program {program_id} not found")
    return row


def _owned_program(manager: RuntimeManager, user: Principal, program_id: str) -> dict[str, Any]:
    row = _visible_program(manager, user, program_id)
    if row["owner"] != user.id:
        raise HTTPProblem(403, f"only the author of program {program_id} may change it")
    return row


def _decode_source(data: Any, *, allow_plain: bool = False) -> str:
    if isinstance(data, bytes):
        raw = data
    elif isinstance(data, str):
        raw = data.encode("utf-8")
    else:
        raise HTTPProblem(400, "data: expected the base64 of the program source")
    compact = b"".join(raw.split())
    try:
        decoded = base64.b64decode(compact, validate=True)
        return decoded.decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        if allow_plain and b"def main(" in raw:
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                pass
        raise HTTPProblem(400, "data: not the base64 of UTF-8 program source") from None


def _cost(value: Any, field: str = "cost") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise HTTPProblem(400, f"{field}: expected a positive number of seconds")
    try:
        cost = int(float(value))
    except ValueError:
        raise HTTPProblem(400, f"{field}: expected a positive number of seconds") from None
    if cost <= 0:
        raise HTTPProblem(400, f"{field}: expected a positive number of seconds")
    return cost


def _spec(value: Any) -> str:
    if value is None:
        return "{}"
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise HTTPProblem(400, "spec: expected a JSON object") from None
    if not isinstance(value, dict):
        raise HTTPProblem(400, "spec: expected a JSON object")
    return json.dumps(value)


async def list_programs(request: Request) -> Response:
    """``GET /programs?limit&offset``."""
    state, manager, user = _ctx(request)
    limit, offset = _page(request, state)
    rows, count = manager.db.list_programs(user.id, limit, offset)
    return _ok({"programs": [_program_json(r, False) for r in rows], "count": count})


async def create_program(request: Request) -> Response:
    """``POST /programs``: ``{name, data (base64), cost, description, is_public, spec}``."""
    _, manager, user = _ctx(request)
    body = await read_json_object(request)
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise HTTPProblem(400, "name: required")
    name = name.strip()
    source = _decode_source(body.get("data"))
    cost = _cost(body.get("cost", body.get("max_execution_time", 300)))
    description = body.get("description") or ""
    if not isinstance(description, str):
        raise HTTPProblem(400, "description: expected a string")
    if manager.db.program_id_for_name(name) is not None:
        raise HTTPProblem(409, f"a program named {name!r} already exists")
    program_id = name
    if manager.db.get_program(program_id) is not None or "/" in program_id:
        program_id = f"{name.replace('/', '-')}-{secrets.token_hex(3)}"
    now = now_ts()
    manager.db.insert_program(
        {
            "id": program_id,
            "name": name,
            "description": description,
            "cost": cost,
            "is_public": int(bool(body.get("is_public", False))),
            "spec": _spec(body.get("spec")),
            "data": source,
            "owner": user.id,
            "version": None if body.get("version") is None else str(body["version"]),
            "creation_date": now,
            "update_date": now,
        }
    )
    return json_response({"id": program_id}, status=201)


async def get_program(request: Request) -> Response:
    """``GET /programs/{id}`` (with ``data`` for its author only)."""
    _, manager, user = _ctx(request)
    row = _visible_program(manager, user, request.path_params["program_id"])
    return _ok(_program_json(row, row["owner"] == user.id))


async def patch_program(request: Request) -> Response:
    """``PATCH /programs/{id}``: any of ``name``, ``description``, ``cost``, ``spec``."""
    _, manager, user = _ctx(request)
    row = _owned_program(manager, user, request.path_params["program_id"])
    body = await read_json_object(request)
    values: dict[str, Any] = {}
    if body.get("name") is not None:
        name = body["name"]
        if not isinstance(name, str) or not name.strip():
            raise HTTPProblem(400, "name: expected a non-empty string")
        other = manager.db.program_id_for_name(name.strip())
        if other is not None and other != row["id"]:
            raise HTTPProblem(409, f"a program named {name!r} already exists")
        values["name"] = name.strip()
    if body.get("description") is not None:
        if not isinstance(body["description"], str):
            raise HTTPProblem(400, "description: expected a string")
        values["description"] = body["description"]
    if body.get("cost") is not None:
        values["cost"] = _cost(body["cost"])
    if body.get("spec") is not None:
        merged = loads_object(row["spec"])
        merged.update(json.loads(_spec(body["spec"])))
        values["spec"] = json.dumps(merged)
    if values:
        values["update_date"] = now_ts()
        manager.db.update_program(row["id"], values)
    updated = manager.db.get_program(row["id"])
    assert updated is not None
    return _ok(_program_json(updated, False))


async def put_program_data(request: Request) -> Response:
    """``PUT /programs/{id}/data``: the base64 source (any Content-Type)."""
    _, manager, user = _ctx(request)
    row = _owned_program(manager, user, request.path_params["program_id"])
    source = _decode_source(await request.body(), allow_plain=True)
    manager.db.update_program(row["id"], {"data": source, "update_date": now_ts()})
    return _ok()


async def set_public(request: Request) -> Response:
    """``PUT /programs/{id}/public``."""
    return await _visibility(request, True)


async def set_private(request: Request) -> Response:
    """``PUT /programs/{id}/private``."""
    return await _visibility(request, False)


async def _visibility(request: Request, public: bool) -> Response:
    _, manager, user = _ctx(request)
    row = _owned_program(manager, user, request.path_params["program_id"])
    manager.db.update_program(row["id"], {"is_public": int(public), "update_date": now_ts()})
    updated = manager.db.get_program(row["id"])
    assert updated is not None
    return _ok(_program_json(updated, False))


async def delete_program(request: Request) -> Response:
    """``DELETE /programs/{id}`` (its author only; the jobs stay)."""
    _, manager, user = _ctx(request)
    row = _owned_program(manager, user, request.path_params["program_id"])
    manager.db.delete_program(row["id"])
    return _ok()


# -- jobs ----------------------------------------------------------------------------------


def _job_json(row: dict[str, Any]) -> dict[str, Any]:
    status = row["status"]
    if status == "CANCELLED - RAN TOO LONG":
        state: dict[str, Any] = {"status": "CANCELLED", "reason": "RAN TOO LONG"}
    else:
        state = {"status": status, "reason": row.get("reason")}
    try:
        params = json.loads(row["params"])
    except ValueError:
        params = {}
    return {
        "id": row["id"],
        "program": {"id": row["program_id"]},
        "backend": row["backend"],
        "hub": row["hub"],
        "group": row["grp"],
        "project": row["project"],
        "status": status,
        "state": state,
        "params": [params],
        "created": row["created"],
        "started": row.get("started"),
        "ended": row.get("ended"),
        "runtime": row.get("runtime"),
        "log_level": row.get("log_level"),
        "cost": row["cost"],
        "tags": [],
    }


def _own_job(manager: RuntimeManager, user: Principal, job_id: str) -> dict[str, Any]:
    row = manager.db.get_job(job_id)
    if row is None or row["owner"] != user.id:
        raise HTTPProblem(404, f"job {job_id} not found")
    return row


def _params(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, list):
        value = value[0] if value else {}
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError:
            raise HTTPProblem(400, "params: not a JSON object") from None
    if not isinstance(value, dict):
        raise HTTPProblem(400, "params: expected a JSON object")
    return value


async def create_job(request: Request) -> Response:
    """``POST /jobs``: run a program."""
    _, manager, user = _ctx(request)
    body = await read_json_object(request)
    program_id = body.get("program_id", body.get("programId"))
    if not isinstance(program_id, str) or not program_id:
        raise HTTPProblem(400, "program_id: required")
    program = _visible_program(manager, user, program_id)
    backend = body.get("backend")
    if not isinstance(backend, str) or not backend:
        raise HTTPProblem(400, "backend: required")
    if backend not in manager.backends:
        raise HTTPProblem(404, f"backend {backend} not found")
    params = _params(body.get("params"))
    image = body.get("runtime")
    if image is not None and not isinstance(image, str):
        raise HTTPProblem(400, "runtime: expected a string or null")
    log_level = body.get("log_level")
    if log_level is not None:
        if not isinstance(log_level, str) or log_level.upper() not in _LOG_LEVELS:
            raise HTTPProblem(400, f"log_level: one of {', '.join(_LOG_LEVELS)}")
        log_level = log_level.upper()
    cost = program["cost"] if body.get("cost") is None else _cost(body["cost"])
    hub, group, project = user.default_hgp
    given = [body.get(k) for k in ("hub", "group", "project")]
    if all(isinstance(v, str) and v for v in given):
        hub, group, project = (str(v) for v in given)
    row = {
        "id": manager.new_job_id(),
        "owner": user.id,
        "program_id": program["id"],
        "backend": backend,
        "hub": hub,
        "grp": group,
        "project": project,
        "params": json.dumps(params),
        "runtime": image or None,
        "log_level": log_level,
        "cost": cost,
        "status": "QUEUED",
        "reason": None,
        "created": now_ts(),
    }
    manager.submit(row)
    return _ok({"id": row["id"], "created": row["created"], "backend": backend})


async def list_jobs(request: Request) -> Response:
    """``GET /jobs?limit&offset&pending&program&provider&sort`` (newest first)."""
    state, manager, user = _ctx(request)
    limit, offset = _page(request, state)
    provider = request.query_params.get("provider")
    hgp: list[str] | None = None
    if provider:
        hgp = provider.split("/")
        if len(hgp) != 3:
            raise HTTPProblem(400, "provider: expected hub/group/project")
    rows, count = manager.db.list_jobs(
        user.id,
        limit=limit,
        offset=offset,
        pending=_bool_param(request, "pending"),
        program_id=request.query_params.get("program") or None,
        hgp=hgp,
        ascending=(request.query_params.get("sort") or "").upper() == "ASC",
    )
    return _ok({"jobs": [_job_json(r) for r in rows], "count": count})


async def get_job(request: Request) -> Response:
    """``GET /jobs/{id}``."""
    _, manager, user = _ctx(request)
    return _ok(_job_json(_own_job(manager, user, request.path_params["job_id"])))


async def job_results(request: Request) -> Response:
    """``GET /jobs/{id}/results``: the final result text, or the error text."""
    _, manager, user = _ctx(request)
    row = _own_job(manager, user, request.path_params["job_id"])
    text = row.get("result") or ""
    media = "application/json" if row["status"] == "COMPLETED" else "text/plain"
    return Response(text.encode("utf-8", "replace"), media_type=media)


async def job_interim_results(request: Request) -> Response:
    """``GET /jobs/{id}/interim_results``: a JSON array of the interim messages so far."""
    _, manager, user = _ctx(request)
    row = _own_job(manager, user, request.path_params["job_id"])
    body = manager.db.interim_json(row["id"])
    return Response(body.encode("utf-8", "replace"), media_type="application/json")


async def job_logs(request: Request) -> Response:
    """``GET /jobs/{id}/logs``: the program's output (so far, if it still runs)."""
    _, manager, user = _ctx(request)
    row = _own_job(manager, user, request.path_params["job_id"])
    live = manager.live_logs(row["id"])
    text = live if live is not None else row.get("logs") or ""
    return Response(text.encode("utf-8", "replace"), media_type="text/plain")


async def cancel_job(request: Request) -> Response:
    """``POST /jobs/{id}/cancel``: 409 when the job is already final."""
    _, manager, user = _ctx(request)
    row = _own_job(manager, user, request.path_params["job_id"])
    if row["status"] in FINAL_STATUSES or not manager.cancel(row["id"]):
        raise HTTPProblem(409, f"job {row['id']} is already final ({row['status']})")
    return _ok()


async def delete_job(request: Request) -> Response:
    """``DELETE /jobs/{id}`` in any state."""
    _, manager, user = _ctx(request)
    row = _own_job(manager, user, request.path_params["job_id"])
    manager.delete(row["id"])
    return _ok()


async def logout(request: Request) -> Response:
    """``POST /logout``: nothing to clear; the session stays valid."""
    _ctx(request)
    return _ok()


async def runtime_version(request: Request) -> Response:
    """``GET /version`` of the runtime service (no authentication)."""
    return _ok({"api-runtime": "0.1", "api-emulator": "async_qexp"})


async def list_backends(request: Request) -> Response:
    """``GET /backends``: the backends jobs may run on."""
    _, manager, _user = _ctx(request)
    return _ok({"devices": list(manager.backends)})


# -- the websocket -------------------------------------------------------------------------


async def _deny(ws: WebSocket, status: int, message: str) -> None:
    if "websocket.http.response" in ws.scope.get("extensions", {}):
        await ws.send_denial_response(error_response(status, message))
    else:  # pragma: no cover - every uvicorn websocket implementation supports it
        await ws.close(code=1008, reason=message)


async def stream_job(ws: WebSocket) -> None:
    """``/stream/jobs/{id}``: ACK, every message in order, close 1000 when final."""
    state: EmulatorState = ws.app.state.emu
    manager = state.runtime
    user = state.principal_for(ws.headers.get("x-access-token"))
    if user is None:
        await _deny(ws, 401, "missing or invalid X-Access-Token")
        return
    if not isinstance(manager, RuntimeManager):  # pragma: no cover - wiring error
        await _deny(ws, 404, "the runtime service is disabled")
        return
    job_id = ws.path_params["job_id"]
    row = manager.db.get_job(job_id)
    if row is None or row["owner"] != user.id:
        await _deny(ws, 404, f"job {job_id} not found")
        return
    await ws.accept()
    await manager.stream(ws, job_id)


def runtime_routes() -> list[BaseRoute]:
    """The routes mounted at ``/runtime``."""
    return [
        Route("/version", runtime_version, methods=["GET"]),
        Route("/backends", list_backends, methods=["GET"]),
        Route("/programs", list_programs, methods=["GET"]),
        Route("/programs", create_program, methods=["POST"]),
        Route("/programs/{program_id}", get_program, methods=["GET"]),
        Route("/programs/{program_id}", patch_program, methods=["PATCH"]),
        Route("/programs/{program_id}", delete_program, methods=["DELETE"]),
        Route("/programs/{program_id}/data", put_program_data, methods=["PUT"]),
        Route("/programs/{program_id}/public", set_public, methods=["PUT"]),
        Route("/programs/{program_id}/private", set_private, methods=["PUT"]),
        Route("/jobs", list_jobs, methods=["GET"]),
        Route("/jobs", create_job, methods=["POST"]),
        Route("/jobs/{job_id}", get_job, methods=["GET"]),
        Route("/jobs/{job_id}", delete_job, methods=["DELETE"]),
        Route("/jobs/{job_id}/results", job_results, methods=["GET"]),
        Route("/jobs/{job_id}/interim_results", job_interim_results, methods=["GET"]),
        Route("/jobs/{job_id}/logs", job_logs, methods=["GET"]),
        Route("/jobs/{job_id}/cancel", cancel_job, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        WebSocketRoute("/stream/jobs/{job_id}", stream_job),
    ]
