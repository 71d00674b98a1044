"""The client-wide bound on requests in flight at work: it grows against a server whose
latency stays flat, a ``Retry-After`` pauses every sender, a fixed bound stays fixed, and
against an emulator of finite capacity it settles near that capacity with few 429s and
nothing lost."""

from __future__ import annotations

import asyncio
import time

import anyio
import httpx
import pytest

from async_qexp import Provider, RetryPolicy
from async_qexp._config import client_application
from async_qexp._http import HttpSession
from async_qexp._tasks import drain
from async_qexp.emulator import EmulatorConfig
from async_qexp.experiment import ExperimentData

pytestmark = pytest.mark.asyncio

URL = "http://service.test/thing"


class FlatServer:
    """A mock server answering after ``latency`` seconds however many requests it holds
    (``refuse``: answer the first request 429 with that Retry-After)."""

    def __init__(self, latency: float, refuse: float | None = None) -> None:
        self.latency = latency
        self.refuse = refuse
        self.in_flight = 0
        self.peak = 0
        self.arrivals: list[float] = []
        self.refused_at: float | None = None

    async def handler(self, request: httpx.Request) -> httpx.Response:
        now = time.monotonic()
        self.arrivals.append(now)
        if self.refuse is not None and self.refused_at is None:
            self.refused_at = now
            return httpx.Response(429, headers={"Retry-After": str(self.refuse)}, json={})
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.latency)
        finally:
            self.in_flight -= 1
        return httpx.Response(200, json={})


def session_for(server: FlatServer, **options: object) -> HttpSession:
    assert client_application()
    return HttpSession(
        transport=httpx.MockTransport(server.handler),
        timeout=10.0,
        retry=RetryPolicy(max_attempts=3, backoff_initial=0.01, backoff_max=0.05),
        user_agent="test",
        **options,  # type: ignore[arg-type]
    )


async def test_auto_grows_past_the_old_default_while_latency_stays_flat() -> None:
    server = FlatServer(latency=0.010)
    session = session_for(server, max_in_flight="auto")
    try:
        with anyio.fail_after(30):

            async def one(_: int) -> None:
                await session.request("GET", URL)

            await drain(range(3000), one, width=session.workers)
        snapshot = session.concurrency
        assert snapshot.adaptive
        assert snapshot.limit > 64
        assert server.peak > 64  # the pool and the workers followed the limit
        assert snapshot.in_flight == 0
        assert snapshot.refusals == 0
        assert snapshot.baseline_ms is not None
        assert snapshot.baseline_ms >= 10
    finally:
        await session.aclose()


async def test_the_ceiling_caps_the_bound() -> None:
    server = FlatServer(latency=0.005)
    session = session_for(server, max_in_flight="auto", max_in_flight_ceiling=20)
    try:
        with anyio.fail_after(30):

            async def one(_: int) -> None:
                await session.request("GET", URL)

            await drain(range(500), one, width=session.workers)
        assert server.peak <= 20
        assert session.concurrency.limit == session.concurrency.ceiling == 20
    finally:
        await session.aclose()


async def test_a_fixed_bound_stays_fixed() -> None:
    server = FlatServer(latency=0.005)
    session = session_for(server, max_in_flight=5)
    try:
        with anyio.fail_after(30):
            await asyncio.gather(*(session.request("GET", URL) for _ in range(100)))
        assert server.peak == 5
        snapshot = session.concurrency
        assert not snapshot.adaptive
        assert snapshot.limit == snapshot.ceiling == 5
    finally:
        await session.aclose()


@pytest.mark.parametrize("bound", ["auto", 8])
async def test_retry_after_pauses_every_sender(bound: str | int) -> None:
    server = FlatServer(latency=0.001, refuse=0.3)
    session = session_for(server, max_in_flight=bound)
    try:
        with anyio.fail_after(10):
            first = asyncio.create_task(session.request("GET", URL))
            while server.refused_at is None or session.concurrency.paused_for == 0:  # noqa: ASYNC110
                await asyncio.sleep(0.001)
            assert session.concurrency.refusals == 1
            others = [asyncio.create_task(session.request("GET", URL)) for _ in range(5)]
            await asyncio.gather(first, *others)
        assert server.refused_at is not None
        later = [t - server.refused_at for t in server.arrivals[1:]]
        assert len(later) == 6  # the retry of the first, and the five others
        assert min(later) >= 0.25, later  # nobody was sent during the pause
    finally:
        await session.aclose()


async def test_against_a_server_of_finite_capacity_it_settles_near_it_and_loses_nothing() -> None:
    config = EmulatorConfig(latency_ms=20, capacity=16, capacity_retry_after=0.05)
    async with Provider.local(emulator=config) as provider:
        emulator = provider.emulator
        assert emulator is not None
        assert emulator.capacity is not None
        service = provider.experiment
        exp_id = await service.create_experiment("Capacity", "ibmq_qasm_simulator")
        with anyio.fail_after(45):
            report = await service.create_analysis_results(
                [{"experiment_id": exp_id, "result_type": "T1"} for _ in range(800)]
            )
        assert report.ok, report.failed[:3]
        assert len(report.created) == 800
        stored = await service.analysis_results(experiment_id=exp_id, limit=None)
        assert len(stored) == 800
        capacity = emulator.capacity
        snapshot = provider.concurrency
        # It used the capacity, and was refused for a small share of the requests.
        assert capacity.peak >= 16
        assert capacity.refused == snapshot.refusals
        assert capacity.refused <= 0.1 * 800, capacity.refused
        assert 4 <= snapshot.limit <= 64, snapshot


async def test_save_follows_the_providers_bound() -> None:
    config = EmulatorConfig(latency_ms=5)
    async with Provider.local(emulator=config, max_in_flight="auto") as provider:
        exp = ExperimentData(
            service=provider.experiment, experiment_type="T1", backend="ibmq_qasm_simulator"
        )
        for i in range(300):
            exp.add_analysis_results(name="T1", value=float(i))
        with anyio.fail_after(45):
            report = await exp.save(suppress_errors=False)
        assert report.sent == 301
        assert provider.concurrency.in_flight == 0
        assert provider.emulator is not None
        assert (
            len(
                await provider.experiment.analysis_results(
                    experiment_id=exp.experiment_id, limit=None
                )
            )
            == 300
        )
