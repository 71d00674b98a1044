"""The runtime REST routes (``docs/protocol.md#runtime-rest-api`` and ``#runtime-jobs``) and the
result-stream websocket (``docs/protocol.md#result-stream``).

Each handler authenticates, parses the request (:mod:`.parse`) and awaits the store, or the
:class:`~.manager.RuntimeManager` for what touches running jobs.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from .._req import read_json_object
from .._util import HTTPProblem, error_response, json_response, now_ts
from ..queries import Principal
from ..state import EmulatorState, state_of
from ..store import FINAL_STATUSES, NotFound, Row
from . import parse
from .manager import RuntimeManager

__all__ = ["runtime_routes"]


def _ctx(request: Request) -> tuple[EmulatorState, RuntimeManager, Principal]:
    state = state_of(request)
    user = state.authenticate(request)
    manager = state.runtime
    if not isinstance(manager, RuntimeManager):  # pragma: no cover - wiring error
        raise HTTPProblem(404, "the runtime service is disabled")
    return state, manager, user


def _ok(body: Any = None) -> Response:
    return json_response({} if body is None else body)


def _text(text: str, media_type: str) -> Response:
    return Response(text.encode("utf-8", "replace"), media_type=media_type)


# -- programs ------------------------------------------------------------------------------


def _program_json(row: Row, with_data: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        key: row[key]
        for key in (
            "id",
            "name",
            "description",
            "cost",
            "is_public",
            "creation_date",
            "update_date",
            "spec",
            "owner",
        )
    }
    if row.get("version") is not None:
        body["version"] = row["version"]
    if with_data:
        body["data"] = row["data"]
    return body


def _check_upload(state: EmulatorState) -> None:
    if not state.config.runtime_program_upload:
        raise HTTPProblem(403, "program upload is disabled on this emulator")


def _program_id(request: Request) -> str:
    value: str = request.path_params["program_id"]
    return value


async def list_programs(request: Request) -> Response:
    """``GET /programs?limit&offset``."""
    state, _, user = _ctx(request)
    rows, count = await state.store.list_programs(parse.program_query(request, user, state.config))
    return _ok({"programs": [_program_json(r) for r in rows], "count": count})


async def create_program(request: Request) -> Response:
    """``POST /programs``: ``{name, data (base64), cost, description, is_public, spec}``."""
    state, _, user = _ctx(request)
    _check_upload(state)
    values = parse.program_values(await read_json_object(request), user, now_ts())
    name = values["name"]
    fallback = f"{name.replace('/', '-')}-{secrets.token_hex(3)}"
    if "/" in name:
        values["id"] = fallback
    row = await state.store.create_program(values, fallback)
    return json_response({"id": row["id"]}, status=201)


async def get_program(request: Request) -> Response:
    """``GET /programs/{id}`` (with ``data`` for its author only)."""
    state, _, user = _ctx(request)
    row = await state.store.get_program(user, _program_id(request))
    return _ok(_program_json(row, with_data=row["owner"] == user.id))


async def patch_program(request: Request) -> Response:
    """``PATCH /programs/{id}``: any of ``name``, ``description``, ``cost``, ``spec``."""
    state, _, user = _ctx(request)
    changes, spec = parse.program_changes(await read_json_object(request))
    if changes or spec is not None:
        changes["update_date"] = now_ts()
    row = await state.store.update_program(user, _program_id(request), changes, spec_update=spec)
    return _ok(_program_json(row))


async def put_program_data(request: Request) -> Response:
    """``PUT /programs/{id}/data``: the base64 source (any Content-Type)."""
    state, _, user = _ctx(request)
    _check_upload(state)
    source = parse.decode_source(await request.body(), allow_plain=True)
    await state.store.update_program(
        user, _program_id(request), {"data": source, "update_date": now_ts()}
    )
    return _ok()


async def set_public(request: Request) -> Response:
    """``PUT /programs/{id}/public``."""
    return await _visibility(request, True)


async def set_private(request: Request) -> Response:
    """``PUT /programs/{id}/private``."""
    return await _visibility(request, False)


async def _visibility(request: Request, public: bool) -> Response:
    state, _, user = _ctx(request)
    changes = {"is_public": public, "update_date": now_ts()}
    return _ok(_program_json(await state.store.update_program(user, _program_id(request), changes)))


async def delete_program(request: Request) -> Response:
    """``DELETE /programs/{id}`` (its author only; the jobs stay)."""
    state, _, user = _ctx(request)
    await state.store.delete_program(user, _program_id(request))
    return _ok()


# -- jobs ----------------------------------------------------------------------------------


def _job_json(row: Row) -> dict[str, Any]:
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
        "group": row["group"],
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


async def _own_job(request: Request) -> tuple[RuntimeManager, Row]:
    state, manager, user = _ctx(request)
    return manager, await state.store.get_job(request.path_params["job_id"], owner=user.id)


async def create_job(request: Request) -> Response:
    """``POST /jobs``: run a program."""
    _, manager, user = _ctx(request)
    values = parse.job_values(await read_json_object(request), user, manager.backends)
    row = await manager.submit(values, user=user)
    return _ok({"id": row["id"], "created": row["created"], "backend": row["backend"]})


async def list_jobs(request: Request) -> Response:
    """``GET /jobs?limit&offset&pending&program&provider&sort`` (newest first)."""
    state, _, user = _ctx(request)
    rows, count = await state.store.list_jobs(parse.job_query(request, user, state.config))
    return _ok({"jobs": [_job_json(r) for r in rows], "count": count})


async def get_job(request: Request) -> Response:
    """``GET /jobs/{id}``."""
    _, row = await _own_job(request)
    return _ok(_job_json(row))


async def job_results(request: Request) -> Response:
    """``GET /jobs/{id}/results``: the final result text, or the error text."""
    _, row = await _own_job(request)
    media = "application/json" if row["status"] == "COMPLETED" else "text/plain"
    return _text(row.get("result") or "", media)


async def job_interim_results(request: Request) -> Response:
    """``GET /jobs/{id}/interim_results``: a JSON array of the interim messages so far."""
    state, _, user = _ctx(request)
    text = await state.store.interim_results(request.path_params["job_id"], owner=user.id)
    return _text(text, "application/json")


async def job_logs(request: Request) -> Response:
    """``GET /jobs/{id}/logs``: the program's output (so far, if it still runs)."""
    manager, row = await _own_job(request)
    live = manager.live_logs(row["id"])
    return _text(live if live is not None else row.get("logs") or "", "text/plain")


async def cancel_job(request: Request) -> Response:
    """``POST /jobs/{id}/cancel``: 409 when the job is already final."""
    manager, row = await _own_job(request)
    if row["status"] in FINAL_STATUSES or not await manager.cancel(row["id"]):
        raise HTTPProblem(409, f"job {row['id']} is already final ({row['status']})")
    return _ok()


async def delete_job(request: Request) -> Response:
    """``DELETE /jobs/{id}`` in any state."""
    manager, row = await _own_job(request)
    await manager.delete(row["id"])
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
    """``/stream/jobs/{id}``: ACK, every message in order, close 1000 when final (1008 if
    the subscriber's user is revoked meanwhile)."""
    state = state_of(ws)
    manager = state.runtime
    token = ws.headers.get("x-access-token")
    user = await state.principal_for(token)
    if user is None:
        await _deny(ws, 401, "missing or invalid X-Access-Token")
        return
    if not isinstance(manager, RuntimeManager):  # pragma: no cover - wiring error
        await _deny(ws, 404, "the runtime service is disabled")
        return
    job_id = ws.path_params["job_id"]
    try:
        await state.store.get_job(job_id, owner=user.id)
    except NotFound as exc:
        await _deny(ws, 404, exc.message)
        return
    await ws.accept()

    async def allowed() -> bool:
        return await state.principal_for(token) is not None

    await manager.stream(ws, job_id, allowed)


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
