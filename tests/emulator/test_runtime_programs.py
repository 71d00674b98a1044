"""Runtime programs over raw HTTP: CRUD, 409, 403, 404, visibility, count consistency."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from async_qexp.emulator import Emulator, serve

from .conftest import assert_error
from .runtime_helpers import ECHO, b64, runtime_client, upload

BUILTINS = {"hello-world", "sample-program", "t1-sim", "burst"}


@pytest_asyncio.fixture
async def two() -> AsyncIterator[tuple[Emulator, httpx.AsyncClient, httpx.AsyncClient]]:
    async with serve() as emu:
        alice = await runtime_client(emu, "alice")
        bob = await runtime_client(emu, "bob")
        async with alice, bob:
            yield emu, alice, bob


async def _all_programs(client: httpx.AsyncClient, page: int) -> tuple[list[str], int]:
    ids: list[str] = []
    offset = 0
    while True:
        r = await client.get("/programs", params={"limit": page, "offset": offset})
        assert r.status_code == 200, r.text
        body = r.json()
        ids += [p["id"] for p in body["programs"]]
        offset += len(body["programs"])
        if not body["programs"] or offset >= body["count"]:
            return ids, body["count"]


@pytest.mark.asyncio
async def test_builtins_are_public_system_programs(two: tuple[Emulator, ...]) -> None:
    _, alice, _ = two
    r = await alice.get("/programs")
    body = r.json()
    assert set(body) == {"programs", "count"}
    assert {p["id"] for p in body["programs"]} == BUILTINS
    assert body["count"] == len(BUILTINS)
    for program in body["programs"]:
        assert program["is_public"] is True
        assert program["owner"] == "system"
        assert "data" not in program
        assert program["cost"] > 0
        assert program["creation_date"].endswith("Z")
    t1 = (await alice.get("/programs/t1-sim")).json()
    assert "data" not in t1  # not the author
    assert "delays" in t1["spec"]["parameters"]["properties"]


@pytest.mark.asyncio
async def test_create_get_duplicate_and_author_only_data(two: tuple[Emulator, ...]) -> None:
    _, alice, bob = two
    source = "def main(backend, user_messenger, **kwargs):\n    return 42\n"
    pid = await upload(
        alice, "answer", source, cost=7, spec={"parameters": {"type": "object"}}, version="1.2"
    )
    assert pid == "answer"
    mine = (await alice.get(f"/programs/{pid}")).json()
    assert mine["data"] == source  # the decoded source, not base64
    assert mine["name"] == "answer"
    assert mine["cost"] == 7
    assert mine["is_public"] is False
    assert mine["spec"] == {"parameters": {"type": "object"}}
    assert mine["version"] == "1.2"
    assert mine["owner"] != "system"
    # private: invisible to bob
    assert_error(await bob.get(f"/programs/{pid}"), 404)
    # duplicate name -> 409 (also for another user)
    body = {"name": "answer", "data": b64(source), "cost": 1, "description": "d"}
    assert_error(await alice.post("/programs", content=json.dumps(body)), 409)
    assert_error(await bob.post("/programs", content=json.dumps(body)), 409)
    # public: bob sees it, without data
    r = await alice.put(f"/programs/{pid}/public")
    assert r.status_code == 200
    assert r.json()["is_public"] is True
    theirs = (await bob.get(f"/programs/{pid}")).json()
    assert "data" not in theirs
    assert theirs["is_public"] is True


@pytest.mark.asyncio
async def test_visibility_and_count_consistency(two: tuple[Emulator, ...]) -> None:
    _, alice, bob = two
    for i in range(7):
        await upload(alice, f"a{i}", ECHO, public=i % 2 == 0)
    for i in range(3):
        await upload(bob, f"b{i}", ECHO)
    a_ids, a_count = await _all_programs(alice, 3)
    b_ids, b_count = await _all_programs(bob, 2)
    assert a_count == len(a_ids) == len(set(a_ids)) == len(BUILTINS) + 7
    assert b_count == len(b_ids) == len(BUILTINS) + 4 + 3
    assert {"a1", "a3", "a5"}.isdisjoint(b_ids)
    assert {"a0", "a2", "a4", "a6", "b0", "b1", "b2"} <= set(b_ids)
    # offset past the end: empty page, same count
    r = await bob.get("/programs", params={"limit": 5, "offset": 100})
    assert r.json() == {"programs": [], "count": b_count}


@pytest.mark.asyncio
async def test_update_patch_and_data(two: tuple[Emulator, ...]) -> None:
    _, alice, bob = two
    pid = await upload(alice, "editable", ECHO)
    before = (await alice.get(f"/programs/{pid}")).json()
    r = await alice.patch(
        f"/programs/{pid}",
        content=json.dumps({"description": "new", "cost": 99, "spec": {"x": {"y": 1}}}),
    )
    assert r.status_code == 200, r.text
    after = (await alice.get(f"/programs/{pid}")).json()
    assert after["description"] == "new"
    assert after["cost"] == 99
    assert after["spec"]["x"] == {"y": 1}
    assert after["update_date"] >= before["update_date"]
    new_source = "def main(backend, user_messenger):\n    return 'v2'\n"
    r = await alice.put(
        f"/programs/{pid}/data",
        content=b64(new_source),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 200, r.text
    assert (await alice.get(f"/programs/{pid}")).json()["data"] == new_source
    r = await alice.put(f"/programs/{pid}/data", content=b64(ECHO))  # no Content-Type
    assert r.status_code == 200
    assert (await alice.get(f"/programs/{pid}")).json()["data"] == ECHO
    assert_error(await alice.put(f"/programs/{pid}/data", content=b"@@not base64@@"), 400)
    # rename onto an existing name -> 409
    await upload(alice, "other", ECHO)
    assert_error(await alice.patch(f"/programs/{pid}", content=json.dumps({"name": "other"})), 409)
    # bob may not touch alice's programs (hidden -> 404; public -> 403)
    assert_error(await bob.patch(f"/programs/{pid}", content=json.dumps({"cost": 1})), 404)
    await alice.put(f"/programs/{pid}/public")
    assert_error(await bob.patch(f"/programs/{pid}", content=json.dumps({"cost": 1})), 403)
    assert_error(await bob.put(f"/programs/{pid}/data", content=b64(ECHO)), 403)
    assert_error(await bob.put(f"/programs/{pid}/private"), 403)
    assert_error(await bob.delete(f"/programs/{pid}"), 403)
    # and nobody may change the built-ins
    assert_error(await alice.put("/programs/hello-world/private"), 403)
    assert_error(await alice.delete("/programs/hello-world"), 403)
    # private again: gone for bob
    assert (await alice.put(f"/programs/{pid}/private")).status_code == 200
    assert_error(await bob.get(f"/programs/{pid}"), 404)


@pytest.mark.asyncio
async def test_delete_and_not_found(two: tuple[Emulator, ...]) -> None:
    _, alice, _ = two
    pid = await upload(alice, "doomed", ECHO)
    r = await alice.delete(f"/programs/{pid}")
    assert r.status_code == 200
    assert r.json() == {}
    for call in (
        alice.get(f"/programs/{pid}"),
        alice.delete(f"/programs/{pid}"),
        alice.patch(f"/programs/{pid}", content="{}"),
        alice.put(f"/programs/{pid}/data", content=b64(ECHO)),
        alice.put(f"/programs/{pid}/public"),
        alice.put(f"/programs/{pid}/private"),
    ):
        assert_error(await call, 404)
    # the name is free again
    assert await upload(alice, "doomed", ECHO) == "doomed"


@pytest.mark.asyncio
async def test_bad_bodies_and_auth(two: tuple[Emulator, ...]) -> None:
    emu, alice, _ = two
    assert_error(await alice.post("/programs", content=b"{not json"), 400)
    assert_error(await alice.post("/programs", content=b"[1, 2]"), 400)
    missing_name = {"data": b64(ECHO), "cost": 1, "description": "x"}
    assert_error(await alice.post("/programs", content=json.dumps(missing_name)), 400)
    bad_data = {"name": "x", "data": "%%%", "cost": 1, "description": "x"}
    assert_error(await alice.post("/programs", content=json.dumps(bad_data)), 400)
    bad_cost = {"name": "x", "data": b64(ECHO), "cost": -3, "description": "x"}
    assert_error(await alice.post("/programs", content=json.dumps(bad_cost)), 400)
    # any Content-Type (even a wrong one) is parsed as JSON
    body = {"name": "typed", "data": b64(ECHO), "cost": 5, "description": "x"}
    r = await alice.post(
        "/programs", content=json.dumps(body), headers={"Content-Type": "text/plain"}
    )
    assert r.status_code == 201
    async with httpx.AsyncClient(base_url=emu.runtime_url) as anonymous:
        assert_error(await anonymous.get("/programs"), 401)
        r = await anonymous.get("/programs", headers={"X-Access-Token": "at.bogus.token"})
        assert_error(r, 401)
    assert_error(await alice.get("/no/such/route"), 404)
    r = await alice.get("/version")
    assert r.status_code == 200
    assert "api-runtime" in r.json()
