"""Shared plumbing: the emulator process, client subprocesses, statistics, tables, results."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
TOKEN = "bench-token"
LATENCY_MS = 20.0
"""The emulator's added latency in the bulk-save scenario (milliseconds)."""
"""Every client logs in with this API token (any token logs in to the emulator)."""

QUICK_NOTE = (
    "\n(--quick: small counts and one repetition; a smoke test of the plumbing, so the "
    "verdicts below are indicative only. The full run gives the verdict.)"
)
_LISTENING = re.compile(r"listening on (http://\S+)")


# -- the emulator process ----------------------------------------------------------------


class EmulatorProcess:
    """The emulator running in its own process, with its CPU time measurable from outside."""

    def __init__(
        self,
        *,
        latency_ms: float = 0.0,
        db: str | None = None,
        uvloop: bool = True,
        extra_args: Sequence[str] = (),
        start_timeout: float = 30.0,
    ) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if db is None:
            # A fresh file on tmpfs when there is one: the benchmark measures HTTP, not disks.
            base = "/dev/shm" if os.path.isdir("/dev/shm") else None
            self._tmp = tempfile.TemporaryDirectory(prefix="qexp-bench-", dir=base)
            db = os.path.join(self._tmp.name, "emulator.sqlite")
        self.db = db
        self.uvloop = uvloop
        self.latency_ms = latency_ms
        args = [sys.executable, "-m", "bench.server"]
        if uvloop:
            args.append("--uvloop")
        args += [
            "--",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            *(["--db", db] if db != ":memory:" else []),
            "--latency-ms",
            str(latency_ms),
            *extra_args,
        ]
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(BENCH_DIR.parent),
            env=_child_env(),
        )
        self.ps = psutil.Process(self.proc.pid)
        self.url = self._wait_listening(start_timeout)

    def _wait_listening(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            match = _LISTENING.search(line)
            if match:
                return match.group(1).rstrip("/")
        self.stop()
        err = self.proc.stderr.read() if self.proc.stderr else ""
        raise RuntimeError(f"the emulator did not start: {err[-2000:]}")

    def cpu_seconds(self) -> float:
        """User + system CPU seconds used by the server process (and its children) so far."""
        total = 0.0
        with contextlib.suppress(psutil.NoSuchProcess):
            t = self.ps.cpu_times()
            total += t.user + t.system
            for child in self.ps.children(recursive=True):
                with contextlib.suppress(psutil.NoSuchProcess):
                    c = child.cpu_times()
                    total += c.user + c.system
        return total

    def rss_mb(self) -> float:
        """The server's resident memory now, in MB."""
        with contextlib.suppress(psutil.NoSuchProcess):
            return float(self.ps.memory_info().rss) / 2**20
        return 0.0

    def stop(self) -> None:
        """SIGTERM, then wait (SIGKILL after 10 s)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(BENCH_DIR.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("QEXP_CONFIG_DIR", tempfile.gettempdir())
    return env


# -- client subprocesses -----------------------------------------------------------------


def run_client(args: Sequence[str], *, timeout: float, python: str | None = None) -> dict[str, Any]:
    """Run ``python -m bench.contender ARGS`` in a fresh process (of ``python``, default this
    interpreter); return the JSON it prints."""
    cmd = [python or sys.executable, "-m", "bench.contender", *args]
    try:
        done = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=str(BENCH_DIR.parent),
            env=_child_env(),
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"error": (done.stderr or done.stdout)[-1500:].strip() or f"exit {done.returncode}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def measure_self() -> dict[str, float]:
    """CPU seconds (user + sys, every thread) and peak RSS (MB) of this process so far."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {"cpu_s": ru.ru_utime + ru.ru_stime, "peak_rss_mb": ru.ru_maxrss / 1024.0}


def current_rss_mb() -> float:
    """Resident memory of this process now, in MB."""
    return float(psutil.Process().memory_info().rss) / 2**20


def calibrate() -> float:
    """Milliseconds for a fixed pure-Python workload (best of 3): the machine's speed now.

    The machine is a shared VM whose speed drifts (by up to 1.6x between rounds, seen here);
    this number, taken before each measurement, shows that drift.
    """
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        acc = 0
        for i in range(200_000):
            acc += i * i % 7
        best = min(best, time.perf_counter() - t0)
    return best * 1000


# -- statistics --------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    data = sorted(values)
    pos = (len(data) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def median(values: Sequence[float]) -> float:
    """The median (NaN for no values)."""
    return percentile(values, 50)


# -- tables and results ------------------------------------------------------------------


def fmt(value: Any, spec: str = "") -> str:
    """Format a cell: numbers with ``spec``, ``None``/NaN as ``-``."""
    if value is None:
        return "-"
    if isinstance(value, float) and value != value:
        return "-"
    if spec and isinstance(value, int | float):
        return format(value, spec)
    return str(value)


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A fixed-width text table: first column left-aligned, the others right-aligned."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        out = []
        for i, cell in enumerate(cells):
            out.append(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]))
        return "  ".join(out).rstrip()

    sep = "  ".join("-" * w for w in widths)
    body = [line(headers), sep, *(line(r) for r in rows)]
    return f"\n{title}\n" + "\n".join(body) + "\n"


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "library": _library_state(),
    }


def _library_state() -> dict[str, str]:
    """The commit, and a hash of the uncommitted changes to ``async_qexp/`` (if any)."""
    import hashlib

    root = str(BENCH_DIR.parent)

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], capture_output=True, text=True, cwd=root, timeout=10
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    diff = git("diff", "HEAD", "--", "async_qexp")
    return {
        "commit": git("rev-parse", "--short", "HEAD").strip(),
        "uncommitted_diff_sha1": hashlib.sha1(diff.encode()).hexdigest()[:12] if diff else "",
        "uncommitted_files": git("diff", "HEAD", "--stat", "--", "async_qexp").strip(),
    }


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                return ln.split(":", 1)[1].strip()
    return platform.processor()


_STARTED: dict[str, Any] = {}


def mark_start() -> None:
    """Remember the library's state as a scenario starts (compared at the end)."""
    _STARTED["library"] = _library_state()


def pg_schema(server: str) -> tuple[str, str]:
    """A fresh schema on the PostgreSQL ``server`` URL: ``(its name, a URL whose connections
    use it)``. Drop it with :func:`drop_pg_schemas`."""
    import psycopg

    schema = "bench_" + secrets.token_hex(6)
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    joiner = "&" if "?" in server else "?"
    return schema, f"{server}{joiner}options={quote(f'-csearch_path={schema}', safe='')}"


def drop_pg_schemas(server: str, schemas: Sequence[str]) -> None:
    """Drop the schemas :func:`pg_schema` made on ``server`` (those still there)."""
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def write_results(scenario: str, payload: dict[str, Any]) -> Path:
    """Write ``bench/results/<scenario>.json`` (the directory is created on demand)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{scenario}.json"
    info = machine()
    started = _STARTED.get("library")
    if started is not None:
        info["library_at_start"] = started
        if started != info["library"]:
            log(f"WARNING: async_qexp changed during the {scenario} run; its numbers mix versions")
            info["library_changed_during_run"] = True
    payload = {"scenario": scenario, "machine": info, **payload}
    path.write_text(json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")
    return path


def log(message: str) -> None:
    """Progress to stderr (the tables go to stdout)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def section(name: str) -> Iterator[None]:
    """Log the start and duration of a step."""
    t0 = time.monotonic()
    log(f"{name} ...")
    yield
    log(f"{name}: {time.monotonic() - t0:.1f} s")


class RssSampler:
    """Peak resident memory over a block, sampled every ``interval`` seconds by a thread.

    ``ru_maxrss`` is the peak over the whole process life (imports included), so it cannot
    show the growth caused by one phase; this can (to within one sampling interval).
    """

    def __init__(self, interval: float = 0.005) -> None:
        import threading

        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._proc = psutil.Process()
        self.start_mb = 0.0
        self.peak_mb = 0.0

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak_mb = max(self.peak_mb, self._proc.memory_info().rss / 2**20)

    def __enter__(self) -> RssSampler:
        self.start_mb = self.peak_mb = self._proc.memory_info().rss / 2**20
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self._proc.memory_info().rss / 2**20)

    @property
    def growth_mb(self) -> float:
        """Peak minus the RSS at the start of the block."""
        return self.peak_mb - self.start_mb
