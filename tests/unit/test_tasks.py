"""The task owner: whoever starts a task owns it, and closing the owner ends it."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from async_qexp import ClosedError
from async_qexp._tasks import TaskOwner, drain

from ..helpers import UnretrievedExceptions

pytestmark = pytest.mark.asyncio


async def test_closing_cancels_and_awaits_every_task_and_child() -> None:
    root = TaskOwner("root")
    child = root.child("child")
    grandchild = child.child("grandchild")
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.sleep(3600)

    tasks = [owner.spawn(forever()) for owner in (root, child, grandchild)]
    await started.wait()
    await root.aclose()
    assert all(task.cancelled() for task in tasks)
    assert root.closed
    assert child.closed
    assert grandchild.closed
    assert root.tasks == frozenset()


async def test_nothing_can_be_started_after_close() -> None:
    owner = TaskOwner("provider")
    await owner.aclose()

    async def never() -> None:
        raise AssertionError("must not run")

    coro = never()
    with pytest.raises(ClosedError, match="provider is closed"):
        owner.spawn(coro)
    assert coro.cr_frame is None, "the coroutine was closed, not left unawaited"
    with pytest.raises(ClosedError):
        owner.adopt(TaskOwner("late"))


async def test_a_failed_task_does_not_report_an_unretrieved_exception() -> None:
    """Nobody reads the failed task's outcome, and the task is dropped: the loop reports
    nothing (the owner marked the exception as retrieved)."""
    owner = TaskOwner("owner")

    async def fail() -> None:
        raise RuntimeError("boom")

    async with UnretrievedExceptions() as reports:
        task = owner.spawn(fail())
        await asyncio.wait([task])
        assert owner.tasks == frozenset(), "a finished task is forgotten"
        del task
    assert reports.messages == []
    await owner.aclose()


async def test_the_check_sees_an_unretrieved_exception() -> None:
    """The helper above does catch the report when no owner guards the task."""

    async def fail() -> None:
        raise RuntimeError("boom")

    async with UnretrievedExceptions() as reports:
        task = asyncio.get_running_loop().create_task(fail())
        await asyncio.wait([task])
        del task
    assert reports.messages == ["Task exception was never retrieved"]


async def test_close_from_one_of_its_own_tasks_does_not_wait_for_itself() -> None:
    owner = TaskOwner("owner")
    other = owner.spawn(asyncio.sleep(3600))

    async def closer() -> str:
        await owner.aclose()
        return "closed"

    assert await owner.spawn(closer()) == "closed"
    assert other.cancelled()


async def test_adopting_moves_an_owner_to_its_new_parent() -> None:
    first, second = TaskOwner("first"), TaskOwner("second")
    child = first.child("child")
    second.adopt(child)
    assert child.parent is second
    await first.aclose()
    assert not child.closed
    await second.aclose()
    assert child.closed


# -- drain: a pool of workers that follows a width ------------------------------------------


@pytest.mark.asyncio
async def test_drain_follows_its_width_as_it_moves() -> None:

    width = 2
    running = 0
    peaks: list[int] = []
    done: list[int] = []

    async def work(item: int) -> None:
        nonlocal running, width
        running += 1
        peaks.append(running)
        await asyncio.sleep(0.001)
        running -= 1
        done.append(item)
        if item == 20:
            width = 10
        if item == 120:
            width = 3

    with anyio.fail_after(10):
        await drain(range(200), work, width=lambda: width)
    assert sorted(done) == list(range(200))
    assert max(peaks[:20]) <= 2
    assert max(peaks) == 10
    assert max(peaks[-40:]) <= 3


@pytest.mark.asyncio
async def test_drain_raises_what_escapes_a_worker_and_cancels_the_others() -> None:

    cancelled = 0

    async def work(item: int) -> None:
        nonlocal cancelled
        if item == 5:
            raise KeyError("boom")
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled += 1
            raise

    with anyio.fail_after(5), pytest.raises(KeyError):
        await drain(range(50), work, width=lambda: 8)
    assert cancelled == 7  # the other seven workers (items 0-4, 6 and 7) were stopped
