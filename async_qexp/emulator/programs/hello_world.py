"""Hello world: publishes one interim result per iteration and returns a greeting."""

from __future__ import annotations

from typing import Any

__program__ = {
    "name": "hello-world",
    "description": "A sample runtime program: publishes {'iteration': i}, returns 'Hello, World!'.",
    "max_execution_time": 300,
    "version": "1.0",
    "spec": {
        "backend_requirements": {"min_num_qubits": 1},
        "parameters": {
            "type": "object",
            "properties": {"iterations": {"type": "integer", "description": "iterations"}},
        },
        "return_values": {"type": "string"},
        "interim_results": {
            "type": "object",
            "properties": {"iteration": {"type": "integer"}},
        },
    },
}


def main(backend: Any, user_messenger: Any, iterations: int = 1, **kwargs: Any) -> str:
    """Publish ``{"iteration": i}`` for each iteration and return ``"Hello, World!"``."""
    for i in range(int(iterations)):
        user_messenger.publish({"iteration": i})
    return "Hello, World!"
