"""The transports' own behaviour: httpx's exchanges shielded from a cancelled caller, and
aiohttp's session without hidden retries."""

from __future__ import annotations

import asyncio
import gzip
from typing import Literal

import httpx
import pytest

from async_qexp._transport import AiohttpTransport, HttpxTransport

from ..helpers import UnretrievedExceptions

pytestmark = pytest.mark.asyncio


class Scripted(httpx.AsyncBaseTransport):
    """Answers after ``delay`` seconds, or raises ``error`` then."""

    def __init__(self, delay: float, error: Exception | None = None) -> None:
        self.delay = delay
        self.error = error
        self.finished = 0
        self.cancelled = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        self.finished += 1
        if self.error is not None:
            raise self.error
        return httpx.Response(200, content=b"body", request=request)


def routed_to(inner: Scripted) -> HttpxTransport:
    transport = HttpxTransport(limits=httpx.Limits(max_connections=2))
    transport.transport_for = lambda url: inner  # type: ignore[assignment,method-assign,return-value]
    return transport


async def test_an_exchange_outlives_its_cancelled_caller_and_reports_nothing() -> None:
    inner = Scripted(0.05, httpx.ReadError("late failure"))
    transport = routed_to(inner)
    async with UnretrievedExceptions() as reports:
        caller = asyncio.ensure_future(
            transport.handle_async_request(httpx.Request("GET", "http://h/"))
        )
        await asyncio.sleep(0.01)
        caller.cancel()
        await asyncio.wait([caller])
        assert caller.cancelled()
        assert len(transport._exchanges) == 1  # still running, for the pool's sake
        await asyncio.wait(set(transport._exchanges))
        assert inner.finished == 1
        assert transport._exchanges == set()
    assert reports.messages == []
    await transport.aclose()


async def test_the_response_comes_back_read_and_closing_cancels_what_is_left() -> None:
    inner = Scripted(0.0)
    transport = routed_to(inner)
    response = await transport.handle_async_request(httpx.Request("GET", "http://h/"))
    assert response.content == b"body"
    assert response.is_closed
    inner.delay = 30
    caller = asyncio.ensure_future(
        transport.handle_async_request(httpx.Request("GET", "http://h/"))
    )
    await asyncio.sleep(0.01)
    caller.cancel()
    await asyncio.wait([caller])
    await transport.aclose()
    assert inner.cancelled == 1
    assert transport._exchanges == set()


async def test_aiohttps_session_does_not_resend_on_its_own() -> None:
    transport = AiohttpTransport(limits=httpx.Limits(max_connections=2))
    session = transport.get_client()
    try:
        assert session._retry_connection is False
    finally:
        await session.close()


Reply = tuple[bytes, Literal["keep", "close", "hold"]]


class RawServer:
    """A loopback HTTP/1.1 server that answers each request with the next scripted reply:
    raw bytes, then the connection kept, closed, or held open without another byte until the
    server stops. It counts the connections it accepted."""

    def __init__(self, replies: list[Reply]) -> None:
        self.replies = replies
        self.connections = 0
        self.holding = asyncio.Event()  # set once a "hold" reply went out
        self._stop = asyncio.Event()
        self._handlers: set[asyncio.Task[None]] = set()
        self._server: asyncio.AbstractServer | None = None

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/"

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self._stop.set()
        await asyncio.gather(*self._handlers)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.connections += 1
        try:
            while True:
                read = asyncio.ensure_future(reader.readuntil(b"\r\n\r\n"))
                stop = asyncio.ensure_future(self._stop.wait())
                await asyncio.wait([read, stop], return_when=asyncio.FIRST_COMPLETED)
                stop.cancel()
                if not read.done():
                    read.cancel()
                    return
                read.result()
                raw, then = self.replies.pop(0)
                writer.write(raw)
                await writer.drain()
                if then == "close":
                    return
                if then == "hold":
                    self.holding.set()
                    await self._stop.wait()
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def _reply(body: bytes, *headers: str) -> bytes:
    head = "\r\n".join(("HTTP/1.1 200 OK", *headers))
    return head.encode() + b"\r\n\r\n" + body


async def test_a_whole_body_read_decodes_gzip_and_keeps_the_headers_as_sent() -> None:
    packed = gzip.compress(b'{"a": 1}')
    chunked = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    replies: list[Reply] = [
        (_reply(packed, f"Content-Length: {len(packed)}", "Content-Encoding: gzip"), "keep"),
        (_reply(chunked, "Transfer-Encoding: chunked"), "keep"),
    ]
    async with RawServer(replies) as url:
        transport = AiohttpTransport(limits=httpx.Limits(max_connections=2))
        try:
            packed_reply = await transport.exchange(httpx.Request("GET", url))
            assert packed_reply.content == b'{"a": 1}'
            assert packed_reply.headers["content-encoding"] == "gzip"
            assert packed_reply.is_closed
            streamed = await transport.exchange(httpx.Request("GET", url))
            assert streamed.content == b"hello world"
            assert "content-length" not in streamed.headers  # nothing made up
            assert streamed.extensions["reason_phrase"] == b"OK"
        finally:
            await transport.aclose()


async def test_a_body_cut_short_is_a_read_error_and_its_connection_is_not_reused() -> None:
    replies: list[Reply] = [
        (_reply(b"0123456789", "Content-Length: 1000"), "close"),
        (_reply(b"ok", "Content-Length: 2"), "keep"),
    ]
    async with RawServer(replies) as url:
        transport = AiohttpTransport(limits=httpx.Limits(max_connections=2))
        try:
            with pytest.raises(httpx.TransportError) as caught:
                await transport.exchange(httpx.Request("GET", url))
            assert isinstance(caught.value, httpx.ReadError | httpx.RemoteProtocolError)
            assert caught.value.request.url == url
            again = await transport.exchange(httpx.Request("GET", url))
            assert again.content == b"ok"
        finally:
            await transport.aclose()


async def test_a_whole_body_read_cancelled_midway_gives_its_connection_up() -> None:
    held = _reply(b"0123456789", "Content-Length: 1000")
    replies: list[Reply] = [(held, "hold"), (_reply(b"ok", "Content-Length: 2"), "keep")]
    server = RawServer(replies)
    async with server as url:
        transport = AiohttpTransport(limits=httpx.Limits(max_connections=2))
        try:
            reading = asyncio.ensure_future(transport.exchange(httpx.Request("GET", url)))
            await server.holding.wait()  # the headers and 10 bytes of the body are out
            await asyncio.sleep(0.02)
            reading.cancel()
            await asyncio.wait([reading])
            assert reading.cancelled()
            again = await transport.exchange(httpx.Request("GET", url))
            assert again.content == b"ok"
            assert server.connections == 2  # the half-read connection went back to no pool
        finally:
            await transport.aclose()
    assert replies == []
