"""Experiments, analysis results and devices: CRUD, errors, visibility
(``docs/protocol.md#experiment-service-endpoints``, ``#what-the-emulator-must-do``)."""

from __future__ import annotations

import json

import httpx
import pytest

from async_qexp.emulator import DeviceSpec, EmulatorConfig, serve

from .conftest import assert_error, create_exp, create_result, exp_body, login_client

EXP_FIELDS = {
    "uuid", "type", "device_name", "extra", "parent_experiment_uuid", "hub_id", "group_id",
    "project_id", "visibility", "tags", "jobs", "notes", "start_time", "end_time",
    "created_at", "updated_at", "owner", "plot_names",
}  # fmt: skip
RESULT_FIELDS = {
    "uuid", "experiment_uuid", "device_name", "type", "fit", "device_components", "tags",
    "quality", "verified", "chisq", "created_at", "updated_at",
}  # fmt: skip


@pytest.mark.asyncio
async def test_experiment_crud(rdb: httpx.AsyncClient) -> None:
    extra = {"qubits": [0], "z": {"__type__": "complex", "__value__": [1.0, 2.0]}, "k": None}
    created = await create_exp(
        rdb,
        "e1",
        extra=extra,
        tags=["calib"],
        jobs=["job1"],
        visibility="project",
        start_time="2022-07-29T09:49:45Z",
        end_time="2022-07-29T11:49:45.5+02:00",
        notes="hello",
        hub_id="ibm-q",
        group_id="open",
        project_id="main",
    )
    assert set(created) == EXP_FIELDS
    assert created["extra"] == extra
    assert created["start_time"] == "2022-07-29T09:49:45.000000Z"
    assert created["end_time"] == "2022-07-29T09:49:45.500000Z"
    assert created["created_at"].endswith("Z")
    assert len(created["created_at"]) == 27
    assert created["plot_names"] == []
    got = await rdb.get("/experiments/e1")
    assert got.status_code == 200
    assert got.json() == created
    # key order of extra survives (byte-for-byte equivalent JSON)
    assert list(json.loads(got.text)["extra"]) == ["qubits", "z", "k"]

    # defaults
    minimal = await create_exp(rdb, "e2")
    assert minimal["jobs"] == []
    assert minimal["tags"] == []
    assert minimal["extra"] == {}
    assert minimal["visibility"] == "private"
    assert minimal["notes"] == ""
    # server-generated uuid
    r = await rdb.post("/experiments", json={"type": "T1", "device_name": "ibmq_lima"})
    assert r.status_code == 201
    assert r.json()["uuid"]

    r = await rdb.delete("/experiments/e1")
    assert r.status_code == 200
    assert r.json()["uuid"] == "e1"
    assert_error(await rdb.get("/experiments/e1"), 404)


@pytest.mark.asyncio
async def test_409_and_404(rdb: httpx.AsyncClient) -> None:
    await create_exp(rdb, "dup")
    r = await rdb.post("/experiments", json=exp_body("dup", type="other"))
    assert_error(r, 409)
    assert (await rdb.get("/experiments/dup")).json()["type"] == "T1"
    for method in ("GET", "PUT", "DELETE"):
        r = await rdb.request(method, "/experiments/missing", json={} if method == "PUT" else None)
        assert_error(r, 404)
        assert r.reason_phrase == "Not Found"
    for method in ("GET", "PUT", "DELETE"):
        r = await rdb.request(
            method, "/analysis_results/missing", json={} if method == "PUT" else None
        )
        assert_error(r, 404)
    await create_result(rdb, "r1", "dup")
    assert_error(
        await rdb.post(
            "/analysis_results",
            json={"uuid": "r1", "experiment_uuid": "dup", "type": "T1"},
        ),
        409,
    )
    assert_error(
        await rdb.post("/analysis_results", json={"experiment_uuid": "missing", "type": "T1"}),
        404,
    )


@pytest.mark.asyncio
async def test_partial_put(rdb: httpx.AsyncClient) -> None:
    before = await create_exp(
        rdb,
        "p1",
        tags=["a"],
        jobs=["j"],
        notes="n",
        extra={"x": 1},
        start_time="2022-01-01T00:00:00Z",
    )
    r = await rdb.put("/experiments/p1", json={})
    assert r.status_code == 200
    same = r.json()
    assert {k: v for k, v in same.items() if k != "updated_at"} == {
        k: v for k, v in before.items() if k != "updated_at"
    }
    r = await rdb.put(
        "/experiments/p1",
        json={
            "uuid": "ignored",
            "type": "ignored",
            "device_name": "ignored",
            "notes": "new",
            "visibility": "public",
            "end_time": "2022-01-02T00:00:00Z",
        },
    )
    after = r.json()
    assert after["uuid"] == "p1"
    assert after["type"] == "T1"
    assert after["device_name"] == "ibmq_lima"
    assert after["notes"] == "new"
    assert after["visibility"] == "public"
    assert after["tags"] == ["a"]
    assert after["jobs"] == ["j"]
    assert after["extra"] == {"x": 1}
    assert after["end_time"] == "2022-01-02T00:00:00.000000Z"
    assert after["updated_at"] >= before["updated_at"]
    r = await rdb.put("/experiments/p1", json={"extra": {"y": [1, 2]}, "tags": ["b", "c"]})
    assert r.json()["extra"] == {"y": [1, 2]}
    assert r.json()["tags"] == ["b", "c"]

    res = await create_result(
        rdb, "pr1", "p1", fit={"value": 41.4}, quality="Good", chisq=1.3, tags=["t"]
    )
    assert set(res) == RESULT_FIELDS
    assert res["device_name"] == "ibmq_lima"
    assert res["quality"] == "Good"
    r = await rdb.put("/analysis_results/pr1", json={})
    assert r.status_code == 200
    assert r.json()["fit"] == {"value": 41.4}
    r = await rdb.put(
        "/analysis_results/pr1",
        json={"uuid": "pr1", "verified": True, "quality": "Bad", "fit": {"value": 2}},
    )
    body = r.json()
    assert body["verified"] is True
    assert body["quality"] == "Bad"
    assert body["fit"] == {"value": 2}
    assert body["tags"] == ["t"]
    assert body["chisq"] == 1.3
    assert (await rdb.get("/analysis_results/pr1")).json() == body


@pytest.mark.asyncio
async def test_bulk_update(rdb: httpx.AsyncClient) -> None:
    await create_exp(rdb, "b1")
    await create_result(rdb, "br1", "b1")
    await create_result(rdb, "br2", "b1")
    r = await rdb.put(
        "/analysis_results/bulkupdate",
        json={
            "analysis_results": [{"uuid": "br1", "verified": True}, {"uuid": "br2", "chisq": 2.5}]
        },
    )
    assert r.status_code == 200
    got = {x["uuid"]: x for x in r.json()["analysis_results"]}
    assert got["br1"]["verified"] is True
    assert got["br2"]["chisq"] == 2.5
    # all or nothing
    r = await rdb.put(
        "/analysis_results/bulkupdate",
        json={"analysis_results": [{"uuid": "br1", "verified": False}, {"uuid": "nope"}]},
    )
    assert_error(r, 404)
    assert (await rdb.get("/analysis_results/br1")).json()["verified"] is True


@pytest.mark.asyncio
async def test_cascading_delete(rdb: httpx.AsyncClient) -> None:
    await create_exp(rdb, "c1")
    await create_exp(rdb, "c2")
    await create_result(rdb, "cr1", "c1")
    await create_result(rdb, "cr2", "c2")
    for kind in ("plots", "files"):
        url = (await rdb.get(f"/experiments/c1/{kind}/upload/x.json")).json()["url"]
        assert (await rdb.put(url, content=b"{}")).status_code == 200
    assert (await rdb.delete("/experiments/c1")).status_code == 200
    assert_error(await rdb.get("/analysis_results/cr1"), 404)
    assert (await rdb.get("/analysis_results/cr2")).status_code == 200
    rows = (await rdb.get("/analysis_results")).json()["analysis_results"]
    assert [x["uuid"] for x in rows] == ["cr2"]
    # recreating the experiment does not resurrect figures/files
    await create_exp(rdb, "c1")
    assert (await rdb.get("/experiments/c1")).json()["plot_names"] == []
    assert (await rdb.get("/experiments/c1/files")).json() == {"files": []}
    assert_error(await rdb.get("/experiments/c1/plots/x.json"), 404)


@pytest.mark.asyncio
async def test_parent_experiment(rdb: httpx.AsyncClient) -> None:
    await create_exp(rdb, "parent")
    child = await create_exp(rdb, "child", parent_experiment_uuid="parent")
    assert child["parent_experiment_uuid"] == "parent"
    assert_error(
        await rdb.post("/experiments", json=exp_body("x", parent_experiment_uuid="no")), 400
    )
    assert_error(
        await rdb.post(
            "/experiments", json=exp_body("x", parent_experiment_uuid="parent", device_name="other")
        ),
        400,
    )
    assert_error(
        await rdb.put("/experiments/parent", json={"parent_experiment_uuid": "parent"}), 400
    )
    rows = (await rdb.get("/experiments", params={"parent_experiment_uuid": "parent"})).json()
    assert [e["uuid"] for e in rows["experiments"]] == ["child"]


@pytest.mark.asyncio
async def test_visibility_and_ownership(users: dict[str, httpx.AsyncClient]) -> None:
    alice, bob, _carol, dave = users["alice"], users["bob"], users["carol"], users["dave"]
    hgp = {"hub_id": "hub-a", "group_id": "group-1", "project_id": "proj-x"}
    for level in ("private", "project", "group", "hub", "public"):
        await create_exp(alice, level, visibility=level, **hgp)
        await create_result(alice, "r-" + level, level)
    expected = {
        "alice": {"private", "project", "group", "hub", "public"},
        "bob": {"project", "group", "hub", "public"},  # same project
        "carol": {"hub", "public"},  # same hub, other group
        "dave": {"public"},
    }
    for name, client in users.items():
        listed = {e["uuid"] for e in (await client.get("/experiments")).json()["experiments"]}
        assert listed == expected[name], name
        results = (await client.get("/analysis_results")).json()["analysis_results"]
        assert {r["experiment_uuid"] for r in results} == expected[name]
        for level in ("private", "project", "group", "hub", "public"):
            r = await client.get(f"/experiments/{level}")
            assert r.status_code == (200 if level in expected[name] else 404)
            r = await client.get(f"/analysis_results/r-{level}")
            assert r.status_code == (200 if level in expected[name] else 404)
    # visible but not owned: 403 for every mutation, nothing changes
    assert_error(await bob.put("/experiments/project", json={"notes": "x"}), 403)
    assert_error(await bob.delete("/experiments/project"), 403)
    assert_error(await dave.put("/analysis_results/r-public", json={"verified": True}), 403)
    assert_error(await dave.delete("/analysis_results/r-public"), 403)
    assert_error(await dave.get("/experiments/public/plots/upload/f.svg"), 403)
    assert_error(
        await dave.post("/analysis_results", json={"experiment_uuid": "public", "type": "T"}), 403
    )
    # not visible: 404 even for mutations
    assert_error(await dave.put("/experiments/private", json={}), 404)
    assert_error(await dave.delete("/experiments/private"), 404)
    assert (await alice.get("/experiments/project")).json()["notes"] == ""
    # owner and visibility filters
    mine = (await bob.get("/experiments", params={"owner": "me"})).json()["experiments"]
    assert mine == []
    not_mine = (await bob.get("/experiments", params={"owner": "!me"})).json()["experiments"]
    assert len(not_mine) == 4
    pub = (await alice.get("/experiments", params={"visibility": "public"})).json()
    assert [e["uuid"] for e in pub["experiments"]] == ["public"]
    nonpub = (await alice.get("/experiments", params={"visibility": "!public"})).json()
    assert {e["uuid"] for e in nonpub["experiments"]} == {"private", "project", "group", "hub"}
    # sharing can be widened by the owner
    await alice.put("/experiments/private", json={"visibility": "public"})
    assert (await dave.get("/experiments/private")).status_code == 200


@pytest.mark.asyncio
async def test_devices_default_and_seeded() -> None:
    async with serve() as emu:
        c = await login_client(emu.url, "t")
        async with c:
            names = [d["name"] for d in (await c.get("/devices")).json()["devices"]]
            assert {"emulator_simulator", "ibmq_athens", "ibmq_lima", "ibmq_manila"} <= set(names)
            comps = (await c.get("/device_components", params={"device_name": "ibmq_lima"})).json()
            types = [x["type"] for x in comps["device_components"]]
            assert {"Q0", "Q4", "R0", "R4"} <= set(types)
            assert all(x["device_name"] == "ibmq_lima" for x in comps["device_components"])
            everything = (await c.get("/device_components")).json()["device_components"]
            assert {x["device_name"] for x in everything} >= set(names) - {"ibmq_qasm_simulator"}
            nothing = (await c.get("/device_components", params={"device_name": "zz"})).json()
            assert nothing == {"device_components": []}
    cfg = EmulatorConfig(devices=[DeviceSpec("my_dev", ["Q0", "Q1"], {"n_qubits": 2})])
    async with serve(cfg) as emu:
        c = await login_client(emu.url, "t")
        async with c:
            assert (await c.get("/devices")).json() == {
                "devices": [{"name": "my_dev", "n_qubits": 2}]
            }
            assert (await c.get("/device_components")).json() == {
                "device_components": [
                    {"device_name": "my_dev", "type": "Q0"},
                    {"device_name": "my_dev", "type": "Q1"},
                ]
            }
