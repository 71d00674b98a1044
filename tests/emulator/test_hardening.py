"""Hostile and malformed requests (the emulator as a shared service): writes into foreign
projects, inputs that used to reach a 500, what a 500 does to the connection, and the
existence oracle of creates (``docs/protocol.md#errors`` and ``#visibility``)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from async_qexp.emulator import Emulator

from .conftest import assert_error, create_exp, create_result
from .runtime_helpers import runtime_client

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
