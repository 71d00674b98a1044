"""Job workers die with their emulator, even a ``kill -9`` of it, and a restart reaps any that
were left (``async_qexp/emulator/runtime/worker.py``, ``reaper.py``)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from async_qexp.emulator import serve
from async_qexp.emulator.runtime.reaper import WorkerRecords
from tests.helpers import wait_until

from .runtime_helpers import alive, first_interim, job, run_job, runtime_client, upload
from .test_cli import ROOT

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux process semantics")

PARENT = """
import os
import subprocess
import sys
import time


def main(backend, user_messenger, **kwargs):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    user_messenger.publish({"pid": os.getpid(), "child": child.pid})
    time.sleep(120)
"""


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_workers_die_with_a_killed_emulator(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "async_qexp.emulator", "--port", "0",
        "--db", str(tmp_path / "db.sqlite"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        cwd=ROOT,
    )  # fmt: skip
    pids: list[int] = []
    try:
        assert proc.stdout is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().split()[-1]
        client = await runtime_client(_Handle(url))  # type: ignore[arg-type]
        async with client:
            program = await upload(client, "parent", PARENT, cost=600)
            jobs = [await run_job(client, program) for _ in range(3)]
            for job_id in jobs:
                message = await first_interim(client, job_id)
                pids += [message["pid"], message["child"]]
        assert all(alive(pid) for pid in pids)
        proc.kill()  # kill -9: nothing of the emulator runs any more
        await proc.wait()
        started = time.monotonic()
        await wait_until(lambda: not any(alive(pid) for pid in pids), timeout=5)
        print(f"workers gone {time.monotonic() - started:.2f} s after the kill")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


class _Handle:
    """What ``runtime_client`` needs of an emulator: its URLs."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.runtime_url = url + "/runtime"


@pytest.mark.asyncio
async def test_a_restart_reaps_workers_a_dead_emulator_left(tmp_path: Path) -> None:
    db = str(tmp_path / "db.sqlite")
    async with serve(db=db, runtime_concurrency=1) as emu:
        client = await runtime_client(emu)
        async with client:
            program = await upload(client, "parent", PARENT, cost=600)
            job_id = await run_job(client, program)
            await first_interim(client, job_id)
            assert emu.runtime is not None
            run = emu.runtime.live[job_id]
            assert run.proc is not None
            records = WorkerRecords.for_database(db)
            assert records is not None
            assert records.directory.is_dir()
            (record,) = records.directory.iterdir()
            saved = record.read_bytes()
    # A dead emulator left a worker (with a child) of this job: imitate it with stand-ins in a
    # session of their own, recorded as the emulator records its workers.
    leader = subprocess.Popen(  # noqa: ASYNC220 - a stand-in, waited for at the end
        [sys.executable, "-c", "import subprocess, sys, time; "
         "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
         "time.sleep(120)"],
        start_new_session=True,
    )  # fmt: skip
    try:
        await asyncio.sleep(0.3)  # (its child starts)
        children = _group_members(leader.pid)
        assert len(children) == 2, children
        records.directory.mkdir(exist_ok=True)
        records.record(job_id, leader.pid)
        # a record of a process that is gone, or of a pid some other process took, is ignored
        stale = records.directory / "c-stale.json"
        stale.write_bytes(saved.replace(job_id.encode(), b"c-stale"))
        impostor = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, "-c", "import time; time.sleep(120)"]
        )
        try:
            records.record("c-impostor", impostor.pid)
            text = (records.directory / "c-impostor.json").read_text()
            (records.directory / "c-impostor.json").write_text(
                text.replace('"start": ', '"start": 1')
            )
            async with serve(db=db) as emu2:
                client = await runtime_client(emu2)
                async with client:
                    assert (await job(client, job_id))["status"] == "FAILED"
                await wait_until(lambda: not any(alive(pid) for pid in children), timeout=5)
                assert list(records.directory.iterdir()) == []
                assert alive(impostor.pid)  # not ours: left alone
        finally:
            impostor.kill()
            impostor.wait()
    finally:
        for pid in _group_members(leader.pid):
            os.kill(pid, signal.SIGKILL)
        leader.wait()


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as fh:
                    fields = fh.read().rsplit(") ", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry))
    return members


@pytest.mark.asyncio
async def test_no_record_is_left_after_jobs_end(tmp_path: Path) -> None:
    db = str(tmp_path / "db.sqlite")
    async with serve(db=db) as emu:
        client = await runtime_client(emu)
        async with client:
            await job(client, await run_job(client, "hello-world"))
            records = WorkerRecords.for_database(db)
            assert records is not None
            await wait_until(lambda: not emu.runtime or not emu.runtime.live)
            assert list(records.directory.glob("*.json")) == []
    assert WorkerRecords.for_database(None) is None  # in memory: nothing to record


HELLO = "def main(backend, user_messenger, **kwargs):\n    return {'backend': backend.name}\n"


def _frames(data: bytes) -> list[tuple[str, object]]:
    frames = []
    while data:
        header, _, data = data.partition(b"\n")
        kind, size = header.decode().split()
        frames.append((kind, json.loads(data[: int(size)])))
        data = data[int(size) :]
    return frames


def test_a_worker_without_parent_reads_a_closed_stdin_and_runs() -> None:
    """The watchdog is opt-in: a worker started without ``--parent`` (by an emulator that
    writes the spec and closes stdin) runs its job, not killing itself at end of file."""
    spec = {"source": HELLO, "name": "hello", "inputs": "{}", "backend": "sim", "deadline": 30}
    done = subprocess.run(
        [sys.executable, "-m", "async_qexp.emulator.runtime.worker"],
        input=json.dumps(spec).encode(),
        capture_output=True,
        timeout=30,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert _frames(done.stdout) == [("F", {"backend": "sim"})]


def test_a_worker_with_parent_dies_when_its_stdin_ends() -> None:
    """With ``--parent``, the end of stdin after the spec means the emulator is gone: the
    worker kills its process group at once (a job that would sleep for a minute)."""
    source = "import time\n\ndef main(backend, user_messenger, **kwargs):\n    time.sleep(60)\n"
    spec = {"source": source, "name": "sleepy", "inputs": "{}", "backend": "sim"}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "async_qexp.emulator.runtime.worker", "--parent", str(os.getpid())],
        input=json.dumps(spec).encode() + b"\n",
        capture_output=True,
        timeout=30,
        cwd=ROOT,
        check=False,
        start_new_session=True,  # the worker kills its own group
    )
    assert done.returncode == -signal.SIGKILL
    assert time.monotonic() - started < 20
