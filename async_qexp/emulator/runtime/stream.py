"""The result stream of one job over a websocket (``docs/protocol.md#result-stream``).

``ACK``, then every message the job published, from the first (a late or reconnecting
subscriber gets them all again), then the live ones; close 1000 once the job is final and
everything was sent. A scripted stream fault closes 1011 after a number of data frames.

A job this process runs is followed in memory; any other (queued, final, or run by another
emulator process on the same database) is read from the database, again each time its
:class:`~.live.JobEvents` fire (at least every :data:`~.live.POLL` seconds), until this
process takes it or it is final.

The stream asks again, at least every :data:`~.live.POLL` seconds, whether its access token
still names a user: once the user is revoked (by this process or another on the database),
it closes 1008 instead of sending on for as long as the job runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from ..store import FINAL_STATUSES, NotFound, RuntimeStore, Unavailable
from .live import POLL, JobEvents, JobRun

__all__ = ["send_job_messages"]

_PAGE = 5000
"""Messages of a job read from the store at once."""


class _Sender:
    """Sends data frames, counting them, until a scripted drop is due."""

    def __init__(self, ws: WebSocket, drop_after: int | None) -> None:
        self.ws = ws
        self.drop_after = drop_after
        self.sent = 0

    def _due(self) -> bool:
        return self.drop_after is not None and self.sent >= self.drop_after

    async def send(self, texts: Iterable[str]) -> bool:
        """Send ``texts`` in order; ``False`` (the stream closed 1011) if a drop came due."""
        for text in texts:
            if self._due():
                await self.ws.close(1011)
                return False
            await self.ws.send_text(text)
            self.sent += 1
        return True

    async def end(self) -> None:
        """Close 1000, unless a drop is due (it also breaks a stream that just ended)."""
        await self.ws.close(1011 if self._due() else 1000)


class _Access:
    """Whether the subscriber may still listen, asked at most every :data:`~.live.POLL`
    seconds (a store lookup each time)."""

    def __init__(self, allowed: Callable[[], Awaitable[bool]]) -> None:
        self._allowed = allowed
        self._loop = asyncio.get_running_loop()
        self._next = self._loop.time() + POLL

    def wait_at_most(self) -> float:
        """Seconds until the next look is due (0 if it is)."""
        return max(0.0, self._next - self._loop.time())

    async def lost(self) -> bool:
        """``True`` once the subscriber's user is revoked (looked at when a look is due).

        A store that cannot answer says nothing either way: the stream goes on, and the
        next look asks again.
        """
        if self.wait_at_most() > 0:
            return False
        self._next = self._loop.time() + POLL
        try:
            return not await self._allowed()
        except Unavailable:
            return False


async def send_job_messages(
    ws: WebSocket,
    job_id: str,
    live_run: Callable[[str], JobRun | None],
    store: RuntimeStore,
    drop_after: int | None,
    events: JobEvents,
    allowed: Callable[[], Awaitable[bool]],
) -> None:
    """Stream a job to an accepted websocket until the job is final, the client leaves, or
    ``allowed()`` says the subscriber may no longer listen (close 1008).

    ``live_run`` gives the job's :class:`~.live.JobRun` while this process runs it; the
    messages of any other job come from ``store``, read again whenever ``events`` fire for it.
    """
    receiver: asyncio.Future[Any] = asyncio.ensure_future(ws.receive())
    sender = _Sender(ws, drop_after)
    access = _Access(allowed)
    try:
        await ws.send_text("ACK")
        after = -1
        while True:
            run = live_run(job_id)
            if run is not None:
                break
            waiter = events.waiter(job_id)  # before reading: no change can fall in between
            try:
                # The status first: once it is final, every message is stored already.
                try:
                    final = (await store.get_job(job_id))["status"] in FINAL_STATUSES
                except NotFound:
                    final = True  # deleted
                while page := await store.messages(job_id, after, _PAGE):
                    if not await sender.send(text for _, text in page):
                        return
                    after = page[-1][0]
                if final:
                    await sender.end()
                    return
                if live_run(job_id) is not None:
                    continue
                await asyncio.wait([waiter, receiver], timeout=access.wait_at_most())
                if receiver.done():
                    if receiver.result().get("type") == "websocket.disconnect":
                        return
                    receiver = asyncio.ensure_future(ws.receive())
                if await access.lost():
                    await ws.close(1008, "access revoked")
                    return
            finally:
                events.discard(job_id, waiter)
        while True:
            while sender.sent < len(run.messages):  # it may grow while frames are sent
                if not await sender.send(run.messages[sender.sent :]):
                    return
            if run.done:
                await sender.end()
                return
            await asyncio.wait(
                [run.waiter, receiver],
                timeout=access.wait_at_most(),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if receiver.done():
                message = receiver.result()
                if message.get("type") == "websocket.disconnect":
                    return
                receiver = asyncio.ensure_future(ws.receive())
            if await access.lost():
                await ws.close(1008, "access revoked")
                return
    except (OSError, RuntimeError, WebSocketDisconnect):
        return  # the client went away
    finally:
        # Return without awaiting anything after the close: if the client's close frame came
        # while the app still ran, uvicorn would close the transport a second time, and a TLS
        # transport closed twice can no longer be aborted at shutdown (see server.py).
        receiver.cancel()
        receiver.add_done_callback(_retrieve)


def _retrieve(receiver: asyncio.Future[Any]) -> None:
    if not receiver.cancelled():
        receiver.exception()  # retrieved: a disconnect error is expected here
