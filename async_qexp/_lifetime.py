"""What a provider holds, and how it is released when nobody closes it: :class:`Held`.

``await provider.aclose()`` (or leaving ``async with``) is the way to close a provider. A
notebook, though, keeps providers in variables: a cell that rebinds the name drops the old
one, and a kernel that shuts down leaves the last one open. Whatever a provider started must
not outlive it then, nor complain ("Unclosed client session", "Task was destroyed but it is
pending!", a ``ResourceWarning``, an emulator thread serving on). So the provider keeps what
it must release in a :class:`Held`, which never refers back to it, and:

* **dropped while its loop runs** (a notebook cell rebound the name): a weakref finalizer
  hands the :class:`Held` to a task on that loop, which closes it as ``aclose()`` would;
* **open when its loop is shut down** by ``asyncio.run`` (or ``asyncio.Runner``): an async
  generator started on the loop when the provider connected is closed by the loop's
  ``shutdown_asyncgens()``, and closing it closes the :class:`Held`, while the loop still runs;
* **open at interpreter exit** with its loop stopped but not closed (a notebook kernel
  shutting down): an ``atexit`` hook runs the loop once more to close it;
* **its loop gone**: the emulator thread, the one thing that needs no loop, is stopped.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import threading
import weakref
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from ._tasks import TaskOwner

if TYPE_CHECKING:
    from ._http import HttpSession

__all__ = ["EmulatorRunner", "Held", "watch"]

logger = logging.getLogger("async_qexp")


class EmulatorRunner(Protocol):
    """What is held of an emulator a provider started (an ``EmulatorThread``)."""

    @property
    def thread(self) -> threading.Thread | None:
        """The thread serving the emulator."""

    def stop(self) -> None:
        """Stop the emulator and join its thread (blocking)."""


class Held:
    """What a started provider must release: its task owner, its HTTP session, the emulator
    thread it started (if any); and the event loop they belong to.

    It never refers to the provider, so a provider dropped without ``aclose()`` can be
    collected, and this is released then (see the module docstring).
    """

    def __init__(self) -> None:
        self.tasks: TaskOwner | None = None
        self.session: HttpSession | None = None
        self.emulator_thread: EmulatorRunner | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._lifetime: AsyncGenerator[None, None] | None = None

    def __repr__(self) -> str:
        held = [n for n in ("tasks", "session", "emulator_thread") if getattr(self, n)]
        return f"<Held {', '.join(held) or 'nothing'}>"

    @property
    def empty(self) -> bool:
        """Whether there is nothing left to release."""
        return self.tasks is None and self.session is None and self.emulator_thread is None

    async def hold(self, session: HttpSession, tasks: TaskOwner) -> None:
        """Hold a connected provider's session and tasks, on the running loop."""
        self.session, self.tasks = session, tasks
        self.loop = asyncio.get_running_loop()
        _OPEN.add(self)
        if self._lifetime is None:
            lifetime = _until_loop_shutdown(self)
            await lifetime.asend(None)  # now the loop's shutdown_asyncgens() will close it
            self._lifetime = lifetime

    async def aclose(self) -> None:
        """Cancel and await the tasks, close the HTTP session, stop the emulator thread."""
        tasks, self.tasks = self.tasks, None
        session, self.session = self.session, None
        thread, self.emulator_thread = self.emulator_thread, None
        lifetime, self._lifetime = self._lifetime, None
        _OPEN.discard(self)
        try:
            if tasks is not None:
                await tasks.aclose()
        finally:
            try:
                if session is not None:
                    await session.aclose()
            finally:
                with anyio.CancelScope(shield=True):
                    if thread is not None:
                        await anyio.to_thread.run_sync(thread.stop)
                    if lifetime is not None:
                        await lifetime.aclose()
                _RELEASING.discard(self)

    def release_now(self) -> None:
        """Without a usable event loop: stop the emulator thread (what can be released)."""
        thread, self.emulator_thread = self.emulator_thread, None
        self.tasks = self.session = self._lifetime = None
        _OPEN.discard(self)
        _RELEASING.discard(self)
        if thread is not None and threading.current_thread() is not thread.thread:
            with contextlib.suppress(Exception):
                thread.stop()


async def _until_loop_shutdown(held: Held) -> AsyncGenerator[None, None]:
    """Suspended for as long as the provider is open; closed by :meth:`Held.aclose`, or by
    the loop's ``shutdown_asyncgens()`` (the end of ``asyncio.run``), which closes ``held``."""
    try:
        yield
    finally:
        held._lifetime = None  # ending: Held.aclose() must not close it again
        await held.aclose()


_OPEN: weakref.WeakSet[Held] = weakref.WeakSet()
"""What every provider still open holds (released at interpreter exit)."""

_RELEASING: set[Held] = set()
"""What dropped providers held, until released: kept alive, so that a release task cancelled
before it ran (``asyncio.run`` ending) leaves the loop's ``shutdown_asyncgens()`` to do it."""

_ABANDONED = TaskOwner("release of providers dropped without aclose()")
"""Owns the tasks that release what dropped providers held (it is never closed)."""


async def _close_quietly(held: Held) -> None:
    try:
        await held.aclose()
    except Exception:  # pragma: no cover - nobody is left to tell
        logger.debug("releasing a provider dropped without aclose() failed", exc_info=True)


def _spawn_release(held: Held) -> None:
    _RELEASING.add(held)
    _ABANDONED.spawn(_close_quietly(held))


def _loop_running_here() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _release(held: Held, *, at_exit: bool = False) -> None:
    """Release what a provider held, when it was dropped or at exit (module docstring)."""
    if held.empty:
        return
    loop = held.loop
    if loop is not None and not loop.is_closed():
        if loop.is_running():
            try:
                if at_exit:
                    future = asyncio.run_coroutine_threadsafe(_close_quietly(held), loop)
                    future.result(timeout=10)
                else:
                    loop.call_soon_threadsafe(_spawn_release, held)
                return
            except Exception:  # the loop closed meanwhile, or did not answer in time
                pass
        elif at_exit and not _loop_running_here():
            try:
                loop.run_until_complete(_close_quietly(held))
                return
            except Exception:  # pragma: no cover - a loop in a state we cannot run
                pass
    held.release_now()


def watch(owner: Any, held: Held) -> weakref.finalize[Any, Any]:
    """Release ``held`` when ``owner`` (the provider) is collected without being closed."""
    finalizer = weakref.finalize(owner, _release, held)
    finalizer.atexit = False  # at exit, _release_at_exit() does it (with at_exit=True)
    return finalizer


@atexit.register
def _release_at_exit() -> None:
    for held in list(_OPEN):
        _release(held, at_exit=True)
