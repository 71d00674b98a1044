"""``python -m bench [--quick] [--qiskit-python PYTHON] [bulk_save|paging|stream|contest|dropin|
blobs|auth|shared ...]``: run the benchmarks.

Without scenario names every scenario runs. ``--quick`` is a smoke run of about a minute
(smaller counts, fewer contenders, one repetition). Tables go to stdout, progress to stderr;
each scenario also writes ``bench/results/<scenario>.json``.
"""

from __future__ import annotations

import argparse
import sys
import time

from . import auth, blobs, bulk_save, contest, dropin, paging, shared, stream
from ._common import log, mark_start

SCENARIOS = {
    "bulk_save": bulk_save.run,
    "paging": paging.run,
    "stream": stream.run,
    "contest": contest.run,
    "dropin": dropin.run,
    "blobs": blobs.run,
    "auth": auth.run,
    "shared": shared.run,
}


def main(argv: list[str] | None = None) -> int:
    """Run the chosen scenarios."""
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("scenarios", nargs="*", choices=[*SCENARIOS, []], metavar="SCENARIO")
    p.add_argument("--quick", action="store_true", help="a one-minute smoke run")
    p.add_argument(
        "--qiskit-python",
        default=None,
        help="the interpreter of an environment with qiskit-ibm-experiment 0.4.8 (the contest "
        "scenario's sync contender; default $QEXP_BENCH_QISKIT_PYTHON)",
    )
    args = p.parse_args(argv)
    names = args.scenarios or list(SCENARIOS)
    t0 = time.monotonic()
    for name in names:
        started = time.monotonic()
        mark_start()
        if name == "contest":
            contest.run(quick=args.quick, qiskit=args.qiskit_python)
        else:
            SCENARIOS[name](quick=args.quick)
        log(f"{name} done in {time.monotonic() - started:.0f} s")
    log(f"all done in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
