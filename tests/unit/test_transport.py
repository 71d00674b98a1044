"""The transports' own behaviour: httpx's exchanges shielded from a cancelled caller, and
aiohttp's session without hidden retries."""

from __future__ import annotations

import asyncio

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
