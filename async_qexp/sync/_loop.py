"""The background event loop of the blocking facade, and the twins' common base.

Every :class:`~async_qexp.sync.SyncProvider` runs the async client on an event loop of its own,
in a daemon thread behind an anyio blocking portal. A blocking call sends its work to that loop
and waits for the answer, so it works from a plain script, from any number of threads, and from
inside a running event loop (a Jupyter cell), where ``asyncio.run`` cannot be called.

A *twin* is the blocking face of one async object (a service, a job, a container): it holds the
async object and the loop it lives on, and every call of the twin runs on that loop
(:meth:`Twin._call`). Arguments are unwrapped (a twin becomes its async object) and results
wrapped (an async object becomes its twin) on the way, by :func:`unwrap` and :meth:`Loop.wrap`.
"""

from __future__ import annotations

import atexit
import contextlib
import inspect
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Generic, TypeVar

import anyio.from_thread

__all__ = ["Loop", "SyncPager", "SyncResultStream", "Twin", "default_loop", "unwrap"]

T = TypeVar("T")

_BATCH = 256
"""Items a blocking iterator takes from its async iterator per trip to the loop."""


class Loop:
    """An event loop on a daemon thread, and the portal that runs work on it.

    Args:
        name: the thread's name.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._manager = anyio.from_thread.start_blocking_portal(name=name)
        self.portal = self._manager.__enter__()
        self._lock = threading.Lock()
        self.closed = False
        self._twins: weakref.WeakKeyDictionary[Any, Twin] = weakref.WeakKeyDictionary()

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` run on the loop (awaited when it returns a coroutine); the
        twins' arguments unwrapped and the result wrapped.

        Raises:
            ClosedError: once the loop is closed.
        """
        args = tuple(unwrap(a) for a in args)
        kwargs = {k: unwrap(v) for k, v in kwargs.items()}
        return self.wrap(self.call_raw(fn, *args, **kwargs))

    def call_raw(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """:meth:`call` without unwrapping or wrapping."""
        if self.closed:
            from ..errors import ClosedError

            raise ClosedError("the blocking provider is closed")

        async def run() -> Any:
            result = fn(*args, **kwargs)
            if inspect.iscoroutine(result):  # not a Pager: awaitable, but returned as it is
                result = await result
            return result

        return self.portal.call(run)

    def adopt(self, obj: Any, twin: Twin) -> None:
        """Make ``twin`` the one :meth:`wrap` gives for ``obj``."""
        with contextlib.suppress(TypeError):
            self._twins[obj] = twin

    def wrap(self, value: Any) -> Any:
        """The twin of an async object (the same twin every time), lists of them mapped; any
        other value as it is."""
        if isinstance(value, list) and any(_twin_class(v) is not None for v in value):
            return [self.wrap(v) for v in value]
        cls = _twin_class(value)
        if cls is None:
            return value
        try:
            twin = self._twins.get(value)
        except TypeError:  # not weakly referenceable: a new twin every time
            return cls._of(value, self)
        if twin is None:
            twin = cls._of(value, self)
            self._twins[value] = twin
        return twin

    def close(self) -> None:
        """Stop the loop (after the work on it has finished) and its thread. Idempotent."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
        self._manager.__exit__(None, None, None)


_DEFAULT: Loop | None = None
_DEFAULT_LOCK = threading.Lock()


def default_loop() -> Loop:
    """The loop of twins made without a provider (one per process, stopped at exit)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None or _DEFAULT.closed:
            _DEFAULT = Loop("async_qexp-sync-default")
            atexit.register(_DEFAULT.close)
        return _DEFAULT


class Twin:
    """The blocking face of one async object; every call runs on its loop."""

    _async_type: ClassVar[type]
    """The async class this twin stands for."""

    _async: Any
    _loop: Loop

    @classmethod
    def _of(cls, obj: Any, loop: Loop) -> Any:
        twin = cls.__new__(cls)
        twin._async = obj
        twin._loop = loop
        return twin

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self._loop.call(fn, *args, **kwargs)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._async!r}>"


_TWINS: list[type[Twin]] = []


TwinType = TypeVar("TwinType", bound=type[Twin])


def register(cls: TwinType) -> TwinType:
    """Make :meth:`Loop.wrap` turn instances of ``cls._async_type`` into ``cls``."""
    _TWINS.append(cls)
    return cls


def _twin_class(value: Any) -> type[Twin] | None:
    if isinstance(value, Twin):
        return None
    for cls in _TWINS:
        if isinstance(value, cls._async_type):
            return cls
    return None


def unwrap(value: Any) -> Any:
    """The async object behind a twin (lists and tuples mapped); any other value as it is."""
    if isinstance(value, Twin):
        return value._async
    if isinstance(value, list | tuple) and any(isinstance(v, Twin) for v in value):
        return type(value)(unwrap(v) for v in value)
    return value


class SyncPager(Twin, Generic[T]):
    """A listing read page by page, as a plain iterator (the blocking face of a
    :class:`~async_qexp.Pager`): ``for item in pager`` holds at most a page or two in memory,
    ``list(pager)`` reads everything. It can be consumed once; :meth:`close` (or leaving
    ``with``) stops the prefetch of the next page."""

    def __iter__(self) -> Iterator[T]:
        while True:
            batch: list[T] = self._loop.call(_take, self._async, _BATCH)
            if not batch:
                return
            yield from batch

    def close(self) -> None:
        """Stop the prefetch."""
        self._loop.call(self._async.aclose)

    def __enter__(self) -> SyncPager[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


async def _take(iterator: Any, count: int) -> list[Any]:
    """Up to ``count`` items of an async iterator (fewer only at its end)."""
    items: list[Any] = []
    with contextlib.suppress(StopAsyncIteration):
        while len(items) < count:
            items.append(await iterator.__anext__())
    return items


async def _next_message(messages: Any) -> tuple[bool, Any]:
    try:
        return True, await messages.__anext__()
    except StopAsyncIteration:
        return False, None


class SyncResultStream(Twin):
    """A runtime job's messages as a plain iterator (the blocking face of a
    :class:`~async_qexp.ResultStream`)::

        with job.stream_results() as stream:
            for message in stream:
                print(message)

    Each ``next()`` waits for the next message; leaving ``with``, ``break`` then
    :meth:`close`, or closing the provider closes the socket."""

    def __iter__(self) -> Iterator[Any]:
        messages = self._loop.call_raw(self._async.__aiter__)
        while True:
            more, message = self._loop.call(_next_message, messages)
            if not more:
                return
            yield message

    @property
    def backlog(self) -> int:
        """Messages received and not yet read."""
        backlog: int = self._async.backlog
        return backlog

    @property
    def closed(self) -> bool:
        """Whether the stream has ended or been closed."""
        closed: bool = self._async.closed
        return closed

    def close(self) -> None:
        """Close the socket (messages already received are dropped)."""
        self._loop.call(self._async.aclose)

    def __enter__(self) -> SyncResultStream:
        self._loop.call_raw(self._async.__aenter__)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
