"""Fixtures: the emulator in-process on an ephemeral port and raw httpx clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from async_qexp.emulator import Emulator, EmulatorConfig, UserSpec, serve

from ..pg import fresh_schema, schema_url

USERS = (
    UserSpec(token="alice-token", id="alice", hgps=("ibm-q/open/main", "hub-a/group-1/proj-x")),
    UserSpec(token="bob-token", id="bob", hgps=("hub-a/group-1/proj-x",)),
    UserSpec(token="carol-token", id="carol", hgps=("hub-a/group-2/proj-y",)),
    UserSpec(token="dave-token", id="dave", hgps=("hub-b/group-9/proj-z",)),
)

Login = Callable[[str], Awaitable[httpx.AsyncClient]]


@pytest_asyncio.fixture
async def emu() -> AsyncIterator[Emulator]:
    """A fresh in-memory emulator where any token logs in as its own user."""
    async with serve() as running:
        yield running


@pytest_asyncio.fixture
async def team() -> AsyncIterator[Emulator]:
    """An emulator with four users in overlapping hubs, groups and projects."""
    async with serve(EmulatorConfig(users=USERS)) as running:
        yield running


@pytest_asyncio.fixture
async def raw(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    """An unauthenticated client on the emulator's base URL."""
    async with httpx.AsyncClient(base_url=emu.url) as client:
        yield client


async def login_client(base: str, api_token: str) -> httpx.AsyncClient:
    """A client on ``base/resultsdb`` carrying the access token of ``api_token``."""
    async with httpx.AsyncClient(base_url=base) as c:
        r = await c.post("/api/users/loginWithToken", json={"apiToken": api_token})
        r.raise_for_status()
        token = r.json()["id"]
    return httpx.AsyncClient(base_url=base + "/resultsdb", headers={"X-Access-Token": token})


@pytest_asyncio.fixture
async def rdb(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    """A logged-in client whose base URL is the resultsDB URL."""
    client = await login_client(emu.url, "token-1")
    async with client:
        yield client


@pytest_asyncio.fixture
async def users(team: Emulator) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """Logged-in resultsDB clients of the four team users, by user id."""
    clients = {u.id: await login_client(team.url, u.token) for u in USERS}
    try:
        yield clients
    finally:
        for c in clients.values():
            await c.aclose()


def exp_body(uuid: str, **fields: Any) -> dict[str, Any]:
    """A minimal experiment POST body."""
    body: dict[str, Any] = {"uuid": uuid, "type": "T1", "device_name": "ibmq_lima"}
    body.update(fields)
    return body


async def create_exp(client: httpx.AsyncClient, uuid: str, **fields: Any) -> dict[str, Any]:
    """POST an experiment and return the response object (asserting 201)."""
    r = await client.post("/experiments", json=exp_body(uuid, **fields))
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def create_result(
    client: httpx.AsyncClient, uuid: str, exp: str, **fields: Any
) -> dict[str, Any]:
    """POST an analysis result and return the response object (asserting 201)."""
    body: dict[str, Any] = {
        "uuid": uuid,
        "experiment_uuid": exp,
        "type": "T1",
        "device_components": ["Q0"],
        "quality": "No Information",
        "verified": False,
    }
    body.update(fields)
    r = await client.post("/analysis_results", json=body)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


def assert_error(r: httpx.Response, status: int) -> None:
    """The response has ``status`` and the protocol's JSON error body."""
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == status
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]


@pytest.fixture(params=["sqlite", "postgres"])
def users_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty database: a SQLite file, or (where ``QEXP_TEST_PG`` names a server) a
    PostgreSQL schema of its own, dropped afterwards."""
    if request.param == "sqlite":
        yield str(tmp_path / "users.sqlite")
        return
    with fresh_schema("u") as schema:
        yield schema_url(schema)
