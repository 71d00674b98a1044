"""Result streams under broken connections: the server breaking the websocket every N
messages, and a proxy cutting every TCP connection (no close frame) again and again. Every
message arrives once, in order, the final result last."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
import pytest_asyncio

from async_qexp import Provider, RuntimeJob
from async_qexp.emulator import Emulator, serve
from async_qexp.runtime import StreamPolicy

from ._support import CHAOS_RETRY, TOKEN, CuttingProxy

pytestmark = [pytest.mark.chaos, pytest.mark.asyncio, pytest.mark.timeout(120)]

BACKEND = {"backend_name": "emulator_simulator"}
QUICK = StreamPolicy(max_retries=5, backoff_initial=0.01, backoff_max=0.05, poll_interval=0.05)
COUNT = 400


@pytest_asyncio.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with serve() as running:
        yield running


async def read_all(job: RuntimeJob) -> tuple[list[Any], Any]:
    with anyio.fail_after(60):
        async with job.stream_results() as stream:
            messages = [message async for message in stream]
    return messages, stream


def check_order(messages: list[Any]) -> None:
    """Every message once, in order, the final result last."""
    assert [m["i"] for m in messages[:-1]] == list(range(COUNT))
    assert messages[-1]["count"] == COUNT
    assert len(messages) == COUNT + 1


@pytest.mark.parametrize("every", [7, 50])
async def test_a_stream_broken_every_n_messages_delivers_each_once_in_order(
    emulator: Emulator, every: int
) -> None:
    breaks = min(COUNT // every, 40)
    for k in range(1, breaks + 1):  # connection k breaks after its k * every-th frame
        emulator.faults.drop_stream_after(k * every)
    async with Provider(TOKEN, emulator.url, retry=CHAOS_RETRY, stream_policy=QUICK) as provider:
        job = await provider.runtime.run("burst", BACKEND, {"count": COUNT, "rate": 2000})
        messages, stream = await read_all(job)
    check_order(messages)
    assert stream.reconnects == breaks
    assert not stream.polled


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_a_stream_through_cut_tcp_connections_delivers_each_once_in_order(
    emulator: Emulator, transport: str
) -> None:
    """Every 40 ms the proxy aborts every connection it carries (the websocket and the REST
    calls' keep-alive connections alike), 15 times while the job publishes."""
    port = int(emulator.url.rsplit(":", 1)[1])
    async with (
        CuttingProxy(port) as proxy,
        Provider(
            TOKEN,
            proxy.url,
            transport=transport,
            retry=CHAOS_RETRY,
            stream_policy=QUICK,  # type: ignore[arg-type]
        ) as provider,
    ):
        job = await provider.runtime.run("burst", BACKEND, {"count": COUNT, "rate": 500})

        async def cutter() -> None:
            for _ in range(15):
                await asyncio.sleep(0.04)
                proxy.cut()

        async with anyio.create_task_group() as group:
            group.start_soon(cutter)
            messages, stream = await read_all(job)
        assert (await job.result())["count"] == COUNT
    check_order(messages)
    assert proxy.cuts >= 10
    assert stream.reconnects >= 1
