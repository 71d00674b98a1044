"""A throwaway PostgreSQL server for the tests: a fresh cluster in a temporary directory, on a
free loopback port, stopped and deleted afterwards.

    python tools/pg_cluster.py run -- CMD ARGS...
    python tools/pg_cluster.py run --skip-if-missing -- CMD ARGS...

``run`` initialises a cluster (``initdb``), starts it (``pg_ctl start``), runs ``CMD`` with
``QEXP_TEST_PG`` set to the server's URL (``postgresql://postgres@127.0.0.1:PORT/postgres``,
password-less), then stops the server and removes the directory, also when the tool is
interrupted (SIGINT, SIGTERM or SIGHUP are passed on to ``CMD``, which then has 10 s to
exit before it is killed). It exits with ``CMD``'s exit code
(``128 + N`` when ``CMD`` died of signal ``N`` or the tool was interrupted by it), 127 when
``CMD`` cannot be started, and 2 when no server could be provided: the server binaries
(``initdb``, ``pg_ctl``, ``postgres``) are missing, or the server failed to start (the message
ends with the tail of its log). With ``--skip-if-missing``, missing binaries print a notice and
exit 0 without running ``CMD``.

The binaries are looked for in ``--bindir`` (or ``$QEXP_PG_BINDIR``) when given, else on
``PATH``, in ``pg_config --bindir`` and in the usual package locations
(``/usr/lib/postgresql/N/bin``, ``/usr/pgsql-N/bin``), newest version first. ``initdb`` and
``postgres`` refuse to run as root: as root, they run as the ``postgres`` user (``nobody`` when
there is none), through ``setpriv`` or ``runuser``, in a directory that user owns.

The server listens on 127.0.0.1 only (and on a Unix socket inside its own directory), trusts
every local connection, and is tuned for tests, not for keeping data: no fsync, asynchronous
commits, minimal WAL, up to 300 connections. A port taken between choosing it and binding it
is retried with another. Every step is bounded in time.

In Python, :class:`Cluster` is a context manager that does the same::

    with Cluster() as cluster:
        psycopg.connect(cluster.url)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType

ENV_VAR = "QEXP_TEST_PG"
"""The variable ``run`` sets to the server's URL for the command it runs."""

BINDIR_VAR = "QEXP_PG_BINDIR"
"""Where to find the server binaries, when set (``--bindir`` wins over it)."""

BINARIES = ("initdb", "pg_ctl", "postgres")
"""The server binaries a cluster needs, all from one directory."""

SETTINGS: dict[str, str | int] = {
    "listen_addresses": "127.0.0.1",
    "max_connections": 300,  # ~2 emulator processes x a pool of 8 x many tests at once
    "shared_buffers": "32MB",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": 0,
    "jit": "off",
    "timezone": "UTC",
    "log_timezone": "UTC",
    "lc_messages": "C",  # the log is read for "Address already in use"
}
"""The server's settings, besides its port and socket directory (``Cluster(settings=...)``
adds to or overrides them)."""

INITDB_TIMEOUT = 60.0
"""Seconds ``initdb`` may take."""

SIGNAL_GRACE = 10.0
"""Seconds the command of ``run`` has to exit after a signal was passed on to it."""

_UNIX_SOCKET_MAX = 100  # sun_path holds 108 bytes; "/.s.PGSQL.65535" is 15 of them


class MissingBinaries(RuntimeError):
    """The PostgreSQL server binaries were not found."""


class ClusterError(RuntimeError):
    """The cluster could not be initialised or started (the message holds the log's tail)."""


def find_bindir(bindir: str | os.PathLike[str] | None = None) -> Path:
    """The directory that holds every one of :data:`BINARIES`.

    ``bindir`` (else ``$QEXP_PG_BINDIR``) is the only place looked at when given; otherwise
    ``PATH``, ``pg_config --bindir`` and the usual package directories, newest version first.
    A binary found through a symbolic link counts for the directory it links to.

    Raises:
        MissingBinaries: no directory holds them all; the message says where it looked.
    """
    given = bindir if bindir is not None else os.environ.get(BINDIR_VAR) or None
    candidates: list[Path] = []
    if given is not None:
        candidates.append(Path(given))
    else:
        for name in BINARIES:
            found = shutil.which(name)
            if found is not None:
                candidates.append(Path(found).resolve().parent)
                candidates.append(Path(found).parent)
        pg_config = shutil.which("pg_config")
        if pg_config is not None:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                out = subprocess.run(
                    [pg_config, "--bindir"], capture_output=True, text=True, timeout=10
                ).stdout.strip()
                if out:
                    candidates.append(Path(out))
        packaged = [*Path("/usr/lib/postgresql").glob("*/bin"), *Path("/usr").glob("pgsql-*/bin")]
        packaged.sort(key=_version_key, reverse=True)
        candidates.extend(packaged)
    for directory in dict.fromkeys(candidates):
        if all(os.access(directory / name, os.X_OK) for name in BINARIES):
            return directory
    where = (
        str(given)
        if given is not None
        else "PATH, pg_config --bindir, /usr/lib/postgresql/*/bin, /usr/pgsql-*/bin"
    )
    raise MissingBinaries(
        f"the PostgreSQL server binaries ({', '.join(BINARIES)}) were not found in {where}; "
        "install the PostgreSQL server (on Debian and Ubuntu, the 'postgresql' package) "
        f"or point --bindir / ${BINDIR_VAR} at them"
    )


def _version_key(path: Path) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", str(path))]


def server_user() -> tuple[str, int, int] | None:
    """``(name, uid, gid)`` of the user the server runs as when we are root (``postgres`` when
    it exists, else ``nobody``); ``None`` when we are not root and the server runs as us."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return name, entry.pw_uid, entry.pw_gid
    raise ClusterError("running as root, and there is neither a 'postgres' nor a 'nobody' user")


def _run_as_prefix(user: tuple[str, int, int] | None) -> list[str]:
    if user is None:
        return []
    name, uid, gid = user
    setpriv = shutil.which("setpriv")
    if setpriv is not None:
        return [setpriv, f"--reuid={uid}", f"--regid={gid}", "--init-groups"]
    runuser = shutil.which("runuser")
    if runuser is not None:
        return [runuser, "-u", name, "--"]
    raise ClusterError(
        "running as root: initdb and postgres need another user, but neither setpriv nor "
        "runuser (util-linux) is installed"
    )


def free_port() -> int:
    """A TCP port nothing listens on at 127.0.0.1 right now (it may be taken before it is
    used: :class:`Cluster` retries)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _quote(value: str | int) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _tail(path: Path, lines: int = 25, start: int = 0) -> str:
    try:
        with path.open("rb") as file:
            file.seek(start)
            text = file.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie is dead for our purpose (its parent reaps it)
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def processes_in(directory: Path) -> list[int]:
    """The processes whose working directory is ``directory`` (every process of a cluster
    works in its data directory), from ``/proc`` (none where there is no ``/proc``)."""
    target = str(directory)
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{entry.name}/cwd") == target:
                    found.append(int(entry.name))
    return found


class Cluster:
    """A throwaway PostgreSQL cluster: made and started on entry, stopped and deleted on exit.

    Args:
        bindir: where the server binaries are (see :func:`find_bindir`).
        settings: server settings added to, or replacing, :data:`SETTINGS`.
        start_timeout: seconds the server may take to start (``pg_ctl -t``).
        stop_timeout: seconds each way of stopping it may take (fast, then immediate, then
            SIGKILL).
        port_attempts: how many free ports to try when the one chosen was taken meanwhile.
        tmp_root: where the temporary directory goes (the system's default when ``None``).
    """

    def __init__(
        self,
        *,
        bindir: str | os.PathLike[str] | None = None,
        settings: Mapping[str, str | int] | None = None,
        start_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        port_attempts: int = 5,
        tmp_root: str | os.PathLike[str] | None = None,
    ) -> None:
        if isinstance(port_attempts, bool) or not isinstance(port_attempts, int):
            raise TypeError(f"port_attempts must be an int, not {type(port_attempts).__name__}")
        if port_attempts < 1:
            raise ValueError(f"port_attempts must be at least 1, not {port_attempts}")
        for name, value in (("start_timeout", start_timeout), ("stop_timeout", stop_timeout)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
            if not 0 < value < float("inf"):
                raise ValueError(f"{name} must be a positive number of seconds, not {value}")
        if settings is not None and not isinstance(settings, Mapping):
            raise TypeError(f"settings must be a mapping, not {type(settings).__name__}")
        self._bindir_arg = bindir
        self._settings = {**SETTINGS, **(settings or {})}
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._port_attempts = port_attempts
        self._tmp_root = tmp_root
        self._prefix: list[str] = []
        self._bindir: Path | None = None
        self._directory: Path | None = None
        self._port: int | None = None
        self._pid: int | None = None
        self.timings: dict[str, float] = {}
        """Seconds each step took: ``initdb``, ``start`` (the last attempt), ``stop``."""

    @property
    def url(self) -> str:
        """``postgresql://postgres@127.0.0.1:PORT/postgres`` (no password: trusted)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def port(self) -> int:
        """The TCP port the running server listens on at 127.0.0.1."""
        if self._port is None or self._pid is None:
            raise RuntimeError("the cluster is not running")
        return self._port

    @property
    def directory(self) -> Path:
        """The temporary directory: the data directory ``data``, the server's log
        ``server.log`` and its Unix socket."""
        if self._directory is None:
            raise RuntimeError("the cluster has no directory (not started, or stopped)")
        return self._directory

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory (``PGDATA``)."""
        return self.directory / "data"

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        return self.directory / "server.log"

    @property
    def pid(self) -> int:
        """The process id of the running server (the postmaster)."""
        if self._pid is None:
            raise RuntimeError("the cluster is not running")
        return self._pid

    def __enter__(self) -> Cluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- starting ----------------------------------------------------------------------

    def start(self) -> None:
        """Initialise the cluster and start the server; on failure, leave nothing behind.

        Raises:
            MissingBinaries: the server binaries were not found.
            ClusterError: initdb or the server failed (with the output or log's tail).
        """
        if self._directory is not None:
            raise RuntimeError("the cluster was already started")
        self._bindir = find_bindir(self._bindir_arg)
        user = server_user()
        self._prefix = _run_as_prefix(user)
        root = Path(self._tmp_root if self._tmp_root is not None else tempfile.gettempdir())
        if len(str(root)) > _UNIX_SOCKET_MAX - 30:  # mkdtemp's name and the socket's
            root = Path("/tmp")
        self._directory = Path(tempfile.mkdtemp(prefix="qexp-pg-", dir=root)).resolve()
        try:
            if user is not None:
                os.chown(self._directory, user[1], user[2])
            self._initdb()
            self._start_on_a_free_port()
        except BaseException:
            self.stop()
            raise

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "LC_"))}
        env["LC_ALL"] = "C"  # untranslated messages; the cluster's own locale is C anyway
        env["LANG"] = "C"
        return env

    def _server_command(
        self, args: Sequence[str], timeout: float, output: int | None = None
    ) -> tuple[int | None, str]:
        """Run a server binary as the server's user; ``(exit code or None on timeout,
        output)``."""
        assert self._bindir is not None
        command = [*self._prefix, str(self._bindir / args[0]), *args[1:]]
        with tempfile.TemporaryFile() as out:
            # a file, not a pipe: pg_ctl's server must not hold our end open
            try:
                code: int | None = subprocess.run(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=self.directory,
                    env=self._env(),
                    timeout=timeout,
                ).returncode
            except subprocess.TimeoutExpired:
                code = None
            except OSError as exc:  # the directory or the binary vanished
                return None, f"{command[0]}: {exc}"
            out.seek(0)
            return code, out.read().decode("utf-8", "replace").strip()

    def _initdb(self) -> None:
        began = time.monotonic()
        code, output = self._server_command(
            [
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
            INITDB_TIMEOUT,
        )
        self.timings["initdb"] = time.monotonic() - began
        if code != 0:
            status = "timed out" if code is None else f"failed (exit {code})"
            hint = ""
            if self._prefix and "Permission denied" in output:
                hint = (
                    f"\n(initdb runs as another user, who must be able to reach "
                    f"{self.directory}: set TMPDIR to a directory every user can traverse, "
                    "such as /tmp)"
                )
            raise ClusterError(f"initdb {status}:\n{output[-3000:]}{hint}")
        settings = {**self._settings, "unix_socket_directories": str(self.directory)}
        lines = [f"{name} = {_quote(value)}" for name, value in settings.items()]
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# tools/pg_cluster.py\n" + "\n".join(lines) + "\n")

    def _start_on_a_free_port(self) -> None:
        for attempt in range(1, self._port_attempts + 1):
            port = self._choose_port()
            offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            began = time.monotonic()
            code, output = self._server_command(
                [
                    "pg_ctl",
                    "start",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_path),
                    "-w",
                    "-t",
                    str(max(1, round(self._start_timeout))),
                    "-o",
                    f"-p {port}",
                ],
                self._start_timeout + 10,
            )
            self.timings["start"] = time.monotonic() - began
            log = _tail(self.log_path, start=offset)
            if code == 0:
                self._pid = self._read_pid()
                self._port = port
                self._check_listening()
                return
            self._kill_leftovers()  # a timed-out start may have left a server running
            if "Address already in use" in log and attempt < self._port_attempts:
                continue
            status = "timed out" if code is None else f"failed (exit {code})"
            raise ClusterError(
                f"the PostgreSQL server {status} on port {port} (attempt {attempt}):\n"
                f"{output}\n--- tail of {self.log_path.name} ---\n{log}"
            )

    def _choose_port(self) -> int:
        """A free port (a method, so a test can hand out a busy one)."""
        return free_port()

    def _read_pid(self) -> int:
        text = (self.data_dir / "postmaster.pid").read_text()
        return int(text.split("\n", 1)[0])

    def _check_listening(self) -> None:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5):
                pass
        except OSError as exc:
            raise ClusterError(
                f"the server started but does not accept connections on port {self.port}: "
                f"{exc}\n--- tail of {self.log_path.name} ---\n{_tail(self.log_path)}"
            ) from exc

    # -- stopping ----------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the server (``pg_ctl stop -m fast``, then ``-m immediate``, then SIGKILL, each
        bounded) and remove the directory. Does nothing when there is nothing to stop."""
        if self._directory is None:
            return
        began = time.monotonic()
        try:
            if self._pid is not None or (self.data_dir / "postmaster.pid").exists():
                for mode in ("fast", "immediate"):
                    code, _ = self._server_command(
                        [
                            "pg_ctl",
                            "stop",
                            "-D",
                            str(self.data_dir),
                            "-m",
                            mode,
                            "-w",
                            "-t",
                            str(max(1, round(self._stop_timeout))),
                        ],
                        self._stop_timeout + 5,
                    )
                    if code == 0:
                        break
            self._kill_leftovers()
        finally:
            shutil.rmtree(self._directory, ignore_errors=True)
            if self._directory.exists():  # pragma: no cover - a file we could not remove
                print(f"pg_cluster: could not remove {self._directory}", file=sys.stderr)
            self._directory = None
            self._pid = None
            self.timings["stop"] = time.monotonic() - began

    def _kill_leftovers(self) -> None:
        """SIGKILL the server and any process still working in the data directory, and wait
        (bounded) until they are gone."""
        pids = set(processes_in(self.data_dir))
        if self._pid is not None:
            pids.add(self._pid)
        with contextlib.suppress(OSError, ValueError):
            pids.add(self._read_pid())
        pids.discard(os.getpid())
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + self._stop_timeout
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.02)
        self._pid = None


# -- the command line ------------------------------------------------------------------


class _Signals:
    """Records SIGINT, SIGTERM and SIGHUP and passes them on to the running command."""

    NAMES = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.received: int | None = None
        self.child: subprocess.Popen[bytes] | None = None
        self.first_at: float | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> _Signals:
        for signum in self.NAMES:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
            self.first_at = time.monotonic()
        child = self.child
        if child is None or child.poll() is not None:
            return
        if signum == signal.SIGINT and _terminal_sent_it_to_the_child():
            return  # Ctrl-C at a terminal reached the whole foreground group already
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)


def _terminal_sent_it_to_the_child() -> bool:
    """Whether we (and so the command, which shares our process group) are the terminal's
    foreground group, which a Ctrl-C reaches as a whole."""
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            if os.isatty(stream.fileno()):
                return os.tcgetpgrp(stream.fileno()) == os.getpgrp()
    return False


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def run(command: Sequence[str], *, bindir: str | None = None, skip_if_missing: bool = False) -> int:
    """``run``: the command's exit code, after the cluster it ran against is gone."""
    if not command:
        print("pg_cluster: run needs a command: run -- CMD ARGS...", file=sys.stderr)
        return 2
    try:
        found = find_bindir(bindir)
    except MissingBinaries as exc:
        if skip_if_missing:
            print(f"pg_cluster: skipped, {exc} (--skip-if-missing)", file=sys.stderr)
            return 0
        print(f"pg_cluster: {exc}", file=sys.stderr)
        return 2
    cluster = Cluster(bindir=found)
    with _Signals() as signals:
        try:
            cluster.start()
        except ClusterError as exc:
            print(f"pg_cluster: {exc}", file=sys.stderr)
            return 2
        try:
            print(
                f"pg_cluster: PostgreSQL at {cluster.url} (initdb "
                f"{cluster.timings['initdb']:.2f} s, start {cluster.timings['start']:.2f} s); "
                f"{ENV_VAR} is set for: {shlex.join(command)}",
                file=sys.stderr,
                flush=True,
            )
            if signals.received is not None:
                return 128 + signals.received
            env = {**os.environ, ENV_VAR: cluster.url}
            try:
                signals.child = subprocess.Popen(command, env=env)
            except OSError as exc:
                print(f"pg_cluster: cannot run {command[0]!r}: {exc}", file=sys.stderr)
                return 127
            returncode = _wait(signals.child, signals)
        finally:
            cluster.stop()
            print(
                f"pg_cluster: stopped and removed in {cluster.timings['stop']:.2f} s",
                file=sys.stderr,
                flush=True,
            )
    if signals.received is not None:
        return 128 + signals.received
    return _exit_code(returncode)


def _wait(child: subprocess.Popen[bytes], signals: _Signals) -> int:
    """Wait for the command; once a signal was passed on, kill it after the grace period."""
    while True:
        try:
            return child.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            pass
        if signals.first_at is not None and time.monotonic() - signals.first_at > SIGNAL_GRACE:
            print(
                f"pg_cluster: the command did not exit within {SIGNAL_GRACE:.0f} s of the "
                "signal; killing it",
                file=sys.stderr,
            )
            child.kill()
            return child.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (see the module's docstring)."""
    args = list(sys.argv[1:] if argv is None else argv)
    command: list[str] | None = None
    if "--" in args:
        cut = args.index("--")
        args, command = args[:cut], args[cut + 1 :]
    parser = argparse.ArgumentParser(
        prog="pg_cluster.py",
        description=(__doc__ or "").split("\nIn Python", 1)[0],
        epilog="'pg_cluster.py run --help' describes the options of run.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="action", required=True, metavar="COMMAND")
    run_parser = commands.add_parser(
        "run",
        help="start a throwaway cluster, run CMD with QEXP_TEST_PG set, stop the cluster",
        description=(
            f"Start a throwaway PostgreSQL cluster on a free 127.0.0.1 port, run CMD with "
            f"{ENV_VAR}=postgresql://postgres@127.0.0.1:PORT/postgres in its environment, "
            "then stop the server and delete its directory (also on SIGINT, SIGTERM and "
            "SIGHUP, which are passed on to CMD). Exits with CMD's exit code (128+N when "
            "CMD died of, or the tool was interrupted by, signal N; 127 when CMD cannot be "
            "started), or 2 when no server could be provided (binaries missing or start "
            "failed)."
        ),
        usage="pg_cluster.py run [--bindir DIR] [--skip-if-missing] -- CMD [ARGS...]",
    )
    run_parser.add_argument(
        "--bindir",
        help=f"the directory of initdb, pg_ctl and postgres (default: ${BINDIR_VAR}, else "
        "PATH, pg_config --bindir, /usr/lib/postgresql/N/bin, /usr/pgsql-N/bin)",
    )
    run_parser.add_argument(
        "--skip-if-missing",
        action="store_true",
        help="when the binaries are missing, print a notice and exit 0 without running CMD "
        "(default: exit 2)",
    )
    run_parser.add_argument("command", nargs=argparse.REMAINDER, help="CMD [ARGS...]")
    options = parser.parse_args(args)
    if command is None:
        command = list(options.command)
    elif options.command:
        parser.error(f"unexpected arguments before '--': {' '.join(options.command)}")
    return run(command, bindir=options.bindir, skip_if_missing=options.skip_if_missing)


if __name__ == "__main__":
    sys.exit(main())
