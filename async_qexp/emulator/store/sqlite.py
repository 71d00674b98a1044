"""The SQLite store: one connection, used only on one dedicated database thread.

Every operation is queued to that thread (:class:`._thread.DatabaseThread`) and awaited, so no
SQLite call ever runs on (or blocks) the event loop that serves requests, and operations run
one at a time in the order they were submitted. The connection is created on that thread, with
``check_same_thread`` on: using it from any other thread raises. A file database is in WAL mode
with ``synchronous=NORMAL`` (or ``FULL``); each writing operation is one ``BEGIN IMMEDIATE``
transaction.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from ._base import SQLStore, blob_dir, check_blob_dir, prepare
from ._blobfiles import BlobDir
from ._sql import Db, SQLiteDb, transaction
from ._thread import DatabaseThread

__all__ = ["SQLiteStore"]

P = ParamSpec("P")
T = TypeVar("T")
S = TypeVar("S", bound="SQLiteStore")

BUSY_TIMEOUT_MS = 5000
"""How long a statement waits for a lock another process holds on a database file."""


def _turn_wal_on(conn: sqlite3.Connection) -> None:
    """``PRAGMA journal_mode=WAL``, tried again for up to :data:`BUSY_TIMEOUT_MS` while the
    file is locked.

    Processes that open the same new file at once (the workers of a test, the ``users``
    command beside a starting emulator) each need its lock to turn WAL on, and SQLite answers
    "database is locked" at once, without waiting out the busy timeout, when waiting could
    deadlock them.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause * (1 + random.random()))  # (on the database thread)
        pause = min(pause * 2, 0.1)


class SQLiteStore(SQLStore):
    """The emulator's :class:`~.interface.Store` in SQLite (a file, or in memory for ``None``).

    Open it with ``store = await SQLiteStore.open(path)`` and close it with
    ``await store.aclose()``, on the same event loop.
    """

    def __init__(
        self, path: str | None, synchronous: str = "normal", blobs: BlobDir | None = None
    ) -> None:
        """A store of the database at ``path`` (its figures and files in ``blobs``, else in
        the database), not open yet: use :meth:`open`."""
        if synchronous not in ("normal", "full"):
            raise ValueError("synchronous: 'normal' or 'full'")
        self.path = path
        self.blobs = blobs
        self.synchronous = synchronous
        self._db: SQLiteDb | None = None
        self._thread: DatabaseThread | None = None
        self._closed = False

    @classmethod
    async def open(
        cls: type[S],
        path: str | None,
        synchronous: str = "normal",
        blobs: str | os.PathLike[str] | None = None,
    ) -> S:
        """Start the database thread, connect on it, and create or migrate the tables.

        ``synchronous`` is SQLite's ``PRAGMA synchronous`` of a file database: ``"normal"``
        (with WAL, a power failure may lose the last commits but never corrupts the file) or
        ``"full"`` (a commit is on disk before it returns). ``blobs`` is the directory of
        figures and files (see :mod:`._blobfiles`; ``None``: in the database).

        Raises:
            SchemaError: the database was made by a newer emulator.
            ValueError: ``blobs`` is missing or not writable, or does not fit the database.
        """
        store = cls(path, synchronous, blob_dir(blobs))
        store._thread = DatabaseThread("qexp-emulator-db", on_exit=store._close_connection)
        try:
            await store._run_raw(store._connect)
        except BaseException:
            await store.aclose()
            raise
        return store

    @property
    def thread_id(self) -> int | None:
        """The identifier of the database thread (``threading.get_ident()`` there)."""
        return None if self._thread is None else self._thread.ident

    def _connect(self) -> None:
        check_blob_dir(self.blobs)
        conn = sqlite3.connect(self.path or ":memory:", isolation_level=None)
        try:
            if self.path:
                conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                _turn_wal_on(conn)
                conn.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
            conn.execute("PRAGMA foreign_keys=ON")
            db = SQLiteDb(conn)
            prepare(db, self.blobs)
        except BaseException:
            conn.close()
            raise
        self._db = db

    def _close_connection(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            db.conn.close()

    async def aclose(self) -> None:
        """Wait for the operations submitted so far, close the connection, end the thread."""
        thread = self._thread
        if self._closed or thread is None:
            self._closed = True
            return
        self._closed = True
        try:
            await thread.run(self._close_connection)
        finally:
            thread.stop()  # quick: nothing is queued (it closes the connection if cancelled)

    async def _run_raw(self, fn: Callable[[], T]) -> T:
        if self._thread is None:
            raise RuntimeError("the store is not open: use 'await SQLiteStore.open(path)'")
        return await self._thread.run(fn)

    async def _run(
        self, fn: Callable[Concatenate[Db, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``fn(db, *args, **kwargs)`` on the database thread and await it."""

        def call() -> T:
            db = self._db
            if db is None:
                raise RuntimeError("the emulator's database is closed")
            return fn(db, *args, **kwargs)

        return await self._run_raw(call)

    async def execute(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` on the database thread in one transaction (for tools and
        tests that need SQLite itself, e.g. to seed a database quickly)."""

        def in_transaction(db: Db) -> T:
            assert isinstance(db, SQLiteDb)
            with transaction(db):
                return fn(db.conn)

        return await self._run(in_transaction)
