"""SQLite plumbing shared by the experiment and runtime tables: transactions, inserts, updates,
JSON columns. Every function here runs on the store's database thread."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from .interface import Conflict

__all__ = ["fetch_all", "fetch_one", "from_json", "insert", "json_text", "transaction", "update"]


def json_text(value: Any) -> str:
    """A JSON column's text: compact, UTF-8, non-finite floats as ``NaN``/``Infinity``."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=True)


def from_json(text: str | None, default: Any) -> Any:
    """A JSON column's value (``default`` for NULL or an empty string)."""
    return json.loads(text) if text else default


def fetch_all(conn: sqlite3.Connection, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """The rows of a query as dicts keyed by column name."""
    cursor = conn.execute(sql, args)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def fetch_one(
    conn: sqlite3.Connection, sql: str, args: Sequence[Any] = ()
) -> dict[str, Any] | None:
    """The first row of a query as a dict keyed by column name, or ``None``."""
    cursor = conn.execute(sql, args)
    row = cursor.fetchone()
    return None if row is None else dict(zip([d[0] for d in cursor.description], row, strict=True))


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """Run the block in one ``BEGIN IMMEDIATE`` transaction (``ROLLBACK`` if it raises).

    Re-entrant: inside a transaction the block simply joins it.
    """
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def insert(
    conn: sqlite3.Connection,
    table: str,
    values: Mapping[str, Any],
    columns: Sequence[str],
    *,
    exists: str | None = None,
) -> None:
    """Insert one row of the ``columns`` present in ``values``.

    Raises:
        Conflict: (with the message ``exists``) when the row's key is taken; without
            ``exists``, ``sqlite3.IntegrityError``.
    """
    cols = [c for c in columns if c in values]
    try:
        conn.execute(
            f"INSERT INTO {table} ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
            [values[c] for c in cols],
        )
    except sqlite3.IntegrityError:
        if exists is None:
            raise
        raise Conflict(exists) from None


def update(
    conn: sqlite3.Connection,
    table: str,
    key: tuple[str, Any],
    values: Mapping[str, Any],
    columns: Sequence[str],
) -> None:
    """Set the ``columns`` present in ``values`` of the row whose ``key[0]`` is ``key[1]``."""
    cols = [c for c in values if c in columns and c != key[0]]
    if cols:
        conn.execute(
            f"UPDATE {table} SET {', '.join(f'{c} = ?' for c in cols)} WHERE {key[0]} = ?",
            [*(values[c] for c in cols), key[1]],
        )
