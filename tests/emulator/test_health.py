"""``GET /health`` (liveness) and ``GET /ready`` (readiness): no token, cheap, and untouched by
latency, capacity limits and fault injection; ``Store.ping``."""

from __future__ import annotations

import asyncio

import anyio
import httpx
import pytest

from async_qexp.emulator import Emulator, EmulatorConfig, serve
from async_qexp.emulator.store import SQLiteStore


@pytest.mark.asyncio
async def test_health_and_ready_answer_without_a_token(raw: httpx.AsyncClient) -> None:
    health = await raw.get("/health")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert health.headers["content-type"] == "application/json"
    ready = await raw.get("/ready")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    assert "x-request-id" in ready.headers
    assert "x-emulator-worker" not in ready.headers  # (one process: no worker number)
    assert (await raw.head("/health")).status_code == 200
    assert (await raw.post("/health")).status_code == 405


@pytest.mark.asyncio
async def test_ready_is_503_when_the_database_does_not_answer(emu: Emulator) -> None:
    async with httpx.AsyncClient(base_url=emu.url) as raw:
        await emu.state.store.aclose()  # (serve closes it again on exit: a no-op)
        ready = await raw.get("/ready")
        assert ready.status_code == 503
        body = ready.json()
        assert body["status"] == "unavailable"
        assert "database" in body["reason"]
        health = await raw.get("/health")  # liveness never touches the database
        assert (health.status_code, health.json()) == (200, {"status": "ok"})


@pytest.mark.asyncio
async def test_ready_is_503_while_the_server_stops(emu: Emulator) -> None:
    async with httpx.AsyncClient(base_url=emu.url) as raw:
        assert (await raw.get("/ready")).status_code == 200
        emu.state.shutting_down = True
        ready = await raw.get("/ready")
        assert ready.status_code == 503
        assert ready.json() == {"status": "stopping", "reason": "the server is shutting down"}
        assert (await raw.get("/health")).status_code == 200


@pytest.mark.asyncio
async def test_probes_skip_latency_capacity_and_faults() -> None:
    config = EmulatorConfig(
        latency_ms=60_000,
        capacity=1,
        capacity_queue=0,
        faults={"error_rate_500": 1.0},
        shutdown_timeout=0.5,  # (the request left sleeping is cancelled on exit)
    )
    async with serve(config) as emu, httpx.AsyncClient(base_url=emu.url) as raw:
        emu.faults.fail_next(10, 503, path_prefix="/")  # (scripted: would match any path)
        slow = asyncio.create_task(raw.get("/version"))  # holds the only place for a minute
        capacity = emu.capacity
        assert capacity is not None
        with anyio.fail_after(10):
            while capacity.load == 0:  # noqa: ASYNC110 - the server's counter
                await asyncio.sleep(0.005)
            for path, body in (("/health", {"status": "ok"}), ("/ready", {"status": "ready"})):
                answer = await raw.get(path)  # no minute of latency, no 429, no 503
                assert (answer.status_code, answer.json()) == (200, body)
        busy = await raw.get("/version")  # anything else is refused for lack of capacity
        assert busy.status_code == 429
        slow.cancel()
        await asyncio.gather(slow, return_exceptions=True)
    probes = [r for r in emu.request_log if r.path in ("/health", "/ready")]
    assert [(r.path, r.status, r.fault) for r in probes] == [
        ("/health", 200, None),
        ("/ready", 200, None),
    ]


@pytest.mark.asyncio
async def test_sqlite_store_ping() -> None:
    store = await SQLiteStore.open(None)
    try:
        await store.ping()  # (raises unless the database answers)
    finally:
        await store.aclose()
    with pytest.raises(RuntimeError):
        await store.ping()
