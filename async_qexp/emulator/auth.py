"""Authentication and discovery routes (``docs/protocol.md#login-and-service-discovery``),
served at ``/`` and ``/api``."""

from __future__ import annotations

from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ._req import read_json
from ._util import HTTPProblem, json_response, now_ts
from .state import state_of

__all__ = ["auth_routes", "base_urls"]


def base_urls(conn: HTTPConnection) -> tuple[str, str]:
    """``(http base, ws base)`` of this server as the client addressed it (Host header)."""
    scheme = conn.url.scheme if conn.url.scheme in ("http", "https") else "http"
    host = conn.headers.get("host")
    if not host:
        server = conn.scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    ws = "wss" if scheme == "https" else "ws"
    return f"{scheme}://{host}", f"{ws}://{host}"


async def version(request: Request) -> Response:
    """``GET /version``."""
    return json_response({"api-auth": "0.1", "api-emulator": "async_qexp"})


async def login(request: Request) -> Response:
    """``POST /users/loginWithToken``: API token → access token."""
    body = await read_json(request)
    token = body.get("apiToken") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise HTTPProblem(401, "missing apiToken")
    result = await state_of(request).login(token)
    if result is None:
        raise HTTPProblem(401, "invalid API token")
    access, user_id = result
    return json_response({"id": access, "ttl": 1209600, "created": now_ts(), "userId": user_id})


async def me(request: Request) -> Response:
    """``GET /users/me``: the user id and the service URLs of this same server."""
    user = state_of(request).authenticate(request)
    http, ws = base_urls(request)
    body: dict[str, Any] = {
        "id": user.id,
        "userId": user.id,
        "urls": {
            "http": http + "/api",
            "ws": ws + "/ws",
            "services": {"resultsDB": http + "/resultsdb", "runtime": http + "/runtime"},
        },
    }
    return json_response(body)


async def network(request: Request) -> Response:
    """``GET /Network``: the hub/group/project tree of the user (``docs/protocol.md#hub-tree``)."""
    user = state_of(request).authenticate(request)
    hubs: dict[str, dict[str, Any]] = {}
    for i, (h, g, p) in enumerate(user.hgps):
        hub = hubs.setdefault(h, {"name": h, "groups": {}})
        group = hub["groups"].setdefault(g, {"name": g, "projects": {}})
        group["projects"].setdefault(p, {"name": p, "isDefault": i == 0})
    return json_response(list(hubs.values()))


def auth_routes() -> list[BaseRoute]:
    """The auth routes at the root and under ``/api``."""
    routes: list[BaseRoute] = []
    for prefix in ("", "/api"):
        routes += [
            Route(prefix + "/version", version, methods=["GET"]),
            Route(prefix + "/users/loginWithToken", login, methods=["POST"]),
            Route(prefix + "/users/me", me, methods=["GET"]),
            Route(prefix + "/Network", network, methods=["GET"]),
        ]
    return routes
