"""Interim results over the runtime websocket, as an async iterator or fed to a callback.

One reader task per stream connects to ``<runtime ws url>/stream/jobs/<id>`` with the access
token on the handshake, drops the ACK frame, and queues every data frame. It reconnects with
jittered exponential backoff on any close but 1000; the server replays a job's messages to a
reconnecting subscriber, and frames identical to ones already delivered, at the same position,
are dropped, so a reconnect neither loses nor repeats a message. When the socket cannot be
re-established within the retry budget, the reader falls back to polling
``GET /jobs/{id}/interim_results`` until the job is final. If that fails too, the iterator
raises :class:`~async_qexp.errors.StreamingError` (``docs/protocol.md#result-stream``).

The stream ends when the server closes with 1000 (the job is final and every message, the
final result included, has been sent). Its tasks belong to the provider's task owner, so
closing the provider ends every stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import anyio
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from .._config import StreamPolicy
from .._http import loggable, tls_failure
from .._logs import get_logger
from .._tasks import TaskOwner
from ..errors import ClosedError, RuntimeInvalidStateError, StreamingError
from ..models.runtime import JobStatus
from ._api import JobsApi, known_status
from .decoder import ResultDecoder

__all__ = ["MessageCallback", "ResultStream"]

logger = get_logger("async_qexp.stream")

MessageCallback = Callable[[str, Any], Any]
"""``callback(job_id, message)``, sync or async."""

_END = object()


class ResultStream:
    """The messages a runtime program publishes, as they arrive.

    Get one from :meth:`RuntimeJob.stream_results <async_qexp.runtime.RuntimeJob.stream_results>`.
    Both an async iterator and an async context manager; leaving the ``async with`` block,
    breaking out of the ``async for`` loop or calling :meth:`aclose` closes the socket::

        async with job.stream_results() as stream:
            async for message in stream:
                print(message)

    Every message the program publishes is yielded once, in order; the program's final result
    arrives as the last message. Streaming a finished job yields its stored messages, then ends.

    Given a ``callback``, the stream feeds it every message instead, from a task of its own,
    and is not iterated.

    Messages are buffered without bound, as in the reference client: the socket is always read
    (so keepalive pings are answered) and a consumer that falls behind holds the backlog in
    memory (:attr:`backlog` tells how much) rather than stalling the connection.

    Args:
        api: the REST calls of jobs (and the websocket URL and token).
        job_id: the job whose messages to stream.
        decoder: the :class:`ResultDecoder` class for every message.
        policy: how the connection is kept up.
        tasks: the owner of the stream's tasks (the provider's).
        callback: ``callback(job_id, message)`` (sync or async) to feed every message to.

    Raises:
        ClosedError: if ``tasks`` is closed (the provider is).
    """

    def __init__(
        self,
        api: JobsApi,
        job_id: str,
        *,
        decoder: type[ResultDecoder],
        policy: StreamPolicy,
        tasks: TaskOwner,
        callback: MessageCallback | None = None,
    ) -> None:
        tasks.check_open()
        self._api = api
        self.job_id = job_id
        """The job whose messages this stream delivers."""
        self._decoder = decoder
        self._policy = policy
        self._tasks = tasks
        self._owner: TaskOwner | None = None  # the reader's, made when the stream starts
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self._feeder: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self._delivered: list[int] = []  # hashes of delivered frames, in order
        self._closed = False
        self._received_since_retry = False
        self.reconnects = 0
        """How many times the socket was re-established."""
        self.polled = False
        """Whether the stream fell back to polling."""
        if callback is not None:
            self._start()
            self._feeder = tasks.spawn(
                self._feed(callback), name=f"result callback of job {job_id}"
            )

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._reader else "not started"
        return f"<ResultStream job={self.job_id} {state} delivered={len(self._delivered)}>"

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

    @property
    def closed(self) -> bool:
        """Whether the stream has been closed (it delivers what it had received, then ends)."""
        return self._closed

    def _start(self) -> None:
        if self._closed:
            raise ClosedError(f"the result stream of job {self.job_id} is closed")
        if self._reader is None:
            self._owner = self._tasks.child(f"result stream of job {self.job_id}")
            self._reader = self._owner.spawn(self._read(), name=f"result stream of {self.job_id}")

    # -- consuming -----------------------------------------------------------------------

    async def __aenter__(self) -> ResultStream:
        self._start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[Any]:
        if self._feeder is not None:
            raise RuntimeInvalidStateError(
                f"the messages of job {self.job_id} go to a callback; this stream is not iterated"
            )
        if not self._closed:
            self._start()
        return self._messages()

    async def _messages(self) -> AsyncGenerator[Any, None]:
        async with contextlib.aclosing(self._texts()) as texts:
            async for text in texts:
                yield self._decoder.decode(text)

    async def _texts(self) -> AsyncGenerator[str, None]:
        """The raw frames, in order, until the end; the stream is closed afterwards."""
        if self._closed and self._queue.empty():
            return
        try:
            while True:
                item = await self._queue.get()
                if item is _END:
                    if self._error is not None:
                        raise self._error
                    if not self._closed and self._owner is not None and self._owner.closed:
                        raise ClosedError(
                            f"the provider was closed while streaming the results of job "
                            f"{self.job_id}"
                        )
                    return
                yield item
        finally:
            await self.aclose()

    async def _feed(self, callback: MessageCallback) -> None:
        """Feed every message to ``callback``; a decoder or a callback that raises is logged
        and the messages after it are still delivered."""
        try:
            async with contextlib.aclosing(self._texts()) as texts:
                async for text in texts:
                    try:
                        message = self._decoder.decode(text)
                    except Exception as exc:
                        logger.warning(
                            "the result decoder of job %s raised on a message: %r",
                            self.job_id,
                            exc,
                        )
                        continue
                    try:
                        await _call(callback, self.job_id, message)
                    except Exception as exc:
                        logger.warning("result callback of job %s raised: %r", self.job_id, exc)
        except StreamingError as exc:
            logger.warning("%s", exc)
        except ClosedError:
            logger.debug("result callback of job %s stopped: the provider closed", self.job_id)

    async def aclose(self) -> None:
        """Close the socket and stop the reader; messages already received are still yielded
        (or fed to the callback, which this waits for)."""
        if not self._closed:
            self._closed = True
            if self._owner is not None:
                await self._owner.aclose()  # cancels the reader and waits for it
            # A reader cancelled before its first step never ran its ``finally``: end the
            # iterator here too (a second end marker is harmless).
            self._queue.put_nowait(_END)
        feeder = self._feeder
        if feeder is not None and feeder is not asyncio.current_task():
            await asyncio.wait([feeder])

    async def wait_closed(self) -> None:
        """Wait until the reader has finished (the job is final, or the stream broke) and, for
        a callback, until every message was fed to it."""
        waiting = [task for task in (self._reader, self._feeder) if task is not None]
        if waiting:
            await asyncio.wait(waiting)

    # -- the reader ----------------------------------------------------------------------

    def _deliver(self, frame: str) -> None:
        self._delivered.append(hash(frame))
        self._queue.put_nowait(frame)

    async def _read(self) -> None:
        try:
            if not await self._stream_socket():
                await self._poll()
        except Exception as exc:
            logger.warning("result stream of job %s failed: %s", self.job_id, exc)
            error = StreamingError(f"the result stream of job {self.job_id} failed: {exc}")
            error.__cause__ = exc
            self._error = error
        finally:
            self._queue.put_nowait(_END)

    async def _stream_socket(self) -> bool:
        """Stream over the websocket; ``False`` when it could not be kept up."""
        policy = self._policy
        url = self._api.stream_url(self.job_id)
        retries = 0
        while True:
            try:
                if await self._one_connection(url):
                    logger.debug(
                        "stream of job %s ended (code 1000) after %d message(s)",
                        self.job_id,
                        len(self._delivered),
                    )
                    return True
                reason: object = "closed without code 1000"
            except InvalidStatus as exc:
                status = exc.response.status_code
                if 400 <= status < 500:
                    logger.info(
                        "stream of job %s refused (%s): falling back to polling",
                        self.job_id,
                        status,
                    )
                    return False
                reason = exc
            except (ConnectionClosed, InvalidHandshake, OSError, asyncio.TimeoutError) as exc:
                tls = tls_failure(exc)
                if isinstance(tls, ssl.SSLCertVerificationError):
                    logger.warning(
                        "stream of job %s: the TLS certificate of %s did not verify (%s): "
                        "falling back to polling",
                        self.job_id,
                        loggable(url),
                        tls.verify_message or tls.reason,
                    )
                    return False
                reason = exc
            if self._received_since_retry:
                retries = 0
            retries += 1
            if retries > policy.max_retries:
                logger.info(
                    "stream of job %s lost after %d retries (%s): falling back to polling",
                    self.job_id,
                    policy.max_retries,
                    reason,
                )
                return False
            delay = policy.backoff(retries)
            logger.info(
                "stream of job %s broke (%s); reconnecting in %.2f s (retry %d of %d)",
                self.job_id,
                reason,
                delay,
                retries,
                policy.max_retries,
            )
            await asyncio.sleep(delay)
            self.reconnects += 1

    async def _one_connection(self, url: str) -> bool:
        """One connection; ``True`` if the server ended the stream normally (code 1000)."""
        policy = self._policy
        token = self._api.access_token()
        headers = {"X-Access-Token": token} if token else {}
        self._received_since_retry = False
        network = self._api.websocket_options(url)
        via = f" through the proxy {_shown(network['proxy'])}" if network.get("proxy") else ""
        logger.debug("stream of job %s: connecting to %s%s", self.job_id, loggable(url), via)
        async with connect(
            url,
            additional_headers=headers,
            ping_interval=policy.ping_interval,
            ping_timeout=policy.ping_timeout,
            close_timeout=policy.ping_timeout,  # a peer that missed a pong won't send a close
            open_timeout=policy.open_timeout,
            max_size=None,
            user_agent_header=None,
            **network,
        ) as socket:
            logger.debug(
                "stream of job %s: connected (%d message(s) delivered before)",
                self.job_id,
                len(self._delivered),
            )
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
        logger.info(
            "stream of job %s: polling every %g s until the job is final",
            self.job_id,
            self._policy.poll_interval,
        )
        api, job_id = self._api, self.job_id
        while True:
            status = known_status(await api.record(job_id))
            texts = await api.interim_texts(job_id)
            for text in texts[len(self._delivered) :]:
                self._deliver(text)
            if status.is_final:
                # The final result follows the interim ones, unless the socket already
                # delivered it before it broke for good.
                if status is JobStatus.DONE and len(self._delivered) == len(texts):
                    self._deliver(await api.result_text(job_id))
                return
            await asyncio.sleep(self._policy.poll_interval)


def _shown(proxy: str) -> str:
    """A proxy URL without its credentials."""
    scheme, _, rest = proxy.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"


async def _call(callback: MessageCallback, job_id: str, message: Any) -> None:
    """Call ``callback(job_id, message)``: awaited if async, in a worker thread if not."""
    if inspect.iscoroutinefunction(callback):
        await callback(job_id, message)
        return
    outcome = await anyio.to_thread.run_sync(callback, job_id, message)
    if inspect.isawaitable(outcome):
        await outcome
