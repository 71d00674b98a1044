"""The SQLite store: one connection, used only on one dedicated database thread.

Every operation is queued to that thread (:class:`._thread.DatabaseThread`) and awaited, so no
SQLite call ever runs on (or blocks) the event loop that serves requests, and operations run
one at a time in the order they were submitted. The connection is created on that thread, with
``check_same_thread`` on: using it from any other thread raises. A file database is in WAL mode
with ``synchronous=NORMAL`` (or ``FULL``); each writing operation is one ``BEGIN IMMEDIATE``
transaction.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

from ..queries import ExperimentQuery, JobQuery, Page, Principal, ProgramQuery, ResultQuery
from . import _experiments as exp
from . import _runtime as rt
from ._sql import transaction
from ._thread import DatabaseThread
from .interface import BlobKind, Row, Store

__all__ = ["SQLiteStore"]

P = ParamSpec("P")
T = TypeVar("T")
S = TypeVar("S", bound="SQLiteStore")


class SQLiteStore(Store):
    """The emulator's :class:`~.interface.Store` in SQLite (a file, or in memory for ``None``).

    Open it with ``store = await SQLiteStore.open(path)`` and close it with
    ``await store.aclose()``, on the same event loop.
    """

    def __init__(self, path: str | None, synchronous: str = "normal") -> None:
        """A store of the database at ``path``, not open yet: use :meth:`open`."""
        if synchronous not in ("normal", "full"):
            raise ValueError("synchronous: 'normal' or 'full'")
        self.path = path
        self.synchronous = synchronous
        self._conn: sqlite3.Connection | None = None
        self._thread: DatabaseThread | None = None
        self._closed = False

    @classmethod
    async def open(cls: type[S], path: str | None, synchronous: str = "normal") -> S:
        """Start the database thread, connect on it, and create the tables that are missing.

        ``synchronous`` is SQLite's ``PRAGMA synchronous`` of a file database: ``"normal"``
        (with WAL, a power failure may lose the last commits but never corrupts the file) or
        ``"full"`` (a commit is on disk before it returns).
        """
        store = cls(path, synchronous)
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
        conn = sqlite3.connect(self.path or ":memory:", isolation_level=None)
        try:
            if self.path:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
                conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.executescript(exp.SCHEMA + rt.SCHEMA)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _close_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

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
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``fn(connection, *args, **kwargs)`` on the database thread and await it."""

        def call() -> T:
            conn = self._conn
            if conn is None:
                raise RuntimeError("the emulator's database is closed")
            return fn(conn, *args, **kwargs)

        return await self._run_raw(call)

    async def execute(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` on the database thread in one transaction (for tools and
        tests that need SQLite itself, e.g. to seed a database quickly)."""

        def in_transaction(conn: sqlite3.Connection) -> T:
            with transaction(conn):
                return fn(conn)

        return await self._run(in_transaction)

    async def ping(self) -> None:
        """See :meth:`Store.ping`."""
        await self._run(_ping)

    # -- secrets -------------------------------------------------------------------------------

    async def secret(self, name: str) -> bytes:
        """See :meth:`Store.secret`."""
        return await self._run(_secret, name)

    # -- experiments ---------------------------------------------------------------------------

    async def list_experiments(self, user: Principal, query: ExperimentQuery) -> Page:
        """See :meth:`ExperimentStore.list_experiments`."""
        return await self._run(exp.list_experiments, user, query)

    async def create_experiment(self, user: Principal, values: Mapping[str, Any]) -> Row:
        """See :meth:`ExperimentStore.create_experiment`."""
        return await self._run(exp.create_experiment, user, values)

    async def get_experiment(self, user: Principal, uuid: str, *, write: bool = False) -> Row:
        """See :meth:`ExperimentStore.get_experiment`."""
        return await self._run(exp.get_experiment, user, uuid, write)

    async def update_experiment(
        self, user: Principal, uuid: str, changes: Mapping[str, Any]
    ) -> Row:
        """See :meth:`ExperimentStore.update_experiment`."""
        return await self._run(exp.update_experiment, user, uuid, changes)

    async def delete_experiment(self, user: Principal, uuid: str) -> Row:
        """See :meth:`ExperimentStore.delete_experiment`."""
        return await self._run(exp.delete_experiment, user, uuid)

    async def import_experiments(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """See :meth:`ExperimentStore.import_experiments`."""
        return await self._run(exp.import_experiments, list(rows))

    # -- analysis results ----------------------------------------------------------------------

    async def list_results(self, user: Principal, query: ResultQuery) -> Page:
        """See :meth:`ExperimentStore.list_results`."""
        return await self._run(exp.list_results, user, query)

    async def create_result(self, user: Principal, values: Mapping[str, Any]) -> Row:
        """See :meth:`ExperimentStore.create_result`."""
        return await self._run(exp.create_result, user, values)

    async def get_result(self, user: Principal, uuid: str) -> Row:
        """See :meth:`ExperimentStore.get_result`."""
        return await self._run(exp.get_result, user, uuid)

    async def update_results(
        self, user: Principal, updates: Sequence[tuple[str, Mapping[str, Any]]]
    ) -> list[Row]:
        """See :meth:`ExperimentStore.update_results`."""
        return await self._run(exp.update_results, user, updates)

    async def delete_result(self, user: Principal, uuid: str) -> Row:
        """See :meth:`ExperimentStore.delete_result`."""
        return await self._run(exp.delete_result, user, uuid)

    # -- figures and files ---------------------------------------------------------------------

    async def put_blob(
        self,
        kind: BlobKind,
        exp_uuid: str,
        name: str,
        data: bytes,
        now: str,
        *,
        user: Principal | None = None,
        exists: bool | None = None,
    ) -> None:
        """See :meth:`ExperimentStore.put_blob`."""
        await self._run(exp.put_blob, kind, exp_uuid, name, data, now, user, exists)

    async def get_blob(self, user: Principal, kind: BlobKind, exp_uuid: str, name: str) -> bytes:
        """See :meth:`ExperimentStore.get_blob`."""
        return await self._run(exp.get_blob, user, kind, exp_uuid, name)

    async def delete_blob(
        self, user: Principal, kind: BlobKind, exp_uuid: str, name: str, now: str
    ) -> None:
        """See :meth:`ExperimentStore.delete_blob`."""
        await self._run(exp.delete_blob, user, kind, exp_uuid, name, now)

    async def list_blobs(self, user: Principal, kind: BlobKind, exp_uuid: str) -> list[Row]:
        """See :meth:`ExperimentStore.list_blobs`."""
        return await self._run(exp.list_blobs, user, kind, exp_uuid)

    # -- runtime programs ----------------------------------------------------------------------

    async def list_programs(self, query: ProgramQuery) -> tuple[list[Row], int]:
        """See :meth:`RuntimeStore.list_programs`."""
        return await self._run(rt.list_programs, query)

    async def get_program(
        self, user: Principal | None, program_id: str, *, write: bool = False
    ) -> Row:
        """See :meth:`RuntimeStore.get_program`."""
        return await self._run(rt.get_program, user, program_id, write)

    async def create_program(self, values: Mapping[str, Any], fallback_id: str) -> Row:
        """See :meth:`RuntimeStore.create_program`."""
        return await self._run(rt.create_program, values, fallback_id)

    async def update_program(
        self,
        user: Principal,
        program_id: str,
        changes: Mapping[str, Any],
        *,
        spec_update: Mapping[str, Any] | None = None,
    ) -> Row:
        """See :meth:`RuntimeStore.update_program`."""
        return await self._run(rt.update_program, user, program_id, changes, spec_update)

    async def delete_program(self, user: Principal, program_id: str) -> None:
        """See :meth:`RuntimeStore.delete_program`."""
        await self._run(rt.delete_program, user, program_id)

    async def upsert_system_programs(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        """See :meth:`RuntimeStore.upsert_system_programs`."""
        return await self._run(rt.upsert_system_programs, rows)

    # -- runtime jobs and messages -------------------------------------------------------------

    async def insert_job(self, values: Mapping[str, Any], *, user: Principal | None = None) -> Row:
        """See :meth:`RuntimeStore.insert_job`."""
        return await self._run(rt.insert_job, values, user)

    async def get_job(self, job_id: str, *, owner: str | None = None) -> Row:
        """See :meth:`RuntimeStore.get_job`."""
        return await self._run(rt.get_job, job_id, owner)

    async def update_job(self, job_id: str, changes: Mapping[str, Any]) -> None:
        """See :meth:`RuntimeStore.update_job`."""
        await self._run(rt.update_job, job_id, changes)

    async def delete_job(self, job_id: str) -> None:
        """See :meth:`RuntimeStore.delete_job`."""
        await self._run(rt.delete_job, job_id)

    async def list_jobs(self, query: JobQuery) -> tuple[list[Row], int]:
        """See :meth:`RuntimeStore.list_jobs`."""
        return await self._run(rt.list_jobs, query)

    async def unfinished_jobs(self) -> list[Row]:
        """See :meth:`RuntimeStore.unfinished_jobs`."""
        return await self._run(rt.unfinished_jobs)

    async def add_messages(
        self, job_id: str, first_seq: int, items: Sequence[tuple[bool, str]]
    ) -> None:
        """See :meth:`RuntimeStore.add_messages`."""
        await self._run(rt.add_messages, job_id, first_seq, items)

    async def messages(
        self, job_id: str, after: int = -1, limit: int = 10_000
    ) -> list[tuple[int, str]]:
        """See :meth:`RuntimeStore.messages`."""
        return await self._run(rt.messages, job_id, after, limit)

    async def interim_results(self, job_id: str, *, owner: str | None = None) -> str:
        """See :meth:`RuntimeStore.interim_results`."""
        return await self._run(rt.interim_results, job_id, owner)


def _secret(conn: sqlite3.Connection, name: str) -> bytes:
    key = f"secret:{name}"
    with transaction(conn):
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
            (key, secrets.token_bytes(32).hex()),
        )
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return bytes.fromhex(row[0])


def _ping(conn: sqlite3.Connection) -> None:
    conn.execute("SELECT 1").fetchone()
