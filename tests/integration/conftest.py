"""Fixtures: the emulator in-process on an ephemeral port, and providers on both transports."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from async_qexp import Provider, RetryPolicy
from async_qexp.emulator import Emulator, EmulatorConfig, UserSpec, serve

FAST_RETRY = RetryPolicy(backoff_initial=0.005, backoff_max=0.05, total_budget=5.0)

USERS = (
    UserSpec(token="alice-token", id="alice", hgps=("ibm-q/open/main", "hub-a/group-1/proj-x")),
    UserSpec(token="bob-token", id="bob", hgps=("hub-a/group-1/proj-x",)),
    UserSpec(token="carol-token", id="carol", hgps=("hub-a/group-2/proj-y",)),
    UserSpec(token="dave-token", id="dave", hgps=("hub-b/group-9/proj-z",)),
)


@pytest_asyncio.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """A fresh in-memory emulator where any token logs in as its own user."""
    async with serve() as running:
        yield running


@pytest_asyncio.fixture
async def team_emulator() -> AsyncIterator[Emulator]:
    """An emulator with four users in overlapping hubs, groups and projects."""
    async with serve(EmulatorConfig(users=USERS)) as running:
        yield running


@pytest.fixture(params=["aiohttp", "httpx"])
def transport(request: pytest.FixtureRequest) -> str:
    """Every integration test that uses it runs on both transports."""
    return str(request.param)


@pytest_asyncio.fixture
async def provider(emulator: Emulator, transport: str) -> AsyncIterator[Provider]:
    """A provider logged in to the emulator."""
    async with Provider(
        "alice-token",
        emulator.url,
        transport=transport,
        retry=FAST_RETRY,  # type: ignore[arg-type]
    ) as connected:
        yield connected
