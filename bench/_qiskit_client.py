"""The real sync client as a contender: ``qiskit-ibm-experiment`` 0.4.8's own bulk calls.

Run with the interpreter of an environment of its own that has ``qiskit-ibm-experiment``
installed (``nox -s bench`` makes one); standard library only besides that client, so it
imports nothing of ``bench._common``::

    PYTHON -m bench._qiskit_client --url URL --results N --figures M [--threads 100]

Login happens before the clock starts. The timed phase is ``create_experiment``, then
``create_analysis_results(data, max_workers=threads)`` and ``create_figures(exp_id, figures,
max_workers=threads)``: the calls a user of that client would make, with its default of 100
threads. Prints one JSON line: wall, requests (counted at ``requests``' adapter, so retries
show), CPU (``getrusage``, every thread), peak RSS, failures.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import threading
import time
import uuid
from typing import Any


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def make_svg(index: int, size: int = 20 * 1024) -> bytes:
    """The same 20 KB SVG documents as ``bench._bulk_client.make_svg``."""
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="400" height="300"><!-- figure {index} -->'
    ).encode()
    tail = b"</svg>"
    rect = b'<rect x="10" y="10" width="20" height="20" fill="#3366cc"/>'
    room = max(0, size - len(head) - len(tail))
    body = rect * (room // len(rect))
    body += b" " * (room - len(body))
    return head + body + tail


def run(url: str, n_results: int, n_figures: int, threads: int) -> dict[str, Any]:
    """Log in, then time the bulk calls."""
    import requests.adapters
    from qiskit_ibm_experiment import (  # type: ignore[import-not-found]
        AnalysisResultData,
        ExperimentData,
        IBMExperimentService,
        ResultQuality,
    )

    logging.getLogger("qiskit_ibm_experiment").setLevel(logging.CRITICAL)
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    counter = [0]
    lock = threading.Lock()
    send = requests.adapters.HTTPAdapter.send

    def counting(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            counter[0] += 1
        return send(self, request, *args, **kwargs)

    requests.adapters.HTTPAdapter.send = counting  # type: ignore[method-assign]

    service = IBMExperimentService(token="bench-token", url=url)
    exp_id = str(uuid.uuid4())
    results = [
        AnalysisResultData(
            result_id=str(uuid.uuid4()),
            experiment_id=exp_id,
            result_type="T1",
            result_data={"value": 1.0e-5 * (i + 1)},
            device_components=[f"Q{i % 5}"],
            quality=ResultQuality.GOOD,
            verified=False,
        )
        for i in range(n_results)
    ]
    figures = [(make_svg(i), f"figure_{i:04d}.svg") for i in range(n_figures)]
    counter[0] = 0
    cpu0 = _cpu_s()
    t0 = time.perf_counter()
    service.create_experiment(
        ExperimentData(experiment_id=exp_id, experiment_type="T1", backend="ibmq_lima")
    )
    status = service.create_analysis_results(results, blocking=True, max_workers=threads)
    failures = len(status["fail"])
    if figures:
        status = service.create_figures(exp_id, figures, blocking=True, max_workers=threads)
        failures += len(status["fail"])
    wall = time.perf_counter() - t0
    cpu = _cpu_s() - cpu0
    requests_sent = counter[0]
    return {
        "contender": f"qiskit-ibm-experiment-{threads}",
        "wall_s": wall,
        "requests": requests_sent,
        "req_per_s": requests_sent / wall,
        "cpu_s": cpu,
        "cpu_ms_per_req": 1000 * cpu / requests_sent if requests_sent else float("nan"),
        "cpu_total_s": _cpu_s(),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "failures": failures,
        "refusals": 0,
    }


def main(argv: list[str]) -> int:
    """Parse, run, print the JSON result."""
    p = argparse.ArgumentParser(prog="python -m bench._qiskit_client")
    p.add_argument("--url", required=True)
    p.add_argument("--results", type=int, required=True)
    p.add_argument("--figures", type=int, required=True)
    p.add_argument("--threads", type=int, default=100)
    args = p.parse_args(argv)
    out = run(args.url, args.results, args.figures, args.threads)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
