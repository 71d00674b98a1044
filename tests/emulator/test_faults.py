"""Fault injection (rates with a seed, the fail_next script, drops) and latency."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from async_qexp.emulator import Emulator, EmulatorConfig, FaultSettings, serve

from .conftest import assert_error, create_exp, exp_body, login_client


async def _statuses(emu: Emulator, n: int) -> list[int | None]:
    c = await login_client(emu.url, "t")
    out: list[int | None] = []
    async with c:
        for _ in range(n):
            try:
                out.append((await c.get("/devices")).status_code)
            except httpx.TransportError:
                out.append(None)
    return out


@pytest.mark.asyncio
async def test_random_faults_are_reproducible_with_seed() -> None:
    faults = FaultSettings(
        error_rate_500=0.1, error_rate_503=0.1, error_rate_429=0.1, drop_rate=0.1, seed=42,
        retry_after=0.05,
    )  # fmt: skip
    async with serve(EmulatorConfig(faults=faults)) as emu:
        first = await _statuses(emu, 200)
        r429 = [r for r in emu.request_log if r.status == 429]
        assert r429
    async with serve(EmulatorConfig(faults=faults)) as emu:
        second = await _statuses(emu, 200)
    assert first == second
    counts = {s: first.count(s) for s in set(first)}
    assert set(counts) == {200, 500, 503, 429, None}
    assert 80 <= counts[200] <= 160
    # rates never touch the authentication routes (login above always succeeded)


@pytest.mark.asyncio
async def test_rates_settable_at_runtime_and_retry_after(
    rdb: httpx.AsyncClient, emu: Emulator
) -> None:
    emu.faults.error_rate_429 = 1.0
    emu.faults.retry_after = 0.05
    r = await rdb.get("/devices")
    assert_error(r, 429)
    assert r.headers["retry-after"] == "0.05"
    async with httpx.AsyncClient(base_url=emu.url) as raw:
        assert (await raw.get("/version")).status_code == 200
        assert (await raw.post("/users/loginWithToken", json={"apiToken": "q"})).status_code == 200
    emu.faults.error_rate_429 = 0.0
    assert (await rdb.get("/devices")).status_code == 200
    with pytest.raises(ValueError, match="within"):
        emu.faults.error_rate_500 = 1.5


@pytest.mark.asyncio
async def test_fail_next_before_processing(rdb: httpx.AsyncClient, emu: Emulator) -> None:
    rule = emu.faults.fail_next(2, 503, path_prefix="/resultsdb/experiments", method="POST")
    assert emu.faults.pending == 2
    assert (await rdb.get("/devices")).status_code == 200  # does not match
    for _ in range(2):
        assert_error(await rdb.post("/experiments", json=exp_body("e1")), 503)
    assert rule.remaining == 0
    assert emu.faults.pending == 0
    assert_error(await rdb.get("/experiments/e1"), 404)  # not created
    assert (await rdb.post("/experiments", json=exp_body("e1"))).status_code == 201
    statuses = [
        (r.method, r.path, r.status, r.fault)
        for r in emu.request_log
        if r.path == "/resultsdb/experiments"
    ]
    assert statuses == [
        ("POST", "/resultsdb/experiments", 503, "error"),
        ("POST", "/resultsdb/experiments", 503, "error"),
        ("POST", "/resultsdb/experiments", 201, None),
    ]
    emu.faults.fail_next(1, 429, retry_after=0.01)
    r = await rdb.get("/devices")
    assert r.status_code == 429
    assert r.headers["retry-after"] == "0.01"
    emu.faults.fail_next(1, 500)
    assert_error(await rdb.get("/devices"), 500)


@pytest.mark.asyncio
async def test_fail_next_after_processing_replay_gets_409(
    rdb: httpx.AsyncClient, emu: Emulator
) -> None:
    emu.faults.fail_next(1, 503, method="POST", after_processing=True)
    assert_error(await rdb.post("/experiments", json=exp_body("e1")), 503)
    # it WAS created: the replayed POST gets 409 for its own id
    assert (await rdb.get("/experiments/e1")).status_code == 200
    assert_error(await rdb.post("/experiments", json=exp_body("e1")), 409)


@pytest.mark.asyncio
@pytest.mark.parametrize("http_impl", ["h11", "httptools"])
async def test_dropped_connections(http_impl: str) -> None:
    pytest.importorskip(http_impl)
    async with serve(http_impl=http_impl) as emu:
        rdb = await login_client(emu.url, "t")
        async with rdb:
            await _check_drops(rdb, emu)


async def _check_drops(rdb: httpx.AsyncClient, emu: Emulator) -> None:
    emu.faults.fail_next(1, drop=True, method="POST")
    with pytest.raises(httpx.TransportError):
        await rdb.post("/experiments", json=exp_body("d1"))
    assert_error(await rdb.get("/experiments/d1"), 404)
    emu.faults.fail_next(1, drop=True, method="POST", after_processing=True)
    with pytest.raises(httpx.TransportError):
        await rdb.post("/experiments", json=exp_body("d2"))
    assert (await rdb.get("/experiments/d2")).status_code == 200
    dropped = [r for r in emu.request_log if r.status is None]
    assert [r.fault for r in dropped] == ["drop", "drop-after"]
    # the client recovers on a fresh connection
    assert (await rdb.get("/devices")).status_code == 200
    # random drops
    emu.faults.drop_rate = 1.0
    with pytest.raises(httpx.TransportError):
        await rdb.get("/devices")
    emu.faults.clear()
    assert (await rdb.get("/devices")).status_code == 200


@pytest.mark.asyncio
async def test_fail_next_can_target_auth_routes(emu: Emulator) -> None:
    emu.faults.fail_next(1, 503, path_prefix="/api/users/loginWithToken")
    async with httpx.AsyncClient(base_url=emu.url) as c:
        r = await c.post("/api/users/loginWithToken", json={"apiToken": "x"})
        assert_error(r, 503)
        assert (
            await c.post("/api/users/loginWithToken", json={"apiToken": "x"})
        ).status_code == 200


@pytest.mark.asyncio
async def test_latency() -> None:
    # 500 ms, so that "no latency any more" shows even on a machine too busy for tight bounds
    async with serve(latency_ms=500) as emu:
        c = await login_client(emu.url, "t")
        async with c:
            await create_exp(c, "l1")
            for path in ("/devices", "/experiments/l1"):
                t = time.perf_counter()
                assert (await c.get(path)).status_code == 200
                assert time.perf_counter() - t >= 0.495
        async with httpx.AsyncClient(base_url=emu.url) as raw:
            t = time.perf_counter()
            await raw.get("/version")
            assert time.perf_counter() - t >= 0.495
            emu.latency_ms = 0
            await raw.get("/version")
            t = time.perf_counter()
            await raw.get("/version")
            assert time.perf_counter() - t < 0.45


@pytest.mark.asyncio
async def test_no_nagle_delay(rdb: httpx.AsyncClient) -> None:
    await create_exp(rdb, "n1")
    await rdb.get("/experiments/n1")  # warm the connection
    times = []
    for i in range(20):
        t = time.perf_counter()
        r = await rdb.put("/experiments/n1", json={"notes": f"n{i}"})
        assert r.status_code == 200
        times.append(time.perf_counter() - t)
        t = time.perf_counter()
        assert (await rdb.get("/experiments/n1")).status_code == 200
        times.append(time.perf_counter() - t)
    times.sort()
    # Nagle + delayed ACK would make every round trip ~40 ms
    assert times[len(times) // 2] < 0.02, times


@pytest.mark.asyncio
async def test_uploads_only_faulted_on_request(rdb: httpx.AsyncClient, emu: Emulator) -> None:
    await create_exp(rdb, "u1")
    url = (await rdb.get("/experiments/u1/plots/upload/a.svg")).json()["url"]
    emu.faults.error_rate_503 = 1.0
    assert (await rdb.put(url, content=b"<svg/>")).status_code == 200  # not a service route
    assert_error(await rdb.get("/experiments/u1"), 503)
    emu.faults.error_rate_503 = 0.0
    emu.faults.fail_next(1, 500, path_prefix="/_blob")
    assert_error(await rdb.put(url, content=b"<svg/>"), 500)
    # a prefix relative to the resultsDB mount works too
    emu.faults.fail_next(1, 503, path_prefix="/experiments/u1", method="GET")
    assert (await rdb.get("/devices")).status_code == 200
    assert_error(await rdb.get("/experiments/u1"), 503)
    assert (await rdb.get("/experiments/u1")).status_code == 200


@pytest.mark.asyncio
async def test_concurrent_requests(emu: Emulator) -> None:
    clients = [await login_client(emu.url, f"user-{i % 3}") for i in range(4)]
    try:

        async def work(i: int) -> int:
            c = clients[i % len(clients)]
            r = await c.post("/experiments", json=exp_body(f"c{i:03d}"))
            assert r.status_code == 201
            r = await c.put(f"/experiments/c{i:03d}", json={"notes": str(i)})
            assert r.status_code == 200
            r = await c.get("/experiments", params={"limit": 5})
            assert r.status_code == 200
            return i

        done = await asyncio.gather(*(work(i) for i in range(200)))
        assert sorted(done) == list(range(200))
        total = 0
        for c in clients[:3]:
            marker = None
            while True:
                params = {"limit": 37, **({"marker": marker} if marker else {})}
                body = (await c.get("/experiments", params=params)).json()
                total += len(body["experiments"])
                marker = body.get("marker")
                if not marker:
                    break
        assert total == 200
    finally:
        for c in clients:
            await c.aclose()


# -- a finite capacity ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_capacity_serves_n_queues_as_many_and_refuses_the_rest() -> None:
    config = EmulatorConfig(latency_ms=200, capacity=2, capacity_queue=1, capacity_retry_after=0.5)
    async with serve(config) as emu:
        client = await login_client(emu.url, "token-1")
        async with client:
            started = time.monotonic()
            answers = await asyncio.gather(*(client.get("/devices") for _ in range(5)))
            elapsed = time.monotonic() - started
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [200, 200, 200, 429, 429]
        refused = [r for r in answers if r.status_code == 429]
        assert all(r.headers["retry-after"] == "0.5" for r in refused)
        assert elapsed >= 0.38  # the queued one waited for a place: two service times
        capacity = emu.capacity
        assert capacity is not None
        assert capacity.refused == 2
        assert capacity.peak == 3
        assert capacity.load == 0
        faults = [r.fault for r in emu.request_log if r.path == "/resultsdb/devices"]
        assert sorted(faults, key=str) == [None, None, None, "capacity", "capacity"]


def test_capacity_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="capacity"):
        EmulatorConfig(capacity=0)
    with pytest.raises(ValueError, match="capacity_queue"):
        EmulatorConfig(capacity=2, capacity_queue=-1)
    with pytest.raises(TypeError, match="capacity"):
        EmulatorConfig(capacity=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="capacity_retry_after"):
        EmulatorConfig(capacity=2, capacity_retry_after=-1)
