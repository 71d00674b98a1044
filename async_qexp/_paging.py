"""One pager for every listing: ``await`` it for the list, ``async for`` it for the items.

Modelled on the openai SDK's ``AsyncPaginator``: a list call returns a :class:`Pager` at once
(its arguments are checked then, before any request), and the caller decides how to consume
it::

    experiments = await service.experiments(limit=None)        # every item, as a list
    async for experiment in service.experiments(limit=None):   # lazily, one page in memory
        ...

Pages are fetched by a function of the cursor (a resultsDB ``marker``, a runtime ``offset``)
and the page size; while the caller consumes one page, the next is already being fetched, in
a task owned by the provider, so closing the provider (or the pager) stops it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Generator
from typing import Any, Generic, TypeVar

from ._tasks import TaskOwner
from .models._display import RecordList
from .progress import Progress, ProgressReporter

__all__ = ["Fetch", "Page", "Pager"]

T = TypeVar("T")

Page = tuple[list[T], Any]
"""One page: its items, and the cursor of the next page (``None`` after the last one)."""

Fetch = Callable[[Any, "int | None"], Coroutine[Any, Any, Page[T]]]
"""``fetch(cursor, size)``: the page at ``cursor`` (``None`` for the first) of at most ``size``
items (``None``: the server's page size)."""


class Pager(AsyncIterator[T], Generic[T]):
    """A paged listing: awaitable (the list), async-iterable (lazy, prefetching), closeable.

    It can be consumed once. Leaving an ``async for`` early is fine; to stop the prefetch at
    once, use the pager as an async context manager or call :meth:`aclose`::

        async with service.experiments(limit=None, page_size=500) as experiments:
            async for experiment in experiments:
                ...

    ``progress(items, total)`` (:mod:`async_qexp.progress`) is told the items received so
    far as each page arrives; the total is unknown (``None``) until the last page.

    Attributes:
        pages_fetched: how many pages have been received so far.
    """

    def __init__(
        self,
        fetch: Fetch[T],
        *,
        owner: TaskOwner,
        limit: int | None = None,
        page_size: int | None = None,
        progress: Progress | None = None,
    ) -> None:
        self._fetch = fetch
        self._progress = ProgressReporter(progress)
        self._owner = owner
        self._remaining = limit
        self._page_size = page_size
        self._items: list[T] = []
        self._next: asyncio.Task[Page[T]] | None = None
        self._started = False
        self._done = False
        self.pages_fetched = 0

    def __repr__(self) -> str:
        state = "done" if self._done else "iterating" if self._started else "not started"
        return f"<Pager {state}, {self.pages_fetched} page(s) fetched>"

    def _request_size(self) -> int | None:
        sizes = [s for s in (self._page_size, self._remaining) if s is not None]
        return min(sizes) if sizes else None

    def _prefetch(self, cursor: Any) -> None:
        self._next = self._owner.spawn(self._fetch(cursor, self._request_size()))

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
            task = self._next
            assert task is not None
            await asyncio.wait([task])  # cancelling the caller still propagates
            self._next = None
            if task.cancelled():  # by the owner: the provider was closed
                self._done = True
                self._owner.check_open()
            items, cursor = task.result()
            self.pages_fetched += 1
            if self._remaining is not None:
                items = items[: self._remaining]
                self._remaining -= len(items)
            self._items = items[::-1]  # pop() from the end, in order
            self._progress.advance(len(items))
            if cursor is not None and self._remaining != 0:
                self._prefetch(cursor)
            else:
                self._done = True
                self._progress.finish()
        return self._items.pop()

    async def collect(self) -> RecordList[T]:
        """Fetch every remaining item into a list (what ``await pager`` does): a
        :class:`~async_qexp.RecordList`, which a notebook shows as a table."""
        return RecordList([item async for item in self])

    def __await__(self) -> Generator[Any, None, RecordList[T]]:
        return self.collect().__await__()

    async def aclose(self) -> None:
        """Stop: no more items, and the prefetch of the next page (if any) is cancelled."""
        self._done = True
        self._items = []
        task, self._next = self._next, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])  # our own cancellation still propagates

    async def __aenter__(self) -> Pager[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
