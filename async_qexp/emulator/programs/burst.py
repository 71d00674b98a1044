"""Burst: publishes ``count`` small messages as fast as possible (or at ``rate`` per second)."""

from __future__ import annotations

import time
from typing import Any

__program__ = {
    "name": "burst",
    "description": "Publishes count messages {'i': i, 't': publish time} as fast as possible.",
    "max_execution_time": 600,
    "version": "1.0",
    "spec": {
        "parameters": {
            "type": "object",
            "properties": {
                "count": {"type": "integer", "description": "how many messages"},
                "rate": {"type": "number", "description": "messages per second (0 = no limit)"},
                "size": {"type": "integer", "description": "padding characters per message"},
            },
        },
        "return_values": {"type": "object"},
    },
}


def main(
    backend: Any,
    user_messenger: Any,
    count: int = 1000,
    rate: float = 0,
    size: int = 0,
    **kwargs: Any,
) -> dict[str, Any]:
    """Publish ``{"i": i, "t": time.time()}`` ``count`` times; return the count."""
    count = int(count)
    pad = "x" * int(size)
    start = time.monotonic()
    for i in range(count):
        if rate:
            wait = start + i / float(rate) - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        message: dict[str, Any] = {"i": i, "t": time.time()}
        if pad:
            message["pad"] = pad
        user_messenger.publish(message)
    return {"count": count, "elapsed": time.monotonic() - start}
