"""Scenario 3 (stream), the client side: run the ``burst`` program and ``async for`` its messages.

Each message is ``{"i": i, "t": <publish time, time.time() in the program>}``; the latency of a
message is the ``time.time()`` at which the iterator yields it minus ``t`` (same machine, same
clock). The program's final result (``{"count", "elapsed"}``) arrives last and is not counted.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ._common import TOKEN, RssSampler, measure_self, percentile


async def _run(url: str, count: int, rate: float, timeout: float) -> dict[str, Any]:
    from async_qexp import Provider

    async with Provider(TOKEN, url) as provider:
        inputs: dict[str, Any] = {"count": count}
        if rate:
            inputs["rate"] = rate
        rss = RssSampler()
        rss.__enter__()
        cpu0 = measure_self()["cpu_s"]
        t_submit = time.time()
        job = await provider.runtime.run(
            "burst", options={"backend_name": "emulator_simulator"}, inputs=inputs
        )
        latencies: list[float] = []
        first = last = None
        final: Any = None
        backlog = 0
        async with asyncio.timeout(timeout):
            async with job.stream_results() as stream:
                queue = getattr(stream, "_queue", None)  # diagnostics only
                async for message in stream:
                    now = time.time()
                    if isinstance(message, dict) and "i" in message and "t" in message:
                        latencies.append(now - float(message["t"]))
                        if first is None:
                            first = now
                        last = now
                        if queue is not None:
                            backlog = max(backlog, queue.qsize())
                    else:
                        final = message
        cpu = measure_self()["cpu_s"] - cpu0
        rss.__exit__()
        n = len(latencies)
        span = (last - first) if first is not None and last is not None else float("nan")
        ms = [x * 1000 for x in latencies]
        elapsed = final.get("elapsed") if isinstance(final, dict) else None
        return {
            "count": count,
            "rate": rate,
            "received": n,
            "msgs_per_s": (n - 1) / span if n > 1 and span > 0 else float("nan"),
            "submit_to_last_s": (last - t_submit) if last is not None else float("nan"),
            "program_publish_s": elapsed,
            "program_msgs_per_s": count / elapsed if elapsed else None,
            "latency_p50_ms": percentile(ms, 50),
            "latency_p99_ms": percentile(ms, 99),
            "latency_max_ms": max(ms) if ms else float("nan"),
            "max_backlog": backlog,
            "cpu_s": cpu,
            "cpu_us_per_msg": 1e6 * cpu / n if n else float("nan"),
            "rss_start_mb": rss.start_mb,
            "rss_peak_mb": rss.peak_mb,
            "rss_growth_mb": rss.growth_mb,
            "process_peak_rss_mb": measure_self()["peak_rss_mb"],
        }


def run(url: str, count: int, rate: float, timeout: float) -> dict[str, Any]:
    """Run one stream measurement in this process."""
    return asyncio.run(_run(url, count, rate, timeout))
