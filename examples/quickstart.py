"""Quickstart: store an experiment with analysis results and a figure, then query them back.

With no ``QEXP_TOKEN`` in the environment it runs against the embedded emulator (a real
HTTP server on a loopback port, in this process); with ``QEXP_TOKEN`` (and optionally
``QEXP_URL``) it talks to that service instead.

    python examples/quickstart.py
"""

from __future__ import annotations

import asyncio
import math
import random
import time

import async_qexp
from async_qexp import Provider, ResultQuality

BACKEND = "ibmq_lima"
QUBITS = range(5)


def decay_svg(t1_us: float) -> bytes:
    """A small SVG of an exponential decay, standing in for a real plot."""
    points = " ".join(
        f"{10 + x * 3:.1f},{110 - 100 * math.exp(-x * 2 / t1_us):.1f}" for x in range(0, 101, 5)
    )
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="120">'
        f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{points}"/>'
        f'<text x="200" y="20" font-size="12">T1 = {t1_us:.1f} us</text></svg>'
    ).encode()


async def main() -> None:
    """Run the example."""
    rng = random.Random(7)
    started = time.perf_counter()
    async with Provider.auto() as provider:
        service = provider.experiment
        where = "embedded emulator" if provider.emulator else provider.account.auth_url
        print(f"async_qexp {async_qexp.__version__} — connected to the {where}")
        print(f"  user {provider.account.user_id}, working in {provider.hgp}\n")

        # 1. An experiment, and one T1 analysis result per qubit, stored concurrently.
        exp_id = await service.create_experiment(
            experiment_type="T1",
            backend_name=BACKEND,
            metadata={"qubits": list(QUBITS), "delays_us": [1, 5, 10, 50, 100]},
            tags=["quickstart", "calibration"],
            notes="T1 sweep over every qubit",
            share_level="project",
        )
        t1s = {q: rng.uniform(40, 120) for q in QUBITS}
        await asyncio.gather(
            *(
                service.create_analysis_result(
                    experiment_id=exp_id,
                    result_type="T1",
                    result_data={"value": t1, "stderr": t1 * 0.05, "unit": "us"},
                    device_components=[f"Q{q}"],
                    quality=ResultQuality.GOOD if t1 > 60 else ResultQuality.BAD,
                    chisq=rng.uniform(0.8, 1.6),
                    tags=["t1"],
                )
                for q, t1 in t1s.items()
            )
        )
        # 2. A figure, through the signed-URL upload.
        name, size = await service.create_figure(exp_id, decay_svg(t1s[0]), "T1_Q0.svg")

        # 3. Query it all back: filters, and lazy paging two results at a time.
        experiment = await service.experiment(exp_id)
        mine = await service.experiments(
            backend_name=BACKEND,
            tags=["quickstart"],
            experiment_type="T",
            experiment_type_operator="like",
        )
        good = await service.analysis_results(experiment_id=exp_id, quality=["good"], limit=None)
        pages = service.iter_analysis_results(
            experiment_id=exp_id, page_size=2, sort_by="device_components:asc"
        )
        results = [r async for r in pages]
        figure = await service.figure(exp_id, name)

        print(f"Experiment {experiment.experiment_id}")
        print(
            f"  type {experiment.experiment_type} on {experiment.backend_name}, "
            f"shared at '{experiment.share_level.value if experiment.share_level else '?'}' level"
        )
        print(
            f"  tags {', '.join(experiment.tags)}; created "
            f"{experiment.creation_datetime:%Y-%m-%d %H:%M:%S %Z}"
            if experiment.creation_datetime
            else ""
        )
        print(
            f"  figures: {', '.join(experiment.figure_names)} ({size} bytes uploaded, "
            f"{len(figure)} bytes read back)\n"
        )
        print(f"  {'qubit':<6} {'T1 (us)':>9} {'± (us)':>8} {'chi²':>6}  quality")
        for result in results:
            fit = result.result_data
            quality = result.quality.value.lower() if result.quality else "-"
            print(
                f"  {result.device_components[0]:<6} {fit['value']:>9.1f} {fit['stderr']:>8.1f} "
                f"{result.chisq or 0:>6.2f}  {quality}"
            )
        print(
            f"\n  read {len(results)} results in {pages.pages_fetched} pages of 2; "
            f"{len(good)} of good quality; {len(mine)} matching experiment(s) on {BACKEND}"
        )

        await service.delete_experiment(exp_id)
        gone = not await service.experiments(tags=["quickstart"], limit=None)
        print(f"  cleaned up: experiment deleted (with its results and figure): {gone}")
    print(f"\nDone in {time.perf_counter() - started:.2f} s.")


if __name__ == "__main__":
    asyncio.run(main())
