"""Mutation testing of the core modules: a sample of mutmut's mutants per module, each module
against its own tests, and the kill rate of each (``nox -s mutation``).

For each module of :data:`MODULES`, a copy of the checkout is made in a temporary directory
with a ``[tool.mutmut]`` section that mutates only that module and selects only its tests;
``mutmut run`` generates every mutant there (a filter that matches none stops it before any
mutant runs), a seeded sample of at most ``--sample`` mutants is drawn from
``mutmut results --all true``, and ``mutmut run <sample>`` tests them. A mutant counts as killed
when a test failed or timed out under it; one no test reached ("no tests") or that mutmut
could not check counts as a survivor. The table goes to stdout and the figures to
``--json`` (``mutation.json`` by default); ``--min-rate`` makes a module under it fail the run.

Usage: ``python tools/mutation.py [--sample 60] [--seed 13] [--min-rate 0] [module ...]``.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

MODULES: dict[str, list[str]] = {
    "async_qexp/_http.py": [
        "tests/unit/test_http.py",
        "tests/unit/test_retry_policy.py",
        "tests/unit/test_redaction.py",
        "tests/unit/test_diagnostics.py",
        "tests/unit/test_network.py",
    ],
    "async_qexp/_paging.py": [
        "tests/unit/test_paging.py",
        "tests/unit/test_experiment_requests.py",
        "tests/unit/test_runtime_requests.py",
    ],
    "async_qexp/models/timeutil.py": [
        "tests/unit/test_timeutil.py",
        "tests/unit/test_one_iso_parser.py",
    ],
    "async_qexp/models/codec.py": [
        "tests/unit/test_models.py",
        "tests/unit/test_timeutil.py",
        "tests/unit/test_experiment_requests.py",
    ],
    "async_qexp/runtime/stream.py": ["tests/unit/test_runtime_stream.py"],
    "async_qexp/experiment/_sync.py": ["tests/unit/test_save_plan.py"],
}
"""Each core module and the tests that are its own."""

FOCUS: dict[str, list[str]] = {
    # the save planner: plan() and its Op, not the synchroniser that runs the plan (which
    # only the integration tests reach)
    "async_qexp/experiment/_sync.py": ["*.x_plan__mutmut_*", "*.xǁOpǁ*"],
}
"""For a module whose own tests cover only part of it: the mutants (name patterns) sampled."""

IMPORT_TIME: dict[str, list[str]] = {
    # called once, when the module is imported, to register the converter's hooks: mutmut
    # switches a mutant on after the import, so these would survive whatever the tests do
    "async_qexp/models/codec.py": ["*.x__overrides__mutmut_*"],
}
"""Mutants left out of the sample because mutmut cannot run them (name patterns)."""

KILLED = {"killed", "timeout"}
"""mutmut's verdicts that count as a mutant caught by the tests."""

_RESULT = re.compile(r"^\s*(\S+__mutmut_\d+): (.+?)\s*$")


def _copy_checkout(into: Path) -> None:
    """The tracked files of the checkout (with uncommitted edits) copied into ``into``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for raw in listed:
        if not raw:
            continue
        relative = Path(os.fsdecode(raw))
        if relative.parts[0] not in {"async_qexp", "tests"} and str(relative) != "pyproject.toml":
            continue
        source = ROOT / relative
        if not source.is_file():
            continue
        target = into / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def _configure(work: Path, module: str, tests: list[str]) -> None:
    """Append a ``[tool.mutmut]`` section mutating ``module`` against ``tests`` only."""
    pyproject = work / "pyproject.toml"
    text = pyproject.read_text()
    if "[tool.mutmut]" in text:
        raise SystemExit("pyproject.toml already has a [tool.mutmut] section")
    section = {
        "source_paths": ["async_qexp"],
        "only_mutate": [module],
        "pytest_add_cli_args_test_selection": tests,
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-q", "-x", "--timeout", "60"],
        "use_git_change_detection": False,
    }
    lines = ["", "[tool.mutmut]"]
    for key, value in section.items():
        lines.append(f"{key} = {json.dumps(value)}")
    pyproject.write_text(text + "\n".join(lines) + "\n")


def _mutmut(work: Path, *args: str, check: bool = True) -> str:
    """Run ``mutmut ARGS`` in ``work``; its output."""
    done = subprocess.run(
        [sys.executable, "-m", "mutmut", *args],
        cwd=work,
        capture_output=True,
        text=True,
    )
    if check and done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"mutmut {' '.join(args[:1])} failed ({done.returncode}) in {work}")
    return done.stdout


def _results(work: Path) -> dict[str, str]:
    """Every mutant's name and verdict."""
    found = {}
    for line in _mutmut(work, "results", "--all", "true").splitlines():
        match = _RESULT.match(line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def mutate(module: str, tests: list[str], *, sample: int, seed: int, jobs: int) -> dict[str, Any]:
    """The sampled mutants of ``module``, run against ``tests``: counts and survivors."""
    missing = [t for t in tests if not (ROOT / t).exists()]
    tests = [t for t in tests if t not in missing]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        work = Path(tmp)
        _copy_checkout(work)
        _configure(work, module, tests)
        # generation and the coverage of each test; the filter matches no mutant, so none runs
        _mutmut(work, "run", "--max-children", str(jobs), "no-such-mutant-*", check=False)
        every = sorted(_results(work))
        patterns = FOCUS.get(module)
        if patterns:
            every = [n for n in every if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
        skipped = IMPORT_TIME.get(module, [])
        every = [n for n in every if not any(fnmatch.fnmatchcase(n, p) for p in skipped)]
        if not every:
            raise SystemExit(f"mutmut made no mutant of {module}")
        chosen = sorted(random.Random(f"{seed}:{module}").sample(every, min(sample, len(every))))
        _mutmut(work, "run", "--max-children", str(jobs), *chosen, check=False)
        verdicts = _results(work)
        survivors = []
        for name in chosen:
            if verdicts.get(name) not in KILLED:
                show = _mutmut(work, "show", name, check=False)
                survivors.append({"name": name, "verdict": verdicts.get(name), "diff": show})
    counts: dict[str, int] = {}
    for name in chosen:
        verdict = verdicts.get(name, "missing")
        counts[verdict] = counts.get(verdict, 0) + 1
    killed = sum(n for verdict, n in counts.items() if verdict in KILLED)
    return {
        "module": module,
        "tests": tests,
        "missing_tests": missing,
        "mutants": len(every),
        "sampled": len(chosen),
        "killed": killed,
        "rate": killed / len(chosen),
        "verdicts": counts,
        "survivors": survivors,
        "seconds": round(time.monotonic() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the sample of every module (or of those named) and print the kill rates."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="modules (paths) to mutate; default: all")
    parser.add_argument("--sample", type=int, default=60, help="mutants per module (60)")
    parser.add_argument("--seed", type=int, default=13, help="seed of the sample (13)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="mutmut children")
    parser.add_argument("--min-rate", type=float, default=0.0, help="fail under this kill rate")
    parser.add_argument("--json", type=Path, default=Path("mutation.json"), help="figures file")
    parser.add_argument("--show-survivors", action="store_true", help="print survivors' diffs")
    args = parser.parse_args(argv)
    if args.sample < 1 or not 0.0 <= args.min_rate <= 1.0:
        parser.error("--sample must be >= 1 and --min-rate within [0, 1]")
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown modules {unknown}; choose from {sorted(MODULES)}")
    started = time.monotonic()
    rows = []
    for module in args.modules or list(MODULES):
        row = mutate(module, MODULES[module], sample=args.sample, seed=args.seed, jobs=args.jobs)
        rows.append(row)
        print(
            f"{module:36} {row['killed']:3}/{row['sampled']:<3} killed  {row['rate']:6.1%}"
            f"  (of {row['mutants']} mutants, {row['seconds']} s)",
            flush=True,
        )
        if args.show_survivors:
            for survivor in row["survivors"]:
                print(f"--- survived ({survivor['verdict']}): {survivor['name']}")
                print(survivor["diff"])
    total = time.monotonic() - started
    report = {"sample": args.sample, "seed": args.seed, "seconds": round(total, 1), "rows": rows}
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{'module':36} {'killed':>9} {'rate':>7}")
    for row in rows:
        print(f"{row['module']:36} {row['killed']:>4}/{row['sampled']:<4} {row['rate']:7.1%}")
    print(f"total {total:.0f} s; figures in {args.json}")
    low = [row["module"] for row in rows if row["rate"] < args.min_rate]
    if low:
        print(f"under {args.min_rate:.0%}: {', '.join(low)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
