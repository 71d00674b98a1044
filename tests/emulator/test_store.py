"""The store: every SQLite call runs on its one database thread, never on the serving loop;
one operation per request; typed refusals; the transactional rules."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from async_qexp.emulator import Emulator, serve
from async_qexp.emulator.queries import (
    EXPERIMENT_DEFAULT_SORT,
    EXPERIMENT_FIELDS,
    RESULT_DEFAULT_SORT,
    RESULT_FIELDS,
    ExperimentQuery,
    Principal,
    ResultQuery,
    SortSpec,
    TagMatch,
)
from async_qexp.emulator.store import Conflict, Forbidden, Invalid, NotFound, SQLiteStore

from .conftest import create_exp, create_result, login_client
from .runtime_helpers import run_job, runtime_client, wait_status

ALICE = Principal("alice", (("hub", "group", "project"),))
BOB = Principal("bob", (("hub", "group", "project"),))
NOW = "2025-01-01T00:00:00.000000Z"


def _experiment(uuid: str, owner: str = "alice", **fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "uuid": uuid,
        "type": "T1",
        "device_name": "lima",
        "extra": {"x": [1, 2]},
        "parent_experiment_uuid": None,
        "hub_id": "hub",
        "group_id": "group",
        "project_id": "project",
        "visibility": "private",
        "tags": ["a"],
        "jobs": [],
        "notes": "",
        "start_time": None,
        "end_time": None,
        "created_at": NOW,
        "updated_at": NOW,
        "owner": owner,
    }
    values.update(fields)
    return values


def _result(uuid: str, exp: str, **fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "uuid": uuid,
        "experiment_uuid": exp,
        "type": "T1",
        "fit": {"value": 1.5},
        "device_components": ["Q1", "Q0"],
        "tags": [],
        "quality": "Good",
        "verified": False,
        "chisq": float("nan"),
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(fields)
    return values


# -- the database thread ---------------------------------------------------------------------


@pytest.mark.sqlite_only
@pytest.mark.asyncio
async def test_every_handler_query_runs_on_the_database_thread(emu: Emulator) -> None:
    store = emu.state.store
    assert isinstance(store, SQLiteStore)
    threads: set[int] = set()
    await store.execute(
        lambda conn: conn.set_trace_callback(lambda _sql: threads.add(threading.get_ident()))
    )
    loop_thread = threading.get_ident()
    client = await login_client(emu.url, "token-1")
    async with client:
        await create_exp(client, "e1")
        await create_result(client, "r1", "e1")
        assert (await client.get("/experiments", params={"tags": "any:x,y"})).status_code == 200
        r = await client.put(
            "/analysis_results/bulkupdate",
            json={"analysis_results": [{"uuid": "r1", "verified": True}]},
        )
        assert r.status_code == 200
        url = (await client.get("/experiments/e1/plots/upload/f.svg")).json()["url"]
        assert (await client.put(url, content=b"<svg/>")).status_code == 200
        assert (await client.delete("/experiments/e1")).status_code == 200
    rt = await runtime_client(emu)
    async with rt:
        job = await run_job(rt, "hello-world", {"iterations": 2})
        assert (await wait_status(rt, job))["status"] == "COMPLETED"
        assert (await rt.get(f"/jobs/{job}/interim_results")).json() == [
            {"iteration": 0},
            {"iteration": 1},
        ]
    await store.execute(lambda conn: conn.set_trace_callback(None))
    assert threads == {store.thread_id}
    assert loop_thread not in threads


@pytest.mark.asyncio
async def test_the_connection_refuses_any_other_thread(tmp_path: Path) -> None:
    store = await SQLiteStore.open(str(tmp_path / "db.sqlite"))
    try:
        assert store.thread_id not in (None, threading.get_ident())
        db = store._db
        assert db is not None
        conn = db.conn
        with pytest.raises(sqlite3.ProgrammingError):
            conn.execute("SELECT 1")
        mode = await store.execute(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0])
        sync = await store.execute(lambda c: c.execute("PRAGMA synchronous").fetchone()[0])
        assert (mode, sync) == ("wal", 1)  # NORMAL
    finally:
        await store.aclose()
    await store.aclose()  # idempotent
    assert not any(t.name.startswith("qexp-emulator-db") for t in threading.enumerate())


@pytest.mark.sqlite_only
@pytest.mark.asyncio
async def test_a_slow_database_call_does_not_block_the_loop(emu: Emulator) -> None:
    store = emu.state.store
    assert isinstance(store, SQLiteStore)
    slow = asyncio.ensure_future(store.execute(lambda conn: time.sleep(0.5)))
    await asyncio.sleep(0.05)  # the database thread is asleep now
    async with httpx.AsyncClient(base_url=emu.url) as client:
        started = time.perf_counter()
        assert (await client.get("/version")).status_code == 200
        assert time.perf_counter() - started < 0.3
    assert not slow.done()
    await slow


# -- the interface, directly -----------------------------------------------------------------


@pytest.mark.asyncio
async def test_records_in_python_values_and_typed_refusals() -> None:
    store = await SQLiteStore.open(None)
    try:
        record = await store.create_experiment(ALICE, _experiment("e1"))
        assert set(record) == set(EXPERIMENT_FIELDS)  # the wire's names, from the models
        assert record["extra"] == {"x": [1, 2]}
        assert record["tags"] == ["a"]
        assert record["plot_names"] == []
        with pytest.raises(Conflict):
            await store.create_experiment(ALICE, _experiment("e1"))
        with pytest.raises(Invalid, match="parent"):
            await store.create_experiment(ALICE, _experiment("e2", parent_experiment_uuid="nope"))
        with pytest.raises(Invalid, match="same device"):
            await store.create_experiment(
                ALICE, _experiment("e2", parent_experiment_uuid="e1", device_name="other")
            )
        with pytest.raises(NotFound):
            await store.get_experiment(BOB, "e1")  # private to alice
        await store.update_experiment(ALICE, "e1", {"visibility": "project"})
        assert (await store.get_experiment(BOB, "e1"))["visibility"] == "project"
        with pytest.raises(Forbidden):
            await store.get_experiment(BOB, "e1", write=True)
        with pytest.raises(Forbidden):
            await store.create_result(BOB, _result("r1", "e1"))
        result = await store.create_result(ALICE, _result("r1", "e1"))
        assert set(result) == set(RESULT_FIELDS)
        page = await store.list_results(
            ALICE, ResultQuery(sort=SortSpec.build([], RESULT_DEFAULT_SORT), limit=5)
        )
        assert page.rows == [result]
        assert result["device_components"] == ["Q1", "Q0"]
        assert result["device_name"] == "lima"
        assert result["chisq"] != result["chisq"]  # NaN survives
        assert result["verified"] is False
    finally:
        await store.aclose()


@pytest.mark.asyncio
async def test_bulk_update_is_all_or_nothing_and_delete_cascades() -> None:
    store = await SQLiteStore.open(None)
    try:
        await store.create_experiment(ALICE, _experiment("e1", visibility="public"))
        await store.create_experiment(BOB, _experiment("e2", owner="bob", visibility="public"))
        await store.create_result(ALICE, _result("r1", "e1"))
        await store.create_result(BOB, _result("r2", "e2"))
        with pytest.raises(Forbidden):
            await store.update_results(ALICE, [("r1", {"tags": ["new"]}), ("r2", {"tags": ["x"]})])
        assert (await store.get_result(ALICE, "r1"))["tags"] == []  # rolled back
        with pytest.raises(NotFound):
            await store.update_results(ALICE, [("r1", {"tags": ["new"]}), ("gone", {})])
        assert (await store.get_result(ALICE, "r1"))["tags"] == []
        [updated] = await store.update_results(ALICE, [("r1", {"tags": ["new"], "verified": True})])
        assert (updated["tags"], updated["verified"]) == (["new"], True)
        await store.put_blob("plot", "e1", "f.svg", b"<svg/>", NOW)
        assert (await store.get_experiment(ALICE, "e1"))["plot_names"] == ["f.svg"]
        with pytest.raises(Conflict):
            await store.put_blob("plot", "e1", "f.svg", b"x", NOW, user=ALICE, exists=False)
        with pytest.raises(NotFound):
            await store.put_blob("plot", "e1", "g.svg", b"x", NOW, user=ALICE, exists=True)
        deleted = await store.delete_experiment(ALICE, "e1")
        assert deleted["plot_names"] == ["f.svg"]
        with pytest.raises(NotFound):
            await store.get_result(ALICE, "r1")
        with pytest.raises(NotFound):
            await store.put_blob("file", "e1", "a.txt", b"x", NOW)
        leftovers = await store.execute(
            lambda c: c.execute("SELECT COUNT(*) FROM blobs").fetchone()[0]
        )
        assert leftovers == 0
    finally:
        await store.aclose()


@pytest.mark.asyncio
async def test_query_objects_and_keyset_markers() -> None:
    store = await SQLiteStore.open(None)
    try:
        n = 25
        await store.import_experiments(
            _experiment(
                f"e{i:02}",
                start_time=f"2025-01-01T00:00:{i:02}.000000Z",
                tags=["even" if i % 2 == 0 else "odd"],
            )
            for i in range(n)
        )
        sort = SortSpec.build([], EXPERIMENT_DEFAULT_SORT)
        seen: list[str] = []
        marker = None
        while True:
            page = await store.list_experiments(
                ALICE, ExperimentQuery(sort=sort, limit=7, marker=marker)
            )
            seen += [r["uuid"] for r in page.rows]
            marker = page.marker
            if marker is None:
                break
        assert seen == [f"e{i:02}" for i in reversed(range(n))]
        evens = await store.list_experiments(
            ALICE, ExperimentQuery(sort=sort, limit=100, tags=TagMatch(("even",), every=True))
        )
        assert len(evens.rows) == 13
        assert (await store.list_experiments(BOB, ExperimentQuery(sort=sort, limit=100))).rows == []
        other = SortSpec.build([("type", "asc")], EXPERIMENT_DEFAULT_SORT)
        first = await store.list_experiments(ALICE, ExperimentQuery(sort=sort, limit=1))
        with pytest.raises(Invalid, match="same sort"):
            await store.list_experiments(
                ALICE, ExperimentQuery(sort=other, limit=1, marker=first.marker)
            )
        results = SortSpec.build([], RESULT_DEFAULT_SORT)
        with pytest.raises(Invalid, match="invalid marker"):
            await store.list_results(ALICE, ResultQuery(sort=results, limit=1, marker="%%%"))
        with pytest.raises(Invalid, match="sort key 'start_time'"):
            await store.list_results(ALICE, ResultQuery(sort=sort, limit=1))
    finally:
        await store.aclose()


_OPEN_IN_ROUNDS = """
import asyncio, json, sys, time
from async_qexp.emulator.store import SQLiteStore

async def open_and_close(path):
    store = await SQLiteStore.open(path)
    await store.aclose()

outcomes = []
for path, start in json.loads(sys.argv[1]):
    while time.time() < start:
        pass  # (spinning: the processes must meet the file within a hair of each other)
    try:
        asyncio.run(open_and_close(path))
        outcomes.append("ok")
    except Exception as exc:
        outcomes.append(repr(exc))
print(json.dumps(outcomes))
"""


def test_processes_that_open_one_new_file_at_once_all_start(tmp_path: Path) -> None:
    """Turning WAL on needs a lock the others opening the same new file hold; SQLite answers
    "database is locked" at once there rather than wait, so opening tries again. (Without
    that, about one round in ten failed for one of four processes, and this test failed in
    2 of 3 runs.)"""
    rounds = 20
    first = time.time() + 3  # after the children's imports
    plan = [(str(tmp_path / f"round-{i}.sqlite"), first + 0.15 * i) for i in range(rounds)]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN_IN_ROUNDS, json.dumps(plan)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    try:
        outcomes = [json.loads(child.communicate(timeout=60)[0]) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    assert outcomes == [["ok"] * rounds] * 4


@pytest.mark.sqlite_only
@pytest.mark.asyncio
async def test_serve_leaves_no_database_thread() -> None:
    async with serve() as emu:
        assert isinstance(emu.state.store, SQLiteStore)
        assert any(t.name.startswith("qexp-emulator-db") for t in threading.enumerate())
    assert not any(t.name.startswith("qexp-emulator-db") for t in threading.enumerate())
