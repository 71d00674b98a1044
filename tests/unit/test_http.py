"""The HTTP layer: retries (PROTOCOL §1.6), timeouts, cancellation, the in-flight bound, and
error mapping (§1.5, §3.12), through a respx router."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import time
import warnings
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpx
import pytest
import respx

from async_qexp import (
    ApiError,
    AuthError,
    EntryExists,
    EntryNotFound,
    Provider,
    QexpError,
    RateLimited,
    RequestError,
    RequestTimeout,
    RetryPolicy,
)
from async_qexp._http import HttpSession, Secret

from ._support import (
    AUTH,
    HTTP,
    LOGIN_CALLS,
    RDB,
    RDB_HOST,
    RUNTIME,
    TOKEN,
    body,
    connect,
    mock_login,
    service_calls,
)

Connected = tuple[Provider, respx.MockRouter]

pytestmark = pytest.mark.asyncio

DEVICES = f"{RDB}/devices"


def answer(*responses: httpx.Response | type[Exception] | Exception | Callable[..., Any]) -> Any:
    """A side-effect list for a route."""
    return list(responses)


def error(status: int, message: str = "boom", code: Any = "E1", **headers: str) -> httpx.Response:
    return httpx.Response(
        status, json={"error": {"code": code, "message": message}}, headers=headers
    )


def devices_route(router: respx.MockRouter, *responses: Any) -> respx.Route:
    route = router.get(DEVICES)
    if len(responses) == 1 and isinstance(responses[0], httpx.Response):
        route.mock(return_value=responses[0])
    else:
        route.mock(side_effect=list(responses))
    return route


class Counter:
    """A side effect that counts calls and raises or answers from a script."""

    def __init__(self, *script: Any) -> None:
        self.script = list(script)
        self.calls = 0
        self.times: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        self.times.append(time.monotonic())
        step = self.script[min(self.calls, len(self.script)) - 1]
        if isinstance(step, type) and issubclass(step, Exception):
            raise step("scripted failure", request=request)
        if isinstance(step, Exception):
            raise step
        return step


# -- retries (§1.6) --------------------------------------------------------------------------------


async def test_429_retry_after_is_honoured(connected: Connected) -> None:
    provider, router = connected
    script = Counter(error(429, **{"Retry-After": "0.05"}), httpx.Response(200, json={}))
    router.get(DEVICES).mock(side_effect=script)
    assert (await provider.http.request("GET", DEVICES)).status_code == 200
    assert script.calls == 2
    assert script.times[1] - script.times[0] >= 0.05  # a lower bound only


async def test_503_then_success_is_retried(connected: Connected) -> None:
    provider, router = connected
    route = devices_route(router, error(503), httpx.Response(200, json={"devices": []}))
    assert await provider.experiment.backends() == []
    assert route.call_count == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504, 520, 522, 524])
async def test_every_retry_status_is_retried_for_get(connected: Connected, status: int) -> None:
    provider, router = connected
    route = devices_route(router, error(status), httpx.Response(200, json={"devices": []}))
    await provider.experiment.backends()
    assert route.call_count == 2


async def test_retry_budget_exhausted_raises_api_error_with_attempts(
    connected: Connected,
) -> None:
    provider, router = connected
    route = devices_route(router, error(503, "unavailable", code=5030))
    with pytest.raises(ApiError) as info:
        await provider.experiment.backends()
    assert route.call_count == 4  # FAST_RETRY.max_attempts
    exc = info.value
    assert type(exc) is ApiError
    assert (exc.status, exc.code, exc.message, exc.attempts) == (503, 5030, "unavailable", 4)
    assert "after 4 attempts" in str(exc)


async def test_429_exhausted_raises_rate_limited_with_retry_after(connected: Connected) -> None:
    provider, router = connected
    route = devices_route(router, error(429, "slow down", **{"Retry-After": "0.01"}))
    with pytest.raises(RateLimited) as info:
        await provider.experiment.backends()
    assert route.call_count == 4
    assert info.value.retry_after == pytest.approx(0.01)
    assert info.value.status == 429
    assert info.value.attempts == 4


async def test_retry_after_longer_than_max_retry_after_stops_at_once(
    router: respx.MockRouter,
) -> None:
    policy = RetryPolicy(backoff_initial=0.001, max_retry_after=1.0)
    async with connect(router, retry=policy) as provider:
        route = devices_route(router, error(429, **{"Retry-After": "120"}))
        started = time.monotonic()
        with pytest.raises(RateLimited) as info:
            await provider.experiment.backends()
        assert time.monotonic() - started < 5  # did not wait the 120 s
        assert route.call_count == 1
        assert info.value.retry_after == 120
        assert info.value.attempts == 1


async def test_retry_after_as_an_http_date(router: respx.MockRouter) -> None:
    """A past HTTP date means 'now'; a far future one is longer than ``max_retry_after``."""
    past = email.utils.format_datetime(email.utils.localtime().replace(year=2020), usegmt=False)
    future = email.utils.formatdate(time.time() + 3600, usegmt=True)
    async with connect(router) as provider:
        route = devices_route(
            router,
            error(429, **{"Retry-After": past}),
            httpx.Response(200, json={"devices": []}),
        )
        await provider.experiment.backends()
        assert route.call_count == 2
        router.routes.clear()
        mock_login(router)
        route = devices_route(router, error(429, **{"Retry-After": future}))
        with pytest.raises(RateLimited) as info:
            await provider.experiment.backends()
        assert route.call_count == 1
        assert info.value.retry_after == pytest.approx(3600, abs=5)


async def test_replay_safe_create_is_replayed_after_503(connected: Connected) -> None:
    provider, router = connected
    route = router.post(f"{RDB}/experiments").mock(
        side_effect=answer(error(503), httpx.Response(201, json={"uuid": "e1"}))
    )
    assert await provider.experiment.create_experiment("T1", "b", experiment_id="e1") == "e1"
    assert route.call_count == 2
    first, second = (c.request for c in route.calls)
    assert body(first) == body(second)  # the same uuid is replayed


async def test_replayed_create_that_meets_409_counts_as_success(connected: Connected) -> None:
    """§1.6: a POST that failed with 5xx after the server stored it gets 409 on the replay."""
    provider, router = connected
    router.post(f"{RDB}/analysis_results").mock(
        side_effect=answer(error(502), error(409, "exists"))
    )
    result_id = await provider.experiment.create_analysis_result("e1", {}, "T1", result_id="r1")
    assert result_id == "r1"


async def test_first_attempt_409_on_create_raises_entry_exists(connected: Connected) -> None:
    provider, router = connected
    router.post(f"{RDB}/experiments").mock(return_value=error(409, "exists"))
    with pytest.raises(EntryExists) as info:
        await provider.experiment.create_experiment("T1", "b", experiment_id="e1")
    assert info.value.attempts == 1


async def test_non_replay_safe_post_is_not_retried_on_503(connected: Connected) -> None:
    provider, router = connected
    route = router.post(f"{RDB}/custom").mock(return_value=error(503))
    with pytest.raises(ApiError) as info:
        await provider.http.request("POST", f"{RDB}/custom", json_body={"a": 1})
    assert route.call_count == 1
    assert info.value.attempts == 1


async def test_non_replay_safe_post_is_not_retried_after_a_dropped_connection(
    connected: Connected,
) -> None:
    provider, router = connected
    script = Counter(httpx.RemoteProtocolError, httpx.Response(200, json={}))
    router.post(f"{RDB}/custom").mock(side_effect=script)
    with pytest.raises(RequestError) as info:
        await provider.http.request("POST", f"{RDB}/custom")
    assert script.calls == 1
    assert not isinstance(info.value, RequestTimeout)
    assert isinstance(info.value.__cause__, httpx.RemoteProtocolError)


async def test_get_is_retried_after_a_dropped_connection(connected: Connected) -> None:
    provider, router = connected
    script = Counter(
        httpx.RemoteProtocolError, httpx.ReadError, httpx.Response(200, json={"devices": []})
    )
    router.get(DEVICES).mock(side_effect=script)
    assert await provider.experiment.backends() == []
    assert script.calls == 3


async def test_connect_error_is_retried_even_for_post(connected: Connected) -> None:
    """A connection that was never made cannot have reached the server."""
    provider, router = connected
    script = Counter(httpx.ConnectError, httpx.Response(200, json={"ok": True}))
    router.post(f"{RDB}/custom").mock(side_effect=script)
    response = await provider.http.request("POST", f"{RDB}/custom")
    assert response.json() == {"ok": True}
    assert script.calls == 2


async def test_connect_errors_exhausted_raise_request_error(connected: Connected) -> None:
    provider, router = connected
    script = Counter(httpx.ConnectError)
    router.get(DEVICES).mock(side_effect=script)
    with pytest.raises(RequestError) as info:
        await provider.experiment.backends()
    assert script.calls == 4
    assert isinstance(info.value, QexpError)
    assert info.value.method == "GET"


async def test_retry_connection_errors_false_disables_them(router: respx.MockRouter) -> None:
    policy = RetryPolicy(backoff_initial=0.001, retry_connection_errors=False)
    async with connect(router, retry=policy) as provider:
        script = Counter(httpx.ConnectError)
        router.get(DEVICES).mock(side_effect=script)
        with pytest.raises(RequestError):
            await provider.experiment.backends()
        assert script.calls == 1


async def test_retry_policy_none_never_retries(router: respx.MockRouter) -> None:
    async with connect(router, retry=RetryPolicy.none()) as provider:
        route = devices_route(router, error(503))
        with pytest.raises(ApiError) as info:
            await provider.experiment.backends()
        assert route.call_count == 1
        assert info.value.attempts == 1
        script = Counter(httpx.ReadError)
        router.get(f"{RDB}/device_components").mock(side_effect=script)
        with pytest.raises(RequestError):
            await provider.experiment.device_components()
        assert script.calls == 1
        route = router.get(f"{RDB}/limited").mock(return_value=error(429, **{"Retry-After": "0"}))
        with pytest.raises(RateLimited):
            await provider.http.request("GET", f"{RDB}/limited")
        assert route.call_count == 1


async def test_patch_is_never_retried(connected: Connected) -> None:
    """§1.6: PATCH is not retried on status, nor after a dropped connection."""
    provider, router = connected
    route = router.patch(f"{RDB}/thing").mock(return_value=error(503))
    with pytest.raises(ApiError):
        await provider.http.request("PATCH", f"{RDB}/thing", json_body={})
    assert route.call_count == 1
    script = Counter(httpx.RemoteProtocolError)
    router.patch(f"{RDB}/other").mock(side_effect=script)
    with pytest.raises(RequestError):
        await provider.http.request("PATCH", f"{RDB}/other")
    assert script.calls == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 501])
async def test_client_errors_are_not_retried(connected: Connected, status: int) -> None:
    provider, router = connected
    route = devices_route(router, error(status))
    with pytest.raises(ApiError):
        await provider.experiment.backends()
    assert route.call_count == 1


async def test_total_budget_stops_retries(router: respx.MockRouter) -> None:
    policy = RetryPolicy(backoff_initial=1.0, jitter=0.0, total_budget=0.5)
    async with connect(router, retry=policy) as provider:
        route = devices_route(router, error(503))
        started = time.monotonic()
        with pytest.raises(ApiError):
            await provider.experiment.backends()
        assert route.call_count == 1  # the first backoff (1 s) is beyond the budget
        assert time.monotonic() - started < 0.5


# -- timeouts --------------------------------------------------------------------------------------


async def test_read_timeout_maps_to_request_timeout(router: respx.MockRouter) -> None:
    async with connect(router, retry=RetryPolicy.none()) as provider:
        router.get(DEVICES).mock(side_effect=httpx.ReadTimeout)
        with pytest.raises(RequestTimeout) as info:
            await provider.experiment.backends()
        assert isinstance(info.value, RequestError)
        assert isinstance(info.value, QexpError)
        assert "ReadTimeout" in str(info.value)
        assert isinstance(info.value.__cause__, httpx.ReadTimeout)


async def test_fail_after_cancels_a_slow_call_cleanly(connected: Connected) -> None:
    provider, router = connected
    cancelled = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return httpx.Response(200, json={"devices": []})  # pragma: no cover

    router.get(DEVICES).mock(side_effect=slow)
    started = time.monotonic()
    with pytest.raises(TimeoutError), anyio.fail_after(0.05):
        await provider.experiment.backends()
    assert time.monotonic() - started < 5
    assert cancelled.is_set()
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
    router.routes.clear()
    mock_login(router)
    devices_route(router, httpx.Response(200, json={"devices": []}))
    assert await provider.experiment.backends() == []


# -- cancellation and the in-flight bound ----------------------------------------------------------


async def test_cancelled_call_leaves_no_task_and_releases_its_slot(
    router: respx.MockRouter,
) -> None:
    async with connect(router, max_in_flight=1) as provider:
        entered = asyncio.Event()
        cancelled = asyncio.Event()

        async def hang(request: httpx.Request) -> httpx.Response:
            entered.set()
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                cancelled.set()
                raise
            return httpx.Response(200)  # pragma: no cover

        router.get(f"{RDB}/slow").mock(side_effect=hang)
        task = asyncio.create_task(provider.http.request("GET", f"{RDB}/slow"))
        await asyncio.wait_for(entered.wait(), 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert cancelled.is_set()
        assert asyncio.all_tasks() == {asyncio.current_task()}
        devices_route(router, httpx.Response(200, json={"devices": [{"name": "b"}]}))
        devices = await asyncio.wait_for(provider.experiment.backends(), 1)
        assert [d.name for d in devices] == ["b"]


async def test_cancelled_during_retry_backoff_leaves_nothing_behind(
    router: respx.MockRouter,
) -> None:
    policy = RetryPolicy(backoff_initial=10.0, jitter=0.0)
    async with connect(router, retry=policy, max_in_flight=1) as provider:
        failed = asyncio.Event()

        def fail_once(request: httpx.Request) -> httpx.Response:
            failed.set()
            return error(503)

        devices_route(router, fail_once, httpx.Response(200, json={"devices": []}))
        task = asyncio.create_task(provider.experiment.backends())
        await asyncio.wait_for(failed.wait(), 1)
        await asyncio.sleep(0.01)  # now in the 10 s backoff
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert asyncio.all_tasks() == {asyncio.current_task()}
        assert await asyncio.wait_for(provider.experiment.backends(), 1) == []


@pytest.mark.parametrize("bound", [1, 3])
async def test_in_flight_bound_is_reached_and_never_exceeded(
    router: respx.MockRouter, bound: int
) -> None:
    active = 0
    peak = 0

    async def counting(request: httpx.Request) -> httpx.Response:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        try:
            await asyncio.sleep(0.01)
        finally:
            active -= 1
        return httpx.Response(200, json={"devices": []})

    async with connect(router, max_in_flight=bound) as provider:
        router.get(DEVICES).mock(side_effect=counting)
        results = await asyncio.gather(*(provider.experiment.backends() for _ in range(10)))
    assert results == [[]] * 10
    assert peak == bound


# -- error mapping (§1.5, §3.12) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, ApiError),
        (401, AuthError),
        (403, AuthError),
        (404, EntryNotFound),
        (409, EntryExists),
        (422, ApiError),
        (429, RateLimited),
        (500, ApiError),
    ],
)
async def test_status_maps_to_typed_error_with_code_and_message(
    router: respx.MockRouter, status: int, cls: type[ApiError]
) -> None:
    async with connect(router, retry=RetryPolicy.none()) as provider:
        devices_route(router, error(status, "it failed", code="E42"))
        with pytest.raises(cls) as info:
            await provider.experiment.backends()
    exc = info.value
    assert type(exc) is cls
    assert isinstance(exc, QexpError)
    assert isinstance(exc, ApiError)
    assert (exc.status, exc.code, exc.message) == (status, "E42", "it failed")
    assert (exc.method, exc.url) == ("GET", DEVICES)
    assert str(exc) == f"{status} for GET {DEVICES}: it failed (code E42)"


@pytest.mark.parametrize(
    ("response", "message", "code"),
    [
        (httpx.Response(400, text="plain text failure"), "plain text failure", None),
        (httpx.Response(400, json={"error": "flat message"}), "flat message", None),
        (httpx.Response(400, json={"message": "top message"}), "top message", None),
        (httpx.Response(400, json={"error": {"code": 7, "name": "NAMED"}}), "NAMED", 7),
        (httpx.Response(400), "Bad Request", None),
        (httpx.Response(400, content=b"[1,2]"), "[1,2]", None),
    ],
)
async def test_error_message_from_other_bodies(
    router: respx.MockRouter, response: httpx.Response, message: str, code: Any
) -> None:
    async with connect(router, retry=RetryPolicy.none()) as provider:
        devices_route(router, response)
        with pytest.raises(ApiError) as info:
            await provider.experiment.backends()
    assert info.value.message == message
    assert info.value.code == code


async def test_error_url_has_no_query_string(connected: Connected) -> None:
    provider, router = connected
    router.get(f"{RDB}/experiments").mock(return_value=error(400))
    with pytest.raises(ApiError) as info:
        await provider.experiment.experiments(backend_name="b")
    assert info.value.url == f"{RDB}/experiments"
    assert "?" not in str(info.value)


async def test_non_json_success_body_raises_api_error(connected: Connected) -> None:
    provider, router = connected
    devices_route(router, httpx.Response(200, text="<html>oops</html>"))
    with pytest.raises(ApiError, match="not valid JSON"):
        await provider.experiment.backends()


async def test_transport_failures_are_request_errors(router: respx.MockRouter) -> None:
    async with connect(router, retry=RetryPolicy.none()) as provider:
        for exc in (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError):
            router.get(DEVICES).mock(side_effect=exc)
            with pytest.raises(RequestError) as info:
                await provider.experiment.backends()
            assert not isinstance(info.value, ApiError)
            assert info.value.url == DEVICES


# -- login and discovery (§2) ----------------------------------------------------------------------


class TrackingTransport(httpx.MockTransport):
    """A mock transport that remembers whether the client closed it."""

    closed = False

    async def aclose(self) -> None:
        self.closed = True
        await super().aclose()


async def test_login_sends_the_api_token_and_discovers_the_services(
    connected: Connected,
) -> None:
    provider, router = connected
    login, me, network = (call.request for call in list(router.calls)[:LOGIN_CALLS])
    assert (login.method, str(login.url)) == ("POST", f"{AUTH}/users/loginWithToken")
    assert body(login) == {"apiToken": TOKEN}
    assert login.headers["Content-Type"] == "application/json"
    assert "X-Access-Token" not in login.headers
    assert (me.method, str(me.url), me.headers["X-Access-Token"]) == (
        "GET",
        f"{AUTH}/users/me",
        "ACCESS",
    )
    assert (network.method, str(network.url), network.headers["X-Access-Token"]) == (
        "GET",
        f"{HTTP}/Network",
        "ACCESS",
    )
    account = provider.account
    assert account.resultsdb_url == RDB
    assert account.runtime_url == RUNTIME
    assert account.http_url == HTTP
    assert account.user_id == "user-1"
    assert [str(h) for h in account.hgps] == ["ibm-q/open/main", "hub-a/group-1/proj-x"]
    assert str(provider.hgp) == "ibm-q/open/main"  # the default goes first (§2.5)
    assert provider.experiment.base_url == RDB


async def test_login_refused_raises_auth_error_and_closes_the_client() -> None:
    router = respx.MockRouter(assert_all_called=False)
    router.post(f"{AUTH}/users/loginWithToken").mock(
        return_value=error(401, "invalid token", code="AUTH_ERROR")
    )
    transport = TrackingTransport(router.async_handler)
    provider = Provider(TOKEN, AUTH, transport=transport)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        with pytest.raises(AuthError) as info:
            async with provider:
                pytest.fail("connected with a refused token")  # pragma: no cover
    assert info.value.status == 401
    assert transport.closed
    assert router.calls.call_count == 1  # 401 is not retried
    with pytest.raises(QexpError, match="not connected"):
        _ = provider.http


async def test_login_without_an_access_token_is_an_auth_error() -> None:
    router = respx.MockRouter(assert_all_called=False)
    router.post(f"{AUTH}/users/loginWithToken").mock(return_value=httpx.Response(200, json={}))
    transport = TrackingTransport(router.async_handler)
    with pytest.raises(AuthError, match="access token"):
        async with Provider(TOKEN, AUTH, transport=transport):
            pass  # pragma: no cover
    assert transport.closed


async def test_network_listing_failure_is_tolerated(router: respx.MockRouter) -> None:
    router.routes.clear()
    mock_login(router)
    router.get(f"{HTTP}/Network").mock(return_value=error(404))
    async with connect(router) as provider:
        assert provider.account.hgps == ()
        assert provider.hgp is None


async def test_account_without_resultsdb_has_no_experiment_service() -> None:
    router = respx.MockRouter(assert_all_called=False)
    mock_login(router, resultsdb=None)
    async with connect(router) as provider:
        with pytest.raises(QexpError, match="no experiment service"):
            _ = provider.experiment


async def test_selecting_an_unavailable_hub_is_a_value_error(router: respx.MockRouter) -> None:
    with pytest.raises(ValueError, match="not available"):
        async with connect(router, hub="nope"):
            pass  # pragma: no cover


async def test_instance_selects_the_hub_group_project(router: respx.MockRouter) -> None:
    async with connect(router, instance="hub-a/group-1/proj-x") as provider:
        assert str(provider.hgp) == "hub-a/group-1/proj-x"


async def test_provider_is_unusable_before_connect_and_after_close(
    router: respx.MockRouter,
) -> None:
    provider = Provider(TOKEN, AUTH, transport=httpx.MockTransport(router.async_handler))
    with pytest.raises(QexpError):
        _ = provider.account
    with pytest.raises(QexpError):
        _ = provider.http
    async with provider:
        assert provider.account.user_id == "user-1"
    with pytest.raises(QexpError):
        _ = provider.experiment
    await provider.aclose()  # idempotent


async def test_client_application_header_takes_the_custom_suffix(
    router: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QEXP_CUSTOM_CLIENT_APP_HEADER", "my-app")
    async with connect(router) as provider:
        devices_route(router, httpx.Response(200, json={"devices": []}))
        await provider.experiment.backends()
    (request,) = service_calls(router)
    assert request.headers["X-Qx-Client-Application"].endswith("/my-app")
    assert request.url.host == RDB_HOST


@pytest.mark.parametrize(
    "first",
    [
        pytest.param(error(429, **{"Retry-After": "0"}), id="429-not-processed"),
        pytest.param(httpx.ConnectError, id="connect-error-never-sent"),
    ],
)
async def test_409_after_an_attempt_that_never_stored_anything_is_entry_exists(
    connected: Connected, first: Any
) -> None:
    provider, router = connected
    router.post(f"{RDB}/experiments").mock(side_effect=Counter(first, error(409, "exists")))
    with pytest.raises(EntryExists):
        await provider.experiment.create_experiment("T1", "b", experiment_id="taken")


async def test_get_redirect_is_followed_without_leaking_the_token(connected: Connected) -> None:
    provider, router = connected
    router.get(f"{RDB}/experiments/e1/plots/f.svg").mock(
        return_value=httpx.Response(302, headers={"Location": "https://blob.example.test/f"})
    )
    blob = router.get("https://blob.example.test/f").mock(
        return_value=httpx.Response(200, content=b"<svg/>")
    )
    assert await provider.experiment.figure("e1", "f.svg") == b"<svg/>"
    assert "X-Access-Token" not in blob.calls.last.request.headers


async def test_connect_timeout_is_retried_even_for_post(connected: Connected) -> None:
    """A connect timeout means the request was never sent, so it is safe to replay."""
    provider, router = connected
    script = Counter(httpx.ConnectTimeout, httpx.PoolTimeout, httpx.Response(200, json={}))
    router.post(f"{RDB}/custom").mock(side_effect=script)
    await provider.http.request("POST", f"{RDB}/custom")
    assert script.calls == 3


async def test_read_timeout_on_post_is_not_replayed(connected: Connected) -> None:
    provider, router = connected
    script = Counter(httpx.ReadTimeout, httpx.Response(200, json={}))
    router.post(f"{RDB}/custom").mock(side_effect=script)
    with pytest.raises(RequestTimeout):
        await provider.http.request("POST", f"{RDB}/custom")
    assert script.calls == 1


async def test_users_me_without_urls_is_an_api_error() -> None:
    router = respx.MockRouter(assert_all_called=False)
    router.post(f"{AUTH}/users/loginWithToken").respond(200, json={"id": "ACCESS"})
    router.get(f"{AUTH}/users/me").respond(200, json={"id": "u"})
    transport = TrackingTransport(router.async_handler)
    with pytest.raises(ApiError, match="service URLs"):
        async with Provider(TOKEN, AUTH, transport=transport):
            pass  # pragma: no cover
    assert transport.closed


async def test_users_me_with_odd_services_has_no_experiment_service() -> None:
    router = respx.MockRouter(assert_all_called=False)
    router.post(f"{AUTH}/users/loginWithToken").respond(200, json={"id": "ACCESS"})
    router.get(f"{AUTH}/users/me").respond(200, json={"urls": {"services": ["not", "a dict"]}})
    async with connect(router) as provider:
        assert provider.account.resultsdb_url is None
        assert provider.account.hgps == ()
        with pytest.raises(QexpError):
            _ = provider.experiment


async def test_explicit_hub_group_project_is_used_when_the_listing_is_unavailable() -> None:
    router = respx.MockRouter(assert_all_called=False)
    mock_login(router)
    router.get(f"{HTTP}/Network").respond(503)
    async with connect(router, hub="h", group="g", project="p") as provider:
        assert str(provider.hgp) == "h/g/p"
        route = router.post(f"{RDB}/experiments").respond(201, json={})
        await provider.experiment.create_experiment("T1", "b", experiment_id="e1")
        sent = body(route.calls.last.request)
        assert (sent["hub_id"], sent["group_id"], sent["project_id"]) == ("h", "g", "p")


async def test_create_experiment_without_hgp_warns_and_sends_none(
    caplog: pytest.LogCaptureFixture,
) -> None:
    router = respx.MockRouter(assert_all_called=False)
    mock_login(router, network=[])
    async with connect(router) as provider:
        assert provider.hgp is None
        route = router.post(f"{RDB}/experiments").respond(201, json={"uuid": "e1"})
        with caplog.at_level(logging.WARNING, logger="async_qexp"):
            await provider.experiment.create_experiment("T1", "b", experiment_id="e1")
        assert body(route.calls.last.request) == {"uuid": "e1", "type": "T1", "device_name": "b"}
    assert any("hub/group/project" in r.getMessage() for r in caplog.records)


async def test_connect_twice_is_a_no_op(connected: Connected) -> None:
    provider, router = connected
    assert await provider.connect() is provider
    assert router.calls.call_count == LOGIN_CALLS


async def test_default_preferences_path_is_under_qexp_config_dir(
    router: respx.MockRouter, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QEXP_CONFIG_DIR", str(tmp_path / "cfg"))
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "preferences.json").write_text('{"experiment": {"auto_save": true}}')
    async with connect(router) as provider:
        assert provider.experiment.preferences == {"auto_save": True}


# -- redirects, bodies and the session's own settings -----------------------------------------


async def test_too_many_redirects_is_an_api_error_with_the_last_status(
    connected: Connected,
) -> None:
    provider, router = connected
    hops = [router.get(f"{RDB}/hop/{n}") for n in range(7)]
    for n, hop in enumerate(hops):
        hop.respond(301 if n % 2 else 307, headers={"Location": f"{RDB}/hop/{n + 1}?sig=s{n}"})
    with pytest.raises(ApiError) as excinfo:
        await provider.http.request("GET", f"{RDB}/hop/0")
    error = excinfo.value
    assert type(error) is ApiError
    assert error.status == 301  # what the last request made (hop 5) answered
    assert "more than 5 redirects" in error.message
    assert error.method == "GET"
    assert error.url == f"{RDB}/hop/5"  # that request's URL, without its signed query
    assert error.headers["Location"] == f"{RDB}/hop/6?sig=s5"
    assert [hop.call_count for hop in hops] == [1, 1, 1, 1, 1, 1, 0]
    assert all(h.calls.last.request.headers["X-Access-Token"] == "ACCESS" for h in hops[:6])


async def test_a_redirect_that_is_not_followed_is_an_error_with_secrets_redacted(
    connected: Connected,
) -> None:
    """A POST is not redirected: the 3xx is the error, and a token its body echoes is not
    in the error (nor is the Location's query)."""
    provider, router = connected
    route = router.post(f"{RDB}/custom").respond(
        303,
        json={"error": {"message": f"moved; your token {TOKEN} and access ACCESS"}},
        headers={"Location": "https://elsewhere.example.test/x"},
    )
    elsewhere = router.route(host="elsewhere.example.test").respond(200, json={})
    with pytest.raises(ApiError) as excinfo:
        await provider.http.request("POST", f"{RDB}/custom", json_body={})
    error = excinfo.value
    assert error.status == 303
    assert error.method == "POST"
    assert TOKEN not in str(error)
    assert "ACCESS" not in str(error)
    assert "moved; your token ... and access ..." in error.message
    assert route.call_count == 1
    assert elsewhere.call_count == 0


@pytest.mark.parametrize("status", [300, 302])
async def test_a_get_redirect_without_location_is_the_error(
    connected: Connected, status: int
) -> None:
    provider, router = connected
    router.get(DEVICES).respond(status, json={"error": {"message": f"no {TOKEN} here"}})
    with pytest.raises(ApiError) as excinfo:
        await provider.http.request("GET", DEVICES)
    assert excinfo.value.status == status
    assert excinfo.value.message == "no ... here"
    assert TOKEN not in str(excinfo.value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
async def test_a_body_with_nan_or_infinity_is_refused_before_sending(
    connected: Connected, value: float
) -> None:
    provider, router = connected
    route = router.post(f"{RDB}/custom").respond(200, json={})
    with pytest.raises(ValueError, match="JSON"):
        await provider.http.request("POST", f"{RDB}/custom", json_body={"x": [1, value]})
    assert route.call_count == 0


async def test_a_json_body_is_compact_with_its_content_type(connected: Connected) -> None:
    provider, router = connected
    route = router.post(f"{RDB}/custom").respond(200, json={})
    await provider.http.request("POST", f"{RDB}/custom", json_body={"a": [1, 2], "b": "é"})
    request = route.calls.last.request
    assert request.content == b'{"a":[1,2],"b":"\\u00e9"}'
    assert request.headers["Content-Type"] == "application/json"


async def test_the_session_sends_its_user_agent_and_per_request_timeout(
    connected: Connected,
) -> None:
    provider, router = connected
    route = router.get(DEVICES).respond(200, json=[])
    await provider.experiment.backends()
    request = route.calls.last.request
    assert request.headers["User-Agent"].startswith("async_qexp/")
    default = request.extensions["timeout"]
    await provider.http.request("GET", DEVICES, timeout=1.5)
    assert route.calls.last.request.extensions["timeout"] == {
        "connect": 1.5,
        "read": 1.5,
        "write": 1.5,
        "pool": 1.5,
    }
    assert default != route.calls.last.request.extensions["timeout"]
    assert provider.http.max_in_flight == 64


async def test_error_from_a_response_defaults_to_one_attempt() -> None:
    from async_qexp._http import error_from_response

    request = httpx.Request("GET", f"{RDB}/x?sig=secret")
    error = error_from_response(httpx.Response(500, text="plain failure", request=request))
    assert error.attempts == 1
    assert error.message == "plain failure"
    assert error.url == f"{RDB}/x"
    empty = error_from_response(httpx.Response(502, request=request))
    assert empty.message == "Bad Gateway"


async def test_the_request_log_hides_a_blobs_query_and_credential_like_params() -> None:
    from async_qexp._http import log_target

    assert log_target(f"{RDB}/x?sig=1", None) == f"{RDB}/x"
    assert log_target(f"{RDB}/x", {"limit": 5, "sort": "a"}) == f"{RDB}/x?limit=5&sort=a"
    assert log_target(f"{RDB}/x", [("tag", "a"), ("tag", "b")]) == f"{RDB}/x?tag=a&tag=b"
    assert log_target(f"{RDB}/_blob/abc", {"limit": 5}) == f"{RDB}/_blob/abc"
    assert log_target(f"{RDB}/x", {"Api_Key": "k"}) == f"{RDB}/x?..."


# -- how a transport failure reads --------------------------------------------------------------


def _caused(outer: Exception, inner: BaseException) -> Exception:
    outer.__cause__ = inner
    return outer


async def test_a_certificate_that_did_not_verify_says_where_and_what_to_do() -> None:
    import ssl

    from async_qexp._http import _transport_failure

    bad = ssl.SSLCertVerificationError(1, "certificate verify failed")
    bad.verify_message = "self-signed certificate"
    failure = _transport_failure(
        _caused(httpx.ConnectError("tls"), bad),
        method="GET",
        url="https://rdb.example.test:8443/x",
        via=" (through the proxy http://p:1)",
    )
    assert type(failure) is RequestError
    assert failure.__cause__ is not None
    text = str(failure)
    assert (
        "TLS certificate verification failed for rdb.example.test:8443 (through the proxy "
        "http://p:1): self-signed certificate. Trust the certificate authority that signed "
        "the server's certificate with verify='ca.pem', or SSL_CERT_FILE"
    ) in text


async def test_a_failed_handshake_and_a_plain_failure_read_as_they_are() -> None:
    import ssl

    from async_qexp._http import _transport_failure, tls_failure

    handshake = ssl.SSLError(1, "[SSL] wrong version number")
    handshake.reason = "WRONG_VERSION_NUMBER"
    failure = _transport_failure(
        _caused(httpx.ConnectError("x"), handshake), method="GET", url="https://h/x"
    )
    assert "TLS handshake failed: WRONG_VERSION_NUMBER" in str(failure)
    plain = _transport_failure(httpx.ReadError("peer went away"), method="GET", url="http://h/")
    assert "ReadError: peer went away" in str(plain)
    assert "proxy" not in str(plain)
    bare = _transport_failure(httpx.ReadTimeout(""), method="GET", url="http://h/")
    assert type(bare) is RequestTimeout
    assert str(bare).endswith("ReadTimeout")
    # aiohttp's TLS errors carry the standard library's in os_error / certificate_error
    wrapped = RuntimeError("aiohttp wrapper")
    wrapped.os_error = handshake  # type: ignore[attr-defined]
    assert tls_failure(httpx.ConnectError("x").with_traceback(None)) is None
    assert tls_failure(_caused(httpx.ConnectError("x"), wrapped)) is handshake
    eof = ssl.SSLEOFError(8, "EOF")
    assert tls_failure(_caused(httpx.ReadError("x"), eof)) is None  # an early end is no TLS failure


async def test_a_wrong_transport_is_refused_with_its_type() -> None:
    with pytest.raises(TypeError, match="not int"):
        Provider(TOKEN, AUTH, transport=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not 'curl'"):
        Provider(TOKEN, AUTH, transport="curl")  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def bare_session(max_in_flight: int = 8) -> AsyncIterator[HttpSession]:
    """An HTTP session of its own (no provider, no login), on aiohttp, closed afterwards."""
    session = HttpSession(
        transport="aiohttp",
        timeout=5,
        retry=RetryPolicy.none(),
        max_in_flight=max_in_flight,
        user_agent="ua/1",
    )
    try:
        yield session
    finally:
        await session.aclose()


async def test_the_pool_size_is_max_in_flight(router: respx.MockRouter) -> None:
    from async_qexp._transport import AiohttpTransport

    async with bare_session(max_in_flight=7) as session:
        assert isinstance(session.transport, AiohttpTransport)
        assert session.transport.limits.max_connections == 7
        assert session.client.headers["User-Agent"] == "ua/1"


async def test_the_token_goes_to_service_origins_only(connected: Connected) -> None:
    provider, _ = connected
    assert provider.http.access_token_for(f"{RDB}/x") == "ACCESS"
    assert provider.http.access_token_for("https://elsewhere.example.test/x") is None


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("content", [b"", b'{"a":1}', "caf\u00e9".encode()])
@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"Content-Type": "application/json"},
        {"X-Custom": "v\u00e9"},  # not ASCII: httpx refuses it, and so does the session
        {"host": "other.example.test"},  # headers httpx fills in itself: httpx builds it
        {"Content-Length": "3"},
        {"Transfer-Encoding": "chunked"},
    ],
)
@pytest.mark.parametrize("token", [None, "ACCESS"])
async def test_a_request_is_built_as_httpx_builds_it(
    method: str, content: bytes, extra: dict[str, str], token: str | None
) -> None:
    """The session's quick request building gives what ``httpx.Request`` gives: method, URL,
    the same headers in the same order, and the body; twice (the second from its cache)."""
    async with bare_session() as session:
        url = httpx.URL(f"{RDB}/analysis_results", params={"q": "1"})
        headers = {"X-Qx-Client-Application": "app/1", **extra}
        expected_headers = {**session.client.headers, **headers}
        if token is not None:
            expected_headers["X-Access-Token"] = token
        try:
            expected = httpx.Request(method, url, content=content, headers=expected_headers)
        except UnicodeEncodeError:
            with pytest.raises(UnicodeEncodeError):
                session._requests.build(method, url, content, headers, token, {})
            return
        for _ in range(2):
            built = session._requests.build(method, url, content, headers, token, {"timeout": {}})
            assert built.method == expected.method
            assert built.url == expected.url
            assert built.headers.raw == expected.headers.raw
            assert built.content == expected.content
            assert built.extensions == {"timeout": {}}


async def test_a_new_access_token_drops_the_header_sets_of_the_old_one() -> None:
    async with bare_session() as session:
        url = httpx.URL(f"{RDB}/x")
        session._requests.build("GET", url, b"", {}, "OLD", {})
        assert any("OLD" in key for key in session._requests._encoded)
        session.set_access_token(Secret("NEW"), [RDB])
        assert not session._requests._encoded
