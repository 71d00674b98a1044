"""Scenario 6: the drop-in (``async_qexp.compat.IBMExperimentService``) beside the client it
replaces (qiskit-ibm-experiment's ``IBMExperimentService``), on the same bulk work.

Both make scenario 1's requests through their bulk calls, ``create_analysis_results`` and
``create_figures`` with ``max_workers=100`` (the reference's default): 100 threads for the
reference, 100 coroutines on one loop for the drop-in. ``requests-100`` (scenario 1's sync
baseline) is the same work in 100 threads without either client. Every contender runs in a
fresh process against one emulator (``--latency-ms 20``); rounds interleave them.

The reference needs qiskit-ibm-experiment (which brings Qiskit): it runs with the interpreter
named by ``BENCH_REFERENCE_PYTHON``, else with this one when it can import the package; without
either its row says it was skipped.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from typing import Any

import psutil

from ._common import (
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

FULL = {"results": 2000, "figures": 100, "workers": 100, "repeats": 5}
QUICK = {"results": 400, "figures": 20, "workers": 100, "repeats": 1}
CONTENDERS = ["dropin", "reference", "requests-100"]


def reference_python() -> str | None:
    """The interpreter that can run qiskit-ibm-experiment, if any."""
    named = os.environ.get("BENCH_REFERENCE_PYTHON")
    if named:
        return named
    if importlib.util.find_spec("qiskit_ibm_experiment") is not None:
        return sys.executable
    return None


def _measure(
    emu: EmulatorProcess, name: str, cfg: dict[str, Any], python: str | None
) -> dict[str, Any]:
    calib = calibrate()
    sys0 = psutil.cpu_times()
    srv0 = emu.cpu_seconds()
    t0 = time.monotonic()
    out = run_client(
        [
            *("bulk", name, "--url", emu.url),
            *("--results", str(cfg["results"]), "--figures", str(cfg["figures"])),
            *("--concurrency", str(cfg["workers"])),
        ],
        timeout=900,
        python=python,
    )
    srv = emu.cpu_seconds() - srv0
    busy = sum(psutil.cpu_times()[:2]) - sum(sys0[:2])
    out["calibration_ms"] = calib
    if "wall_s" in out:
        out["server_util"] = srv / out["wall_s"]
        out["other_cores"] = max(0.0, busy - srv - out["cpu_total_s"]) / (time.monotonic() - t0)
    return out


def run(quick: bool = False) -> dict[str, Any]:
    """Run the scenario; print the table; write ``bench/results/dropin.json``."""
    cfg = QUICK if quick else FULL
    ref = reference_python()
    n_req = 1 + cfg["results"] + 2 * cfg["figures"]
    log(
        f"dropin: {cfg['results']} results + {cfg['figures']} figures = {n_req} requests, "
        f"max_workers={cfg['workers']}, emulator --latency-ms {LATENCY_MS:g}"
    )
    names = [n for n in CONTENDERS if n != "reference" or ref is not None]
    runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    with EmulatorProcess(latency_ms=LATENCY_MS, db=":memory:", uvloop=True) as emu:
        for rnd in range(cfg["repeats"]):
            for name in names:
                out = _measure(emu, name, cfg, ref if name == "reference" else None)
                runs[name].append(out)
                brief = (
                    f"{out['req_per_s']:.0f} req/s {out['cpu_ms_per_req']:.3f} ms CPU/req "
                    f"fail {out.get('failures', 0)}"
                    if "wall_s" in out
                    else f"ERROR {str(out.get('error'))[:300]}"
                )
                log(f"  round {rnd + 1} {name:13s} {brief}")
    chosen = {name: _median_run(r) for name, r in runs.items()}
    _per_round(chosen, runs)
    text = render(chosen, ref)
    print(text, flush=True)
    path = write_results(
        "dropin",
        {
            "quick": quick,
            "config": {**cfg, "latency_ms": LATENCY_MS, "requests": n_req},
            "reference_python": ref,
            "contenders": chosen,
            "all_runs": runs,
            "tables": text,
        },
    )
    log(f"wrote {path}")
    return chosen


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = sorted((r for r in runs if "wall_s" in r), key=lambda r: r["req_per_s"])
    if not ok:
        return runs[0]
    chosen = dict(ok[len(ok) // 2])
    chosen["runs"] = len(ok)
    chosen["req_per_s_all"] = [round(r["req_per_s"], 1) for r in ok]
    chosen["cpu_ms_per_req_median"] = median([r["cpu_ms_per_req"] for r in ok])
    return chosen


def _per_round(chosen: dict[str, dict[str, Any]], runs: dict[str, list[dict[str, Any]]]) -> None:
    """The ratios to the reference taken within each round, then their median (rounds
    interleave the contenders, so a change in the machine's load hits a round's runs alike)."""
    base = runs.get("reference", [])
    for name, own in runs.items():
        pairs = [(r, b) for r, b in zip(own, base, strict=False) if "wall_s" in r and "wall_s" in b]
        if name == "reference" or not pairs:
            continue
        chosen[name]["x_ref_per_round"] = median(
            [r["req_per_s"] / b["req_per_s"] for r, b in pairs]
        )
        chosen[name]["cpu_x_ref_per_round"] = median(
            [r["cpu_ms_per_req"] / b["cpu_ms_per_req"] for r, b in pairs]
        )


def render(chosen: dict[str, dict[str, Any]], ref: str | None) -> str:
    """The table, with the drop-in's ratios to the reference."""
    base = chosen.get("reference", {})
    rows = []
    for name, out in chosen.items():
        if "wall_s" not in out:
            rows.append([name, "error", *[""] * 10])
            continue
        ratio = out["req_per_s"] / base["req_per_s"] if "wall_s" in base else float("nan")
        cpu_ratio = (
            out["cpu_ms_per_req"] / base["cpu_ms_per_req"] if "wall_s" in base else float("nan")
        )
        rows.append(
            [
                name,
                fmt(out["wall_s"], ".2f"),
                str(out["requests"]),
                fmt(out["req_per_s"], ".0f"),
                fmt(ratio, ".2f"),
                fmt(out.get("x_ref_per_round", float("nan")), ".2f"),
                fmt(out["cpu_ms_per_req"], ".3f"),
                fmt(cpu_ratio, ".2f"),
                fmt(out.get("cpu_x_ref_per_round", float("nan")), ".2f"),
                fmt(out["peak_rss_mb"], ".0f"),
                fmt(out["server_util"], ".2f"),
                str(out.get("failures", 0)),
            ]
        )
    if ref is None:
        rows.append(["reference", "skipped: no qiskit-ibm-experiment", *[""] * 10])
    return table(
        "Scenario 6: the drop-in beside qiskit-ibm-experiment (same bulk calls, max_workers=100)",
        [
            "contender",
            "wall s",
            "req",
            "req/s",
            "x ref",
            "x ref/rnd",
            "CPU ms/req",
            "CPU x ref",
            "CPU x ref/rnd",
            "peak RSS MB",
            "srv cores",
            "fail",
        ],
        rows,
    )
