"""Interim results over the runtime websocket (PROTOCOL §6), as an async iterator.

One reader task per stream connects to ``<runtime ws url>/stream/jobs/<id>`` with the access
token on the handshake, drops the ACK frame, and queues every data frame. It reconnects with
jittered exponential backoff on any close but 1000; the server replays a job's messages to a
reconnecting subscriber, and frames identical to ones already delivered, at the same position,
are dropped, so a reconnect neither loses nor repeats a message. When the socket cannot be
re-established within the retry budget, the reader falls back to polling
``GET /jobs/{id}/interim_results`` until the job is final. If that fails too, the iterator
raises :class:`~async_qexp.errors.StreamingError`.

The stream ends when the server closes with 1000 (the job is final and every message, the
final result included, has been sent).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from .._config import StreamPolicy
from ..errors import QexpError, StreamingError
from .codec import ResultDecoder

if TYPE_CHECKING:
    from .job import RuntimeJob

__all__ = ["ResultStream", "StreamPolicy"]

logger = logging.getLogger("async_qexp")

_END = object()


def websocket_url(runtime_url: str) -> str:
    """The websocket base URL of a runtime URL: ``https`` → ``wss``, ``http`` → ``ws``."""
    url = runtime_url.rstrip("/")
    if url.startswith("https://"):
        return "wss://" + url[len("https://") :]
    if url.startswith("http://"):
        return "ws://" + url[len("http://") :]
    return url


class ResultStream:
    """The messages a runtime program publishes, as they arrive.

    Both an async iterator and an async context manager; leaving the ``async with`` block,
    breaking out of the ``async for`` loop or calling :meth:`aclose` closes the socket::

        async with job.stream_results() as stream:
            async for message in stream:
                print(message)

    Every message the program publishes is yielded once, in order; the program's final result
    arrives as the last message. Streaming a finished job yields its stored messages, then ends.

    Messages are buffered without bound, as in the reference client: the socket is always read
    (so keepalive pings are answered) and a consumer that falls behind holds the backlog in
    memory (:attr:`backlog` tells how much) rather than stalling the connection.
    """

    def __init__(
        self,
        job: RuntimeJob,
        *,
        url: str,
        token: Callable[[], str | None],
        decoder: type[ResultDecoder],
        policy: StreamPolicy,
        on_close: Callable[[ResultStream], None] | None = None,
    ) -> None:
        self._job = job
        self._url = url
        self._token = token
        self._decoder = decoder
        self._policy = policy
        self._on_close = on_close
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self._delivered: list[int] = []  # hashes of delivered frames, in order
        self._closed = False
        self._received_since_retry = False
        self.reconnects = 0
        """How many times the socket was re-established."""
        self.polled = False
        """Whether the stream fell back to polling."""

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._reader else "not started"
        return f"<ResultStream job={self._job.job_id} {state} delivered={len(self._delivered)}>"

    @property
    def delivered(self) -> int:
        """How many messages have been received so far."""
        return len(self._delivered)

    @property
    def backlog(self) -> int:
        """Messages received but not yet consumed."""
        return self._queue.qsize()

    @property
    def running(self) -> bool:
        """Whether the reader is still receiving."""
        return self._reader is not None and not self._reader.done()

    def _start(self) -> None:
        if self._closed:
            raise QexpError("this result stream is closed")
        if self._reader is None:
            self._reader = asyncio.ensure_future(self._read())
            self._reader.add_done_callback(lambda t: t.cancelled() or t.exception())

    # -- consuming -----------------------------------------------------------------------

    async def __aenter__(self) -> ResultStream:
        self._start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[Any]:
        if not self._closed:
            self._start()
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        if self._closed and self._queue.empty():
            return
        try:
            while True:
                item = await self._queue.get()
                if item is _END:
                    if self._error is not None:
                        raise self._error
                    return
                yield self._decoder.decode(item)
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Close the socket and stop the reader; messages already received are still yielded."""
        if self._closed:
            return
        self._closed = True
        reader = self._reader
        if reader is not None and not reader.done():
            reader.cancel()
            await asyncio.wait([reader])
        # A reader cancelled before its first step never ran its ``finally``: end the
        # iterator here too (a second end marker is harmless).
        self._queue.put_nowait(_END)
        if self._on_close is not None:
            self._on_close(self)

    async def wait_closed(self) -> None:
        """Wait until the reader has finished (the job is final, or the stream broke)."""
        if self._reader is not None:
            await asyncio.wait([self._reader])

    # -- the reader ----------------------------------------------------------------------

    def _deliver(self, frame: str) -> None:
        self._delivered.append(hash(frame))
        self._queue.put_nowait(frame)

    async def _read(self) -> None:
        try:
            if not await self._stream_socket():
                await self._poll()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("result stream of job %s failed: %s", self._job.job_id, exc)
            error = StreamingError(f"the result stream of job {self._job.job_id} failed: {exc}")
            error.__cause__ = exc
            self._error = error
        finally:
            self._queue.put_nowait(_END)

    async def _stream_socket(self) -> bool:
        """Stream over the websocket; ``False`` when it could not be kept up."""
        policy = self._policy
        url = f"{self._url}/stream/jobs/{self._job.job_id}"
        retries = 0
        while True:
            try:
                if await self._one_connection(url):
                    return True
                reason: object = "closed without code 1000"
            except InvalidStatus as exc:
                status = exc.response.status_code
                if 400 <= status < 500:
                    logger.info("stream of job %s refused (%s): polling", self._job.job_id, status)
                    return False
                reason = exc
            except (ConnectionClosed, InvalidHandshake, OSError, asyncio.TimeoutError) as exc:
                reason = exc
            if self._received_since_retry:
                retries = 0
            retries += 1
            if retries > policy.max_retries:
                logger.warning(
                    "stream of job %s lost after %d retries (%s): polling instead",
                    self._job.job_id,
                    policy.max_retries,
                    reason,
                )
                return False
            delay = policy.backoff(retries)
            logger.info(
                "stream of job %s broke (%s); reconnecting in %.2fs",
                self._job.job_id,
                reason,
                delay,
            )
            await asyncio.sleep(delay)
            self.reconnects += 1

    async def _one_connection(self, url: str) -> bool:
        """One connection; ``True`` if the server ended the stream normally (code 1000)."""
        policy = self._policy
        token = self._token()
        headers = {"X-Access-Token": token} if token else {}
        self._received_since_retry = False
        async with connect(
            url,
            additional_headers=headers,
            ping_interval=policy.ping_interval,
            ping_timeout=policy.ping_timeout,
            open_timeout=policy.open_timeout,
            max_size=None,
            user_agent_header=None,
        ) as socket:
            position = 0  # frames of this connection matched against delivered ones
            acknowledged = False
            replaying = True
            try:
                async for frame in socket:
                    if not acknowledged:
                        acknowledged = True  # the first frame is the ACK
                        continue
                    text = frame if isinstance(frame, str) else frame.decode()
                    if (
                        replaying
                        and position < len(self._delivered)
                        and self._delivered[position] == hash(text)
                    ):
                        position += 1
                        continue
                    replaying = False
                    self._received_since_retry = True
                    self._deliver(text)
            except ConnectionClosed as exc:
                if exc.rcvd is not None and exc.rcvd.code == 1000:
                    return True
                raise
            return socket.close_code == 1000

    async def _poll(self) -> None:
        """Poll ``/interim_results`` (and finally ``/results``) until the job is final."""
        self.polled = True
        job = self._job
        interval = self._policy.poll_interval
        while True:
            final = (await job.status()).is_final
            texts = await job._interim_texts()
            for text in texts[len(self._delivered) :]:
                self._deliver(text)
            if final:
                # The final result follows the interim ones, unless the socket already
                # delivered it before it broke for good.
                if job._final_status_name == "COMPLETED" and len(self._delivered) == len(texts):
                    self._deliver(await job._result_text())
                return
            await asyncio.sleep(interval)


async def run_callback(
    stream: ResultStream,
    job_id: str,
    callback: Callable[[str, Any], Any],
) -> None:
    """Feed every message of ``stream`` to ``callback(job_id, message)``.

    Async callbacks are awaited; sync ones run in a worker thread. A callback that raises is
    logged and streaming goes on (as the reference does).
    """
    try:
        async for message in stream:
            try:
                outcome: Any
                if inspect.iscoroutinefunction(callback):
                    outcome = await callback(job_id, message)
                else:
                    outcome = await anyio.to_thread.run_sync(callback, job_id, message)
                    if inspect.isawaitable(outcome):
                        outcome = await outcome
            except Exception as exc:
                logger.warning("result callback of job %s raised: %r", job_id, exc)
    except StreamingError as exc:
        logger.warning("%s", exc)
