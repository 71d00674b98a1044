"""Who can reach the emulator: it refuses to listen beyond loopback while anyone could log in or
run code, unless the operator says they accept it (README, "Security"); program upload can be
turned off; durability can be raised (``--synchronous full``)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from pathlib import Path

import pytest

from async_qexp.emulator import EmulatorConfig, UserSpec, serve

from .conftest import assert_error
from .runtime_helpers import ECHO, b64, runtime_client, upload
from .test_cli import ROOT, run_cli

ACCEPT = "--accept-remote-code-risk"
USERS = (UserSpec(token="tok", id="ann"),)


async def _refused(*args: str) -> str:
    """Run the command, which must exit non-zero before listening; its stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "async_qexp.emulator", "--port", "0", *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode != 0, out
    assert b"listening" not in out
    return err.decode()


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_a_public_bind_without_users_or_with_program_upload_is_refused(
    tmp_path: Path,
) -> None:
    users = tmp_path / "users.json"
    users.write_text(json.dumps({"users": [{"token": "t", "id": "u"}]}))
    err = await _refused("--host", "0.0.0.0")
    assert "--users" in err
    assert ACCEPT in err
    assert "run Python" in err
    for args in (
        ("--host", "0.0.0.0", "--users", str(users)),  # program upload is on by default
        ("--host", "::", "--no-runtime"),  # anyone could log in
        ("--host", "", "--users", str(users)),
    ):
        err = await _refused(*args)
        assert ACCEPT in err, args


def test_which_configurations_may_listen_beyond_loopback() -> None:
    for host in ("127.0.0.1", "127.8.0.1", "::1", "localhost"):
        EmulatorConfig(host=host)  # loopback: anything goes
    for host in ("0.0.0.0", "::", "", "10.1.2.3", "192.168.0.1", "example.org", "fe80::1"):
        for kwargs in ({}, {"users": USERS}, {"runtime": False}):
            with pytest.raises(ValueError, match=ACCEPT):
                EmulatorConfig(host=host, **kwargs)  # type: ignore[arg-type]
        # safe: known users who cannot upload code (or no runtime at all)
        EmulatorConfig(host=host, users=USERS, runtime_program_upload=False)
        EmulatorConfig(host=host, users=USERS, runtime=False)
        EmulatorConfig(host=host, accept_remote_risk=True)


@pytest.mark.asyncio
async def test_program_upload_can_be_turned_off() -> None:
    async with serve(runtime_program_upload=False) as emu:
        client = await runtime_client(emu)
        async with client:
            body = {"name": "mine", "data": b64(ECHO), "cost": 5}
            assert_error(await client.post("/programs", content=json.dumps(body)), 403)
            assert_error(await client.put("/programs/hello-world/data", content=b64(ECHO)), 403)
            # the built-in programs still run
            r = await client.post(
                "/jobs",
                content=json.dumps({"program_id": "hello-world", "backend": "emulator_simulator"}),
            )
            assert r.status_code == 200, r.text


@pytest.mark.sqlite_only
@pytest.mark.asyncio
async def test_synchronous_full_for_a_record_store(tmp_path: Path) -> None:
    for level, value in (("normal", 1), ("full", 2)):
        seen: list[int] = []
        db = str(tmp_path / f"{level}.sqlite")
        async with serve(db=db, synchronous=level) as emu:
            seen.append(await emu.state.store.execute(_pragma))
            client = await runtime_client(emu)
            async with client:
                await upload(client, "kept", ECHO)
        assert seen == [value]
    with pytest.raises(ValueError, match="synchronous"):
        EmulatorConfig(synchronous="off")
    async with run_cli("--db", str(tmp_path / "cli.sqlite"), "--synchronous", "full") as url:
        assert url.startswith("http://127.0.0.1:")


def _pragma(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA synchronous").fetchone()[0])
