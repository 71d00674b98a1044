"""Fault injection: random error rates, dropped connections and a deterministic script."""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any, overload

import attrs

__all__ = [
    "FAULT_SETTINGS",
    "FaultDecision",
    "FaultRule",
    "FaultSettings",
    "RequestLog",
    "RequestRecord",
    "StreamDropRule",
]


def _reseed(instance: FaultSettings, attribute: Any, value: int | None) -> int | None:
    instance._rng = random.Random(value)
    return value


def _rate(instance: Any, attribute: Any, value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be within [0, 1]")
    return value


@attrs.define(eq=False)
class FaultRule:
    """One scripted fault, consumed by the next ``remaining`` matching requests."""

    remaining: int
    status: int = 503
    path_prefix: str | None = None
    method: str | None = None
    after_processing: bool = False
    drop: bool = False
    retry_after: float | int | None = None

    def matches(self, method: str, path: str, service_route: bool) -> bool:
        """Whether this rule applies to a request."""
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.path_prefix is None:
            return service_route
        if path.startswith(self.path_prefix):
            return True
        # also accept a prefix relative to the service mount ("/experiments" for
        # "/resultsdb/experiments", "/jobs" for "/runtime/jobs")
        for mount in ("/resultsdb", "/runtime"):
            if path.startswith(mount + "/") and path[len(mount) :].startswith(self.path_prefix):
                return True
        return False


@attrs.define(eq=False)
class StreamDropRule:
    """A scripted fault of the runtime result stream: break the next ``remaining`` streams
    (of ``job_id``, or of any job) after ``after`` data frames."""

    after: int
    remaining: int = 1
    job_id: str | None = None


@attrs.frozen
class FaultDecision:
    """What to do to one request: answer ``status`` or drop; before or after handling it."""

    status: int | None
    drop: bool
    after_processing: bool
    retry_after: float | int | None


FAULT_SETTINGS = (
    "error_rate_500",
    "error_rate_503",
    "error_rate_429",
    "retry_after",
    "drop_rate",
    "seed",
)
"""The settings of a :class:`FaultSettings` (its rates, ``retry_after`` and ``seed``)."""


@attrs.define(eq=False)
class FaultSettings:
    """Fault-injection settings; the emulator's live instance is mutable at runtime.

    Random faults (rates in ``[0, 1]``) apply to ``/resultsdb`` and ``/runtime`` routes only
    (never to authentication routes nor to signed uploads under ``/_blob``; script those with
    ``fail_next(path_prefix="/_blob")``). A drawn fault is answered *before*
    the request is handled. ``error_rate_429`` answers carry ``Retry-After: <retry_after>``
    (emitted exactly as given, fractional seconds allowed). ``drop_rate`` closes the
    connection without any response. ``seed`` makes the draws reproducible (assigning it
    re-seeds). :meth:`fail_next` scripts deterministic faults, which take precedence.
    """

    error_rate_500: float = attrs.field(default=0.0, on_setattr=_rate, converter=float)
    error_rate_503: float = attrs.field(default=0.0, on_setattr=_rate, converter=float)
    error_rate_429: float = attrs.field(default=0.0, on_setattr=_rate, converter=float)
    retry_after: float | int = 1
    drop_rate: float = attrs.field(default=0.0, on_setattr=_rate, converter=float)
    seed: int | None = attrs.field(default=None, on_setattr=_reseed)
    _rng: random.Random = attrs.field(init=False, repr=False)
    _rules: deque[FaultRule] = attrs.field(init=False, repr=False, factory=deque)
    _lock: threading.Lock = attrs.field(init=False, repr=False, factory=threading.Lock)
    _stream_drops: deque[StreamDropRule] = attrs.field(init=False, repr=False, factory=deque)

    def __attrs_post_init__(self) -> None:
        for name in ("error_rate_500", "error_rate_503", "error_rate_429", "drop_rate"):
            _rate(self, attrs.fields_dict(FaultSettings)[name], getattr(self, name))
        self._rng = random.Random(self.seed)

    def copy(self) -> FaultSettings:
        """A fresh controller with the same rates and seed and no scripted faults."""
        return FaultSettings(**{name: getattr(self, name) for name in FAULT_SETTINGS})

    def fail_next(
        self,
        count: int = 1,
        status: int = 503,
        *,
        path_prefix: str | None = None,
        method: str | None = None,
        after_processing: bool = False,
        drop: bool = False,
        retry_after: float | None = None,
    ) -> FaultRule:
        """Make the next ``count`` matching requests fail.

        ``path_prefix`` is matched against the full request path (e.g.
        ``"/resultsdb/experiments"``, ``"/_blob"``, ``"/api/users"``) or against the path
        relative to the ``/resultsdb``/``/runtime`` mount (``"/experiments"``); without it
        only ``/resultsdb`` and ``/runtime`` routes match. ``method`` restricts to one HTTP method.
        ``drop=True`` closes the connection without a response instead of answering
        ``status``. ``after_processing=True`` really handles the request first (e.g. the
        experiment IS created), then replaces its response with the fault. ``retry_after``
        adds a ``Retry-After`` header (a 429 without it uses :attr:`retry_after`).
        Returns the rule; its ``remaining`` counts down to 0.
        """
        if count < 1:
            raise ValueError("count must be >= 1")
        rule = FaultRule(
            remaining=count,
            status=status,
            path_prefix=path_prefix,
            method=method,
            after_processing=after_processing,
            drop=drop,
            retry_after=retry_after,
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def drop_stream_after(
        self, messages: int, count: int = 1, *, job_id: str | None = None
    ) -> StreamDropRule:
        """Break the next ``count`` runtime result streams after ``messages`` data frames.

        The server closes the websocket with code 1011 (not 1000) once it has sent
        ``messages`` data frames (the ACK does not count; if the job ends with exactly that
        many messages, the stream still breaks instead of closing 1000), so the client must
        reconnect;
        the next connection replays the job's messages from the first. ``job_id`` limits
        the rule to one job's streams. Returns the rule; its ``remaining`` counts down.
        """
        if count < 1 or messages < 0:
            raise ValueError("count must be >= 1 and messages >= 0")
        rule = StreamDropRule(after=messages, remaining=count, job_id=job_id)
        with self._lock:
            self._stream_drops.append(rule)
        return rule

    def take_stream_drop(self, job_id: str) -> int | None:
        """For a new stream of ``job_id``: after how many data frames to break it, if at all."""
        with self._lock:
            for rule in self._stream_drops:
                if rule.job_id is None or rule.job_id == job_id:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._stream_drops.remove(rule)
                    return rule.after
        return None

    def clear(self) -> None:
        """Remove scripted faults and set every rate to 0."""
        with self._lock:
            self._rules.clear()
            self._stream_drops.clear()
        self.error_rate_500 = self.error_rate_503 = self.error_rate_429 = 0.0
        self.drop_rate = 0.0

    @property
    def pending(self) -> int:
        """Number of scripted faults still to be consumed."""
        with self._lock:
            return sum(r.remaining for r in self._rules)

    def decide(self, method: str, path: str, service_route: bool) -> FaultDecision | None:
        """Decide the fault for one request (consumes scripted rules and random draws)."""
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path, service_route):
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                    retry_after = rule.retry_after
                    if retry_after is None and rule.status == 429:
                        retry_after = self.retry_after
                    return FaultDecision(
                        status=None if rule.drop else rule.status,
                        drop=rule.drop,
                        after_processing=rule.after_processing,
                        retry_after=retry_after,
                    )
        if not service_route:
            return None
        total = self.drop_rate + self.error_rate_500 + self.error_rate_503 + self.error_rate_429
        if total <= 0:
            return None
        r = self._rng.random()
        edge = self.drop_rate
        if r < edge:
            return FaultDecision(None, True, False, None)
        for status, rate in ((500, self.error_rate_500), (503, self.error_rate_503)):
            edge += rate
            if r < edge:
                return FaultDecision(status, False, False, None)
        edge += self.error_rate_429
        if r < edge:
            return FaultDecision(429, False, False, self.retry_after)
        return None


@attrs.frozen
class RequestRecord:
    """One handled request: method, path (percent-decoded), status (``None`` = dropped)."""

    method: str
    path: str
    status: int | None
    fault: str | None = None
    """``None``, ``"error"``, ``"drop"``, ``"error-after"`` or ``"drop-after"``."""
    duration_ms: float = 0.0
    time: float = attrs.field(factory=time.time)
    request_id: str = ""
    """The ``X-Request-Id`` the response carried (``""`` for a request logged without one)."""


class RequestLog:
    """The most recent :class:`RequestRecord` s, oldest first, bounded to ``capacity``.

    Safe to read from any thread while the server appends to it (an emulator on its own
    thread): iterating walks a snapshot taken under a lock.
    """

    def __init__(self, capacity: int) -> None:
        """An empty log keeping at most ``capacity`` records."""
        self._records: deque[RequestRecord] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def append(self, record: RequestRecord) -> None:
        """Add a record (dropping the oldest when full)."""
        with self._lock:
            self._records.append(record)

    def clear(self) -> None:
        """Forget every record."""
        with self._lock:
            self._records.clear()

    def snapshot(self) -> list[RequestRecord]:
        """The records now, oldest first."""
        with self._lock:
            return list(self._records)

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(self.snapshot())

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    @overload
    def __getitem__(self, index: int) -> RequestRecord: ...
    @overload
    def __getitem__(self, index: slice) -> list[RequestRecord]: ...
    def __getitem__(self, index: int | slice) -> RequestRecord | list[RequestRecord]:
        with self._lock:
            if isinstance(index, slice):
                return list(self._records)[index]
            return self._records[index]

    def __repr__(self) -> str:
        return f"<RequestLog of {len(self)} records>"
