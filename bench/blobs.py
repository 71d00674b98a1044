"""Scenario ``blobs``: figures and files in the database (the baseline) or in a directory
(``--blobs DIR``), through HTTP, in the same run.

The emulator runs in its own process on a database file in the temporary directory (which
should be a disk, not tmpfs: a blob directory fsyncs every file, and that is part of what is
measured), on SQLite and, when
``QEXP_BENCH_PG`` names a PostgreSQL server, on PostgreSQL too (a fresh schema each run). The
client (this process, httpx) uploads each workload through signed upload URLs with a few
requests in flight, downloads everything back (checking the bytes), then deletes the
experiment. Each storage runs ``repeats`` times, alternating, on a fresh database; each row is
the median.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import statistics
import tempfile
import time
from typing import Any
from urllib.parse import quote

import httpx

from ._common import (
    QUICK_NOTE,
    TOKEN,
    EmulatorProcess,
    drop_pg_schemas,
    fmt,
    log,
    pg_schema,
    table,
    write_results,
)

FULL = {"repeats": 3, "workloads": {"figures": (200, 64 << 10), "files": (16, 8 << 20)}}
QUICK = {"repeats": 1, "workloads": {"figures": (40, 64 << 10), "files": (4, 8 << 20)}}
IN_FLIGHT = 8


async def _client(url: str) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=url) as c:
        r = await c.post("/api/users/loginWithToken", json={"apiToken": TOKEN})
        r.raise_for_status()
        token = r.json()["id"]
    return httpx.AsyncClient(
        base_url=url + "/resultsdb", headers={"X-Access-Token": token}, timeout=120
    )


async def _workload(url: str, kind: str, count: int, size: int, cpu: Any) -> dict[str, Any]:
    """Upload ``count`` blobs of ``size`` bytes, read them back, delete them; the timings."""
    blobs = [secrets.token_bytes(size) for _ in range(count)]
    exp = f"bench-{kind}-{secrets.token_hex(4)}"
    route = "plots" if kind == "figures" else "files"
    limit = asyncio.Semaphore(IN_FLIGHT)
    async with await _client(url) as c:
        body = {
            "uuid": exp,
            "type": "Bench",
            "device_name": "ibmq_lima",
            "hub_id": "ibm-q",
            "group_id": "open",
            "project_id": "main",
        }
        (await c.post("/experiments", json=body)).raise_for_status()

        async def put(i: int) -> None:
            async with limit:
                r = await c.get(f"/experiments/{exp}/{route}/upload/b{i}.bin")
                r.raise_for_status()
                (await c.put(r.json()["url"], content=blobs[i])).raise_for_status()

        async def get(i: int) -> None:
            async with limit:
                r = await c.get(f"/experiments/{exp}/{route}/{quote(f'b{i}.bin')}")
                r.raise_for_status()
                if r.content != blobs[i]:
                    raise RuntimeError(f"blob {i} came back different")

        cpu0, t0 = cpu(), time.perf_counter()
        await asyncio.gather(*(put(i) for i in range(count)))
        cpu1, t1 = cpu(), time.perf_counter()
        await asyncio.gather(*(get(i) for i in range(count)))
        cpu2, t2 = cpu(), time.perf_counter()
        (await c.delete(f"/experiments/{exp}")).raise_for_status()
        t3 = time.perf_counter()
    mb = count * size / 2**20
    return {
        "count": count,
        "size": size,
        "upload_s": t1 - t0,
        "upload_mb_s": mb / (t1 - t0),
        "upload_srv_cpu_ms_each": (cpu1 - cpu0) * 1000 / count,
        "download_s": t2 - t1,
        "download_mb_s": mb / (t2 - t1),
        "download_srv_cpu_ms_each": (cpu2 - cpu1) * 1000 / count,
        "delete_ms": (t3 - t2) * 1000,
    }


def _one(backend: str, storage: str, workloads: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """One run of every workload on a fresh database (and directory)."""
    with tempfile.TemporaryDirectory(prefix="qexp-bench-blobs-") as tmp:
        schema = None
        if backend == "postgresql":
            schema, db = pg_schema(os.environ["QEXP_BENCH_PG"])
        else:
            db = os.path.join(tmp, "emulator.sqlite")
        extra = ["--no-runtime"]
        if storage == "directory":
            os.mkdir(os.path.join(tmp, "blobs"))
            extra += ["--blobs", os.path.join(tmp, "blobs")]
        try:
            with EmulatorProcess(db=db, uvloop=True, extra_args=extra) as emu:
                out = {
                    name: asyncio.run(_workload(emu.url, name, n, size, emu.cpu_seconds))
                    for name, (n, size) in workloads.items()
                }
                out["server_rss_mb"] = emu.rss_mb()
        finally:
            if schema is not None:
                drop_pg_schemas(os.environ["QEXP_BENCH_PG"], [schema])
    return out


def run(quick: bool = False) -> dict[str, Any]:
    """Run the scenario; print the table; write ``bench/results/blobs.json``."""
    cfg = QUICK if quick else FULL
    backends = ["sqlite"] + (["postgresql"] if os.environ.get("QEXP_BENCH_PG") else [])
    if shutil.disk_usage(tempfile.gettempdir()).free < 2 << 30:
        raise RuntimeError("the blobs scenario needs 2 GB free in the temporary directory")
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for rnd in range(cfg["repeats"]):
        for backend in backends:
            for storage in ("database", "directory"):
                log(f"blobs: round {rnd + 1}, {backend}, bytes in the {storage}")
                runs.setdefault((backend, storage), []).append(
                    _one(backend, storage, cfg["workloads"])
                )
    results = []
    for (backend, storage), outs in runs.items():
        for name in cfg["workloads"]:
            rows = [o[name] for o in outs]
            row: dict[str, Any] = {"backend": backend, "storage": storage, "workload": name}
            for key in rows[0]:
                row[key] = statistics.median(r[key] for r in rows)
            row["upload_mb_s_all"] = [round(r["upload_mb_s"], 1) for r in rows]
            results.append(row)
    text = render(results)
    if quick:
        text += QUICK_NOTE
    print(text, flush=True)
    path = write_results(
        "blobs",
        {
            "quick": quick,
            "config": {**cfg, "in_flight": IN_FLIGHT, "backends": backends},
            "results": results,
            "tables": text,
        },
    )
    log(f"wrote {path}")
    return {"results": results}


def render(results: list[dict[str, Any]]) -> str:
    """The table: each directory row beside its database baseline."""
    headers = [
        "backend",
        "bytes in",
        "workload",
        "up MB/s",
        "up srv CPU ms each",
        "down MB/s",
        "down srv CPU ms each",
        "delete ms",
        "up MB/s vs database",
    ]
    base = {
        (r["backend"], r["workload"]): r["upload_mb_s"]
        for r in results
        if r["storage"] == "database"
    }
    rows = [
        [
            r["backend"],
            r["storage"],
            f"{r['workload']} {r['count']} x {r['size'] >> 10} KiB",
            fmt(r["upload_mb_s"], ".1f"),
            fmt(r["upload_srv_cpu_ms_each"], ".2f"),
            fmt(r["download_mb_s"], ".1f"),
            fmt(r["download_srv_cpu_ms_each"], ".2f"),
            fmt(r["delete_ms"], ".1f"),
            fmt(r["upload_mb_s"] / base[(r["backend"], r["workload"])], ".2f") + "x",
        ]
        for r in results
    ]
    return table(
        f"Figures and files through HTTP, {IN_FLIGHT} requests in flight (median of runs)",
        headers,
        rows,
    )
