"""Authentication and discovery (``docs/protocol.md#login-and-service-discovery``; items 1-5 of
``#what-the-emulator-must-do``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from async_qexp.emulator import Emulator, EmulatorConfig, load_users, serve
from async_qexp.emulator import state as state_module

from .conftest import assert_error

PREFIXES = ["", "/api"]


@pytest.mark.asyncio
@pytest.mark.parametrize("prefix", PREFIXES)
async def test_version_login_me(emu: Emulator, raw: httpx.AsyncClient, prefix: str) -> None:
    r = await raw.get(prefix + "/version")
    assert r.status_code == 200
    assert r.json()["api-auth"]
    r = await raw.post(prefix + "/users/loginWithToken", json={"apiToken": "abc"})
    assert r.status_code == 200
    token = r.json()["id"]
    assert isinstance(token, str)
    assert token
    assert token != "abc"
    r = await raw.get(prefix + "/users/me", headers={"X-Access-Token": token})
    assert r.status_code == 200
    me = r.json()
    assert me["id"]
    assert me["urls"]["http"] == emu.url + "/api"
    assert me["urls"]["ws"] == emu.url.replace("http://", "ws://") + "/ws"
    assert me["urls"]["services"] == {"resultsDB": emu.resultsdb_url, "runtime": emu.runtime_url}
    assert emu.resultsdb_url == emu.url + "/resultsdb"


@pytest.mark.asyncio
async def test_same_token_same_user_distinct_tokens_distinct_users(
    raw: httpx.AsyncClient,
) -> None:
    ids = []
    for api_token in ("t1", "t1", "t2"):
        r = await raw.post("/users/loginWithToken", json={"apiToken": api_token})
        r2 = await raw.get("/users/me", headers={"X-Access-Token": r.json()["id"]})
        ids.append(r2.json()["id"])
    assert ids[0] == ids[1] != ids[2]


@pytest.mark.asyncio
async def test_network_default_user(raw: httpx.AsyncClient) -> None:
    token = (await raw.post("/users/loginWithToken", json={"apiToken": "x"})).json()["id"]
    r = await raw.get("/api/Network", headers={"X-Access-Token": token})
    assert r.status_code == 200
    assert r.json() == [
        {
            "name": "ibm-q",
            "groups": {
                "open": {"name": "open", "projects": {"main": {"name": "main", "isDefault": True}}}
            },
        }
    ]


@pytest.mark.asyncio
async def test_unauthenticated_calls_get_401_json(raw: httpx.AsyncClient) -> None:
    for path in ("/users/me", "/api/users/me", "/api/Network", "/resultsdb/experiments"):
        assert_error(await raw.get(path), 401)
        assert_error(await raw.get(path, headers={"X-Access-Token": "nope"}), 401)
    # a forged token (right shape, wrong MAC)
    good = (await raw.post("/users/loginWithToken", json={"apiToken": "x"})).json()["id"]
    forged = good[:-4] + ("0000" if not good.endswith("0000") else "1111")
    assert_error(await raw.get("/resultsdb/devices", headers={"X-Access-Token": forged}), 401)
    assert_error(await raw.get("/runtime/jobs"), 401)


@pytest.mark.asyncio
async def test_a_checked_token_is_remembered_but_never_vouches_for_another(
    raw: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state_module, "_VERIFIED_TOKENS", 2)  # starts over every 2 tokens
    tokens = [
        (await raw.post("/users/loginWithToken", json={"apiToken": f"t{i}"})).json()["id"]
        for i in range(5)
    ]
    for _ in range(2):
        for token in tokens:
            answer = await raw.get("/users/me", headers={"X-Access-Token": token})
            assert answer.status_code == 200
            forged = token[:-1] + ("0" if token[-1] != "0" else "1")
            assert_error(await raw.get("/users/me", headers={"X-Access-Token": forged}), 401)


@pytest.mark.asyncio
async def test_requests_of_one_user_at_once_share_one_lookup_of_that_user(
    emu: Emulator, raw: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = emu.state.store
    lookup = store.user_by_id
    asked: list[str] = []

    async def slow_lookup(user_id: str) -> Any:
        asked.append(user_id)
        await asyncio.sleep(0.05)  # long enough for every request below to arrive meanwhile
        return await lookup(user_id)

    monkeypatch.setattr(store, "user_by_id", slow_lookup)
    alice, bob = [
        (await raw.post("/users/loginWithToken", json={"apiToken": name})).json()["id"]
        for name in ("alice", "bob")
    ]
    answers = await asyncio.gather(
        *(
            raw.get("/users/me", headers={"X-Access-Token": token})
            for token in [alice] * 10 + [bob] * 10
        )
    )
    assert [answer.status_code for answer in answers] == [200] * 20
    assert len({answer.json()["id"] for answer in answers}) == 2
    assert len(asked) < 20  # (2 when every request arrived within the first lookups)
    before = len(asked)
    answer = await raw.get("/users/me", headers={"X-Access-Token": alice})
    assert answer.status_code == 200
    assert len(asked) == before + 1  # a lookup of its own once the others are done


@pytest.mark.asyncio
async def test_login_failures_are_json(raw: httpx.AsyncClient) -> None:
    assert_error(await raw.post("/users/loginWithToken", json={}), 401)
    assert_error(await raw.post("/users/loginWithToken", json={"apiToken": 5}), 401)
    assert_error(await raw.post("/users/loginWithToken", content=b"not json"), 400)
    r = await raw.get("/nowhere")
    assert_error(r, 404)
    assert r.reason_phrase == "Not Found"
    assert_error(await raw.delete("/users/me"), 405)


@pytest.mark.asyncio
async def test_users_file(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    path.write_text(
        json.dumps(
            {
                "users": [
                    {"token": "tok-a", "id": "alice", "hgps": ["h1/g1/p1", "h2/g2/p2"]},
                    {"token": "tok-b", "id": "bob", "hgps": ["h1/g1/p1"]},
                ]
            }
        )
    )
    assert [u.id for u in load_users(path)] == ["alice", "bob"]
    async with (
        serve(EmulatorConfig(users=str(path))) as emu,
        httpx.AsyncClient(base_url=emu.url) as c,
    ):
        assert_error(await c.post("/api/users/loginWithToken", json={"apiToken": "other"}), 401)
        r = await c.post("/api/users/loginWithToken", json={"apiToken": "tok-a"})
        assert r.status_code == 200
        h = {"X-Access-Token": r.json()["id"]}
        assert (await c.get("/api/users/me", headers=h)).json()["id"] == "alice"
        net = (await c.get("/api/Network", headers=h)).json()
        flat = [
            (hub["name"], g, p, info["isDefault"])
            for hub in net
            for g, grp in hub["groups"].items()
            for p, info in grp["projects"].items()
        ]
        assert flat == [("h1", "g1", "p1", True), ("h2", "g2", "p2", False)]
        # experiments default to the user's first hub/group/project
        r = await c.post(
            "/resultsdb/experiments", headers=h, json={"type": "T1", "device_name": "ibmq_lima"}
        )
        body = r.json()
        assert (body["hub_id"], body["group_id"], body["project_id"]) == ("h1", "g1", "p1")
        assert body["owner"] == "alice"


def test_bad_users_file(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    path.write_text(json.dumps({"users": [{"token": "t", "id": "u", "hgps": ["nope"]}]}))
    with pytest.raises(ValueError, match="hub/group/project"):
        load_users(path)
