"""What a user sees when something goes wrong: errors that say more (headers, request id,
attempts, a login at a URL that is no auth URL), the request log and its levels, the redaction
of every log record, and ``QEXP_LOG``."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
import respx

from async_qexp import (
    ApiError,
    AuthError,
    EntryNotFound,
    Provider,
    RequestError,
    RetryPolicy,
    RuntimeJobNotFound,
)
from async_qexp._http import Secret, log_target
from async_qexp._logs import RedactingFilter, redact
from async_qexp.errors import ResponseHeaders

from ._support import AUTH, RDB, RUNTIME, TOKEN, connect

Connected = tuple[Provider, respx.MockRouter]

ROOT = Path(__file__).resolve().parents[2]
DEVICES = f"{RDB}/devices"


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_an_api_error_keeps_the_headers_and_the_request_id(connected: Connected) -> None:
    provider, router = connected
    router.get(DEVICES).respond(
        404,
        json={"error": {"code": 7, "message": "gone"}},
        headers={
            "X-Request-Id": "req-123",
            "Retry-After": "3",
            "Set-Cookie": "session=abc",
            "X-Access-Token": "echoed",
        },
    )
    with pytest.raises(EntryNotFound) as info:
        await provider.experiment.backends()
    error = info.value
    assert (error.status, error.code, error.message) == (404, 7, "gone")
    assert error.request_id == "req-123"
    assert error.headers["retry-after"] == error.headers["Retry-After"] == "3"
    assert "set-cookie" not in error.headers
    assert "X-Access-Token" not in error.headers
    assert str(error).endswith("gone (code 7) (request id req-123)")
    with pytest.raises(TypeError):
        error.headers["x"] = "y"  # type: ignore[index]


@pytest.mark.asyncio
async def test_other_request_id_headers_and_none(connected: Connected) -> None:
    provider, router = connected
    router.get(DEVICES).mock(
        side_effect=[
            httpx.Response(400, headers={"X-Correlation-Id": "corr-9"}),
            httpx.Response(400, headers={"X-Global-Transaction-Id": "gt-1"}),
            httpx.Response(400),
        ]
    )
    found = []
    for _ in range(3):
        with pytest.raises(ApiError) as info:
            await provider.experiment.backends()
        found.append(info.value.request_id)
    assert found == ["corr-9", "gt-1", None]
    assert "request id" not in str(info.value)
    assert ApiError("x", status=500).headers == {}


@pytest.mark.asyncio
async def test_a_recast_error_keeps_everything(connected: Connected) -> None:
    provider, router = connected
    router.get(f"{RUNTIME}/jobs/j1").respond(
        404, json={"error": {"message": "no job"}}, headers={"X-Request-Id": "rt-5"}
    )
    with pytest.raises(RuntimeJobNotFound) as info:
        await provider.runtime.job("j1")
    assert info.value.request_id == "rt-5"
    assert info.value.headers["x-request-id"] == "rt-5"
    assert isinstance(info.value.__cause__, EntryNotFound)


def test_response_headers_join_repeated_names() -> None:
    headers = ResponseHeaders([("Via", "a"), ("via", "b"), ("Authorization", "Basic x")])
    assert dict(headers) == {"via": "a, b"}
    assert "VIA" in headers
    assert len(headers) == 1
    assert repr(headers) == "ResponseHeaders({'via': 'a, b'})"


@pytest.mark.asyncio
async def test_a_request_error_says_how_many_attempts_and_keeps_the_last_cause(
    router: respx.MockRouter,
) -> None:
    async with connect(router) as provider:  # FAST_RETRY: 4 attempts
        router.get(DEVICES).mock(
            side_effect=[httpx.ConnectError("one"), httpx.ReadError("two")]
            + [httpx.ConnectError("last")] * 2
        )
        with pytest.raises(RequestError) as info:
            await provider.experiment.backends()
    error = info.value
    assert error.attempts == 4
    assert str(error) == f"GET {DEVICES}: ConnectError: last (after 4 attempts)"
    assert error.reason == "ConnectError: last"
    assert isinstance(error.__cause__, httpx.ConnectError)
    assert str(error.__cause__) == "last"
    async with connect(router, retry=RetryPolicy.none()) as provider:
        router.get(DEVICES).mock(side_effect=httpx.ConnectError("once"))
        with pytest.raises(RequestError) as info:
            await provider.experiment.backends()
    assert info.value.attempts == 1
    assert "attempts" not in str(info.value)


@pytest.mark.asyncio
async def test_an_unsupported_scheme_is_not_retried(connected: Connected) -> None:
    provider, router = connected
    router.get(DEVICES).mock(side_effect=httpx.UnsupportedProtocol("ftp"))
    with pytest.raises(RequestError) as info:
        await provider.experiment.backends()
    assert info.value.attempts == 1


# -- login at a URL that is no auth URL ----------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (httpx.Response(404, text="Not Found"), "answered 404 Not Found"),
        (httpx.Response(405, text="Method Not Allowed"), "answered 405"),
        (httpx.Response(200, html="<html>IBM Quantum</html>"), "answered text/html"),
        (httpx.Response(200, json={"hello": "world"}), "its login answer has no id"),
    ],
)
async def test_login_at_a_url_that_is_no_auth_url_says_so(
    answer: httpx.Response, says: str
) -> None:
    url = "https://auth.example.test/resultsdb"
    router = respx.MockRouter(assert_all_called=False)
    router.post(f"{url}/users/loginWithToken").mock(return_value=answer)
    with pytest.raises(AuthError) as info:
        await Provider(TOKEN, url, transport=httpx.MockTransport(router.async_handler)).connect()
    text = str(info.value)
    assert f"{url} does not look like an IBM Quantum auth URL" in text
    assert "(did you mean https://auth.example.test/api?)" in text
    assert "https://auth.quantum-computing.ibm.com/api" in text  # what one looks like
    assert says in text
    assert info.value.status == answer.status_code
    assert router.calls.call_count == 1  # not retried


@pytest.mark.asyncio
async def test_a_refused_token_is_still_just_refused() -> None:
    router = respx.MockRouter(assert_all_called=False)
    router.post(f"{AUTH}/users/loginWithToken").respond(401, json={"error": {"message": "no"}})
    with pytest.raises(AuthError) as info:
        await Provider(TOKEN, AUTH, transport=httpx.MockTransport(router.async_handler)).connect()
    assert "does not look like" not in str(info.value)


# -- the request log -----------------------------------------------------------------------------


def lines(caplog: pytest.LogCaptureFixture, name: str) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == name]


@pytest.mark.asyncio
async def test_one_debug_line_per_attempt_retries_at_info_giving_up_at_warning(
    router: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="async_qexp")
    async with connect(router) as provider:
        caplog.clear()
        router.get(DEVICES).mock(
            side_effect=[httpx.Response(503), httpx.Response(200, json={"devices": []})]
        )
        await provider.experiment.backends(), "retried once"
        router.get(DEVICES).mock(return_value=httpx.Response(503))
        with pytest.raises(ApiError):
            await provider.experiment.backends()
        router.get(DEVICES).mock(return_value=httpx.Response(404))
        with pytest.raises(EntryNotFound):
            await provider.experiment.backends()
    logged = lines(caplog, "async_qexp.http")
    levels = [level for level, _ in logged]
    assert levels == ["DEBUG", "INFO", "DEBUG"] + ["DEBUG", "INFO"] * 3 + ["DEBUG"] + [
        "WARNING",
        "DEBUG",
    ]
    first, retry, second = (text for _, text in logged[:3])
    assert first.startswith(f"GET {DEVICES} -> 503 in ")
    assert first.endswith(" ms (attempt 1)")
    assert retry.startswith(f"retrying GET {DEVICES} in ")
    assert retry.endswith(": attempt 1 of 4 failed (503)")
    assert second.endswith("(attempt 2)")
    assert " -> 200 in " in second
    assert logged[-2][1] == (
        f"giving up on GET {DEVICES} after 4 attempts: 503 "
        "(4 attempts made, the most the retry policy allows)"
    )
    assert logged[-1][1].startswith(f"GET {DEVICES} -> 404")  # no warning: not retryable


@pytest.mark.asyncio
async def test_the_log_names_a_transport_failure_and_the_budget(
    router: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="async_qexp")
    policy = RetryPolicy(max_attempts=5, backoff_initial=10, jitter=0, total_budget=1)
    async with connect(router, retry=policy) as provider:
        caplog.clear()
        router.get(DEVICES).mock(side_effect=httpx.ConnectError("refused"))
        with pytest.raises(RequestError):
            await provider.experiment.backends()
    logged = lines(caplog, "async_qexp.http")
    assert " -> ConnectError in " in logged[0][1]
    assert logged[1] == (
        "WARNING",
        f"giving up on GET {DEVICES} after 1 attempt: ConnectError: refused "
        "(the retry budget of 1 s is spent)",
    )


@pytest.mark.asyncio
async def test_never_retrying_never_gives_up_loudly(
    router: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="async_qexp")
    async with connect(router, retry=RetryPolicy.none()) as provider:
        router.get(DEVICES).mock(return_value=httpx.Response(503))
        with pytest.raises(ApiError):
            await provider.experiment.backends()
    assert "WARNING" not in [level for level, _ in lines(caplog, "async_qexp.http")]


@pytest.mark.asyncio
async def test_signed_queries_never_reach_the_log(
    connected: Connected, caplog: pytest.LogCaptureFixture
) -> None:
    provider, router = connected
    caplog.set_level(logging.DEBUG, logger="async_qexp")
    router.get(url__regex=r".*/upload/.*").respond(
        200, json={"url": "https://blob.example.test/put/f.svg?sig=SIGNED-abc&expires=1"}
    )
    router.put(host="blob.example.test").respond(200)
    router.get(f"{RDB}/experiments").respond(200, json={"experiments": []})
    await provider.experiment.upload_figure("e1", b"<svg/>", "f.svg")
    await provider.experiment.experiments(backend_name="ibmq_lima", tags=["a"])
    logged = [text for _, text in lines(caplog, "async_qexp.http")]
    assert any(t.startswith("PUT https://blob.example.test/put/f.svg -> 200") for t in logged)
    assert not [t for t in logged if "SIGNED" in t or "sig=" in t]
    assert any(
        "/experiments?device_name=ibmq_lima&tags=any%3Aa&limit=10 -> 200" in t for t in logged
    )


def test_log_target() -> None:
    assert log_target("https://h/p?sig=x", None) == "https://h/p"
    assert log_target("https://h/p", [("limit", "2")]) == "https://h/p?limit=2"
    assert log_target("https://h/p", {"access_token": "x"}) == "https://h/p?..."
    assert log_target("https://h/_blob/a", [("expires", "1")]) == "https://h/_blob/a"


# -- redaction -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("> X-Access-Token: abcdef123456", "> X-Access-Token: ***"),
        ("< x-access-token: abc", "< x-access-token: ***"),
        ("Authorization: Bearer eyJhbGciOi", "Authorization: Bearer ***"),
        ("Proxy-Authorization: Basic dXNlcjpw", "Proxy-Authorization: Basic ***"),
        ("{'X-Access-Token': 'abc', 'a': 1}", "{'X-Access-Token': '***', 'a': 1}"),
        ("('x-access-token', 'abc')", "('x-access-token', '***')"),
        ('{"apiToken": "tok-1"}', '{"apiToken": "***"}'),
        ("Cookie: session=1", "Cookie: ***"),
        (
            "PUT /_blob/plot/e/f.svg?expires=1&sig=xyz HTTP/1.1",
            "PUT /_blob/plot/e/f.svg?*** HTTP/1.1",
        ),
        (
            "https://b.example/x?a=1&sig=abc&X-Amz-Signature=def",
            "https://b.example/x?a=1&sig=***&X-Amz-Signature=***",
        ),
        ("via http://user:pa55@proxy:3128 now", "via http://***@proxy:3128 now"),
        (
            "nothing to hide at http://127.0.0.1:8765/api",
            "nothing to hide at http://127.0.0.1:8765/api",
        ),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_live_secrets_are_redacted_everywhere_while_they_live() -> None:
    secret = Secret("live-secret-value-42")
    short = Secret("tiny")
    assert redact("x live-secret-value-42 y tiny") == "x *** y tiny"
    del secret, short
    assert redact("x live-secret-value-42") == "x live-secret-value-42"


def test_the_filter_rewrites_records_and_their_exceptions() -> None:
    record = logging.LogRecord(
        "websockets.client",
        logging.DEBUG,
        "f",
        1,
        "> %s: %s",
        ("X-Access-Token", "t0ken-value"),
        None,
    )
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "> X-Access-Token: ***"
    try:
        raise ValueError("Authorization: Basic c2VjcmV0")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, "f", 1, "failed", None, sys.exc_info())
    RedactingFilter().filter(record)
    assert record.exc_text is not None
    assert "c2VjcmV0" not in record.exc_text
    assert "Basic ***" in logging.Formatter().format(record)


# -- QEXP_LOG ------------------------------------------------------------------------------------


def _run(code: str, value: str) -> subprocess.CompletedProcess[str]:
    script = textwrap.dedent(code)
    env = {**os.environ, "QEXP_LOG": value}
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=30,
    )


PROVIDER = """
    import logging
    import async_qexp
    {before}
    async_qexp.Provider("tok", "https://auth.example.test/api")
    async_qexp.Provider("tok", "https://auth.example.test/api")
    logging.getLogger("async_qexp.http").debug("request line")
    logging.getLogger("async_qexp.stream").info("X-Access-Token: t0k3n-value")
    print(logging.getLogger("async_qexp").level, len(logging.getLogger("async_qexp").handlers))
"""


def test_qexp_log_sets_up_a_handler_for_who_configured_nothing() -> None:
    done = _run(PROVIDER.format(before=""), "DEBUG")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["10", "1"]  # DEBUG, one handler, however many providers
    err = done.stderr.splitlines()
    assert err[0].endswith(" DEBUG async_qexp.http: request line")
    assert err[1].endswith(" INFO async_qexp.stream: X-Access-Token: ***")
    assert len(err) == 2


def test_qexp_log_leaves_a_configured_logging_alone_but_for_the_level() -> None:
    before = "logging.basicConfig(format='%(levelname)s %(name)s %(message)s')"
    done = _run(PROVIDER.format(before=before), "info")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["20", "0"]  # INFO; the root's handler writes
    assert done.stderr.splitlines() == ["INFO async_qexp.stream X-Access-Token: ***"]
    before = "logging.getLogger('async_qexp').setLevel(logging.ERROR)"
    done = _run(PROVIDER.format(before=before), "debug")
    assert done.stdout.split() == ["40", "1"]  # the user's level stays


def test_a_bad_qexp_log_is_ignored_with_a_warning() -> None:
    done = _run(PROVIDER.format(before=""), "verbose")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "0"]
    assert (
        "RuntimeWarning: QEXP_LOG='verbose' is ignored: it takes debug, info, warning"
        in done.stderr
    )
