"""Running the emulator on the caller's loop: :func:`serve` and the :class:`Emulator` handle
(:mod:`.thread` runs the same server on a thread of its own)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Generator, Sequence
from typing import TYPE_CHECKING, Any, cast

import attrs
import uvicorn
from starlette.routing import BaseRoute

from ._protocols import http_protocol
from .app import build_app
from .config import EmulatorConfig
from .faults import FaultSettings, RequestLog
from .state import Capacity, EmulatorState
from .store import open_store, shown_database

if TYPE_CHECKING:
    from .runtime.manager import RuntimeManager

__all__ = ["Emulator", "serve"]

logger = logging.getLogger("async_qexp.emulator")


_NOT_HTTP = object()


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its owner and stops promptly."""

    _exit_event: asyncio.Event | None = None

    @property
    def should_exit(self) -> bool:
        return bool(self.__dict__.get("_should_exit", False))

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        self.__dict__["_should_exit"] = value
        if value and self._exit_event is not None:
            self._exit_event.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def main_loop(self) -> None:
        # uvicorn polls should_exit every 0.1 s; wake up as soon as it is set instead.
        self._exit_event = asyncio.Event()
        if self.should_exit:
            return
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._exit_event.wait(), 0.1)

    async def stop_accepting(self) -> None:
        """Close the listening sockets: a new connection is refused from now on (those open
        carry on until :meth:`shutdown`).

        asyncio accepts a burst of connections in one go and makes their transports in tasks
        of their own; a server closed before those tasks ran refuses to attach them ("Error on
        transport creation", the socket left unclosed). So the server first stops accepting,
        lets those tasks run, and only then closes.
        """
        loop = asyncio.get_running_loop()
        servers = list(getattr(self, "servers", ()))
        for server in servers:
            for sock in server.sockets:
                loop.remove_reader(sock.fileno())
        await asyncio.sleep(0)
        for server in servers:
            server.close()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.config.is_ssl:
            self._abort_finished_connections()
        await super().shutdown(sockets)

    def _abort_finished_connections(self) -> None:
        """Abort the TLS connections with nothing more to send: closed ones, and HTTP ones
        waiting for their next request.

        Closing a TLS connection, asyncio waits (up to 30 s) for the client's close_notify. An
        idle keep-alive client never sends it, nor does a client that keeps its socket after a
        websocket closed (qiskit-ibmq-provider does), so shutting down waited for
        ``timeout_graceful_shutdown``. Done before uvicorn closes them: a TLS transport closed
        twice forgets its connection and can no longer be aborted. (uvicorn closes a websocket
        twice when the client's close frame comes before the app returns, so the result stream
        returns at once after its close.) A response or a websocket still running is left to
        uvicorn.
        """
        for connection in list(self.server_state.connections):
            transport: asyncio.Transport | None = getattr(connection, "transport", None)
            if transport is None:
                continue
            cycle = getattr(connection, "cycle", _NOT_HTTP)  # (uvicorn's HTTP protocols)
            idle_http = cycle is None or bool(getattr(cycle, "response_complete", False))
            finished = transport.is_closing() or (cycle is not _NOT_HTTP and idle_http)
            if finished and _flushed(transport):
                transport.abort()


def _flushed(transport: asyncio.Transport) -> bool:
    """Whether a transport has no data left to write."""
    try:
        return transport.get_write_buffer_size() == 0
    except AttributeError:  # a TLS transport closed twice (Python 3.11): it cannot be aborted
        return False


@attrs.define(eq=False)
class Emulator:
    """A running emulator (yielded by :func:`serve` and by :func:`~.thread.serve_in_thread`)."""

    url: str
    """Base/auth URL, e.g. ``http://127.0.0.1:54321`` (``https://`` with ``tls_certfile``; no
    trailing slash)."""
    config: EmulatorConfig
    _state: EmulatorState = attrs.field(repr=False)

    @property
    def resultsdb_url(self) -> str:
        """The experiment-service base URL (``url + "/resultsdb"``)."""
        return self.url + "/resultsdb"

    @property
    def runtime_url(self) -> str:
        """The runtime-service base URL (``url + "/runtime"``)."""
        return self.url + "/runtime"

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return int(self.url.rsplit(":", 1)[1])

    @property
    def faults(self) -> FaultSettings:
        """The live fault controller (mutable; see :meth:`FaultSettings.fail_next`)."""
        return self._state.faults

    @property
    def latency_ms(self) -> float:
        """Delay added before every response (initially ``config.latency_ms``; settable)."""
        return self._state.latency_ms

    @latency_ms.setter
    def latency_ms(self, value: float) -> None:
        if value < 0:
            raise ValueError("latency_ms must be >= 0")
        self._state.latency_ms = float(value)

    @property
    def capacity(self) -> Capacity | None:
        """The finite capacity (``config.capacity``), with its load, peak and refusals so
        far; ``None`` when the emulator serves any number of requests at once."""
        return self._state.capacity

    @property
    def request_log(self) -> RequestLog:
        """Recent requests (bounded), oldest first; ``status`` is ``None`` when dropped."""
        return self._state.request_log

    @property
    def runtime(self) -> RuntimeManager | None:
        """The runtime service's ``RuntimeManager`` (``None`` when runtime is not served)."""
        return cast("RuntimeManager | None", self._state.runtime)

    @property
    def state(self) -> EmulatorState:
        """Internal state (store, secrets); for tests and the runtime service."""
        return self._state


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose
    # proto is IPPROTO_TCP (sockets created with proto 0 would suffer Nagle + delayed ACK,
    # ~40 ms per small request on loopback).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def base_url(sock: socket.socket, tls: bool) -> str:
    """The base URL of a server listening on ``sock`` (``https`` with ``tls``)."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}"


@contextlib.asynccontextmanager
async def serve(
    config: EmulatorConfig | None = None,
    *,
    runtime_routes: Sequence[BaseRoute] | None = None,
    sock: socket.socket | None = None,
    **overrides: Any,
) -> AsyncIterator[Emulator]:
    """Run the emulator on the caller's event loop; yield an :class:`Emulator`.

    ``overrides`` replace fields of ``config`` (e.g. ``serve(latency_ms=5)``). The server
    listens on ``config.host``/``config.port`` (default 127.0.0.1, an ephemeral port), or on
    ``sock``, a bound and listening TCP socket (which it closes on exit; the workers of
    ``--workers N`` share one this way).

    On exit the server stops gracefully: ``/ready`` answers 503 and new connections are
    refused at once; the runtime service's jobs are killed (their result streams end with a
    close frame); the requests in flight get up to ``config.shutdown_timeout`` seconds to
    finish (a websocket still open is closed with 1012, whatever still runs then is
    cancelled); then the database is closed.

    The runtime service is mounted at ``/runtime`` unless ``config.runtime`` is false or
    other ``runtime_routes`` are given. With ``config.tls_certfile`` and ``tls_keyfile`` it
    serves HTTPS (and WSS) instead of HTTP.
    """
    if sock is not None and not isinstance(sock, socket.socket):
        raise TypeError(f"sock must be a socket.socket, not {type(sock).__name__}")
    cfg = attrs.evolve(config, **overrides) if config else EmulatorConfig(**overrides)
    async with contextlib.AsyncExitStack() as stack:
        store = await open_store(cfg.db, synchronous=cfg.synchronous, blobs=cfg.blobs)
        stack.push_async_callback(store.aclose)
        state = await EmulatorState.create(cfg, store)
        manager: RuntimeManager | None = None
        if runtime_routes is None and cfg.runtime:
            from .runtime.manager import RuntimeManager
            from .runtime.routes import runtime_routes as default_runtime_routes

            manager = RuntimeManager(cfg, store, state.faults)
            stack.push_async_callback(manager.aclose)  # also when the server fails to start
            state.runtime = manager
            await manager.start()
            runtime_routes = default_runtime_routes()
        app = build_app(state, runtime_routes)
        url, server = await stack.enter_async_context(_serving(app, cfg, sock))
        if manager is not None:
            # Kill the jobs (so their streams end) before the server waits for its connections.
            stack.push_async_callback(manager.aclose)
        logger.info("emulator serving %s (database: %s)", url, shown_database(cfg.db))
        try:
            yield Emulator(url, cfg, state)
        finally:
            logger.info("emulator at %s stopping", url)
            state.shutting_down = True
            await server.stop_accepting()


@contextlib.asynccontextmanager
async def _serving(
    app: Any, cfg: EmulatorConfig, sock: socket.socket | None = None
) -> AsyncIterator[tuple[str, _Server]]:
    """Serve ``app`` with uvicorn on the current loop (on ``sock`` if given, else on a socket
    bound to ``cfg.host``/``cfg.port``); yield its base URL and the server."""
    if sock is None:
        sock = _listen(cfg.host, cfg.port)
    else:
        sock.setblocking(False)
    try:
        uv_config = uvicorn.Config(
            app,
            lifespan="off",
            http=http_protocol(cfg.http_impl),
            access_log=False,
            log_level="warning",
            proxy_headers=False,
            server_header=False,
            # (typed int by uvicorn, which hands it to asyncio.wait_for: seconds, any number)
            timeout_graceful_shutdown=cast(int, cfg.shutdown_timeout),
            ssl_certfile=cfg.tls_certfile,
            ssl_keyfile=cfg.tls_keyfile,
            timeout_keep_alive=60,
            ws_per_message_deflate=False,  # runtime streams: ~1.5x the frames per second
        )
        server = _Server(uv_config)
        task = asyncio.create_task(server.serve(sockets=[sock]), name="qexp-emulator")
        try:
            while not server.started:
                if task.done():
                    await task
                    raise RuntimeError("the emulator server stopped during start-up")
                await asyncio.sleep(0.001)
            yield base_url(sock, cfg.tls_certfile is not None), server
        finally:
            server.should_exit = True
            try:
                await task
            except asyncio.CancelledError:
                if not task.done():
                    task.cancel()
                raise
    finally:
        sock.close()
