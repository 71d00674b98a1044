"""A T1 experiment, end to end: run, stream, fit, plot, save, load.

1. Runs the ``t1-sim`` runtime program (a simulated T1 measurement) and prints each delay's
   counts as the program publishes them, over the websocket.
2. Adds the job to an ``ExperimentData``; an analysis callback fits the decay
   ``P1(t) = A·exp(-t/T1) + B`` by least squares (numpy when installed, plain Python otherwise),
   adds the T1 result with its error, reduced chi-squared and quality, and an SVG figure of
   the data and the fit.
3. Saves everything, loads the experiment back by id, and prints it.

With no ``QEXP_TOKEN`` it runs on the embedded emulator:

    python examples/t1_experiment.py
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence

from async_qexp import ExperimentData, Provider

DELAYS_US = [0, 5, 10, 20, 35, 50, 75, 100, 140, 200, 280]
TRUE_T1_US = 62.0
SHOTS = 2000


# -- fitting ---------------------------------------------------------------------------------


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """Solve a small linear system (numpy when installed, Gaussian elimination otherwise)."""
    try:
        import numpy as np
    except ImportError:
        n = len(vector)
        rows = [[*row, vector[i]] for i, row in enumerate(matrix)]
        for col in range(n):
            pivot = max(range(col, n), key=lambda r: abs(rows[r][col]))
            rows[col], rows[pivot] = rows[pivot], rows[col]
            for r in range(n):
                if r != col:
                    factor = rows[r][col] / rows[col][col]
                    rows[r] = [a - factor * b for a, b in zip(rows[r], rows[col], strict=True)]
        return [rows[i][n] / rows[i][i] for i in range(n)]
    return [float(x) for x in np.linalg.solve(np.array(matrix), np.array(vector))]


def _inverse(matrix: list[list[float]]) -> list[list[float]]:
    n = len(matrix)
    columns = [_solve(matrix, [1.0 if i == j else 0.0 for i in range(n)]) for j in range(n)]
    return [[columns[j][i] for j in range(n)] for i in range(n)]


def fit_decay(
    t: Sequence[float], y: Sequence[float], sigma: Sequence[float]
) -> tuple[list[float], list[float], float]:
    """Weighted least squares of ``A·exp(-t/T1) + B`` (Levenberg-Marquardt).

    Returns the parameters (A, T1, B), their standard errors, and the reduced chi-squared.
    """
    amplitude, offset = y[0] - y[-1], y[-1]
    target = offset + amplitude / math.e
    tau = next((ti for ti, yi in zip(t, y, strict=True) if yi <= target), t[-1] / 2) or 1.0
    params = [amplitude, float(tau), offset]
    weights = [1 / s**2 for s in sigma]

    def residuals(p: list[float]) -> list[float]:
        return [(yi - (p[0] * math.exp(-ti / p[1]) + p[2])) for ti, yi in zip(t, y, strict=True)]

    def chi2(p: list[float]) -> float:
        return sum(w * r * r for w, r in zip(weights, residuals(p), strict=True))

    damping = 1e-3
    for _ in range(200):
        a, tau1, _b = params
        jac = [[math.exp(-ti / tau1), a * ti / tau1**2 * math.exp(-ti / tau1), 1.0] for ti in t]
        res = residuals(params)
        jtj = [
            [sum(w * j[r] * j[c] for w, j in zip(weights, jac, strict=True)) for c in range(3)]
            for r in range(3)
        ]
        jtr = [
            sum(w * j[r] * e for w, j, e in zip(weights, jac, res, strict=True)) for r in range(3)
        ]
        damped = [[jtj[r][c] * (1 + damping if r == c else 1) for c in range(3)] for r in range(3)]
        step = _solve(damped, jtr)
        trial = [p + s for p, s in zip(params, step, strict=True)]
        if trial[1] > 0 and chi2(trial) < chi2(params):
            converged = max(abs(s) / (abs(p) + 1e-12) for s, p in zip(step, params, strict=True))
            params, damping = trial, damping / 10
            if converged < 1e-10:
                break
        else:
            damping *= 10
    dof = max(1, len(t) - 3)
    reduced = chi2(params) / dof
    a, tau1, _b = params
    jac = [[math.exp(-ti / tau1), a * ti / tau1**2 * math.exp(-ti / tau1), 1.0] for ti in t]
    jtj = [
        [sum(w * j[r] * j[c] for w, j in zip(weights, jac, strict=True)) for c in range(3)]
        for r in range(3)
    ]
    covariance = _inverse(jtj)
    errors = [math.sqrt(max(covariance[i][i], 0.0) * max(reduced, 1.0)) for i in range(3)]
    return params, errors, reduced


# -- the figure --------------------------------------------------------------------------------


def decay_svg(
    t: Sequence[float],
    y: Sequence[float],
    sigma: Sequence[float],
    params: Sequence[float],
    t1_error: float,
) -> str:
    """An SVG plot of the measured P(1) with error bars and the fitted curve."""
    width, height, left, right, top, bottom = 560, 340, 64, 24, 36, 52
    t_max = max(t) * 1.05

    def px(ti: float) -> float:
        return left + ti / t_max * (width - left - right)

    def py(yi: float) -> float:
        return top + (1.0 - yi) * (height - top - bottom)

    a, t1, b = params
    curve = " ".join(
        f"{px(x):.1f},{py(a * math.exp(-x / t1) + b):.1f}"
        for x in (t_max * i / 200 for i in range(201))
    )
    points = "".join(
        f'<line x1="{px(ti):.1f}" x2="{px(ti):.1f}" y1="{py(yi - si):.1f}" y2="{py(yi + si):.1f}" '
        f'stroke="#444"/><circle cx="{px(ti):.1f}" cy="{py(yi):.1f}" r="3.5" fill="#1f77b4"/>'
        for ti, yi, si in zip(t, y, sigma, strict=True)
    )
    ticks = "".join(
        f'<text x="{left - 8}" y="{py(v) + 4:.1f}" text-anchor="end">{v:.1f}</text>'
        f'<line x1="{left}" x2="{width - right}" y1="{py(v):.1f}" y2="{py(v):.1f}" stroke="#eee"/>'
        for v in (0.0, 0.25, 0.5, 0.75, 1.0)
    ) + "".join(
        f'<text x="{px(v):.1f}" y="{height - bottom + 18}" text-anchor="middle">{v:.0f}</text>'
        for v in range(0, int(t_max) + 1, 50)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">'
        f'<rect width="{width}" height="{height}" fill="white"/>{ticks}'
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" '
        'stroke="black"/>'
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="black"/>'
        f'<polyline fill="none" stroke="#d62728" stroke-width="2" points="{curve}"/>{points}'
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="15">'
        f"T1 = {t1:.1f} ± {t1_error:.1f} µs</text>"
        f'<text x="{width / 2}" y="{height - 12}" text-anchor="middle">delay (µs)</text>'
        f'<text x="16" y="{height / 2}" transform="rotate(-90 16 {height / 2})" '
        'text-anchor="middle">P(1)</text></svg>'
    )


# -- the analysis callback ---------------------------------------------------------------------


def analyse_t1(exp: ExperimentData) -> None:
    """Fit T1 from the job's counts; add the result and the figure (runs in a worker thread)."""
    datum = exp.data()[0]
    t = [float(d) for d in datum["delays"]]
    shots = datum["shots"]
    y = [c["1"] / shots for c in datum["counts"]]
    sigma = [max(math.sqrt(p * (1 - p) / shots), 1 / shots) for p in y]
    (a, t1, b), (_, t1_error, _), chisq = fit_decay(t, y, sigma)
    good = chisq < 3 and t1_error / t1 < 0.2
    exp.add_analysis_results(
        name="T1",
        value=t1,
        quality="good" if good else "bad",
        components=[f"Q{datum['qubit']}"],
        chisq=chisq,
        stderr=t1_error,
        unit="us",
    )
    exp.add_analysis_results(
        name="@Parameters_T1Analysis",
        value={"amp": a, "tau": t1, "base": b},
        components=[f"Q{datum['qubit']}"],
        chisq=chisq,
    )
    exp.add_figures(decay_svg(t, y, sigma, (a, t1, b), t1_error), f"T1_Q{datum['qubit']}")


# -- the run -----------------------------------------------------------------------------------


async def main() -> None:
    """Run the example."""
    started = time.perf_counter()
    async with Provider.auto() as provider:
        backend = "emulator_simulator"
        print(
            f"T1 experiment on {backend} ({'emulator' if provider.emulator else 'IBM Quantum'})\n"
        )
        job = await provider.runtime.run(
            "t1-sim",
            options={"backend_name": backend},
            inputs={"qubit": 0, "delays": DELAYS_US, "shots": SHOTS, "t1": TRUE_T1_US, "seed": 11},
        )
        async with ExperimentData(
            service=provider,
            experiment_type="T1",
            backend=backend,
            tags=["t1", "example"],
            metadata={"physical_qubits": [0], "device_components": ["Q0"], "shots": SHOTS},
        ) as exp:
            exp.add_jobs(job)
            exp.add_analysis_callback(analyse_t1)

            print(f"job {job.job_id}: streaming counts as they are measured")
            print(f"  {'delay (µs)':>10}  {'P(1)':>6}  counts")
            async with job.stream_results() as stream:
                async for message in stream:
                    if isinstance(message, dict) and "delay" in message:
                        ones = message["counts"]["1"]
                        bar = "█" * round(40 * ones / SHOTS)
                        print(f"  {message['delay']:>10.0f}  {ones / SHOTS:>6.3f}  {bar}")

            await exp.block_for_results(timeout=60)
            status = await exp.status()
            if exp.errors():
                raise SystemExit(f"analysis failed ({status.name}):{exp.errors()}")
            t1 = await exp.analysis_results("T1")
            print(
                f"\nfit: T1 = {t1.value:.1f} ± {t1.extra['stderr']:.1f} µs "
                f"(true {TRUE_T1_US:.0f} µs), reduced χ² = {t1.chisq:.2f}, quality {t1.quality}"
            )

            report = await exp.save(suppress_errors=False)
            print(f"saved experiment {exp.experiment_id} in {report.total_sent} requests")

        loaded = await ExperimentData.load(exp.experiment_id, provider)
        await loaded.block_for_results(timeout=60)
        print("\nloaded back from the service:")
        print(loaded)
        for result in await loaded.analysis_results():
            if isinstance(result.value, dict):
                value = ", ".join(f"{k}={v:.3g}" for k, v in result.value.items())
            else:
                value = f"{result.value:.2f}"
            print(
                f"  • {result.name:<24} {value}  [{', '.join(result.components)}]  "
                f"quality={result.quality}"
            )
        figure = await loaded.figure(0)
        print(f"  • figure {figure.name}: {len(figure.figure)} bytes of SVG")
        await loaded.aclose()
    print(f"\nDone in {time.perf_counter() - started:.1f} s.")


if __name__ == "__main__":
    asyncio.run(main())
