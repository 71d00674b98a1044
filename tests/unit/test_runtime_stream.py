"""ResultStream against a scripted websocket server: ACK, replay dedup, reconnects, fallback.

The REST side (job status, interim results) is mocked with respx; the websocket side is a real
``websockets`` server on a loopback port whose behaviour each test scripts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from http import HTTPStatus
from typing import Any

import anyio
import httpx
import pytest
import pytest_asyncio
import respx
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from async_qexp import (
    ClosedError,
    Provider,
    RetryPolicy,
    RuntimeInvalidStateError,
    StreamingError,
)
from async_qexp.runtime import ResultDecoder, StreamPolicy

from ..helpers import client_tasks, wait_until

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(20)]

AUTH = "https://auth.test/api"
FAST = StreamPolicy(max_retries=3, backoff_initial=0.01, backoff_max=0.02, poll_interval=0.01)

Handler = Callable[[ServerConnection], Awaitable[None]]


class ScriptedServer:
    """A websocket server whose per-connection behaviour is a list of handlers."""

    def __init__(self) -> None:
        self.script: list[Handler] = []
        self.connections = 0
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        self.refuse_with: HTTPStatus | None = None
        self.refused = 0

    def process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        """Refuse the handshake with :attr:`refuse_with`, if set."""
        if self.refuse_with is None:
            return None
        self.refused += 1
        return ws.respond(self.refuse_with, "no such job\n")

    async def handler(self, ws: ServerConnection) -> None:
        index = self.connections
        self.connections += 1
        self.headers.append(dict(ws.request.headers) if ws.request else {})
        self.paths.append(ws.request.path if ws.request else "")
        behaviour = self.script[min(index, len(self.script) - 1)]
        await behaviour(ws)


def messages(*items: Any, close: int | None = 1000, ack: bool = True) -> Handler:
    async def run(ws: ServerConnection) -> None:
        if ack:
            await ws.send("ACK")
        for item in items:
            await ws.send(json.dumps(item))
        if close is not None:
            await ws.close(close)
        else:
            ws.transport.abort()  # drop the connection without a close frame

    return run


@pytest_asyncio.fixture
async def ws_server() -> AsyncIterator[tuple[ScriptedServer, str]]:
    scripted = ScriptedServer()
    async with serve(
        scripted.handler, "127.0.0.1", 0, process_request=scripted.process_request
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield scripted, f"http://127.0.0.1:{port}/runtime"


@pytest_asyncio.fixture
async def runtime_provider(
    ws_server: tuple[ScriptedServer, str],
) -> AsyncIterator[tuple[Provider, respx.MockRouter, ScriptedServer]]:
    scripted, runtime_url = ws_server
    router = respx.MockRouter(assert_all_called=False)
    router.post(f"{AUTH}/users/loginWithToken").respond(json={"id": "ACCESS"})
    router.get(f"{AUTH}/users/me").respond(
        json={"id": "u1", "urls": {"services": {"runtime": runtime_url}}}
    )
    transport = httpx.MockTransport(router.async_handler)
    async with Provider(
        "token",
        AUTH,
        transport=transport,
        retry=RetryPolicy(backoff_initial=0.001),
        stream_policy=FAST,
        instance="h/g/p",
    ) as provider:
        yield provider, router, scripted


def mock_job(
    router: respx.MockRouter, runtime_url: str, job_id: str, status: str = "RUNNING"
) -> None:
    router.get(f"{runtime_url}/jobs/{job_id}").respond(
        json={
            "id": job_id,
            "program": {"id": "p"},
            "backend": "b",
            "status": status,
            "state": {"status": status, "reason": None},
            "params": [{}],
        }
    )


async def collect(stream: Any) -> list[Any]:
    with anyio.fail_after(10):
        return [m async for m in stream]


async def test_ack_is_dropped_and_messages_arrive_in_order(runtime_provider) -> None:  # type: ignore[no-untyped-def]
    provider, router, scripted = runtime_provider
    scripted.script = [messages({"i": 0}, {"i": 1}, "done")]
    mock_job(router, provider.runtime.base_url, "job1")
    job = await provider.runtime.job("job1")
    async with job.stream_results() as stream:
        assert await collect(stream) == [{"i": 0}, {"i": 1}, "done"]
    assert scripted.connections == 1
    assert scripted.headers[0]["x-access-token"] == "ACCESS"
    assert scripted.paths[0] == "/runtime/stream/jobs/job1"
    assert not job.streaming


async def test_reconnect_after_a_drop_loses_and_repeats_nothing(runtime_provider) -> None:  # type: ignore[no-untyped-def]
    provider, router, scripted = runtime_provider
    # First connection: 2 messages then an abnormal drop; the server replays on reconnect.
    scripted.script = [
        messages(1, 2, close=None),
        messages(1, 2, 3, 4, close=1011),
        messages(1, 2, 3, 4, 5),
    ]
    mock_job(router, provider.runtime.base_url, "job2")
    job = await provider.runtime.job("job2")
    stream = job.stream_results()
    assert await collect(stream) == [1, 2, 3, 4, 5]
    assert stream.reconnects == 2
    assert scripted.connections == 3


async def test_server_without_replay_still_delivers_new_messages(runtime_provider) -> None:  # type: ignore[no-untyped-def]
    provider, router, scripted = runtime_provider
    scripted.script = [messages("a", "b", close=1011), messages("c", "d")]
    mock_job(router, provider.runtime.base_url, "job3")
    job = await provider.runtime.job("job3")
    assert await collect(job.stream_results()) == ["a", "b", "c", "d"]


async def test_falls_back_to_polling_when_the_socket_cannot_be_reestablished(
    runtime_provider,
) -> None:  # type: ignore[no-untyped-def]
    provider, router, scripted = runtime_provider
    scripted.script = [messages("m0", close=1011), messages(close=1011)]
    base = provider.runtime.base_url
    router.get(f"{base}/jobs/job4").mock(
        side_effect=[
            httpx.Response(200, json={"id": "job4", "program": {"id": "p"}, "status": "RUNNING"}),
            httpx.Response(200, json={"id": "job4", "program": {"id": "p"}, "status": "RUNNING"}),
            httpx.Response(200, json={"id": "job4", "program": {"id": "p"}, "status": "COMPLETED"}),
        ]
    )
    router.get(f"{base}/jobs/job4/interim_results").mock(
        side_effect=[
            httpx.Response(200, json=["m0", "m1"]),
            httpx.Response(200, json=["m0", "m1", "m2"]),
        ]
    )
    router.get(f"{base}/jobs/job4/results").respond(text='"final"')
    job = await provider.runtime.job("job4")
    stream = job.stream_results()
    assert await collect(stream) == ["m0", "m1", "m2", "final"]
    assert stream.polled
    assert scripted.connections == 1 + FAST.max_retries


async def test_iterator_raises_when_polling_fails_too(runtime_provider) -> None:  # type: ignore[no-untyped-def]
    provider, router, scripted = runtime_provider
    scripted.script = [messages(close=1011)]
    base = provider.runtime.base_url
    mock_job(router, base, "job5")
    job = await provider.runtime.job("job5")
    router.get(f"{base}/jobs/job5/interim_results").respond(500, json={"error": {"message": "x"}})
    with pytest.raises(StreamingError):
        await collect(job.stream_results())


async def test_rejected_handshake_goes_straight_to_polling(runtime_provider) -> None:  # type: ignore[no-untyped-def]
    provider, router, scripted = runtime_provider

    async def refuse(ws: ServerConnection) -> None:  # never reached: the handshake is refused
        raise AssertionError

    scripted.script = [refuse]
    scripted.refuse_with = HTTPStatus.NOT_FOUND
    base = provider.runtime.base_url
    router.get(f"{base}/jobs/job6").respond(
        json={"id": "job6", "program": {"id": "p"}, "status": "COMPLETED"}
    )
    router.get(f"{base}/jobs/job6/interim_results").respond(json=[{"k": 1}])
    router.get(f"{base}/jobs/job6/results").respond(text="42")
    job = await provider.runtime.job("job6")
    stream = job.stream_results()
    assert await collect(stream) == [{"k": 1}, 42]
    assert stream.polled
    assert scripted.refused == 1  # a 4xx is not retried
    assert scripted.connections == 0


async def test_break_closes_the_socket_and_allows_a_new_stream(runtime_provider) -> None:  # type: ignore[no-untyped-def]
    provider, router, scripted = runtime_provider
    release = asyncio.Event()

    async def slow(ws: ServerConnection) -> None:
        await ws.send("ACK")
        await ws.send("1")
        await release.wait()

    scripted.script = [slow, messages(1, 2)]
    mock_job(router, provider.runtime.base_url, "job7")
    job = await provider.runtime.job("job7")
    async with job.stream_results() as stream:
        async for message in stream:
            assert message == 1
            break
    assert not job.streaming
    job.stream_results()
    with pytest.raises(RuntimeInvalidStateError):
        job.stream_results()
    await job.cancel_result_streaming()
    release.set()


async def test_callback_form_runs_sync_and_async_callbacks(runtime_provider) -> None:  # type: ignore[no-untyped-def]
    provider, router, scripted = runtime_provider
    scripted.script = [messages(1, 2, 3)]
    mock_job(router, provider.runtime.base_url, "job8")
    job = await provider.runtime.job("job8")
    seen: list[tuple[str, Any]] = []

    def failing_then_ok(job_id: str, message: Any) -> None:
        seen.append((job_id, message))
        if message == 1:
            raise RuntimeError("a callback error is logged, not fatal")

    stream = job.stream_results(failing_then_ok)
    with anyio.fail_after(5):
        await stream.wait_closed()
    await wait_until(lambda: not job.streaming)
    assert seen == [("job8", 1), ("job8", 2), ("job8", 3)]

    scripted.script = [messages("a", "b")]
    got: list[Any] = []

    async def collector(job_id: str, message: Any) -> None:
        got.append(message)

    job2 = await provider.runtime.job("job8")
    job2.stream_results(collector)
    await wait_until(lambda: len(got) >= 2)
    await job2.cancel_result_streaming()
    assert got == ["a", "b"]


async def test_custom_decoder_applies_to_every_message(runtime_provider) -> None:  # type: ignore[no-untyped-def]
    provider, router, scripted = runtime_provider
    scripted.script = [messages({"v": 1}, {"v": 2})]
    mock_job(router, provider.runtime.base_url, "job9")

    class Doubling(ResultDecoder):
        @classmethod
        def decode(cls, data: str) -> Any:
            return super().decode(data)["v"] * 2

    job = await provider.runtime.job("job9")
    assert await collect(job.stream_results(decoder=Doubling)) == [2, 4]


async def test_closing_the_provider_closes_open_streams(ws_server) -> None:  # type: ignore[no-untyped-def]
    scripted, runtime_url = ws_server
    release = asyncio.Event()

    async def hold(ws: ServerConnection) -> None:
        await ws.send("ACK")
        await release.wait()

    scripted.script = [hold]
    router = respx.MockRouter(assert_all_called=False)
    router.post(f"{AUTH}/users/loginWithToken").respond(json={"id": "ACCESS"})
    router.get(f"{AUTH}/users/me").respond(json={"urls": {"services": {"runtime": runtime_url}}})
    mock_job(router, runtime_url, "job10")
    async with Provider("t", AUTH, transport=httpx.MockTransport(router.async_handler)) as provider:
        job = await provider.runtime.job("job10")
        stream = job.stream_results(lambda _job_id, _message: None)
        await wait_until(lambda: scripted.connections > 0)
    assert not stream.running
    release.set()


class Picky(ResultDecoder):
    """Raises on one message."""

    @classmethod
    def decode(cls, data: str) -> Any:
        value = super().decode(data)
        if value == "undecodable":
            raise ValueError("cannot decode this one")
        return value


@pytest.mark.parametrize("form", ["sync", "async", "run"])
async def test_a_callback_stream_survives_a_decoder_that_raises(
    runtime_provider, caplog: pytest.LogCaptureFixture, form: str
) -> None:  # type: ignore[no-untyped-def]
    """As in the reference, a decoder that raises on a message is logged and the callback
    still gets every later message (the final result included): with a sync callback, an
    async one, and one given to run() with the decoder as its result_decoder."""
    provider, router, scripted = runtime_provider
    scripted.script = [messages({"v": 1}, "undecodable", {"v": 3}, "final")]
    runtime_url = provider.runtime.base_url
    mock_job(router, runtime_url, "job11")
    router.post(f"{runtime_url}/jobs").respond(json={"id": "job11"})
    seen: list[Any] = []

    def sync_callback(job_id: str, message: Any) -> None:
        seen.append((job_id, message))

    async def async_callback(job_id: str, message: Any) -> None:
        await asyncio.sleep(0)
        seen.append((job_id, message))

    callback = async_callback if form == "async" else sync_callback
    with caplog.at_level(logging.WARNING, logger="async_qexp"):
        if form == "run":
            job = await provider.runtime.run(
                "p", {"backend_name": "b"}, {}, callback=callback, result_decoder=Picky
            )
        else:
            job = await provider.runtime.job("job11")
            job.stream_results(callback, decoder=Picky)
        await wait_until(lambda: len(seen) == 3 and not job.streaming)
    assert seen == [("job11", {"v": 1}), ("job11", {"v": 3}), ("job11", "final")]
    [warning] = [r for r in caplog.records if "cannot decode" in r.getMessage()]
    assert "job11" in warning.getMessage()
    assert warning.levelno == logging.WARNING


async def test_an_iterated_stream_raises_the_decoder_error_to_its_reader(
    runtime_provider,
) -> None:  # type: ignore[no-untyped-def]
    """Without a callback nobody else can be told: the iterator raises the decoder's error
    after the messages before it, and the stream is closed."""
    provider, router, scripted = runtime_provider
    scripted.script = [messages({"v": 1}, "undecodable", {"v": 3})]
    mock_job(router, provider.runtime.base_url, "job14")
    job = await provider.runtime.job("job14")
    got: list[Any] = []

    async def read(stream: Any) -> None:
        async with stream:
            async for message in stream:
                got.append(message)

    stream = job.stream_results(decoder=Picky)
    with pytest.raises(ValueError, match="cannot decode this one"):
        await read(stream)
    assert got == [{"v": 1}]
    assert stream.closed
    assert not job.streaming


async def test_closing_the_provider_ends_every_stream_and_callback(
    ws_server: tuple[ScriptedServer, str],
) -> None:
    scripted, runtime_url = ws_server
    closed_by_client: list[int] = []

    async def one_then_hold(ws: ServerConnection) -> None:
        await ws.send("ACK")
        await ws.send(json.dumps("m0"))
        await ws.wait_closed()  # until the client closes the socket
        closed_by_client.append(ws.close_code or 0)

    scripted.script = [one_then_hold]
    router = respx.MockRouter(assert_all_called=False)
    router.post(f"{AUTH}/users/loginWithToken").respond(json={"id": "ACCESS"})
    router.get(f"{AUTH}/users/me").respond(json={"urls": {"services": {"runtime": runtime_url}}})
    mock_job(router, runtime_url, "job12")
    fed: list[Any] = []
    iterated: list[Any] = []

    async def consume(stream: Any) -> None:
        async for message in stream:
            iterated.append(message)

    provider = Provider("t", AUTH, transport=httpx.MockTransport(router.async_handler))
    async with provider:
        job = await provider.runtime.job("job12")
        other = await provider.runtime.job("job12")
        with_callback = job.stream_results(lambda _job_id, message: fed.append(message))
        iterator = other.stream_results()
        consumer = asyncio.ensure_future(consume(iterator))
        await wait_until(lambda: fed == ["m0"] and iterated == ["m0"])
        assert len(provider.tasks.tasks) == 1  # the callback task; the readers are the streams'
    # Both sockets were closed by the client, every task has ended ...
    await wait_until(lambda: len(closed_by_client) == 2)
    assert client_tasks() == set()
    assert not with_callback.running
    assert not iterator.running
    assert not job.streaming
    # ... an iterator whose provider closed under it says so, and nothing can be used again.
    with pytest.raises(ClosedError):
        await consumer
    with pytest.raises(ClosedError):
        job.stream_results()
    with pytest.raises(ClosedError):
        await job.status()
    with pytest.raises(ClosedError):
        async with iterator:
            pass
    await job.cancel_result_streaming()  # a no-op, not an error


async def test_an_async_callback_may_stop_its_own_stream(runtime_provider) -> None:  # type: ignore[no-untyped-def]
    provider, router, scripted = runtime_provider
    release = asyncio.Event()

    async def two_then_hold(ws: ServerConnection) -> None:
        await ws.send("ACK")
        await ws.send(json.dumps(1))
        await ws.send(json.dumps(2))
        await release.wait()

    scripted.script = [two_then_hold]
    mock_job(router, provider.runtime.base_url, "job13")
    job = await provider.runtime.job("job13")
    seen: list[Any] = []

    async def stop_at_first(job_id: str, message: Any) -> None:
        seen.append(message)
        await job.cancel_result_streaming()  # from the callback's own task: must not wait on it

    stream = job.stream_results(stop_at_first)
    with anyio.fail_after(5):
        await stream.wait_closed()
    assert seen[0] == 1  # what had been received before the stop may still be fed
    assert not job.streaming
    assert provider.tasks.tasks == frozenset()
    release.set()


# -- what each branch of the reader does, pinned down -------------------------------------------


@contextlib.asynccontextmanager
async def provider_with(
    runtime_url: str, policy: StreamPolicy
) -> AsyncIterator[tuple[Provider, respx.MockRouter]]:
    """A provider on the scripted server with its own stream policy."""
    router = respx.MockRouter(assert_all_called=False)
    router.post(f"{AUTH}/users/loginWithToken").respond(json={"id": "ACCESS"})
    router.get(f"{AUTH}/users/me").respond(json={"urls": {"services": {"runtime": runtime_url}}})
    async with Provider(
        "token",
        AUTH,
        transport=httpx.MockTransport(router.async_handler),
        retry=RetryPolicy(backoff_initial=0.001),
        stream_policy=policy,
    ) as provider:
        yield provider, router


def mock_polling(router: respx.MockRouter, base: str, job_id: str, interim: list[Any]) -> None:
    """The REST side of a finished job, for a stream that falls back to polling."""
    router.get(f"{base}/jobs/{job_id}").respond(
        json={"id": job_id, "program": {"id": "p"}, "status": "COMPLETED"}
    )
    router.get(f"{base}/jobs/{job_id}/interim_results").respond(json=interim)
    router.get(f"{base}/jobs/{job_id}/results").respond(text='"final"')


@pytest.mark.parametrize(
    ("status", "handshakes"),
    [
        (HTTPStatus.BAD_REQUEST, 1),  # a 4xx polls at once
        (HTTPStatus.NOT_FOUND, 1),
        (HTTPStatus.FORBIDDEN, 1),
        (HTTPStatus.SERVICE_UNAVAILABLE, 1 + FAST.max_retries),  # a 5xx is retried first
        (HTTPStatus.BAD_GATEWAY, 1 + FAST.max_retries),
    ],
)
async def test_a_refused_handshake_polls_at_once_for_4xx_and_after_retries_for_5xx(
    runtime_provider, status: HTTPStatus, handshakes: int
) -> None:  # type: ignore[no-untyped-def]
    provider, router, scripted = runtime_provider
    scripted.script = [messages("never")]
    scripted.refuse_with = status
    mock_polling(router, provider.runtime.base_url, "job20", ["m0", "m1"])
    job = await provider.runtime.job("job20")
    stream = job.stream_results()
    assert await collect(stream) == ["m0", "m1", "final"]  # polled, not ended empty
    assert stream.polled
    assert scripted.refused == handshakes
    assert scripted.connections == 0
    assert stream.reconnects == handshakes - 1


async def test_the_retry_count_resets_after_a_connection_that_delivered(runtime_provider) -> None:  # type: ignore[no-untyped-def]
    """Twice as many breaks as retries allowed, each after a new message: the stream keeps
    the socket (every retry count starts afresh), and never polls."""
    provider, router, scripted = runtime_provider
    breaks = 2 * FAST.max_retries
    scripted.script = [
        *(messages(*range(n + 1), close=1011) for n in range(breaks)),
        messages(*range(breaks + 1)),
    ]
    mock_job(router, provider.runtime.base_url, "job21")
    router.get(f"{provider.runtime.base_url}/jobs/job21/interim_results").respond(500)
    job = await provider.runtime.job("job21")
    stream = job.stream_results()
    assert await collect(stream) == list(range(breaks + 1))
    assert not stream.polled
    assert stream.reconnects == breaks
    assert scripted.connections == breaks + 1


async def test_a_connection_that_only_replays_does_not_reset_the_retry_count(
    runtime_provider,
) -> None:  # type: ignore[no-untyped-def]
    provider, router, scripted = runtime_provider
    scripted.script = [messages("a", close=1011), messages("a", close=1011)]
    mock_polling(router, provider.runtime.base_url, "job22", ["a", "b"])
    job = await provider.runtime.job("job22")
    stream = job.stream_results()
    assert await collect(stream) == ["a", "b", "final"]
    assert stream.polled
    assert scripted.connections == 1 + FAST.max_retries


async def test_reconnects_back_off_exponentially_up_to_the_cap(
    ws_server: tuple[ScriptedServer, str], caplog: pytest.LogCaptureFixture
) -> None:
    scripted, runtime_url = ws_server
    policy = StreamPolicy(
        max_retries=4, backoff_initial=0.04, backoff_max=0.1, jitter=0.0, poll_interval=0.01
    )
    scripted.script = [messages(close=1011)]
    async with provider_with(runtime_url, policy) as (provider, router):
        mock_polling(router, provider.runtime.base_url, "job23", [])
        job = await provider.runtime.job("job23")
        stream = job.stream_results()
        started = time.monotonic()
        with caplog.at_level(logging.INFO, logger="async_qexp"):
            assert await collect(stream) == ["final"]
        elapsed = time.monotonic() - started
    pauses = [
        r.getMessage().split("reconnecting in ")[1]
        for r in caplog.records
        if "reconnecting in" in r.getMessage()
    ]
    assert pauses == [
        "0.04 s (retry 1 of 4)",
        "0.08 s (retry 2 of 4)",
        "0.10 s (retry 3 of 4)",
        "0.10 s (retry 4 of 4)",
    ]
    assert elapsed >= 0.04 + 0.08 + 0.1 + 0.1  # the pauses were really taken
    assert stream.reconnects == 4


@pytest.mark.parametrize(
    ("draw", "expected"),
    [(0.0, [1.0, 2.0, 4.0, 5.0]), (0.5, [0.75, 1.5, 3.0, 3.75]), (0.999, None)],
)
async def test_the_reconnect_backoff_is_jittered_downwards(
    monkeypatch: pytest.MonkeyPatch, draw: float, expected: list[float] | None
) -> None:
    import async_qexp._config as config

    monkeypatch.setattr(config.random, "random", lambda: draw)
    policy = StreamPolicy(backoff_initial=1.0, backoff_max=5.0, jitter=0.5)
    pauses = [policy.backoff(n) for n in (1, 2, 3, 4)]
    if expected is not None:
        assert pauses == pytest.approx(expected)
    for n, pause in enumerate(pauses, start=1):
        base = min(5.0, 2.0 ** (n - 1))
        assert base * 0.5 <= pause <= base
    full = StreamPolicy(backoff_initial=1.0, backoff_max=5.0, jitter=1.0)
    assert full.backoff(1) == pytest.approx(1.0 - draw)


async def test_the_socket_is_opened_with_the_policys_keepalive_and_no_size_limit(
    ws_server: tuple[ScriptedServer, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from async_qexp.runtime import stream as stream_module

    scripted, runtime_url = ws_server
    opened: list[dict[str, Any]] = []
    real_connect = stream_module.connect

    def recording_connect(url: str, **options: Any) -> Any:
        opened.append({"url": url, **options})
        return real_connect(url, **options)

    monkeypatch.setattr(stream_module, "connect", recording_connect)
    policy = StreamPolicy(ping_interval=7.0, ping_timeout=3.0, open_timeout=4.0)
    big = "x" * (2 * 1024 * 1024)  # past websockets' default 1 MiB limit
    scripted.script = [messages(big, "end")]
    async with provider_with(runtime_url, policy) as (provider, router):
        mock_job(router, provider.runtime.base_url, "job24")
        job = await provider.runtime.job("job24")
        assert await collect(job.stream_results()) == [big, "end"]
    [options] = opened
    assert options["url"].endswith("/runtime/stream/jobs/job24")
    assert options["ping_interval"] == 7.0
    assert options["ping_timeout"] == 3.0
    assert options["open_timeout"] == 4.0
    assert options["close_timeout"] == 3.0
    assert options["max_size"] is None
    assert options["additional_headers"] == {"X-Access-Token": "ACCESS"}
    assert scripted.connections == 1
    assert "user-agent" not in scripted.headers[0]


async def test_a_silent_connection_is_noticed_by_keepalive_and_replaced(
    ws_server: tuple[ScriptedServer, str],
) -> None:
    """The server stops reading (so pings go unanswered) without closing: the keepalive ping
    times out, the stream reconnects, and the job's messages arrive once each."""
    scripted, runtime_url = ws_server
    release = asyncio.Event()

    async def go_silent(ws: ServerConnection) -> None:
        await ws.send("ACK")
        await ws.send(json.dumps(1))
        ws.transport.pause_reading()
        with anyio.move_on_after(5):
            await release.wait()

    scripted.script = [go_silent, messages(1, 2)]
    policy = StreamPolicy(max_retries=2, backoff_initial=0.01, ping_interval=0.05, ping_timeout=0.1)
    async with provider_with(runtime_url, policy) as (provider, router):
        mock_job(router, provider.runtime.base_url, "job25")
        job = await provider.runtime.job("job25")
        stream = job.stream_results()
        with anyio.fail_after(5):
            assert [m async for m in stream] == [1, 2]
        assert stream.reconnects == 1
        assert not stream.polled
    release.set()


# -- what the stream tells the log, and its small parts ----------------------------------------


def stream_log(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "async_qexp.stream"]


async def test_the_log_tells_the_life_of_a_stream(
    runtime_provider, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    provider, router, scripted = runtime_provider
    scripted.script = [messages("a", "b", close=1011), messages("a", "b", "c")]
    mock_job(router, provider.runtime.base_url, "job30")
    job = await provider.runtime.job("job30")
    with caplog.at_level(logging.DEBUG, logger="async_qexp"):
        assert await collect(job.stream_results()) == ["a", "b", "c"]
    url = f"{provider.runtime.base_url.replace('http', 'ws', 1)}/stream/jobs/job30"
    log = stream_log(caplog)
    assert log[0] == (logging.DEBUG, f"stream of job job30: connecting to {url}")
    assert log[1] == (
        logging.DEBUG,
        "stream of job job30: connected (0 message(s) delivered before)",
    )
    level, broke = log[2]
    assert level == logging.INFO
    # FAST: a first pause of 0.01 s, half of it jittered away at most
    assert re.fullmatch(
        r"stream of job job30 broke \(.*1011.*\); reconnecting in 0\.0[01] s \(retry 1 of 3\)",
        broke,
    ), broke
    assert log[3:] == [
        (logging.DEBUG, f"stream of job job30: connecting to {url}"),
        (logging.DEBUG, "stream of job job30: connected (2 message(s) delivered before)"),
        (logging.DEBUG, "stream of job job30 ended (code 1000) after 3 message(s)"),
    ]


async def test_the_log_tells_a_refusal_and_the_polling(
    runtime_provider, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    provider, router, scripted = runtime_provider
    scripted.refuse_with = HTTPStatus.BAD_REQUEST  # the lowest 4xx polls at once too
    mock_polling(router, provider.runtime.base_url, "job31", ["m"])
    job = await provider.runtime.job("job31")
    with caplog.at_level(logging.INFO, logger="async_qexp"):
        assert await collect(job.stream_results()) == ["m", "final"]
    assert stream_log(caplog) == [
        (logging.INFO, "stream of job job31 refused (400): falling back to polling"),
        (logging.INFO, "stream of job job31: polling every 0.01 s until the job is final"),
    ]
    assert scripted.refused == 1


async def test_the_log_tells_a_stream_lost_and_a_stream_failed(
    runtime_provider, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    provider, router, scripted = runtime_provider
    scripted.script = [messages(close=1011)]
    base = provider.runtime.base_url
    mock_job(router, base, "job32")
    router.get(f"{base}/jobs/job32/interim_results").respond(500, json={"error": "down"})
    job = await provider.runtime.job("job32")
    with (
        caplog.at_level(logging.INFO, logger="async_qexp"),
        pytest.raises(StreamingError) as excinfo,
    ):
        await collect(job.stream_results())
    assert "the result stream of job job32 failed: " in str(excinfo.value)
    log = stream_log(caplog)
    lost = [m for level, m in log if "lost after" in m]
    assert len(lost) == 1
    assert lost[0].startswith("stream of job job32 lost after 3 retries (")
    assert lost[0].endswith("): falling back to polling")
    [failed] = [(level, m) for level, m in log if "failed" in m]
    assert failed[0] == logging.WARNING
    assert failed[1].startswith("result stream of job job32 failed: ")
    assert str(excinfo.value.__cause__) in failed[1]


async def test_a_callback_stream_logs_what_its_callback_raised_and_a_failure(
    runtime_provider, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    provider, router, scripted = runtime_provider
    scripted.script = [messages(1, close=1011), messages(1, close=1011)]
    base = provider.runtime.base_url
    mock_job(router, base, "job33")
    router.get(f"{base}/jobs/job33/interim_results").respond(500, json={"error": "down"})
    job = await provider.runtime.job("job33")

    def refuse(job_id: str, message: Any) -> None:
        raise KeyError(f"no room for {message}")

    with caplog.at_level(logging.WARNING, logger="async_qexp"):
        stream = job.stream_results(refuse)
        with anyio.fail_after(10):
            await stream.wait_closed()
    warnings_ = [m for level, m in stream_log(caplog) if level == logging.WARNING]
    assert "result callback of job job33 raised: KeyError('no room for 1')" in warnings_
    assert any(m.startswith("the result stream of job job33 failed: ") for m in warnings_)


async def test_a_sync_callback_that_returns_an_awaitable_is_awaited(runtime_provider) -> None:  # type: ignore[no-untyped-def]
    provider, router, scripted = runtime_provider
    scripted.script = [messages("x", "y")]
    mock_job(router, provider.runtime.base_url, "job34")
    job = await provider.runtime.job("job34")
    got: list[Any] = []

    async def record(message: Any) -> None:
        got.append(message)

    def hand_back(job_id: str, message: Any) -> Any:
        return record(message)  # a plain function returning a coroutine

    stream = job.stream_results(hand_back)
    with anyio.fail_after(10):
        await stream.wait_closed()
    assert got == ["x", "y"]


async def test_the_stream_and_its_tasks_say_what_they_are(runtime_provider) -> None:  # type: ignore[no-untyped-def]
    provider, router, scripted = runtime_provider
    release = asyncio.Event()

    async def hold(ws: ServerConnection) -> None:
        await ws.send("ACK")
        await ws.send(json.dumps(1))
        await release.wait()

    scripted.script = [hold]
    mock_job(router, provider.runtime.base_url, "job35")
    job = await provider.runtime.job("job35")
    iterated = job.stream_results()
    assert repr(iterated) == "<ResultStream job=job35 not started delivered=0>"
    async with iterated:
        assert await iterated.__aiter__().__anext__() == 1
        assert repr(iterated) == "<ResultStream job=job35 open delivered=1>"
        names = {t.get_name() for t in asyncio.all_tasks()}
        assert "result stream of job35" in names
    assert repr(iterated) == "<ResultStream job=job35 closed delivered=1>"
    fed: list[Any] = []
    with_callback = job.stream_results(lambda _job_id, message: fed.append(message))
    await wait_until(lambda: fed == [1])
    assert {t.get_name() for t in provider.tasks.tasks} == {"result callback of job job35"}
    await with_callback.aclose()
    release.set()


async def test_a_proxy_is_shown_without_its_credentials() -> None:
    from async_qexp.runtime.stream import _shown

    assert _shown("http://user:secret@proxy.test:3128") == "http://proxy.test:3128"
    assert _shown("https://proxy.test") == "https://proxy.test"


async def test_a_stream_through_a_proxy_says_so_without_its_credentials(
    runtime_provider, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    from async_qexp.runtime import _api
    from async_qexp.runtime import stream as stream_module

    provider, router, scripted = runtime_provider
    scripted.script = [messages("p")]
    mock_job(router, provider.runtime.base_url, "job36")
    proxy = "http://user:secret@proxy.test:3128"
    monkeypatch.setattr(_api.JobsApi, "websocket_options", lambda self, url: {"proxy": proxy})
    opened: list[dict[str, Any]] = []
    real_connect = stream_module.connect

    def direct_connect(url: str, **options: Any) -> Any:
        opened.append(dict(options))
        options.pop("proxy")  # the test server is reached directly
        return real_connect(url, **options)

    monkeypatch.setattr(stream_module, "connect", direct_connect)
    job = await provider.runtime.job("job36")
    with caplog.at_level(logging.DEBUG, logger="async_qexp"):
        assert await collect(job.stream_results()) == ["p"]
    assert opened[0]["proxy"] == proxy
    connecting = [m for _, m in stream_log(caplog) if "connecting to" in m]
    assert connecting == [
        f"stream of job job36: connecting to "
        f"{provider.runtime.base_url.replace('http', 'ws', 1)}/stream/jobs/job36"
        f" through the proxy http://proxy.test:3128"
    ]
    assert "secret" not in caplog.text


async def test_a_certificate_that_does_not_verify_falls_back_to_polling(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import ssl

    from async_qexp.emulator.tls import self_signed

    try:
        files = self_signed(tmp_path)
    except RuntimeError as exc:  # pragma: no cover - neither cryptography nor openssl
        pytest.skip(str(exc))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.cert, files.key)
    connections = 0

    async def never(ws: ServerConnection) -> None:  # pragma: no cover - the handshake fails
        nonlocal connections
        connections += 1

    async with serve(never, "127.0.0.1", 0, ssl=context) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        runtime_url = f"https://127.0.0.1:{port}/runtime"  # a CA the client does not trust
        async with provider_with(runtime_url, FAST) as (provider, router):
            mock_polling(router, runtime_url, "job37", ["m"])
            job = await provider.runtime.job("job37")
            stream = job.stream_results()
            with caplog.at_level(logging.WARNING, logger="async_qexp"):
                assert await collect(stream) == ["m", "final"]
    assert stream.polled
    assert stream.reconnects == 0  # no retry: the certificate would not verify next time
    assert connections == 0
    [(level, warning)] = stream_log(caplog)
    assert level == logging.WARNING
    assert warning.startswith(
        f"stream of job job37: the TLS certificate of wss://127.0.0.1:{port}/runtime/stream/"
        "jobs/job37 did not verify ("
    )
    assert warning.endswith("): falling back to polling")
    assert "certificate" in warning.split("did not verify (")[1]


async def test_closing_a_callback_stream_waits_for_what_was_received(runtime_provider) -> None:  # type: ignore[no-untyped-def]
    provider, router, scripted = runtime_provider
    release = asyncio.Event()

    async def three_then_hold(ws: ServerConnection) -> None:
        await ws.send("ACK")
        for i in range(3):
            await ws.send(json.dumps(i))
        await release.wait()

    scripted.script = [three_then_hold]
    mock_job(router, provider.runtime.base_url, "job38")
    job = await provider.runtime.job("job38")
    fed: list[Any] = []
    received = asyncio.Event()

    async def slow(job_id: str, message: Any) -> None:
        received.set()
        await asyncio.sleep(0.05)
        fed.append(message)

    stream = job.stream_results(slow)
    await wait_until(lambda: stream.delivered == 3)
    await received.wait()
    await stream.aclose()
    assert fed == [0, 1, 2]  # aclose returned only once the callback had them all
    release.set()
