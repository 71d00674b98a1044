"""Fixtures for the unit tests: a Provider logged in through a respx router (no network).

Every test gets ``(provider, router)``: login (PROTOCOL §2.3), ``/users/me`` (§2.4) and
``/Network`` (§2.5) are mocked on their own hosts, and the test adds the routes it needs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import respx

from async_qexp import Provider

from ._support import connect, mock_login


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No stray environment changes what the client sends or where it reads preferences."""
    for name in ("QEXP_TOKEN", "QEXP_URL", "QEXP_CUSTOM_CLIENT_APP_HEADER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("QEXP_CONFIG_DIR", str(tmp_path / "config"))


@pytest.fixture
def router() -> respx.MockRouter:
    """A respx router with login and discovery mocked."""
    mock = respx.MockRouter(assert_all_called=False)
    mock_login(mock)
    return mock


@pytest_asyncio.fixture
async def connected(router: respx.MockRouter) -> AsyncIterator[tuple[Provider, respx.MockRouter]]:
    """``(provider, router)``: a provider logged in through the mocked router."""
    async with connect(router) as provider:
        yield provider, router
