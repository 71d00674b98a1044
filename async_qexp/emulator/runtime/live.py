"""The live part of a runtime job that is not final yet: :class:`JobRun`."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["JobRun"]


class JobRun:
    """The live part of a job that is not final yet."""

    def __init__(self, row: dict[str, Any]) -> None:
        self.job_id: str = row["id"]
        self.owner: str = row["owner"]
        self.program_id: str = row["program_id"]
        self.backend: str = row["backend"]
        self.cost: int = int(row["cost"])
        self.params: str = row["params"]
        self.log_level: str | None = row.get("log_level")
        self.messages: list[str] = []
        self.final_text: str | None = None
        self.error_text: str | None = None
        self.logs = bytearray()
        self.logs_truncated = False
        self.proc: asyncio.subprocess.Process | None = None
        self.started = False
        self.finishing = False
        """Set when the final status is being stored (it is stored once)."""
        self.done = False
        self.override: str | None = None
        """``cancelled``, ``timeout``, ``deleted`` or ``shutdown``: why the process was killed."""
        self.waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def notify(self) -> None:
        """Wake every subscriber (new messages, or the job became final)."""
        waiter = self.waiter
        self.waiter = asyncio.get_running_loop().create_future()
        if not waiter.done():
            waiter.set_result(None)
