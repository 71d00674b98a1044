"""The PostgreSQL store itself: schema versions, several processes on one database, lost
connections. Runs where ``QEXP_TEST_PG`` names a server (``nox -s pg`` starts one); the whole
emulator suite runs on it there too (the ``tests.pg_backend`` plugin)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio

from async_qexp.emulator.store import (
    SCHEMA_VERSION,
    Conflict,
    Invalid,
    SchemaError,
    Unavailable,
    open_store,
)

from ..pg import NO_SERVER, fresh_schema, schema_url
from ..pg import SERVER as URL

psycopg = pytest.importorskip("psycopg")
pytestmark = pytest.mark.skipif(not URL, reason=NO_SERVER)

from async_qexp.emulator.store.postgres import PostgresStore  # noqa: E402

NOW = "2026-01-01T00:00:00.000000Z"


def _admin() -> Any:
    return psycopg.connect(URL, autocommit=True)


@pytest.fixture
def schema() -> Iterator[str]:
    with fresh_schema("s") as name:
        yield name


@pytest.fixture
def url(schema: str) -> str:
    return schema_url(schema)


@pytest_asyncio.fixture
async def store(url: str) -> AsyncIterator[PostgresStore]:
    opened = await PostgresStore.open(url)
    try:
        yield opened
    finally:
        await opened.aclose()


def _program(name: str, owner: str = "u") -> dict[str, Any]:
    return {
        "id": name,
        "name": name,
        "cost": 60,
        "data": "print(1)",
        "owner": owner,
        "creation_date": NOW,
        "update_date": NOW,
    }


@pytest.mark.asyncio
async def test_open_store_picks_postgres_by_the_url(url: str, schema: str) -> None:
    store = await open_store(url)
    try:
        assert isinstance(store, PostgresStore)
        await store.ping()
    finally:
        await store.aclose()
    with _admin() as conn:
        version = conn.execute(
            f"SELECT value FROM \"{schema}\".meta WHERE key = 'schema_version'"
        ).fetchone()
    assert version == (str(SCHEMA_VERSION),)


@pytest.mark.asyncio
async def test_a_newer_database_is_refused(url: str, schema: str) -> None:
    await (await PostgresStore.open(url)).aclose()
    with _admin() as conn:
        conn.execute(f"UPDATE \"{schema}\".meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(SchemaError, match="version 99"):
        await PostgresStore.open(url)


@pytest.mark.asyncio
async def test_several_processes_create_the_tables_at_once(url: str) -> None:
    stores = await asyncio.gather(*(PostgresStore.open(url, connections=1) for _ in range(5)))
    try:
        assert [await s.secret("k") for s in stores] == [await stores[0].secret("k")] * 5
    finally:
        for s in stores:
            await s.aclose()


@pytest.mark.asyncio
async def test_a_name_taken_at_the_same_moment_is_a_conflict_not_an_error(url: str) -> None:
    stores = [await PostgresStore.open(url, connections=1) for _ in range(4)]
    try:
        outcomes = await asyncio.gather(
            *(
                s.create_program(_program("same") | {"id": f"p{i}"}, f"f{i}")
                for i, s in enumerate(stores)
            ),
            return_exceptions=True,
        )
        assert sum(isinstance(o, dict) for o in outcomes) == 1
        assert all(isinstance(o, (dict, Conflict)) for o in outcomes), outcomes
        rows = [_program(f"sys{i}", owner="system") for i in range(3)]
        skipped = await asyncio.gather(*(s.upsert_system_programs(rows) for s in stores))
        assert skipped == [[]] * 4
    finally:
        for s in stores:
            await s.aclose()


@pytest.mark.asyncio
async def test_operations_run_on_several_connections_at_once(store: PostgresStore) -> None:
    def slow(db: Any) -> int:
        return int(db.execute("SELECT pg_backend_pid() FROM pg_sleep(0.3)").fetchone()[0])

    pids = await asyncio.gather(*(store._run(slow) for _ in range(4)))
    assert len(set(pids)) == 4


@pytest.mark.asyncio
async def test_a_dropped_connection_is_replaced(store: PostgresStore) -> None:
    await store.create_program(_program("before"), "x")
    with _admin() as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'async_qexp emulator' AND pid <> pg_backend_pid()"
        )
    for _ in range(8):  # every connection was dropped: each one is opened again
        assert (await store.get_program(None, "before"))["name"] == "before"


@pytest.mark.asyncio
async def test_a_connection_lost_mid_operation_is_unavailable(store: PostgresStore) -> None:
    def dies_halfway(db: Any) -> None:
        db.execute("SELECT 1")
        db.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    with pytest.raises(Unavailable, match="unavailable"):
        await store._run(dies_halfway)
    await store.ping()


@pytest.mark.asyncio
async def test_text_with_nul_is_invalid_and_the_connection_stays_usable(
    store: PostgresStore,
) -> None:
    with pytest.raises(Invalid, match="NUL"):
        await store.create_program(_program("a\x00b"), "x")
    assert (await store.create_program(_program("ab"), "x"))["name"] == "ab"


@pytest.mark.asyncio
async def test_an_unreachable_server_fails_to_open() -> None:
    with pytest.raises(ConnectionError, match=r"postgresql://nobody:\*\*\*@127.0.0.1:1/none"):
        await PostgresStore.open("postgresql://nobody:secret@127.0.0.1:1/none?connect_timeout=2")


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="postgresql://"):
        PostgresStore("sqlite:///x")
    with pytest.raises(TypeError):
        PostgresStore(URL, connections="4")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 1"):
        PostgresStore(URL, connections=0)
