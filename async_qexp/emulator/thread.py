"""The emulator on its own thread, with its own event loop: :class:`EmulatorThread`.

:func:`~async_qexp.emulator.serve` runs the server on the caller's loop, so a caller that
blocks its loop (a notebook cell, a synchronous facade, a CPU-heavy callback) stalls the server
too. An :class:`EmulatorThread` serves from a thread of its own instead and works from
synchronous and asynchronous code alike::

    with serve_in_thread(latency_ms=5) as emu:          # blocking start and stop
        requests.get(emu.url + "/version")

    async with serve_in_thread() as emu:                # start and stop off the caller's loop
        async with Provider("token", emu.url) as provider:
            ...

Both yield the same :class:`~async_qexp.emulator.Emulator` handle as ``serve``. From the
caller's thread, its ``url``, ``config``, ``faults`` (locked), ``latency_ms`` and
``request_log`` (locked) are safe to use; ``runtime`` and ``state`` belong to the emulator's
loop: run coroutines on it with :meth:`EmulatorThread.call`. Stopping kills the job workers,
closes the server and the database, and joins the thread; a thread still running when the
interpreter exits is stopped then.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio

from .config import EmulatorConfig
from .server import Emulator, serve

__all__ = ["EmulatorThread", "serve_in_thread"]

T = TypeVar("T")

START_TIMEOUT = 60.0
"""Seconds :meth:`EmulatorThread.start` waits for the server to listen."""


class EmulatorThread:
    """An emulator served by a thread of its own, on an event loop of its own.

    ``config`` and ``overrides`` are those of :func:`~async_qexp.emulator.serve`. Use it as a
    context manager (``with`` or ``async with``), or call :meth:`start` and :meth:`stop`. It
    can be started once.
    """

    def __init__(self, config: EmulatorConfig | None = None, **overrides: Any) -> None:
        """Prepare (not start) an emulator thread."""
        self._config = config
        self._overrides = overrides
        self._lock = threading.Lock()  # start and stop, from whichever threads
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._emulator: Emulator | None = None
        self._error: BaseException | None = None
        self._stop_requested = False

    # -- the handle ----------------------------------------------------------------------------

    @property
    def emulator(self) -> Emulator:
        """The running emulator (``RuntimeError`` unless running)."""
        emulator = self._emulator
        if emulator is None or not self.running:
            raise RuntimeError("the emulator thread is not running")
        return emulator

    @property
    def running(self) -> bool:
        """Whether the emulator is serving."""
        thread = self._thread
        return self._emulator is not None and thread is not None and thread.is_alive()

    @property
    def thread(self) -> threading.Thread | None:
        """The thread serving the emulator (``None`` before :meth:`start`)."""
        return self._thread

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any, timeout: float | None = None) -> T:
        """Run ``await fn(*args)`` on the emulator's loop and return its result.

        For the objects that live there (``emulator.runtime``, ``emulator.state``). Call it
        from any thread but the emulator's own.
        """
        loop = self._loop
        if loop is None or not self.running:
            raise RuntimeError("the emulator thread is not running")
        if threading.current_thread() is self._thread:
            raise RuntimeError("call() from the emulator's own thread would wait for ever")

        async def run() -> T:
            return await fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout)

    # -- start and stop ------------------------------------------------------------------------

    def start(self, timeout: float = START_TIMEOUT) -> Emulator:
        """Start the thread and wait until the server listens; return the handle.

        Raises:
            RuntimeError: when started before.
            TimeoutError: when the server does not listen within ``timeout`` seconds.
            Exception: whatever stopped the emulator from starting (a port in use ...).
        """
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("an EmulatorThread can be started once")
            self._thread = threading.Thread(target=self._main, name="qexp-emulator", daemon=True)
            self._thread.start()
            if not self._ready.wait(timeout):
                self._request_stop()
                self._thread.join()
                self._error = None
                raise TimeoutError(f"the emulator did not start within {timeout} s")
            error, self._error = self._error, None
            if error is not None:
                self._thread.join()
                raise error
            atexit.register(self.stop)
            assert self._emulator is not None
            return self._emulator

    def stop(self) -> None:
        """Stop the emulator (job workers killed, database closed) and join its thread.

        Safe to call more than once, and before :meth:`start` has returned (it waits).
        """
        if threading.current_thread() is self._thread:
            raise RuntimeError("stop() from the emulator's own thread would wait for ever")
        with self._lock:
            thread = self._thread
            if thread is None:
                return
            atexit.unregister(self.stop)
            self._request_stop()
            thread.join()
            error, self._error = self._error, None
            self._emulator = None
        if error is not None:
            raise error

    def _request_stop(self) -> None:
        self._stop_requested = True
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # a closed loop: the thread is ending
                loop.call_soon_threadsafe(stop.set)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by start() or stop(), not by the thread
            self._error = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serve(self._config, **self._overrides) as emulator:
            self._emulator = emulator
            self._ready.set()
            if not self._stop_requested:  # (a start that timed out asks before the loop runs)
                await self._stop.wait()

    # -- context managers ----------------------------------------------------------------------

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def __aenter__(self) -> Emulator:
        try:
            return await anyio.to_thread.run_sync(self.start)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self.stop)
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self.stop)

    def __repr__(self) -> str:
        state = f"serving {self._emulator.url}" if self.running and self._emulator else "stopped"
        return f"<EmulatorThread {state}>"


def serve_in_thread(config: EmulatorConfig | None = None, **overrides: Any) -> EmulatorThread:
    """An :class:`EmulatorThread` (not started): ``with serve_in_thread() as emu:`` or
    ``async with serve_in_thread() as emu:``; arguments as for
    :func:`~async_qexp.emulator.serve`."""
    return EmulatorThread(config, **overrides)
