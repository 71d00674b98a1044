"""``python -m async_qexp.emulator``: run the emulator until SIGINT or SIGTERM;
``python -m async_qexp.emulator users ...`` manages the users in its database (:mod:`.users`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import math
import os
import signal
import socket
import sys
import tempfile

from .config import ACCEPT_FLAG, SYNCHRONOUS_LEVELS, EmulatorConfig, exposure_problem
from .faults import FAULT_SETTINGS, FaultSettings
from .server import serve
from .tls import DEFAULT_HOSTS, self_signed
from .workers import WORKER_ENV, die_with_parent, report_ready, supervise, workers_problem

YOUNG_GC_THRESHOLD = 20_000
"""Allocations between two collections of the youngest generation in the emulator's own
process (Python's default is 700)."""


def tune_collector() -> None:
    """Make the cyclic garbage collector cheaper for a server process that has started.

    A request of the emulator leaves no reference cycles behind, so a collection finds
    nothing to free; with Python's defaults the collector still ran every ~13 requests and
    took about a seventh of the server's CPU. Objects made during start-up are moved out of
    the collector's sight for good (``gc.freeze``), and the youngest generation is collected
    every ``YOUNG_GC_THRESHOLD`` allocations. Only for a process of its own: an emulator
    embedded in an application leaves that application's collector alone.
    """
    gc.freeze()
    gc.set_threshold(YOUNG_GC_THRESHOLD, *gc.get_threshold()[1:])


def _number(text: str) -> float | int:
    try:
        return int(text)
    except ValueError:
        return float(text)


def parse_args(argv: list[str] | None = None, prog: str | None = None) -> argparse.Namespace:
    """Parse the command line (``prog``: the command's name in help and errors)."""
    p = argparse.ArgumentParser(
        prog=prog or "python -m async_qexp.emulator",
        description="Local emulator of the IBM Quantum experiment and runtime services.",
        epilog=f"'{prog or 'python -m async_qexp.emulator'} users --help': the users kept in "
        "--db (once it has users, only their API tokens log in).",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    p.add_argument(
        "--db",
        default=None,
        help="SQLite file (default: in-memory), or a postgresql:// URL (needed by --workers)",
    )
    p.add_argument(
        "--blobs",
        default=None,
        metavar="DIR",
        help="keep the bytes of figures and files in this existing, writable directory (one "
        "file per content, named by its SHA-256, synced before the database row that points at "
        "it commits) instead of in the database; needs --db. Back up the database and DIR "
        "together",
    )
    p.add_argument("--users", default=None, help="users JSON file")
    p.add_argument("--devices", default=None, help="devices JSON file")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--max-body-bytes", type=int, default=32 * 1024 * 1024)
    p.add_argument(
        "--capacity",
        type=int,
        default=None,
        metavar="N",
        help="serve N requests at once; as many more wait (--capacity-queue), and the rest "
        "are answered 429 with Retry-After (--capacity-retry-after)",
    )
    p.add_argument("--capacity-queue", type=int, default=None, metavar="N")
    p.add_argument("--capacity-retry-after", type=float, default=1.0, metavar="SECONDS")
    for status in (500, 503, 429):
        p.add_argument(f"--error-rate-{status}", type=float, default=0.0)
    p.add_argument("--retry-after", type=_number, default=1, help="seconds (may be fractional)")
    p.add_argument("--drop-rate", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument(
        "--runtime-backends",
        default="emulator_simulator,ibmq_qasm_simulator",
        help="comma-separated backends of the runtime service",
    )
    p.add_argument(
        "--runtime-concurrency", type=int, default=5, help="running jobs per backend at once"
    )
    p.add_argument(
        "--program-dir",
        action="append",
        default=[],
        help="directory of *.py runtime programs to seed as public (repeatable)",
    )
    p.add_argument("--no-runtime", action="store_true", help="do not serve /runtime")
    p.add_argument(
        "--no-program-upload",
        action="store_true",
        help="refuse program uploads (403): only the built-in and --program-dir programs run",
    )
    p.add_argument(
        "--synchronous",
        choices=SYNCHRONOUS_LEVELS,
        default="normal",
        help="SQLite durability of --db: normal (default; a power failure may lose the last "
        "commits, never corrupts) or full (every answered write is on disk: a record store)",
    )
    p.add_argument(
        ACCEPT_FLAG,
        dest="accept_remote_risk",
        action="store_true",
        help="listen on a non-loopback --host even without --users or with program upload on, "
        "where anyone reaching the port may log in or run Python on this host (see the "
        "README's security note)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="serve the port from N processes (default 1); N > 1 needs --db postgresql://...: "
        "the workers share everything through the database. A worker that dies is restarted",
    )
    p.add_argument(
        "--shutdown-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="on SIGTERM or SIGINT, new connections are refused and GET /ready answers 503 at "
        "once; the requests in flight get this long to finish (default 10)",
    )
    # The supervisor of --workers starts each worker with these (not for people).
    p.add_argument("--worker-of", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--listen-fd", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--ready-fd", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--worker-tls-cert", default=None, help=argparse.SUPPRESS)
    p.add_argument("--worker-tls-key", default=None, help=argparse.SUPPRESS)
    tls = p.add_argument_group(
        "TLS",
        "Serve https:// and wss:// instead of http:// and ws:// (the old qiskit-ibmq-provider "
        "streams runtime results only from an https runtime URL).",
    )
    tls.add_argument("--tls-cert", metavar="FILE", help="PEM certificate (chain) of the server")
    tls.add_argument("--tls-key", metavar="FILE", help="PEM private key of --tls-cert")
    tls.add_argument(
        "--tls-self-signed",
        action="store_true",
        help="make a throw-away authority and a certificate for localhost, 127.0.0.1, ::1 and "
        "--host (with the cryptography package, else the openssl command) in a temporary "
        "directory removed on exit; prints 'tls ca FILE' (the certificate a client must trust, "
        "e.g. through REQUESTS_CA_BUNDLE and SSL_CERT_FILE) before 'listening on'",
    )
    args = p.parse_args(argv)
    if (args.tls_cert is None) != (args.tls_key is None):
        p.error("--tls-cert and --tls-key go together")
    if args.tls_self_signed and args.tls_cert:
        p.error("--tls-self-signed replaces --tls-cert and --tls-key")
    if not (math.isfinite(args.shutdown_timeout) and args.shutdown_timeout >= 0):
        p.error("--shutdown-timeout must be a number of seconds >= 0")
    problem = workers_problem(args.workers, args.db, not args.no_runtime)
    if problem is not None:
        p.error(problem)
    worker_fds = (args.worker_of, args.listen_fd, args.ready_fd)
    if any(x is not None for x in worker_fds) and any(x is None for x in worker_fds):
        p.error("--worker-of, --listen-fd and --ready-fd go together")
    return args


async def run(
    args: argparse.Namespace, certfile: str | None = None, keyfile: str | None = None
) -> None:
    """Serve until SIGINT/SIGTERM (over TLS with ``certfile`` and ``keyfile``, else with
    ``--tls-cert`` and ``--tls-key`` if given); as a worker of ``--workers`` (``--worker-of``),
    on the inherited socket, until the supervisor stops it or is gone."""
    worker = args.worker_of is not None
    worker_index = None
    if worker:
        text = os.environ.get(WORKER_ENV, "")
        if not text.isdigit() or int(text) < 1:
            raise ValueError(f"a worker needs its number (1, 2 ...) in {WORKER_ENV}")
        worker_index = int(text)
    config = EmulatorConfig(
        db=args.db,
        users=args.users,
        devices=args.devices,
        latency_ms=args.latency_ms,
        max_body_bytes=args.max_body_bytes,
        capacity=args.capacity,
        capacity_queue=args.capacity_queue,
        capacity_retry_after=args.capacity_retry_after,
        host=args.host,
        port=args.port,
        faults=FaultSettings(**{name: getattr(args, name) for name in FAULT_SETTINGS}),
        runtime=not args.no_runtime,
        runtime_backends=[b for b in args.runtime_backends.split(",") if b.strip()],
        runtime_concurrency=args.runtime_concurrency,
        runtime_program_dirs=args.program_dir,
        tls_certfile=certfile or args.tls_cert,
        tls_keyfile=keyfile or args.tls_key,
        runtime_program_upload=not args.no_program_upload,
        accept_remote_risk=args.accept_remote_risk,
        synchronous=args.synchronous,
        shutdown_timeout=args.shutdown_timeout,
        worker_index=worker_index,
        blobs=args.blobs,
    )
    problem = exposure_problem(config)
    if problem is not None and not worker:  # (accepted, or the config would have refused)
        _warn_exposure(problem)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sock = None
    try:
        if worker:
            die_with_parent(args.worker_of, stop.set, args.shutdown_timeout)
            sock = socket.socket(fileno=args.listen_fd)
        async with serve(config, sock=sock) as emu:
            tune_collector()
            if worker:
                report_ready(args.ready_fd)
            else:
                print(f"listening on {emu.url}", flush=True)
            await stop.wait()
    finally:
        if sock is not None:
            sock.close()  # (closed already unless serve() failed to start)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _warn_exposure(problem: str) -> None:
    print(f"warning: {problem.replace('refusing to listen', 'listening')}", file=sys.stderr)


def _check_exposure(args: argparse.Namespace) -> None:
    """Refuse (``ValueError``) a dangerous non-loopback ``--host`` before anything is bound or
    created (the same rule as :class:`EmulatorConfig`, with no file read yet)."""
    EmulatorConfig(
        db=args.db,
        users=[] if args.users else None,
        host=args.host,
        runtime=not args.no_runtime,
        runtime_program_upload=not args.no_program_upload,
        accept_remote_risk=args.accept_remote_risk,
    )


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Entry point; returns the exit code (``prog``: the command's name in help and errors,
    for ``qexp emulator``)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["users"]:
        from .users import main as users_main

        return users_main(argv[1:], f"{prog or 'python -m async_qexp.emulator'} users")
    args = parse_args(argv, prog)
    status = 0
    try:
        _check_exposure(args)
        with contextlib.ExitStack() as stack:
            certfile = keyfile = None
            if args.worker_of is not None:
                certfile, keyfile = args.worker_tls_cert, args.worker_tls_key
            elif args.tls_self_signed:
                directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="qexp-tls-"))
                wildcard = args.host in ("", "0.0.0.0", "::")
                files = self_signed(directory, [*DEFAULT_HOSTS, *([] if wildcard else [args.host])])
                certfile, keyfile = files.cert, files.key
                print(f"tls ca {files.ca}", flush=True)
            if args.workers > 1 and args.worker_of is None:
                status = asyncio.run(_supervise(args, argv, certfile, keyfile))
            else:
                asyncio.run(run(args, certfile, keyfile))
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return status


async def _supervise(
    args: argparse.Namespace, argv: list[str], certfile: str | None, keyfile: str | None
) -> int:
    problem = exposure_problem(
        EmulatorConfig(
            users=[] if args.users else None,
            host=args.host,
            runtime=not args.no_runtime,
            runtime_program_upload=not args.no_program_upload,
            accept_remote_risk=True,
        )
    )
    if problem is not None:  # (accepted: _check_exposure would have refused)
        _warn_exposure(problem)
    return await supervise(args, argv, certfile, keyfile)


if __name__ == "__main__":
    sys.exit(main())
