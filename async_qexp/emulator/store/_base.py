"""What the SQLite and PostgreSQL stores share: :class:`SQLStore`, the :class:`~.interface.Store`
whose every operation is one function of :mod:`._experiments` or :mod:`._runtime` run on a
database thread; and the schema's versions (:func:`migrate`)."""

from __future__ import annotations

import abc
import contextlib
import os
import re
import secrets
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

from ..queries import ExperimentQuery, JobQuery, Page, Principal, ProgramQuery, ResultQuery
from . import _experiments as exp
from . import _runtime as rt
from . import _users as users
from ._blobfiles import BlobDir, check_blob_rows
from ._sql import Db, transaction
from .interface import HGP, BlobKind, Row, Store

__all__ = [
    "SCHEMA_VERSION",
    "SQLStore",
    "SchemaError",
    "blob_dir",
    "check_blob_dir",
    "is_postgres_url",
    "migrate",
    "prepare",
    "shown_database",
]

P = ParamSpec("P")
T = TypeVar("T")

_META = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
_STEPS: tuple[str, ...] = (
    exp.SCHEMA + rt.SCHEMA,
    # 2: which emulator process runs a job (several may share one database)
    "ALTER TABLE rt_jobs ADD COLUMN runner TEXT;"
    "CREATE INDEX IF NOT EXISTS rt_jobs_by_status ON rt_jobs (status, backend, n)",
    # 3: a blob's bytes may be in the --blobs directory, in the file named by their SHA-256
    "ALTER TABLE blobs ADD COLUMN sha256 TEXT;"
    "CREATE INDEX IF NOT EXISTS blobs_by_sha256 ON blobs (sha256) WHERE sha256 IS NOT NULL",
    # 4: users kept in the database (hashed API tokens) and their memberships
    users.SCHEMA,
)
"""``_STEPS[i]`` takes a database from schema version ``i`` to ``i + 1`` (version 0: empty).
A step is statements separated by ``;``, written for SQLite (see :meth:`._sql.Db.schema`);
a new version appends a step, and never changes an old one."""
SCHEMA_VERSION = len(_STEPS)
"""The version of the schema this emulator writes (kept in ``meta`` as ``schema_version``)."""


class SchemaError(RuntimeError):
    """The database's schema is one this emulator cannot use (made by a newer emulator)."""


def migrate(db: Db) -> int:
    """Bring the database to :data:`SCHEMA_VERSION` in one transaction; the version it had.

    A database made before versions were recorded (it has the tables but no
    ``schema_version``) counts as version 1.

    Raises:
        SchemaError: the database is of a newer version.
    """
    with transaction(db):
        db.lock("schema")  # several processes may open one database at once
        db.execute(_META)
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        # No version: an empty database (0) or one made before versions were kept (1).
        found = int(row[0]) if row is not None else int(db.table_exists("experiments"))
        if found > SCHEMA_VERSION:
            raise SchemaError(
                f"the database's schema is version {found}, newer than this emulator's "
                f"({SCHEMA_VERSION}): open it with the newer async_qexp that wrote it"
            )
        for step in _STEPS[found:]:
            for statement in db.schema(step).split(";"):
                if statement.strip():
                    db.execute(statement)
        if row is None or found != SCHEMA_VERSION:
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(SCHEMA_VERSION),),
            )
    return found


def blob_dir(blobs: str | os.PathLike[str] | None) -> BlobDir | None:
    """The directory of figures and files ``blobs`` (``None``: in the database), not checked
    yet (:func:`prepare` does, on the database thread).

    Raises:
        TypeError: not a path.
        ValueError: an empty path.
    """
    return None if blobs is None else BlobDir.at(blobs)


def check_blob_dir(blobs: BlobDir | None) -> None:
    """What a store does on its database thread before it connects: check that the directory
    of figures and files (if any) can serve (:meth:`.BlobDir.check`).

    Raises:
        ValueError: a directory that is missing or not writable.
    """
    if blobs is not None:
        blobs.check()


def prepare(db: Db, blobs: BlobDir | None) -> None:
    """What a store does once connected: :func:`migrate`, then refuse a database whose
    figures and files are in a directory other than ``blobs`` (:func:`.check_blob_rows`).

    Raises:
        SchemaError: the database is of a newer version.
        ValueError: the blob directory does not fit the database.
    """
    migrate(db)
    check_blob_rows(db, blobs)


def is_postgres_url(db: str | None) -> bool:
    """Whether ``db`` names a PostgreSQL database (``postgresql://...`` or ``postgres://...``)
    rather than a SQLite file."""
    return db is not None and db.lower().startswith(("postgresql://", "postgres://"))


def shown_database(db: str | None) -> str:
    """``db`` as a log line may show it: a PostgreSQL URL without its password."""
    if db is None:
        return "in memory"
    if is_postgres_url(db):
        db = re.sub(r"^([^:/]+://[^:/@]*):[^@/]*@", r"\1:***@", db)
        return re.sub(r"([?&]password=)[^&]*", r"\1***", db)
    return db


def _secret(db: Db, name: str) -> bytes:
    key = f"secret:{name}"
    with transaction(db):
        db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
            (key, secrets.token_bytes(32).hex()),
        )
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return bytes.fromhex(row[0])


def _check_user_id(user_id: object) -> None:
    if not isinstance(user_id, str):
        raise TypeError(f"user id: a str, not {type(user_id).__name__}")
    if not user_id or user_id != user_id.strip() or not user_id.isprintable():
        raise ValueError(
            f"invalid user id {user_id!r}: printable, not empty, no space at either end"
        )


def _check_hgp(hgp: object) -> HGP:
    if not isinstance(hgp, tuple) or not all(isinstance(part, str) for part in hgp):
        raise TypeError(f"hub/group/project: a tuple of 3 str, not {hgp!r}")
    if len(hgp) != 3 or not all(hgp) or any("/" in part for part in hgp):
        raise ValueError(f"invalid hub/group/project {hgp!r}: 3 non-empty names without '/'")
    if not all(part.isprintable() for part in hgp):
        raise ValueError(f"invalid hub/group/project {hgp!r}: printable names only")
    return (hgp[0], hgp[1], hgp[2])


def _ping(db: Db) -> None:
    db.execute("SELECT 1").fetchone()


async def _no_events() -> AsyncIterator[tuple[str, str]]:
    return
    yield  # (an async generator that ends at once)


class SQLStore(Store):
    """A :class:`~.interface.Store` that runs each operation, a function of a :class:`Db`, on
    a database thread: subclasses say which (:meth:`_run`)."""

    blobs: BlobDir | None = None
    """The directory of figures and files (``--blobs``), or ``None``: in the database."""

    @abc.abstractmethod
    async def _run(
        self, fn: Callable[Concatenate[Db, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``fn(db, *args, **kwargs)`` on a database thread and await its result."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """See :meth:`Store.aclose`."""

    async def secret(self, name: str) -> bytes:
        """See :meth:`Store.secret`."""
        return await self._run(_secret, name)

    async def ping(self) -> None:
        """See :meth:`Store.ping`."""
        await self._run(_ping)

    # -- users ---------------------------------------------------------------------------------

    async def add_user(self, user_id: str, hgps: Sequence[HGP], now: str) -> str:
        """See :meth:`UserStore.add_user`."""
        _check_user_id(user_id)
        checked = [_check_hgp(hgp) for hgp in hgps]
        if not checked:
            raise ValueError(f"user {user_id!r} needs at least one hub/group/project")
        return await self._run(users.add_user, user_id, checked, now)

    async def list_users(self) -> list[Row]:
        """See :meth:`UserStore.list_users`."""
        return await self._run(users.list_users)

    async def revoke_user(self, user_id: str, now: str) -> Row:
        """See :meth:`UserStore.revoke_user`."""
        _check_user_id(user_id)
        return await self._run(users.revoke_user, user_id, now)

    async def grant(self, user_id: str, hgp: HGP) -> Row:
        """See :meth:`UserStore.grant`."""
        _check_user_id(user_id)
        return await self._run(users.grant, user_id, _check_hgp(hgp))

    async def ungrant(self, user_id: str, hgp: HGP) -> Row:
        """See :meth:`UserStore.ungrant`."""
        _check_user_id(user_id)
        return await self._run(users.ungrant, user_id, _check_hgp(hgp))

    async def user_by_token(self, token: str) -> tuple[bool, Row | None]:
        """See :meth:`UserStore.user_by_token`."""
        if not isinstance(token, str):
            raise TypeError(f"token: a str, not {type(token).__name__}")
        return await self._run(users.user_by_token, token)

    async def user_by_id(self, user_id: str) -> tuple[bool, Row | None]:
        """See :meth:`UserStore.user_by_id`."""
        if not isinstance(user_id, str):
            raise TypeError(f"user_id: a str, not {type(user_id).__name__}")
        return await self._run(users.user_by_id, user_id)

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
        return await self._run(exp.delete_experiment, user, uuid, self.blobs)

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
        await self._run(exp.put_blob, kind, exp_uuid, name, data, now, user, exists, self.blobs)

    async def get_blob(self, user: Principal, kind: BlobKind, exp_uuid: str, name: str) -> bytes:
        """See :meth:`ExperimentStore.get_blob`."""
        return await self._run(exp.get_blob, user, kind, exp_uuid, name, self.blobs)

    async def delete_blob(
        self, user: Principal, kind: BlobKind, exp_uuid: str, name: str, now: str
    ) -> None:
        """See :meth:`ExperimentStore.delete_blob`."""
        await self._run(exp.delete_blob, user, kind, exp_uuid, name, now, self.blobs)

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

    async def claim_job(self, backend: str, runner: str, limit: int, now: str) -> Row | None:
        """See :meth:`RuntimeStore.claim_job`."""
        return await self._run(rt.claim_job, backend, runner, limit, now)

    async def stop_job(self, job_id: str, now: str, kind: str = "c") -> str | None:
        """See :meth:`RuntimeStore.stop_job`."""
        return await self._run(rt.stop_job, job_id, now, kind)

    async def count_queued(self, backend: str) -> int:
        """See :meth:`RuntimeStore.count_queued`."""
        return await self._run(rt.count_queued, backend)

    async def release_orphans(self, runner: str, now: str) -> list[str]:
        """See :meth:`RuntimeStore.release_orphans`."""
        return await self._run(rt.release_orphans, runner, now)

    @contextlib.asynccontextmanager
    async def job_events(self, runner: str) -> AsyncIterator[AsyncIterator[tuple[str, str]]]:
        """See :meth:`RuntimeStore.job_events`: nothing, from one process's database."""
        yield _no_events()

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
