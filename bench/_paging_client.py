"""Scenario 2 (paging), the client side: iterate N stored experiments in a fresh process.

``iter``: ``async for`` over ``iter_experiments(experiment_type=T, page_size=P)``, counting;
``list``: ``await experiments(limit=None, experiment_type=T)``, then ``len``.
Reports wall time, the RSS growth over the iteration (peak RSS sampled every 5 ms by a
thread, minus the RSS at the start) and, with ``--tracemalloc``, the peak of Python
allocations during the iteration (tracemalloc slows the client, so wall time is taken from
the run without it).
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from typing import Any

from ._common import TOKEN, RssSampler, measure_self


async def _run(
    method: str, url: str, exp_type: str, expect: int, page_size: int | None, trace: bool
) -> dict[str, Any]:
    from async_qexp import Provider

    async with Provider(TOKEN, url) as provider:
        service = provider.experiment
        # Warm up the connection and the code paths on one small page.
        await service.experiments(limit=1, experiment_type=exp_type)
        if trace:
            tracemalloc.start()
        cpu0 = measure_self()["cpu_s"]
        t0 = time.perf_counter()
        pages = 0
        with RssSampler() as rss:
            if method == "iter":
                count = 0
                pager = service.iter_experiments(experiment_type=exp_type, page_size=page_size)
                async with pager:
                    async for _ in pager:
                        count += 1
                pages = pager.pages_fetched
            else:
                items = await service.experiments(limit=None, experiment_type=exp_type)
                count = len(items)
                del items
        wall = time.perf_counter() - t0
        cpu = measure_self()["cpu_s"] - cpu0
        peak_traced = None
        if trace:
            peak_traced = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        return {
            "method": method,
            "page_size": page_size,
            "expect": expect,
            "count": count,
            "pages": pages,
            "wall_s": wall,
            "items_per_s": count / wall if wall else float("nan"),
            "cpu_s": cpu,
            "rss_start_mb": rss.start_mb,
            "rss_peak_mb": rss.peak_mb,
            "rss_growth_mb": rss.growth_mb,
            "process_peak_rss_mb": measure_self()["peak_rss_mb"],
            "cpu_total_s": measure_self()["cpu_s"],
            "tracemalloc_peak_mb": peak_traced,
        }


def run(
    method: str, url: str, exp_type: str, expect: int, page_size: int | None, trace: bool
) -> dict[str, Any]:
    """Run one paging measurement in this process."""
    return asyncio.run(_run(method, url, exp_type, expect, page_size, trace))
