"""One thread that runs the database's work in submission order: :class:`DatabaseThread`.

Lighter than a ``ThreadPoolExecutor`` plus ``asyncio.wrap_future`` (no lock-guarded concurrent
future per call): a call is a queue entry and an asyncio future. The thread runs everything
queued, then wakes each waiting loop once for the whole batch, so under load many calls share
one wake-up of the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["DatabaseThread"]

T = TypeVar("T")

_Call = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[[], Any]]
_Outcome = tuple["asyncio.Future[Any]", Any, BaseException | None]


def _deliver(outcomes: list[_Outcome]) -> None:
    """Settle the futures of a batch (on their loop)."""
    for future, result, error in outcomes:
        if future.cancelled():
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)


class DatabaseThread:
    """A thread running the callables given to :meth:`run`, one at a time, in order.

    ``on_exit`` runs on the thread last of all, even when the calls before it were cancelled.
    """

    def __init__(self, name: str, on_exit: Callable[[], None] | None = None) -> None:
        """Start the thread."""
        self._queue: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._stopped = False
        self._on_exit = on_exit
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    @property
    def ident(self) -> int | None:
        """The thread's identifier."""
        return self._thread.ident

    def run(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        """Queue ``fn``; a future of the running loop gets its result or exception.

        A call whose future is cancelled before the thread gets to it is skipped.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            if self._stopped:
                raise RuntimeError("the database thread has stopped")
            self._queue.put((loop, future, fn))
        return future

    def stop(self) -> None:
        """Let the thread finish what is queued, then end it, and wait for that."""
        with self._lock:
            if not self._stopped:
                self._stopped = True
                self._queue.put(None)
        self._thread.join()

    def _work(self) -> None:
        try:
            self._serve()
        finally:
            if self._on_exit is not None:
                self._on_exit()

    def _serve(self) -> None:
        while True:
            call = self._queue.get()
            batch: list[_Call] = []
            while call is not None:
                batch.append(call)
                try:
                    call = self._queue.get_nowait()
                except queue.Empty:
                    break
            self._run_batch(batch)
            if call is None:
                return

    @staticmethod
    def _run_batch(batch: list[_Call]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        for loop, future, fn in batch:
            if future.cancelled():
                continue
            try:
                outcome: _Outcome = (future, fn(), None)
            except BaseException as exc:  # delivered to the caller
                outcome = (future, None, exc)
            by_loop.setdefault(loop, []).append(outcome)
        for loop, outcomes in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_deliver, outcomes)
