"""Scenario 5 (contest): our defaults against the real sync client, and the adaptive bound
against fixed ones and a server that pushes back.

The work (issue 14): one experiment, 1,000 analysis results and 50 SVG figures of 20 KB
(``POST /experiments``, 1,000 ``POST /analysis_results``, and per figure a ``GET`` of the
upload URL and a ``PUT`` of the bytes: 1,101 requests for every contender).

* **Latency runs**: the emulator (its own process, uvloop, in-memory SQLite) at 20 ms and at
  100 ms added latency. Contenders: the real ``qiskit-ibm-experiment`` 0.4.8 with its own
  100-thread bulk calls (``create_analysis_results`` and ``create_figures``, default
  ``max_workers=100``; run by the interpreter of an environment of its own, given by
  ``--qiskit-python`` or ``$QEXP_BENCH_QISKIT_PYTHON``: ``nox -s bench`` makes it), our
  ``save()`` at defaults (``max_in_flight="auto"``) and our ``save()`` at fixed bounds, and
  the same work in a bare aiohttp loop with 1,024 requests in flight (none of our code, every
  job at once): what this machine can serve at that latency, whatever the client.
* **Capacity run**: the emulator at 20 ms with ``--capacity 32`` (32 requests served at once,
  32 more queued, the rest answered 429 with ``Retry-After: 1``). Our ``save()`` at defaults
  against fixed bounds; the 429 share is refusals / requests sent (retries included).
* **No-op save**: ``save()`` with nothing changed on 10,000 held results (CPU of each, after
  one save stored them).

Rounds interleave the contenders; each row is the median run by throughput. Every number of
every run goes to ``bench/results/contest.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

from ._common import (
    QUICK_NOTE,
    EmulatorProcess,
    calibrate,
    fmt,
    log,
    median,
    run_client,
    table,
    write_results,
)
from .bulk_save import _pick

FULL = {
    "results": 1000,
    "figures": 50,
    "latencies": [20.0, 100.0],
    "repeats": 3,
    "fixed": [64, 128, 256],
    "ceiling": 1024,
    "capacity": 32,
    "capacity_fixed": [16, 32, 64, 128],
    "capacity_retry_after": 1.0,
    "noop_held": 10_000,
}
QUICK = {
    "results": 300,
    "figures": 10,
    "latencies": [20.0],
    "repeats": 1,
    "fixed": [64],
    "ceiling": 1024,
    "capacity": 32,
    "capacity_fixed": [32],
    "capacity_retry_after": 1.0,
    "noop_held": 2_000,
}
QISKIT = "qiskit-100"


def qiskit_python(given: str | None = None) -> str | None:
    """The interpreter of the environment that has ``qiskit-ibm-experiment`` (or ``None``)."""
    path = given or os.environ.get("QEXP_BENCH_QISKIT_PYTHON")
    if not path:
        return None
    return path if os.path.exists(path) or shutil.which(path) else None


def _qiskit(python: str, url: str, cfg: dict[str, Any]) -> dict[str, Any]:
    cmd = [
        python,
        "-m",
        "bench._qiskit_client",
        "--url",
        url,
        "--results",
        str(cfg["results"]),
        "--figures",
        str(cfg["figures"]),
        "--threads",
        "100",
    ]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = root  # bench._qiskit_client only; that environment lacks ours
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=600, cwd=root, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": "timed out"}
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"error": (done.stderr or done.stdout)[-1500:].strip()}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _measure(
    emu: EmulatorProcess, spec: str, cfg: dict[str, Any], python: str | None
) -> dict[str, Any]:
    """One run of contender ``spec`` (``qiskit-100``, ``save-auto``, ``save:N`` or
    ``aiohttp:N``)."""
    calib = calibrate()
    srv0 = emu.cpu_seconds()
    if spec == QISKIT:
        assert python is not None
        out = _qiskit(python, emu.url, cfg)
    else:
        name, _, conc = spec.partition(":")
        out = run_client(
            [
                "bulk",
                name,
                "--url",
                emu.url,
                "--results",
                str(cfg["results"]),
                "--figures",
                str(cfg["figures"]),
                "--concurrency",
                conc or "0",
            ],
            timeout=600,
        )
    srv = emu.cpu_seconds() - srv0
    out["spec"] = spec
    out["calibration_ms"] = calib
    out["server_cpu_s"] = srv
    if "wall_s" in out:
        out["server_cpu_ms_per_req"] = 1000 * srv / out["requests"]
        out["refusal_share"] = out.get("refusals", 0) / out["requests"]
    return out


def _brief(out: dict[str, Any]) -> str:
    if "wall_s" not in out:
        return f"ERROR {out.get('error', '')[:300]}"
    return (
        f"{out['wall_s']:.2f} s {out['req_per_s']:.0f} req/s "
        f"{out['cpu_ms_per_req']:.3f} ms CPU/req limit {out.get('final_limit', '-')} "
        f"429s {out.get('refusals', 0)} fail {out.get('failures', 0)}"
    )


def _warm_up(emu: EmulatorProcess) -> None:
    """One small untimed save: the server's first requests (tables, caches) are not timed."""
    run_client(
        ["bulk", "save", "--url", emu.url, "--results", "200", "--figures", "5"], timeout=120
    )


def _rounds(
    emu: EmulatorProcess, specs: list[str], cfg: dict[str, Any], python: str | None, tag: str
) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in specs}
    _warm_up(emu)
    for rnd in range(cfg["repeats"]):
        for spec in specs:
            out = _measure(emu, spec, cfg, python)
            runs[spec].append(out)
            log(f"  {tag} round {rnd + 1} {spec:12s} {_brief(out)}")
    return runs


LABELS = {
    QISKIT: "qiskit-ibm-experiment 0.4.8, 100 threads",
    "save-auto": "save(), defaults (auto)",
}


def _label(spec: str) -> str:
    if spec in LABELS:
        return LABELS[spec]
    if spec.startswith("aiohttp:"):
        return f"bare aiohttp, {spec.partition(':')[2]} in flight (ceiling)"
    return f"save(), max_in_flight={spec.partition(':')[2]}"


def _latency_table(latency: float, chosen: dict[str, dict[str, Any]], cfg: dict[str, Any]) -> str:
    base = chosen.get(QISKIT, {})
    rows = []
    for spec, r in chosen.items():
        if "wall_s" not in r:
            rows.append([_label(spec), *["-"] * 11, "error"])
            continue
        x_rate = r["req_per_s"] / base["req_per_s"] if "req_per_s" in base else None
        x_cpu = r["cpu_ms_per_req"] / base["cpu_ms_per_req"] if "cpu_ms_per_req" in base else None
        rows.append(
            [
                _label(spec),
                fmt(r["wall_s"], ".2f"),
                fmt(r["requests"]),
                fmt(r["req_per_s"], ".0f"),
                fmt(x_rate, ".2f"),
                fmt(r["cpu_ms_per_req"], ".3f"),
                fmt(x_cpu, ".2f"),
                fmt(r.get("final_limit")),
                fmt(r.get("refusals", 0)),
                fmt(r.get("server_cpu_ms_per_req"), ".3f"),
                fmt(r.get("calibration_ms"), ".1f"),
                " / ".join(f"{x:.0f}" for x in r.get("req_per_s_all", [])),
                fmt(r.get("failures", 0)),
            ]
        )
    return table(
        f"Contest at {latency:g} ms emulator latency: 1 experiment + {cfg['results']} results + "
        f"{cfg['figures']} figures of 20 KB; median of {cfg['repeats']} interleaved runs "
        "('x sync' = ratio to qiskit-ibm-experiment's)",
        [
            "contender",
            "wall s",
            "req",
            "req/s",
            "x sync",
            "CPU ms/req",
            "CPU x sync",
            "end limit",
            "429s",
            "srv ms/req",
            "calib ms",
            "req/s of each run",
            "fail",
        ],
        rows,
    )


def _capacity_table(chosen: dict[str, dict[str, Any]], cfg: dict[str, Any]) -> str:
    fixed = [r for s, r in chosen.items() if s != "save-auto" and "req_per_s" in r]
    best = max((r["req_per_s"] for r in fixed), default=None)
    rows = []
    for spec, r in chosen.items():
        if "wall_s" not in r:
            rows.append([_label(spec), *["-"] * 8, "error"])
            continue
        rows.append(
            [
                _label(spec),
                fmt(r["wall_s"], ".2f"),
                fmt(r["requests"]),
                fmt(r["req_per_s"], ".0f"),
                fmt(r["req_per_s"] / best if best else None, ".2f"),
                fmt(r.get("refusals", 0)),
                fmt(100 * r.get("refusal_share", 0.0), ".2f"),
                fmt(r.get("final_limit")),
                fmt(r.get("calibration_ms"), ".1f"),
                " / ".join(f"{x:.0f}" for x in r.get("req_per_s_all", [])),
                fmt(r.get("failures", 0)),
            ]
        )
    return table(
        f"Capacity: emulator at 20 ms with --capacity {cfg['capacity']} (as many queued, then "
        f"429 with Retry-After: {cfg['capacity_retry_after']:g}); same work; median of "
        f"{cfg['repeats']} runs ('x best' = ratio to the best fixed bound's req/s)",
        [
            "contender",
            "wall s",
            "req",
            "req/s",
            "x best",
            "429s",
            "429 %",
            "end limit",
            "calib ms",
            "req/s of each run",
            "fail",
        ],
        rows,
    )


def _verdict(what: str, value: str, met: bool) -> list[str]:
    return [what, value, "met" if met else "not met"]


def run(quick: bool = False, qiskit: str | None = None) -> dict[str, Any]:
    """Run the scenario; print the tables; write ``bench/results/contest.json``."""
    cfg = QUICK if quick else FULL
    python = qiskit_python(qiskit)
    if python is None:
        log(
            "contest: no qiskit-ibm-experiment environment (--qiskit-python or "
            "QEXP_BENCH_QISKIT_PYTHON; nox -s bench makes one): its rows are left out"
        )
    fixed_specs = [f"save:{n}" for n in cfg["fixed"]]
    specs = ([QISKIT] if python else []) + ["save-auto", *fixed_specs, f"aiohttp:{cfg['ceiling']}"]
    payload: dict[str, Any] = {"config": cfg, "latency": {}, "capacity": {}, "noop": {}}
    texts = []
    targets: list[list[str]] = []
    for latency in cfg["latencies"]:
        log(f"contest: {latency:g} ms, contenders {specs}")
        with EmulatorProcess(latency_ms=latency, db=":memory:", uvloop=True) as emu:
            runs = _rounds(emu, specs, cfg, python, f"{latency:g} ms")
        chosen = {s: _pick(r) for s, r in runs.items()}
        payload["latency"][f"{latency:g}"] = {"chosen": chosen, "runs": runs}
        texts.append(_latency_table(latency, chosen, cfg))
        auto, sync = chosen.get("save-auto", {}), chosen.get(QISKIT, {})
        if "req_per_s" in auto and "req_per_s" in sync:
            x = auto["req_per_s"] / sync["req_per_s"]
            c = auto["cpu_ms_per_req"] / sync["cpu_ms_per_req"]
            targets.append(
                _verdict(
                    f"defaults >= 3x the sync client's req/s at {latency:g} ms", f"{x:.2f}x", x >= 3
                )
            )
            targets.append(
                _verdict(
                    f"defaults' CPU/request <= 1/3 of the sync client's at {latency:g} ms",
                    f"{c:.2f}x",
                    c <= 1 / 3,
                )
            )
    log(f"contest: capacity {cfg['capacity']}")
    cap_specs = ["save-auto", *(f"save:{n}" for n in cfg["capacity_fixed"])]
    extra = [
        "--capacity",
        str(cfg["capacity"]),
        "--capacity-retry-after",
        str(cfg["capacity_retry_after"]),
    ]
    with EmulatorProcess(latency_ms=20.0, db=":memory:", uvloop=True, extra_args=extra) as emu:
        runs = _rounds(emu, cap_specs, cfg, None, "capacity")
    chosen = {s: _pick(r) for s, r in runs.items()}
    payload["capacity"] = {"chosen": chosen, "runs": runs}
    texts.append(_capacity_table(chosen, cfg))
    fixed_rates = [r["req_per_s"] for s, r in chosen.items() if s != "save-auto" and "wall_s" in r]
    auto = chosen.get("save-auto", {})
    if fixed_rates and "req_per_s" in auto:
        x = auto["req_per_s"] / max(fixed_rates)
        share = 100 * auto.get("refusal_share", 0.0)
        targets.append(
            _verdict(
                "defaults >= 90% of the best fixed bound (capacity)", f"{100 * x:.0f}%", x >= 0.9
            )
        )
        targets.append(_verdict("defaults' 429 share < 2% (capacity)", f"{share:.2f}%", share < 2))
    log(f"contest: no-op save on {cfg['noop_held']} held results")
    with EmulatorProcess(latency_ms=0.0, db=":memory:", uvloop=True) as emu:
        noop = run_client(
            [
                "bulk",
                "noop-save",
                "--url",
                emu.url,
                "--results",
                str(cfg["noop_held"]),
                "--figures",
                "0",
            ],
            timeout=600,
        )
    payload["noop"] = noop
    if "noop_cpu_ms_median" in noop:
        texts.append(
            table(
                f"No-op save: save() with nothing changed on {cfg['noop_held']} held results "
                "(9 saves after the one that stored them)",
                ["held", "requests sent", "CPU ms median", "CPU ms max", "each"],
                [
                    [
                        fmt(noop["held"]),
                        fmt(noop["noop_sent"]),
                        fmt(noop["noop_cpu_ms_median"], ".3f"),
                        fmt(noop["noop_cpu_ms_max"], ".3f"),
                        " ".join(f"{x:.2f}" for x in noop["noop_cpu_ms_all"]),
                    ]
                ],
            )
        )
        ms = noop["noop_cpu_ms_median"]
        targets.append(
            _verdict(f"no-op save on {cfg['noop_held']} results < 5 ms CPU", f"{ms:.3f} ms", ms < 5)
        )
    else:
        texts.append(f"\nNo-op save: ERROR {noop.get('error', '')[:500]}\n")
    texts.append(table("Targets (contest)", ["target", "value", ""], targets))
    text = "".join(texts) + (QUICK_NOTE if quick else "")
    print(text, flush=True)
    payload["text"] = text
    payload["medians"] = {
        "latency": {
            k: {
                s: median([r["req_per_s"] for r in v["runs"][s] if "req_per_s" in r])
                for s in v["runs"]
            }
            for k, v in payload["latency"].items()
        }
    }
    path = write_results("contest", payload)
    log(f"contest: wrote {path}")
    return payload
