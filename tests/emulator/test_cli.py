"""The command ``python -m async_qexp.emulator``: start, persist, stop on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from .conftest import exp_body

ROOT = Path(__file__).resolve().parents[2]


@asynccontextmanager
async def run_cli(*args: str, stop: signal.Signals = signal.SIGTERM) -> AsyncIterator[str]:
    """Start the CLI, yield its base URL; on exit send ``stop`` and assert exit code 0."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "async_qexp.emulator", "--host", "127.0.0.1", "--port", "0",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert line.startswith("listening on http://127.0.0.1:"), line
        url = line.split()[-1]
        assert int(url.rsplit(":", 1)[1]) > 0
        yield url
        proc.send_signal(stop)
        code = await asyncio.wait_for(proc.wait(), 20)
        _, err = await proc.communicate()
        assert code == 0, err.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def _token(c: httpx.AsyncClient, api_token: str) -> str:
    r = await c.post("/api/users/loginWithToken", json={"apiToken": api_token})
    assert r.status_code == 200, r.text
    token: str = r.json()["id"]
    return token


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_cli_persists_across_restart(tmp_path: Path) -> None:
    db = str(tmp_path / "qexp.sqlite")
    async with run_cli("--db", db) as url, httpx.AsyncClient(base_url=url) as c:
        token = await _token(c, "api-1")
        h = {"X-Access-Token": token}
        r = await c.post("/resultsdb/experiments", headers=h, json=exp_body("persist-me"))
        assert r.status_code == 201
        up = (await c.get("/resultsdb/experiments/persist-me/plots/upload/f.svg", headers=h)).json()
        assert (await c.put(up["url"], content=b"<svg/>")).status_code == 200
    async with (
        run_cli("--db", db, stop=signal.SIGINT) as url2,
        httpx.AsyncClient(base_url=url2) as c,
    ):
        # the old access token is still valid after the restart, and the data is there
        h = {"X-Access-Token": token}
        r = await c.get("/resultsdb/experiments/persist-me", headers=h)
        assert r.status_code == 200, r.text
        assert r.json()["plot_names"] == ["f.svg"]
        assert await _token(c, "api-1") == token
        me = (await c.get("/api/users/me", headers=h)).json()
        assert me["urls"]["services"]["resultsDB"] == url2 + "/resultsdb"


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_cli_files_and_flags(tmp_path: Path) -> None:
    users = tmp_path / "users.json"
    users.write_text(json.dumps({"users": [{"token": "tok", "id": "ann", "hgps": ["a/b/c"]}]}))
    devices = tmp_path / "devices.json"
    devices.write_text(json.dumps({"devices": [{"name": "dev_x", "components": ["Q0", "R0"]}]}))
    async with run_cli(
        "--users", str(users), "--devices", str(devices), "--latency-ms", "1",
        "--error-rate-503", "0", "--retry-after", "0.05", "--seed", "3",
    ) as url, httpx.AsyncClient(base_url=url) as c:  # fmt: skip
        assert (await c.post("/users/loginWithToken", json={"apiToken": "x"})).status_code == 401
        h = {"X-Access-Token": await _token(c, "tok")}
        assert (await c.get("/resultsdb/devices", headers=h)).json() == {
            "devices": [{"name": "dev_x"}]
        }
        comps = (await c.get("/resultsdb/device_components", headers=h)).json()
        assert [x["type"] for x in comps["device_components"]] == ["Q0", "R0"]


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_cli_error_rate_flag() -> None:
    async with (
        run_cli("--error-rate-429", "1", "--retry-after", "0.05") as url,
        httpx.AsyncClient(base_url=url) as c,
    ):
        h = {"X-Access-Token": await _token(c, "x")}
        r = await c.get("/resultsdb/devices", headers=h)
        assert r.status_code == 429
        assert r.headers["retry-after"] == "0.05"


def test_an_unreachable_postgresql_database_is_a_clear_error_without_the_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("psycopg")
    from async_qexp.emulator.__main__ import main

    url = "postgresql://alice:s3cret@127.0.0.1:1/team?connect_timeout=2"
    assert main(["--port", "0", "--db", url]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach the PostgreSQL database postgresql://alice:***@")
    assert "s3cret" not in err


@pytest.mark.parametrize(
    ("db", "shown"),
    [
        (None, "in memory"),
        ("team.sqlite", "team.sqlite"),
        ("postgresql://u@h:5432/d", "postgresql://u@h:5432/d"),
        ("postgresql://u:p%40ss@h/d", "postgresql://u:***@h/d"),
        (
            "postgres://h/d?sslmode=require&password=x&user=u",
            "postgres://h/d?sslmode=require&password=***&user=u",
        ),
    ],
)
def test_logs_show_a_database_without_its_password(db: str | None, shown: str) -> None:
    from async_qexp.emulator.store import shown_database

    assert shown_database(db) == shown


def test_the_server_process_tunes_its_garbage_collector() -> None:
    """Start-up objects frozen, the youngest generation collected less often; the test's own
    collector settings are put back."""
    import gc

    from async_qexp.emulator.__main__ import YOUNG_GC_THRESHOLD, tune_collector

    before = gc.get_threshold()
    try:
        tune_collector()
        assert gc.get_threshold() == (YOUNG_GC_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
