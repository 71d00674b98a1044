"""One measurement in a fresh process: ``python -m bench.contender KIND ...``; prints one JSON line.

Kinds:

* ``bulk NAME --url URL --results N --figures M --concurrency C`` (scenario 1; NAME is one of
  ``bench._bulk_client.CONTENDERS``),
* ``paging METHOD --url URL --type TYPE --expect N [--page-size P] [--tracemalloc]``
  (scenario 2; METHOD is ``iter`` or ``list``),
* ``stream --url URL --count N [--rate R]`` (scenario 3).
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str]) -> int:
    """Parse, run, print the JSON result."""
    p = argparse.ArgumentParser(prog="python -m bench.contender")
    sub = p.add_subparsers(dest="kind", required=True)

    b = sub.add_parser("bulk")
    b.add_argument("name")
    b.add_argument("--url", required=True)
    b.add_argument("--results", type=int, required=True)
    b.add_argument("--figures", type=int, required=True)
    b.add_argument("--concurrency", type=int, default=64)

    g = sub.add_parser("paging")
    g.add_argument("method", choices=["iter", "list"])
    g.add_argument("--url", required=True)
    g.add_argument("--type", required=True)
    g.add_argument("--expect", type=int, required=True)
    g.add_argument("--page-size", type=int, default=None)
    g.add_argument("--tracemalloc", action="store_true")

    s = sub.add_parser("stream")
    s.add_argument("--url", required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--rate", type=float, default=0.0)
    s.add_argument("--timeout", type=float, default=300.0)

    args = p.parse_args(argv)
    if args.kind == "bulk":
        from ._bulk_client import run

        out = run(args.name, args.url, args.results, args.figures, args.concurrency)
    elif args.kind == "paging":
        from ._paging_client import run as run_paging

        out = run_paging(
            args.method, args.url, args.type, args.expect, args.page_size, args.tracemalloc
        )
    else:
        from ._stream_client import run as run_stream

        out = run_stream(args.url, args.count, args.rate, args.timeout)
    print(json.dumps(out, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
