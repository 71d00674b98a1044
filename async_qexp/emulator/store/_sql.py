"""SQL plumbing shared by the experiment and runtime tables: the :class:`Db` a store operation
runs on (SQLite or PostgreSQL), transactions, inserts, updates, JSON columns.

The operations in :mod:`._experiments` and :mod:`._runtime` are written once, in SQL both
databases understand, with ``?`` placeholders; where the two differ (JSON arrays, string
search, insertion order, locks) they ask the :class:`Db` for the fragment. Every function here
runs on a database thread, never on the event loop.
"""

from __future__ import annotations

import abc
import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any, ClassVar

from .interface import Conflict, Invalid

__all__ = [
    "NUL_REFUSED",
    "Db",
    "SQLiteDb",
    "check_text",
    "fetch_all",
    "fetch_one",
    "from_json",
    "insert",
    "json_text",
    "transaction",
    "update",
]


def json_text(value: Any) -> str:
    """A JSON column's text: compact, UTF-8, non-finite floats as ``NaN``/``Infinity``."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=True)


def from_json(text: str | None, default: Any) -> Any:
    """A JSON column's value (``default`` for NULL or an empty string)."""
    return json.loads(text) if text else default


NUL_REFUSED = "text may not contain the NUL character (U+0000)"
"""Why a string with U+0000 is refused (PostgreSQL's text cannot hold it, and both databases
answer alike; inside a JSON value it is an escape, which is fine)."""


def check_text(args: Sequence[Any]) -> None:
    """Refuse a string argument that holds U+0000 (:data:`NUL_REFUSED`).

    Raises:
        Invalid: for such an argument.
    """
    for arg in args:
        if isinstance(arg, str) and "\x00" in arg:
            raise Invalid(NUL_REFUSED)


class Db(abc.ABC):
    """One connection as the store operations see it: ``execute`` returns a DB-API cursor
    (``fetchone``, ``fetchall``, iteration, ``rowcount``, ``description``), and the
    class attributes and methods below give the SQL that differs between databases."""

    integrity_errors: ClassVar[tuple[type[Exception], ...]]
    """What ``execute`` raises for a violated key or constraint."""
    max_char: ClassVar[str]
    """An expression for the largest character (U+10FFFF): sorts after every string."""
    insertion_order: ClassVar[str]
    """The column that numbers a table's rows in insertion order (blobs and programs)."""

    @abc.abstractmethod
    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        """Run one statement written with ``?`` placeholders; its cursor.

        Raises:
            Invalid: a string argument holds U+0000 (:func:`check_text`).
        """

    @abc.abstractmethod
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each of ``rows``."""

    @abc.abstractmethod
    def in_transaction(self) -> bool:
        """Whether a transaction is open."""

    def begin(self) -> None:
        """Open a transaction that writes (taking the write lock at once, where there is one)."""
        self.execute("BEGIN")

    @abc.abstractmethod
    def table_exists(self, name: str) -> bool:
        """Whether the table ``name`` exists."""

    @classmethod
    def schema(cls, sql: str) -> str:
        """The schema statements ``sql`` (written for SQLite, with ``{max_char}``) in this
        database's words."""
        return sql.replace("{max_char}", cls.max_char)

    def lock(self, name: str) -> None:
        """Hold a lock named ``name`` until the transaction ends (against other processes
        doing the same work at once; a no-op where a writing transaction excludes others)."""
        return None

    def notify(self, job_id: str, kind: str) -> None:
        """Tell every emulator process on this database, once the transaction commits, that
        a job changed (``kind``: ``m`` messages, ``s`` status, ``c`` cancel, ``d`` delete); a
        no-op where one process is all there is."""
        return None

    def runner_alive(self, runner: str) -> bool:
        """Whether the emulator process ``runner`` still runs its jobs (see
        :meth:`~.interface.RuntimeStore.job_events`); where one process is all there is, any
        other runner is a previous process, gone."""
        return False

    for_update: ClassVar[str] = ""
    """``FOR UPDATE`` where a selected row can be locked for the transaction, else empty."""
    skip_locked: ClassVar[str] = ""
    """``FOR UPDATE SKIP LOCKED`` where a selection can pass over rows another transaction
    holds, else empty (one writer at a time)."""

    @staticmethod
    @abc.abstractmethod
    def json_has(column: str) -> str:
        """A condition: the JSON array in ``column`` holds the string ``?``."""

    @staticmethod
    @abc.abstractmethod
    def json_has_any(column: str, count: int) -> str:
        """A condition: the JSON array in ``column`` holds one of ``count`` strings (``?``)."""

    @staticmethod
    @abc.abstractmethod
    def contains(column: str) -> str:
        """A condition: the string ``?`` occurs in ``column``."""


class SQLiteDb(Db):
    """A :class:`Db` on a :class:`sqlite3.Connection` (in autocommit mode)."""

    integrity_errors = (sqlite3.IntegrityError,)
    max_char = "char(1114111)"
    insertion_order = "rowid"

    def __init__(self, conn: sqlite3.Connection) -> None:
        """Wrap ``conn`` (statements go straight to it)."""
        self.conn = conn

    def execute(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        """See :meth:`Db.execute`."""
        if args:
            check_text(args)
        return self.conn.execute(sql, args)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """See :meth:`Db.executemany`."""
        for row in rows:
            check_text(row)
        self.conn.executemany(sql, rows)

    def in_transaction(self) -> bool:
        """See :meth:`Db.in_transaction`."""
        return self.conn.in_transaction

    def table_exists(self, name: str) -> bool:
        """See :meth:`Db.table_exists`."""
        found = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        return found is not None

    def begin(self) -> None:
        """``BEGIN IMMEDIATE``: the write lock at once, so that two writers never deadlock."""
        self.conn.execute("BEGIN IMMEDIATE")

    @staticmethod
    def json_has(column: str) -> str:
        """See :meth:`Db.json_has`."""
        return f"EXISTS (SELECT 1 FROM json_each({column}) WHERE value = ?)"

    @staticmethod
    def json_has_any(column: str, count: int) -> str:
        """See :meth:`Db.json_has_any`."""
        marks = ",".join("?" * count)
        return f"EXISTS (SELECT 1 FROM json_each({column}) WHERE value IN ({marks}))"

    @staticmethod
    def contains(column: str) -> str:
        """See :meth:`Db.contains`."""
        return f"instr({column}, ?) > 0"


def fetch_all(db: Db, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """The rows of a query as dicts keyed by column name."""
    cursor = db.execute(sql, args)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def fetch_one(db: Db, sql: str, args: Sequence[Any] = ()) -> dict[str, Any] | None:
    """The first row of a query as a dict keyed by column name, or ``None``."""
    cursor = db.execute(sql, args)
    row = cursor.fetchone()
    return None if row is None else dict(zip([d[0] for d in cursor.description], row, strict=True))


@contextmanager
def transaction(db: Db) -> Iterator[None]:
    """Run the block in one writing transaction (``ROLLBACK`` if it raises).

    Re-entrant: inside a transaction the block simply joins it. A ``COMMIT`` that fails
    (SQLite may leave the transaction open then) is rolled back too, so that the connection
    never carries a half-done transaction into the next operation.
    """
    if db.in_transaction():
        yield
        return
    db.begin()
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    try:
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction():
            with suppress(Exception):
                db.execute("ROLLBACK")
        raise


def insert(
    db: Db,
    table: str,
    values: Mapping[str, Any],
    columns: Sequence[str],
    *,
    exists: str | None = None,
) -> None:
    """Insert one row of the ``columns`` present in ``values``.

    Raises:
        Conflict: (with the message ``exists``) when the row's key is taken; without
            ``exists``, the database's integrity error.
    """
    cols = [c for c in columns if c in values]
    try:
        db.execute(
            f"INSERT INTO {table} ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
            [values[c] for c in cols],
        )
    except db.integrity_errors:
        if exists is None:
            raise
        raise Conflict(exists) from None


def update(
    db: Db,
    table: str,
    key: tuple[str, Any],
    values: Mapping[str, Any],
    columns: Sequence[str],
) -> None:
    """Set the ``columns`` present in ``values`` of the row whose ``key[0]`` is ``key[1]``."""
    cols = [c for c in values if c in columns and c != key[0]]
    if cols:
        db.execute(
            f"UPDATE {table} SET {', '.join(f'{c} = ?' for c in cols)} WHERE {key[0]} = ?",
            [*(values[c] for c in cols), key[1]],
        )
