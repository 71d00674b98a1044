"""SQLite storage of the emulator (one connection; each mutation is one transaction)."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from ._util import HTTPProblem

__all__ = ["ListPage", "Principal", "SortSpec", "Store"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS experiments (
    uuid TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    device_name TEXT NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}',
    parent_experiment_uuid TEXT,
    hub_id TEXT NOT NULL DEFAULT '',
    group_id TEXT NOT NULL DEFAULT '',
    project_id TEXT NOT NULL DEFAULT '',
    visibility TEXT NOT NULL DEFAULT 'private',
    tags TEXT NOT NULL DEFAULT '[]',
    jobs TEXT NOT NULL DEFAULT '[]',
    notes TEXT NOT NULL DEFAULT '',
    start_time TEXT,
    end_time TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    owner TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS exp_by_start ON experiments (COALESCE(start_time, '') DESC, uuid);
CREATE INDEX IF NOT EXISTS exp_by_start_asc
    ON experiments (COALESCE(start_time, char(1114111)), uuid);
CREATE INDEX IF NOT EXISTS exp_by_type
    ON experiments (type, COALESCE(start_time, '') DESC, uuid);
CREATE INDEX IF NOT EXISTS exp_by_owner_start
    ON experiments (owner, COALESCE(start_time, '') DESC, uuid);
CREATE INDEX IF NOT EXISTS exp_by_parent ON experiments (parent_experiment_uuid);
CREATE INDEX IF NOT EXISTS exp_by_device ON experiments (device_name);
CREATE TABLE IF NOT EXISTS analysis_results (
    uuid TEXT PRIMARY KEY,
    experiment_uuid TEXT NOT NULL REFERENCES experiments (uuid) ON DELETE CASCADE,
    type TEXT NOT NULL,
    fit TEXT NOT NULL DEFAULT '{}',
    device_components TEXT NOT NULL DEFAULT '[]',
    dc_key TEXT NOT NULL DEFAULT '[]',
    tags TEXT NOT NULL DEFAULT '[]',
    quality TEXT,
    verified INTEGER NOT NULL DEFAULT 0,
    chisq TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ar_by_created ON analysis_results (created_at DESC, uuid);
CREATE INDEX IF NOT EXISTS ar_by_exp
    ON analysis_results (experiment_uuid, created_at DESC, uuid);
CREATE INDEX IF NOT EXISTS ar_by_type ON analysis_results (type, created_at DESC, uuid);
CREATE INDEX IF NOT EXISTS ar_by_dc ON analysis_results (dc_key);
CREATE TABLE IF NOT EXISTS blobs (
    kind TEXT NOT NULL,
    experiment_uuid TEXT NOT NULL REFERENCES experiments (uuid) ON DELETE CASCADE,
    name TEXT NOT NULL,
    data BLOB NOT NULL,
    size INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (experiment_uuid, kind, name)
);
"""

EXPERIMENT_COLUMNS = (
    "uuid",
    "type",
    "device_name",
    "extra",
    "parent_experiment_uuid",
    "hub_id",
    "group_id",
    "project_id",
    "visibility",
    "tags",
    "jobs",
    "notes",
    "start_time",
    "end_time",
    "created_at",
    "updated_at",
    "owner",
)
RESULT_COLUMNS = (
    "uuid",
    "experiment_uuid",
    "type",
    "fit",
    "device_components",
    "dc_key",
    "tags",
    "quality",
    "verified",
    "chisq",
    "created_at",
    "updated_at",
)

_MAX_CHAR = "char(1114111)"
# Sort key -> (SQL for ascending order, SQL for descending order). Nulls sort last in
# both directions thanks to the COALESCE sentinels ('' is smallest, U+10FFFF largest).
EXPERIMENT_SORT_KEYS: dict[str, tuple[str, str]] = {
    "start_time": (f"COALESCE(e.start_time, {_MAX_CHAR})", "COALESCE(e.start_time, '')"),
    "type": ("e.type", "e.type"),
    "uuid": ("e.uuid", "e.uuid"),
}
RESULT_SORT_KEYS: dict[str, tuple[str, str]] = {
    "created_at": ("a.created_at", "a.created_at"),
    "device_components": ("a.device_components", "a.device_components"),
    "type": ("a.type", "a.type"),
    "uuid": ("a.uuid", "a.uuid"),
}
_PLOT_NAMES_SQL = (
    "(SELECT json_group_array(name) FROM (SELECT name FROM blobs b "
    "WHERE b.experiment_uuid = e.uuid AND b.kind = 'plot' ORDER BY b.rowid)) AS plot_names"
)


@attrs.frozen
class Principal:
    """An authenticated user: id and hub/group/project triples (first = default)."""

    id: str
    hgps: tuple[tuple[str, str, str], ...]

    @property
    def default_hgp(self) -> tuple[str, str, str]:
        """The user's default hub/group/project."""
        return self.hgps[0]

    def can_see(self, row: dict[str, Any]) -> bool:
        """Whether the user may read an experiment row (§3.6.4)."""
        if row["owner"] == self.id:
            return True
        vis = row["visibility"]
        hgp = (row["hub_id"], row["group_id"], row["project_id"])
        if vis == "public":
            return True
        if vis == "project":
            return hgp in self.hgps
        if vis == "group":
            return hgp[:2] in {h[:2] for h in self.hgps}
        if vis == "hub":
            return hgp[0] in {h[0] for h in self.hgps}
        return False

    def visibility_sql(self, alias: str = "e") -> tuple[str, list[Any]]:
        """A SQL condition selecting the experiments the user may read."""
        args: list[Any] = [self.id]
        parts = [f"{alias}.owner = ?", f"{alias}.visibility = 'public'"]
        proj = " OR ".join(
            f"({alias}.hub_id = ? AND {alias}.group_id = ? AND {alias}.project_id = ?)"
            for _ in self.hgps
        )
        for h in self.hgps:
            args.extend(h)
        parts.append(f"({alias}.visibility = 'project' AND ({proj}))")
        groups = sorted({h[:2] for h in self.hgps})
        grp = " OR ".join(f"({alias}.hub_id = ? AND {alias}.group_id = ?)" for _ in groups)
        for g in groups:
            args.extend(g)
        parts.append(f"({alias}.visibility = 'group' AND ({grp}))")
        hubs = sorted({h[0] for h in self.hgps})
        parts.append(
            f"({alias}.visibility = 'hub' AND {alias}.hub_id IN ({','.join('?' * len(hubs))}))"
        )
        args.extend(hubs)
        return "(" + " OR ".join(parts) + ")", args


@attrs.frozen
class SortSpec:
    """A resolved ordering: ``(key, "asc"|"desc")`` pairs ending with ``uuid``."""

    keys: tuple[tuple[str, str], ...]

    @classmethod
    def build(
        cls,
        requested: Sequence[tuple[str, str]],
        defaults: Sequence[tuple[str, str]],
    ) -> SortSpec:
        """Requested keys first, then the defaults as tie-breakers, each key once."""
        seen: set[str] = set()
        keys: list[tuple[str, str]] = []
        for key, direction in [*requested, *defaults, ("uuid", "asc")]:
            if key not in seen:
                seen.add(key)
                keys.append((key, direction))
        return cls(tuple(keys))

    def token(self) -> str:
        """A compact string identifying this ordering (embedded in markers)."""
        return ",".join(f"{k}:{d}" for k, d in self.keys)


@attrs.frozen
class ListPage:
    """One page of rows plus the marker of the next page (``None`` on the last page)."""

    rows: list[dict[str, Any]]
    marker: str | None


def _encode_marker(sort: SortSpec, values: Sequence[Any]) -> str:
    raw = json.dumps({"s": sort.token(), "k": list(values)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_marker(marker: str, sort: SortSpec) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(marker + "=" * (-len(marker) % 4))
        data = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise HTTPProblem(400, "invalid marker") from None
    if (
        not isinstance(data, dict)
        or data.get("s") != sort.token()
        or not isinstance(data.get("k"), list)
        or len(data["k"]) != len(sort.keys)
        or not all(isinstance(v, str) for v in data["k"])
    ):
        raise HTTPProblem(400, "invalid marker (it must be used with the same sort order)")
    return list(data["k"])


class Store:
    """The SQLite database: experiments, analysis results, figures and files, secrets."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.conn = sqlite3.connect(
            path or ":memory:", isolation_level=None, check_same_thread=False
        )
        self.conn.row_factory = sqlite3.Row
        if path:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA busy_timeout=5000")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    # -- helpers -------------------------------------------------------------------------

    def transaction(self) -> _Tx:
        """A context manager running its block in one ``BEGIN IMMEDIATE`` transaction."""
        return _Tx(self.conn)

    def secret(self, name: str) -> bytes:
        """A random secret persisted in the database (created on first use)."""
        key = f"secret:{name}"
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is not None:
            return bytes.fromhex(row[0])
        value = secrets.token_bytes(32)
        with self.transaction():
            self.conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, value.hex())
            )
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return bytes.fromhex(row[0])

    # -- experiments ---------------------------------------------------------------------

    def get_experiment(self, uuid: str) -> dict[str, Any] | None:
        """One experiment row (with ``plot_names``), or ``None``."""
        row = self.conn.execute(
            f"SELECT e.*, {_PLOT_NAMES_SQL} FROM experiments e WHERE e.uuid = ?", (uuid,)
        ).fetchone()
        return dict(row) if row is not None else None

    def _insert(self, table: str, values: dict[str, Any], columns: Sequence[str]) -> bool:
        """Insert one row of the given columns; ``False`` if its uuid already exists."""
        cols = [c for c in columns if c in values]
        try:
            with self.transaction():
                self.conn.execute(
                    f"INSERT INTO {table} ({','.join(cols)}) "
                    f"VALUES ({','.join('?' * len(cols))})",
                    [values[c] for c in cols],
                )
        except sqlite3.IntegrityError:
            return False
        return True

    def insert_experiment(self, values: dict[str, Any]) -> bool:
        """Insert a row; ``False`` if the uuid already exists."""
        return self._insert("experiments", values, EXPERIMENT_COLUMNS)

    def update_experiment(self, uuid: str, values: dict[str, Any]) -> None:
        """Set the given columns of one experiment."""
        self._update("experiments", uuid, values, EXPERIMENT_COLUMNS)

    def delete_experiment(self, uuid: str) -> None:
        """Delete an experiment; results, figures and files cascade."""
        with self.transaction():
            self.conn.execute("DELETE FROM experiments WHERE uuid = ?", (uuid,))

    # -- analysis results ----------------------------------------------------------------

    def get_result(self, uuid: str) -> dict[str, Any] | None:
        """One analysis-result row joined with its experiment's visibility fields."""
        row = self.conn.execute(
            "SELECT a.*, e.device_name AS device_name, e.owner AS owner, "
            "e.visibility AS visibility, e.hub_id AS hub_id, e.group_id AS group_id, "
            "e.project_id AS project_id FROM analysis_results a "
            "JOIN experiments e ON e.uuid = a.experiment_uuid WHERE a.uuid = ?",
            (uuid,),
        ).fetchone()
        return dict(row) if row is not None else None

    def insert_result(self, values: dict[str, Any]) -> bool:
        """Insert an analysis result; ``False`` if the uuid already exists."""
        return self._insert("analysis_results", values, RESULT_COLUMNS)

    def update_results(self, updates: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Apply several analysis-result updates in one transaction."""
        with self.transaction():
            for uuid, values in updates:
                self._update_raw("analysis_results", uuid, values, RESULT_COLUMNS)

    def delete_result(self, uuid: str) -> None:
        """Delete one analysis result."""
        with self.transaction():
            self.conn.execute("DELETE FROM analysis_results WHERE uuid = ?", (uuid,))

    # -- blobs (figures and files) ---------------------------------------------------------

    def put_blob(self, kind: str, exp_uuid: str, name: str, data: bytes, now: str) -> bool:
        """Store (or overwrite) a figure/file; ``False`` if the experiment is gone."""
        with self.transaction():
            if (
                self.conn.execute(
                    "SELECT 1 FROM experiments WHERE uuid = ?", (exp_uuid,)
                ).fetchone()
                is None
            ):
                return False
            self.conn.execute(
                "INSERT INTO blobs (kind, experiment_uuid, name, data, size, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (experiment_uuid, kind, name) DO UPDATE SET "
                "data = excluded.data, size = excluded.size, updated_at = excluded.updated_at",
                (kind, exp_uuid, name, data, len(data), now, now),
            )
        return True

    def get_blob(self, kind: str, exp_uuid: str, name: str) -> bytes | None:
        """The stored bytes of a figure/file, or ``None``."""
        row = self.conn.execute(
            "SELECT data FROM blobs WHERE experiment_uuid = ? AND kind = ? AND name = ?",
            (exp_uuid, kind, name),
        ).fetchone()
        return bytes(row[0]) if row is not None else None

    def delete_blob(self, kind: str, exp_uuid: str, name: str) -> bool:
        """Delete a figure/file; ``False`` if absent."""
        with self.transaction():
            cur = self.conn.execute(
                "DELETE FROM blobs WHERE experiment_uuid = ? AND kind = ? AND name = ?",
                (exp_uuid, kind, name),
            )
        return cur.rowcount > 0

    def list_blobs(self, kind: str, exp_uuid: str) -> list[dict[str, Any]]:
        """Name, size and update time of every figure/file of an experiment, by name."""
        rows = self.conn.execute(
            "SELECT name, size, updated_at FROM blobs WHERE experiment_uuid = ? AND kind = ? "
            "ORDER BY name",
            (exp_uuid, kind),
        ).fetchall()
        return [dict(r) for r in rows]

    # -- listing ---------------------------------------------------------------------------

    def list_experiments(
        self,
        user: Principal,
        where: list[str],
        args: list[Any],
        sort: SortSpec,
        limit: int,
        marker: str | None,
    ) -> ListPage:
        """A page of visible experiments matching ``where`` (SQL over alias ``e``)."""
        vis_sql, vis_args = user.visibility_sql("e")
        return self._page(
            f"SELECT e.*, {_PLOT_NAMES_SQL}{{keys}} FROM experiments e",
            [vis_sql, *where],
            [*vis_args, *args],
            EXPERIMENT_SORT_KEYS,
            sort,
            limit,
            marker,
        )

    def list_results(
        self,
        user: Principal,
        where: list[str],
        args: list[Any],
        sort: SortSpec,
        limit: int,
        marker: str | None,
    ) -> ListPage:
        """A page of visible analysis results (alias ``a``, experiment alias ``e``)."""
        vis_sql, vis_args = user.visibility_sql("e")
        return self._page(
            "SELECT a.*, e.device_name AS device_name{keys} FROM analysis_results a "
            "JOIN experiments e ON e.uuid = a.experiment_uuid",
            [vis_sql, *where],
            [*vis_args, *args],
            RESULT_SORT_KEYS,
            sort,
            limit,
            marker,
        )

    def _page(
        self,
        select: str,
        where: list[str],
        args: list[Any],
        key_sql: dict[str, tuple[str, str]],
        sort: SortSpec,
        limit: int,
        marker: str | None,
    ) -> ListPage:
        exprs = [key_sql[k][0 if d == "asc" else 1] for k, d in sort.keys]
        where = list(where)
        args = list(args)
        if marker:
            values = _decode_marker(marker, sort)
            # A redundant range on the first key lets SQLite seek in an index; then the
            # lexicographic "strictly after" over all sort keys.
            where.append(f"{exprs[0]} {'>=' if sort.keys[0][1] == 'asc' else '<='} ?")
            args.append(values[0])
            ors: list[str] = []
            for i, (_, direction) in enumerate(sort.keys):
                cond = [f"{exprs[j]} = ?" for j in range(i)]
                cond.append(f"{exprs[i]} {'>' if direction == 'asc' else '<'} ?")
                ors.append("(" + " AND ".join(cond) + ")")
                args.extend(values[: i + 1])
            where.append("(" + " OR ".join(ors) + ")")
        keys_sql = "".join(f", {e} AS _k{i}" for i, e in enumerate(exprs))
        order = ", ".join(
            f"{e} {'ASC' if d == 'asc' else 'DESC'}"
            for e, (_, d) in zip(exprs, sort.keys, strict=True)
        )
        sql = select.format(keys=keys_sql)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {order} LIMIT ?"
        args.append(limit + 1)
        rows = [dict(r) for r in self.conn.execute(sql, args).fetchall()]
        next_marker = None
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            next_marker = _encode_marker(sort, [last[f"_k{i}"] for i in range(len(exprs))])
        for r in rows:
            for i in range(len(exprs)):
                r.pop(f"_k{i}", None)
        return ListPage(rows, next_marker)

    def _update(
        self, table: str, uuid: str, values: dict[str, Any], allowed: Sequence[str]
    ) -> None:
        with self.transaction():
            self._update_raw(table, uuid, values, allowed)

    def _update_raw(
        self, table: str, uuid: str, values: dict[str, Any], allowed: Sequence[str]
    ) -> None:
        cols = [c for c in values if c in allowed and c != "uuid"]
        if not cols:
            return
        self.conn.execute(
            f"UPDATE {table} SET {', '.join(f'{c} = ?' for c in cols)} WHERE uuid = ?",
            [*(values[c] for c in cols), uuid],
        )


class _Tx:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error); re-entrant."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.outer = False

    def __enter__(self) -> None:
        self.outer = not self.conn.in_transaction
        if self.outer:
            self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if not self.outer:
            return
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
