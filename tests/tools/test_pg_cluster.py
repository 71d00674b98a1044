"""``tools/pg_cluster.py``: a real throwaway PostgreSQL server that starts, answers, and leaves
nothing behind (no process, no directory), from Python and through ``run``, also when ``run``
is stopped by SIGTERM. Skipped where the server binaries are not installed."""

from __future__ import annotations

import importlib.util
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "pg_cluster.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pg_cluster", TOOL)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("pg_cluster", module)
    spec.loader.exec_module(module)
    return module


pg_cluster = _load()


def _have_binaries() -> bool:
    try:
        pg_cluster.find_bindir()
    except pg_cluster.MissingBinaries:
        return False
    return True


needs_server = pytest.mark.skipif(
    not _have_binaries(), reason="the PostgreSQL server binaries are not installed"
)

# What a command run by the tool reports about the server it was given: its URL, the answer
# to a query, the server's data directory and process, and its own process.
REPORT = """
import json, os, sys, time
import psycopg
url = os.environ["QEXP_TEST_PG"]
with psycopg.connect(url, connect_timeout=10) as conn:
    one = conn.execute("SELECT 1").fetchone()[0]
    data = conn.execute("SHOW data_directory").fetchone()[0]
with open(os.path.join(data, "postmaster.pid")) as f:
    server = int(f.readline())
print(json.dumps({"url": url, "one": one, "data": data, "server": server, "me": os.getpid()}))
sys.stdout.flush()
if sys.argv[1] == "sleep":
    import signal
    def bye(signum, frame):
        print(f"got signal {signum}", flush=True)
        sys.exit(3)
    signal.signal(signal.SIGTERM, bye)
    time.sleep(60)
sys.exit(int(sys.argv[2]))
"""


@pytest.fixture
def pg_root() -> Iterator[Path]:
    """A temporary directory the server's user can reach (pytest's own is private to us)."""
    root = Path(tempfile.mkdtemp(prefix="qexp-pgtest-", dir="/tmp"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _gone(pid: int, data: Path) -> bool:
    return not pg_cluster._alive(pid) and pg_cluster.processes_in(data) == [] and not data.exists()


def _refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except OSError:
        return True


def _tool(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, str(TOOL), *args],
        capture_output=True,
        text=True,
        timeout=60,
        **kwargs,
    )


@needs_server
def test_cluster_answers_a_query_then_leaves_nothing(pg_root: Path) -> None:
    import psycopg

    with pg_cluster.Cluster(tmp_root=pg_root) as cluster:
        assert cluster.url == f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres"
        with psycopg.connect(cluster.url, connect_timeout=10) as conn:
            assert conn.execute("SELECT 1 + 1").fetchone() == (2,)
            shown = {
                name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
                for name in ("listen_addresses", "max_connections", "fsync", "data_directory")
            }
        assert shown["listen_addresses"] == "127.0.0.1"
        assert shown["max_connections"] == "300"
        assert shown["fsync"] == "off"
        data = cluster.data_dir
        assert Path(shown["data_directory"]) == data
        assert data.parent.parent == pg_root.resolve()
        pid = cluster.pid
        assert pid in pg_cluster.processes_in(data)
        assert len(pg_cluster.processes_in(data)) >= 3  # the postmaster and its helpers
        if os.geteuid() == 0:  # the server never runs as root
            uid = Path(f"/proc/{pid}/status").read_text().split("Uid:")[1].split()[0]
            assert uid != "0"
        assert set(cluster.timings) == {"initdb", "start"}
        port = cluster.port
    assert _gone(pid, data)
    assert _refused(port)
    assert list(pg_root.iterdir()) == []
    assert set(cluster.timings) == {"initdb", "start", "stop"}
    with pytest.raises(RuntimeError, match="not running"):
        _ = cluster.url


@needs_server
def test_a_port_taken_meanwhile_is_retried_on_another(pg_root: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        offered: list[int] = []

        class Unlucky(pg_cluster.Cluster):  # type: ignore[misc, name-defined]
            def _choose_port(self) -> int:
                offered.append(taken if not offered else pg_cluster.free_port())
                return offered[-1]

        with Unlucky(tmp_root=pg_root) as cluster:
            assert offered[0] == taken
            assert cluster.port == offered[1] != taken
            assert "Address already in use" in cluster.log_path.read_text()
            with socket.create_connection(("127.0.0.1", cluster.port), timeout=5):
                pass
    assert list(pg_root.iterdir()) == []


@needs_server
def test_a_server_that_fails_to_start_raises_with_its_log_and_leaves_nothing(
    pg_root: Path,
) -> None:
    cluster = pg_cluster.Cluster(tmp_root=pg_root, settings={"shared_buffers": "plenty"})
    with pytest.raises(pg_cluster.ClusterError) as caught:
        cluster.start()
    message = str(caught.value)
    assert "failed" in message
    assert "tail of server.log" in message
    assert 'invalid value for parameter "shared_buffers": "plenty"' in message
    assert list(pg_root.iterdir()) == []


@needs_server
def test_run_gives_the_url_and_returns_the_commands_exit_code() -> None:
    # 5 is what pytest returns when it collected no test: it must reach nox as a failure
    done = _tool("run", "--", sys.executable, "-c", REPORT, "exit", "5")
    assert done.returncode == 5, done.stderr
    report = json.loads(done.stdout)
    assert report["one"] == 1
    assert report["url"].startswith("postgresql://postgres@127.0.0.1:")
    assert report["url"] in done.stderr  # the tool says where the server was
    assert "stopped and removed" in done.stderr
    assert _gone(report["server"], Path(report["data"]))
    assert _refused(int(report["url"].rsplit(":", 1)[1].split("/")[0]))


@needs_server
def test_sigterm_to_run_stops_the_command_and_the_cluster() -> None:
    tool = subprocess.Popen(
        [sys.executable, str(TOOL), "run", "--", sys.executable, "-c", REPORT, "sleep", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert tool.stdout is not None
        ready, _, _ = select.select([tool.stdout], [], [], 30)
        assert ready, "the command never reported"
        report = json.loads(tool.stdout.readline())
        assert pg_cluster._alive(report["server"])
        tool.send_signal(signal.SIGTERM)
        assert tool.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        if tool.poll() is None:
            tool.kill()
        rest, stderr = tool.communicate(timeout=30)
    assert "stopped and removed" in stderr
    assert rest == f"got signal {signal.SIGTERM.value}\n"  # passed on to the command
    deadline = time.monotonic() + 5
    while pg_cluster._alive(report["me"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pg_cluster._alive(report["me"])
    assert _gone(report["server"], Path(report["data"]))


def test_missing_binaries_fail_run_or_skip_it(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    marker = tmp_path / "ran"
    command = [sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"]
    failed = _tool("run", "--bindir", str(empty), "--", *command)
    assert failed.returncode == 2
    assert "initdb, pg_ctl, postgres" in failed.stderr
    assert "not found" in failed.stderr
    skipped = _tool("run", "--bindir", str(empty), "--skip-if-missing", "--", *command)
    assert skipped.returncode == 0
    assert "skipped" in skipped.stderr
    assert not marker.exists()  # the command did not run


def test_help_and_usage_errors() -> None:
    shown = _tool("--help")
    assert shown.returncode == 0
    for words in ("QEXP_TEST_PG", "--skip-if-missing", "127.0.0.1", "SIGTERM", "exit code"):
        assert words in shown.stdout
    assert "--bindir" in _tool("run", "--help").stdout
    assert _tool("run").returncode == 2  # no command
    assert _tool("run", "--bogus", "--", "true").returncode == 2
    assert _tool().returncode == 2


def test_cluster_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="port_attempts"):
        pg_cluster.Cluster(port_attempts=0)
    with pytest.raises(TypeError, match="port_attempts"):
        pg_cluster.Cluster(port_attempts="3")
    with pytest.raises(ValueError, match="start_timeout must be a positive"):
        pg_cluster.Cluster(start_timeout=0)
    with pytest.raises(ValueError, match="stop_timeout must be a positive"):
        pg_cluster.Cluster(stop_timeout=float("nan"))
    with pytest.raises(TypeError, match="stop_timeout"):
        pg_cluster.Cluster(stop_timeout=True)
    with pytest.raises(TypeError, match="settings"):
        pg_cluster.Cluster(settings=[("fsync", "on")])
    cluster = pg_cluster.Cluster()
    with pytest.raises(RuntimeError, match="not running"):
        _ = cluster.url
    cluster.stop()  # nothing to stop
