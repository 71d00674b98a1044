"""The runtime result-stream websocket (``docs/protocol.md#result-stream``) with a raw
websockets client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError, InvalidStatus

from async_qexp.emulator import Emulator, EmulatorConfig, serve
from async_qexp.emulator.runtime.live import POLL
from async_qexp.emulator.runtime.stream import _Access
from async_qexp.emulator.store import Unavailable

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

NOW = "2026-01-01T00:00:00.000000Z"
LATER = "2026-01-02T00:00:00.000000Z"


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


@pytest.mark.asyncio
@pytest.mark.parametrize("where", ["running", "queued"])
async def test_a_revoked_users_stream_closes_1008_and_no_other(tmp_path: Path, where: str) -> None:
    # A stream follows a job run here in memory, any other from the database: both ask again
    # whether their user may listen, and only the revoked user's stream ends.
    loop = asyncio.get_running_loop()
    hgp = [("ibm-q", "open", "main")]
    config = EmulatorConfig(db=str(tmp_path / "users.sqlite"), runtime_concurrency=1)
    async with serve(config) as emu:
        store = emu.state.store
        tokens = {
            name: await access_token(emu.url, await store.add_user(name, hgp, NOW))
            for name in ("alice", "bob")
        }
        clients = {
            name: httpx.AsyncClient(base_url=emu.runtime_url, headers={"X-Access-Token": token})
            for name, token in tokens.items()
        }
        async with clients["alice"], clients["bob"]:
            first = "bob" if where == "queued" else "alice"
            blocker = await run_job(
                clients[first], await upload(clients[first], "sleepy", SLEEPER), {"seconds": 30}
            )
            await wait_status(clients[first], blocker, ("RUNNING",))
            if where == "queued":
                job_id = await run_job(clients["alice"], "hello-world", {"iterations": 1})
                assert (await job(clients["alice"], job_id))["status"] == "QUEUED"
            else:
                job_id = blocker
            streams = {"alice": asyncio.ensure_future(read_stream(emu, job_id, tokens["alice"]))}
            if where == "queued":
                streams["bob"] = asyncio.ensure_future(read_stream(emu, blocker, tokens["bob"]))
            await asyncio.sleep(0.2)
            assert not any(stream.done() for stream in streams.values())
            revoked = loop.time()
            await store.revoke_user("alice", LATER)
            with pytest.raises(ConnectionClosedError) as closed:
                await asyncio.wait_for(streams["alice"], 5)
            assert loop.time() - revoked < POLL + 1
            assert closed.value.rcvd is not None
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1008, "access revoked")
            with pytest.raises(InvalidStatus) as refused:  # and it cannot come back
                await read_stream(emu, job_id, tokens["alice"])
            assert refused.value.response.status_code == 401
            if where == "queued":  # bob's stream of his own job goes on until it ends
                await asyncio.sleep(POLL)
                assert not streams["bob"].done()
                assert (await clients["bob"].post(f"/jobs/{blocker}/cancel")).status_code == 200
                _, bob_code = await asyncio.wait_for(streams["bob"], 5)
                assert bob_code == 1000


@pytest.mark.asyncio
async def test_a_store_that_cannot_say_whether_the_user_stays_does_not_cut_the_stream() -> None:
    answers: list[bool | Exception] = [Unavailable("the database is away"), False]

    async def allowed() -> bool:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    access = _Access(allowed)
    assert 0 < access.wait_at_most() <= POLL
    assert not await access.lost()  # not due yet: nothing asked
    assert len(answers) == 2
    access._next = 0.0  # due
    assert not await access.lost()  # asked; no answer is not a no
    assert 0 < access.wait_at_most() <= POLL  # and the next look waits its turn
    access._next = 0.0
    assert await access.lost()
    assert answers == []
