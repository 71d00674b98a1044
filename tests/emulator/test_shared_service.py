"""The emulator as a shared service: two worker processes (``--workers 2``) on one PostgreSQL
database. A job runs in one worker and streams to a websocket on the other; a cancel through
one worker stops a job in the other; a kill -9 of a worker in the middle of a bulk save loses
and repeats nothing. Runs where ``QEXP_TEST_PG`` names a server (``nox -s pg``)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import httpx
import pytest
import pytest_asyncio
from websockets.asyncio.client import connect

from async_qexp import Provider
from async_qexp.emulator.app import WORKER_HEADER

from ..chaos._support import CHAOS_RETRY, N_FIGURES, N_RESULTS, TOKEN, bulk_save, check_saved
from ..helpers import wait_until
from ..pg import NO_SERVER, fresh_schema, schema_url
from ..pg import SERVER as URL
from .runtime_helpers import (
    SLEEPER,
    alive,
    first_interim,
    run_job,
    runtime_client,
    upload,
    wait_status,
)

pytest.importorskip("psycopg")
pytestmark = [
    pytest.mark.skipif(not URL, reason=NO_SERVER),
    pytest.mark.skipif(sys.platform != "linux", reason="the worker processes are Linux-only"),
]
ROOT = Path(__file__).resolve().parents[2]

PUBLISHER = """
import os, time

def main(backend, user_messenger, count=100, pause=0.01, **kwargs):
    for i in range(count):
        user_messenger.publish({"i": i, "runner": os.getppid()})
        time.sleep(pause)
    return {"done": count}
"""


class Shared:
    """A ``--workers 2`` emulator process (the supervisor) and what tests need of it."""

    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.proc = proc
        self.url = url
        self.runtime_url = url + "/runtime"

    def workers(self) -> dict[str, int]:
        """Worker number -> process id (the supervisor's children)."""
        found: dict[str, int] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) != self.proc.pid:
                    continue
                env = (entry / "environ").read_bytes().split(b"\0")
            except (OSError, ValueError, IndexError):
                continue
            for item in env:
                if item.startswith(b"QEXP_EMULATOR_WORKER="):
                    found[item.split(b"=", 1)[1].decode()] = int(entry.name)
        return found


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_schema("w") as schema:
        yield schema_url(schema)


@pytest.fixture
def shared(database: str) -> Iterator[Shared]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "async_qexp.emulator",
            "--port",
            "0",
            "--workers",
            "2",
            "--db",
            database,
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on "), line
        yield Shared(proc, line.split()[-1])
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


async def _client_on(shared: Shared, worker: str) -> httpx.AsyncClient:
    """A runtime client whose (kept-alive) connection the worker ``worker`` serves."""
    for _ in range(60):
        client = await runtime_client(shared)  # type: ignore[arg-type]
        r = await client.get(shared.url + "/health")
        if r.headers[WORKER_HEADER] == worker:
            return client
        await client.aclose()
    raise AssertionError(f"no connection reached worker {worker}")


@pytest_asyncio.fixture
async def clients(shared: Shared) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    pinned = {w: await _client_on(shared, w) for w in ("1", "2")}
    try:
        yield pinned
    finally:
        for client in pinned.values():
            await client.aclose()


def _other(worker_pids: dict[str, int], pid: int) -> str:
    (worker,) = [w for w, p in worker_pids.items() if p != pid]
    return worker


@pytest.mark.asyncio
async def test_a_job_in_one_worker_streams_every_message_once_in_order_to_the_other(
    shared: Shared, clients: dict[str, httpx.AsyncClient]
) -> None:
    count = 150
    program = await upload(clients["1"], "publisher", PUBLISHER)
    job_id = await run_job(clients["1"], program, {"count": count, "pause": 0.01})
    runner = (await first_interim(clients["1"], job_id))["runner"]
    pids = shared.workers()
    assert runner in pids.values(), (runner, pids)
    other = _other(pids, runner)
    token = clients["1"].headers["X-Access-Token"]
    stream_url = shared.runtime_url.replace("http://", "ws://") + f"/stream/jobs/{job_id}"
    with anyio.fail_after(30):
        for _ in range(60):  # a websocket the other worker serves (the job runs on)
            ws = await connect(stream_url, additional_headers={"X-Access-Token": token})
            assert ws.response is not None
            if ws.response.headers[WORKER_HEADER] == other:
                break
            await ws.close()
        else:
            raise AssertionError("no websocket reached the other worker")
        frames = [frame async for frame in ws]
        assert ws.close_code == 1000
    assert frames[0] == "ACK"
    interim = [json.loads(f) for f in frames[1:-1]]
    assert [m["i"] for m in interim] == list(range(count))
    assert {m["runner"] for m in interim} == {runner}
    assert json.loads(frames[-1]) == {"done": count}


@pytest.mark.asyncio
async def test_a_cancel_through_one_worker_stops_the_job_in_the_other(
    shared: Shared, clients: dict[str, httpx.AsyncClient]
) -> None:
    program = await upload(clients["1"], "sleeper", SLEEPER)
    job_id = await run_job(clients["1"], program, {"seconds": 60})
    first = await first_interim(clients["1"], job_id)
    canceller = _other(shared.workers(), _parent_of(first["pid"]))  # not the job's worker
    r = await clients[canceller].post(f"/jobs/{job_id}/cancel")
    assert r.is_success, r.text
    record = await wait_status(clients[canceller], job_id, timeout=15)
    assert record["status"] == "CANCELLED"
    await wait_until(lambda: not alive(first["pid"]), timeout=15)  # killed by its worker
    # the second cancel is refused, by either worker
    for client in clients.values():
        assert (await client.post(f"/jobs/{job_id}/cancel")).status_code == 409


def _parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


@pytest.mark.asyncio
@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_a_kill_9_of_a_worker_mid_save_loses_and_repeats_nothing(
    shared: Shared, transport: str
) -> None:
    tag = f"Workers-{transport}"
    third = asyncio.Event()
    seen = {"done": 0, "total": 0, "killed_at": -1}

    def progress(done: int, total: int | None) -> None:
        seen["done"], seen["total"] = done, total or 0
        if done >= (N_RESULTS + N_FIGURES) // 3:
            third.set()

    async def kill_one() -> None:
        await third.wait()
        seen["killed_at"] = seen["done"]
        os.kill(shared.workers()["1"], signal.SIGKILL)

    async with Provider(TOKEN, shared.url, transport=transport, retry=CHAOS_RETRY) as provider:  # type: ignore[arg-type]
        with anyio.fail_after(120):
            async with anyio.create_task_group() as group:
                group.start_soon(kill_one)
                data, index_of = await bulk_save(provider, tag, progress=progress)
        await data.aclose()
    assert 0 < seen["killed_at"] < seen["total"], f"not killed mid-save: {seen}"
    await check_saved(shared.url, transport, data.experiment_id, tag, index_of)
    await wait_until(lambda: len(shared.workers()) == 2, timeout=20)  # started again
