"""The client-wide bound on requests in flight: fixed, or found by itself (``"auto"``).

:class:`AdaptiveLimit` is the algorithm, a plain object fed with the outcome of every request
and a clock reading (so it is tested with a fake clock, no loop, no sleeping). It is a latency
gradient in the spirit of TCP congestion control and Netflix's concurrency-limits:

* **Round trips.** Completed requests are grouped into *windows* of about one round trip (at
  least ``min_window_samples`` answers and at least the smoothed latency). A window's mean
  latency is compared with the *baseline*: the fastest answer seen, which even a queueing
  server gives now and then (it drifts up very slowly, so a server that became slower for
  good is not held to its old pace forever).
* **Slow start.** From :data:`INITIAL_LIMIT`, every answer that came back within
  ``tolerance`` x baseline adds one to the limit while the limit is in use (at least half of it
  in flight): the limit doubles every round trip while latency stays flat.
* **Avoidance.** The first window whose mean latency exceeds ``tolerance`` x baseline ends
  slow start; from then on each window moves the limit towards
  ``limit x gradient + sqrt(limit)``, where ``gradient = tolerance x baseline / latency``,
  clamped to [0.5, 1]: it settles where latency is about ``tolerance`` x the unloaded
  latency (1.5: the queue the client builds at the server adds about half of it), and grows
  by about ``sqrt(limit)`` per round trip while latency stays flat; near the limit of the
  last refusal it probes by one request per round trip (as CUBIC plateaus near its last
  loss), so refusals stay rare.
* **A floor for latency.** Latency alone never takes the limit below ``floor`` (the initial
  limit, 64: the fixed default of earlier versions); only refusals and timeouts do. A client
  short of CPU (a busy machine, a local emulator on the same cores) sees its own lag as
  latency, and would otherwise starve its upload blaming the server for it.
* **Refusals.** A 429, a 503 or a timeout multiplies the limit by ``backoff`` (at most once
  per round trip, as TCP does for one loss episode) and ends slow start.
* **Bounds.** The limit stays within [1, ceiling]; the ceiling is at most
  :data:`MAX_CEILING`.

:class:`Limiter` is the gate every request passes: it admits requests while fewer than the
limit are in flight, in arrival order, and holds every sender while a ``Retry-After`` runs
(not only the request that got it); when the pause ends, senders come back gradually (from an
eighth of the limit, one more per answer: doubling every round trip), so that they do not all
meet the server that just refused them at the same instant. A fixed limit
(``max_in_flight=64``) uses the same gate with a limit that never moves.
:meth:`Limiter.snapshot` is the public, read-only view (:class:`ConcurrencySnapshot`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import time
from collections.abc import Callable
from typing import Literal

import attrs

__all__ = [
    "DEFAULT_CEILING",
    "INITIAL_LIMIT",
    "MAX_CEILING",
    "AdaptiveLimit",
    "ConcurrencySnapshot",
    "Limiter",
    "Outcome",
]

MAX_CEILING = 1024
"""The largest limit, and the largest ceiling a user may set."""

DEFAULT_CEILING = 1024
"""The ceiling of ``max_in_flight="auto"`` unless ``max_in_flight_ceiling`` says otherwise."""

INITIAL_LIMIT = 64
"""Where ``"auto"`` starts (the fixed default of earlier versions), or the ceiling if lower."""

Outcome = Literal["ok", "refused", "timeout", "ignored"]
"""What became of one request, for the limiter: an answer whose latency counts (``"ok"``),
a 429 or 503 (``"refused"``), a timeout, or anything that says nothing about load
(``"ignored"``: a connection refused, a 500, a cancellation)."""


@attrs.frozen
class ConcurrencySnapshot:
    """The client-wide bound on requests in flight, at one moment (read-only).

    ``provider.concurrency`` gives one; read it again for fresh values.

    Attributes:
        adaptive: whether the limit finds itself (``max_in_flight="auto"``) or is fixed.
        limit: the requests allowed in flight now.
        ceiling: the most the limit may grow to (the fixed limit itself when not adaptive).
        in_flight: requests in flight now.
        waiting: requests waiting for a slot (or for a ``Retry-After`` pause to end).
        refusals: answers 429 or 503 so far.
        timeouts: requests that timed out so far.
        paused_for: seconds left of a ``Retry-After`` pause that holds every sender (0: none).
        latency_ms: the mean latency of the last round trip measured, if any (adaptive only).
        baseline_ms: the unloaded latency the limiter compares with, if known (adaptive only).
        slow_start: whether the limit still doubles every round trip (adaptive only).
    """

    adaptive: bool
    limit: int
    ceiling: int
    in_flight: int
    waiting: int
    refusals: int
    timeouts: int
    paused_for: float
    latency_ms: float | None = None
    baseline_ms: float | None = None
    slow_start: bool = False


class AdaptiveLimit:
    """The latency-gradient algorithm (module docstring); pure, driven by clock readings.

    Args:
        ceiling: the largest limit (1 to :data:`MAX_CEILING`).
        initial: the starting limit (capped by the ceiling).
        tolerance: how much the round-trip latency may grow over the baseline before the
            limit stops growing.
        backoff: the factor applied to the limit on a refusal or a timeout.
        smoothing: how far each window moves the limit towards its target (0 to 1).
        min_window_samples: answers a window needs before it may close.
        baseline_drift: how far the baseline moves up towards a higher window mean, per window.
        floor: latency alone never takes the limit below this (refusals and timeouts do);
            default: the initial limit.
    """

    def __init__(
        self,
        *,
        ceiling: int = DEFAULT_CEILING,
        initial: int = INITIAL_LIMIT,
        tolerance: float = 1.5,
        backoff: float = 0.7,
        smoothing: float = 0.5,
        min_window_samples: int = 8,
        baseline_drift: float = 0.002,
        floor: int | None = None,
    ) -> None:
        if not 1 <= ceiling <= MAX_CEILING:
            raise ValueError(f"the ceiling must be from 1 to {MAX_CEILING}, not {ceiling}")
        self.ceiling = ceiling
        self.tolerance = tolerance
        self.backoff = backoff
        self.smoothing = smoothing
        self.min_window_samples = min_window_samples
        self.baseline_drift = baseline_drift
        self.value = float(max(1, min(initial, ceiling)))
        self.floor = self.value if floor is None else float(max(1, min(floor, ceiling)))
        self.slow_start = True
        self.baseline: float | None = None
        self.last_latency: float | None = None
        self._smoothed: float | None = None  # of every answer's latency: the round trip
        self._refused_at: float | None = None  # the limit of the last refusal
        self._window_start: float | None = None
        self._window_count = 0
        self._window_sum = 0.0
        self._window_min = math.inf
        self._window_peak = 0
        self._last_decrease = -math.inf

    @property
    def limit(self) -> int:
        """The limit as a whole number of requests (at least 1)."""
        return max(1, int(self.value))

    def _clamp(self) -> None:
        self.value = min(float(self.ceiling), max(1.0, self.value))

    def _round_trip(self) -> float:
        """The length of a round trip as far as known (0 before any answer)."""
        return self._smoothed or 0.0

    def on_answer(self, now: float, latency: float, in_flight: int) -> None:
        """Record an answer that came ``latency`` seconds after its request was admitted;
        ``in_flight`` counts the requests in flight when it came (itself included)."""
        if self._window_start is None:
            self._window_start = now - latency
        if self._smoothed is None:
            self._smoothed = latency
        else:
            self._smoothed += (latency - self._smoothed) / 8
        self._window_count += 1
        self._window_sum += latency
        self._window_min = min(self._window_min, latency)
        self._window_peak = max(self._window_peak, in_flight)
        in_use = in_flight * 2 >= self.value
        if self.slow_start and in_use:
            reference = self.baseline if self.baseline is not None else self._window_min
            if latency <= self.tolerance * reference:
                self.value += 1.0
                self._clamp()
        if (
            self._window_count >= self.min_window_samples
            and now - self._window_start >= self._round_trip()
        ):
            self._close_window(now)

    def _close_window(self, now: float) -> None:
        assert self._window_start is not None
        mean = self._window_sum / self._window_count
        fastest = self._window_min
        peak = self._window_peak
        self._window_start = now
        self._window_count = 0
        self._window_sum = 0.0
        self._window_min = math.inf
        self._window_peak = 0
        self.last_latency = mean
        # The baseline is the fastest answer seen (the unloaded latency: even a queueing
        # server answers some requests at once), drifting up slowly.
        if self.baseline is None or fastest < self.baseline:
            self.baseline = fastest
        else:
            self.baseline += (fastest - self.baseline) * self.baseline_drift
        gradient = max(0.5, min(1.0, self.tolerance * self.baseline / mean))
        if self.slow_start:
            if gradient < 1.0:
                self.slow_start = False
                self.value = max(self.value * gradient, min(self.floor, self.value))
                self._clamp()
            return
        step = math.sqrt(self.value)
        refused_at = self._refused_at
        if refused_at is not None:
            if self.value > 1.2 * refused_at:
                self._refused_at = None  # well past it without a refusal: the server grew
            elif self.value > 0.85 * refused_at:
                step = 1.0 / self.smoothing  # near where it refused: probe one at a time
        target = self.value * gradient + step
        if target > self.value and peak * 2 < self.value:
            return  # the limit is not in use: growing it would say nothing
        # Latency alone never takes the limit below the floor (only refusals do): a client
        # short of CPU sees its own lag as latency, and blaming the server for it would
        # starve the upload.
        target = max(target, min(self.floor, self.value))
        self.value += (target - self.value) * self.smoothing
        self._clamp()

    def on_refusal(self, now: float) -> None:
        """Record a 429, a 503 or a timeout: back off (once per round trip)."""
        self.slow_start = False
        if now - self._last_decrease < self._round_trip():
            return
        self._last_decrease = now
        self._refused_at = self.value
        self.value *= self.backoff
        self._clamp()


class Limiter:
    """The gate of every request: a fixed or adaptive limit, FIFO, with Retry-After pauses.

    Args:
        limit: a fixed number of requests in flight, or an :class:`AdaptiveLimit`.
        clock: the monotonic clock (seconds); tests pass a fake one.
    """

    def __init__(
        self, limit: int | AdaptiveLimit, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.adaptive: AdaptiveLimit | None = limit if isinstance(limit, AdaptiveLimit) else None
        self._fixed = limit if isinstance(limit, int) else 0
        if self.adaptive is None and self._fixed < 1:
            raise ValueError("a fixed limit must be at least 1")
        self._clock = clock
        self.in_flight = 0
        self.refusals = 0
        self.timeouts = 0
        self._paused_until = -math.inf
        self._ramp: float | None = None  # after a pause: a cap that doubles per round trip
        self._resume: asyncio.TimerHandle | None = None
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def limit(self) -> int:
        """The requests allowed in flight now."""
        return self.adaptive.limit if self.adaptive is not None else self._fixed

    @property
    def ceiling(self) -> int:
        """The most the limit may be (the fixed limit itself when not adaptive)."""
        return self.adaptive.ceiling if self.adaptive is not None else self._fixed

    def paused_for(self) -> float:
        """Seconds left of the current ``Retry-After`` pause (0 when there is none)."""
        return max(0.0, self._paused_until - self._clock())

    def snapshot(self) -> ConcurrencySnapshot:
        """The public, read-only view of the bound now."""
        adaptive = self.adaptive
        return ConcurrencySnapshot(
            adaptive=adaptive is not None,
            limit=self.limit,
            ceiling=self.ceiling,
            in_flight=self.in_flight,
            waiting=len(self._waiters),
            refusals=self.refusals,
            timeouts=self.timeouts,
            paused_for=self.paused_for(),
            latency_ms=(
                adaptive.last_latency * 1000
                if adaptive is not None and adaptive.last_latency is not None
                else None
            ),
            baseline_ms=(
                adaptive.baseline * 1000
                if adaptive is not None and adaptive.baseline is not None
                else None
            ),
            slow_start=adaptive.slow_start if adaptive is not None else False,
        )

    def workers(self) -> int:
        """How many workers a bulk operation should run to keep this bound busy: the limit
        and some headroom (so a growing limit finds requests ready), at most the ceiling."""
        limit = self.limit
        return min(self.ceiling, limit + limit // 4 + 1)

    async def acquire(self) -> float:
        """Wait for a slot (in arrival order, and not during a pause); returns the clock
        reading when the slot was granted, which :meth:`release` needs."""
        if not self._waiters and self.in_flight < self._admits() and not self._paused():
            self.in_flight += 1
            return self._clock()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.in_flight -= 1  # granted, then cancelled before it could be used
                self._grant()
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise
        return self._clock()

    def release(
        self, admitted: float, outcome: Outcome, *, retry_after: float | None = None
    ) -> None:
        """Give back a slot taken at clock reading ``admitted``, saying what became of the
        request; ``retry_after`` (seconds) pauses every sender that long."""
        now = self._clock()
        in_flight = self.in_flight
        self.in_flight -= 1
        if outcome == "refused":
            self.refusals += 1
        elif outcome == "timeout":
            self.timeouts += 1
        adaptive = self.adaptive
        if adaptive is not None:
            if outcome == "ok":
                adaptive.on_answer(now, now - admitted, in_flight)
            elif outcome in ("refused", "timeout"):
                adaptive.on_refusal(now)
        if self._ramp is not None and outcome == "ok":
            self._ramp += 1.0  # one more per answer: twice as many per round trip
            if self._ramp >= self.limit:
                self._ramp = None
        if retry_after is not None and retry_after > 0:
            self.pause(retry_after)
        self._grant()

    def hold(self) -> None:
        """Count one more request in flight at once, without waiting for room: an exchange
        that goes on after its caller gave its slot back (it still holds a connection).
        :meth:`unhold` ends it."""
        self.in_flight += 1

    def unhold(self) -> None:
        """End a :meth:`hold` (its exchange is over) and admit a waiter in its place."""
        self.in_flight -= 1
        self._grant()

    def pause(self, seconds: float) -> None:
        """Hold every sender for ``seconds`` (a ``Retry-After``); a longer pause under way
        is kept."""
        until = self._clock() + seconds
        if until <= self._paused_until:
            return
        self._paused_until = until
        # When it ends, the senders come back gradually (from an eighth of the limit,
        # doubling every round trip), not all at once into the server that just refused.
        self._ramp = max(1.0, self.limit / 8)
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None
        self._arm()

    def _arm(self) -> None:
        """Make sure a timer admits the waiters when the pause ends."""
        if self._resume is None:
            self._resume = asyncio.get_running_loop().call_later(self.paused_for(), self._on_resume)

    def _on_resume(self) -> None:
        self._resume = None
        self._grant()

    def _admits(self) -> int:
        """The requests admitted now: the limit, or less while senders come back from a
        pause."""
        return self.limit if self._ramp is None else min(self.limit, int(self._ramp))

    def _paused(self) -> bool:
        return self._clock() < self._paused_until

    def _grant(self) -> None:
        """Admit waiters while there is room and no pause."""
        if self._paused():
            if self._waiters:
                self._arm()  # (a timer may fire a hair early: it re-arms itself here)
            return
        limit = self._admits()
        while self._waiters and self.in_flight < limit:
            waiter = self._waiters.popleft()
            if waiter.done():  # pragma: no cover - cancelled waiters remove themselves
                continue
            self.in_flight += 1
            waiter.set_result(None)

    def close(self) -> None:
        """End any pause and admit every waiter (the session is closing: each of them then
        finds it closed and gives its slot back)."""
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None
        self._paused_until = -math.inf
        self._ramp = None
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)
