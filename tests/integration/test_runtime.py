"""Every RuntimeService / RuntimeJob / ResultStream feature against the emulator's runtime."""

from __future__ import annotations

import asyncio
import collections
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from async_qexp import (
    ApiError,
    AuthError,
    EntryExists,
    EntryNotFound,
    JobStatus,
    ProgramParameter,
    ProgramResult,
    Provider,
    RetryPolicy,
    RuntimeDuplicateProgramError,
    RuntimeInvalidStateError,
    RuntimeJobFailureError,
    RuntimeJobNotFound,
    RuntimeProgramNotFound,
    RuntimeServiceError,
    StreamPolicy,
)
from async_qexp.emulator import Emulator, serve
from async_qexp.errors import JobTimeoutError
from async_qexp.runtime import ResultDecoder
from tests.emulator.runtime_helpers import runtime_client, upload
from tests.helpers import wait_until

pytestmark = pytest.mark.asyncio

FAST_RETRY = RetryPolicy(backoff_initial=0.005, backoff_max=0.05, total_budget=5.0)
FAST_STREAM = StreamPolicy(backoff_initial=0.01, backoff_max=0.05, poll_interval=0.05)
BACKEND = {"backend_name": "emulator_simulator"}

SLEEPER = """
import time


def main(backend, user_messenger, seconds=30, **kwargs):
    user_messenger.publish({"started": True})
    print("going to sleep", flush=True)
    time.sleep(seconds)
    return "rested"
"""

FAILING = """
def main(backend, user_messenger, **kwargs):
    print("looking up a key")
    return {}["no-such-key"]
"""

COMPLEX = """
def main(backend, user_messenger, z, **kwargs):
    user_messenger.publish({"conjugate": z.conjugate()})
    return {"z": z, "square": z * z, "type": type(z).__name__}
"""


@pytest_asyncio.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with serve(runtime_concurrency=8) as running:
        yield running


@pytest_asyncio.fixture
async def provider(emu: Emulator, transport: str) -> AsyncIterator[Provider]:
    async with Provider(
        "alice-token",
        emu.url,
        transport=transport,  # type: ignore[arg-type]
        retry=FAST_RETRY,
        stream_policy=FAST_STREAM,
    ) as connected:
        yield connected


async def _collect(job: Any) -> tuple[list[Any], Any]:
    items: list[Any] = []
    async with job.stream_results() as stream:
        async for message in stream:
            items.append(message)
    return items, stream


# -- programs -------------------------------------------------------------------------------


async def test_programs_listing_and_pprint(
    provider: Provider, capsys: pytest.CaptureFixture[str]
) -> None:
    rt = provider.runtime
    programs = await rt.programs()
    ids = {p.program_id for p in programs}
    assert {"hello-world", "sample-program", "t1-sim", "burst"} <= ids
    assert len(await rt.programs(limit=2)) == 2
    assert [p.program_id for p in await rt.programs(skip=1, refresh=True)] == [
        p.program_id for p in programs
    ][1:]
    t1 = await rt.program("t1-sim")
    assert t1.name == "t1-sim"
    assert t1.is_public
    assert t1.max_execution_time > 0
    assert "delays" in t1.parameters["properties"]
    assert t1.data == ""  # not the author
    await rt.pprint_programs(refresh=True)
    out = capsys.readouterr().out
    assert "hello-world:" in out
    assert "t1-sim" in out
    assert "Input parameters:" in out
    with pytest.raises(RuntimeProgramNotFound):
        await rt.program("no-such-program", refresh=True)


async def test_upload_update_visibility_delete(provider: Provider, tmp_path: Path) -> None:
    rt = provider.runtime
    source = "def main(backend, user_messenger, **kwargs):\n    return 'inline'\n"
    pid = await rt.upload_program(
        source, name="inline", max_execution_time=30, description="from a string"
    )
    program = await rt.program(pid, refresh=True)
    assert program.data == source
    assert program.max_execution_time == 30
    assert not program.is_public
    with pytest.raises(RuntimeDuplicateProgramError):
        await rt.upload_program(source, name="inline", max_execution_time=3, description="x")
    # from files: source and JSON metadata
    src_file = tmp_path / "prog.py"
    src_file.write_text("def main(backend, user_messenger):\n    return 'file'\n")
    meta_file = tmp_path / "meta.json"
    meta_file.write_text(
        json.dumps(
            {
                "name": "from-file",
                "description": "file",
                "max_execution_time": 12,
                "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}},
            }
        )
    )
    pid2 = await rt.upload_program(str(src_file), metadata=str(meta_file), is_public=True)
    program2 = await rt.program(pid2, refresh=True)
    assert program2.data == src_file.read_text()
    assert program2.is_public
    assert program2.parameters["properties"] == {"a": {"type": "integer"}}
    pid3 = await rt.upload_program(
        str(src_file), metadata={"name": "meta-dict", "description": "d", "max_execution_time": 5}
    )
    job = await rt.run(pid3, BACKEND, {})
    assert await job.result(timeout=10) == "file"
    # update data and metadata
    new_source = "def main(backend, user_messenger):\n    return 'updated'\n"
    await rt.update_program(pid, data=new_source, description="changed", max_execution_time=77)
    updated = await rt.program(pid, refresh=True)
    assert updated.data == new_source
    assert updated.description == "changed"
    assert updated.max_execution_time == 77
    job = await rt.run(pid, BACKEND, {})
    assert await job.result(timeout=10) == "updated"
    with pytest.raises(ValueError, match="nothing to update"):
        await rt.update_program(pid)
    with pytest.raises(RuntimeProgramNotFound):
        await rt.update_program("missing", description="x")
    # visibility
    await rt.set_program_visibility(pid, True)
    assert (await rt.program(pid, refresh=True)).is_public
    await rt.set_program_visibility(pid, False)
    assert not (await rt.program(pid, refresh=True)).is_public
    with pytest.raises(RuntimeProgramNotFound):
        await rt.set_program_visibility("missing", True)
    with pytest.raises(AuthError):
        await rt.set_program_visibility("hello-world", False)  # not the author
    # the listing reflects everything (count consistent across pages)
    ids = [p.program_id for p in await rt.programs(refresh=True, limit=None)]
    assert {pid, pid2, pid3} <= set(ids)
    assert len(ids) == len(set(ids))
    await rt.delete_program(pid)
    with pytest.raises(RuntimeProgramNotFound):
        await rt.program(pid, refresh=True)
    with pytest.raises(RuntimeProgramNotFound):
        await rt.delete_program(pid)


ReferenceParameter = collections.namedtuple(
    "ReferenceParameter", ["name", "description", "type", "required"]
)


async def test_program_spec_lists_round_trip(
    provider: Provider, emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """upload_program(parameters=[...]) as the reference types it, read back by program(),
    programs() and pprint_programs(); and a spec another client stored as it liked (a list,
    garbage) never breaks the listing of the account."""
    rt = provider.runtime
    parameters = [
        ProgramParameter("iterations", "How many iterations.", "integer", True),
        ReferenceParameter("label", "A label.", "str", False),
        {"name": "seed", "type": "int"},
    ]
    pid = await rt.upload_program(
        "def main(backend, user_messenger, **kwargs):\n    return kwargs\n",
        name="listed",
        max_execution_time=30,
        description="lists of items",
        version=1.0,
        parameters=parameters,
        return_values=[ProgramResult("-", "The inputs.", "dict")],
        interim_results=[{"name": "step", "description": "The step.", "type": "int"}],
    )
    expected = [
        ProgramParameter("iterations", "How many iterations.", "integer", True),
        ProgramParameter("label", "A label.", "str", False),
        ProgramParameter("seed", "", "int", False),
    ]
    program = await rt.program(pid, refresh=True)
    assert program.parameter_items() == expected
    assert program.parameters["required"] == ["iterations"]
    assert program.return_value_items() == [ProgramResult("-", "The inputs.", "dict")]
    assert program.interim_result_items() == [ProgramResult("step", "The step.", "int")]
    assert program.version == "1.0"
    [listed] = [p for p in await rt.programs(refresh=True, limit=None) if p.program_id == pid]
    assert listed.parameter_items() == expected
    job = await rt.run(pid, BACKEND, {"iterations": 2})
    assert await job.result(timeout=10) == {"iterations": 2}

    # Another client stores specs as it likes: the emulator keeps them as given ...
    raw = await runtime_client(emu, "alice-token")
    async with raw:
        as_list = await upload(
            raw,
            "as-list",
            "def main(backend, user_messenger):\n    return 1\n",
            spec={
                "parameters": [{"name": "x", "description": "d", "type": "int", "required": True}]
            },
        )
        garbage = await upload(
            raw,
            "garbage",
            "def main(backend, user_messenger):\n    return 1\n",
            spec={"parameters": [{"type": "no name"}, 3], "return_values": "nope"},
        )
        stored = (await raw.get(f"/programs/{garbage}")).json()["spec"]
    assert stored == {"parameters": [{"type": "no name"}, 3], "return_values": "nope"}
    # ... and our client reads every program of the account, each as far as it goes.
    programs = {p.program_id: p for p in await rt.programs(refresh=True, limit=None)}
    assert {pid, as_list, garbage, "hello-world"} <= set(programs)
    assert programs[as_list].parameter_items() == [ProgramParameter("x", "d", "int", True)]
    assert programs[garbage].parameters == {}
    assert programs[garbage].return_values == {}
    assert (await rt.program(garbage, refresh=True)).name == "garbage"
    await rt.pprint_programs(refresh=True)
    out = capsys.readouterr().out
    assert "iterations (integer, required)" in out
    assert "How many iterations." in out
    assert "garbage:" in out


# -- jobs -----------------------------------------------------------------------------------


async def test_run_status_result_interim_logs(provider: Provider) -> None:
    rt = provider.runtime
    job = await rt.run("sample-program", BACKEND, {"iterations": 5, "interim_delay": 0})
    assert job.program_id == "sample-program"
    assert job.backend == "emulator_simulator"
    assert job.inputs == {"iterations": 5, "interim_delay": 0}
    assert job.creation_date is not None
    assert job.creation_date.tzinfo is not None
    assert await job.status() in (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.DONE)
    result = await job.result(timeout=10)
    assert result == {"iterations": 5, "message": "All done!"}
    assert await job.result() is result  # cached
    assert job.cached_status is JobStatus.DONE
    assert await job.wait_for_final_state(timeout=1) is JobStatus.DONE
    interim = await job.interim_results()
    assert [m["iteration"] for m in interim] == list(range(5))
    assert "sample-program ran 5 iterations" in await job.logs()
    assert await job.error_message() is None
    again = await rt.job(job.job_id)
    assert again.inputs == job.inputs
    assert again.program_id == "sample-program"
    assert await again.status() is JobStatus.DONE
    assert again.creation_date == job.creation_date
    with pytest.raises(RuntimeInvalidStateError):
        await job.cancel()  # already final -> 409


async def test_result_takes_the_reference_wait(provider: Provider) -> None:
    """result(timeout=None, wait=..., decoder=None), positionally as in the reference."""
    rt = provider.runtime

    class Shouting(ResultDecoder):
        @classmethod
        def decode(cls, data: str) -> Any:
            return str(super().decode(data)).upper()

    job = await rt.run("hello-world", BACKEND, {"iterations": 1})
    assert await job.result(10, 0.02) == "Hello, World!"
    assert await job.result(10, 0.02, Shouting) == "HELLO, WORLD!"
    assert await job.result(timeout=10, wait=0.5, decoder=Shouting) == "HELLO, WORLD!"
    with pytest.raises(ValueError, match="wait"):
        await job.result(10, 0)


async def test_jobs_listing_filters_delete_logout(provider: Provider) -> None:
    rt = provider.runtime
    sleeper = await rt.upload_program(
        SLEEPER, name="sleeper", max_execution_time=60, description="z"
    )
    done = [await rt.run("hello-world", BACKEND, {"iterations": 1}) for _ in range(3)]
    for job in done:
        await job.wait_for_final_state(timeout=10)
    pending = await rt.run(sleeper, BACKEND, {"seconds": 30})
    everything = await rt.jobs(limit=None)
    assert [j.job_id for j in everything] == [pending.job_id] + [j.job_id for j in reversed(done)]
    assert [j.job_id for j in await rt.jobs(limit=2, skip=1)] == [done[2].job_id, done[1].job_id]
    assert [j.job_id for j in await rt.jobs(pending=True)] == [pending.job_id]
    assert len(await rt.jobs(pending=False)) == 3
    assert [j.job_id for j in await rt.jobs(program_id=sleeper)] == [pending.job_id]
    await rt.delete_job(pending.job_id)  # running (or queued)
    with pytest.raises(RuntimeJobNotFound):
        await rt.job(pending.job_id)
    with pytest.raises(RuntimeJobNotFound):
        await rt.delete_job(pending.job_id)
    await rt.delete_job(done[0].job_id)  # done
    assert len(await rt.jobs(limit=None)) == 2
    await rt.logout()
    assert len(await rt.jobs()) == 2  # the session stays valid


async def test_result_timeout_and_cancel_mid_run(provider: Provider) -> None:
    rt = provider.runtime
    sleeper = await rt.upload_program(
        SLEEPER, name="sleeper", max_execution_time=60, description="z"
    )
    job = await rt.run(sleeper, BACKEND, {"seconds": 30})
    with pytest.raises(JobTimeoutError):
        await job.result(timeout=0.3)
    with pytest.raises(JobTimeoutError):
        await job.wait_for_final_state(timeout=0.2)
    stream = job.stream_results()
    got: list[Any] = []

    async def consume() -> None:
        async for message in stream:
            got.append(message)

    consumer = asyncio.ensure_future(consume())
    await wait_until(lambda: bool(got))
    await job.cancel()
    assert job.cached_status is JobStatus.CANCELLED
    await asyncio.wait_for(consumer, 5)  # the stream ended
    assert got == [{"started": True}]
    assert not job.streaming
    assert await (await rt.job(job.job_id)).status() is JobStatus.CANCELLED
    assert "going to sleep" in await job.logs()


async def test_failing_program_traceback(provider: Provider) -> None:
    rt = provider.runtime
    pid = await rt.upload_program(FAILING, name="failing", max_execution_time=30, description="f")
    job = await rt.run(pid, BACKEND, {})
    with pytest.raises(RuntimeJobFailureError) as info:
        await job.result(timeout=10)
    assert "KeyError" in str(info.value)
    assert "no-such-key" in str(info.value)
    assert job.cached_status is JobStatus.ERROR
    message = await job.error_message()
    assert message is not None
    assert message.startswith(f"Job {job.job_id} has failed:\n")
    assert "Traceback" in message
    assert "looking up a key" in await job.logs()


async def test_max_execution_time_is_an_error(provider: Provider) -> None:
    rt = provider.runtime
    pid = await rt.upload_program(SLEEPER, name="short", max_execution_time=1, description="s")
    job = await rt.run(pid, BACKEND, {"seconds": 30})
    assert await job.wait_for_final_state(timeout=10) is JobStatus.ERROR
    message = await job.error_message()
    assert message is not None
    assert "ran longer than maximum execution time" in message
    with pytest.raises(RuntimeJobFailureError, match="RAN TOO LONG"):
        await job.result()


async def test_unknown_program_or_backend(provider: Provider) -> None:
    rt = provider.runtime
    with pytest.raises(RuntimeProgramNotFound) as program_error:
        await rt.run("no-such-program", BACKEND, {})
    assert isinstance(program_error.value, EntryNotFound)
    assert isinstance(program_error.value, RuntimeServiceError)
    with pytest.raises(ApiError) as backend_error:
        await rt.run("hello-world", {"backend_name": "no_such_backend"}, {})
    assert backend_error.value.status == 400
    assert not isinstance(backend_error.value, EntryNotFound)
    assert "no_such_backend" in str(backend_error.value)
    with pytest.raises(RuntimeJobNotFound) as job_error:
        await rt.job("no-such-job")
    assert isinstance(job_error.value, RuntimeServiceError)
    with pytest.raises(RuntimeDuplicateProgramError) as duplicate:
        await rt.upload_program(
            "def main(backend, user_messenger):\n    return 1\n",
            name="hello-world",
            max_execution_time=5,
            description="taken",
        )
    assert isinstance(duplicate.value, EntryExists)
    assert isinstance(duplicate.value, RuntimeServiceError)


async def test_complex_numbers_round_trip(provider: Provider) -> None:
    rt = provider.runtime
    pid = await rt.upload_program(COMPLEX, name="complex", max_execution_time=30, description="c")
    job = await rt.run(pid, BACKEND, {"z": 1 + 2j})
    assert await job.result(timeout=10) == {"z": 1 + 2j, "square": (1 + 2j) ** 2, "type": "complex"}
    assert await job.interim_results() == [{"conjugate": 1 - 2j}]
    fetched = await rt.job(job.job_id)
    assert fetched.inputs == {"z": 1 + 2j}


async def test_t1_sim_decays(provider: Provider) -> None:
    delays = [0.0, 20.0, 60.0, 150.0, 400.0]
    job = await provider.runtime.run(
        "t1-sim", BACKEND, {"delays": delays, "shots": 4000, "t1": 60.0, "seed": 3, "qubit": 1}
    )
    messages, _ = await _collect(job)
    result = await job.result()
    assert messages[-1] == result
    assert [m["delay"] for m in messages[:-1]] == delays
    assert result["qubit"] == 1
    ones = [c["1"] / 4000 for c in result["counts"]]
    assert ones == sorted(ones, reverse=True)
    assert ones[0] > 0.9
    assert ones[-1] < 0.1


# -- streams --------------------------------------------------------------------------------


async def test_stream_order_and_completeness(provider: Provider) -> None:
    job = await provider.runtime.run(
        "sample-program", BACKEND, {"iterations": 50, "interim_delay": 0.001}
    )
    messages, stream = await _collect(job)
    assert len(messages) == 51
    assert [m["iteration"] for m in messages[:50]] == list(range(50))
    assert messages[-1] == {"iterations": 50, "message": "All done!"}
    assert stream.reconnects == 0
    assert not stream.polled
    assert job.cached_status is not JobStatus.ERROR
    assert await job.status() is JobStatus.DONE  # final once the stream closed


async def test_late_subscriber(provider: Provider) -> None:
    job = await provider.runtime.run("hello-world", BACKEND, {"iterations": 3})
    await job.wait_for_final_state(timeout=10)
    messages, stream = await _collect(job)
    assert messages == [{"iteration": 0}, {"iteration": 1}, {"iteration": 2}, "Hello, World!"]
    assert not stream.polled


async def test_reconnect_after_server_drop(provider: Provider, emu: Emulator) -> None:
    emu.faults.drop_stream_after(7, count=2)
    job = await provider.runtime.run(
        "sample-program", BACKEND, {"iterations": 30, "interim_delay": 0.005}
    )
    messages, stream = await _collect(job)
    assert stream.reconnects >= 1
    assert not stream.polled
    assert [m["iteration"] for m in messages[:30]] == list(range(30))  # nothing lost or repeated
    assert messages[-1] == {"iterations": 30, "message": "All done!"}
    assert len(messages) == 31


async def test_callbacks_sync_and_async(provider: Provider) -> None:
    seen_sync: list[tuple[str, Any]] = []
    seen_async: list[tuple[str, Any]] = []

    def sync_callback(job_id: str, message: Any) -> None:
        seen_sync.append((job_id, message))

    async def async_callback(job_id: str, message: Any) -> None:
        await asyncio.sleep(0)
        seen_async.append((job_id, message))

    params = {"iterations": 4, "interim_delay": 0.001, "seed": 5}
    job1 = await provider.runtime.run("sample-program", BACKEND, params, callback=sync_callback)
    job2 = await provider.runtime.run("sample-program", BACKEND, params, callback=async_callback)
    assert job1.streaming
    with pytest.raises(RuntimeInvalidStateError):
        job1.stream_results()
    await job1.result(timeout=10)
    await job2.result(timeout=10)
    await wait_until(lambda: len(seen_sync) == 5 and len(seen_async) == 5)
    assert [m for _, m in seen_sync][:4] == [m for _, m in seen_async][:4]
    assert {j for j, _ in seen_sync} == {job1.job_id}
    assert {j for j, _ in seen_async} == {job2.job_id}
    assert seen_sync[-1][1] == {"iterations": 4, "message": "All done!"}
    await wait_until(lambda: not job1.streaming and not job2.streaming)


async def test_twenty_concurrent_jobs_each_with_its_stream(provider: Provider) -> None:
    rt = provider.runtime
    jobs = await asyncio.gather(
        *(
            rt.run("sample-program", BACKEND, {"iterations": 10 + i, "interim_delay": 0.002})
            for i in range(20)
        )
    )
    outcomes = await asyncio.gather(*(_collect(job) for job in jobs))
    for i, (messages, stream) in enumerate(outcomes):
        n = 10 + i
        assert [m["iteration"] for m in messages[:n]] == list(range(n))
        assert messages[n:] == [{"iterations": n, "message": "All done!"}]
        assert not stream.polled
    assert all(await asyncio.gather(*(job.status() for job in jobs)))
    assert {await job.status() for job in jobs} == {JobStatus.DONE}


async def test_provider_local_runs_jobs() -> None:
    async with Provider.local(stream_policy=FAST_STREAM) as provider:
        job = await provider.runtime.run("hello-world", BACKEND, {"iterations": 2})
        messages, _ = await _collect(job)
        assert messages == [{"iteration": 0}, {"iteration": 1}, "Hello, World!"]


async def test_polling_fallback_after_socket_lost(provider: Provider, emu: Emulator) -> None:
    job = await provider.runtime.run(
        "sample-program", BACKEND, {"iterations": 6, "interim_delay": 0.05}
    )
    emu.faults.drop_stream_after(2, count=50, job_id=job.job_id)  # every connection breaks
    messages, stream = await _collect(job)
    assert stream.polled
    assert [m["iteration"] for m in messages[:6]] == list(range(6))
    assert messages[6:] == [{"iterations": 6, "message": "All done!"}]


async def test_polling_fallback_does_not_repeat_the_final_result(
    provider: Provider, emu: Emulator
) -> None:
    job = await provider.runtime.run("hello-world", BACKEND, {"iterations": 2})
    await job.wait_for_final_state(timeout=10)
    # every connection sends all three messages, then breaks (1011) instead of closing 1000
    emu.faults.drop_stream_after(3, count=50, job_id=job.job_id)
    messages, stream = await _collect(job)
    assert stream.polled
    assert messages == [{"iteration": 0}, {"iteration": 1}, "Hello, World!"]
