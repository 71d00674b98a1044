"""Lazy, prefetching iteration over marker-paged listings (PROTOCOL §3.7)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Generic, TypeVar

__all__ = ["Page", "Pager"]

T = TypeVar("T")

Page = tuple[list[T], str | None]
"""One page: its items and the marker of the next page (``None`` on the last page)."""


class Pager(AsyncIterator[T], Generic[T]):
    """Iterate every item of a paged listing, fetching the next page while you consume this one.

    Use it with ``async for``; leaving the loop early is fine. To stop the prefetch at once
    (rather than when the pager is garbage-collected), use it as an async context manager or
    call :meth:`aclose`::

        async with service.iter_experiments(backend_name="ibmq_lima") as experiments:
            async for experiment in experiments:
                print(experiment.experiment_id)
    """

    def __init__(
        self,
        fetch: Callable[[str | None, int | None], Awaitable[Page[T]]],
        *,
        limit: int | None = None,
        page_size: int | None = None,
    ) -> None:
        self._fetch = fetch
        self._remaining = limit
        self._page_size = page_size
        self._items: list[T] = []
        self._next: asyncio.Task[Page[T]] | None = None
        self._started = False
        self._done = False
        self.pages_fetched = 0
        """How many pages have been received so far."""

    def _request_size(self) -> int | None:
        sizes = [s for s in (self._page_size, self._remaining) if s is not None]
        return min(sizes) if sizes else None

    def _prefetch(self, marker: str | None) -> None:
        task = asyncio.ensure_future(self._fetch(marker, self._request_size()))
        # An abandoned pager must not leave "Task exception was never retrieved" behind.
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        self._next = task

    def __aiter__(self) -> Pager[T]:
        return self

    async def __anext__(self) -> T:
        while not self._items:
            if self._done or self._remaining == 0:
                await self.aclose()
                raise StopAsyncIteration
            if not self._started:
                self._started = True
                self._prefetch(None)
            assert self._next is not None
            items, marker = await self._next
            self._next = None
            self.pages_fetched += 1
            if self._remaining is not None:
                items = items[: self._remaining]
                self._remaining -= len(items)
            self._items = items[::-1]  # pop() from the end, in order
            if marker and self._remaining != 0:
                self._prefetch(marker)
            else:
                self._done = True
        return self._items.pop()

    async def aclose(self) -> None:
        """Stop iterating and cancel the prefetch of the next page, if any."""
        self._done = True
        self._items = []
        task, self._next = self._next, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])  # our own cancellation still propagates

    async def collect(self) -> list[T]:
        """Fetch every remaining item into a list."""
        return [item async for item in self]

    async def __aenter__(self) -> Pager[T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
