"""Who owns a background task: one small structured-concurrency primitive for the library.

Every task the library starts (a pager's prefetch, a stream's reader, a runtime callback
feeder, an ExperimentData's job waits, callbacks and saver) is spawned into a
:class:`TaskOwner`. Owners form a tree whose root belongs to the
:class:`~async_qexp.Provider`; closing an owner cancels its tasks, closes its children and
waits until all of them have stopped. So leaving ``async with Provider(...)`` ends everything
the provider started, by construction, and nothing can be started after that
(:class:`~async_qexp.errors.ClosedError`).

An owner is not an anyio task group: a provider outlives any one ``async with`` block of the
caller (a notebook keeps it across cells), so the owner is an object that is closed
explicitly rather than a scope. What it shares with a task group is the rule: whoever starts a
task owns it, and closing the owner ends it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

from .errors import ClosedError

__all__ = ["TaskOwner", "drain"]

T = TypeVar("T")


class TaskOwner:
    """A set of tasks and child owners that are cancelled and awaited together.

    Args:
        name: what the owner belongs to, for error messages (``"provider"``, ...).
        parent: the owner that closes this one when it closes.
    """

    def __init__(self, name: str, *, parent: TaskOwner | None = None) -> None:
        self.name = name
        self._tasks: set[asyncio.Task[Any]] = set()
        self._children: set[TaskOwner] = set()
        self._parent: TaskOwner | None = None
        self._closed = False
        if parent is not None:
            parent.adopt(self)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._tasks)} task(s)"
        return f"<TaskOwner {self.name} {state}, {len(self._children)} child(ren)>"

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` has been called."""
        return self._closed

    @property
    def parent(self) -> TaskOwner | None:
        """The owner that closes this one, if any."""
        return self._parent

    @property
    def tasks(self) -> frozenset[asyncio.Task[Any]]:
        """The tasks still running (children's excluded)."""
        return frozenset(self._tasks)

    def check_open(self) -> None:
        """Raise :class:`~async_qexp.errors.ClosedError` if the owner is closed."""
        if self._closed:
            raise ClosedError(f"the {self.name} is closed")

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
        """Start ``coro`` as a task owned by this owner.

        The task's exception, if any, is marked as retrieved: whoever needs the outcome awaits
        the task (or reads it), and a task nobody waits for reports its own failures.

        Raises:
            ClosedError: if the owner is closed (``coro`` is closed, never run).
        """
        if self._closed:
            coro.close()
            self.check_open()
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._forget)
        return task

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()

    def child(self, name: str) -> TaskOwner:
        """A new owner that this one closes when it closes."""
        return TaskOwner(name, parent=self)

    def adopt(self, child: TaskOwner) -> None:
        """Make an existing owner a child of this one (it leaves its former parent).

        Raises:
            ClosedError: if this owner is closed.
        """
        self.check_open()
        if child._parent is not None:
            child._parent._children.discard(child)
        child._parent = self
        self._children.add(child)

    async def aclose(self) -> None:
        """Close: cancel every task, close every child, and wait until they have stopped.

        Safe to call more than once, and from one of the owner's own tasks (that task is
        neither cancelled nor waited for). Cancelling the caller stops the waiting, not the
        cancellation of the tasks.
        """
        self._closed = True
        for child in list(self._children):
            await child.aclose()
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        if self._parent is not None:
            self._parent._children.discard(self)
            self._parent = None


async def drain(
    items: Sequence[T],
    work: Callable[[T], Awaitable[None]],
    *,
    width: Callable[[], int],
    spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]] | None = None,
) -> None:
    """Run ``work(item)`` for every item, in order, by a pool of workers that follows
    ``width()``: asked again whenever a worker finishes an item, it grows the pool (an
    adaptive bound that rose finds work ready) or lets workers go (one that fell). No task
    per item, so thousands of items cost no burst of tasks, and at most ``width()`` items are
    being prepared at once.

    ``work`` handles its own failures: an exception that escapes it cancels the other workers
    and is raised here (so does cancelling the caller). ``spawn`` starts a worker (default
    ``asyncio.create_task``; a :class:`TaskOwner`'s ``spawn`` ties them to the owner).
    """
    start = spawn or asyncio.get_running_loop().create_task
    total = len(items)
    taken = 0
    active = 0
    spawned: list[asyncio.Task[None]] = []

    def top_up() -> None:
        nonlocal active
        while active < min(max(1, width()), active + total - taken):
            active += 1
            spawned.append(start(worker()))

    async def worker() -> None:
        nonlocal taken, active
        try:
            while taken < total:
                item = items[taken]
                taken += 1
                await work(item)
                top_up()
                if active > max(1, width()):
                    return  # the bound fell: one worker fewer
        finally:
            active -= 1

    top_up()
    try:
        while True:
            running = [task for task in spawned if not task.done()]
            if not running:
                break
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        for task in spawned:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        running = [task for task in spawned if not task.done()]
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
