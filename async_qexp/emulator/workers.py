"""Several emulator processes on one port: ``python -m async_qexp.emulator --workers N``.

The **supervisor** (the process started by the user) binds the listening socket once, then
starts N **workers**, each ``python -m async_qexp.emulator <the same arguments> --worker-of
<supervisor pid> --listen-fd <fd> --ready-fd <fd>``, with the socket inherited. Each worker is
a whole emulator (its own database connection and runtime manager) that serves on the shared
socket; the kernel hands each new connection to one of them. The workers share their state
through the database only, which is why several of them need PostgreSQL.

* **Readiness**: a worker writes one line to its ``--ready-fd`` pipe once it serves; the
  supervisor prints ``listening on URL`` when every worker has.
* **Numbering**: a worker's number (1 to N) is in ``QEXP_EMULATOR_WORKER``; its responses
  carry it in ``X-Emulator-Worker``.
* **Restarts**: a worker that exits while the supervisor runs is started again after a short
  backoff (doubling from :data:`RESTART_BACKOFF` up to :data:`RESTART_BACKOFF_MAX`). More
  than :data:`MAX_RESTARTS_PER_MINUTE` restarts of one worker within a minute is a crash
  loop: the supervisor stops everything and exits with status 1.
* **Stopping**: on SIGTERM or SIGINT the supervisor closes its copy of the socket, sends
  SIGTERM to every worker (each stops gracefully, see :func:`~.server.serve`) and waits
  ``--shutdown-timeout`` plus :data:`STOP_GRACE` seconds before it kills those left.
* **Orphans**: a worker's stdin is a pipe from the supervisor that stays open and silent; its
  end of file means the supervisor is gone (even after ``kill -9``), and Linux also sends the
  worker SIGTERM then (``PR_SET_PDEATHSIG``). The worker then stops gracefully by itself,
  and exits anyway :data:`STOP_GRACE` seconds after its shutdown timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import ctypes
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from .server import _listen, base_url
from .store import is_postgres_url

__all__ = [
    "MAX_RESTARTS_PER_MINUTE",
    "READY_TIMEOUT",
    "RESTART_BACKOFF",
    "RESTART_BACKOFF_MAX",
    "SQLITE_WORKERS_ENV",
    "STOP_GRACE",
    "WORKER_ENV",
    "die_with_parent",
    "is_postgres_url",
    "report_ready",
    "supervise",
    "workers_problem",
]

WORKER_ENV = "QEXP_EMULATOR_WORKER"
"""The environment variable that gives a worker its number (1 to N)."""

SQLITE_WORKERS_ENV = "QEXP_EMULATOR_ALLOW_SQLITE_WORKERS"
"""Set to ``1``, lets ``--workers N`` run on a SQLite file with ``--no-runtime`` (for the
tests of the process model; SQLite in WAL mode copes with a few processes)."""

READY_TIMEOUT = 60.0
"""Seconds a worker has to start serving before the supervisor gives up on it."""

RESTART_BACKOFF = 0.2
"""Seconds before the first restart of a worker that died; doubled for each further restart
within a minute."""

RESTART_BACKOFF_MAX = 5.0
"""The longest wait before a restart."""

MAX_RESTARTS_PER_MINUTE = 5
"""Restarts of one worker within 60 s beyond which the supervisor gives up (a crash loop)."""

STOP_GRACE = 5.0
"""Seconds beyond ``--shutdown-timeout`` a stopping worker gets before it is killed."""

_PR_SET_PDEATHSIG = 1


def workers_problem(workers: int, db: str | None, runtime: bool) -> str | None:
    """Why ``--workers`` cannot be served on ``db``, or ``None`` when it can."""
    if workers < 1:
        return "--workers must be >= 1"
    if workers == 1 or is_postgres_url(db):
        return None
    if os.environ.get(SQLITE_WORKERS_ENV) == "1":
        if db is None or db == ":memory:" or runtime:
            return f"{SQLITE_WORKERS_ENV}=1 needs --db FILE and --no-runtime"
        return None
    return "several workers share one database: give --db postgresql://..."


# -- the worker's side ---------------------------------------------------------------------------


def die_with_parent(parent: int, on_gone: Callable[[], None], shutdown_timeout: float) -> None:
    """Call ``on_gone`` (on the running loop) when the supervisor ``parent`` is gone, and exit
    the process :data:`STOP_GRACE` seconds after ``shutdown_timeout`` if it is still there then.

    Two signs: end of file on stdin (a pipe the supervisor keeps open), and SIGTERM, which Linux
    sends when the parent dies (``PR_SET_PDEATHSIG``; SIGTERM is the worker's stop signal
    anyway). A parent already gone counts at once.
    """
    loop = asyncio.get_running_loop()
    gone = False

    def parent_gone() -> None:
        nonlocal gone
        if gone:
            return
        gone = True
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(0)
        timer = threading.Timer(shutdown_timeout + STOP_GRACE, os._exit, (1,))
        timer.daemon = True
        timer.start()
        on_gone()

    def stdin_readable() -> None:
        try:
            data = os.read(0, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            parent_gone()

    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
            pass
    with contextlib.suppress(ValueError, OSError, NotImplementedError):  # (no stdin to watch)
        loop.add_reader(0, stdin_readable)
    if os.getppid() != parent:  # it died before the watch began
        parent_gone()


def report_ready(fd: int) -> None:
    """Tell the supervisor that this worker serves (one line on ``fd``, then closed)."""
    try:
        os.write(fd, b"ready\n")
    finally:
        os.close(fd)


# -- the supervisor ------------------------------------------------------------------------------


def _say(text: str) -> None:
    print(f"emulator: {text}", file=sys.stderr, flush=True)


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"status {code}"


class _CrashLoop(Exception):
    """A worker died too often: the supervisor stops."""


class _Supervisor:
    """The N workers of one ``--workers N`` run."""

    def __init__(
        self,
        argv: Sequence[str],
        count: int,
        sock: socket.socket,
        shutdown_timeout: float,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.argv = list(argv)
        self.count = count
        self.sock = sock
        self.shutdown_timeout = shutdown_timeout
        self.extra_args = list(extra_args)
        self.stopping = asyncio.Event()
        self.procs: dict[int, asyncio.subprocess.Process] = {}
        self.ready: dict[int, asyncio.Event] = {i: asyncio.Event() for i in range(1, count + 1)}
        self.failure: BaseException | None = None

    async def _start(self, index: int) -> asyncio.subprocess.Process:
        """Start worker ``index`` and wait until it serves; ``RuntimeError`` if it does not."""
        read_fd, write_fd = os.pipe()
        try:
            env = {**os.environ, WORKER_ENV: str(index)}
            args = [
                *self.argv,
                "--worker-of",
                str(os.getpid()),
                "--listen-fd",
                str(self.sock.fileno()),
                "--ready-fd",
                str(write_fd),
                *self.extra_args,
            ]
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "async_qexp.emulator",
                *args,
                stdin=asyncio.subprocess.PIPE,
                pass_fds=(self.sock.fileno(), write_fd),
                env=env,
                start_new_session=True,  # the supervisor alone decides when the workers stop
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        self.procs[index] = proc
        try:
            line = await self._read_line(read_fd, READY_TIMEOUT)
        finally:
            os.close(read_fd)
        if line != b"ready\n":
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            code = await _reap(proc)
            why = (
                "did not start" if line is None else f"stopped during start-up ({_exit_text(code)})"
            )
            raise RuntimeError(f"worker {index} {why}")
        return proc

    async def _read_line(self, fd: int, timeout: float) -> bytes | None:
        """The first line written to the pipe ``fd`` (``b""`` at end of file, ``None`` after
        ``timeout`` seconds or when the supervisor stops first)."""
        loop = asyncio.get_running_loop()
        os.set_blocking(fd, False)
        done: asyncio.Future[bytes] = loop.create_future()
        data = bytearray()

        def readable() -> None:
            try:
                chunk = os.read(fd, 64)
            except BlockingIOError:
                return
            data.extend(chunk)
            if (not chunk or b"\n" in data) and not done.done():
                done.set_result(bytes(data))

        loop.add_reader(fd, readable)
        stop = asyncio.ensure_future(self.stopping.wait())
        waited: set[asyncio.Future[Any]] = {done, stop}
        try:
            await asyncio.wait(waited, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            loop.remove_reader(fd)
            stop.cancel()
            await asyncio.gather(stop, return_exceptions=True)
        return done.result() if done.done() else None

    async def keep(self, index: int) -> None:
        """Run worker ``index`` until the supervisor stops, restarting it when it dies."""
        restarts: collections.deque[float] = collections.deque()
        first = True
        while not self.stopping.is_set():
            try:
                proc = await self._start(index)
            except RuntimeError:
                if self.stopping.is_set():
                    return
                if first:
                    raise
                proc = None
            if proc is not None:
                if first:
                    self.ready[index].set()
                else:
                    _say(f"worker {index} restarted (pid {proc.pid})")
                first = False
                code = await _reap(proc)
                if self.stopping.is_set():
                    return
                _say(f"worker {index} (pid {proc.pid}) exited unexpectedly ({_exit_text(code)})")
            now = time.monotonic()
            restarts.append(now)
            while restarts and restarts[0] < now - 60:
                restarts.popleft()
            if len(restarts) > MAX_RESTARTS_PER_MINUTE:
                raise _CrashLoop(
                    f"worker {index} died {len(restarts)} times within a minute: giving up"
                )
            delay = min(RESTART_BACKOFF * 2 ** (len(restarts) - 1), RESTART_BACKOFF_MAX)
            _say(f"restarting worker {index} in {delay:g} s")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)

    async def stop_workers(self) -> None:
        """SIGTERM every worker; kill those still running after the shutdown timeout and
        :data:`STOP_GRACE`."""
        procs = [p for p in self.procs.values() if p.returncode is None]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        waits = [asyncio.ensure_future(_reap(p)) for p in procs]
        if not waits:
            return
        _, pending = await asyncio.wait(waits, timeout=self.shutdown_timeout + STOP_GRACE)
        if pending:
            _say(f"killing {len(pending)} worker(s) still stopping")
            for proc in procs:
                if proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
        await asyncio.gather(*waits)


async def _reap(proc: asyncio.subprocess.Process) -> int:
    """Wait for a worker to exit and close the pipe to its stdin; return its status."""
    code = await proc.wait()
    stdin = proc.stdin
    if stdin is not None:
        stdin.close()
        with contextlib.suppress(OSError):
            await stdin.wait_closed()
    return code


async def supervise(
    args: argparse.Namespace,
    argv: Sequence[str],
    certfile: str | None = None,
    keyfile: str | None = None,
) -> int:
    """Serve ``args`` (parsed from ``argv``) with ``args.workers`` worker processes until
    SIGINT or SIGTERM; return the exit status (1 when the workers cannot start or crash in a
    loop). ``certfile`` and ``keyfile`` replace ``--tls-self-signed`` in the workers."""
    extra: list[str] = []
    if certfile is not None and keyfile is not None:
        extra = ["--worker-tls-cert", certfile, "--worker-tls-key", keyfile]
    tls = certfile is not None or args.tls_cert is not None
    sock = _listen(args.host, args.port)
    supervisor = _Supervisor(argv, args.workers, sock, args.shutdown_timeout, extra)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, supervisor.stopping.set)
    keepers = {
        i: asyncio.create_task(supervisor.keep(i), name=f"qexp-worker-{i}")
        for i in range(1, args.workers + 1)
    }
    status = 0
    try:
        all_ready = asyncio.ensure_future(
            asyncio.gather(*(e.wait() for e in supervisor.ready.values()))
        )
        stopping = asyncio.ensure_future(supervisor.stopping.wait())
        ends: set[asyncio.Future[Any]] = {stopping, *keepers.values()}
        try:
            await asyncio.wait({all_ready, *ends}, return_when=asyncio.FIRST_COMPLETED)
            if all_ready.done() and not supervisor.stopping.is_set():
                print(f"listening on {base_url(sock, tls)}", flush=True)
                await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for future in (all_ready, stopping):
                future.cancel()
            await asyncio.gather(all_ready, stopping, return_exceptions=True)
        for task in keepers.values():
            if task.done() and task.exception() is not None:
                exc = task.exception()
                _say(f"error: {exc}")
                status = 1
    finally:
        supervisor.stopping.set()
        sock.close()  # (the workers hold their own copies until they stop)
        try:
            await supervisor.stop_workers()
            results = await asyncio.gather(*keepers.values(), return_exceptions=True)
            if status == 0 and any(isinstance(r, BaseException) for r in results):
                status = 1
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
    return status
