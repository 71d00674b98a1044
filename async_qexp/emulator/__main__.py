"""``python -m async_qexp.emulator``: run the emulator until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from .config import EmulatorConfig
from .faults import FAULT_SETTINGS, FaultSettings
from .server import serve


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
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    p.add_argument("--db", default=None, help="SQLite file (default: in-memory)")
    p.add_argument("--users", default=None, help="users JSON file")
    p.add_argument("--devices", default=None, help="devices JSON file")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--max-body-bytes", type=int, default=32 * 1024 * 1024)
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
    return p.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    """Serve until SIGINT/SIGTERM."""
    config = EmulatorConfig(
        db=args.db,
        users=args.users,
        devices=args.devices,
        latency_ms=args.latency_ms,
        max_body_bytes=args.max_body_bytes,
        host=args.host,
        port=args.port,
        faults=FaultSettings(**{name: getattr(args, name) for name in FAULT_SETTINGS}),
        runtime=not args.no_runtime,
        runtime_backends=[b for b in args.runtime_backends.split(",") if b.strip()],
        runtime_concurrency=args.runtime_concurrency,
        runtime_program_dirs=args.program_dir,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with serve(config) as emu:
            print(f"listening on {emu.url}", flush=True)
            await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Entry point; returns the exit code (``prog``: the command's name in help and errors,
    for ``qexp emulator``)."""
    args = parse_args(argv, prog)
    try:
        asyncio.run(run(args))
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
