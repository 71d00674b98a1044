"""``python -m async_qexp.emulator`` serves the runtime; SIGTERM leaves no worker behind."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import httpx
import pytest

from .runtime_helpers import SLEEPER, alive, b64
from .test_cli import run_cli


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_cli_runtime_and_sigterm_kills_workers(tmp_path: Path) -> None:
    programs = tmp_path / "programs"
    programs.mkdir()
    (programs / "napper.py").write_text(
        '"""Naps."""\n__program__ = {"name": "napper", "max_execution_time": 120}\n' + SLEEPER
    )
    async with run_cli(
        "--runtime-backends", "sim_a,sim_b", "--runtime-concurrency", "1",
        "--program-dir", str(programs), stop=signal.SIGTERM,
    ) as url, httpx.AsyncClient(base_url=url) as c:  # fmt: skip
        r = await c.post("/api/users/loginWithToken", json={"apiToken": "cli-user"})
        c.headers["X-Access-Token"] = r.json()["id"]
        listed = (await c.get("/runtime/programs")).json()
        assert "napper" in {p["id"] for p in listed["programs"]}
        assert (await c.get("/runtime/programs/napper")).json()["description"] == "Naps."
        body = {"program_id": "napper", "backend": "sim_a", "params": {"seconds": 60}}
        job_id = (await c.post("/runtime/jobs", content=json.dumps(body))).json()["id"]
        body2 = {**body, "backend": "emulator_simulator"}
        # a backend the CLI does not serve is a bad request (a 404 would mean the program)
        assert (await c.post("/runtime/jobs", content=json.dumps(body2))).status_code == 400
        upload = {"name": "mine", "data": b64(SLEEPER), "cost": 5, "description": "d"}
        assert (await c.post("/runtime/programs", content=json.dumps(upload))).status_code == 201
        worker = None
        for _ in range(500):
            interim = (await c.get(f"/runtime/jobs/{job_id}/interim_results")).json()
            if interim:
                worker = interim[0]["pid"]
                break
            await asyncio.sleep(0.02)
        assert worker is not None
        assert alive(worker)
    # the CLI exited 0 on SIGTERM (checked by run_cli); its worker is gone
    for _ in range(200):
        if not alive(worker):
            break
        await asyncio.sleep(0.01)
    assert not alive(worker)
