"""Scenario 7 (shared service): the same bulk save and paging against the emulator on SQLite,
on PostgreSQL with one worker process, and on PostgreSQL with two.

Everything runs in one go, on one machine: a throwaway PostgreSQL cluster
(``tools/pg_cluster.py``'s :class:`Cluster`, in a temporary directory on tmpfs when there is
one), and per emulator latency one emulator process per configuration, each
``python -m async_qexp.emulator --port 0 --db ... [--workers N]`` on a fresh database (a new
SQLite file on tmpfs, or a new database in the cluster) seeded with the paging experiments.
The emulators of one latency run side by side and the rounds interleave them (the machine's
drift hits every configuration alike); each measurement is a fresh client process.

Around each measurement this process reads the CPU time of the client (its timed phase, from
the client itself), of the emulator (the supervisor and every worker, from outside), of the
PostgreSQL cluster (the postmaster and every backend and helper process, from outside) and of
the whole machine; from the cluster's ``pg_stat_statements`` (when the server has it), the
statements each configuration's database ran, and from ``pg_stat_activity`` its connections.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import psutil

from . import paging
from ._common import (
    BENCH_DIR,
    LATENCY_MS,
    EmulatorProcess,
    calibrate,
    fmt,
    log,
    median,
    run_client,
    table,
    write_results,
)

FULL = {
    "results": 5000,
    "figures": 200,
    "paging_n": 20000,
    "page_size": 100,
    "repeats": 3,
    # The bulk save runs at 0 ms (the server's own cost shows) and at the bulk_save
    # scenario's 20 ms; paging at 0 ms only, as in the paging scenario (at 20 ms one page at
    # a time is 200 x 20 ms of waiting, which says nothing of the server).
    "latencies": {0.0: ("paging", "bulk"), LATENCY_MS: ("bulk",)},
    "warm": True,
}
QUICK = {
    "results": 300,
    "figures": 10,
    "paging_n": 1000,
    "page_size": 100,
    "repeats": 1,
    "latencies": {0.0: ("paging", "bulk")},
    "warm": False,
}
CONFIGS: list[tuple[str, str, int]] = [
    ("sqlite", "SQLite file, 1 process", 1),
    ("pg-1", "PostgreSQL, --workers 1", 1),
    ("pg-2", "PostgreSQL, --workers 2", 2),
]
"""``(key, label, workers)``; ``sqlite`` is today's default shape."""

QUICK_NOTE_SHARED = (
    "\n(--quick: small counts and one round; a smoke test of the plumbing, its figures are "
    "dominated by start-up and say little. The full run gives the figures.)\n"
)
PAGING_TYPE = "SharedPaging"
CLUSTER_SETTINGS = {"autovacuum": "off"}
"""Added to the cluster's settings. The configurations share the cluster and its CPU is
counted for the whole cluster, so autovacuum waking up on one configuration's saved results
would land in another's measurement: it is off, and each save is followed, untimed, by a
``VACUUM (ANALYZE)`` of its database, whose PostgreSQL CPU is reported in a column of its
own."""
WORKLOADS = {"bulk": "bulk save", "paging": "paging"}


# -- the PostgreSQL cluster ------------------------------------------------------------------


def _pg_cluster_module() -> ModuleType:
    """``tools/pg_cluster.py`` (a script, not a package), loaded by path."""
    path = BENCH_DIR.parent / "tools" / "pg_cluster.py"
    spec = importlib.util.spec_from_file_location("qexp_pg_cluster", path)
    if spec is None or spec.loader is None:  # pragma: no cover - the file is in the repository
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("qexp_pg_cluster", module)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def _cluster() -> Iterator[tuple[Any, bool]]:
    """A started throwaway cluster and whether it has ``pg_stat_statements`` (loaded when the
    server's package has it; else the cluster starts without and statements are not counted).
    """
    pgc = _pg_cluster_module()
    root = "/dev/shm" if os.path.isdir("/dev/shm") else None
    try:
        cluster = pgc.Cluster(
            tmp_root=root,
            settings={**CLUSTER_SETTINGS, "shared_preload_libraries": "pg_stat_statements"},
        )
        cluster.start()
        statements = True
    except pgc.ClusterError:
        log("shared: the PostgreSQL server has no pg_stat_statements; statements not counted")
        cluster = pgc.Cluster(tmp_root=root, settings=CLUSTER_SETTINGS)
        cluster.start()
        statements = False
    try:
        yield cluster, statements
    finally:
        cluster.stop()


class _Admin:
    """A connection to the cluster's ``postgres`` database: databases and statistics."""

    def __init__(self, url: str, statements: bool) -> None:
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True)
        self.statements = statements
        if statements:
            self.conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

    def create_db(self, name: str) -> None:
        self.conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        self.conn.execute(f'CREATE DATABASE "{name}"')

    def drop_db(self, name: str) -> None:
        self.conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def vacuum(self, url: str) -> None:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE)")

    def setting(self, name: str) -> str:
        row = self.conn.execute("SELECT current_setting(%s)", (name,)).fetchone()
        return str(row[0]) if row else ""

    def counts(self, db: str) -> dict[str, float | None]:
        """Statements run in ``db`` so far (``pg_stat_statements``; ``None`` without it), and
        its connections now."""
        conns = self.conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (db,)
        ).fetchone()
        out: dict[str, float | None] = {
            "connections": float(conns[0]) if conns else None,
            "statements": None,
        }
        if self.statements:
            row = self.conn.execute(
                "SELECT coalesce(sum(s.calls), 0) FROM pg_stat_statements s "
                "JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = %s",
                (db,),
            ).fetchone()
            if row:
                out["statements"] = float(row[0])
        return out

    def close(self) -> None:
        self.conn.close()


# -- CPU of process trees ---------------------------------------------------------------------


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and all its descendants so far, the exited ones
    included (a process's reaped children count in its ``children_*`` times)."""
    total = 0.0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return total
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            t = proc.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
    return total


def tree_size(pid: int) -> int:
    """How many processes the tree of ``pid`` holds now."""
    try:
        return 1 + len(psutil.Process(pid).children(recursive=True))
    except psutil.NoSuchProcess:
        return 0


# -- one configuration ------------------------------------------------------------------------


class Target:
    """One emulator configuration on a fresh, seeded database."""

    def __init__(
        self,
        key: str,
        label: str,
        workers: int,
        latency_ms: float,
        cfg: dict[str, Any],
        stack: contextlib.ExitStack,
        cluster: Any,
        admin: _Admin,
    ) -> None:
        self.key, self.label, self.workers, self.latency_ms = key, label, workers, latency_ms
        self.admin = admin
        self.dbname: str | None = None
        self.db: str
        if key == "sqlite":
            base = "/dev/shm" if os.path.isdir("/dev/shm") else None
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="qexp-bench-", dir=base))
            db = os.path.join(tmp, "emulator.sqlite")
        else:
            self.dbname = f"bench_shared_{key.replace('-', '_')}_{int(latency_ms)}ms"
            admin.create_db(self.dbname)
            stack.callback(admin.drop_db, self.dbname)
            db = f"postgresql://postgres@127.0.0.1:{cluster.port}/{self.dbname}"
        self.db = db
        t0 = time.monotonic()
        paging.seed(db, {PAGING_TYPE: cfg["paging_n"]})
        if self.dbname is not None:
            # The seeded rows' statistics now, not by autovacuum during some measurement.
            admin.vacuum(db)
        self.seed_s = time.monotonic() - t0
        extra = ["--workers", str(workers)] if workers > 1 or key != "sqlite" else []
        # The CLI itself, on asyncio's own loop in every configuration (the workers of
        # --workers are started as `python -m async_qexp.emulator`, so uvloop could reach
        # only the supervisor).
        self.emu = stack.enter_context(
            EmulatorProcess(latency_ms=latency_ms, db=db, uvloop=False, extra_args=extra)
        )
        self.processes = tree_size(self.emu.proc.pid)

    def counts(self) -> dict[str, float | None]:
        """The database's statement and transaction counts and connections (PostgreSQL)."""
        if self.dbname is None:
            return {"connections": None, "statements": None}
        return self.admin.counts(self.dbname)


def _measure(target: Target, workload: str, cfg: dict[str, Any], pg_pid: int) -> dict[str, Any]:
    url = target.emu.url
    if workload == "bulk":
        args = [
            "bulk",
            "save-auto",
            "--url",
            url,
            "--results",
            str(cfg["results"]),
            "--figures",
            str(cfg["figures"]),
        ]
    else:
        n = cfg["paging_n"]
        args = [
            "paging",
            "iter",
            "--url",
            url,
            "--type",
            PAGING_TYPE,
            "--expect",
            str(n),
            "--page-size",
            str(cfg["page_size"]),
        ]
    calib = calibrate()
    before = target.counts()
    sys0 = psutil.cpu_times()
    emu0 = tree_cpu_seconds(target.emu.proc.pid)
    pg0 = tree_cpu_seconds(pg_pid)
    t0 = time.monotonic()
    out = run_client(args, timeout=600)
    window = time.monotonic() - t0
    emu = tree_cpu_seconds(target.emu.proc.pid) - emu0
    pg = tree_cpu_seconds(pg_pid) - pg0
    sys1 = psutil.cpu_times()
    after = target.counts()
    busy = (sys1.user + sys1.system) - (sys0.user + sys0.system)
    out.update(
        config=target.key,
        workload=workload,
        latency_ms=target.latency_ms,
        calibration_ms=calib,
        window_s=window,
        emulator_cpu_s=emu,
        pg_cpu_s=pg if target.dbname is not None else None,
        pg_connections=after["connections"],
    )
    if "wall_s" not in out:
        return out
    if workload == "paging":
        out["requests"] = out["pages"]
        out["req_per_s"] = out["pages"] / out["wall_s"]
        out["failures"] = int(out["count"] != out["expect"])
    req = out["requests"]
    out["client_cpu_ms_per_req"] = 1000 * out["cpu_s"] / req
    out["emulator_cpu_ms_per_req"] = 1000 * emu / req
    out["emulator_cores"] = emu / out["wall_s"]
    if target.dbname is not None:
        out["pg_cpu_ms_per_req"] = 1000 * pg / req
        out["pg_cores"] = pg / out["wall_s"]
        a, b = before["statements"], after["statements"]
        # Each statement is one round trip to the server (autocommit; an explicit
        # transaction's BEGIN and COMMIT count as statements too). The statistics queries
        # themselves run in the admin's database, not in this one.
        out["statements_per_req"] = (b - a) / req if a is not None and b is not None else None
    # Machine CPU used by none of the three over the client process's life: > 0.2 cores
    # means something else was busy (the machine is shared).
    other = busy - emu - (pg if target.dbname is not None else 0.0) - out["cpu_total_s"]
    out["other_cores"] = max(0.0, other) / window
    if target.dbname is not None and workload == "bulk":
        # Untimed upkeep of what the save wrote (autovacuum is off, see CLUSTER_SETTINGS).
        pg0 = tree_cpu_seconds(pg_pid)
        t0 = time.monotonic()
        target.admin.vacuum(target.db)
        out["vacuum_s"] = time.monotonic() - t0
        out["vacuum_pg_cpu_ms_per_req"] = 1000 * (tree_cpu_seconds(pg_pid) - pg0) / req
    return out


def _brief(out: dict[str, Any]) -> str:
    if "wall_s" not in out:
        return f"ERROR {str(out.get('error', ''))[:300]}"
    pg = out.get("pg_cpu_ms_per_req")
    return (
        f"{out['wall_s']:.2f} s  {out['req_per_s']:.0f} req/s  client "
        f"{out['client_cpu_ms_per_req']:.3f}  emulator {out['emulator_cpu_ms_per_req']:.3f}  "
        f"pg {fmt(pg, '.3f')} ms/req  other {out['other_cores']:.2f} cores  "
        f"fail {out.get('failures', 0)}"
    )


# -- the scenario -----------------------------------------------------------------------------


def run(quick: bool = False) -> dict[str, Any]:
    """Run the scenario; print the table; write ``bench/results/shared.json``."""
    cfg = QUICK if quick else FULL
    n_bulk = 1 + cfg["results"] + 2 * cfg["figures"]
    log(
        f"shared: bulk save of {n_bulk} requests, paging of {cfg['paging_n']} experiments "
        f"(page {cfg['page_size']}); {len(CONFIGS)} configurations x {cfg['repeats']} rounds"
    )
    runs: list[dict[str, Any]] = []
    setup: dict[str, Any] = {}
    with _cluster() as (cluster, statements):
        setup["pg_initdb_s"] = cluster.timings.get("initdb")
        setup["pg_start_s"] = cluster.timings.get("start")
        admin = _Admin(cluster.url, statements)
        try:
            setup["pg_version"] = admin.setting("server_version")
            setup["pg_max_connections"] = int(admin.setting("max_connections"))
            setup["pg_stat_statements"] = statements
            pg_pid = cluster.pid
            for latency, workloads in cfg["latencies"].items():
                with contextlib.ExitStack() as stack:
                    targets = []
                    for key, label, workers in CONFIGS:
                        target = Target(key, label, workers, latency, cfg, stack, cluster, admin)
                        targets.append(target)
                        log(
                            f"  {latency:g} ms: {label}: seeded {cfg['paging_n']} (analysed)"
                            f" in {target.seed_s:.1f} s, {target.processes} process(es)"
                        )
                        setup[f"{key}@{latency:g}ms"] = {
                            "seed_s": target.seed_s,
                            "emulator_processes": target.processes,
                        }
                    setup[f"idle@{latency:g}ms"] = _idle(targets, pg_pid)
                    log(f"  idle: {setup[f'idle@{latency:g}ms']}")
                    if "paging" in workloads and cfg["warm"]:
                        # Warm each database's cache once, untimed (as the paging scenario).
                        for target in targets:
                            _measure(target, "paging", cfg, pg_pid)
                    for rnd in range(cfg["repeats"]):
                        # Rotate the order each round, so no configuration always goes first.
                        order = targets[rnd % len(targets) :] + targets[: rnd % len(targets)]
                        for target in order:
                            for workload in workloads:
                                out = _measure(target, workload, cfg, pg_pid)
                                out["round"] = rnd + 1
                                runs.append(out)
                                log(
                                    f"  {latency:g} ms round {rnd + 1} {target.key:6s} "
                                    f"{workload:6s} {_brief(out)}"
                                )
        finally:
            admin.close()
    rows = summarise(runs)
    text = render(rows, cfg, setup)
    if quick:
        text += QUICK_NOTE_SHARED
    print(text, flush=True)
    path = write_results(
        "shared",
        {
            "quick": quick,
            "config": {
                **{k: v for k, v in cfg.items() if k != "latencies"},
                "latencies": {f"{k:g}": list(v) for k, v in cfg["latencies"].items()},
                "bulk_requests": n_bulk,
                "configurations": [list(c) for c in CONFIGS],
            },
            "emulator": "own process (python -m async_qexp.emulator), asyncio loop; SQLite file "
            "on tmpfs, or a fresh database in a throwaway PostgreSQL cluster on tmpfs",
            "setup": setup,
            "summary": rows,
            "all_runs": runs,
            "tables": text,
        },
    )
    log(f"wrote {path}")
    return {"summary": rows}


def _idle(targets: list[Target], pg_pid: int, seconds: float = 2.0) -> dict[str, float]:
    """CPU cores the emulators and the cluster use with no client at all (background work
    such as the runtime's polling): what every measurement carries on top of its own work."""
    emu0 = {t.key: tree_cpu_seconds(t.emu.proc.pid) for t in targets}
    pg0 = tree_cpu_seconds(pg_pid)
    time.sleep(seconds)
    out = {
        f"{t.key}_cores": (tree_cpu_seconds(t.emu.proc.pid) - emu0[t.key]) / seconds
        for t in targets
    }
    out["pg_cores"] = (tree_cpu_seconds(pg_pid) - pg0) / seconds
    return {k: round(v, 4) for k, v in out.items()}


SUMMED = [
    "wall_s",
    "req_per_s",
    "cpu_s",
    "client_cpu_ms_per_req",
    "emulator_cpu_s",
    "emulator_cpu_ms_per_req",
    "emulator_cores",
    "pg_cpu_s",
    "pg_cpu_ms_per_req",
    "pg_cores",
    "statements_per_req",
    "vacuum_pg_cpu_ms_per_req",
    "pg_connections",
    "other_cores",
    "calibration_ms",
    "lag_p99_ms",
    "final_limit",
]


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (latency, workload, configuration): the median of every measure over the
    rounds, and the min and max of wall time and throughput."""
    keys = list(dict.fromkeys((r["latency_ms"], r["workload"], r["config"]) for r in runs))
    rows = []
    for latency, workload, config in keys:
        group = [
            r
            for r in runs
            if (r["latency_ms"], r["workload"], r["config"]) == (latency, workload, config)
        ]
        ok = [r for r in group if "wall_s" in r]
        row: dict[str, Any] = {
            "latency_ms": latency,
            "workload": workload,
            "config": config,
            "runs": len(ok),
            "errors": len(group) - len(ok),
            "requests": ok[0]["requests"] if ok else None,
            "failures": sum(int(r.get("failures", 0)) for r in ok),
        }
        for name in SUMMED:
            values = [float(r[name]) for r in ok if r.get(name) is not None]
            row[name] = median(values) if values else None
        for name in ("wall_s", "req_per_s"):
            values = [float(r[name]) for r in ok]
            row[f"{name}_min"] = min(values) if values else None
            row[f"{name}_max"] = max(values) if values else None
        rows.append(row)
    for row in rows:
        base = next(
            (
                b
                for b in rows
                if (b["latency_ms"], b["workload"], b["config"])
                == (row["latency_ms"], row["workload"], "sqlite")
            ),
            None,
        )
        rate, ref = row.get("req_per_s"), base.get("req_per_s") if base else None
        row["x_sqlite"] = rate / ref if rate and ref else None
    return rows


def render(rows: list[dict[str, Any]], cfg: dict[str, Any], setup: dict[str, Any]) -> str:
    """The table."""
    labels = {key: label for key, label, _ in CONFIGS}
    headers = [
        "workload, emulator",
        "lat ms",
        "req",
        "wall s",
        "wall min-max",
        "req/s",
        "req/s min-max",
        "x sqlite",
        "client CPU s",
        "client ms/req",
        "emu CPU s",
        "emu ms/req",
        "emu cores",
        "pg CPU s",
        "pg ms/req",
        "pg cores",
        "stmt/req",
        "vacuum ms/req",
        "pg conns",
        "other cores",
        "fail",
    ]
    out_rows = []
    for r in rows:
        label = f"{WORKLOADS[r['workload']]}, {labels[r['config']]}"
        if not r["runs"]:
            out_rows.append(
                [label, fmt(r["latency_ms"], "g"), "error", *["-"] * (len(headers) - 3)]
            )
            continue
        out_rows.append(
            [
                label,
                fmt(r["latency_ms"], "g"),
                fmt(r["requests"]),
                fmt(r["wall_s"], ".2f"),
                f"{r['wall_s_min']:.2f}-{r['wall_s_max']:.2f}",
                fmt(r["req_per_s"], ".0f"),
                f"{r['req_per_s_min']:.0f}-{r['req_per_s_max']:.0f}",
                fmt(r["x_sqlite"], ".2f"),
                fmt(r["cpu_s"], ".2f"),
                fmt(r["client_cpu_ms_per_req"], ".3f"),
                fmt(r["emulator_cpu_s"], ".2f"),
                fmt(r["emulator_cpu_ms_per_req"], ".3f"),
                fmt(r["emulator_cores"], ".2f"),
                fmt(r["pg_cpu_s"], ".2f"),
                fmt(r["pg_cpu_ms_per_req"], ".3f"),
                fmt(r["pg_cores"], ".2f"),
                fmt(r["statements_per_req"], ".2f"),
                fmt(r["vacuum_pg_cpu_ms_per_req"], ".3f"),
                fmt(r["pg_connections"], ".0f"),
                fmt(r["other_cores"], ".2f"),
                fmt(r["failures"] + r["errors"]),
            ]
        )
    n_bulk = 1 + cfg["results"] + 2 * cfg["figures"]
    title = (
        f"Shared service: bulk save (1 experiment + {cfg['results']} results + {cfg['figures']} "
        f"figures = {n_bulk} requests, save() at default settings) and paging "
        f"(iter_experiments over {cfg['paging_n']}, page {cfg['page_size']}); each emulator in "
        f"its own process(es) on a fresh database; PostgreSQL {setup.get('pg_version', '?')} "
        f"on this machine (max_connections {setup.get('pg_max_connections', '?')}); median of "
        f"{cfg['repeats']} interleaved rounds; CPU of the client's timed phase, of the "
        "emulator's processes (supervisor + workers) and of the cluster's, over the client's run; "
        "'vacuum ms/req' = the cluster's CPU in the VACUUM (ANALYZE) after each save (untimed, "
        "autovacuum off)"
    )
    return table(title, headers, out_rows)
