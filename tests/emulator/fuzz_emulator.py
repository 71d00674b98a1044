"""Fuzz the emulator with schemathesis (``nox -s fuzz``): every operation of its
``/openapi.json``, the stateful links between them, then the database's integrity.

Starts ``python -m async_qexp.emulator`` on 127.0.0.1 (an ephemeral port, a file database in a
temporary directory), logs in, runs ``schemathesis run`` against it within a time budget
(``--max-time``) and fails on any 5xx, any response that does not match the schema, any
undocumented status or content type, any response slower than ``--max-response-time`` or any
request that hangs (``--request-timeout``). Then it checks that the emulator still answers,
stops it (SIGTERM, exit 0 within 20 s), fails on any traceback in its log, and checks the
database with ``PRAGMA integrity_check`` and ``foreign_key_check`` (and no orphaned analysis
result).

    python tests/emulator/fuzz_emulator.py [--max-time 90] [--seed N] [--team]
                                           [--schemathesis CMD]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)


def _login(url: str) -> str:
    request = urllib.request.Request(
        url + "/users/loginWithToken",
        data=json.dumps({"apiToken": "fuzzer"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        token: str = json.load(answer)["id"]
        return token


TEAM = {
    "users": [
        {"token": "fuzzer", "id": "fuzzer", "hgps": ["hub-a/group-1/proj-x", "ibm-q/open/main"]},
        {"token": "neighbour", "id": "neighbour", "hgps": ["hub-a/group-1/proj-x"]},
    ]
}
"""With ``--team``: a users file, so that foreign hub/group/projects are refused (403)."""


def _start(
    db: str, python: str, log: IO[str], users: str | None
) -> tuple[subprocess.Popen[str], str]:
    extra = ["--users", users] if users else []
    emulator = subprocess.Popen(
        [python, "-m", "async_qexp.emulator", "--host", "127.0.0.1", "--port", "0", "--db", db,
         "--runtime-concurrency", "2", *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )  # fmt: skip
    assert emulator.stdout is not None
    line = emulator.stdout.readline()
    if not line.startswith("listening on "):
        emulator.kill()
        raise SystemExit(f"the emulator did not start: {line!r}")
    return emulator, line.split()[-1]


def _stop(emulator: subprocess.Popen[str]) -> int:
    emulator.send_signal(signal.SIGTERM)
    try:
        return emulator.wait(20)
    except subprocess.TimeoutExpired:
        emulator.kill()
        emulator.wait()
        print("FAIL: the emulator did not stop within 20 s of SIGTERM")
        return 1


def _alive(url: str) -> list[str]:
    """The emulator still answers a fresh connection after the run."""
    try:
        with urllib.request.urlopen(url + "/version", timeout=10) as answer:
            json.load(answer)
    except (OSError, ValueError) as exc:
        return [f"the emulator no longer answers GET /version: {exc}"]
    return []


def _log_problems(log: str) -> list[str]:
    """Tracebacks in the emulator's log: a failure that no answer showed (a background task,
    a worker's supervisor, an exception handler)."""
    text = Path(log).read_text(errors="replace")
    problems = [
        f"the emulator logged {marker!r}"
        for marker in ("Traceback", "Task exception was never retrieved", "Exception in ASGI")
        if marker in text
    ]
    if problems:
        print("---- emulator log (last 60 lines) ----")
        print("\n".join(text.splitlines()[-60:]))
    return problems


def _integrity(db: str) -> list[str]:
    with sqlite3.connect(db) as conn:
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check") if row[0] != "ok"]
        problems += [f"foreign key: {row}" for row in conn.execute("PRAGMA foreign_key_check")]
        orphans = conn.execute(
            "SELECT COUNT(*) FROM analysis_results a "
            "WHERE NOT EXISTS (SELECT 1 FROM experiments e WHERE e.uuid = a.experiment_uuid)"
        ).fetchone()[0]
        if orphans:
            problems.append(f"{orphans} analysis results without their experiment")
        counts = {
            table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("experiments", "analysis_results", "blobs", "rt_programs", "rt_jobs")
        }
    print("stored after the run:", ", ".join(f"{k} {v}" for k, v in counts.items()))
    return problems


def main() -> int:
    """Run the fuzzer; 0 when nothing was found."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-time", type=int, default=90, help="seconds of fuzzing")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--team", action="store_true", help="with a users file (the fuzzer is one of two users)"
    )
    parser.add_argument("--python", default=sys.executable, help="the emulator's interpreter")
    parser.add_argument("--schemathesis", default=shutil.which("schemathesis") or "schemathesis")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qexp-fuzz-") as tmp:
        db = os.path.join(tmp, "fuzz.sqlite")
        log = os.path.join(tmp, "emulator.log")
        users = None
        if args.team:
            users = os.path.join(tmp, "users.json")
            Path(users).write_text(json.dumps(TEAM))
        with open(log, "w") as log_file:
            emulator, url = _start(db, args.python, log_file, users)
        problems: list[str] = []
        try:
            token = _login(url)
            command = [
                args.schemathesis, "run", url + "/openapi.json",
                "--url", url,
                "-H", f"X-Access-Token: {token}",
                "--checks", CHECKS,
                "--max-time", str(args.max_time),
                "--request-timeout", "10",
                "--max-response-time", "5",
                "--workers", "1",  # (schemathesis's coverage phase is not thread-safe)
                "--suppress-health-check", "all",
                "--warnings", "off",
                "--exclude-operation-id", "stream_job",  # a websocket: tests/emulator has them
            ]  # fmt: skip
            if args.seed is not None:
                command += ["--seed", str(args.seed)]
            started = time.monotonic()
            fuzz = subprocess.run(command, cwd=tmp, check=False, timeout=args.max_time * 3 + 120)
            print(f"schemathesis: exit {fuzz.returncode} in {time.monotonic() - started:.0f} s")
            problems += _alive(url)
        finally:
            stopped = _stop(emulator)
        problems += _log_problems(log)
        problems += _integrity(db)
        for problem in problems:
            print("FAIL:", problem)
        if stopped != 0:
            print(f"FAIL: the emulator exited {stopped}")
        return 1 if fuzz.returncode or problems or stopped else 0


if __name__ == "__main__":
    sys.exit(main())
