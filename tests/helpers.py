"""Small helpers shared by the test layers."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from typing import Any

import anyio

from async_qexp import JobStatus

_CLIENT_CODE = ("/async_qexp/", "/aiohttp/", "/httpx/", "/httpcore/", "/httpx_aiohttp/")


def client_tasks() -> set[asyncio.Task[object]]:
    """Pending tasks running client code (the in-process emulator's own tasks excluded)."""
    found = set()
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        filename = code.co_filename if code is not None else ""
        if any(part in filename for part in _CLIENT_CODE) and "/emulator/" not in filename:
            found.add(task)
    return found - {asyncio.current_task()}


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``condition()`` is true; fail the test after ``timeout`` seconds."""
    with anyio.fail_after(timeout):
        while not condition():  # noqa: ASYNC110 - polling state owned by another task
            await asyncio.sleep(0.005)


class ScriptedJob:
    """A job whose result arrives when the test says so."""

    def __init__(
        self,
        job_id: str,
        data: Any = None,
        *,
        fail: bool = False,
        status_on_fail: JobStatus = JobStatus.ERROR,
    ) -> None:
        self.job_id = job_id
        self.backend = "ibmq_lima"
        self.data = data if data is not None else [{"job": job_id}]
        self.fail = fail
        self.status_on_fail = status_on_fail
        self.release = asyncio.Event()
        self.cancelled = False
        self._status = JobStatus.RUNNING

    async def result(self) -> Any:
        await self.release.wait()
        if self.cancelled:
            raise RuntimeError("cancelled")
        if self.fail:
            self._status = self.status_on_fail
            raise RuntimeError(f"job {self.job_id} failed")
        self._status = JobStatus.DONE
        return self.data

    async def status(self) -> JobStatus:
        return self._status

    async def error_message(self) -> str:
        return f"the job {self.job_id} broke"

    async def cancel(self) -> None:
        self.cancelled = True
        self._status = JobStatus.CANCELLED
        self.release.set()


class UnretrievedExceptions:
    """Catches what the event loop reports ("Task exception was never retrieved", ...) while
    in use: ``async with UnretrievedExceptions() as reports``, then ``reports.contexts``.

    Leaving the block drops the tasks nobody holds (a garbage collection) first, so an
    unretrieved exception of a finished task is reported before the handler is restored.
    """

    def __init__(self) -> None:
        self.contexts: list[dict[str, Any]] = []
        self._previous: Any = None

    async def __aenter__(self) -> UnretrievedExceptions:
        loop = asyncio.get_running_loop()
        self._previous = loop.get_exception_handler()
        loop.set_exception_handler(lambda _loop, context: self.contexts.append(context))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        loop = asyncio.get_running_loop()
        try:
            for _ in range(3):
                gc.collect()
                await asyncio.sleep(0)
        finally:
            loop.set_exception_handler(self._previous)

    @property
    def messages(self) -> list[str]:
        """What was reported, one line each."""
        return [str(c.get("message", "")) for c in self.contexts]
