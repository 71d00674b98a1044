"""Hostile and malformed requests (the emulator as a shared service): writes into foreign
projects, inputs that used to reach a 500, what a 500 does to the connection, and the
existence oracle of creates (``docs/protocol.md#errors`` and ``#visibility``)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from async_qexp.emulator import Emulator, serve

from .conftest import assert_error, create_exp, create_result, login_client
from .runtime_helpers import ECHO, b64, runtime_client, upload

# -- 1. writes into a hub/group/project the caller does not belong to ----------------------------


@pytest.mark.asyncio
async def test_experiment_create_into_a_foreign_project_is_403(
    team: Emulator, users: dict[str, httpx.AsyncClient]
) -> None:
    dave, bob = users["dave"], users["bob"]  # dave: hub-b/group-9/proj-z; bob: hub-a/group-1/proj-x
    foreign = {"hub_id": "hub-a", "group_id": "group-1", "project_id": "proj-x"}
    body = {"uuid": "squat", "type": "T1", "device_name": "ibmq_lima", "visibility": "project"}
    assert_error(await dave.post("/experiments", json={**body, **foreign}), 403)
    # a part of a foreign triple, or a project of the right hub in another group, too
    for partial in (
        {"hub_id": "hub-a"},
        {"hub_id": "hub-a", "group_id": "group-1"},
        {"hub_id": "hub-b", "group_id": "group-9", "project_id": "proj-x"},
        {"hub_id": "hub-b", "group_id": "group-1"},
    ):
        assert_error(await dave.post("/experiments", json={**body, **partial}), 403)
    # a group needs its hub, a project its group
    assert_error(await dave.post("/experiments", json={**body, "group_id": "group-9"}), 400)
    assert_error(
        await dave.post("/experiments", json={**body, "hub_id": "hub-b", "project_id": "proj-z"}),
        400,
    )
    # nothing was stored: bob (a member of hub-a/group-1/proj-x) sees nothing
    assert (await bob.get("/experiments")).json()["experiments"] == []
    # the caller's own projects, whole or as a prefix, are fine
    own = {"hub_id": "hub-b", "group_id": "group-9", "project_id": "proj-z"}
    assert (await create_exp(dave, "ok-1", **own))["project_id"] == "proj-z"
    assert (await create_exp(dave, "ok-2", hub_id="hub-b"))["hub_id"] == "hub-b"
    alice = users["alice"]  # alice has two projects: either one
    assert (await create_exp(alice, "ok-3", **foreign))["hub_id"] == "hub-a"


@pytest.mark.asyncio
async def test_runtime_job_in_a_foreign_project_is_403(team: Emulator) -> None:
    dave = await runtime_client(team, "dave-token")
    async with dave:
        body = {
            "program_id": "hello-world",
            "backend": "emulator_simulator",
            "hub": "hub-a",
            "group": "group-1",
            "project": "proj-x",
            "params": {},
        }
        assert_error(await dave.post("/jobs", content=json.dumps(body)), 403)
        assert (await dave.get("/jobs")).json()["count"] == 0
        own = {**body, "hub": "hub-b", "group": "group-9", "project": "proj-z"}
        r = await dave.post("/jobs", content=json.dumps(own))
        assert r.status_code == 200, r.text


@pytest.mark.asyncio
async def test_without_a_users_file_projects_are_labels(rdb: httpx.AsyncClient) -> None:
    # Nobody belongs to any project but ibm-q/open/main, so a label shares with nobody.
    record = await create_exp(rdb, "labelled", hub_id="h", group_id="g", project_id="p")
    assert (record["hub_id"], record["group_id"], record["project_id"]) == ("h", "g", "p")


# -- 2. inputs that reached a 500 ----------------------------------------------------------------

BIG = "9" * 5000
HUGE_OFFSET = str(2**64)


def _deep_string(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest_asyncio.fixture
async def rt(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    client = await runtime_client(emu, "fuzzer")
    async with client:
        yield client


@pytest.mark.asyncio
async def test_numbers_out_of_range_are_400(rdb: httpx.AsyncClient, rt: httpx.AsyncClient) -> None:
    for path in ("/experiments", "/analysis_results"):
        assert_error(await rdb.get(path, params={"limit": BIG}), 400)
    for path in ("/jobs", "/programs"):
        assert_error(await rt.get(path, params={"offset": HUGE_OFFSET}), 400)
        assert_error(await rt.get(path, params={"offset": BIG}), 400)
        assert_error(await rt.get(path, params={"limit": BIG}), 400)
    program = {"name": "p", "data": b64(ECHO), "description": "d"}
    pid = await upload(rt, "echo", ECHO)
    job = {"program_id": pid, "backend": "emulator_simulator", "params": {}}
    for cost in ('"inf"', '"-inf"', "1e999", "-1e999", "1e300", '"1e300"', str(2**64), '"nan"'):
        text = json.dumps(program)[:-1] + f', "cost": {cost}}}'
        assert_error(await rt.post("/programs", content=text), 400)
        assert_error(await rt.patch(f"/programs/{pid}", content=f'{{"cost": {cost}}}'), 400)
        text = json.dumps(job)[:-1] + f', "cost": {cost}}}'
        assert_error(await rt.post("/jobs", content=text), 400)
    assert (await rt.get("/jobs")).json()["count"] == 0
    assert (await rt.get(f"/programs/{pid}")).json()["cost"] == 60


@pytest.mark.asyncio
async def test_deeply_nested_strings_are_400(rt: httpx.AsyncClient) -> None:
    pid = await upload(rt, "echo", ECHO)
    for depth in (300, 100_000):
        deep = _deep_string(depth)
        body = {"name": "deep", "data": b64(ECHO), "spec": deep}
        assert_error(await rt.post("/programs", content=json.dumps(body)), 400)
        assert_error(await rt.patch(f"/programs/{pid}", content=json.dumps({"spec": deep})), 400)
        for params in (deep, [deep]):
            job = {"program_id": pid, "backend": "emulator_simulator", "params": params}
            assert_error(await rt.post("/jobs", content=json.dumps(job)), 400)
    assert (await rt.get("/jobs")).json()["count"] == 0


async def _raw_exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 10)  # the server closes the connection
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


@pytest.mark.asyncio
@pytest.mark.parametrize("http_impl", ["h11", "httptools"])
async def test_malformed_http_gets_a_json_400(http_impl: str) -> None:
    async with serve(http_impl=http_impl) as emu:
        for request in (
            b"POST /resultsdb/experiments HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
            b"POST /resultsdb/experiments HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n{}",
            b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        ):
            status, headers, body = await _raw_exchange(emu.port, request)
            assert status == 400, body
            assert headers["content-type"] == "application/json"
            assert headers["connection"] == "close"
            assert json.loads(body)["error"]["code"] == 400


@pytest.mark.asyncio
async def test_undecodable_names_are_refused_not_mangled(rdb: httpx.AsyncClient) -> None:
    await create_exp(rdb, "e")
    for name in ("%ff%fe.svg", "a%FFb.svg", "%ED%A0%80.svg", "%C0%AF.svg"):
        assert_error(await rdb.get(f"/experiments/e/plots/upload/{name}"), 400)
        assert_error(await rdb.get(f"/experiments/e/files/upload/{name}"), 400)
        assert_error(await rdb.get(f"/experiments/e/plots/{name}"), 400)
    assert_error(await rdb.get("/experiments/%ff"), 400)
    assert_error(await rdb.get("/experiments?type=%ff"), 400)
    # valid UTF-8 round-trips byte-exactly (but no text may hold NUL)
    for name in ("%E2%82%AC.svg", "sp%20ace.svg", "d%2Fe.svg"):
        r = await rdb.get(f"/experiments/e/plots/upload/{name}")
        assert r.status_code == 200, r.text
        assert (await rdb.put(r.json()["url"], content=name.encode())).status_code == 200
    names = (await rdb.get("/experiments/e")).json()["plot_names"]
    assert names == ["\u20ac.svg", "sp ace.svg", "d/e.svg"]
    r = await rdb.get("/experiments/e/plots/%E2%82%AC.svg")
    assert r.content == b"%E2%82%AC.svg"


# -- 3. a 500 closes its connection cleanly ------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("http_impl", ["h11", "httptools"])
async def test_a_500_says_connection_close_and_the_next_request_works(
    http_impl: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with serve(http_impl=http_impl) as emu:
        calls = 0

        async def broken(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            raise ZeroDivisionError("a bug")

        emu.state.store.list_experiments = broken  # type: ignore[method-assign]
        c = await login_client(emu.url, "t")
        async with c:
            token = c.headers["X-Access-Token"]
            request = (
                f"GET /resultsdb/experiments HTTP/1.1\r\nHost: x\r\nX-Access-Token: {token}\r\n\r\n"
            ).encode()
            with caplog.at_level(logging.ERROR):
                status, headers, body = await _raw_exchange(emu.port, request)
            assert status == 500
            assert headers["connection"] == "close"
            assert headers["content-type"] == "application/json"
            assert json.loads(body)["error"]["code"] == 500
            # the client's next request goes on a fresh connection and succeeds
            for _ in range(20):
                assert_error(await c.get("/experiments"), 500)
                assert (await c.get("/devices")).status_code == 200
        assert calls == 21
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert logged
    assert all(r.name == "async_qexp.emulator" for r in logged), [r.name for r in logged]
    assert logged[0].exc_info is not None
    assert "ZeroDivisionError" in caplog.text


# -- 7. the existence oracle ---------------------------------------------------------------------


def _answer(r: httpx.Response) -> tuple[int, Any]:
    return r.status_code, r.json()


@pytest.mark.asyncio
async def test_a_taken_id_answers_the_same_whoever_may_see_it(
    team: Emulator, users: dict[str, httpx.AsyncClient]
) -> None:
    alice, dave = users["alice"], users["dave"]
    hgp = {"hub_id": "hub-a", "group_id": "group-1", "project_id": "proj-x"}
    await create_exp(dave, "daves")
    for level in ("private", "project", "group", "hub", "public"):
        await create_exp(alice, f"e-{level}", visibility=level, **hgp)
        await create_result(alice, f"r-{level}", f"e-{level}")
    for level in ("private", "project", "group", "hub", "public"):
        for name, client in users.items():
            exp = await client.post(
                "/experiments", json={"uuid": f"e-{level}", "type": "T", "device_name": "d"}
            )
            assert _answer(exp) == (
                409,
                {"error": {"code": 409, "message": f"experiment 'e-{level}' already exists"}},
            ), name
            own = "daves" if name == "dave" else "e-public" if name == "alice" else None
            if own is None:
                continue
            res = await client.post(
                "/analysis_results",
                json={"uuid": f"r-{level}", "experiment_uuid": own, "type": "T"},
            )
            assert _answer(res) == (
                409,
                {"error": {"code": 409, "message": f"analysis result 'r-{level}' already exists"}},
            ), name
    # a read of an invisible id is a plain "not found", as for an id nobody has
    invisible = await dave.get("/experiments/e-private")
    missing = await dave.get("/experiments/e-nobody")
    assert invisible.status_code == missing.status_code == 404
    assert (
        invisible.json()["error"]["message"].replace("private", "nobody")
        == (missing.json()["error"]["message"])
    )
