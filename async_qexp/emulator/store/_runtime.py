"""The runtime service's tables in SQLite: programs, jobs and the jobs' published messages.

They live in the same database as the experiment service's. Each public function is one store
operation, run on the database thread (see :mod:`._experiments`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..queries import JobQuery, Principal, ProgramQuery
from ._sql import Db, fetch_all, fetch_one, from_json, insert, json_text, transaction, update
from .interface import FINAL_STATUSES, Conflict, Forbidden, NotFound, Row

__all__ = [
    "SCHEMA",
    "add_messages",
    "claim_job",
    "count_queued",
    "create_program",
    "delete_job",
    "delete_program",
    "get_job",
    "get_program",
    "insert_job",
    "interim_results",
    "list_jobs",
    "list_programs",
    "messages",
    "release_orphans",
    "stop_job",
    "update_job",
    "update_program",
    "upsert_system_programs",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS rt_programs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    cost INTEGER NOT NULL,
    is_public INTEGER NOT NULL DEFAULT 0,
    spec TEXT NOT NULL DEFAULT '{}',
    data TEXT NOT NULL,
    owner TEXT NOT NULL,
    version TEXT,
    creation_date TEXT NOT NULL,
    update_date TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rt_jobs (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL,
    program_id TEXT NOT NULL,
    backend TEXT NOT NULL,
    hub TEXT NOT NULL DEFAULT '',
    grp TEXT NOT NULL DEFAULT '',
    project TEXT NOT NULL DEFAULT '',
    params TEXT NOT NULL DEFAULT '{}',
    runtime TEXT,
    log_level TEXT,
    cost INTEGER NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    created TEXT NOT NULL,
    started TEXT,
    ended TEXT,
    result TEXT,
    logs TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS rt_jobs_by_owner ON rt_jobs (owner, n DESC);
CREATE TABLE IF NOT EXISTS rt_messages (
    job_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    final INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;
"""

PROGRAM_COLUMNS = (
    "id",
    "name",
    "description",
    "cost",
    "is_public",
    "spec",
    "data",
    "owner",
    "version",
    "creation_date",
    "update_date",
)
JOB_COLUMNS = (
    "id",
    "owner",
    "program_id",
    "backend",
    "hub",
    "grp",
    "project",
    "params",
    "runtime",
    "log_level",
    "cost",
    "status",
    "reason",
    "created",
    "started",
    "ended",
    "result",
    "logs",
    "runner",
)
_FINAL_MARKS = ",".join("?" * len(FINAL_STATUSES))


# -- programs ----------------------------------------------------------------------------------


def _program_columns(values: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(values)
    if "is_public" in out:
        out["is_public"] = int(bool(out["is_public"]))
    if "spec" in out:
        out["spec"] = json_text(out["spec"])
    return out


def _program_record(row: dict[str, Any]) -> Row:
    row.pop("n", None)  # PostgreSQL's insertion order
    row["is_public"] = bool(row["is_public"])
    row["spec"] = from_json(row["spec"], {})
    return row


def _program_row(db: Db, user: Principal | None, program_id: str, write: bool) -> dict[str, Any]:
    row = fetch_one(db, "SELECT * FROM rt_programs WHERE id = ?", (program_id,))
    if user is None and row is not None:
        return row
    if row is None or not (row["is_public"] or (user is not None and row["owner"] == user.id)):
        raise NotFound(f"program {program_id} not found")
    if write and user is not None and row["owner"] != user.id:
        raise Forbidden(f"only the author of program {program_id} may change it")
    return row


def _name_taken(db: Db, name: str, other_than: str | None = None) -> bool:
    row = db.execute("SELECT id FROM rt_programs WHERE name = ?", (name,)).fetchone()
    return row is not None and row[0] != other_than


def get_program(db: Db, user: Principal | None, program_id: str, write: bool) -> Row:
    """See :meth:`RuntimeStore.get_program`."""
    return _program_record(_program_row(db, user, program_id, write))


def list_programs(db: Db, query: ProgramQuery) -> tuple[list[Row], int]:
    """See :meth:`RuntimeStore.list_programs`."""
    where = "is_public = 1 OR owner = ?"
    count = db.execute(
        f"SELECT COUNT(*) FROM rt_programs WHERE {where}", (query.user_id,)
    ).fetchone()[0]
    rows = fetch_all(
        db,
        f"SELECT * FROM rt_programs WHERE {where} ORDER BY {db.insertion_order} LIMIT ? OFFSET ?",
        (query.user_id, query.limit, query.offset),
    )
    return [_program_record(r) for r in rows], int(count)


def create_program(db: Db, values: Mapping[str, Any], fallback_id: str) -> Row:
    """See :meth:`RuntimeStore.create_program`."""
    with transaction(db):
        if _name_taken(db, values["name"]):
            raise Conflict(f"a program named {values['name']!r} already exists")
        program_id = values["id"]
        if db.execute("SELECT 1 FROM rt_programs WHERE id = ?", (program_id,)).fetchone():
            program_id = fallback_id
        columns = {**_program_columns(values), "id": program_id}
        # (a program of that name made meanwhile by another process is a conflict too)
        taken = f"a program named {values['name']!r} already exists"
        insert(db, "rt_programs", columns, PROGRAM_COLUMNS, exists=taken)
        return _program_record(_program_row(db, None, program_id, False))


def update_program(
    db: Db,
    user: Principal,
    program_id: str,
    changes: Mapping[str, Any],
    spec_update: Mapping[str, Any] | None,
) -> Row:
    """See :meth:`RuntimeStore.update_program`."""
    with transaction(db):
        row = _program_row(db, user, program_id, True)
        values = dict(changes)
        if "name" in values and _name_taken(db, values["name"], other_than=row["id"]):
            raise Conflict(f"a program named {values['name']!r} already exists")
        if spec_update is not None:
            values["spec"] = {**from_json(row["spec"], {}), **spec_update}
        update(db, "rt_programs", ("id", row["id"]), _program_columns(values), PROGRAM_COLUMNS)
        return _program_record(_program_row(db, None, row["id"], False))


def delete_program(db: Db, user: Principal, program_id: str) -> None:
    """See :meth:`RuntimeStore.delete_program`."""
    with transaction(db):
        row = _program_row(db, user, program_id, True)
        db.execute("DELETE FROM rt_programs WHERE id = ?", (row["id"],))


def upsert_system_programs(db: Db, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """See :meth:`RuntimeStore.upsert_system_programs`."""
    skipped: list[str] = []
    with transaction(db):
        db.lock("system-programs")  # every worker process refreshes them as it starts
        for values in rows:
            holders = db.execute(
                "SELECT owner FROM rt_programs WHERE name = ? OR id = ?",
                (values["name"], values["id"]),
            ).fetchall()
            if any(owner != values["owner"] for (owner,) in holders):
                skipped.append(values["name"])
                continue
            db.execute("DELETE FROM rt_programs WHERE id = ?", (values["id"],))
            insert(db, "rt_programs", _program_columns(values), PROGRAM_COLUMNS)
    return skipped


# -- jobs --------------------------------------------------------------------------------------


def _job_columns(values: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(values)
    if "group" in out:
        out["grp"] = out.pop("group")
    return out


def _job_record(row: dict[str, Any]) -> Row:
    del row["n"]
    row.pop("runner", None)  # the emulator's own bookkeeping
    row["group"] = row.pop("grp")
    return row


def insert_job(db: Db, values: Mapping[str, Any], user: Principal | None) -> Row:
    """See :meth:`RuntimeStore.insert_job`."""
    with transaction(db):
        if user is not None:
            program = _program_row(db, user, values["program_id"], False)
            values = {"cost": program["cost"], **values, "program_id": program["id"]}
        exists = f"job {values['id']} already exists"
        insert(db, "rt_jobs", _job_columns(values), JOB_COLUMNS, exists=exists)
        return get_job(db, values["id"], None)


def get_job(db: Db, job_id: str, owner: str | None) -> Row:
    """See :meth:`RuntimeStore.get_job`."""
    row = fetch_one(db, "SELECT * FROM rt_jobs WHERE id = ?", (job_id,))
    if row is None or (owner is not None and row["owner"] != owner):
        raise NotFound(f"job {job_id} not found")
    return _job_record(row)


def update_job(db: Db, job_id: str, changes: Mapping[str, Any]) -> None:
    """See :meth:`RuntimeStore.update_job`."""
    # What a job writes (its logs, a failure's reason) is kept even with a NUL character in it.
    columns = {
        k: v.replace("\x00", "\ufffd") if isinstance(v, str) else v
        for k, v in _job_columns(changes).items()
    }
    with transaction(db):
        update(db, "rt_jobs", ("id", job_id), columns, JOB_COLUMNS)
        if "status" in columns:
            db.notify(job_id, "s")


def claim_job(db: Db, backend: str, runner: str, limit: int, now: str) -> Row | None:
    """See :meth:`RuntimeStore.claim_job`."""
    with transaction(db):
        db.lock(f"claim:{backend}")  # the count and the claim, one process at a time
        running = db.execute(
            "SELECT COUNT(*) FROM rt_jobs WHERE status = 'RUNNING' AND backend = ?", (backend,)
        ).fetchone()[0]
        if running >= limit:
            return None
        row = db.execute(
            "SELECT id FROM rt_jobs WHERE status = 'QUEUED' AND backend = ? ORDER BY n LIMIT 1"
            + db.skip_locked,
            (backend,),
        ).fetchone()
        if row is None:
            return None
        db.execute(
            "UPDATE rt_jobs SET status = 'RUNNING', started = ?, runner = ? WHERE id = ?",
            (now, runner, row[0]),
        )
        db.notify(row[0], "s")
        return get_job(db, row[0], None)


def stop_job(db: Db, job_id: str, now: str, kind: str) -> str | None:
    """See :meth:`RuntimeStore.stop_job`."""
    with transaction(db):
        row = db.execute("SELECT status FROM rt_jobs WHERE id = ?" + db.for_update, (job_id,))
        found = row.fetchone()
        if found is None or found[0] in FINAL_STATUSES:
            return None
        changes: dict[str, Any] = {"status": "CANCELLED", "reason": None}
        if found[0] == "QUEUED":
            changes["ended"] = now
        update(db, "rt_jobs", ("id", job_id), changes, JOB_COLUMNS)
        db.notify(job_id, kind)
        return str(found[0])


def count_queued(db: Db, backend: str) -> int:
    """See :meth:`RuntimeStore.count_queued`."""
    row = db.execute(
        "SELECT COUNT(*) FROM rt_jobs WHERE status = 'QUEUED' AND backend = ?", (backend,)
    ).fetchone()
    return int(row[0])


def release_orphans(db: Db, runner: str, now: str) -> list[str]:
    """See :meth:`RuntimeStore.release_orphans`."""
    with transaction(db):
        rows = db.execute(
            "SELECT id, runner FROM rt_jobs WHERE status = 'RUNNING' "
            "AND (runner IS NULL OR runner <> ?)",
            (runner,),
        ).fetchall()
        alive: dict[str, bool] = {}
        orphans = []
        for job_id, other in rows:
            if other is not None and other not in alive:
                alive[other] = db.runner_alive(other)
            if other is None or not alive[other]:
                orphans.append(str(job_id))
        for job_id in orphans:
            update(db, "rt_jobs", ("id", job_id), _ORPHANED | {"ended": now}, JOB_COLUMNS)
            db.notify(job_id, "s")
    return orphans


_ORPHANED = {"status": "FAILED", "result": "the emulator stopped while the job was running"}


def delete_job(db: Db, job_id: str) -> None:
    """See :meth:`RuntimeStore.delete_job`."""
    with transaction(db):
        db.execute("DELETE FROM rt_jobs WHERE id = ?", (job_id,))
        db.execute("DELETE FROM rt_messages WHERE job_id = ?", (job_id,))


def list_jobs(db: Db, query: JobQuery) -> tuple[list[Row], int]:
    """See :meth:`RuntimeStore.list_jobs`."""
    conds = ["owner = ?"]
    args: list[Any] = [query.owner]
    if query.pending is not None:
        conds.append(f"status {'NOT IN' if query.pending else 'IN'} ({_FINAL_MARKS})")
        args.extend(FINAL_STATUSES)
    if query.program_id:
        conds.append("program_id = ?")
        args.append(query.program_id)
    if query.hgp:
        conds.append("hub = ? AND grp = ? AND project = ?")
        args.extend(query.hgp)
    where = " AND ".join(conds)
    count = db.execute(f"SELECT COUNT(*) FROM rt_jobs WHERE {where}", args).fetchone()[0]
    order = "ASC" if query.ascending else "DESC"
    rows = fetch_all(
        db,
        f"SELECT * FROM rt_jobs WHERE {where} ORDER BY n {order} LIMIT ? OFFSET ?",
        [*args, query.limit, query.offset],
    )
    return [_job_record(r) for r in rows], int(count)


# -- messages ----------------------------------------------------------------------------------


def add_messages(db: Db, job_id: str, first_seq: int, items: Sequence[tuple[bool, str]]) -> None:
    """See :meth:`RuntimeStore.add_messages`."""
    rows = [(job_id, first_seq + i, int(final), text) for i, (final, text) in enumerate(items)]
    if rows:
        with transaction(db):
            db.notify(job_id, "m")
            db.executemany(
                "INSERT INTO rt_messages (job_id, seq, final, data) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (job_id, seq) DO UPDATE SET "
                "final = excluded.final, data = excluded.data",
                rows,
            )


def messages(db: Db, job_id: str, after: int, limit: int) -> list[tuple[int, str]]:
    """See :meth:`RuntimeStore.messages`."""
    rows = db.execute(
        "SELECT seq, data FROM rt_messages WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?",
        (job_id, after, limit),
    ).fetchall()
    return [(int(r[0]), str(r[1])) for r in rows]


def interim_results(db: Db, job_id: str, owner: str | None) -> str:
    """See :meth:`RuntimeStore.interim_results`."""
    if owner is not None:
        get_job(db, job_id, owner)
    texts = [
        str(r[0])
        for r in db.execute(
            "SELECT data FROM rt_messages WHERE job_id = ? AND final = 0 ORDER BY seq", (job_id,)
        )
    ]
    return "[" + ",".join(texts) + "]"
