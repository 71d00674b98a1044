"""T1 simulation: excited-state counts decaying as exp(-delay / T1), one result per delay."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

__program__ = {
    "name": "t1-sim",
    "description": "Simulates a T1 measurement: publishes each delay's counts, returns them all.",
    "max_execution_time": 300,
    "version": "1.0",
    "spec": {
        "backend_requirements": {"min_num_qubits": 1},
        "parameters": {
            "type": "object",
            "properties": {
                "qubit": {"type": "integer", "description": "the qubit (default 0)"},
                "delays": {"type": "array", "description": "delays in microseconds"},
                "shots": {"type": "integer", "description": "shots per delay (default 1024)"},
                "t1": {"type": "number", "description": "the true T1 in microseconds (50)"},
                "readout_error": {"type": "number", "description": "flip probability (0.02)"},
                "seed": {"type": "integer", "description": "random seed"},
            },
            "required": ["delays"],
        },
        "return_values": {"type": "object"},
        "interim_results": {
            "type": "object",
            "properties": {"delay": {"type": "number"}, "counts": {"type": "object"}},
        },
    },
}


def _binomial(rng: random.Random, n: int, p: float) -> int:
    if n <= 200:
        return sum(rng.random() < p for _ in range(n))
    mean = n * p
    sd = math.sqrt(max(n * p * (1 - p), 1e-12))
    return min(n, max(0, round(rng.gauss(mean, sd))))


def main(
    backend: Any,
    user_messenger: Any,
    delays: Sequence[float] = (0.0, 10.0, 20.0, 40.0, 80.0, 160.0),
    qubit: int = 0,
    shots: int = 1024,
    t1: float = 50.0,
    readout_error: float = 0.02,
    seed: int | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Publish ``{"delay": d, "counts": {"1": n1, "0": n0}}`` per delay; return all counts."""
    rng = random.Random(seed)
    shots = int(shots)
    all_counts: list[dict[str, int]] = []
    for delay in delays:
        excited = math.exp(-float(delay) / float(t1))
        p1 = excited * (1 - readout_error) + (1 - excited) * readout_error
        ones = _binomial(rng, shots, p1)
        counts = {"1": ones, "0": shots - ones}
        all_counts.append(counts)
        user_messenger.publish({"delay": float(delay), "counts": counts})
    return {
        "qubit": int(qubit),
        "delays": [float(d) for d in delays],
        "counts": all_counts,
        "shots": shots,
        "backend": backend.name(),
    }
