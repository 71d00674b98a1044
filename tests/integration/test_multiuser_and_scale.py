"""Visibility between users, many concurrent creates, and persistence across a restart."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from async_qexp import AuthError, EntryNotFound, Provider
from async_qexp.emulator import Emulator

from .conftest import FAST_RETRY

pytestmark = pytest.mark.asyncio

LEVELS = ["private", "project", "group", "hub", "public"]


async def test_visibility_follows_share_levels(team_emulator: Emulator) -> None:
    url = team_emulator.url
    async with Provider("alice-token", url, instance="hub-a/group-1/proj-x") as alice:
        ids = {
            level: await alice.experiment.create_experiment(
                "T1", "ibmq_lima", share_level=level, notes=level
            )
            for level in LEVELS
        }
        result = await alice.experiment.create_analysis_result(ids["private"], {"v": 1}, "T1")
        assert len(await alice.experiment.experiments(limit=None)) == 5

        expected = {
            "bob-token": {"project", "group", "hub", "public"},  # same project
            "carol-token": {"hub", "public"},  # same hub, other group
            "dave-token": {"public"},  # another hub
        }
        for token, visible in expected.items():
            async with Provider(token, url) as other:
                seen = {e.notes for e in await other.experiment.experiments(limit=None)}
                assert seen == visible, token
                assert {e.notes for e in await other.experiment.experiments(public_only=True)} == {
                    "public"
                }
                assert await other.experiment.experiments(mine_only=True, limit=None) == []
                with pytest.raises(EntryNotFound):
                    await other.experiment.experiment(ids["private"])
                with pytest.raises(EntryNotFound):
                    await other.experiment.analysis_result(result)
                # Seeing is not owning: updates and deletes are the owner's.
                with pytest.raises(AuthError) as denied:
                    await other.experiment.update_experiment(ids["public"], notes="mine now")
                assert denied.value.status == 403
                with pytest.raises(AuthError):
                    await other.experiment.delete_experiment(ids["public"])
        assert (await alice.experiment.experiment(ids["public"])).notes == "public"


async def test_200_concurrent_creates_lose_nothing(provider: Provider) -> None:
    service = provider.experiment
    ids = await asyncio.gather(
        *(service.create_experiment("Load", "ibmq_lima", metadata={"i": i}) for i in range(200))
    )
    assert len(set(ids)) == 200
    stored = [e async for e in service.iter_experiments(experiment_type="Load")]
    assert sorted(e.experiment_id for e in stored) == sorted(ids)
    assert sorted(e.metadata["i"] for e in stored) == list(range(200))


def _start_cli(db: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "async_qexp.emulator",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--db",
            str(db),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("listening on "):
        process.kill()
        raise AssertionError(f"unexpected first line {line!r}; stderr: {process.stderr.read()}")  # type: ignore[union-attr]
    return process, line.split("listening on ", 1)[1].strip()


def _stop_cli(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


async def test_data_survives_a_restart_of_the_command(tmp_path: Path) -> None:
    db = tmp_path / "qexp.sqlite"
    process, url = await anyio.to_thread.run_sync(_start_cli, db)
    try:
        async with Provider("persistent-user", url, retry=FAST_RETRY) as provider:
            exp_id = await provider.experiment.create_experiment("T1", "ibmq_lima", tags=["keep"])
            await provider.experiment.create_analysis_result(exp_id, {"value": 1.5}, "T1")
            await provider.experiment.create_figure(exp_id, b"<svg/>", "kept.svg")
    finally:
        assert await anyio.to_thread.run_sync(_stop_cli, process) == 0

    process, url = await anyio.to_thread.run_sync(_start_cli, db)
    try:
        async with Provider("persistent-user", url, retry=FAST_RETRY) as provider:
            experiment = await provider.experiment.experiment(exp_id)
            assert experiment.tags == ["keep"]
            assert experiment.figure_names == ["kept.svg"]
            results = await provider.experiment.analysis_results(experiment_id=exp_id)
            assert [r.result_data for r in results] == [{"value": 1.5}]
            assert await provider.experiment.figure(exp_id, "kept.svg") == b"<svg/>"
    finally:
        assert await anyio.to_thread.run_sync(_stop_cli, process) == 0
