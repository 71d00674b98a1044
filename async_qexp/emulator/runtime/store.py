"""SQLite tables of the runtime service: programs, jobs and the jobs' published messages.

They live in the emulator's database (the same connection as the experiment service).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from ..store import Store

__all__ = ["FINAL_STATUSES", "RuntimeStore"]

_SCHEMA = """
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

FINAL_STATUSES = ("COMPLETED", "FAILED", "CANCELLED", "CANCELLED - RAN TOO LONG")
"""Job statuses (P vocabulary) after which nothing changes."""

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
)


class RuntimeStore:
    """Runtime rows in the emulator's :class:`~async_qexp.emulator.store.Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.conn = store.conn
        self.conn.executescript(_SCHEMA)

    # -- programs ------------------------------------------------------------------------

    def get_program(self, program_id: str) -> dict[str, Any] | None:
        """One program row, or ``None``."""
        row = self.conn.execute("SELECT * FROM rt_programs WHERE id = ?", (program_id,)).fetchone()
        return dict(row) if row is not None else None

    def program_id_for_name(self, name: str) -> str | None:
        """The id of the program called ``name``, if any."""
        row = self.conn.execute("SELECT id FROM rt_programs WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def insert_program(self, values: dict[str, Any]) -> None:
        """Insert a program (the caller checked that id and name are free)."""
        cols = [c for c in PROGRAM_COLUMNS if c in values]
        with self.store.transaction():
            self.conn.execute(
                f"INSERT INTO rt_programs ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                [values[c] for c in cols],
            )

    def upsert_system_program(self, values: dict[str, Any]) -> bool:
        """Insert or refresh a built-in program; ``False`` if a user's program holds its name."""
        with self.store.transaction():
            other = self.conn.execute(
                "SELECT id, owner FROM rt_programs WHERE name = ? OR id = ?",
                (values["name"], values["id"]),
            ).fetchall()
            if any(row["owner"] != values["owner"] for row in other):
                return False
            self.conn.execute("DELETE FROM rt_programs WHERE id = ?", (values["id"],))
            cols = list(PROGRAM_COLUMNS)
            self.conn.execute(
                f"INSERT INTO rt_programs ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                [values.get(c) for c in cols],
            )
        return True

    def update_program(self, program_id: str, values: dict[str, Any]) -> None:
        """Set some columns of a program."""
        if not values:
            return
        sets = ", ".join(f"{k} = ?" for k in values)
        with self.store.transaction():
            self.conn.execute(
                f"UPDATE rt_programs SET {sets} WHERE id = ?", [*values.values(), program_id]
            )

    def delete_program(self, program_id: str) -> None:
        """Delete a program (its jobs stay)."""
        with self.store.transaction():
            self.conn.execute("DELETE FROM rt_programs WHERE id = ?", (program_id,))

    def list_programs(
        self, user_id: str, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        """The programs ``user_id`` may see (public or own), oldest first, and their count."""
        where = "is_public = 1 OR owner = ?"
        count = self.conn.execute(
            f"SELECT COUNT(*) FROM rt_programs WHERE {where}", (user_id,)
        ).fetchone()[0]
        rows = self.conn.execute(
            f"SELECT * FROM rt_programs WHERE {where} ORDER BY rowid LIMIT ? OFFSET ?",
            (user_id, limit, offset),
        ).fetchall()
        return [dict(r) for r in rows], int(count)

    # -- jobs ----------------------------------------------------------------------------

    def insert_job(self, values: dict[str, Any]) -> None:
        """Insert a new job row."""
        cols = [c for c in JOB_COLUMNS if c in values]
        with self.store.transaction():
            self.conn.execute(
                f"INSERT INTO rt_jobs ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                [values[c] for c in cols],
            )

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        """One job row, or ``None``."""
        row = self.conn.execute("SELECT * FROM rt_jobs WHERE id = ?", (job_id,)).fetchone()
        return dict(row) if row is not None else None

    def update_job(self, job_id: str, values: dict[str, Any]) -> None:
        """Set some columns of a job."""
        sets = ", ".join(f"{k} = ?" for k in values)
        with self.store.transaction():
            self.conn.execute(f"UPDATE rt_jobs SET {sets} WHERE id = ?", [*values.values(), job_id])

    def delete_job(self, job_id: str) -> None:
        """Delete a job and its messages."""
        with self.store.transaction():
            self.conn.execute("DELETE FROM rt_jobs WHERE id = ?", (job_id,))
            self.conn.execute("DELETE FROM rt_messages WHERE job_id = ?", (job_id,))

    def list_jobs(
        self,
        user_id: str,
        *,
        limit: int,
        offset: int,
        pending: bool | None = None,
        program_id: str | None = None,
        hgp: Sequence[str] | None = None,
        ascending: bool = False,
    ) -> tuple[list[dict[str, Any]], int]:
        """The jobs of ``user_id`` matching the filters (newest first) and their count."""
        conds = ["owner = ?"]
        args: list[Any] = [user_id]
        marks = ",".join("?" * len(FINAL_STATUSES))
        if pending is True:
            conds.append(f"status NOT IN ({marks})")
            args.extend(FINAL_STATUSES)
        elif pending is False:
            conds.append(f"status IN ({marks})")
            args.extend(FINAL_STATUSES)
        if program_id:
            conds.append("program_id = ?")
            args.append(program_id)
        if hgp:
            conds.append("hub = ? AND grp = ? AND project = ?")
            args.extend(hgp)
        where = " AND ".join(conds)
        count = self.conn.execute(f"SELECT COUNT(*) FROM rt_jobs WHERE {where}", args).fetchone()[0]
        order = "ASC" if ascending else "DESC"
        rows = self.conn.execute(
            f"SELECT * FROM rt_jobs WHERE {where} ORDER BY n {order} LIMIT ? OFFSET ?",
            [*args, limit, offset],
        ).fetchall()
        return [dict(r) for r in rows], int(count)

    def unfinished_jobs(self) -> list[dict[str, Any]]:
        """Jobs left queued or running (by a previous emulator process), oldest first."""
        marks = ",".join("?" * len(FINAL_STATUSES))
        rows = self.conn.execute(
            f"SELECT * FROM rt_jobs WHERE status NOT IN ({marks}) ORDER BY n", FINAL_STATUSES
        ).fetchall()
        return [dict(r) for r in rows]

    # -- messages ------------------------------------------------------------------------

    def add_messages(self, job_id: str, first_seq: int, items: Iterable[tuple[bool, str]]) -> None:
        """Store published messages, numbered from ``first_seq``, in one transaction."""
        rows = [(job_id, first_seq + i, int(final), text) for i, (final, text) in enumerate(items)]
        if not rows:
            return
        with self.store.transaction():
            self.conn.executemany(
                "INSERT OR REPLACE INTO rt_messages (job_id, seq, final, data) VALUES (?, ?, ?, ?)",
                rows,
            )

    def messages(
        self, job_id: str, after: int = -1, limit: int = 10_000, *, interim_only: bool = False
    ) -> list[tuple[int, str]]:
        """``(seq, text)`` of a job's messages with ``seq > after``, in order."""
        extra = " AND final = 0" if interim_only else ""
        rows = self.conn.execute(
            f"SELECT seq, data FROM rt_messages WHERE job_id = ? AND seq > ?{extra} "
            "ORDER BY seq LIMIT ?",
            (job_id, after, limit),
        ).fetchall()
        return [(int(r[0]), str(r[1])) for r in rows]

    def interim_json(self, job_id: str) -> str:
        """The job's interim messages as one JSON array (the stored texts, joined)."""
        texts = [
            str(r[0])
            for r in self.conn.execute(
                "SELECT data FROM rt_messages WHERE job_id = ? AND final = 0 ORDER BY seq",
                (job_id,),
            )
        ]
        return "[" + ",".join(texts) + "]"


def loads_object(text: str | None) -> Any:
    """Parse stored JSON (``{}`` for empty)."""
    return json.loads(text) if text else {}
