"""The pager on its own: page sizes and limits, prefetch, progress, closing and failures, with a
scripted fetch function (no HTTP)."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import pytest

from async_qexp import ClosedError
from async_qexp._paging import Page, Pager
from async_qexp._tasks import TaskOwner
from async_qexp.models._display import RecordList

from ..helpers import UnretrievedExceptions

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(20)]


class Pages:
    """A listing of ``total`` integers served in pages of at most ``server_size``."""

    def __init__(self, total: int, server_size: int = 4) -> None:
        self.total = total
        self.server_size = server_size
        self.calls: list[tuple[Any, int | None]] = []
        self.fail_at: int | None = None  # the cursor whose fetch raises
        self.gate: asyncio.Event | None = None  # fetches after the first wait for it

    async def __call__(self, cursor: Any, size: int | None) -> Page[int]:
        self.calls.append((cursor, size))
        start = cursor or 0
        if self.gate is not None and start:
            await self.gate.wait()
        if self.fail_at is not None and start == self.fail_at:
            raise RuntimeError(f"page at {start} failed")
        count = min(size or self.server_size, self.server_size)
        items = list(range(start, min(start + count, self.total)))
        end = start + len(items)
        return items, (end if end < self.total else None)


async def test_awaiting_collects_every_page_in_order() -> None:
    owner = TaskOwner("test")
    pages = Pages(10)
    pager = Pager(pages, owner=owner)
    assert repr(pager) == "<Pager not started, 0 page(s) fetched>"
    got = await pager
    assert isinstance(got, RecordList)
    assert list(got) == list(range(10))
    assert pages.calls == [(None, None), (4, None), (8, None)]
    assert pager.pages_fetched == 3
    assert repr(pager) == "<Pager done, 3 page(s) fetched>"
    assert [item async for item in pager] == []  # consumed once
    await owner.aclose()


@pytest.mark.parametrize(
    ("limit", "page_size", "sizes", "expected"),
    [
        (5, None, [5, 1], 5),  # the limit caps each request
        (5, 2, [2, 2, 1], 5),
        (None, 3, [3, 3, 3, 3], 10),
        (3, 10, [3], 3),
        (0, None, [], 0),
        (20, 3, [3, 3, 3, 3], 10),  # fewer items than the limit
    ],
)
async def test_request_sizes_respect_the_page_size_and_what_remains(
    limit: int | None, page_size: int | None, sizes: list[int], expected: int
) -> None:
    owner = TaskOwner("test")
    pages = Pages(10)
    got = await Pager(pages, owner=owner, limit=limit, page_size=page_size)
    assert list(got) == list(range(expected))
    assert [size for _, size in pages.calls] == sizes
    await owner.aclose()


async def test_a_page_larger_than_the_limit_is_cut() -> None:
    owner = TaskOwner("test")

    async def generous(cursor: Any, size: int | None) -> Page[int]:
        return list(range(10)), "more"  # ignores the size, says there is more

    pager = Pager(generous, owner=owner, limit=3)
    assert list(await pager) == [0, 1, 2]
    assert pager.pages_fetched == 1
    await owner.aclose()


async def test_the_next_page_is_prefetched_while_one_is_consumed() -> None:
    owner = TaskOwner("test")
    pages = Pages(8)
    pager = Pager(pages, owner=owner)
    assert await pager.__anext__() == 0
    await asyncio.sleep(0)
    assert pages.calls == [(None, None), (4, None)]  # before the first page is consumed
    assert repr(pager) == "<Pager iterating, 1 page(s) fetched>"
    await pager.aclose()
    await owner.aclose()


async def test_progress_counts_items_and_learns_the_total_at_the_end() -> None:
    owner = TaskOwner("test")
    seen: list[tuple[int, int | None]] = []
    await Pager(Pages(10), owner=owner, progress=lambda n, total: seen.append((n, total)))
    assert seen == [(4, None), (8, None), (10, None), (10, 10)]
    await owner.aclose()


async def test_closing_cancels_the_prefetch_and_ends_iteration() -> None:
    owner = TaskOwner("test")
    pages = Pages(12)
    pages.gate = asyncio.Event()
    pager = Pager(pages, owner=owner)
    async with pager:
        assert await pager.__anext__() == 0
        await asyncio.sleep(0)
        (prefetch,) = owner.tasks
    assert prefetch.cancelled()
    assert owner.tasks == frozenset()
    with pytest.raises(StopAsyncIteration):
        await pager.__anext__()
    await owner.aclose()


async def test_a_failed_page_raises_to_the_reader() -> None:
    owner = TaskOwner("test")
    pages = Pages(12)
    pages.fail_at = 4
    pager = Pager(pages, owner=owner)
    got = [await pager.__anext__() for _ in range(4)]
    assert got == [0, 1, 2, 3]
    with pytest.raises(RuntimeError, match="page at 4 failed"):
        await pager.__anext__()
    await owner.aclose()


async def test_a_prefetch_that_fails_after_the_reader_left_reports_nothing() -> None:
    """The reader stops after the first page; the prefetch of the second fails with nobody
    to read it: no "Task exception was never retrieved"."""
    owner = TaskOwner("test")
    pages = Pages(12)
    pages.fail_at = 4
    async with UnretrievedExceptions() as reports:
        pager = Pager(pages, owner=owner)
        assert await pager.__anext__() == 0
        with anyio.fail_after(5):
            await asyncio.wait(owner.tasks)  # the failing prefetch
        del pager
    assert reports.messages == []
    await owner.aclose()


async def test_closing_the_owner_under_a_reader_is_a_closed_error() -> None:
    owner = TaskOwner("provider")
    pages = Pages(12)
    pages.gate = asyncio.Event()
    pager = Pager(pages, owner=owner)
    assert await pager.__anext__() == 0
    reader = asyncio.ensure_future(pager.collect())
    await asyncio.sleep(0.01)
    await owner.aclose()
    with pytest.raises(ClosedError, match="provider is closed"), anyio.fail_after(5):
        await reader
    with pytest.raises(StopAsyncIteration):
        await pager.__anext__()


async def test_cancelling_the_reader_leaves_the_pager_usable() -> None:
    owner = TaskOwner("test")
    pages = Pages(8)
    pages.gate = asyncio.Event()
    pager = Pager(pages, owner=owner)
    assert await pager.__anext__() == 0
    for _ in range(3):
        assert await pager.__anext__() is not None
    with anyio.move_on_after(0.05) as scope:
        await pager.__anext__()  # waits for the gated second page
    assert scope.cancelled_caught
    pages.gate.set()
    assert [item async for item in pager] == [4, 5, 6, 7]
    await owner.aclose()
