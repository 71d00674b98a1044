"""The schema's version: recorded, migrated forward, and a newer database refused (SQLite here;
the PostgreSQL twins are in test_postgres_store.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from async_qexp.emulator.store import SCHEMA_VERSION, SchemaError, SQLiteStore
from async_qexp.emulator.store import _experiments as exp
from async_qexp.emulator.store import _runtime as rt
from async_qexp.emulator.store._sql import SQLiteDb

pytestmark = [pytest.mark.asyncio, pytest.mark.sqlite_only]


def _version(path: Path) -> str | None:
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    conn.close()
    return None if row is None else str(row[0])


async def test_a_new_database_records_the_current_version(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    store = await SQLiteStore.open(str(path))
    await store.aclose()
    assert _version(path) == str(SCHEMA_VERSION)


async def test_a_newer_database_is_refused_with_its_version(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    store = await SQLiteStore.open(str(path))
    await store.aclose()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(SchemaError, match=r"version 99, newer than this emulator's"):
        await SQLiteStore.open(str(path))
    assert _version(path) == "99"  # left as it was


async def test_a_database_from_before_versions_is_migrated_with_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    # the tables as emulators wrote them before the version was recorded
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.executescript(SQLiteDb.schema(exp.SCHEMA + rt.SCHEMA))
    conn.execute(
        "INSERT INTO experiments (uuid, type, device_name, created_at, updated_at, owner) "
        "VALUES ('old', 'T', 'd', '2020-01-01T00:00:00.000000Z', "
        "'2020-01-01T00:00:00.000000Z', 'u')"
    )
    conn.close()
    assert _version(path) is None
    store = await SQLiteStore.open(str(path))
    try:
        rows = await store.execute(lambda c: c.execute("SELECT uuid FROM experiments").fetchall())
    finally:
        await store.aclose()
    assert rows == [("old",)]
    assert _version(path) == str(SCHEMA_VERSION)
