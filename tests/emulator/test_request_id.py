"""Every response of the emulator carries an ``X-Request-Id`` (``docs/protocol.md#headers``),
kept in its request log, and the client's errors carry it on."""

from __future__ import annotations

import httpx
import pytest

from async_qexp import EntryNotFound, Provider, RetryPolicy
from async_qexp.emulator import Emulator, serve

pytestmark = pytest.mark.asyncio


async def test_every_response_has_its_own_request_id(emu: Emulator) -> None:
    async with httpx.AsyncClient(base_url=emu.url) as raw:
        answers = [
            await raw.get("/version"),
            await raw.get("/resultsdb/experiments"),  # 401: no token
            await raw.get("/no/such/route"),
        ]
    emu.faults.fail_next(1, status=503, path_prefix="/api")
    async with httpx.AsyncClient(base_url=emu.url) as raw:
        answers.append(await raw.get("/api/version"))
    ids = [answer.headers["X-Request-Id"] for answer in answers]
    assert [answer.status_code for answer in answers] == [200, 401, 404, 503]
    assert len(set(ids)) == 4
    assert all(len(i) == 32 for i in ids)
    assert [record.request_id for record in list(emu.request_log)[-4:]] == ids


async def test_a_client_error_names_the_request_id(emu: Emulator) -> None:
    async with Provider("alice", emu.url, retry=RetryPolicy.none()) as provider:
        with pytest.raises(EntryNotFound) as info:
            await provider.experiment.experiment("00000000-0000-0000-0000-000000000000")
    logged = next(r for r in reversed(list(emu.request_log)) if r.status == 404)
    assert info.value.request_id == logged.request_id
    assert f"(request id {logged.request_id})" in str(info.value)


async def test_request_ids_are_hex_and_two_emulators_never_share_one(emu: Emulator) -> None:
    async with serve() as other, httpx.AsyncClient() as raw:
        ours = [(await raw.get(f"{emu.url}/version")).headers["X-Request-Id"] for _ in range(3)]
        theirs = [(await raw.get(f"{other.url}/version")).headers["X-Request-Id"]]
    for request_id in ours + theirs:
        assert len(request_id) == 32
        int(request_id, 16)
    assert len(set(ours)) == 3
    assert not set(ours) & set(theirs)
    assert ours[0][:16] != theirs[0][:16]  # each server's ids start with its own random part
