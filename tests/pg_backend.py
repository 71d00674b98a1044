"""A pytest plugin that runs every emulator the tests start in process on PostgreSQL.

Use it with ``-p tests.pg_backend`` and ``QEXP_TEST_PG`` set to a server's URL (``nox -s pg``
starts a throwaway cluster and does both). Each emulator started without a database gets a
fresh schema of its own (the tests expect an empty service); one started with a SQLite file
gets the schema named after that file, so that a test restarting an emulator on "the same
database" finds its data again. Schemas are dropped after each test. Tests that read SQLite
itself are marked ``sqlite_only`` and skipped here.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Iterator

import psycopg
import pytest

from async_qexp.emulator import server
from async_qexp.emulator.store import Store, is_postgres_url, open_store

from .pg import SERVER as URL
from .pg import schema_url

_fresh = itertools.count()
_made: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """Refuse to run without a reachable server, rather than run the suites on SQLite."""
    if not is_postgres_url(URL):
        raise pytest.UsageError("tests.pg_backend needs QEXP_TEST_PG=postgresql://...")
    with psycopg.connect(URL, connect_timeout=10) as conn:
        conn.execute("SELECT 1")
    config.addinivalue_line("markers", "sqlite_only: reads SQLite itself (skipped on PostgreSQL)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip the tests that read SQLite itself."""
    skip = pytest.mark.skip(reason="reads SQLite itself; the suite runs on PostgreSQL")
    for item in items:
        if item.get_closest_marker("sqlite_only"):
            item.add_marker(skip)


def _schema_for(db: str | None) -> str:
    if db is None or db == ":memory:":
        return f"t{os.getpid()}_{next(_fresh)}"
    return "f" + hashlib.sha256(os.path.abspath(db).encode()).hexdigest()[:20]


async def _open_on_postgres(
    db: str | None, *, synchronous: str = "normal", blobs: str | None = None
) -> Store:
    if is_postgres_url(db):
        return await open_store(db, blobs=blobs)
    schema = _schema_for(db)
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    if schema not in _made:
        _made.append(schema)
    return await open_store(schema_url(schema), blobs=blobs)


@pytest.fixture(autouse=True)
def _emulators_on_postgres(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(server, "open_store", _open_on_postgres)
    yield
    if _made:
        with psycopg.connect(URL, autocommit=True) as conn:
            for schema in _made:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        _made.clear()
