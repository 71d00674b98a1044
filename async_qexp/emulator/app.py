"""The ASGI application: Starlette routes wrapped by the emulator's outer middleware.

The outer middleware (pure ASGI, outermost) adds latency, enforces the body-size limit,
injects faults, gives every response an ``X-Request-Id`` (a new id per request, also kept in
the request log) and, in a worker of ``--workers N``, an ``X-Emulator-Worker`` (the worker's
number), and records every request in the request log (and at DEBUG on the
``async_qexp.emulator`` logger). The probes (``GET /health``, ``GET /ready``) skip the
latency, the capacity limit and fault injection.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._util import HTTPProblem, error_body, error_response, json_response
from .auth import auth_routes
from .classic import classic_routes
from .faults import FaultDecision, RequestRecord
from .resultsdb import blob_routes, resultsdb_routes
from .state import EmulatorState, state_of
from .store import Conflict, Forbidden, Invalid, NotFound, StoreError, Unavailable

__all__ = ["PROBE_PATHS", "SERVICE_PREFIXES", "WORKER_HEADER", "build_app"]

SERVICE_PREFIXES = ("/resultsdb", "/runtime")
"""Routes subject to random faults (authentication and upload routes never are)."""

PROBE_PATHS = frozenset({"/health", "/ready"})
"""The liveness and readiness probes: no token, no latency, no capacity limit, no faults."""

WORKER_HEADER = "X-Emulator-Worker"
"""The response header naming the worker that answered (``--workers N``: 1 to N)."""

_WORKER_KEY = WORKER_HEADER.lower().encode()

READY_TIMEOUT = 5.0
"""Seconds ``GET /ready`` waits for the database's answer before it answers 503."""


class _DroppedConnection(Exception):
    """Raised to make the server abort a connection when the transport is unreachable."""


class _DropFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, _DroppedConnection)


logger = logging.getLogger("async_qexp.emulator")

_drop_filter = _DropFilter()
logging.getLogger("uvicorn.error").addFilter(_drop_filter)

logger = logging.getLogger("async_qexp.emulator")

REQUEST_ID_HEADER = b"x-request-id"
"""The header that carries the id of every response (``docs/protocol.md#headers``)."""


_STORE_STATUS: dict[type[StoreError], int] = {
    NotFound: 404,
    Forbidden: 403,
    Conflict: 409,
    Invalid: 400,
    Unavailable: 503,
}


async def _problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPProblem)
    return error_response(exc.status, exc.message, exc.code)


async def _store_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StoreError)
    status = _STORE_STATUS.get(type(exc), 500)
    if status == 503:
        return error_response(status, exc.message, headers={"retry-after": "1"})
    return error_response(status, exc.message, headers=_CLOSE if status >= 500 else None)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, None, headers=headers)


async def _client_gone(request: Request, exc: Exception) -> Response:
    """The client left while its body was read: nobody gets this answer; no error is logged."""
    return Response(status_code=499)


_CLOSE = {"connection": "close"}
"""A 500 closes its connection: whatever broke may have left it unusable, and a client that
sees ``Connection: close`` sends its next request on a fresh one."""


async def _server_error(request: Request, exc: Exception) -> Response:
    # Starlette raises the exception again once this answer is sent: OuterMiddleware logs it.
    return error_response(500, f"internal emulator error: {type(exc).__name__}", headers=_CLOSE)


async def _not_implemented(request: Request) -> Response:
    state_of(request).authenticate(request)
    raise HTTPProblem(404, "the runtime service is not implemented by this emulator yet")


async def openapi(request: Request) -> Response:
    """``GET /openapi.json``: the OpenAPI 3 description of this emulator (no token needed)."""
    document = getattr(request.app.state, "openapi", None)
    if document is None:
        from .openapi import openapi_document

        state = state_of(request)
        backends = state.config.runtime_backends if state.runtime is not None else ()
        document = openapi_document(request.app.routes, runtime_backends=backends)
        request.app.state.openapi = document
    return json_response(document)


async def health(request: Request) -> Response:
    """``GET /health``: liveness: ``{"status": "ok"}`` while the process serves requests (no
    token, no database access)."""
    return json_response({"status": "ok"})


async def ready(request: Request) -> Response:
    """``GET /ready``: readiness: ``{"status": "ready"}`` when the database answers a trivial
    query, else 503 with ``status`` and ``reason`` (also while the server is stopping; no
    token)."""
    state = state_of(request)
    if state.shutting_down:
        return _not_ready("stopping", "the server is shutting down")
    try:
        await asyncio.wait_for(state.store.ping(), READY_TIMEOUT)
    except asyncio.TimeoutError:
        return _not_ready("unavailable", f"the database did not answer within {READY_TIMEOUT:g} s")
    except Exception as exc:  # whatever the driver raises: the answer is "not ready"
        return _not_ready("unavailable", f"the database does not answer: {exc}")
    if state.shutting_down:
        return _not_ready("stopping", "the server is shutting down")
    return json_response({"status": "ready"})


def _not_ready(status: str, reason: str) -> Response:
    return json_response({"status": status, "reason": reason}, status=503)


def _is_service(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in SERVICE_PREFIXES)


class OuterMiddleware:
    """Latency, body limit, faults and the request log around the Starlette app."""

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state
        # Request ids: 16 random hex digits of this app, then a counter (no system call per
        # request, unlike a uuid4).
        self._id_prefix = secrets.token_hex(8)
        self._ids = itertools.count()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            worker_index = self.state.config.worker_index
            if scope["type"] == "websocket" and worker_index is not None:
                send = _accept_with((_WORKER_KEY, str(worker_index).encode()), send)
            await self.app(scope, receive, send)
            return
        state = self.state
        worker = state.config.worker_index
        worker_header = None if worker is None else (_WORKER_KEY, str(worker).encode())
        started = time.perf_counter()
        method: str = scope["method"]
        path: str = scope["path"]
        status: int | None = None
        faults: list[str] = []  # what was injected, if anything (filled by _serve)
        recorded = False
        request_id = f"{self._id_prefix}{next(self._ids):016x}"

        def record() -> None:
            # Logged before the last body chunk goes out: a client that has the whole
            # response finds its request in the log, even from another thread.
            nonlocal recorded
            if not recorded:
                recorded = True
                fault = faults[0] if faults else None
                duration_ms = (time.perf_counter() - started) * 1000
                state.request_log.append(
                    RequestRecord(
                        method, path, status, fault, duration_ms=duration_ms, request_id=request_id
                    )
                )
                if logger.isEnabledFor(logging.DEBUG):
                    logger.debug(
                        "%s %s -> %s in %.1f ms%s",
                        method,
                        path,
                        status if status is not None else "dropped",
                        duration_ms,
                        f" (fault: {fault})" if fault else "",
                    )

        complete = False

        async def send_recording(message: Message) -> None:
            nonlocal status, complete
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                if worker_header is not None:
                    headers.append(worker_header)
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                complete = True
                record()
            await send(message)

        async def app(receive_from: Receive, send_to: Send) -> None:
            """The app, where an unexpected exception is logged (with its traceback) and
            answered 500 with ``Connection: close``, not handed to the server (which would
            reset the connection); only a response cut short is left to the server to abort."""
            try:
                await self.app(scope, receive_from, send_to)
            except _DroppedConnection:
                raise
            except Exception:
                logger.exception("internal error answering %s %s", method, path)
                if status is None:
                    await _send_error(send_recording, 500, "internal emulator error", dict(_CLOSE))
                elif not complete:
                    raise

        capacity = state.capacity
        try:
            if path in PROBE_PATHS:
                await app(receive, send_recording)  # (a probe measures the server, not faults)
            elif capacity is None:
                await self._serve(scope, receive, send, send_recording, app, faults)
            elif not capacity.admit():
                faults.append("capacity")
                retry_after = f"{capacity.retry_after:g}"
                await _send_error(
                    send_recording, 429, "over capacity", {"retry-after": retry_after}
                )
            else:
                try:
                    async with capacity.slots:
                        await self._serve(scope, receive, send, send_recording, app, faults)
                finally:
                    capacity.load -= 1
        finally:
            record()  # (dropped, failed or aborted: no last chunk was sent)

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        send_recording: Send,
        app: Callable[[Receive, Send], Awaitable[None]],
        faults: list[str],
    ) -> None:
        """Latency, the body limit, names that are no UTF-8, faults, then ``app`` (the
        Starlette app, guarded); ``faults`` gets what was injected."""
        state = self.state
        if state.latency_ms > 0:
            await asyncio.sleep(state.latency_ms / 1000)
        length = _content_length(scope)
        if length is not None and length > state.config.max_body_bytes:
            await _send_error(send_recording, 413, "request body too large")
            return
        problem = _undecodable(scope)
        if problem is not None:
            await _send_error(send_recording, 400, problem)
            return
        method: str = scope["method"]
        path: str = scope["path"]
        decision = state.faults.decide(method, path, _is_service(path))
        if decision is not None and not decision.after_processing:
            faults.append("drop" if decision.drop else "error")
            await self._apply(decision, send_recording, send)
            return
        limited = _limited_receive(receive, state.config.max_body_bytes)
        if decision is None:
            await app(limited, send_recording)
            return
        faults.append("drop-after" if decision.drop else "error-after")

        async def swallow(message: Message) -> None:
            return None

        await app(limited, swallow)
        await self._apply(decision, send_recording, send)

    async def _apply(self, decision: FaultDecision, send: Send, raw_send: Send) -> None:
        if decision.drop:
            await _drop_connection(raw_send)
            return
        status = decision.status or 503
        headers: dict[str, str] = {}
        if decision.retry_after is not None:
            headers["retry-after"] = str(decision.retry_after)
        await _send_error(send, status, f"injected fault ({status})", headers)


def _accept_with(header: tuple[bytes, bytes], send: Send) -> Send:
    """``send`` that adds ``header`` to a websocket's handshake answer."""

    async def sending(message: Message) -> None:
        if message["type"] == "websocket.accept":
            message = {**message, "headers": [*message.get("headers", ()), header]}
        await send(message)

    return sending


def _undecodable(scope: Scope) -> str | None:
    """Why the percent-decoded path or query string is not UTF-8, or holds NUL (``None`` if
    neither).

    Names and ids are percent-decoded from the path; decoding invalid UTF-8 leniently would
    turn different raw names into one (``%ff`` and ``%fe`` both into U+FFFD), so such a
    request is refused instead (``docs/protocol.md#names-in-paths``).
    """
    raw_path = scope.get("raw_path")
    parts = [
        ("path", raw_path if isinstance(raw_path, bytes) else scope["path"].encode()),
        ("query string", scope.get("query_string", b"").replace(b"+", b" ")),
    ]
    for where, raw in parts:
        decoded = unquote_to_bytes(raw)
        try:
            decoded.decode("utf-8")
        except UnicodeDecodeError:
            return f"the {where} is not UTF-8 once percent-decoded"
        if b"\x00" in decoded:
            return f"the {where} holds a NUL character (%00), which no name or value may"
    return None


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _limited_receive(receive: Receive, limit: int) -> Receive:
    total = 0

    async def wrapped() -> Message:
        nonlocal total
        message = await receive()
        if message["type"] == "http.request":
            total += len(message.get("body", b""))
            if total > limit:
                raise HTTPProblem(413, "request body too large")
        return message

    return wrapped


async def _send_error(
    send: Send, status: int, message: str, headers: dict[str, str] | None = None
) -> None:
    body = error_body(status, message)
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    raw_headers += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


async def _drop_connection(send: Send) -> None:
    """Close the client connection without sending a response.

    Under uvicorn ``send`` is a bound method of the request cycle, which holds the
    transport: abort it and wait until the server notices the disconnect (so it does not
    try to answer 500). Otherwise promise a body, never send it and raise.
    """
    cycle: Any = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is not None and hasattr(transport, "abort"):
        transport.abort()
        for _ in range(1000):
            if getattr(cycle, "disconnected", True):
                return
            await asyncio.sleep(0)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", b"1048576"), (b"content-type", b"text/plain")],
        }
    )
    raise _DroppedConnection("connection dropped by fault injection")


class _Identify:
    """Finds the caller of each HTTP request before the routes run (the users may live in the
    database: :meth:`EmulatorState.identify`), answering 503 if the database is unreachable
    (it runs outside the app's exception handlers, so it answers that itself)."""

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                await self.state.identify(scope)
            except StoreError as exc:
                response = await _store_error(Request(scope), exc)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def build_app(state: EmulatorState, runtime_routes: Sequence[BaseRoute] | None = None) -> ASGIApp:
    """The emulator's ASGI app (auth and the classic backends at ``/`` and ``/api``, resultsDB,
    runtime, uploads).

    ``runtime_routes`` are mounted at ``/runtime``; without them every runtime call
    answers 404 JSON (the runtime service is a later addition).
    """
    runtime: list[BaseRoute] = list(runtime_routes or [])
    if not runtime:
        runtime = [
            Route(
                "/{rest:path}",
                _not_implemented,
                methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            )
        ]
    # Starlette tries routes in order, a regex match each: the busiest (resultsDB and the
    # signed uploads) go first. No two of these prefixes overlap, so the order changes
    # nothing else.
    routes: list[BaseRoute] = [
        Mount("/resultsdb", routes=resultsdb_routes()),
        *blob_routes(),
        Mount("/runtime", routes=runtime),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
        *auth_routes(),
        *classic_routes(),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(_Identify, state=state)],
        exception_handlers={
            HTTPProblem: _problem,
            StoreError: _store_error,
            HTTPException: _http_error,
            ClientDisconnect: _client_gone,
            Exception: _server_error,
        },
    )
    app.state.emu = state
    return OuterMiddleware(app, state)
