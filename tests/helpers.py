"""Small helpers shared by the test layers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import anyio

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
