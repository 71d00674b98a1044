"""The adaptive bound on requests in flight (``async_qexp._limit``): the algorithm on a fake
clock (deterministic: no loop, no sleeping), then the gate on a real loop."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from async_qexp import ConcurrencySnapshot, Provider
from async_qexp._limit import (
    INITIAL_LIMIT,
    MAX_CEILING,
    AdaptiveLimit,
    Limiter,
)


class Server:
    """A closed-loop model of a FIFO server on a fake clock: ``capacity`` requests are served
    at once in ``service`` seconds each; up to ``queue`` more wait their turn, and beyond
    that it refuses. The first round arrives at an idle server (the first ``capacity``
    answers come after ``service``, the next after twice that, ...); after that the loop is
    in its steady state, where every request waits as long as the others."""

    def __init__(self, capacity: int, service: float = 0.020, queue: int | None = None) -> None:
        self.capacity = capacity
        self.service = service
        self.queue = capacity if queue is None else queue
        self.now = 0.0
        self.served = 0
        self.refused = 0
        self.rounds = 0

    def round(self, limit: AdaptiveLimit) -> int:
        """Keep ``limit.limit`` requests in flight for one round trip; returns how many."""
        sent = limit.limit
        accepted = min(sent, self.capacity + self.queue)
        steady = self.service * max(1.0, accepted / self.capacity)
        for i in range(accepted):
            latency = self.service * (1 + i // self.capacity) if self.rounds == 0 else steady
            self.now += steady / accepted
            limit.on_answer(self.now, latency, accepted)  # a closed loop: always full
        self.rounds += 1
        self.served += accepted
        for _ in range(sent - accepted):
            self.refused += 1
            limit.on_refusal(self.now)
        return sent


def test_slow_start_doubles_every_round_trip_while_latency_is_flat() -> None:
    limit = AdaptiveLimit(initial=8)
    server = Server(capacity=10_000)
    seen = []
    for _ in range(5):
        server.round(limit)
        seen.append(limit.limit)
    assert seen == [16, 32, 64, 128, 256]
    assert limit.slow_start
    assert limit.baseline == pytest.approx(0.020)


def test_the_limit_settles_near_a_servers_capacity_and_is_refused_rarely() -> None:
    for capacity in (16, 40, 100, 300):
        limit = AdaptiveLimit(initial=4)
        server = Server(capacity=capacity)
        history = []
        for _ in range(200):
            server.round(limit)
            history.append(limit.limit)
        late = history[-100:]
        assert not limit.slow_start
        # Throughput is flat from `capacity` on; the queue it builds stays within tolerance.
        assert capacity <= min(late), (capacity, late[-10:])
        assert max(late) <= 2.5 * capacity, (capacity, late[-10:])
        assert server.refused <= 0.02 * (server.served + server.refused)


def test_a_refusal_backs_off_once_per_round_trip_and_ends_slow_start() -> None:
    limit = AdaptiveLimit(initial=100)
    limit.on_answer(0.020, 0.020, 100)  # one round trip known: 20 ms
    limit.on_refusal(1.0)
    assert limit.limit == 70
    assert not limit.slow_start
    limit.on_refusal(1.010)  # the same loss episode: within one round trip
    assert limit.limit == 70
    limit.on_refusal(1.030)
    assert limit.limit == 49


def test_the_limit_stays_within_one_and_the_ceiling() -> None:
    limit = AdaptiveLimit(initial=10, ceiling=50)
    server = Server(capacity=10_000, service=0.001)
    for _ in range(50):
        server.round(limit)
    assert limit.limit == 50
    now = 10.0
    for _ in range(100):
        now += 1.0
        limit.on_refusal(now)
    assert limit.limit == 1
    assert limit.value >= 1.0


def test_an_unused_limit_does_not_grow() -> None:
    limit = AdaptiveLimit(initial=64)
    now = 0.0
    for _ in range(500):  # one request at a time: the limit says nothing about the server
        now += 0.020
        limit.on_answer(now, 0.020, 1)
    assert limit.limit == 64


def test_latency_that_grows_with_the_limit_ends_slow_start_and_shrinks_it() -> None:
    limit = AdaptiveLimit(initial=64, floor=4)
    server = Server(capacity=16, queue=1_000)  # 64 in flight: 4x the unloaded latency
    for _ in range(30):
        server.round(limit)
    assert not limit.slow_start
    assert 16 <= limit.limit <= 48  # about tolerance (1.5) x the capacity, and a step
    assert server.refused == 0


def test_latency_alone_never_takes_the_limit_below_the_floor_but_refusals_do() -> None:
    limit = AdaptiveLimit(initial=64)  # the floor is the initial limit
    server = Server(capacity=16, queue=1_000)
    for _ in range(30):
        server.round(limit)
    assert limit.limit == 64
    now = server.now
    for _ in range(5):
        now += 1.0
        limit.on_refusal(now)
    assert limit.limit < 64


def test_the_baseline_drifts_up_slowly_towards_a_server_that_became_slower() -> None:
    limit = AdaptiveLimit(initial=8, min_window_samples=1)
    now = 0.0
    for latency in [0.010] * 5 + [0.030] * 50:
        now += latency
        limit.on_answer(now, latency, 8)
    assert limit.baseline is not None
    assert 0.010 < limit.baseline < 0.012


def test_constructor_bounds() -> None:
    with pytest.raises(ValueError, match="ceiling"):
        AdaptiveLimit(ceiling=0)
    with pytest.raises(ValueError, match="ceiling"):
        AdaptiveLimit(ceiling=MAX_CEILING + 1)
    assert AdaptiveLimit(ceiling=10).limit == 10  # the initial limit is capped
    assert AdaptiveLimit().limit == INITIAL_LIMIT
    with pytest.raises(ValueError, match="at least 1"):
        Limiter(0)


# -- the gate ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_held_slot_stays_taken_until_unheld_then_admits_a_waiter() -> None:
    gate = Limiter(1)
    admitted = await gate.acquire()
    gate.hold()  # the exchange goes on after its caller left ...
    gate.release(admitted, "ignored")  # ... which gives its own slot back
    assert gate.in_flight == 1
    with anyio.fail_after(5):
        waiting = asyncio.create_task(gate.acquire())
        await asyncio.sleep(0.01)
        assert not waiting.done()
        assert gate.snapshot().waiting == 1
        gate.unhold()
        await waiting
    assert gate.in_flight == 1
    gate.release(waiting.result(), "ok")
    assert gate.in_flight == 0


@pytest.mark.asyncio
async def test_a_fixed_limit_admits_that_many_in_arrival_order() -> None:
    gate = Limiter(3)
    order: list[int] = []
    peak = 0
    release = asyncio.Event()

    async def request(i: int) -> None:
        nonlocal peak
        admitted = await gate.acquire()
        order.append(i)
        peak = max(peak, gate.in_flight)
        await release.wait()
        gate.release(admitted, "ok")

    with anyio.fail_after(5):
        tasks = [asyncio.create_task(request(i)) for i in range(10)]
        await asyncio.sleep(0.01)
        assert gate.in_flight == 3
        assert gate.snapshot().waiting == 7
        release.set()
        await asyncio.gather(*tasks)
    assert order == list(range(10))
    assert peak == 3
    assert gate.in_flight == 0


@pytest.mark.asyncio
async def test_retry_after_pauses_every_sender() -> None:
    gate = Limiter(AdaptiveLimit(initial=10))
    admitted = await gate.acquire()
    gate.release(admitted, "refused", retry_after=0.2)
    snapshot = gate.snapshot()
    assert snapshot.refusals == 1
    assert 0.1 < snapshot.paused_for <= 0.2
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def one() -> float:
        admitted = await gate.acquire()
        sent = loop.time()
        gate.release(admitted, "ok")
        return sent

    with anyio.fail_after(5):
        sent = await asyncio.gather(*(one() for _ in range(3)))
    assert min(sent) - started >= 0.18  # nobody was admitted during the pause
    assert gate.in_flight == 0
    assert gate.snapshot().paused_for == 0


@pytest.mark.asyncio
async def test_a_cancelled_waiter_gives_its_slot_back() -> None:
    gate = Limiter(1)
    first = await gate.acquire()
    waiter = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    gate.release(first, "ok")  # granted to the waiter ...
    waiter.cancel()  # ... which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert gate.in_flight == 0
    with anyio.fail_after(1):
        gate.release(await gate.acquire(), "ok")


@pytest.mark.asyncio
async def test_timeouts_and_refusals_are_counted_and_closing_admits_waiters() -> None:
    gate = Limiter(AdaptiveLimit(initial=1))
    admitted = await gate.acquire()
    waiter = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    gate.pause(60)
    gate.release(admitted, "timeout")
    assert gate.snapshot().timeouts == 1
    assert not waiter.done()
    gate.close()
    with anyio.fail_after(1):
        gate.release(await waiter, "ignored")
    snapshot = gate.snapshot()
    assert snapshot == ConcurrencySnapshot(
        adaptive=True,
        limit=1,
        ceiling=1024,
        in_flight=0,
        waiting=0,
        refusals=0,
        timeouts=1,
        paused_for=0.0,
        latency_ms=None,
        baseline_ms=None,
        slow_start=False,
    )


def test_workers_cover_the_limit_with_headroom_within_the_ceiling() -> None:
    assert Limiter(AdaptiveLimit(initial=64)).workers() == 81
    assert Limiter(AdaptiveLimit(initial=64, ceiling=70)).workers() == 70
    assert Limiter(8).workers() == 8


# -- the provider's arguments ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"max_in_flight": "fast"}, ValueError),
        ({"max_in_flight": 0}, ValueError),
        ({"max_in_flight": MAX_CEILING + 1}, ValueError),
        ({"max_in_flight": 2.5}, TypeError),
        ({"max_in_flight": True}, TypeError),
        ({"max_in_flight_ceiling": 0}, ValueError),
        ({"max_in_flight_ceiling": 2000}, ValueError),
        ({"max_in_flight_ceiling": "10"}, TypeError),
        ({"max_in_flight": 10, "max_in_flight_ceiling": 20}, ValueError),
    ],
)
def test_bad_bounds_are_refused_before_anything_is_sent(
    kwargs: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error, match="max_in_flight"):
        Provider(token="t", url="http://127.0.0.1:9", **kwargs)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_after_a_pause_senders_come_back_gradually() -> None:
    gate = Limiter(16)
    gate.release(await gate.acquire(), "refused", retry_after=0.05)
    with anyio.fail_after(5):
        waiters = [asyncio.create_task(gate.acquire()) for _ in range(16)]
        await asyncio.sleep(0.15)  # the pause is over
        assert gate.in_flight == 2  # an eighth of the limit
        first = [w for w in waiters if w.done()]
        assert len(first) == 2
        gate.release(first[0].result(), "ok")  # an answer: its slot, and one more
        first[0].released = True  # type: ignore[attr-defined]
        await asyncio.sleep(0)
        assert gate.in_flight == 3
        while not all(w.done() for w in waiters):
            for w in waiters:
                if w.done() and not getattr(w, "released", False):
                    w.released = True  # type: ignore[attr-defined]
                    gate.release(w.result(), "ok")
            await asyncio.sleep(0)
        for w in waiters:
            if not getattr(w, "released", False):
                gate.release(w.result(), "ok")
    assert gate.in_flight == 0
    assert gate._admits() == 16  # ramped back to the whole limit
