"""Scenario 6 (auth): what it costs that the database decides who is logged in.

Without a users file, an emulator asks its database on every request that carries an access
token whether the user is still allowed (so that a revocation is seen at once by every process
on that database). This scenario prices that query: the same emulator, on a SQLite file on
tmpfs (and, with ``QEXP_BENCH_PG`` set to a server's URL, on PostgreSQL), serves the same
cheap request (``GET /resultsdb/experiments/{uuid}``) in three setups, in the same run:

* ``users file``: ``--users FILE``, the file decides, no query (the baseline);
* ``open``: no users anywhere, any token logs in (one query: are there users?);
* ``db users``: the user is kept in the database (one query: the user and memberships).

The three servers run side by side and the rounds interleave them, so drift in the shared
machine's speed hits them alike; each row is the median of its rounds. The client is this
process (httpx, ``CONCURRENCY`` requests in flight); the figure that matters is the server's
CPU per request, measured from outside (``psutil``), and the requests per second it allows.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import tempfile
import time
from typing import Any

import httpx

from ._common import (
    QUICK_NOTE,
    TOKEN,
    EmulatorProcess,
    calibrate,
    drop_pg_schemas,
    fmt,
    log,
    median,
    pg_schema,
    table,
    write_results,
)

FULL = {"requests": 4000, "repeats": 5}
QUICK = {"requests": 500, "repeats": 1}
CONCURRENCY = 16
SETUPS = ("users file", "open", "db users")


async def _add_user(db: str) -> str:
    from async_qexp.emulator.store import open_store

    store = await open_store(db)
    try:
        return await store.add_user("bench", [("ibm-q", "open", "main")], "2026-01-01T00:00:00Z")
    finally:
        await store.aclose()


async def _prepare(url: str, token: str) -> tuple[dict[str, str], str]:
    async with httpx.AsyncClient(base_url=url) as c:
        r = await c.post("/api/users/loginWithToken", json={"apiToken": token})
        r.raise_for_status()
        headers = {"X-Access-Token": r.json()["id"]}
        exp = "bench-" + secrets.token_hex(4)
        body = {"uuid": exp, "type": "Bench", "device_name": "ibmq_lima"}
        r = await c.post("/resultsdb/experiments", headers=headers, json=body)
        r.raise_for_status()
    return headers, f"/resultsdb/experiments/{exp}"


async def _hammer(url: str, headers: dict[str, str], path: str, n: int) -> float:
    """Send ``n`` GETs of ``path``, ``CONCURRENCY`` at once; the wall time in seconds."""
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits) as c:
        left = n

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                r = await c.get(path)
                if r.status_code != 200:
                    raise RuntimeError(f"{r.status_code}: {r.text}")

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return time.perf_counter() - t0


def _servers(backend: str, tmp: str, pg: str, schemas: list[str]) -> dict[str, Any]:
    """Start the three setups' emulators; ``{setup: (emulator, api token)}``."""
    users_file = os.path.join(tmp, "users.json")
    with open(users_file, "w", encoding="utf-8") as fh:
        json.dump({"users": [{"token": TOKEN, "id": "bench"}]}, fh)
    started: dict[str, Any] = {}
    for setup in SETUPS:
        if backend == "sqlite":
            db = os.path.join(tmp, f"{setup.replace(' ', '-')}.sqlite")
        else:
            schema, db = pg_schema(pg)
            schemas.append(schema)
        token = TOKEN
        extra = ["--no-runtime"]
        if setup == "users file":
            extra += ["--users", users_file]
        elif setup == "db users":
            token = asyncio.run(_add_user(db))
        started[setup] = (EmulatorProcess(db=db, extra_args=extra), token)
    return started


def _measure(backend: str, cfg: dict[str, Any], pg: str) -> list[dict[str, Any]]:
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    schemas: list[str] = []
    runs: dict[str, list[dict[str, float]]] = {s: [] for s in SETUPS}
    with tempfile.TemporaryDirectory(prefix="qexp-bench-auth-", dir=base) as tmp:
        servers = _servers(backend, tmp, pg, schemas)
        try:
            targets = {
                s: asyncio.run(_prepare(emu.url, token)) for s, (emu, token) in servers.items()
            }
            for setup, (emu, _) in servers.items():  # warm-up, untimed
                asyncio.run(_hammer(emu.url, *targets[setup], cfg["requests"] // 10))
            for rnd in range(cfg["repeats"]):
                for setup, (emu, _) in servers.items():
                    calib = calibrate()
                    cpu0 = emu.cpu_seconds()
                    wall = asyncio.run(_hammer(emu.url, *targets[setup], cfg["requests"]))
                    cpu = emu.cpu_seconds() - cpu0
                    runs[setup].append({"wall_s": wall, "server_cpu_s": cpu, "calib_ms": calib})
                    log(
                        f"  {backend} round {rnd + 1} {setup}: {cfg['requests'] / wall:.0f} req/s,"
                        f" server {cpu / cfg['requests'] * 1000:.3f} ms/req, calib {calib:.1f} ms"
                    )
        finally:
            for emu, _ in servers.values():
                emu.stop()
            if schemas:
                drop_pg_schemas(pg, schemas)
    rows = []
    for setup in SETUPS:
        walls = [r["wall_s"] for r in runs[setup]]
        cpus = [r["server_cpu_s"] for r in runs[setup]]
        rows.append(
            {
                "backend": backend,
                "setup": setup,
                "requests": cfg["requests"],
                "req_per_s": cfg["requests"] / median(walls),
                "server_ms_per_req": median(cpus) / cfg["requests"] * 1000,
                "runs": runs[setup],
            }
        )
    return rows


def render(results: list[dict[str, Any]]) -> str:
    """The table: per backend, each setup beside the users-file baseline."""
    rows = []
    for r in results:
        base = next(
            b for b in results if b["backend"] == r["backend"] and b["setup"] == "users file"
        )
        extra = r["server_ms_per_req"] - base["server_ms_per_req"]
        rows.append(
            [
                f"{r['backend']}: {r['setup']}",
                fmt(r["req_per_s"], ".0f"),
                fmt(r["req_per_s"] / base["req_per_s"], ".2f"),
                fmt(r["server_ms_per_req"], ".3f"),
                fmt(extra, "+.3f"),
            ]
        )
    return table(
        f"Auth: GET /resultsdb/experiments/{{uuid}}, {CONCURRENCY} in flight "
        "(medians; baseline: the users file, no query)",
        ["setup", "req/s", "vs file", "srv ms/req", "vs file"],
        rows,
    )


def run(quick: bool = False) -> dict[str, Any]:
    """Run the scenario; print the table; write ``bench/results/auth.json``."""
    cfg = QUICK if quick else FULL
    pg = os.environ.get("QEXP_BENCH_PG", "")
    results: list[dict[str, Any]] = []
    for backend in ("sqlite", *(["postgresql"] if pg else [])):
        log(f"auth: {backend}, {cfg['requests']} requests x {cfg['repeats']} rounds per setup")
        results += _measure(backend, cfg, pg)
    text = render(results)
    if quick:
        text += QUICK_NOTE
    if not pg:
        text += "\n(PostgreSQL rows need QEXP_BENCH_PG=postgresql://...)"
    print(text, flush=True)
    path = write_results(
        "auth",
        {"quick": quick, "config": {**cfg, "concurrency": CONCURRENCY}, "results": results},
    )
    log(f"wrote {path}")
    return {"results": results}
