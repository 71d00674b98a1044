"""Constants and helpers shared by the unit tests (no fixtures here; see conftest.py)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx
import respx

from async_qexp import Provider, RetryPolicy, __version__

TOKEN = "api-token-7c1d2e6a8b4c5d9e"
"""The API token the tests log in with (distinctive, so a leak is easy to spot)."""
ACCESS = "ACCESS"
"""The access token the mocked login hands out."""

AUTH = "https://auth.example.test/api"
HTTP = "https://classic.example.test/api"
RDB_HOST = "rdb.example.test"
RDB = f"https://{RDB_HOST}/resultsdb"
RUNTIME = "https://runtime.example.test/runtime"

CLIENT_APP = f"async_qexp/{__version__}"

NETWORK = [
    {
        "name": "hub-a",
        "groups": {"group-1": {"projects": {"proj-x": {"isDefault": False}}}},
    },
    {
        "name": "ibm-q",
        "groups": {"open": {"projects": {"main": {"isDefault": True}}}},
    },
]

FAST_RETRY = RetryPolicy(
    max_attempts=4, backoff_initial=0.001, backoff_max=0.005, jitter=0.0, total_budget=5.0
)
"""Retries with millisecond backoffs, so retry tests stay fast."""

LOGIN_CALLS = 3
"""Requests made while connecting: login, ``/users/me``, ``/Network``."""


def mock_login(
    router: respx.MockRouter,
    *,
    access: str = ACCESS,
    network: Any = NETWORK,
    resultsdb: str | None = RDB,
) -> None:
    """Mock login and discovery on ``router``."""
    services = {"runtime": RUNTIME}
    if resultsdb:
        services["resultsDB"] = resultsdb
    router.post(f"{AUTH}/users/loginWithToken", name="login").mock(
        return_value=httpx.Response(200, json={"id": access, "ttl": 1209600})
    )
    router.get(f"{AUTH}/users/me", name="me").mock(
        return_value=httpx.Response(
            200,
            json={
                "id": "user-1",
                "urls": {"http": HTTP, "ws": "wss://ws.example.test", "services": services},
            },
        )
    )
    router.get(f"{HTTP}/Network", name="network").mock(
        return_value=httpx.Response(200, json=network)
    )


@contextlib.asynccontextmanager
async def connect(
    router: respx.MockRouter, token: str = TOKEN, **options: Any
) -> AsyncIterator[Provider]:
    """A provider connected through ``router`` (``options`` go to :class:`Provider`)."""
    options.setdefault("retry", FAST_RETRY)
    provider = Provider(token, AUTH, transport=httpx.MockTransport(router.async_handler), **options)
    async with provider:
        yield provider


# -- assertion helpers -------------------------------------------------------------------------


def raw_path(request: httpx.Request) -> str:
    """The path as sent on the wire (percent-encoding kept), without the query."""
    return request.url.raw_path.decode("ascii").split("?", 1)[0]


def query(request: httpx.Request) -> list[tuple[str, str]]:
    """The decoded query pairs, repeated keys kept, in order."""
    return request.url.params.multi_items()


def body(request: httpx.Request) -> Any:
    """The request body parsed as JSON."""
    return json.loads(request.content)


def assert_service_headers(request: httpx.Request, *, has_body: bool = False) -> None:
    """The headers every service call carries (PROTOCOL §1.2)."""
    assert request.headers["X-Access-Token"] == ACCESS
    assert request.headers["X-Qx-Client-Application"] == CLIENT_APP
    if has_body:
        assert request.headers["Content-Type"] == "application/json"


def assert_request(
    request: httpx.Request,
    method: str,
    path: str,
    params: Iterable[tuple[str, str]] = (),
    *,
    json_body: Any = None,
) -> None:
    """Pin a request: method, exact encoded path (under RDB), query (as a multiset), body."""
    assert request.method == method
    assert request.url.host == RDB_HOST
    assert raw_path(request) == "/resultsdb" + path
    assert sorted(query(request)) == sorted(params)
    assert_service_headers(request, has_body=json_body is not None)
    if json_body is None:
        assert request.content == b""
    else:
        assert body(request) == json_body


def service_calls(router: respx.MockRouter) -> list[httpx.Request]:
    """The requests made after login and discovery."""
    return [call.request for call in router.calls][LOGIN_CALLS:]
