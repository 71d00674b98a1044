"""Sample program: one interim result per iteration, then a summary dict."""

from __future__ import annotations

import random
import time
from typing import Any

__program__ = {
    "name": "sample-program",
    "description": "A sample runtime program: one interim result per iteration.",
    "max_execution_time": 300,
    "version": "1.0",
    "spec": {
        "backend_requirements": {"min_num_qubits": 1},
        "parameters": {
            "type": "object",
            "properties": {
                "iterations": {"type": "integer", "description": "number of iterations"},
                "interim_delay": {"type": "number", "description": "seconds between results"},
                "seed": {"type": "integer", "description": "random seed"},
            },
            "required": ["iterations"],
        },
        "return_values": {"type": "object"},
        "interim_results": {
            "type": "object",
            "properties": {"iteration": {"type": "integer"}, "counts": {"type": "object"}},
        },
    },
}


def main(
    backend: Any,
    user_messenger: Any,
    iterations: int,
    interim_delay: float = 0.01,
    seed: int | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Publish ``{"iteration": i, "counts": {...}}`` per iteration; return a summary."""
    rng = random.Random(seed)
    iterations = int(iterations)
    for i in range(iterations):
        ones = sum(rng.random() < 0.5 for _ in range(1024))
        user_messenger.publish({"iteration": i, "counts": {"00": 1024 - ones, "11": ones}})
        if interim_delay:
            time.sleep(float(interim_delay))
    print(f"sample-program ran {iterations} iterations on {backend.name()}")
    return {"iterations": iterations, "message": "All done!"}
