"""Figures and files in a directory (``--blobs DIR``): written atomically before their row
commits, byte-identical after a restart, never served partial, files removed once no row
refers to them, and a directory that cannot serve refused at start-up. The store tests run
on a SQLite file and, where ``QEXP_TEST_PG`` names a server, on PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from async_qexp.emulator import EmulatorConfig, serve
from async_qexp.emulator.__main__ import main
from async_qexp.emulator.queries import Principal
from async_qexp.emulator.store import (
    SCHEMA_VERSION,
    NotFound,
    SQLiteStore,
    Store,
    _blobfiles,
    open_store,
)
from async_qexp.emulator.store._base import _STEPS, SQLStore
from async_qexp.emulator.store._blobfiles import BlobLost
from async_qexp.emulator.store._sql import Db, SQLiteDb

from ..pg import SERVER, fresh_schema, schema_url
from .conftest import create_exp, login_client

ALICE = Principal("alice", (("hub", "group", "project"),))
NOW = "2026-01-01T00:00:00.000000Z"
ROOT = Path(__file__).resolve().parents[2]


def _experiment(uuid: str) -> dict[str, Any]:
    return {
        "uuid": uuid,
        "type": "T1",
        "device_name": "lima",
        "hub_id": "hub",
        "group_id": "group",
        "project_id": "project",
        "created_at": NOW,
        "updated_at": NOW,
        "owner": "alice",
    }


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _names(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


# -- the two backends --------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database that outlives a store: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield str(tmp_path / "db.sqlite")
        return
    with fresh_schema("b") as schema:
        yield schema_url(schema)


@pytest.fixture
def blob_dir(tmp_path: Path) -> Path:
    path = tmp_path / "blobs"
    path.mkdir()
    return path


@pytest_asyncio.fixture
async def store(database: str, blob_dir: Path) -> AsyncIterator[SQLStore]:
    opened = await open_store(database, blobs=blob_dir)
    assert isinstance(opened, SQLStore)
    try:
        await opened.create_experiment(ALICE, _experiment("e1"))
        yield opened
    finally:
        await opened.aclose()


async def _rows(store: Store) -> list[tuple[str, str, str | None, int, int]]:
    """Every blob row: (experiment, name, sha256, size, bytes in the row)."""

    def read(db: Db) -> list[tuple[str, str, str | None, int, int]]:
        rows = db.execute(
            "SELECT experiment_uuid, name, sha256, size, length(data) FROM blobs "
            "ORDER BY experiment_uuid, name"
        ).fetchall()
        return [tuple(r) for r in rows]

    assert isinstance(store, SQLStore)
    return await store._run(read)


async def _assert_consistent(store: Store, directory: Path) -> None:
    """Every row that points at a file finds it whole (the invariant a crash must keep)."""
    for exp, name, sha256, size, in_row in await _rows(store):
        if sha256 is None:
            continue
        path = directory / sha256
        assert path.is_file(), f"{exp}/{name}: its file {sha256} is missing"
        data = path.read_bytes()
        assert (len(data), _sha(data), in_row) == (size, sha256, 0)


# -- writing, reading, restarting ---------------------------------------------------------------


@pytest.mark.asyncio
async def test_bytes_go_to_a_file_named_by_their_hash_and_survive_a_restart(
    database: str, blob_dir: Path
) -> None:
    figure = os.urandom(1 << 20) + b"\x00\xff"
    file = b"{}"
    store = await open_store(database, blobs=blob_dir)
    try:
        await store.create_experiment(ALICE, _experiment("e1"))
        await store.put_blob("plot", "e1", "fig.png", figure, NOW, user=ALICE)
        await store.put_blob("file", "e1", "data.json", file, NOW, user=ALICE)
        assert await _rows(store) == [
            ("e1", "data.json", _sha(file), 2, 0),
            ("e1", "fig.png", _sha(figure), len(figure), 0),
        ]
        assert _names(blob_dir) == {_sha(figure), _sha(file)}  # no temporary file left
        assert (blob_dir / _sha(figure)).read_bytes() == figure
    finally:
        await store.aclose()
    store = await open_store(database, blobs=str(blob_dir))
    try:
        assert await store.get_blob(ALICE, "plot", "e1", "fig.png") == figure
        assert await store.get_blob(ALICE, "file", "e1", "data.json") == file
        listed = await store.list_blobs(ALICE, "plot", "e1")
        assert [(r["name"], r["size"]) for r in listed] == [("fig.png", len(figure))]
    finally:
        await store.aclose()


@pytest.mark.asyncio
async def test_without_blobs_the_bytes_stay_in_the_database(database: str, tmp_path: Path) -> None:
    store = await open_store(database)
    try:
        await store.create_experiment(ALICE, _experiment("e1"))
        await store.put_blob("plot", "e1", "fig.svg", b"<svg/>", NOW, user=ALICE)
        assert await _rows(store) == [("e1", "fig.svg", None, 6, 6)]
    finally:
        await store.aclose()
    # served with a directory later: the old blob is still read from the database, a new one
    # goes to a file
    blob_dir = tmp_path / "later"
    blob_dir.mkdir()
    store = await open_store(database, blobs=blob_dir)
    try:
        assert await store.get_blob(ALICE, "plot", "e1", "fig.svg") == b"<svg/>"
        await store.put_blob("plot", "e1", "new.svg", b"<new/>", NOW, user=ALICE)
        assert await store.get_blob(ALICE, "plot", "e1", "new.svg") == b"<new/>"
        assert _names(blob_dir) == {_sha(b"<new/>")}
        # replacing the old one moves its bytes to a file
        await store.put_blob("plot", "e1", "fig.svg", b"<svg>2</svg>", NOW, user=ALICE)
        assert (await _rows(store))[0] == ("e1", "fig.svg", _sha(b"<svg>2</svg>"), 12, 0)
    finally:
        await store.aclose()


# -- sharing and removing files -----------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_file_goes_when_the_last_row_referring_to_it_goes(
    store: SQLStore, blob_dir: Path
) -> None:
    same, other = b"shared bytes", b"other bytes"
    await store.create_experiment(ALICE, _experiment("e2"))
    await store.put_blob("plot", "e1", "a.svg", same, NOW, user=ALICE)
    await store.put_blob("file", "e1", "b.json", same, NOW, user=ALICE)
    await store.put_blob("plot", "e2", "c.svg", same, NOW, user=ALICE)
    await store.put_blob("plot", "e2", "d.svg", other, NOW, user=ALICE)
    assert _names(blob_dir) == {_sha(same), _sha(other)}
    await store.delete_blob(ALICE, "plot", "e1", "a.svg", NOW)
    assert _names(blob_dir) == {_sha(same), _sha(other)}  # b.json and c.svg still refer to it
    await store.delete_experiment(ALICE, "e1")
    assert _names(blob_dir) == {_sha(same), _sha(other)}  # c.svg still does
    assert await store.get_blob(ALICE, "plot", "e2", "c.svg") == same
    # replacing bytes releases the old content
    await store.put_blob("plot", "e2", "c.svg", b"new", NOW, user=ALICE)
    assert _names(blob_dir) == {_sha(b"new"), _sha(other)}
    await store.delete_experiment(ALICE, "e2")
    assert _names(blob_dir) == set()
    assert await _rows(store) == []


@pytest.mark.asyncio
async def test_writers_and_deleters_of_the_same_bytes_at_once_keep_every_row_whole(
    store: SQLStore, blob_dir: Path
) -> None:
    # On PostgreSQL the store runs operations on several connections at once: the content's
    # lock keeps a deleter from removing the file a writer of the same bytes has just named.
    same = b"x" * 4096
    for round_ in range(6):
        names = [f"r{round_}-{i}" for i in range(8)]
        await asyncio.gather(
            *(store.put_blob("plot", "e1", n, same, NOW, user=ALICE) for n in names[::2])
        )
        await asyncio.gather(
            *(store.delete_blob(ALICE, "plot", "e1", n, NOW) for n in names[::2]),
            *(store.put_blob("plot", "e1", n, same, NOW, user=ALICE) for n in names[1::2]),
        )
        await _assert_consistent(store, blob_dir)
        for n in names[1::2]:
            assert await store.get_blob(ALICE, "plot", "e1", n) == same
        await asyncio.gather(*(store.delete_blob(ALICE, "plot", "e1", n, NOW) for n in names[1::2]))
    assert await _rows(store) == []
    assert _names(blob_dir) == set()


@pytest.mark.asyncio
async def test_a_deleter_never_removes_the_file_a_writer_has_named_but_not_committed(
    store: SQLStore, database: str, blob_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two stores on one database (two emulator processes): the writer stops between naming
    # the file of bytes X and committing its row, while the other deletes the last committed
    # row of X. The content's lock makes the deleter wait, and then see the new row.
    same = b"the same bytes"
    await store.put_blob("plot", "e1", "a.svg", same, NOW, user=ALICE)
    placed, resume = threading.Event(), threading.Event()
    original = _blobfiles.BlobDir.place

    def place(self: _blobfiles.BlobDir, staged: _blobfiles.Staged) -> None:
        original(self, staged)
        if not placed.is_set():
            placed.set()
            resume.wait(10)

    monkeypatch.setattr(_blobfiles.BlobDir, "place", place)
    other = await open_store(database, blobs=blob_dir)
    try:
        writer = asyncio.ensure_future(store.put_blob("plot", "e1", "b.svg", same, NOW, user=ALICE))
        try:
            assert await asyncio.to_thread(placed.wait, 10)
            deleter = asyncio.ensure_future(other.delete_blob(ALICE, "plot", "e1", "a.svg", NOW))
            await asyncio.sleep(0.3)  # time enough to remove the file, were it not locked
        finally:
            resume.set()
        await asyncio.wait_for(asyncio.gather(writer, deleter), 10)
    finally:
        await other.aclose()
    await _assert_consistent(store, blob_dir)
    assert await store.get_blob(ALICE, "plot", "e1", "b.svg") == same


# -- failures -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_commit_that_fails_leaves_no_row_and_the_old_bytes_served(
    store: SQLStore, blob_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.put_blob("plot", "e1", "fig.svg", b"<old/>", NOW, user=ALICE)
    fail = {"on": True}
    classes = {SQLiteDb}
    if SERVER:
        from async_qexp.emulator.store.postgres import PostgresDb

        classes.add(PostgresDb)
    for cls in classes:
        original = cls.execute

        def execute(self: Any, sql: str, args: Any = (), _original: Any = original) -> Any:
            if sql == "COMMIT" and fail["on"]:
                fail["on"] = False
                raise RuntimeError("simulated: the commit failed")
            return _original(self, sql, args)

        monkeypatch.setattr(cls, "execute", execute)
    with pytest.raises(RuntimeError, match="simulated"):
        await store.put_blob("plot", "e1", "fig.svg", b"<new/>", NOW, user=ALICE)
    assert await store.get_blob(ALICE, "plot", "e1", "fig.svg") == b"<old/>"
    fail["on"] = True
    with pytest.raises(RuntimeError, match="simulated"):
        await store.put_blob("file", "e1", "new.json", b"[1]", NOW, user=ALICE)
    with pytest.raises(NotFound):
        await store.get_blob(ALICE, "file", "e1", "new.json")
    await _assert_consistent(store, blob_dir)
    # the new bytes' files may stay (no row refers to them); no temporary file does
    assert _sha(b"<old/>") in _names(blob_dir)
    assert not [n for n in _names(blob_dir) if n.startswith(".tmp-")]
    # the connection is usable, and the same write goes through now
    await store.put_blob("file", "e1", "new.json", b"[1]", NOW, user=ALICE)
    assert await store.get_blob(ALICE, "file", "e1", "new.json") == b"[1]"


_CRASH = textwrap.dedent(
    """
    import asyncio, os, sys
    from async_qexp.emulator.queries import Principal
    from async_qexp.emulator.store import SQLiteStore
    from async_qexp.emulator.store._sql import SQLiteDb

    db, blobs, where = sys.argv[1:4]
    original_execute, original_fsync = SQLiteDb.execute, os.fsync

    def execute(self, sql, args=()):
        if sql == "COMMIT" and where == "commit":
            os._exit(7)  # the process dies between naming the file and committing its row
        cursor = original_execute(self, sql, args)
        if sql == "COMMIT":
            os._exit(7)  # the process dies right after the commit
        return cursor

    def fsync(fd):
        os._exit(7)  # the process dies with the bytes half written, before any fsync

    async def run():
        store = await SQLiteStore.open(db, blobs=blobs)
        if where in ("commit", "after"):
            SQLiteDb.execute = execute
        else:
            os.fsync = fsync
        user = Principal("alice", (("hub", "group", "project"),))
        data = b"n" * (8 << 20)
        await store.put_blob("plot", "e1", "fig.svg", data, "2026", user=user)
        await store.put_blob("plot", "e1", "other.svg", data, "2026", user=user)

    asyncio.run(run())
    """
)


@pytest.mark.asyncio
@pytest.mark.sqlite_only
@pytest.mark.parametrize("where", ["write", "commit", "after"])
async def test_a_crash_mid_write_never_leaves_a_row_without_its_whole_file(
    tmp_path: Path, blob_dir: Path, where: str
) -> None:
    db = str(tmp_path / "db.sqlite")
    store = await SQLiteStore.open(db, blobs=blob_dir)
    try:
        await store.create_experiment(ALICE, _experiment("e1"))
        await store.put_blob("plot", "e1", "fig.svg", b"<old/>", NOW, user=ALICE)
    finally:
        await store.aclose()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _CRASH, db, str(blob_dir), where,
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        _, err = await asyncio.wait_for(child.communicate(), 30)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert child.returncode == 7, err.decode()
    left = _names(blob_dir) - {_sha(b"<old/>")}
    if where == "write":  # a partial temporary file, which no row names
        assert len(left) == 1
        assert left.pop().startswith(".tmp-")
    else:  # the whole new file (which no row names if the commit did not happen)
        assert left == {_sha(b"n" * (8 << 20))}
    store = await SQLiteStore.open(db, blobs=blob_dir)
    try:
        expected = b"n" * (8 << 20) if where == "after" else b"<old/>"
        assert await store.get_blob(ALICE, "plot", "e1", "fig.svg") == expected
        with pytest.raises(NotFound):
            await store.get_blob(ALICE, "plot", "e1", "other.svg")
        await _assert_consistent(store, blob_dir)
    finally:
        await store.aclose()


@pytest.mark.asyncio
async def test_a_missing_or_damaged_file_is_an_error_never_partial_bytes(
    store: SQLStore, blob_dir: Path
) -> None:
    data = b"0123456789" * 100
    await store.put_blob("file", "e1", "f.bin", data, NOW, user=ALICE)
    path = blob_dir / _sha(data)
    path.write_bytes(data[:500])  # truncated behind the emulator's back
    with pytest.raises(BlobLost, match="damaged"):
        await store.get_blob(ALICE, "file", "e1", "f.bin")
    path.unlink()
    with pytest.raises(BlobLost, match="missing"):
        await store.get_blob(ALICE, "file", "e1", "f.bin")


# -- start-up -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_directory_that_cannot_serve_is_refused_at_start_up(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        await open_store(database, blobs=tmp_path / "missing")
    (tmp_path / "plain").write_text("")
    with pytest.raises(ValueError, match="is not a directory"):
        await open_store(database, blobs=tmp_path / "plain")
    with pytest.raises(TypeError, match="directory path"):
        await open_store(database, blobs=3)  # type: ignore[arg-type]

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(_blobfiles.tempfile, "mkstemp", refuse)
    with pytest.raises(ValueError, match="is not writable: Permission denied"):
        await open_store(database, blobs=tmp_path)


@pytest.mark.asyncio
async def test_the_directory_is_checked_on_the_database_thread_not_the_loop(
    database: str, blob_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    original = _blobfiles.BlobDir.check

    def check(self: _blobfiles.BlobDir) -> None:
        threads.append(threading.current_thread().name)
        original(self)

    monkeypatch.setattr(_blobfiles.BlobDir, "check", check)
    await (await open_store(database, blobs=blob_dir)).aclose()
    assert len(threads) == 1
    assert threads[0].startswith("qexp-emulator-db")


@pytest.mark.asyncio
async def test_start_up_removes_only_stale_temporary_files(database: str, blob_dir: Path) -> None:
    old, fresh, named = blob_dir / ".tmp-old", blob_dir / ".tmp-fresh", blob_dir / ("0" * 64)
    for path in (old, fresh, named):
        path.write_bytes(b"partial")
    stale = time.time() - _blobfiles.STALE_TEMP_S - 60
    os.utime(old, (stale, stale))
    os.utime(named, (stale, stale))
    await (await open_store(database, blobs=blob_dir)).aclose()
    assert _names(blob_dir) == {fresh.name, named.name}  # a content file is never touched


@pytest.mark.asyncio
@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
async def test_a_read_only_directory_is_refused(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(ValueError, match="is not writable"):
            await SQLiteStore.open(str(tmp_path / "db.sqlite"), blobs=ro)
    finally:
        ro.chmod(0o700)


@pytest.mark.asyncio
async def test_a_database_with_files_needs_its_directory(
    database: str, blob_dir: Path, tmp_path: Path
) -> None:
    store = await open_store(database, blobs=blob_dir)
    try:
        await store.create_experiment(ALICE, _experiment("e1"))
        await store.put_blob("plot", "e1", "fig.svg", b"<svg/>", NOW, user=ALICE)
    finally:
        await store.aclose()
    with pytest.raises(ValueError, match="give the same --blobs DIR"):
        await open_store(database)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(ValueError, match="lacks the file"):
        await open_store(database, blobs=elsewhere)


def test_config_checks_the_option() -> None:
    assert EmulatorConfig(db="x.sqlite", blobs=Path("d")).blobs == "d"
    with pytest.raises(TypeError, match="directory path"):
        EmulatorConfig(db="x.sqlite", blobs=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not bytes"):
        EmulatorConfig(db="x.sqlite", blobs=b"d")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        EmulatorConfig(db="x.sqlite", blobs="")
    with pytest.raises(ValueError, match="outlives the process"):
        EmulatorConfig(blobs="d")


def test_the_command_exits_1_on_a_missing_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope"
    code = main(["--port", "0", "--db", str(tmp_path / "db.sqlite"), "--blobs", str(missing)])
    assert code == 1
    assert f"error: --blobs directory {missing} does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "--blobs DIR" in capsys.readouterr().out


# -- the schema ---------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.sqlite_only
async def test_a_database_from_before_the_column_is_migrated_with_its_blobs(
    tmp_path: Path, blob_dir: Path
) -> None:
    path = tmp_path / "old.sqlite"
    before = next(i for i, step in enumerate(_STEPS) if "sha256" in step)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    for step in _STEPS[:before]:
        conn.executescript(SQLiteDb.schema(step))
    conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(before),))
    conn.execute(
        "INSERT INTO experiments (uuid, type, device_name, hub_id, group_id, project_id, "
        "created_at, updated_at, owner) VALUES ('e1', 'T', 'd', 'hub', 'group', 'project', "
        "?, ?, 'alice')",
        (NOW, NOW),
    )
    conn.execute(
        "INSERT INTO blobs (kind, experiment_uuid, name, data, size, created_at, updated_at) "
        "VALUES ('plot', 'e1', 'old.svg', ?, 6, ?, ?)",
        (b"<old/>", NOW, NOW),
    )
    conn.close()
    store = await SQLiteStore.open(str(path), blobs=blob_dir)
    try:
        assert await store.get_blob(ALICE, "plot", "e1", "old.svg") == b"<old/>"
        version = await store.execute(
            lambda c: c.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        )
        assert version == (str(SCHEMA_VERSION),)
    finally:
        await store.aclose()


# -- through HTTP -------------------------------------------------------------------------------


async def _upload(client: httpx.AsyncClient, kind: str, name: str, data: bytes) -> None:
    r = await client.get(f"/experiments/big/{kind}/upload/{name}")
    assert r.status_code == 200, r.text
    r = await client.put(r.json()["url"], content=data)
    assert r.status_code == 200, r.text


@pytest.mark.asyncio
@pytest.mark.timeout(60)
@pytest.mark.parametrize("where", ["database", "directory"])
async def test_blobs_up_to_the_body_limit_survive_a_restart_byte_identical(
    tmp_path: Path, where: str
) -> None:
    # (with -p tests.pg_backend this emulator runs on PostgreSQL)
    limit = EmulatorConfig().max_body_bytes
    figure, file = os.urandom(limit), os.urandom(limit - 1)
    blob_dir = tmp_path / "blobs"
    blob_dir.mkdir()
    config = EmulatorConfig(
        db=str(tmp_path / "db.sqlite"),
        blobs=blob_dir if where == "directory" else None,
        runtime=False,
    )
    async with serve(config) as emu:
        client = await login_client(emu.url, "token-1")
        async with client:
            await create_exp(client, "big")
            await _upload(client, "plots", "fig.png", figure)
            await _upload(client, "files", "data.bin", file)
            r = await client.get("/experiments/big/plots/upload/huge.png")
            assert (await client.put(r.json()["url"], content=figure + b"!")).status_code == 413
    expected = {_sha(figure), _sha(file)} if where == "directory" else set()
    assert _names(blob_dir) == expected
    async with serve(config) as emu:
        client = await login_client(emu.url, "token-1")
        async with client:
            assert (await client.get("/experiments/big/plots/fig.png")).content == figure
            assert (await client.get("/experiments/big/files/data.bin")).content == file
            assert (await client.delete("/experiments/big/plots/fig.png")).status_code < 300
            assert _names(blob_dir) == ({_sha(file)} if where == "directory" else set())
            (blob_dir / _sha(file)).unlink(missing_ok=True)
            r = await client.get("/experiments/big/files/data.bin")
            if where == "directory":  # a lost file is an error with a reason, not bytes
                assert r.status_code == 500
                assert "missing from the --blobs directory" in r.json()["error"]["message"]
            else:
                assert r.content == file
