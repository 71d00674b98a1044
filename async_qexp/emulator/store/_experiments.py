"""The experiment service's tables in SQLite: experiments, analysis results, figures and files.

Each public function is one store operation: it takes the connection first, runs on the
database thread, and is one transaction when it writes. Query objects become SQL here, and
only here: filters, the visibility rules, sorting and keyset paging.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..queries import (
    ComponentMatch,
    ExperimentQuery,
    Page,
    Principal,
    ResultQuery,
    SortSpec,
    TagMatch,
    TextMatch,
    TimeBound,
)
from ._blobfiles import BlobDir, BlobLost, lock_name, release
from ._sql import Db, fetch_all, fetch_one, from_json, insert, json_text, transaction, update
from .interface import BlobKind, Conflict, Forbidden, Invalid, NotFound, Row

__all__ = [
    "EXPERIMENT_COLUMNS",
    "RESULT_COLUMNS",
    "SCHEMA",
    "create_experiment",
    "create_result",
    "delete_blob",
    "delete_experiment",
    "delete_result",
    "get_blob",
    "get_experiment",
    "get_result",
    "import_experiments",
    "list_blobs",
    "list_experiments",
    "list_results",
    "put_blob",
    "update_experiment",
    "update_results",
]

SCHEMA = """
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
    ON experiments (COALESCE(start_time, {max_char}), uuid);
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

# Sort field -> (SQL for ascending order, SQL for descending order). Nulls sort last in both
# directions thanks to the COALESCE sentinels ('' is smallest, U+10FFFF largest: {max_char}).
_EXPERIMENT_SORT_SQL: dict[str, tuple[str, str]] = {
    "start_time": ("COALESCE(e.start_time, {max_char})", "COALESCE(e.start_time, '')"),
    "type": ("e.type", "e.type"),
    "uuid": ("e.uuid", "e.uuid"),
}
_RESULT_SORT_SQL: dict[str, tuple[str, str]] = {
    "created_at": ("a.created_at", "a.created_at"),
    "device_components": ("a.device_components", "a.device_components"),
    "type": ("a.type", "a.type"),
    "uuid": ("a.uuid", "a.uuid"),
}
_TIME_SQL = {"ge": ">=", "le": "<=", "gt": ">", "lt": "<", "eq": "="}
_SELECT_ACCESS = "SELECT owner, visibility, hub_id, group_id, project_id FROM experiments"
"""What deciding who may see or change an experiment reads."""
_SELECT_EXPERIMENT = "SELECT e.*{keys} FROM experiments e"
"""Experiments without their ``plot_names`` (:func:`_experiment_records` adds them)."""
_SORTS: dict[type[Db], dict[str, tuple[str, str]]] = {}


def _experiment_sort_sql(db: Db) -> dict[str, tuple[str, str]]:
    sorts = _SORTS.get(type(db))
    if sorts is None:
        sorts = _SORTS[type(db)] = {
            key: (asc.format(max_char=db.max_char), desc)
            for key, (asc, desc) in _EXPERIMENT_SORT_SQL.items()
        }
    return sorts


_SELECT_RESULT = (
    "SELECT a.*, e.device_name AS device_name{keys} "
    "FROM analysis_results a JOIN experiments e ON e.uuid = a.experiment_uuid"
)
_RESULT_EXTRA_COLUMNS = ("dc_key", "owner", "visibility", "hub_id", "group_id", "project_id")
"""Columns a result row is read with that its record leaves out."""
_SELECT_RESULT_CHECKED = _SELECT_RESULT.format(
    keys=", e.owner AS owner, e.visibility AS visibility, e.hub_id AS hub_id, "
    "e.group_id AS group_id, e.project_id AS project_id"
)
_BLOB_NOUN = {"plot": "figure", "file": "file"}


# -- records <-> rows --------------------------------------------------------------------------


def _experiment_columns(values: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for key in ("extra", "tags", "jobs"):
        if key in out:
            out[key] = json_text(out[key])
    return out


def _experiment_records(db: Db, rows: list[dict[str, Any]]) -> list[Row]:
    """Experiment rows as records, in place, with their ``plot_names`` (in upload order).

    The names of all the rows are read in one statement, by the figures' key: a subquery per
    row would let PostgreSQL, whose statistics see few experiments when a few hold most of
    the figures, scan every figure once per row.
    """
    names: dict[str, list[str]] = {row["uuid"]: [] for row in rows}
    if names:
        marks = ",".join("?" * len(names))
        for exp_uuid, name in db.execute(
            f"SELECT experiment_uuid, name FROM blobs WHERE kind = 'plot' AND "
            f"experiment_uuid IN ({marks}) ORDER BY experiment_uuid, {db.insertion_order}",
            list(names),
        ):
            names[exp_uuid].append(name)
    for row in rows:
        row["extra"] = from_json(row["extra"], {})
        row["tags"] = from_json(row["tags"], [])
        row["jobs"] = from_json(row["jobs"], [])
        row["plot_names"] = names[row["uuid"]]
    return rows


def _experiment_record(db: Db, row: dict[str, Any]) -> Row:
    """One experiment row as a record (see :func:`_experiment_records`)."""
    return _experiment_records(db, [row])[0]


def _result_columns(values: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for key in ("fit", "tags"):
        if key in out:
            out[key] = json_text(out[key])
    if "device_components" in out:
        components = list(out["device_components"])
        out["device_components"] = json_text(components)
        out["dc_key"] = _components_key(components)
    if "verified" in out:
        out["verified"] = int(bool(out["verified"]))
    if "chisq" in out:
        out["chisq"] = None if out["chisq"] is None else json_text(out["chisq"])
    return out


def _result_record(row: dict[str, Any]) -> Row:
    """An analysis-result row (with ``device_name``) as a record, in place."""
    for key in _RESULT_EXTRA_COLUMNS:
        row.pop(key, None)
    row["fit"] = from_json(row["fit"], {})
    row["device_components"] = from_json(row["device_components"], [])
    row["tags"] = from_json(row["tags"], [])
    row["verified"] = bool(row["verified"])
    row["chisq"] = from_json(row["chisq"], None)
    return row


def _components_key(components: Iterable[str]) -> str:
    """The order-insensitive form of a component list (exact component matches compare it)."""
    return json_text(sorted(components))


# -- access checks -----------------------------------------------------------------------------


def _checked(
    row: dict[str, Any] | None, user: Principal, write: bool, missing: str, not_owner: str
) -> dict[str, Any]:
    """``row`` if ``user`` may see it (and, with ``write``, owns it)."""
    if row is None or not user.can_see(row):
        raise NotFound(missing)
    if write and row["owner"] != user.id:
        raise Forbidden(not_owner)
    return row


def _experiment_row(db: Db, user: Principal, uuid: str, write: bool) -> dict[str, Any]:
    row = fetch_one(db, _SELECT_EXPERIMENT.format(keys="") + " WHERE e.uuid = ?", (uuid,))
    return _checked_experiment(row, user, uuid, write)


def _check_experiment(db: Db, user: Principal, uuid: str, write: bool) -> None:
    """What :func:`_experiment_row` checks, reading only the columns access depends on (an
    experiment's metadata may be large; every result create and upload checks its owner)."""
    _checked_experiment(
        fetch_one(db, _SELECT_ACCESS + " WHERE uuid = ?", (uuid,)), user, uuid, write
    )


def _checked_experiment(
    row: dict[str, Any] | None, user: Principal, uuid: str, write: bool
) -> dict[str, Any]:
    return _checked(
        row,
        user,
        write,
        f"experiment {uuid!r} not found",
        "only the owner may modify this experiment",
    )


def _result_row(db: Db, user: Principal, uuid: str, write: bool) -> dict[str, Any]:
    row = fetch_one(db, _SELECT_RESULT_CHECKED + " WHERE a.uuid = ?", (uuid,))
    return _checked(
        row,
        user,
        write,
        f"analysis result {uuid!r} not found",
        "only the owner of the experiment may modify this result",
    )


def _check_parent(db: Db, user: Principal, parent: str, uuid: str, device: str) -> None:
    if parent == uuid:
        raise Invalid("an experiment cannot be its own parent")
    row = fetch_one(
        db,
        "SELECT device_name, owner, visibility, hub_id, group_id, project_id "
        "FROM experiments WHERE uuid = ?",
        (parent,),
    )
    if row is None or not user.can_see(row):
        raise Invalid(f"parent experiment {parent!r} not found")
    if row["device_name"] != device:
        raise Invalid("the parent experiment must be on the same device")


# -- experiments -------------------------------------------------------------------------------


def get_experiment(db: Db, user: Principal, uuid: str, write: bool) -> Row:
    """See :meth:`ExperimentStore.get_experiment`."""
    return _experiment_record(db, _experiment_row(db, user, uuid, write))


def create_experiment(db: Db, user: Principal, values: Mapping[str, Any]) -> Row:
    """See :meth:`ExperimentStore.create_experiment`."""
    uuid = values["uuid"]
    with transaction(db):
        parent = values.get("parent_experiment_uuid")
        if parent:
            _check_parent(db, user, parent, uuid, values["device_name"])
        columns = _experiment_columns(values)
        exists = f"experiment {uuid!r} already exists"
        insert(db, "experiments", columns, EXPERIMENT_COLUMNS, exists=exists)
        return _experiment_record(db, _experiment_row(db, user, uuid, False))


def update_experiment(db: Db, user: Principal, uuid: str, changes: Mapping[str, Any]) -> Row:
    """See :meth:`ExperimentStore.update_experiment`."""
    with transaction(db):
        row = _experiment_row(db, user, uuid, True)
        if not changes:
            return _experiment_record(db, row)
        parent = changes.get("parent_experiment_uuid")
        if parent:
            _check_parent(db, user, parent, uuid, row["device_name"])
        update(db, "experiments", ("uuid", uuid), _experiment_columns(changes), EXPERIMENT_COLUMNS)
        return _experiment_record(db, _experiment_row(db, user, uuid, False))


def delete_experiment(db: Db, user: Principal, uuid: str, blobs: BlobDir | None = None) -> Row:
    """See :meth:`ExperimentStore.delete_experiment` (then removes the files of its blobs
    that no other row shares)."""
    with transaction(db):
        record = _experiment_record(db, _experiment_row(db, user, uuid, True))
        hashes = [
            row[0]
            for row in db.execute(
                "SELECT DISTINCT sha256 FROM blobs WHERE experiment_uuid = ? "
                "AND sha256 IS NOT NULL",
                (uuid,),
            )
        ]
        db.execute("DELETE FROM experiments WHERE uuid = ?", (uuid,))
    release(db, blobs, hashes)
    return record


def import_experiments(db: Db, rows: Iterable[Mapping[str, Any]]) -> int:
    """See :meth:`ExperimentStore.import_experiments`."""
    columns = [_experiment_columns(values) for values in rows]
    with transaction(db):
        db.executemany(
            f"INSERT INTO experiments ({','.join(EXPERIMENT_COLUMNS)}) "
            f"VALUES ({','.join('?' * len(EXPERIMENT_COLUMNS))})",
            [[values.get(c) for c in EXPERIMENT_COLUMNS] for values in columns],
        )
    return len(columns)


# -- analysis results --------------------------------------------------------------------------


def get_result(db: Db, user: Principal, uuid: str) -> Row:
    """See :meth:`ExperimentStore.get_result`."""
    return _result_record(_result_row(db, user, uuid, False))


def create_result(db: Db, user: Principal, values: Mapping[str, Any]) -> Row:
    """See :meth:`ExperimentStore.create_result`."""
    uuid = values["uuid"]
    with transaction(db):
        _check_experiment(db, user, values["experiment_uuid"], True)
        exists = f"analysis result {uuid!r} already exists"
        insert(db, "analysis_results", _result_columns(values), RESULT_COLUMNS, exists=exists)
        return _result_record(_result_row(db, user, uuid, False))


def update_results(
    db: Db, user: Principal, updates: Sequence[tuple[str, Mapping[str, Any]]]
) -> list[Row]:
    """See :meth:`ExperimentStore.update_results`."""
    with transaction(db):
        for uuid, changes in updates:
            _result_row(db, user, uuid, True)
            update(db, "analysis_results", ("uuid", uuid), _result_columns(changes), RESULT_COLUMNS)
        return [_result_record(_result_row(db, user, uuid, False)) for uuid, _ in updates]


def delete_result(db: Db, user: Principal, uuid: str) -> Row:
    """See :meth:`ExperimentStore.delete_result`."""
    with transaction(db):
        record = _result_record(_result_row(db, user, uuid, True))
        db.execute("DELETE FROM analysis_results WHERE uuid = ?", (uuid,))
    return record


# -- figures and files -------------------------------------------------------------------------


def _blob_row(db: Db, kind: str, exp_uuid: str, name: str) -> Any:
    """The ``(sha256,)`` of a blob, or ``None`` when there is no such blob."""
    return db.execute(
        "SELECT sha256 FROM blobs WHERE experiment_uuid = ? AND kind = ? AND name = ?",
        (exp_uuid, kind, name),
    ).fetchone()


def _touch(db: Db, exp_uuid: str, now: str) -> None:
    db.execute("UPDATE experiments SET updated_at = ? WHERE uuid = ?", (now, exp_uuid))


_UPSERT_BLOB = (
    "INSERT INTO blobs (kind, experiment_uuid, name, data, sha256, size, created_at, "
    "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (experiment_uuid, kind, name) DO UPDATE SET "
    "data = excluded.data, size = excluded.size, sha256 = excluded.sha256, "
    "updated_at = excluded.updated_at"
)


def put_blob(
    db: Db,
    kind: BlobKind,
    exp_uuid: str,
    name: str,
    data: bytes,
    now: str,
    user: Principal | None,
    exists: bool | None,
    blobs: BlobDir | None = None,
) -> None:
    """See :meth:`ExperimentStore.put_blob`.

    With ``blobs``, the bytes go to a file of that directory (written and synced before the
    transaction, named in it, before the row that points at it commits: see
    :mod:`._blobfiles`), and the row's ``data`` is empty; without, they go in ``data``.
    """
    staged = None if blobs is None else blobs.stage(data)
    try:
        with transaction(db):
            if user is not None:
                _check_experiment(db, user, exp_uuid, True)
            elif (
                db.execute("SELECT 1 FROM experiments WHERE uuid = ?", (exp_uuid,)).fetchone()
                is None
            ):
                raise NotFound(f"experiment {exp_uuid!r} not found")
            before = _blob_row(db, kind, exp_uuid, name)
            if exists is not None and (before is not None) != exists:
                if exists:
                    raise NotFound(f"{_BLOB_NOUN[kind]} {name!r} not found")
                raise Conflict(f"{_BLOB_NOUN[kind]} {name!r} already exists")
            values: tuple[bytes, str | None]
            if staged is None:
                values = (data, None)
            else:
                assert blobs is not None
                db.lock(lock_name(staged.sha256))
                blobs.place(staged)
                values = (b"", staged.sha256)
            db.execute(_UPSERT_BLOB, (kind, exp_uuid, name, *values, len(data), now, now))
            if kind == "plot":
                _touch(db, exp_uuid, now)
    finally:
        if staged is not None:
            assert blobs is not None
            blobs.discard(staged)
    if before is not None and before[0] != values[1]:
        release(db, blobs, [before[0]])


def get_blob(
    db: Db,
    user: Principal,
    kind: BlobKind,
    exp_uuid: str,
    name: str,
    blobs: BlobDir | None = None,
) -> bytes:
    """See :meth:`ExperimentStore.get_blob`.

    A blob whose bytes are in a file is read from it only once its row is committed (a
    writer names the file before it commits), so it is whole; one deleted or replaced
    between reading the row and opening the file is read again (or is not found).

    Raises:
        BlobLost: the file of a row is missing or has the wrong size.
    """
    _check_experiment(db, user, exp_uuid, False)
    seen: set[str] = set()
    while True:
        row = db.execute(
            "SELECT data, size, sha256 FROM blobs "
            "WHERE experiment_uuid = ? AND kind = ? AND name = ?",
            (exp_uuid, kind, name),
        ).fetchone()
        if row is None:
            raise NotFound(f"{_BLOB_NOUN[kind]} {name!r} not found")
        data, size, sha256 = row
        if sha256 is None:
            return bytes(data)
        if blobs is None:
            raise BlobLost("this blob is in a --blobs directory, and none was given")
        try:
            return blobs.read(sha256, size)
        except FileNotFoundError:
            if sha256 in seen:  # the row still points at it: the file is lost
                raise BlobLost(
                    f"the file of this blob is missing from the --blobs directory: "
                    f"{blobs.file(sha256)}"
                ) from None
            seen.add(sha256)  # deleted or replaced meanwhile? read the row again


def delete_blob(
    db: Db,
    user: Principal,
    kind: BlobKind,
    exp_uuid: str,
    name: str,
    now: str,
    blobs: BlobDir | None = None,
) -> None:
    """See :meth:`ExperimentStore.delete_blob` (then removes its file if no row shares it)."""
    with transaction(db):
        _check_experiment(db, user, exp_uuid, True)
        before = _blob_row(db, kind, exp_uuid, name)
        if before is None:
            raise NotFound(f"{_BLOB_NOUN[kind]} {name!r} not found")
        db.execute(
            "DELETE FROM blobs WHERE experiment_uuid = ? AND kind = ? AND name = ?",
            (exp_uuid, kind, name),
        )
        _touch(db, exp_uuid, now)
    release(db, blobs, [before[0]])


def list_blobs(db: Db, user: Principal, kind: BlobKind, exp_uuid: str) -> list[Row]:
    """See :meth:`ExperimentStore.list_blobs`."""
    _check_experiment(db, user, exp_uuid, False)
    return fetch_all(
        db,
        "SELECT name, size, updated_at FROM blobs WHERE experiment_uuid = ? AND kind = ? "
        "ORDER BY name",
        (exp_uuid, kind),
    )


# -- listing -----------------------------------------------------------------------------------


class _Where:
    """SQL conditions (ANDed) and their arguments, built from a query object."""

    def __init__(self, db: Db) -> None:
        self.db = db
        self.conds: list[str] = []
        self.args: list[Any] = []

    def add(self, cond: str, *args: Any) -> None:
        self.conds.append(cond)
        self.args.extend(args)

    def equal(self, column: str, value: str | None) -> None:
        if value:
            self.add(f"{column} = ?", value)

    def visible_to(self, user: Principal, alias: str = "e") -> None:
        """Only the experiments ``user`` may read (the SQL form of :meth:`Principal.can_see`)."""
        args: list[Any] = [user.id]
        parts = [f"{alias}.owner = ?", f"{alias}.visibility = 'public'"]
        proj = " OR ".join(
            f"({alias}.hub_id = ? AND {alias}.group_id = ? AND {alias}.project_id = ?)"
            for _ in user.hgps
        )
        for h in user.hgps:
            args.extend(h)
        parts.append(f"({alias}.visibility = 'project' AND ({proj}))")
        groups = sorted({h[:2] for h in user.hgps})
        grp = " OR ".join(f"({alias}.hub_id = ? AND {alias}.group_id = ?)" for _ in groups)
        for g in groups:
            args.extend(g)
        parts.append(f"({alias}.visibility = 'group' AND ({grp}))")
        hubs = sorted({h[0] for h in user.hgps})
        parts.append(
            f"({alias}.visibility = 'hub' AND {alias}.hub_id IN ({','.join('?' * len(hubs))}))"
        )
        args.extend(hubs)
        self.add("(" + " OR ".join(parts) + ")", *args)

    def text(self, column: str, match: TextMatch | None) -> None:
        if match is not None:
            self.add(self.db.contains(column) if match.substring else f"{column} = ?", match.value)

    def tags(self, column: str, match: TagMatch | None) -> None:
        if match is None:
            return
        if match.every:
            for tag in match.tags:
                self.add(self.db.json_has(column), tag)
        else:
            self.add(self.db.json_has_any(column, len(match.tags)), *match.tags)

    def times(self, column: str, bounds: Sequence[TimeBound]) -> None:
        for bound in bounds:
            self.add(f"{column} {_TIME_SQL[bound.op]} ?", bound.value)

    def components(self, alias: str, match: ComponentMatch) -> None:
        for component in match.contains:
            self.add(self.db.json_has(f"{alias}.device_components"), component)
        if match.exact is not None:
            self.add(f"{alias}.dc_key = ?", _components_key(match.exact))

    def negatable(self, column: str, value: tuple[str, bool] | None) -> None:
        if value is not None:
            self.add(f"{column} {'!=' if value[1] else '='} ?", value[0])


def list_experiments(db: Db, user: Principal, query: ExperimentQuery) -> Page:
    """See :meth:`ExperimentStore.list_experiments`."""
    where = _Where(db)
    where.visible_to(user)
    for column in ("device_name", "hub_id", "group_id", "project_id", "parent_experiment_uuid"):
        where.equal(f"e.{column}", getattr(query, column))
    where.text("e.type", query.type)
    where.tags("e.tags", query.tags)
    where.times("e.start_time", query.start_time)
    if query.components is not None:
        inner = _Where(db)
        inner.components("a", query.components)
        where.add(
            "EXISTS (SELECT 1 FROM analysis_results a WHERE a.experiment_uuid = e.uuid AND "
            + " AND ".join(inner.conds)
            + ")",
            *inner.args,
        )
    where.negatable("e.visibility", query.visibility)
    where.negatable("e.owner", query.owner)
    rows, marker = _page(
        db,
        _SELECT_EXPERIMENT,
        where,
        _experiment_sort_sql(db),
        query.sort,
        query.limit,
        query.marker,
    )
    return Page(_experiment_records(db, rows), marker)


def list_results(db: Db, user: Principal, query: ResultQuery) -> Page:
    """See :meth:`ExperimentStore.list_results`."""
    where = _Where(db)
    where.visible_to(user)
    where.equal("e.device_name", query.device_name)
    where.equal("a.experiment_uuid", query.experiment_uuid)
    where.text("a.type", query.type)
    where.tags("a.tags", query.tags)
    if query.components is not None:
        where.components("a", query.components)
    if query.quality is not None:
        where.add(f"a.quality IN ({','.join('?' * len(query.quality))})", *query.quality)
    if query.verified is not None:
        where.add("a.verified = ?", int(query.verified))
    where.times("a.created_at", query.created_at)
    rows, marker = _page(
        db, _SELECT_RESULT, where, _RESULT_SORT_SQL, query.sort, query.limit, query.marker
    )
    return Page([_result_record(r) for r in rows], marker)


def _page(
    db: Db,
    select: str,
    where: _Where,
    key_sql: dict[str, tuple[str, str]],
    sort: SortSpec,
    limit: int,
    marker: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page in ``sort`` order after ``marker`` (keyset paging), and the next marker."""
    unknown = [k for k, _ in sort.keys if k not in key_sql]
    if unknown:
        raise Invalid(f"invalid sort key {unknown[0]!r}")
    exprs = [key_sql[k][0 if d == "asc" else 1] for k, d in sort.keys]
    conds, args = list(where.conds), list(where.args)
    if marker:
        values = _decode_marker(marker, sort)
        # A redundant range on the first key lets SQLite seek in an index; then the
        # lexicographic "strictly after" over all sort keys.
        conds.append(f"{exprs[0]} {'>=' if sort.keys[0][1] == 'asc' else '<='} ?")
        args.append(values[0])
        ors: list[str] = []
        for i, (_, direction) in enumerate(sort.keys):
            cond = [f"{exprs[j]} = ?" for j in range(i)]
            cond.append(f"{exprs[i]} {'>' if direction == 'asc' else '<'} ?")
            ors.append("(" + " AND ".join(cond) + ")")
            args.extend(values[: i + 1])
        conds.append("(" + " OR ".join(ors) + ")")
    keys_sql = "".join(f", {e} AS _k{i}" for i, e in enumerate(exprs))
    order = ", ".join(
        f"{e} {'ASC' if d == 'asc' else 'DESC'}" for e, (_, d) in zip(exprs, sort.keys, strict=True)
    )
    sql = select.format(keys=keys_sql)
    if conds:
        sql += " WHERE " + " AND ".join(conds)
    sql += f" ORDER BY {order} LIMIT ?"
    args.append(limit + 1)
    rows = fetch_all(db, sql, args)
    marker = None
    if len(rows) > limit:
        rows = rows[:limit]
        marker = _encode_marker(sort, [rows[-1][f"_k{i}"] for i in range(len(exprs))])
    for row in rows:
        for i in range(len(exprs)):
            del row[f"_k{i}"]
    return rows, marker


def _encode_marker(sort: SortSpec, values: Sequence[Any]) -> str:
    raw = json.dumps({"s": sort.token(), "k": list(values)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_marker(marker: str, sort: SortSpec) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(marker + "=" * (-len(marker) % 4))
        data = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Invalid("invalid marker") from None
    if (
        not isinstance(data, dict)
        or data.get("s") != sort.token()
        or not isinstance(data.get("k"), list)
        or len(data["k"]) != len(sort.keys)
        or not all(isinstance(v, str) for v in data["k"])
    ):
        raise Invalid("invalid marker (it must be used with the same sort order)")
    return list(data["k"])
