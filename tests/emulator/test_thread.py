"""The emulator on its own thread and loop: from sync code, from inside a running loop, and
nothing left behind (threads, file descriptors, job workers)."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from async_qexp.emulator import EmulatorThread, serve_in_thread

from .runtime_helpers import FINAL, alive


def _emulator_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("qexp-emulator")]


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def no_leftovers() -> Iterator[None]:
    assert _emulator_threads() == []
    fds = _open_fds()
    yield
    assert _emulator_threads() == []
    assert _open_fds() <= fds


def _login(client: httpx.Client, token: str = "sync-user") -> None:
    r = client.post("/api/users/loginWithToken", json={"apiToken": token})
    r.raise_for_status()
    client.headers["X-Access-Token"] = r.json()["id"]


def test_start_and_stop_from_sync_code(no_leftovers: None) -> None:
    with serve_in_thread(latency_ms=1) as emu, httpx.Client(base_url=emu.url, timeout=10) as c:
        assert emu.resultsdb_url == emu.url + "/resultsdb"
        assert emu.runtime_url == emu.url + "/runtime"
        _login(c)
        body = {"uuid": "e1", "type": "T1", "device_name": "ibmq_lima"}
        assert c.post("/resultsdb/experiments", json=body).status_code == 201
        assert c.get("/resultsdb/experiments/e1").json()["uuid"] == "e1"
        # the live controls are safe from this thread
        emu.faults.fail_next(1, 503, path_prefix="/experiments")
        assert c.get("/resultsdb/experiments/e1").status_code == 503
        emu.latency_ms = 0
        assert c.get("/resultsdb/experiments/e1").status_code == 200
        statuses = [r.status for r in emu.request_log if r.path == "/resultsdb/experiments/e1"]
        assert statuses == [200, 503, 200]
        assert len(emu.request_log) >= 5
        emu.request_log.clear()
        assert len(emu.request_log) == 0
        assert [t.name for t in _emulator_threads()] != []


def test_jobs_run_and_their_workers_die_with_the_thread(no_leftovers: None) -> None:
    runner = EmulatorThread()
    emu = runner.start()
    try:
        with httpx.Client(base_url=emu.runtime_url, timeout=10) as c:
            r = httpx.post(emu.url + "/api/users/loginWithToken", json={"apiToken": "t"})
            c.headers["X-Access-Token"] = r.json()["id"]
            body = {"program_id": "hello-world", "backend": "emulator_simulator"}
            job_id = c.post(
                "/jobs", content=json.dumps({**body, "params": {"iterations": 2}})
            ).json()["id"]
            deadline = time.monotonic() + 10
            while c.get(f"/jobs/{job_id}").json()["status"] not in FINAL:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            assert c.get(f"/jobs/{job_id}").json()["status"] == "COMPLETED"
        # objects of the emulator's loop are reached through call()
        row = runner.call(emu.state.store.get_job, job_id)
        assert row["status"] == "COMPLETED"
        sleeper = {**body, "params": {"iterations": 1}, "program_id": "sample-program"}
        with httpx.Client(base_url=emu.runtime_url, timeout=10, headers=c.headers) as c2:
            c2.post(
                "/jobs",
                content=json.dumps(
                    {**sleeper, "params": {"iterations": 500, "interim_delay": 0.05}}
                ),
            )
            deadline = time.monotonic() + 10
            while len(emu.runtime.worker_pids) < 2:
                assert time.monotonic() < deadline
                time.sleep(0.02)
        pids = list(emu.runtime.worker_pids)
    finally:
        runner.stop()
    runner.stop()  # a second stop does nothing
    assert not runner.running
    assert not any(alive(p) for p in pids)
    with pytest.raises(RuntimeError):
        runner.start()  # once only


@pytest.mark.asyncio
async def test_async_form_serves_while_the_callers_loop_is_blocked(no_leftovers: None) -> None:
    async with serve_in_thread() as emu:
        async with httpx.AsyncClient(base_url=emu.url) as client:
            assert (await client.get("/version")).status_code == 200
        done: list[float] = []

        def request() -> None:
            started = time.perf_counter()
            assert httpx.get(emu.url + "/version", timeout=5).status_code == 200
            done.append(time.perf_counter() - started)

        helper = threading.Thread(target=request)
        helper.start()
        time.sleep(1.0)  # noqa: ASYNC251 - this loop is blocked; the emulator's is not
        assert done, "the request was not served while the caller's loop was blocked"
        assert done[0] < 0.9
        helper.join()


@pytest.mark.asyncio
async def test_start_failure_is_raised_and_leaves_nothing(no_leftovers: None) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match="in use"):
            async with serve_in_thread(port=port):
                pass  # pragma: no cover
        with pytest.raises(OSError, match="in use"), serve_in_thread(port=port):
            pass  # pragma: no cover


def test_call_and_emulator_need_a_running_thread() -> None:
    runner = serve_in_thread()
    assert "stopped" in repr(runner)
    with pytest.raises(RuntimeError):
        _ = runner.emulator
    with pytest.raises(RuntimeError):
        runner.call(lambda: None)  # type: ignore[arg-type, return-value]
    runner.stop()  # never started: nothing to do
