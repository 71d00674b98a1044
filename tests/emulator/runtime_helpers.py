"""Helpers of the runtime emulator tests (raw httpx and websockets clients)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import ssl
from typing import Any

import anyio
import httpx
from websockets.asyncio.client import connect

from async_qexp.emulator import Emulator

FINAL = ("COMPLETED", "FAILED", "CANCELLED", "CANCELLED - RAN TOO LONG")

SLEEPER = """
import os
import time


def main(backend, user_messenger, seconds=30, **kwargs):
    user_messenger.publish({"pid": os.getpid()})
    print("sleeping", seconds, flush=True)
    time.sleep(seconds)
    return "woke up"
"""

FAILING = """
def main(backend, user_messenger, **kwargs):
    user_messenger.publish({"before": "failure"})
    print("about to fail")
    return {}["missing-key"]
"""

ECHO = """
import logging


def main(backend, user_messenger, **kwargs):
    logging.getLogger("echo").info("echo inputs %s", sorted(kwargs))
    return {"backend": backend.name(), "same": backend.name == backend.name(), **kwargs}
"""


async def access_token(url: str, api_token: str, verify: ssl.SSLContext | bool = True) -> str:
    """Log in and return the access token (``verify``: what to trust over https)."""
    async with httpx.AsyncClient(base_url=url, verify=verify) as c:
        r = await c.post("/api/users/loginWithToken", json={"apiToken": api_token})
        r.raise_for_status()
        token: str = r.json()["id"]
        return token


async def runtime_client(emu: Emulator, api_token: str = "token-1") -> httpx.AsyncClient:
    """A client whose base URL is the runtime URL, carrying an access token."""
    token = await access_token(emu.url, api_token)
    return httpx.AsyncClient(
        base_url=emu.runtime_url, headers={"X-Access-Token": token}, timeout=10
    )


def b64(source: str) -> str:
    """Base64 of a program's source."""
    return base64.b64encode(source.encode()).decode()


async def upload(
    client: httpx.AsyncClient,
    name: str,
    source: str,
    *,
    cost: int = 60,
    public: bool = False,
    **extra: Any,
) -> str:
    """Upload a program (asserting 201) and return its id."""
    body = {
        "name": name,
        "data": b64(source),
        "cost": cost,
        "description": f"test program {name}",
        "is_public": public,
        **extra,
    }
    r = await client.post("/programs", content=json.dumps(body))
    assert r.status_code == 201, r.text
    program_id: str = r.json()["id"]
    return program_id


async def run_job(
    client: httpx.AsyncClient,
    program_id: str,
    params: dict[str, Any] | None = None,
    backend: str = "emulator_simulator",
    **extra: Any,
) -> str:
    """Start a job (asserting 200) and return its id."""
    body = {
        "program_id": program_id,
        "hub": "ibm-q",
        "group": "open",
        "project": "main",
        "backend": backend,
        "params": params or {},
        "runtime": None,
        **extra,
    }
    r = await client.post("/jobs", content=json.dumps(body))
    assert r.status_code == 200, r.text
    job_id: str = r.json()["id"]
    return job_id


async def job(client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    """``GET /jobs/{id}`` (asserting 200)."""
    r = await client.get(f"/jobs/{job_id}")
    assert r.status_code == 200, r.text
    record: dict[str, Any] = r.json()
    return record


async def wait_status(
    client: httpx.AsyncClient, job_id: str, statuses: tuple[str, ...] = FINAL, timeout: float = 10
) -> dict[str, Any]:
    """Poll the job until its ``status`` is one of ``statuses``."""
    with anyio.fail_after(timeout):
        while True:
            record = await job(client, job_id)
            if record["status"] in statuses:
                return record
            await asyncio.sleep(0.02)


def ws_url(emu: Emulator, job_id: str) -> str:
    """The result-stream websocket URL of a job."""
    return emu.runtime_url.replace("http://", "ws://") + f"/stream/jobs/{job_id}"


async def read_stream(emu: Emulator, job_id: str, token: str) -> tuple[list[str], int | None]:
    """Connect once; every frame (ACK included) and the close code."""
    frames: list[str] = []
    async with connect(ws_url(emu, job_id), additional_headers={"X-Access-Token": token}) as ws:
        async for frame in ws:
            frames.append(frame if isinstance(frame, str) else frame.decode())
        code = ws.close_code
    return frames, code


def alive(pid: int) -> bool:
    """Whether a process exists (and is not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


async def first_interim(client: httpx.AsyncClient, job_id: str, timeout: float = 10) -> Any:
    """Wait for the job's first interim result and return it."""
    with anyio.fail_after(timeout):
        while True:
            r = await client.get(f"/jobs/{job_id}/interim_results")
            items = json.loads(r.text)
            if items:
                return items[0]
            await asyncio.sleep(0.02)
