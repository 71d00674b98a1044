"""Bulk saves (1 experiment, 1,000 results, 50 figures) and concurrent service calls under
every fault mix of the emulator, and across a kill -9 and restart of the emulator process;
each read back from a new connection: 0 lost, 0 duplicated, 0 corrupted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
import pytest_asyncio

from async_qexp import Provider
from async_qexp.emulator import Emulator, serve

from ._support import (
    CHAOS_RETRY,
    FAULT_MIXES,
    N_FIGURES,
    N_RESULTS,
    TOKEN,
    EmulatorProcess,
    bulk_save,
    check_saved,
    check_service_calls,
    fault_counts,
    faults_on,
    integrity,
    service_calls,
)

pytestmark = [pytest.mark.chaos, pytest.mark.asyncio, pytest.mark.timeout(240)]


@pytest_asyncio.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with serve(runtime=False, request_log_size=200_000) as running:
        yield running


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
@pytest.mark.parametrize("mix", list(FAULT_MIXES))
async def test_a_bulk_save_under_faults_loses_and_repeats_nothing(
    emulator: Emulator, mix: str, transport: str
) -> None:
    tag = f"Chaos-{mix}"
    async with Provider(TOKEN, emulator.url, transport=transport, retry=CHAOS_RETRY) as provider:  # type: ignore[arg-type]
        async with faults_on(emulator, FAULT_MIXES[mix]):
            with anyio.fail_after(180):
                data, index_of = await bulk_save(provider, tag)
        faulted = fault_counts(emulator)
        await data.aclose()
    assert sum(faulted.values()) >= 20, f"too few faults to mean anything: {faulted}"
    await check_saved(emulator.url, transport, data.experiment_id, tag, index_of)


@pytest.mark.parametrize("mix", ["drops-after", "everything"])
async def test_concurrent_service_calls_under_faults_land_once(
    emulator: Emulator, mix: str
) -> None:
    tag = f"Calls-{mix}"
    async with Provider(TOKEN, emulator.url, retry=CHAOS_RETRY) as provider:
        async with faults_on(emulator, FAULT_MIXES[mix], seed=7):
            with anyio.fail_after(120):
                ids = await service_calls(provider, tag, count=100)
        faulted = fault_counts(emulator)
    assert sum(faulted.values()) >= 8, f"too few faults to mean anything: {faulted}"
    await check_service_calls(emulator.url, "aiohttp", tag, ids)


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_a_bulk_save_survives_kill_9_and_a_restart_of_the_emulator(
    tmp_path: Path, transport: str
) -> None:
    """The emulator process is killed (SIGKILL) once a third of the save's requests are done,
    and restarted on the same port and database 0.3 s later; the save goes on (its requests
    are retried) and completes, nothing is lost or repeated, the database is intact."""
    db = tmp_path / "chaos.sqlite"
    server = EmulatorProcess(db)
    await anyio.to_thread.run_sync(server.start)
    tag = f"Kill9-{transport}"
    try:
        third = asyncio.Event()
        seen = {"done": 0, "total": 0, "killed_at": -1}

        def progress(done: int, total: int | None) -> None:
            seen["done"], seen["total"] = done, total or 0
            if done >= (N_RESULTS + N_FIGURES) // 3:
                third.set()

        async def kill_and_restart() -> None:
            await third.wait()
            seen["killed_at"] = seen["done"]
            await anyio.to_thread.run_sync(server.kill)
            await asyncio.sleep(0.3)
            await anyio.to_thread.run_sync(server.start)

        async with Provider(TOKEN, server.url, transport=transport, retry=CHAOS_RETRY) as provider:  # type: ignore[arg-type]
            with anyio.fail_after(180):
                async with anyio.create_task_group() as group:
                    group.start_soon(kill_and_restart)
                    data, index_of = await bulk_save(provider, tag, progress=progress)
            await data.aclose()
        assert server.kills == 1
        assert 0 < seen["killed_at"] < seen["total"], f"not killed mid-save: {seen}"
        await check_saved(server.url, transport, data.experiment_id, tag, index_of)
    finally:
        await anyio.to_thread.run_sync(server.stop)
    assert integrity(db) == "ok"
