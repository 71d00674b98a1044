"""Bad input never hurts the emulator: 413, 400 with JSON bodies, never 500, nothing lost."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from async_qexp.emulator import serve

from .conftest import assert_error, create_exp, create_result, exp_body, login_client


@pytest.mark.asyncio
async def test_body_size_limit() -> None:
    async with serve(max_body_bytes=4096) as emu:
        c = await login_client(emu.url, "t")
        async with c:
            await create_exp(c, "big")
            huge = exp_body("huge", extra={"blob": "x" * 5000})
            assert_error(await c.post("/experiments", json=huge), 413)
            # streamed without Content-Length (chunked): counted as it arrives

            async def chunks() -> AsyncIterator[bytes]:
                yield json.dumps(exp_body("chunked", notes="")).encode()[:-1]
                for _ in range(10):
                    yield b" " * 1000
                yield b"}"

            r = await c.post(
                "/experiments", content=chunks(), headers={"Content-Type": "application/json"}
            )
            assert_error(r, 413)
            url = (await c.get("/experiments/big/plots/upload/a.svg")).json()["url"]
            assert_error(await c.put(url, content=b"x" * 5000), 413)
            # nothing was stored, and the server still works
            assert_error(await c.get("/experiments/huge"), 404)
            assert_error(await c.get("/experiments/chunked"), 404)
            assert (await c.get("/experiments/big")).json()["plot_names"] == []
            assert (await c.put(url, content=b"x" * 4000)).status_code == 200
            assert emu.request_log[-1].status == 200


BAD_EXPERIMENTS: list[Any] = [
    [],
    "string",
    42,
    None,
    {"type": "T1"},
    {"device_name": "d"},
    {"type": 5, "device_name": "d"},
    {"type": "T1", "device_name": ["d"]},
    exp_body("x", tags="calib"),
    exp_body("x", tags=[1, 2]),
    exp_body("x", jobs={"a": 1}),
    exp_body("x", extra=[1, 2]),
    exp_body("x", extra="{}"),
    exp_body("x", visibility="everyone"),
    exp_body("x", start_time="yesterday"),
    exp_body("x", start_time=12345),
    exp_body("x", notes=["n"]),
    exp_body("x", hub_id=1),
    exp_body(""),
    exp_body("a/b"),
    exp_body(7),  # type: ignore[arg-type]
]


@pytest.mark.asyncio
async def test_wrong_types_are_400(rdb: httpx.AsyncClient) -> None:
    for body in BAD_EXPERIMENTS:
        r = await rdb.post("/experiments", content=json.dumps(body))
        assert_error(r, 400)
    for raw in (b"", b"{", b"{'a': 1}", b"\xff\xfe", b"[" * 100000, b"nul"):
        assert_error(await rdb.post("/experiments", content=raw), 400)
    assert (await rdb.get("/experiments")).json()["experiments"] == []
    await create_exp(rdb, "e1", tags=["keep"])
    await create_result(rdb, "r1", "e1", fit={"v": 1})
    for body in (
        {"tags": "x"},
        {"extra": 3},
        {"visibility": 1},
        {"end_time": "nope"},
        {"jobs": [None]},
        [],
    ):
        assert_error(await rdb.put("/experiments/e1", content=json.dumps(body)), 400)
    assert_error(await rdb.put("/experiments/e1", content=b"{bad"), 400)
    for body in (
        {"fit": [1]},
        {"quality": "great"},
        {"verified": "yes"},
        {"chisq": "1.0"},
        {"chisq": True},
        {"tags": [1]},
    ):
        assert_error(await rdb.put("/analysis_results/r1", content=json.dumps(body)), 400)
    for body in (
        {"experiment_uuid": "e1", "type": "T1", "device_components": [0]},
        {"experiment_uuid": "e1", "type": "T1", "device_components": {"Q0": 1}},
        {"experiment_uuid": "e1"},
        {"type": "T1"},
        {"experiment_uuid": 3, "type": "T1"},
    ):
        assert_error(await rdb.post("/analysis_results", content=json.dumps(body)), 400)
    for body in (
        {},
        {"analysis_results": "x"},
        {"analysis_results": [1]},
        {"analysis_results": [{}]},
    ):
        assert_error(await rdb.put("/analysis_results/bulkupdate", content=json.dumps(body)), 400)
    # a bad element late in a bulk update changes nothing
    r = await rdb.put(
        "/analysis_results/bulkupdate",
        json={"analysis_results": [{"uuid": "r1", "fit": {"v": 2}}, {"uuid": "r1", "fit": 5}]},
    )
    assert_error(r, 400)
    # nothing was half-written
    exp = (await rdb.get("/experiments/e1")).json()
    assert exp["tags"] == ["keep"]
    res = (await rdb.get("/analysis_results/r1")).json()
    assert res["fit"] == {"v": 1}


@pytest.mark.asyncio
async def test_non_finite_numbers_round_trip(rdb: httpx.AsyncClient) -> None:
    body = exp_body("nan", extra={"a": float("nan"), "b": float("inf"), "c": -float("inf")})
    r = await rdb.post("/experiments", content=json.dumps(body))
    assert r.status_code == 201
    text = (await rdb.get("/experiments/nan")).text
    assert '"a":NaN' in text
    assert '"b":Infinity' in text
    assert '"c":-Infinity' in text


@pytest.mark.asyncio
async def test_fuzz_never_500(rdb: httpx.AsyncClient) -> None:
    await create_exp(rdb, "fz")
    await create_result(rdb, "fr", "fz")
    rng = random.Random(1234)
    values: list[Any] = [
        None, True, 0, -1, 1.5, "", "x", "Good", "2022-01-01T00:00:00Z", [], ["a"], [1],
        {}, {"a": 1}, "ü/..%2F", float("nan"),
    ]  # fmt: skip
    keys = [
        "uuid", "type", "device_name", "extra", "tags", "jobs", "notes", "visibility",
        "start_time", "end_time", "hub_id", "parent_experiment_uuid", "experiment_uuid",
        "fit", "quality", "verified", "chisq", "device_components", "analysis_results",
    ]  # fmt: skip
    targets = [
        ("POST", "/experiments"),
        ("PUT", "/experiments/fz"),
        ("POST", "/analysis_results"),
        ("PUT", "/analysis_results/fr"),
        ("PUT", "/analysis_results/bulkupdate"),
    ]
    for _ in range(300):
        method, path = rng.choice(targets)
        body = {k: rng.choice(values) for k in rng.sample(keys, rng.randint(0, 6))}
        r = await rdb.request(method, path, content=json.dumps(body))
        assert r.status_code < 500, (method, path, body, r.text)
        r.json()
    params_pool: list[tuple[str, str | int | float | bool | None]] = [
        ("limit", "abc"), ("limit", "99999999999999999999"), ("sort", ":"), ("sort", ","),
        ("marker", ""), ("marker", "e30"), ("start_time", "ge:"), ("tags", "contains:"),
        ("device_components", "contains:,"), ("owner", "!"), ("visibility", "!"),
        ("quality", "in:"), ("created_at", "x:y"), ("type", "like:"), ("verified", ""),
    ]  # fmt: skip
    for _ in range(100):
        params = rng.sample(params_pool, rng.randint(1, 4))
        for path in ("/experiments", "/analysis_results"):
            r = await rdb.get(path, params=params)
            assert r.status_code < 500, (path, params, r.text)
            r.json()
    alphabet = "aQ0:,!%/.\x00²٣ü -+Z" + "\ud7ff"
    names = [
        "limit", "marker", "sort", "type", "tags", "start_time", "created_at", "owner",
        "visibility", "device_components", "quality", "verified", "device_name", "hub_id",
    ]  # fmt: skip
    for _ in range(150):
        params = [
            (rng.choice(names), "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))))
            for _ in range(rng.randint(1, 5))
        ]
        for path in ("/experiments", "/analysis_results", "/device_components"):
            r = await rdb.get(path, params=params)
            assert r.status_code < 500, (path, params, r.text)
            r.json()
        junk = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        junk = junk.replace("\x00", "%00")  # httpx refuses raw control characters
        for path in (f"/experiments/{junk}", f"/experiments/fz/plots/{junk}", f"/x{junk}"):
            r = await rdb.get(path)
            assert r.status_code < 500, (path, r.text)
    assert (await rdb.get("/experiments/fz")).status_code == 200


@pytest.mark.asyncio
async def test_deeply_nested_json(rdb: httpx.AsyncClient) -> None:
    def nested(depth: int) -> str:
        return '{"a":' * depth + "1" + "}" * depth

    ok = f'{{"type":"T","device_name":"d","uuid":"ok","extra":{nested(200)}}}'
    assert (await rdb.post("/experiments", content=ok)).status_code == 201
    for depth in (300, 900, 995, 5000):
        body = f'{{"type":"T","device_name":"d","uuid":"deep","extra":{nested(depth)}}}'
        assert_error(await rdb.post("/experiments", content=body), 400)
    assert (await rdb.get("/experiments")).status_code == 200


@pytest.mark.asyncio
async def test_invalid_unicode_and_nul(rdb: httpx.AsyncClient) -> None:
    for body in (
        '{"type":"T\\ud800","device_name":"d","uuid":"s1"}',
        '{"type":"T","device_name":"d","uuid":"s2","extra":{"\\udfff":1}}',
        '{"type":"T","device_name":"d","uuid":"s2","tags":["\\udfff"]}',
    ):
        assert_error(await rdb.post("/experiments", content=body), 400)
    # a valid surrogate pair is fine; NUL is refused in every text field and name (PostgreSQL
    # cannot store it), but an escaped NUL inside a JSON value is kept
    body = '{"type":"T\\ud83d\\ude00","device_name":"d","uuid":"s3","extra":{"k":"\\u0000"}}'
    r = await rdb.post("/experiments", content=body)
    assert r.status_code == 201
    assert r.json()["type"] == "T\U0001f600"
    assert r.json()["extra"] == {"k": "\x00"}
    body = '{"type":"T\\u0000","device_name":"d","uuid":"s4"}'
    r = await rdb.post("/experiments", content=body)
    assert_error(r, 400)
    assert "NUL" in r.json()["error"]["message"]
    assert_error(await rdb.get("/experiments", params={"type": "like:\x00"}), 400)
    assert_error(await rdb.get("/experiments/s3/plots/upload/a%00b%FF.svg"), 400)
    assert_error(await rdb.get("/experiments/s3/plots/upload/a%00b.svg"), 400)
    assert (await rdb.get("/experiments/s3")).json()["plot_names"] == []


@pytest.mark.asyncio
async def test_a_client_leaving_mid_body_is_no_server_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with serve() as emu:
        _reader, writer = await asyncio.open_connection("127.0.0.1", emu.port)
        writer.write(
            b"POST /api/users/loginWithToken HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"
        )
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()
        await writer.wait_closed()
        for _ in range(100):
            if len(emu.request_log):
                break
            await asyncio.sleep(0.01)
        assert [(r.path, r.status) for r in emu.request_log] == [("/api/users/loginWithToken", 499)]
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
