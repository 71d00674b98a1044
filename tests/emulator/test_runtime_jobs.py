"""Runtime jobs over raw HTTP: the state machine, results, logs, cancel, delete, limits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest
import pytest_asyncio

from async_qexp.emulator import Emulator, EmulatorConfig, FaultSettings, serve
from async_qexp.emulator.runtime.manager import RuntimeManager
from async_qexp.emulator.store import SQLiteStore
from tests.helpers import wait_until

from .conftest import assert_error
from .runtime_helpers import (
    ECHO,
    FAILING,
    SLEEPER,
    alive,
    first_interim,
    job,
    run_job,
    runtime_client,
    upload,
    wait_status,
)


@pytest_asyncio.fixture
async def rt() -> AsyncIterator[tuple[Emulator, httpx.AsyncClient]]:
    async with serve() as emu:
        client = await runtime_client(emu, "alice")
        async with client:
            yield emu, client


async def _interim(client: httpx.AsyncClient, job_id: str) -> list[object]:
    r = await client.get(f"/jobs/{job_id}/interim_results")
    assert r.status_code == 200
    items: list[object] = json.loads(r.text)
    return items


@pytest.mark.asyncio
async def test_hello_world_lifecycle(rt: tuple[Emulator, httpx.AsyncClient]) -> None:
    _, client = rt
    r = await client.post(
        "/jobs",
        content=json.dumps(
            {
                "program_id": "hello-world",
                "hub": "ibm-q",
                "group": "open",
                "project": "main",
                "backend": "emulator_simulator",
                "params": {"iterations": 3},
                "runtime": None,
            }
        ),
    )
    assert r.status_code == 200, r.text
    created = r.json()
    job_id = created["id"]
    assert created["created"].endswith("Z")
    first = await job(client, job_id)
    assert first["status"] in ("QUEUED", "RUNNING", "COMPLETED")
    assert first["state"]["status"] == first["status"]
    record = await wait_status(client, job_id)
    assert record["status"] == "COMPLETED"
    assert record["state"] == {"status": "COMPLETED", "reason": None}
    assert record["id"] == job_id
    assert record["program"] == {"id": "hello-world"}
    assert record["backend"] == "emulator_simulator"
    assert (record["hub"], record["group"], record["project"]) == ("ibm-q", "open", "main")
    assert record["params"] == [{"iterations": 3}]
    assert record["created"] == created["created"]
    assert "runtime" in record
    r = await client.get(f"/jobs/{job_id}/results")
    assert r.status_code == 200
    assert r.text == '"Hello, World!"'
    assert await _interim(client, job_id) == [{"iteration": 0}, {"iteration": 1}, {"iteration": 2}]
    r = await client.get(f"/jobs/{job_id}/logs")
    assert r.status_code == 200
    assert isinstance(r.text, str)


@pytest.mark.asyncio
async def test_sample_program_t1_sim_and_logs(rt: tuple[Emulator, httpx.AsyncClient]) -> None:
    _, client = rt
    sample = await run_job(client, "sample-program", {"iterations": 4, "interim_delay": 0})
    t1 = await run_job(
        client, "t1-sim", {"qubit": 2, "delays": [0, 25, 50, 400], "shots": 2000, "seed": 7}
    )
    assert (await wait_status(client, sample))["status"] == "COMPLETED"
    assert (await wait_status(client, t1))["status"] == "COMPLETED"
    result = json.loads((await client.get(f"/jobs/{sample}/results")).text)
    assert result == {"iterations": 4, "message": "All done!"}
    interim = await _interim(client, sample)
    assert [m["iteration"] for m in interim] == [0, 1, 2, 3]  # type: ignore[index]
    logs = (await client.get(f"/jobs/{sample}/logs")).text
    assert "sample-program ran 4 iterations on emulator_simulator" in logs
    t1_result = json.loads((await client.get(f"/jobs/{t1}/results")).text)
    assert t1_result["qubit"] == 2
    assert t1_result["shots"] == 2000
    assert t1_result["delays"] == [0.0, 25.0, 50.0, 400.0]
    ones = [c["1"] for c in t1_result["counts"]]
    assert all(c["0"] + c["1"] == 2000 for c in t1_result["counts"])
    assert ones[0] > ones[1] > ones[2] > ones[3]  # decays with the delay
    assert ones[3] < 200  # mostly relaxed after 8 T1
    interim_t1 = await _interim(client, t1)
    assert [m["delay"] for m in interim_t1] == [0.0, 25.0, 50.0, 400.0]  # type: ignore[index]
    assert [m["counts"] for m in interim_t1] == t1_result["counts"]  # type: ignore[index]


@pytest.mark.asyncio
async def test_inputs_envelopes_logging_and_backend(rt: tuple[Emulator, httpx.AsyncClient]) -> None:
    _, client = rt
    pid = await upload(client, "echo", ECHO)
    params = {"z": {"__type__": "complex", "__value__": [1.0, -2.5]}, "n": 3}
    job_id = await run_job(client, pid, params, log_level="DEBUG")
    record = await wait_status(client, job_id)
    assert record["status"] == "COMPLETED", await client.get(f"/jobs/{job_id}/results")
    assert record["params"] == [params]
    assert record["log_level"] == "DEBUG"
    result = json.loads((await client.get(f"/jobs/{job_id}/results")).text)
    assert result == {
        "backend": "emulator_simulator",
        "same": True,
        "z": {"__type__": "complex", "__value__": [1.0, -2.5]},  # decoded, then re-encoded
        "n": 3,
    }
    logs = (await client.get(f"/jobs/{job_id}/logs")).text
    assert "echo inputs ['n', 'z']" in logs


@pytest.mark.asyncio
async def test_failing_program_surfaces_traceback(rt: tuple[Emulator, httpx.AsyncClient]) -> None:
    _, client = rt
    pid = await upload(client, "failing", FAILING)
    job_id = await run_job(client, pid)
    record = await wait_status(client, job_id)
    assert record["status"] == "FAILED"
    assert record["state"]["status"] == "FAILED"
    text = (await client.get(f"/jobs/{job_id}/results")).text
    assert "Traceback" in text
    assert "KeyError" in text
    assert "missing-key" in text
    assert 'return {}["missing-key"]' in text  # the program's source line
    assert await _interim(client, job_id) == [{"before": "failure"}]
    logs = (await client.get(f"/jobs/{job_id}/logs")).text
    assert "about to fail" in logs
    assert "KeyError" in logs
    # unknown inputs are a failure of main(), not of the emulator
    job2 = await run_job(client, "hello-world", {"no_such_input": 1})
    assert (await wait_status(client, job2))["status"] == "COMPLETED"  # **kwargs
    job3 = await run_job(client, "sample-program", {})
    assert (await wait_status(client, job3))["status"] == "FAILED"
    assert "TypeError" in (await client.get(f"/jobs/{job3}/results")).text


@pytest.mark.asyncio
async def test_max_execution_time(rt: tuple[Emulator, httpx.AsyncClient]) -> None:
    _, client = rt
    pid = await upload(client, "sleepy", SLEEPER, cost=1)
    job_id = await run_job(client, pid, {"seconds": 30})
    record = await wait_status(client, job_id, timeout=10)
    assert record["status"] == "CANCELLED - RAN TOO LONG"
    assert record["state"] == {"status": "CANCELLED", "reason": "RAN TOO LONG"}
    assert "RAN TOO LONG" in (await client.get(f"/jobs/{job_id}/results")).text
    assert "sleeping 30" in (await client.get(f"/jobs/{job_id}/logs")).text
    pid_msg = (await _interim(client, job_id))[0]
    assert not alive(pid_msg["pid"])  # type: ignore[index]
    # a job-level cost overrides the program's
    job2 = await run_job(client, "hello-world", {}, cost=5)
    assert (await job(client, job2))["cost"] == 5
    assert_error(await client.post("/jobs/" + job_id + "/cancel"), 409)


@pytest.mark.asyncio
async def test_cancel_running_and_final(rt: tuple[Emulator, httpx.AsyncClient]) -> None:
    _, client = rt
    pid = await upload(client, "sleepy", SLEEPER)
    job_id = await run_job(client, pid, {"seconds": 30})
    await wait_status(client, job_id, ("RUNNING",))
    worker = (await first_interim(client, job_id))["pid"]
    assert alive(worker)
    r = await client.post(f"/jobs/{job_id}/cancel")
    assert r.status_code == 200
    assert r.json() == {}
    record = await job(client, job_id)  # CANCELLED at once
    assert record["status"] == "CANCELLED"
    assert record["state"] == {"status": "CANCELLED", "reason": None}
    for _ in range(200):
        if not alive(worker):
            break
        await asyncio.sleep(0.01)
    assert not alive(worker)
    assert_error(await client.post(f"/jobs/{job_id}/cancel"), 409)
    done = await run_job(client, "hello-world")
    await wait_status(client, done)
    assert_error(await client.post(f"/jobs/{done}/cancel"), 409)
    assert_error(await client.post("/jobs/nope/cancel"), 404)


@pytest.mark.asyncio
async def test_delete_in_any_state() -> None:
    async with serve(runtime_concurrency=1) as emu:
        client = await runtime_client(emu)
        async with client:
            pid = await upload(client, "sleepy", SLEEPER)
            running = await run_job(client, pid, {"seconds": 30})
            queued = await run_job(client, pid, {"seconds": 30})
            await wait_status(client, running, ("RUNNING",))
            assert (await job(client, queued))["status"] == "QUEUED"
            done = await run_job(client, "hello-world", backend="ibmq_qasm_simulator")
            await wait_status(client, done)
            worker = (await first_interim(client, running))["pid"]
            for job_id in (queued, running, done):
                r = await client.delete(f"/jobs/{job_id}")
                assert r.status_code == 200, r.text
                assert_error(await client.get(f"/jobs/{job_id}"), 404)
                assert_error(await client.get(f"/jobs/{job_id}/results"), 404)
                assert_error(await client.delete(f"/jobs/{job_id}"), 404)
            await wait_until(lambda: not alive(worker))
            r = await client.get("/jobs")
            assert r.json() == {"jobs": [], "count": 0}


@pytest.mark.asyncio
async def test_cancel_or_delete_right_after_submit_never_goes_back() -> None:
    """A job cancelled while it leaves its queue stays CANCELLED (the store sees its changes in
    order), deleted jobs stay gone, and nothing is left live or running."""
    async with serve(runtime_concurrency=3) as emu:
        client = await runtime_client(emu)
        async with client:
            pid = await upload(client, "sleepy", SLEEPER)
            cancelled, deleted = [], []
            for i in range(12):
                job_id = await run_job(client, pid, {"seconds": 30})
                if i % 3 == 2:
                    assert (await client.delete(f"/jobs/{job_id}")).status_code == 200
                    deleted.append(job_id)
                else:
                    assert (await client.post(f"/jobs/{job_id}/cancel")).status_code == 200
                    cancelled.append(job_id)
            for _ in range(5):
                for job_id in cancelled:
                    assert (await job(client, job_id))["status"] == "CANCELLED"
                for job_id in deleted:
                    assert_error(await client.get(f"/jobs/{job_id}"), 404)
                await asyncio.sleep(0.05)
            runtime = emu.runtime
            assert runtime is not None
            await wait_until(lambda: not runtime.live)
            await wait_until(lambda: not any(alive(p) for p in runtime.worker_pids))
            assert (await client.get("/jobs")).json()["count"] == len(cancelled)


@pytest.mark.asyncio
async def test_per_backend_queue_in_submission_order() -> None:
    async with serve(runtime_concurrency=2) as emu:
        client = await runtime_client(emu)
        async with client:
            pid = await upload(client, "sleepy", SLEEPER)
            jobs = [await run_job(client, pid, {"seconds": 0.3}) for _ in range(5)]
            other = await run_job(client, pid, {"seconds": 0.3}, backend="ibmq_qasm_simulator")
            states = [(await job(client, j))["status"] for j in jobs]
            assert states.count("QUEUED") >= 3
            assert (await wait_status(client, other, ("RUNNING", "COMPLETED")))["status"]
            records = [await wait_status(client, j) for j in jobs]
            assert {r["status"] for r in records} == {"COMPLETED"}
            starts = [r["started"] for r in records]
            assert starts == sorted(starts)  # submission order
            # never more than 2 at once: count the jobs running at each start time
            for t in starts:
                overlapping = [r for r in records if r["started"] <= t < r["ended"]]
                assert len(overlapping) <= 2
            assert any(
                len([r for r in records if r["started"] <= t < r["ended"]]) == 2 for t in starts
            )


@pytest.mark.asyncio
async def test_unknown_program_backend_and_bad_bodies(
    rt: tuple[Emulator, httpx.AsyncClient],
) -> None:
    emu, client = rt
    base = {"program_id": "hello-world", "backend": "emulator_simulator", "params": {}}
    assert_error(await client.post("/jobs", content=json.dumps({**base, "program_id": "x"})), 404)
    # A 404 of POST /jobs means the program (clients raise RuntimeProgramNotFound for it):
    # a backend that is not served is a bad request.
    assert_error(await client.post("/jobs", content=json.dumps({**base, "backend": "nope"})), 400)
    no_backend = {"program_id": "hello-world", "params": {}}
    assert_error(await client.post("/jobs", content=json.dumps(no_backend)), 400)
    assert_error(await client.post("/jobs", content=b"{oops"), 400)
    assert_error(await client.post("/jobs", content=json.dumps({**base, "params": 5})), 400)
    bad_level = {**base, "log_level": "LOUD"}
    assert_error(await client.post("/jobs", content=json.dumps(bad_level)), 400)
    for path in ("", "/results", "/interim_results", "/logs"):
        assert_error(await client.get(f"/jobs/nope{path}"), 404)
    assert_error(await client.delete("/jobs/nope"), 404)
    # another user's private program is unknown; their jobs are invisible
    bob = await runtime_client(emu, "bob")
    async with bob:
        pid = await upload(bob, "bobs", ECHO)
        assert_error(
            await client.post("/jobs", content=json.dumps({**base, "program_id": pid})), 404
        )
        bobs_job = await run_job(bob, "hello-world")
        assert_error(await client.get(f"/jobs/{bobs_job}"), 404)
        assert_error(await client.post(f"/jobs/{bobs_job}/cancel"), 404)
        assert (await client.get("/jobs")).json()["count"] == 0
    # params may be a one-element list or a JSON string (older clients)
    listed = await run_job(client, "hello-world", [{"iterations": 2}])  # type: ignore[arg-type]
    assert (await job(client, listed))["params"] == [{"iterations": 2}]
    r = await client.post("/logout")
    assert r.status_code == 200
    assert r.json() == {}


@pytest.mark.asyncio
async def test_list_jobs_filters_and_paging(rt: tuple[Emulator, httpx.AsyncClient]) -> None:
    _, client = rt
    pid = await upload(client, "sleepy", SLEEPER)
    done = [await run_job(client, "hello-world") for _ in range(4)]
    for job_id in done:
        await wait_status(client, job_id)
    pending = await run_job(client, pid, {"seconds": 30})
    body = (await client.get("/jobs")).json()
    assert body["count"] == 5
    assert [j["id"] for j in body["jobs"]] == [pending, *reversed(done)]  # newest first
    page = (await client.get("/jobs", params={"limit": 2, "offset": 1})).json()
    assert page["count"] == 5
    assert [j["id"] for j in page["jobs"]] == [done[3], done[2]]
    only_pending = (await client.get("/jobs", params={"pending": "true"})).json()
    assert [j["id"] for j in only_pending["jobs"]] == [pending]
    assert only_pending["count"] == 1
    finished = (await client.get("/jobs", params={"pending": "false"})).json()
    assert finished["count"] == 4
    by_program = (await client.get("/jobs", params={"program": pid})).json()
    assert [j["id"] for j in by_program["jobs"]] == [pending]
    ascending = (await client.get("/jobs", params={"sort": "ASC", "limit": 1})).json()
    assert ascending["jobs"][0]["id"] == done[0]
    provider = (await client.get("/jobs", params={"provider": "ibm-q/open/main"})).json()
    assert provider["count"] == 5
    assert (await client.get("/jobs", params={"provider": "x/y/z"})).json()["count"] == 0
    assert_error(await client.get("/jobs", params={"pending": "maybe"}), 400)
    assert_error(await client.get("/jobs", params={"limit": "ten"}), 400)
    await client.post(f"/jobs/{pending}/cancel")


@pytest.mark.asyncio
async def test_shutdown_kills_workers_and_fails_running_jobs(tmp_path: object) -> None:
    db = str(tmp_path) + "/rt.sqlite"  # type: ignore[operator]
    async with serve(db=db, runtime_concurrency=1) as emu:
        client = await runtime_client(emu)
        async with client:
            pid = await upload(client, "sleepy", SLEEPER)
            running = await run_job(client, pid, {"seconds": 60})
            queued = await run_job(client, pid, {"seconds": 0.01})
            worker = (await first_interim(client, running))["pid"]
        pids = list(emu.runtime.worker_pids)
    assert worker in pids
    assert not any(alive(p) for p in pids)
    # restart on the same database: the running job failed, the queued one runs now
    async with serve(db=db) as emu2:
        client = await runtime_client(emu2)
        async with client:
            record = await job(client, running)
            assert record["status"] == "FAILED"
            assert "shut down" in (await client.get(f"/jobs/{running}/results")).text
            assert (await wait_status(client, queued))["status"] == "COMPLETED"


@pytest.mark.asyncio
async def test_runtime_can_be_disabled() -> None:
    async with serve(runtime=False) as emu:
        assert emu.runtime is None
        client = await runtime_client(emu)
        async with client:
            assert_error(await client.get("/programs"), 404)


HOSTILE = """
import os
import subprocess
import sys


def main(backend, user_messenger, **kwargs):
    # a grandchild that would outlive the worker, then garbage on the message channel
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    user_messenger.publish({"child": child.pid})
    for fd in range(3, 64):
        try:
            os.write(fd, b"garbage that is no frame\\n")
        except OSError:
            pass
    import time
    time.sleep(60)
"""


@pytest.mark.asyncio
async def test_hostile_program_cannot_break_the_server(
    rt: tuple[Emulator, httpx.AsyncClient],
) -> None:
    _, client = rt
    pid = await upload(client, "hostile", HOSTILE)
    job_id = await run_job(client, pid)
    record = await wait_status(client, job_id)
    assert record["status"] == "FAILED"
    assert "message channel" in (await client.get(f"/jobs/{job_id}/results")).text
    (message,) = await _interim(client, job_id)
    await wait_until(lambda: not alive(message["child"]))  # type: ignore[index]
    # the server still works
    assert (await wait_status(client, await run_job(client, "hello-world")))["status"] == (
        "COMPLETED"
    )


class _StatusLog(SQLiteStore):
    """A store that remembers every status a job is given, in order."""

    statuses: list[str]

    async def update_job(self, job_id: str, changes: Mapping[str, Any]) -> None:
        if "status" in changes:
            self.statuses.append(changes["status"])
        await super().update_job(job_id, changes)


@pytest.mark.asyncio
async def test_a_cancel_while_the_job_starts_is_not_overwritten() -> None:
    store = await _StatusLog.open(None)
    store.statuses = []
    manager = RuntimeManager(EmulatorConfig(), store, FaultSettings())
    try:
        await manager.start()
        values = {
            "owner": "u",
            "program_id": "hello-world",
            "backend": "emulator_simulator",
            "hub": "h",
            "group": "g",
            "project": "p",
            "params": "{}",
            "cost": 60,
            "status": "QUEUED",
        }
        row = await manager.submit(values)
        for _ in range(100_000):  # until claimed, and the supervisor awaits the store
            run = manager.live.get(row["id"])
            if run is not None and run.started:
                break
            await asyncio.sleep(0)
        assert run is not None
        assert run.started
        assert await manager.cancel(row["id"])
        await wait_until(lambda: not manager.live)
        assert store.statuses == ["CANCELLED", "CANCELLED"]  # never RUNNING again
        assert (await store.get_job(row["id"]))["status"] == "CANCELLED"
        assert manager.worker_pids == []  # it never started a process
    finally:
        await manager.aclose()
        await store.aclose()
