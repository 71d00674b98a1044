"""The runtime result-stream websocket (``docs/protocol.md#result-stream``) with a raw
websockets client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError, InvalidStatus

from async_qexp.emulator import Emulator, serve

from .runtime_helpers import (
    SLEEPER,
    access_token,
    job,
    read_stream,
    run_job,
    upload,
    wait_status,
    ws_url,
)


@pytest_asyncio.fixture
async def ctx() -> AsyncIterator[tuple[Emulator, httpx.AsyncClient, str]]:
    async with serve() as emu:
        token = await access_token(emu.url, "alice")
        async with httpx.AsyncClient(
            base_url=emu.runtime_url, headers={"X-Access-Token": token}, timeout=10
        ) as client:
            yield emu, client, token


def _sample(n: int, delay: float = 0.0) -> dict[str, object]:
    return {"iterations": n, "interim_delay": delay, "seed": 1}


@pytest.mark.asyncio
async def test_ack_order_final_and_close_after_final_status(
    ctx: tuple[Emulator, httpx.AsyncClient, str],
) -> None:
    emu, client, token = ctx
    job_id = await run_job(client, "sample-program", _sample(30, 0.002))
    frames: list[str] = []
    async with connect(ws_url(emu, job_id), additional_headers={"X-Access-Token": token}) as ws:
        async for frame in ws:
            assert isinstance(frame, str)  # text frames only
            frames.append(frame)
        assert ws.close_code == 1000
        # the REST status was final before the close
        assert (await job(client, job_id))["status"] == "COMPLETED"
    assert frames[0] == "ACK"
    data = [json.loads(f) for f in frames[1:]]
    assert [d["iteration"] for d in data[:-1]] == list(range(30))
    assert data[-1] == {"iterations": 30, "message": "All done!"}
    assert frames[-1] == (await client.get(f"/jobs/{job_id}/results")).text


@pytest.mark.asyncio
async def test_late_subscriber_gets_replay(ctx: tuple[Emulator, httpx.AsyncClient, str]) -> None:
    emu, client, token = ctx
    job_id = await run_job(client, "hello-world", {"iterations": 2})
    await wait_status(client, job_id)
    frames, code = await read_stream(emu, job_id, token)
    assert code == 1000
    assert frames == ["ACK", '{"iteration": 0}', '{"iteration": 1}', '"Hello, World!"']
    again, _ = await read_stream(emu, job_id, token)  # repeatable
    assert again == frames


@pytest.mark.asyncio
async def test_many_concurrent_subscribers_and_mid_run_join(
    ctx: tuple[Emulator, httpx.AsyncClient, str],
) -> None:
    emu, client, token = ctx
    job_id = await run_job(client, "sample-program", _sample(40, 0.005))
    early = [asyncio.ensure_future(read_stream(emu, job_id, token)) for _ in range(4)]
    await asyncio.sleep(0.1)  # some subscribers join mid-run
    late = [asyncio.ensure_future(read_stream(emu, job_id, token)) for _ in range(3)]
    results = await asyncio.gather(*early, *late)
    reference = results[0][0]
    assert len(reference) == 1 + 40 + 1
    for frames, code in results:
        assert code == 1000
        assert frames == reference


@pytest.mark.asyncio
async def test_stream_of_queued_job_waits_for_data() -> None:
    async with serve(runtime_concurrency=1) as emu:
        token = await access_token(emu.url, "alice")
        async with httpx.AsyncClient(
            base_url=emu.runtime_url, headers={"X-Access-Token": token}
        ) as client:
            blocker = await upload(client, "sleepy", SLEEPER)
            first = await run_job(client, blocker, {"seconds": 0.5})
            queued = await run_job(client, "hello-world", {"iterations": 1})
            assert (await job(client, queued))["status"] == "QUEUED"
            frames, code = await read_stream(emu, queued, token)
            assert code == 1000
            assert frames == ["ACK", '{"iteration": 0}', '"Hello, World!"']
            assert (await job(client, first))["status"] == "COMPLETED"


@pytest.mark.asyncio
async def test_failed_and_cancelled_jobs_end_with_1000(
    ctx: tuple[Emulator, httpx.AsyncClient, str],
) -> None:
    emu, client, token = ctx
    pid = await upload(client, "sleepy", SLEEPER)
    job_id = await run_job(client, pid, {"seconds": 30})
    task = asyncio.ensure_future(read_stream(emu, job_id, token))
    await wait_status(client, job_id, ("RUNNING",))
    await asyncio.sleep(0.2)
    assert (await client.post(f"/jobs/{job_id}/cancel")).status_code == 200
    frames, code = await asyncio.wait_for(task, 5)
    assert code == 1000
    assert frames[0] == "ACK"
    assert all("pid" in json.loads(f) for f in frames[1:])


@pytest.mark.asyncio
async def test_drop_fault_then_replay(ctx: tuple[Emulator, httpx.AsyncClient, str]) -> None:
    emu, client, token = ctx
    job_id = await run_job(client, "sample-program", _sample(10, 0.001))
    await wait_status(client, job_id)
    rule = emu.faults.drop_stream_after(3, job_id=job_id)
    frames: list[str] = []

    async def read() -> None:
        async with connect(ws_url(emu, job_id), additional_headers={"X-Access-Token": token}) as ws:
            async for frame in ws:
                frames.append(str(frame))

    with pytest.raises(ConnectionClosedError) as info:
        await read()
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1011
    assert len(frames) == 1 + 3
    assert rule.remaining == 0
    full, code = await read_stream(emu, job_id, token)
    assert code == 1000
    assert full[:4] == frames
    assert len(full) == 1 + 10 + 1
    # a rule for another job does not apply; clear() removes it
    emu.faults.drop_stream_after(0, job_id="other")
    assert (await read_stream(emu, job_id, token))[0] == full
    emu.faults.clear()
    assert emu.faults.take_stream_drop("other") is None


@pytest.mark.asyncio
async def test_drop_fault_live(ctx: tuple[Emulator, httpx.AsyncClient, str]) -> None:
    emu, client, token = ctx
    emu.faults.drop_stream_after(5)
    job_id = await run_job(client, "sample-program", _sample(20, 0.005))
    with pytest.raises(ConnectionClosedError):
        await read_stream(emu, job_id, token)
    frames, code = await read_stream(emu, job_id, token)
    assert code == 1000
    assert len(frames) == 1 + 20 + 1


@pytest.mark.asyncio
async def test_handshake_refusals(ctx: tuple[Emulator, httpx.AsyncClient, str]) -> None:
    emu, client, token = ctx
    job_id = await run_job(client, "hello-world")
    with pytest.raises(InvalidStatus) as info:
        await read_stream(emu, job_id, "at.bogus.token")
    assert info.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as info:
        async with connect(ws_url(emu, job_id)):
            pass
    assert info.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as info:
        await read_stream(emu, "no-such-job", token)
    assert info.value.response.status_code == 404
    assert json.loads(info.value.response.body or b"{}")["error"]["code"] == 404
    other = await access_token(emu.url, "bob")
    with pytest.raises(InvalidStatus) as info:
        await read_stream(emu, job_id, other)  # someone else's job
    assert info.value.response.status_code == 404


@pytest.mark.asyncio
async def test_client_may_close_any_time(ctx: tuple[Emulator, httpx.AsyncClient, str]) -> None:
    emu, client, token = ctx
    job_id = await run_job(client, "sample-program", _sample(50, 0.01))
    for _ in range(3):
        async with connect(ws_url(emu, job_id), additional_headers={"X-Access-Token": token}) as ws:
            assert await ws.recv() == "ACK"
            await ws.recv()
            await ws.send("ignored client frame")
            await ws.ping()
    frames, code = await read_stream(emu, job_id, token)
    assert code == 1000
    assert len(frames) == 1 + 50 + 1


@pytest.mark.asyncio
async def test_shutdown_with_open_streams_is_prompt() -> None:
    loop = asyncio.get_running_loop()
    async with serve(runtime_concurrency=1) as emu:
        token = await access_token(emu.url, "alice")
        async with httpx.AsyncClient(
            base_url=emu.runtime_url, headers={"X-Access-Token": token}
        ) as client:
            pid = await upload(client, "sleepy", SLEEPER)
            running = await run_job(client, pid, {"seconds": 60})
            queued = await run_job(client, pid, {"seconds": 60})
            await wait_status(client, running, ("RUNNING",))
            streams = [
                asyncio.ensure_future(read_stream(emu, job_id, token))
                for job_id in (running, queued)
            ]
            await asyncio.sleep(0.2)
        started = loop.time()
    assert loop.time() - started < 5
    done, _ = await asyncio.wait(streams, timeout=5)
    assert len(done) == 2
    running_frames, running_code = streams[0].result()
    assert running_code == 1000  # the job failed (shut down) before the server stopped
    assert running_frames[0] == "ACK"
    with pytest.raises(ConnectionClosedError) as info:  # the queued job is not final: no 1000
        streams[1].result()
    assert info.value.rcvd is not None  # a close frame all the same: 1012, service restart
    assert info.value.rcvd.code == 1012
