"""``--workers N``: one socket served by N processes, restarted when they die, stopped with
their supervisor (a SIGTERM, or a ``kill -9`` of it); and the graceful stop of one process.

PostgreSQL lands separately: these run the process model on a SQLite file with
``--no-runtime`` (``QEXP_EMULATOR_ALLOW_SQLITE_WORKERS=1``)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx
import pytest

from async_qexp.emulator import workers
from async_qexp.emulator.__main__ import main, parse_args
from async_qexp.emulator.workers import SQLITE_WORKERS_ENV, is_postgres_url

from .conftest import exp_body
from .runtime_helpers import alive
from .test_cli import ROOT

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux process semantics")

ENV = {**os.environ, SQLITE_WORKERS_ENV: "1"}


def children(pid: int) -> list[int]:
    """The live child processes of ``pid``."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as fh:
            return [int(x) for x in fh.read().split() if alive(int(x))]
    except OSError:
        return []


async def gone(pids: list[int], timeout: float) -> None:
    """Wait until none of ``pids`` is alive; fail after ``timeout`` seconds."""
    with anyio.fail_after(timeout):
        while any(alive(p) for p in pids):  # noqa: ASYNC110 - other processes
            await asyncio.sleep(0.02)


class Supervisor:
    """A running ``--workers`` emulator: its process, URL and the workers' pids."""

    def __init__(self, proc: asyncio.subprocess.Process, url: str) -> None:
        self.proc = proc
        self.url = url

    def workers(self) -> list[int]:
        """The pids of the workers alive now."""
        return children(self.proc.pid)

    async def all_workers(self, count: int, timeout: float = 20) -> list[int]:
        """Wait until ``count`` workers run; return their pids."""
        with anyio.fail_after(timeout):
            while len(pids := self.workers()) != count:  # noqa: ASYNC110 - other processes
                await asyncio.sleep(0.02)
        return pids


@asynccontextmanager
async def supervisor(tmp_path: Path, *args: str, workers: int = 2) -> AsyncIterator[Supervisor]:
    """Start ``--workers`` on a SQLite file; on exit, leave no process behind."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "async_qexp.emulator", "--port", "0", "--no-runtime",
        "--db", str(tmp_path / "shared.sqlite"), "--workers", str(workers), *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env=ENV,
    )  # fmt: skip
    seen: set[int] = set()
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 40)).decode()
        if not line:  # it exited: say why
            assert proc.stderr is not None
            why = (await asyncio.wait_for(proc.stderr.read(), 10)).decode(errors="replace")
            raise AssertionError(f"the supervisor exited at start-up: {why[-3000:]}")
        assert line.startswith("listening on http://127.0.0.1:"), line
        running = Supervisor(proc, line.split()[-1])
        if workers > 1:
            seen.update(await running.all_workers(workers))
        yield running
    finally:
        seen.update(children(proc.pid))
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        await proc.communicate()
        for pid in seen:  # (orphans stop by themselves; this only bounds a failed test)
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        await gone(list(seen), 10)


async def answer(
    url: str, path: str = "/health", headers: dict[str, str] | None = None
) -> httpx.Response:
    """One request on a fresh connection."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        return await client.get(path, headers=headers)


async def workers_seen(
    url: str, expected: set[str], path: str = "/health", headers: dict[str, str] | None = None
) -> None:
    """Ask on fresh connections (each answered 200) until every worker in ``expected``
    answered (bounded)."""
    seen: set[str] = set()
    for _ in range(400):
        r = await answer(url, path, headers)
        assert r.status_code == 200, r.text
        seen.add(r.headers["x-emulator-worker"])
        if seen == expected:
            return
    raise AssertionError(f"only workers {sorted(seen)} answered, not {sorted(expected)}")


# -- the command line -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--workers", "2"], "several workers share one database: give --db postgresql://"),
        (["--workers", "2", "--db", "x.sqlite"], "give --db postgresql://"),
        (["--workers", "0"], "--workers must be >= 1"),
        (["--shutdown-timeout", "-1"], "--shutdown-timeout must be"),
        (["--shutdown-timeout", "nan"], "--shutdown-timeout must be"),
        (["--worker-of", "1"], "go together"),
    ],
)
def test_bad_arguments_are_refused_before_anything_starts(
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(SQLITE_WORKERS_ENV, raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main(argv, prog="qexp emulator")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: qexp emulator"), err
    assert message in err


def test_workers_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SQLITE_WORKERS_ENV, raising=False)
    assert parse_args([]).workers == 1
    assert parse_args([]).shutdown_timeout == 10.0
    for url in ("postgresql://u@localhost:5432/qexp", "postgres://localhost/qexp"):
        assert parse_args(["--workers", "3", "--db", url]).workers == 3
        assert is_postgres_url(url)
    assert not is_postgres_url("qexp.sqlite")
    assert not is_postgres_url(None)
    monkeypatch.setenv(SQLITE_WORKERS_ENV, "1")
    assert parse_args(["--workers", "2", "--db", "f.sqlite", "--no-runtime"]).workers == 2
    with pytest.raises(SystemExit):
        parse_args(["--workers", "2", "--db", "f.sqlite"])  # (the runtime needs PostgreSQL)


def test_help_describes_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    out = capsys.readouterr().out
    assert "--workers N" in out
    assert "--shutdown-timeout SECONDS" in out
    assert "--worker-of" not in out
    assert "--listen-fd" not in out


# -- several workers -------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_every_worker_answers_on_the_shared_port(tmp_path: Path) -> None:
    async with supervisor(tmp_path) as running:
        await workers_seen(running.url, {"1", "2"})
        # one database behind both: a token and a record made through one worker work on both
        async with httpx.AsyncClient(base_url=running.url) as c:
            r = await c.post("/api/users/loginWithToken", json={"apiToken": "api-1"})
            h = {"X-Access-Token": r.json()["id"]}
            r = await c.post("/resultsdb/experiments", headers=h, json=exp_body("shared-exp"))
            assert r.status_code == 201, r.text
        await workers_seen(running.url, {"1", "2"}, "/resultsdb/experiments/shared-exp", headers=h)
        ready = await answer(running.url, "/ready")
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_a_killed_worker_is_restarted_and_requests_keep_succeeding(tmp_path: Path) -> None:
    async with supervisor(tmp_path) as running:
        first = await running.all_workers(2)
        victim = first[0]
        os.kill(victim, signal.SIGKILL)
        with anyio.fail_after(20):
            while True:
                r = await answer(running.url)  # every one on a fresh connection succeeds
                assert r.status_code == 200
                now = running.workers()
                if victim not in now and len(now) == 2:
                    break
                await asyncio.sleep(0.02)
        assert len(set(now) - set(first)) == 1  # one new worker, the survivor kept
        await workers_seen(running.url, {"1", "2"})  # the new one serves under the old number
        running.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(running.proc.wait(), 30) == 0
        err = (await running.proc.communicate())[1].decode()
        assert f"(pid {victim}) exited unexpectedly (signal SIGKILL)" in err, err
        assert "restarted" in err


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_sigterm_stops_the_supervisor_and_every_worker(tmp_path: Path) -> None:
    async with supervisor(tmp_path) as running:
        pids = await running.all_workers(2)
        running.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(running.proc.wait(), 20) == 0
        await gone(pids, 5)
        with pytest.raises(httpx.ConnectError):
            await answer(running.url)


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_workers_stop_by_themselves_after_a_kill_9_of_the_supervisor(
    tmp_path: Path,
) -> None:
    async with supervisor(tmp_path) as running:
        pids = await running.all_workers(2)
        running.proc.kill()
        await running.proc.wait()
        await gone(pids, 20)
        with pytest.raises(httpx.ConnectError):
            await answer(running.url)


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_workers_that_cannot_start_stop_the_supervisor(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "async_qexp.emulator", "--port", "0", "--no-runtime",
        "--db", str(tmp_path / "missing" / "shared.sqlite"), "--workers", "2",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env=ENV,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 40)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 1
    assert b"listening on" not in out
    assert b"stopped during start-up" in err, err
    assert children(proc.pid) == []


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_a_crash_loop_stops_the_supervisor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(SQLITE_WORKERS_ENV, "1")
    monkeypatch.setattr(workers, "RESTART_BACKOFF", 0.01)
    monkeypatch.setattr(workers, "MAX_RESTARTS_PER_MINUTE", 1)
    argv = ["--port", "0", "--no-runtime", "--db", str(tmp_path / "x.sqlite"), "--workers", "2"]
    task = asyncio.create_task(workers.supervise(parse_args(argv), argv))
    seen: set[int] = set()
    try:
        with anyio.fail_after(40):
            out = ""
            while "listening on" not in out:  # (every worker serves)
                assert not task.done()
                out += capsys.readouterr().out
                await asyncio.sleep(0.02)
            pids = children(os.getpid())
            assert len(pids) == 2
            seen.update(pids)
            os.kill(pids[0], signal.SIGKILL)  # one restart a minute is allowed ...
            while not (fresh := set(children(os.getpid())) - seen):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            seen.update(fresh)
            os.kill(fresh.pop(), signal.SIGKILL)  # ... the second of the same worker is not
            assert await task == 1
    finally:
        if not task.done():
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await gone(list(seen), 20)
    assert children(os.getpid()) == []
    err = capsys.readouterr().err
    assert "restarting worker" in err
    assert "died 2 times within a minute: giving up" in err, err


# -- graceful shutdown -----------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.timeout(60)
@pytest.mark.parametrize("workers", [1, 2])
async def test_sigterm_lets_a_request_in_flight_finish_and_refuses_new_connections(
    tmp_path: Path, workers: int
) -> None:
    async with (
        supervisor(tmp_path, "--latency-ms", "2500", workers=workers) as running,
        httpx.AsyncClient(base_url=running.url, timeout=20) as client,
    ):
        # the connection is open and answered once (no latency on /health), so the slow
        # request below goes to a connection the server already serves
        assert (await client.get("/health")).status_code == 200
        slow = asyncio.create_task(client.get("/version"))
        await asyncio.sleep(0.7)  # (well inside its 2.5 s of latency)
        running.proc.send_signal(signal.SIGTERM)
        with anyio.fail_after(5):
            while True:
                try:
                    await answer(running.url)
                except httpx.ConnectError:
                    break  # refused: the listening socket is closed
                await asyncio.sleep(0.01)
        assert not slow.done()  # refused while the slow one still runs ...
        r = await slow
        assert r.status_code == 200, r.text  # ... which then completes
        assert r.json()["api-emulator"] == "async_qexp"
        assert await asyncio.wait_for(running.proc.wait(), 20) == 0
