"""The client under server faults: errors, 429s, dropped connections, latency, cancellation."""

from __future__ import annotations

import asyncio
import time

import anyio
import pytest

from async_qexp import (
    ApiError,
    AuthError,
    Provider,
    RateLimited,
    RequestError,
    RequestTimeout,
    RetryPolicy,
)
from async_qexp.emulator import Emulator

from ..helpers import client_tasks, wait_until
from .conftest import FAST_RETRY

pytestmark = pytest.mark.asyncio


def count(emulator: Emulator, method: str, path_prefix: str) -> int:
    return sum(
        1 for r in emulator.request_log if r.method == method and r.path.startswith(path_prefix)
    )


async def test_503_then_success_is_retried(emulator: Emulator, provider: Provider) -> None:
    emulator.faults.fail_next(2, 503, path_prefix="/resultsdb/experiments")
    exp_id = await provider.experiment.create_experiment("T1", "ibmq_lima")
    assert (await provider.experiment.experiment(exp_id)).experiment_id == exp_id
    assert count(emulator, "POST", "/resultsdb/experiments") == 3


async def test_429_honours_retry_after(emulator: Emulator, provider: Provider) -> None:
    emulator.faults.fail_next(1, 429, path_prefix="/resultsdb/devices", retry_after=0.2)
    started = time.monotonic()
    await provider.experiment.backends()
    assert time.monotonic() - started >= 0.2
    assert count(emulator, "GET", "/resultsdb/devices") == 2


async def test_budget_exhausted_raises_typed_errors(emulator: Emulator, transport: str) -> None:
    policy = RetryPolicy(max_attempts=3, backoff_initial=0.001)
    async with Provider("t", emulator.url, transport=transport, retry=policy) as provider:  # type: ignore[arg-type]
        emulator.faults.fail_next(3, 500, path_prefix="/resultsdb/devices")
        with pytest.raises(ApiError) as excinfo:
            await provider.experiment.backends()
        assert excinfo.value.status == 500
        assert excinfo.value.attempts == 3
        emulator.faults.fail_next(3, 429, path_prefix="/resultsdb/devices", retry_after=0.01)
        with pytest.raises(RateLimited) as limited:
            await provider.experiment.backends()
        assert limited.value.retry_after == pytest.approx(0.01)


async def test_create_replayed_after_a_lost_response_is_not_an_error(
    emulator: Emulator, provider: Provider
) -> None:
    """The server stores the experiment, then the response is lost: the replay meets 409."""
    emulator.faults.fail_next(
        1, 503, path_prefix="/resultsdb/experiments", method="POST", after_processing=True
    )
    exp_id = await provider.experiment.create_experiment("T1", "ibmq_lima")
    assert count(emulator, "POST", "/resultsdb/experiments") == 2
    assert len(await provider.experiment.experiments(limit=None)) == 1
    assert (await provider.experiment.experiment(exp_id)).experiment_id == exp_id


async def test_dropped_connection_after_processing_is_replayed_for_creates(
    emulator: Emulator, provider: Provider
) -> None:
    emulator.faults.fail_next(
        1,
        path_prefix="/resultsdb/analysis_results",
        method="POST",
        after_processing=True,
        drop=True,
    )
    exp_id = await provider.experiment.create_experiment("T1", "ibmq_lima")
    result_id = await provider.experiment.create_analysis_result(exp_id, {"v": 1}, "T1")
    assert (await provider.experiment.analysis_result(result_id)).result_data == {"v": 1}
    assert len(await provider.experiment.analysis_results(limit=None)) == 1


async def test_unsafe_post_is_not_replayed_after_a_drop(
    emulator: Emulator, provider: Provider
) -> None:
    emulator.faults.fail_next(1, path_prefix="/resultsdb/unsafe", drop=True)
    with pytest.raises(RequestError):
        await provider.http.request("POST", provider.experiment.base_url + "/unsafe", json_body={})
    assert count(emulator, "POST", "/resultsdb/unsafe") == 1


async def test_dropped_get_is_retried(emulator: Emulator, provider: Provider) -> None:
    emulator.faults.fail_next(2, path_prefix="/resultsdb/devices", drop=True)
    assert await provider.experiment.backends()
    assert count(emulator, "GET", "/resultsdb/devices") == 3


async def test_random_faults_lose_nothing(emulator: Emulator, transport: str) -> None:
    """With 20% of service requests failing in every way, 60 creates all land exactly once."""
    policy = RetryPolicy(max_attempts=12, backoff_initial=0.001, backoff_max=0.01)
    async with Provider("t", emulator.url, transport=transport, retry=policy) as provider:  # type: ignore[arg-type]
        emulator.faults.seed = 1234
        emulator.faults.error_rate_500 = 0.05
        emulator.faults.error_rate_503 = 0.05
        emulator.faults.error_rate_429 = 0.05
        emulator.faults.retry_after = 0.001
        emulator.faults.drop_rate = 0.05
        ids = await asyncio.gather(
            *(provider.experiment.create_experiment("T1", "ibmq_lima") for _ in range(60))
        )
        emulator.faults.clear()
        stored = await provider.experiment.experiments(limit=None)
        assert sorted(e.experiment_id for e in stored) == sorted(ids)


async def test_read_timeout_raises_request_timeout(transport: str) -> None:
    from async_qexp.emulator import serve

    async with serve(latency_ms=300) as slow:
        provider = Provider(
            "t",
            slow.url,
            transport=transport,
            timeout=0.1,
            retry=RetryPolicy.none(),  # type: ignore[arg-type]
        )
        with pytest.raises(RequestTimeout):
            await provider.connect()
        assert provider._session is None, "a failed connect closes the session"


@pytest.mark.parametrize("where", ["in-flight", "backoff"])
async def test_cancelled_call_leaves_nothing_behind(transport: str, where: str) -> None:
    from async_qexp.emulator import serve

    async with serve(latency_ms=300 if where == "in-flight" else 0) as running:
        async with Provider(
            "t",
            running.url,
            transport=transport,
            max_in_flight=1,
            retry=FAST_RETRY,  # type: ignore[arg-type]
        ) as provider:
            if where == "backoff":
                running.faults.fail_next(1, 503, path_prefix="/resultsdb/devices")
                provider.http.retry = RetryPolicy(backoff_initial=5.0, jitter=0.0)
            with anyio.move_on_after(0.1) as scope:
                await provider.experiment.backends()
            assert scope.cancelled_caught
            provider.http.retry = FAST_RETRY
            with anyio.fail_after(2):  # the only slot was released
                assert await provider.experiment.backends()
        assert client_tasks() == set()


async def test_unknown_token_is_refused(team_emulator: Emulator, transport: str) -> None:
    with pytest.raises(AuthError) as excinfo:
        async with Provider("nobody", team_emulator.url, transport=transport):  # type: ignore[arg-type]
            pass
    assert excinfo.value.status == 401
    assert "nobody" not in str(excinfo.value)


@pytest.mark.parametrize("attempts", [1, 2, 6])
async def test_retry_policy_alone_decides_the_attempts(
    emulator: Emulator, transport: str, attempts: int
) -> None:
    """Drops of idempotent requests on a reused connection: exactly ``max_attempts`` reach the
    server (the transport retries nothing of its own), and one more drop than that fails."""
    policy = RetryPolicy(max_attempts=attempts, backoff_initial=0.001, backoff_max=0.002)
    async with Provider("t", emulator.url, transport=transport, retry=policy) as provider:  # type: ignore[arg-type]
        await provider.experiment.backends()  # a kept-alive connection to reuse
        emulator.request_log.clear()
        emulator.faults.fail_next(attempts, path_prefix="/resultsdb/devices", drop=True)
        with pytest.raises(RequestError) as excinfo:
            await provider.experiment.backends()
        assert excinfo.value.attempts == attempts
        assert count(emulator, "GET", "/resultsdb/devices") == attempts
        emulator.request_log.clear()
        if attempts > 1:  # one drop fewer than the attempts: the last attempt succeeds
            emulator.faults.fail_next(attempts - 1, path_prefix="/resultsdb/devices", drop=True)
            assert await provider.experiment.backends()
            assert count(emulator, "GET", "/resultsdb/devices") == attempts


async def test_cancelled_calls_give_back_every_pool_connection(transport: str) -> None:
    """Requests whose tasks are cancelled at random moments (in anyio scopes and by
    ``task.cancel()``) hand their connections back: with 2 connections in the pool, 300
    cancellations later requests still go through (httpcore alone would run out of slots)."""
    import random

    from async_qexp.emulator import serve

    rng = random.Random(5)
    async with serve(runtime=False) as running:
        async with Provider(
            "t",
            running.url,
            transport=transport,  # type: ignore[arg-type]
            max_in_flight=2,
            timeout=3,
            retry=RetryPolicy.none(),
        ) as provider:
            exp_id = await provider.experiment.create_experiment("T1", "b")
            body = b"<svg>" + b"x" * 200_000 + b"</svg>"
            await provider.experiment.create_figure(exp_id, body, "big.svg")
            for i in range(300):
                call = provider.experiment.figure(exp_id, "big.svg")
                if i % 2:
                    with anyio.move_on_after(rng.uniform(0, 0.005)):
                        await call
                else:
                    task = asyncio.ensure_future(call)
                    await asyncio.sleep(rng.uniform(0, 0.005))
                    task.cancel()
                    await asyncio.wait([task])
            # On httpx an abandoned exchange finishes in the background (so that httpcore's
            # pool stays whole), keeping its slot: at most 2 of them are ahead of these reads.
            with anyio.fail_after(10):
                for _ in range(4):
                    assert await provider.experiment.figure(exp_id, "big.svg") == body
        assert client_tasks() == set()


async def test_a_cancelled_call_keeps_its_slot_while_its_exchange_goes_on(transport: str) -> None:
    """On httpx's transport an exchange whose caller was cancelled finishes on its connection
    in the background: it keeps its slot of the bound until then, so later calls wait for it
    instead of piling up behind it. aiohttp's drops the connection and frees the slot at once."""
    from async_qexp.emulator import serve

    async with (
        serve(runtime=False) as running,
        Provider(
            "t",
            running.url,
            transport=transport,  # type: ignore[arg-type]
            max_in_flight=2,
            retry=RetryPolicy.none(),
        ) as provider,
    ):
        await provider.experiment.backends()  # (logged in, connections made)
        running.latency_ms = 1000  # (the checks below have most of a second)
        calls = [asyncio.ensure_future(provider.experiment.backends()) for _ in range(2)]
        await wait_until(lambda: provider.concurrency.in_flight == 2, timeout=5)
        await asyncio.sleep(0.05)  # both sent
        for call in calls:
            call.cancel()
        await asyncio.wait(calls)
        held = 2 if transport == "httpx" else 0
        assert provider.concurrency.in_flight == held
        running.latency_ms = 0
        later = asyncio.ensure_future(provider.experiment.backends())
        await asyncio.sleep(0.05)
        if transport == "httpx":
            assert provider.concurrency.waiting == 1  # behind the abandoned exchanges
            assert not later.done()
        with anyio.fail_after(10):
            assert await later
        await wait_until(lambda: provider.concurrency.in_flight == 0, timeout=10)


async def test_a_body_over_a_mebibyte_is_sent_without_a_resource_warning(
    provider: Provider,
) -> None:
    """aiohttp warns (ResourceWarning, an error in this suite) of raw bytes over 1 MiB."""
    body = b"<svg>" + bytes(range(256)) * 6000 + b"</svg>"
    assert len(body) > 2**20
    exp_id = await provider.experiment.create_experiment("T1", "b")
    await provider.experiment.create_figure(exp_id, body, "large.svg")
    assert await provider.experiment.figure(exp_id, "large.svg") == body
