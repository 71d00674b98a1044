"""List filters, operators, sorting with tie-breakers, and limit/marker paging
(``docs/protocol.md#list-filters``, ``#sorting``, ``#paging``)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import assert_error, create_exp, create_result


async def _uuids(client: httpx.AsyncClient, path: str, **params: Any) -> list[str]:
    r = await client.get(path, params=params)
    assert r.status_code == 200, r.text
    key = "experiments" if path == "/experiments" else "analysis_results"
    body = r.json()
    assert "marker" not in body or body["marker"]
    return [x["uuid"] for x in body[key]]


async def _seed(rdb: httpx.AsyncClient) -> None:
    await create_exp(rdb, "a", type="T1", start_time="2022-07-01T00:00:00Z", tags=["x", "y"])
    await create_exp(rdb, "b", type="T1", start_time="2022-07-02T00:00:00.250000Z", tags=["y"])
    await create_exp(
        rdb, "c", type="Ramsey", device_name="ibmq_manila", start_time="2022-07-03T00:00:00Z"
    )
    await create_exp(rdb, "d", type="T1Hahn", tags=["x"])  # no start_time
    await create_exp(
        rdb, "e", type="T2", start_time="2022-07-02T00:00:00.250000Z",
        hub_id="h", group_id="g", project_id="p",
    )  # fmt: skip


@pytest.mark.asyncio
async def test_experiment_filters(rdb: httpx.AsyncClient) -> None:
    await _seed(rdb)
    get = _uuids
    # default order: start_time desc (nulls last), then uuid asc
    assert await get(rdb, "/experiments") == ["c", "b", "e", "a", "d"]
    assert await get(rdb, "/experiments", device_name="ibmq_manila") == ["c"]
    assert await get(rdb, "/experiments", type="T1") == ["b", "a"]
    assert await get(rdb, "/experiments", type="like:T1") == ["b", "a", "d"]
    assert await get(rdb, "/experiments", type="like:amse") == ["c"]
    assert await get(rdb, "/experiments", type="like:t1") == []  # case-sensitive
    assert await get(rdb, "/experiments", tags="any:x,zzz") == ["a", "d"]
    assert await get(rdb, "/experiments", tags="any:y") == ["b", "a"]
    assert await get(rdb, "/experiments", tags="contains:x,y") == ["a"]
    assert await get(rdb, "/experiments", hub_id="h") == ["e"]
    assert await get(rdb, "/experiments", hub_id="h", group_id="g", project_id="p") == ["e"]
    assert await get(rdb, "/experiments", project_id="main") == ["c", "b", "a", "d"]
    # inclusive bounds at full precision, repeated parameter
    r = await rdb.get(
        "/experiments",
        params=[
            ("start_time", "ge:2022-07-02T00:00:00.250000Z"),
            ("start_time", "le:2022-07-03T00:00:00Z"),
        ],
    )
    assert [e["uuid"] for e in r.json()["experiments"]] == ["c", "b", "e"]
    r = await rdb.get("/experiments", params=[("start_time", "le:2022-07-02T00:00:00.25+00:00")])
    assert [e["uuid"] for e in r.json()["experiments"]] == ["b", "e", "a"]
    r = await rdb.get("/experiments", params=[("start_time", "ge:2022-07-02T00:00:00.250001Z")])
    assert [e["uuid"] for e in r.json()["experiments"]] == ["c"]


@pytest.mark.asyncio
async def test_device_component_filters(rdb: httpx.AsyncClient) -> None:
    await _seed(rdb)
    await create_result(rdb, "r1", "a", device_components=["Q0"])
    await create_result(rdb, "r2", "b", device_components=["Q1", "Q0"])
    await create_result(rdb, "r3", "c", device_components=["Q0", "Q1", "R2"])
    get = _uuids
    r = await rdb.get("/experiments", params=[("device_components", "Q0")])
    assert [e["uuid"] for e in r.json()["experiments"]] == ["a"]
    # exact match as a multiset: order does not matter
    r = await rdb.get(
        "/experiments", params=[("device_components", "Q0"), ("device_components", "Q1")]
    )
    assert [e["uuid"] for e in r.json()["experiments"]] == ["b"]
    assert await get(rdb, "/experiments", device_components="contains:Q0,Q1") == ["c", "b"]
    assert await get(rdb, "/experiments", device_components="contains:R2") == ["c"]
    r = await rdb.get(
        "/analysis_results", params=[("device_components", "Q1"), ("device_components", "Q0")]
    )
    assert [x["uuid"] for x in r.json()["analysis_results"]] == ["r2"]
    assert await get(rdb, "/analysis_results", device_components="contains:Q0") == [
        "r3", "r2", "r1",
    ]  # fmt: skip


@pytest.mark.asyncio
async def test_result_filters(rdb: httpx.AsyncClient) -> None:
    await _seed(rdb)
    await create_result(rdb, "r1", "a", type="T1", quality="Good", verified=True, tags=["p"])
    await create_result(rdb, "r2", "a", type="@Parameters_T1", quality="Bad", tags=["p", "q"])
    await create_result(rdb, "r3", "c", type="T2", quality="No Information")
    get = _uuids
    all_ = await get(rdb, "/analysis_results")
    assert all_ == ["r3", "r2", "r1"]  # created_at desc
    assert await get(rdb, "/analysis_results", experiment_uuid="a") == ["r2", "r1"]
    assert await get(rdb, "/analysis_results", device_name="ibmq_manila") == ["r3"]
    assert await get(rdb, "/analysis_results", type="T1") == ["r1"]
    assert await get(rdb, "/analysis_results", type="like:T1") == ["r2", "r1"]
    assert await get(rdb, "/analysis_results", quality="Good") == ["r1"]
    assert await get(rdb, "/analysis_results", quality="in:Good,Bad") == ["r2", "r1"]
    assert await get(rdb, "/analysis_results", quality="No Information") == ["r3"]
    assert await get(rdb, "/analysis_results", verified="true") == ["r1"]
    assert await get(rdb, "/analysis_results", verified="false") == ["r3", "r2"]
    assert await get(rdb, "/analysis_results", tags="any:q") == ["r2"]
    assert await get(rdb, "/analysis_results", tags="contains:p,q") == ["r2"]
    # created_at at full precision: a result matches its own created_at on both bounds
    r2 = (await rdb.get("/analysis_results/r2")).json()
    r = await rdb.get(
        "/analysis_results",
        params=[("created_at", "ge:" + r2["created_at"]), ("created_at", "le:" + r2["created_at"])],
    )
    assert [x["uuid"] for x in r.json()["analysis_results"]] == ["r2"]


@pytest.mark.asyncio
async def test_sorting_and_tie_breakers(rdb: httpx.AsyncClient) -> None:
    await _seed(rdb)
    get = _uuids
    # type asc, then default start_time desc, then uuid asc
    assert await get(rdb, "/experiments", sort="type:asc") == ["c", "b", "a", "d", "e"]
    assert await get(rdb, "/experiments", sort="type:desc") == ["e", "d", "b", "a", "c"]
    # nulls last in both directions; equal start_time broken by uuid asc
    assert await get(rdb, "/experiments", sort="start_time:asc") == ["a", "b", "e", "c", "d"]
    assert await get(rdb, "/experiments", sort="start_time:desc") == ["c", "b", "e", "a", "d"]
    assert await get(rdb, "/experiments", sort="type:asc,start_time:asc") == [
        "c", "a", "b", "d", "e",
    ]  # fmt: skip
    await create_result(rdb, "r1", "a", type="B", device_components=["Q1"])
    await create_result(rdb, "r2", "a", type="A", device_components=["Q0", "Q1"])
    await create_result(rdb, "r3", "a", type="B", device_components=["Q0"])
    assert await get(rdb, "/analysis_results", sort="type:asc") == ["r2", "r3", "r1"]
    assert await get(rdb, "/analysis_results", sort="created_at:asc") == ["r1", "r2", "r3"]
    # the stored JSON text of the component list: '["Q0","Q1"]' < '["Q0"]' < '["Q1"]'
    assert await get(rdb, "/analysis_results", sort="device_components:asc") == [
        "r2", "r3", "r1",
    ]  # fmt: skip
    for bad in ("nope:asc", "type:up", "type", "type:asc:x", "uuid:asc"):
        assert_error(await rdb.get("/experiments", params={"sort": bad}), 400)
    assert_error(await rdb.get("/analysis_results", params={"sort": "start_time:asc"}), 400)


@pytest.mark.asyncio
async def test_paging_with_and_without_limit(rdb: httpx.AsyncClient) -> None:
    n = 230
    for i in range(n):
        # several equal start times so the tie-breaker matters across page boundaries
        await create_exp(
            rdb, f"x{i:03d}", type=f"T{i % 3}", start_time=f"2022-01-01T00:00:{i // 10:02d}Z"
        )
    expected = sorted((f"x{i:03d}" for i in range(n)), key=lambda u: (-(int(u[1:]) // 10), u))
    # no limit: server pages of 100 with a marker
    r = await rdb.get("/experiments")
    body = r.json()
    assert len(body["experiments"]) == 100
    assert body["marker"]
    seen: list[str] = []
    marker = None
    pages = 0
    params: dict[str, Any]
    while True:
        params = {"marker": marker} if marker else {}
        body = (await rdb.get("/experiments", params=params)).json()
        seen += [e["uuid"] for e in body["experiments"]]
        pages += 1
        marker = body.get("marker")
        if not marker:
            break
    assert pages == 3
    assert seen == expected
    # exact limit, including a last page that is exactly full (no marker after it)
    for limit in (1, 7, 23, 115, 230, 500):
        seen, marker, sizes = [], None, []
        while True:
            params = {"limit": limit, "sort": "type:asc"}
            if marker:
                params["marker"] = marker
            body = (await rdb.get("/experiments", params=params)).json()
            sizes.append(len(body["experiments"]))
            seen += [e["uuid"] for e in body["experiments"]]
            marker = body.get("marker")
            if not marker:
                break
        assert all(s == limit for s in sizes[:-1])
        assert 0 < sizes[-1] <= limit
        assert len(seen) == n == len(set(seen))
        assert seen == sorted(seen, key=lambda u: (int(u[1:]) % 3, -(int(u[1:]) // 10), u))
    # stable under concurrent inserts: a new item sorting before the marker is not repeated
    first = (await rdb.get("/experiments", params={"limit": 50})).json()
    await create_exp(rdb, "zz-new", start_time="2030-01-01T00:00:00Z")
    rest = (await rdb.get("/experiments", params={"limit": 50, "marker": first["marker"]})).json()
    assert [e["uuid"] for e in rest["experiments"]] == expected[50:100]
    # analysis results page too
    for i in range(105):
        await create_result(rdb, f"r{i:03d}", "x000")
    body = (await rdb.get("/analysis_results", params={"experiment_uuid": "x000"})).json()
    assert len(body["analysis_results"]) == 100
    assert body["marker"]
    body2 = (
        await rdb.get(
            "/analysis_results", params={"experiment_uuid": "x000", "marker": body["marker"]}
        )
    ).json()
    assert len(body2["analysis_results"]) == 5
    assert "marker" not in body2
    # a marker for another sort order, or garbage, is a 400
    assert_error(
        await rdb.get("/experiments", params={"marker": first["marker"], "sort": "type:asc"}), 400
    )
    assert_error(await rdb.get("/experiments", params={"marker": "garbage!"}), 400)


@pytest.mark.asyncio
async def test_bad_filter_values(rdb: httpx.AsyncClient) -> None:
    for params in (
        {"limit": "0"},
        {"limit": "-1"},
        {"limit": "ten"},
        {"limit": "²"},
        {"limit": "٣"},
        {"limit": "1e3"},
        {"start_time": "ge:yesterday"},
        {"visibility": "everyone"},
        {"tags": "any:"},
    ):
        assert_error(await rdb.get("/experiments", params=params), 400)
    for params in ({"verified": "maybe"}, {"quality": "Excellent"}, {"created_at": "le:x"}):
        assert_error(await rdb.get("/analysis_results", params=params), 400)
