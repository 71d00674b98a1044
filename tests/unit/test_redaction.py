"""Secrets never show: the API token, the access token and signed-URL signatures stay out of
reprs, exceptions and log records."""

from __future__ import annotations

import copy
import logging
import pickle
from typing import Any

import httpx
import pytest
import respx

from async_qexp import ApiError, AuthError, Provider, QexpError, RequestError, RetryPolicy
from async_qexp._http import Secret

from ._support import AUTH, RDB, RDB_HOST, TOKEN, connect, mock_login

pytestmark = pytest.mark.asyncio

ACCESS_SECRET = "tok-9f2e-ACCESS-SECRET-51"
SIGNATURE = "SIG-5ecr3t-d34db33f"


def leaks(text: str) -> list[str]:
    return [s for s in (TOKEN, ACCESS_SECRET, SIGNATURE) if s in text]


def record_text(record: logging.LogRecord) -> str:
    parts = [record.getMessage(), repr(record.args), str(record.msg)]
    if record.exc_info and record.exc_info[1] is not None:
        parts += [str(record.exc_info[1]), repr(record.exc_info[1])]
    return " ".join(parts)


@pytest.fixture
def secret_router() -> respx.MockRouter:
    router = respx.MockRouter(assert_all_called=False)
    mock_login(router, access=ACCESS_SECRET)
    return router


async def test_secret_hides_its_value_and_refuses_pickling() -> None:
    secret = Secret(TOKEN)
    assert secret.get() == TOKEN
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r}", f"{[secret]}"):
        assert TOKEN not in text
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(secret)
    with pytest.raises(TypeError):
        copy.copy(secret)
    assert secret == Secret(TOKEN)
    assert secret != Secret("other")
    assert secret != TOKEN


async def test_provider_and_session_reprs_hide_the_tokens(
    secret_router: respx.MockRouter,
) -> None:
    provider = Provider(TOKEN, AUTH, transport=httpx.MockTransport(secret_router.async_handler))
    assert leaks(repr(provider)) == leaks(str(provider)) == []
    async with provider:
        for text in (
            repr(provider),
            str(provider),
            repr(provider.http),
            repr(provider.experiment),
            repr(provider.account),
            repr(vars(provider)),
        ):
            assert leaks(text) == [], text
    assert leaks(repr(provider)) == []


async def test_logs_hold_no_token_during_login_and_retries(
    secret_router: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with connect(secret_router) as provider:
        secret_router.get(f"{RDB}/devices").mock(
            side_effect=[
                httpx.Response(503, json={"error": {"message": "busy"}}),
                httpx.ReadError("reset"),
                httpx.Response(429, headers={"Retry-After": "0"}),
                httpx.Response(200, json={"devices": []}),
            ]
        )
        assert await provider.experiment.backends() == []
    assert sum("retrying" in r.getMessage() for r in caplog.records) == 3
    for record in caplog.records:
        assert leaks(record_text(record)) == [], record.getMessage()


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 429, 500])
async def test_exceptions_we_build_hold_no_token(
    secret_router: respx.MockRouter, status: int
) -> None:
    async with connect(secret_router, retry=RetryPolicy.none()) as provider:
        secret_router.get(f"{RDB}/devices").mock(
            return_value=httpx.Response(status, json={"error": {"code": 1, "message": "no"}})
        )
        with pytest.raises(ApiError) as info:
            await provider.experiment.backends()
    assert leaks(str(info.value)) == leaks(repr(info.value)) == []
    assert leaks(repr(vars(info.value))) == []


async def test_login_refusal_holds_no_token() -> None:
    router = respx.MockRouter(assert_all_called=False)
    router.post(f"{AUTH}/users/loginWithToken").mock(
        return_value=httpx.Response(401, json={"error": {"code": "AUTH", "message": "refused"}})
    )
    with pytest.raises(AuthError) as info:
        async with Provider(TOKEN, AUTH, transport=httpx.MockTransport(router.async_handler)):
            pass  # pragma: no cover
    assert leaks(str(info.value)) == leaks(repr(info.value)) == []


async def test_transport_failure_holds_no_token(secret_router: respx.MockRouter) -> None:
    async with connect(secret_router, retry=RetryPolicy.none()) as provider:
        secret_router.get(f"{RDB}/devices").mock(side_effect=httpx.ConnectError("refused"))
        with pytest.raises(RequestError) as info:
            await provider.experiment.backends()
    assert leaks(str(info.value)) == leaks(repr(info.value)) == []


async def test_api_error_on_a_signed_url_holds_no_signature(
    secret_router: respx.MockRouter,
) -> None:
    async with connect(secret_router, retry=RetryPolicy.none()) as provider:
        secret_router.get(host=RDB_HOST).respond(
            200, json={"url": f"https://blob.example.test/put?sig={SIGNATURE}"}
        )
        secret_router.put(host="blob.example.test").respond(403, text="denied")
        with pytest.raises(AuthError) as info:
            await provider.experiment.upload_figure("e1", b"<svg/>", "f.svg")
    assert leaks(str(info.value)) == []
    assert info.value.url == "https://blob.example.test/put"


async def test_dropped_upload_to_a_signed_url_holds_no_signature(
    secret_router: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with connect(secret_router) as provider:
        secret_router.get(host=RDB_HOST).respond(
            200, json={"url": f"https://blob.example.test/put?sig={SIGNATURE}"}
        )
        secret_router.put(host="blob.example.test").mock(
            side_effect=httpx.RemoteProtocolError("dropped")
        )
        with pytest.raises(RequestError) as info:
            await provider.experiment.upload_figure("e1", b"<svg/>", "f.svg")
    found = leaks(str(info.value)) + [s for r in caplog.records for s in leaks(record_text(r))]
    assert found == []


@pytest.mark.parametrize("where", ["login", "service"])
async def test_a_token_echoed_by_the_server_is_redacted(
    secret_router: respx.MockRouter, where: str
) -> None:
    exc: QexpError
    if where == "login":
        router = respx.MockRouter(assert_all_called=False)
        router.post(f"{AUTH}/users/loginWithToken").mock(
            return_value=httpx.Response(
                401, json={"error": {"code": 401, "message": f"bad token {TOKEN}"}}
            )
        )
        with pytest.raises(AuthError) as login_info:
            async with Provider(TOKEN, AUTH, transport=httpx.MockTransport(router.async_handler)):
                pass  # pragma: no cover
        exc = login_info.value
    else:
        async with connect(secret_router, retry=RetryPolicy.none()) as provider:
            secret_router.get(f"{RDB}/devices").mock(
                return_value=httpx.Response(401, text=f"expired token {ACCESS_SECRET}")
            )
            with pytest.raises(AuthError) as info:
                await provider.experiment.backends()
        exc = info.value
    texts: list[Any] = [str(exc), repr(exc), getattr(exc, "message", "")]
    assert [s for t in texts for s in leaks(t)] == []
