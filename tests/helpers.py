"""Small helpers shared by the test layers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import anyio


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``condition()`` is true; fail the test after ``timeout`` seconds."""
    with anyio.fail_after(timeout):
        while not condition():  # noqa: ASYNC110 - polling state owned by another task
            await asyncio.sleep(0.005)
