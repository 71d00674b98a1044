"""The live part of a runtime job this process runs: :class:`JobRun`; and :class:`JobEvents`,
the wake-ups of streams of jobs it does not run (queued, or run by another process)."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["POLL", "JobEvents", "JobRun"]

POLL = 1.0
"""Seconds between two looks at the queue and for jobs whose process is gone, and the longest
a stream of a job run elsewhere waits without an event before it reads the database again."""


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


class JobEvents:
    """Futures that complete when a job changes: what a stream of a job that this process does
    not run waits on between two reads of the database."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}

    def waiter(self, job_id: str) -> asyncio.Future[None]:
        """A future completed by the next :meth:`fire` of ``job_id`` (take it before reading
        the job, so that no change between the read and the wait is missed); give it back to
        :meth:`discard`."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(job_id, set()).add(future)
        return future

    def discard(self, job_id: str, future: asyncio.Future[None]) -> None:
        """Forget a waiter of ``job_id``."""
        waiters = self._waiters.get(job_id)
        if waiters is not None:
            waiters.discard(future)
            if not waiters:
                del self._waiters[job_id]

    def fire(self, job_id: str) -> None:
        """Wake every waiter of ``job_id``."""
        for future in self._waiters.pop(job_id, ()):
            if not future.done():
                future.set_result(None)

    def fire_all(self) -> None:
        """Wake every waiter (after events may have been missed)."""
        for job_id in list(self._waiters):
            self.fire(job_id)
