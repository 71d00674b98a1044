"""Every RuntimeService call sends exactly the request that docs/protocol.md#runtime-rest-api
describes.

Each test pins the method, the path under the runtime URL, the query, the body and the
headers (docs/protocol.md#headers), and checks what the call returns or raises
(docs/protocol.md#runtime-errors). Job behaviour (status mapping, waiting, results, cancel,
logs) lives in ``test_runtime_job.py``; the websocket stream in ``test_runtime_stream.py``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
import pytest_asyncio
import respx

from async_qexp import (
    ApiError,
    AuthError,
    EntryExists,
    EntryNotFound,
    Provider,
    RuntimeDuplicateProgramError,
    RuntimeJobNotFound,
    RuntimeProgramNotFound,
    RuntimeServiceError,
)
from async_qexp.runtime import (
    ProgramParameter,
    ProgramResult,
    ResultDecoder,
    RuntimeDecoder,
    RuntimeJob,
    RuntimeOptions,
    RuntimeProgram,
    StreamPolicy,
)

from ..helpers import wait_until
from ._support import (
    ACCESS,
    AUTH,
    CLIENT_APP,
    RUNTIME,
    assert_service_headers,
    body,
    connect,
    mock_login,
    query,
    raw_path,
    service_calls,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(10)]

Connected = tuple[Provider, respx.MockRouter]

RUNTIME_HOST = "runtime.example.test"
RUNTIME_PATH = "/runtime"
HUB, GROUP, PROJECT = "ibm-q", "open", "main"  # the default hgp of _support.NETWORK

UPLOAD_META = {"name": "n", "max_execution_time": 60, "description": "d"}
SOURCE = "import sys\n\ndef main(backend, user_messenger, **kwargs):\n    return 'héllo'\n"


def b64(text: str) -> str:
    return base64.standard_b64encode(text.encode("utf-8")).decode("ascii")


def assert_rt(
    request: httpx.Request,
    method: str,
    path: str,
    params: list[tuple[str, str]] | tuple[()] = (),
    *,
    json_body: Any = None,
) -> None:
    """Pin a runtime request: method, exact path under the runtime URL, query, JSON body."""
    assert request.method == method
    assert request.url.host == RUNTIME_HOST
    assert raw_path(request) == RUNTIME_PATH + path
    assert sorted(query(request)) == sorted(params)
    assert_service_headers(request, has_body=json_body is not None)
    if json_body is None:
        assert request.content == b""
    else:
        assert body(request) == json_body


def program_record(n: int | str, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": f"prog-{n}",
        "name": f"program {n}",
        "description": f"description {n}",
        "cost": 600,
        "is_public": False,
        "creation_date": "2021-09-13T17:27:42Z",
        "update_date": "2021-09-14T17:27:42Z",
    }
    record.update(extra)
    return record


def job_record(job_id: str = "job-1", status: str = "RUNNING", **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": job_id,
        "program": {"id": "prog-1"},
        "backend": "ibmq_qasm_simulator",
        "hub": HUB,
        "group": GROUP,
        "project": PROJECT,
        "status": status,
        "params": [{}],
    }
    record.update(extra)
    return record


def paged(records: list[dict[str, Any]], key: str, count: int | None = None) -> Any:
    """A respx side effect serving ``records`` by ``limit``/``offset`` like the server."""

    def serve(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        offset = int(params.get("offset", "0"))
        limit = int(params.get("limit", "20"))
        page = records[offset : offset + limit]
        total = len(records) if count is None else count
        return httpx.Response(200, json={key: page, "count": total})

    return serve


# -- programs --------------------------------------------------------------------------------


async def test_programs_pages_by_20_until_count_and_caches(connected: Connected) -> None:
    provider, router = connected
    records = [program_record(i) for i in range(45)]
    route = router.get(f"{RUNTIME}/programs").mock(side_effect=paged(records, "programs"))

    programs = await provider.runtime.programs(limit=None)

    assert [p.program_id for p in programs] == [f"prog-{i}" for i in range(45)]
    calls = service_calls(router)
    assert len(calls) == 3
    assert_rt(calls[0], "GET", "/programs", [("limit", "20")])
    assert_rt(calls[1], "GET", "/programs", [("limit", "20"), ("offset", "20")])
    assert_rt(calls[2], "GET", "/programs", [("limit", "20"), ("offset", "40")])

    # Cached: nothing is sent again; limit and skip are applied locally.
    assert [p.program_id for p in await provider.runtime.programs()] == [
        f"prog-{i}" for i in range(20)
    ]
    window = await provider.runtime.programs(limit=5, skip=42)
    assert [p.program_id for p in window] == ["prog-42", "prog-43", "prog-44"]
    assert [p.program_id for p in await provider.runtime.programs(limit=2, skip=3)] == [
        "prog-3",
        "prog-4",
    ]
    assert route.call_count == 3

    # refresh=True asks again.
    await provider.runtime.programs(refresh=True)
    assert route.call_count == 6


async def test_programs_stops_on_an_empty_page_when_count_lies(connected: Connected) -> None:
    provider, router = connected
    records = [program_record(i) for i in range(20)]
    route = router.get(f"{RUNTIME}/programs").mock(
        side_effect=paged(records, "programs", count=1000)
    )
    programs = await provider.runtime.programs(limit=None)
    assert len(programs) == 20
    assert route.call_count == 2
    assert_rt(route.calls[1].request, "GET", "/programs", [("limit", "20"), ("offset", "20")])


async def test_programs_single_page_when_count_is_reached(connected: Connected) -> None:
    provider, router = connected
    route = router.get(f"{RUNTIME}/programs").respond(
        json={"programs": [program_record(1)], "count": 1}
    )
    [program] = await provider.runtime.programs()
    assert route.call_count == 1
    assert isinstance(program, RuntimeProgram)
    assert program.program_id == "prog-1"
    assert program.name == "program 1"
    assert program.max_execution_time == 600
    assert program.creation_date == "2021-09-13T17:27:42Z"


@pytest.mark.parametrize(("limit", "skip"), [(0, 0), (-1, 0), (5, -1)])
async def test_programs_validates_limit_and_skip(
    connected: Connected, limit: Any, skip: int
) -> None:
    provider, router = connected
    with pytest.raises(ValueError, match=r"limit|skip"):
        await provider.runtime.programs(limit=limit, skip=skip)
    assert service_calls(router) == []


# A wrong type is a TypeError (it was a ValueError for limit=True before the redesign).
@pytest.mark.parametrize(
    "kwargs",
    [
        {"limit": True},
        {"limit": "5"},
        {"limit": 2.0},
        {"skip": None},
        {"skip": 1.0},
        {"refresh": 1},
        {"refresh": "yes"},
    ],
)
async def test_programs_refuses_wrong_types(connected: Connected, kwargs: dict[str, Any]) -> None:
    provider, router = connected
    with pytest.raises(TypeError, match=r"limit|skip|refresh"):
        await provider.runtime.programs(**kwargs)
    assert service_calls(router) == []


async def test_program_fetches_caches_and_refreshes(connected: Connected) -> None:
    provider, router = connected
    spec = {
        "backend_requirements": {"min_num_qubits": 5},
        "parameters": {
            "type": "object",
            "properties": {"iterations": {"type": "integer"}},
            "required": ["iterations"],
        },
        "return_values": {"type": "string"},
        "interim_results": {"type": "object"},
    }
    router.get(f"{RUNTIME}/programs").respond(
        json={"programs": [program_record(1, spec=spec)], "count": 1}
    )
    route = router.get(f"{RUNTIME}/programs/prog-1").respond(
        json=program_record(1, spec=spec, data=SOURCE, is_public=True)
    )
    await provider.runtime.programs()  # cache without source: program() must still ask
    program = await provider.runtime.program("prog-1")
    assert_rt(route.calls[0].request, "GET", "/programs/prog-1")
    assert program.data == SOURCE
    assert program.is_public is True
    assert program.backend_requirements == {"min_num_qubits": 5}
    assert program.parameters == spec["parameters"]
    assert program.return_values == {"type": "string"}
    assert program.interim_results == {"type": "object"}

    # Now cached with its source: no request; refresh=True asks again.
    assert (await provider.runtime.program("prog-1")).data == SOURCE
    assert route.call_count == 1
    await provider.runtime.program("prog-1", refresh=True)
    assert route.call_count == 2
    assert_rt(route.calls[1].request, "GET", "/programs/prog-1")


async def test_program_is_cached_once_read_as_the_reference_caches_it(
    connected: Connected,
) -> None:
    """program(id, refresh=False) returns the cached value: a program read on its own is not
    asked for again (it was, every time, for a program without source: another user's)."""
    provider, router = connected
    theirs = router.get(f"{RUNTIME}/programs/prog-1").respond(json=program_record(1))
    mine = router.get(f"{RUNTIME}/programs/prog-2").respond(json=program_record(2, data=SOURCE))
    router.patch(f"{RUNTIME}/programs/prog-1").respond(json={})
    router.put(f"{RUNTIME}/programs/prog-1/data").respond(500)
    rt = provider.runtime
    first = await rt.program("prog-1")
    assert await rt.program("prog-1") is first  # no listing needed, no second request
    assert (await rt.program("prog-2")).data == SOURCE
    await rt.program("prog-2")
    assert (theirs.call_count, mine.call_count) == (1, 1)
    await rt.program("prog-1", refresh=True)
    assert theirs.call_count == 2
    await rt.update_program("prog-1", description="changed")  # a change forgets the cache
    await rt.program("prog-1")
    assert theirs.call_count == 3
    with pytest.raises(ApiError):  # even a change that failed half-way
        await rt.update_program("prog-1", data=SOURCE, description="again")
    await rt.program("prog-1")
    assert theirs.call_count == 4
    router.get(f"{RUNTIME}/programs").respond(json={"programs": [program_record(1)], "count": 1})
    await rt.programs(refresh=True)  # a refreshed listing refreshes the programs read alone
    await rt.program("prog-1")
    assert theirs.call_count == 5


async def test_program_not_found(connected: Connected) -> None:
    provider, router = connected
    router.get(f"{RUNTIME}/programs/nope").respond(
        404, json={"error": {"code": 1205, "message": "Program not found"}}
    )
    with pytest.raises(RuntimeProgramNotFound) as info:
        await provider.runtime.program("nope")
    assert isinstance(info.value, EntryNotFound)
    assert info.value.status == 404
    assert "Program not found" in str(info.value)


async def test_pprint_programs(connected: Connected, capsys: pytest.CaptureFixture[str]) -> None:
    provider, router = connected
    params = {
        "properties": {"iterations": {"type": "integer"}, "label": {"type": "string"}},
        "required": ["iterations"],
    }
    router.get(f"{RUNTIME}/programs").respond(
        json={
            "programs": [
                program_record("a", spec={"parameters": params}, cost=300),
                program_record("b", description="Runs a sampler", cost=1200),
            ],
            "count": 2,
        }
    )
    await provider.runtime.pprint_programs()
    out = capsys.readouterr().out
    for text in (
        "prog-a:",
        "Name: program a",
        "Description: description a",
        "Max execution time: 300",
        "Input parameters:",
        "iterations (integer, required)",
        "label (string)",
        "prog-b:",
        "Name: program b",
        "Description: Runs a sampler",
        "Max execution time: 1200",
    ):
        assert text in out
    assert out.count("=" * 50) == 2


# -- upload / update / visibility / delete -----------------------------------------------------


async def test_upload_program_text_source(connected: Connected) -> None:
    provider, router = connected
    route = router.post(f"{RUNTIME}/programs").respond(200, json={"id": "hello-abc"})
    program_id = await provider.runtime.upload_program(
        SOURCE,
        name="hello",
        max_execution_time=300,
        description="says hello",
        backend_requirements={"min_num_qubits": 2},
        parameters={"properties": {"x": {"type": "integer"}}},
    )
    assert program_id == "hello-abc"
    [request] = service_calls(router)
    assert route.call_count == 1
    assert_rt(
        request,
        "POST",
        "/programs",
        json_body={
            "name": "hello",
            "data": b64(SOURCE),
            "cost": 300,
            "description": "says hello",
            "is_public": False,
            "spec": {
                "backend_requirements": {"min_num_qubits": 2},
                "parameters": {"properties": {"x": {"type": "integer"}}},
            },
        },
    )


async def test_upload_program_without_spec_sends_no_spec(connected: Connected) -> None:
    provider, router = connected
    router.post(f"{RUNTIME}/programs").respond(201, json={"id": "p"})
    await provider.runtime.upload_program(
        SOURCE.encode("utf-8"), name="n", max_execution_time=60, description="d"
    )
    [request] = service_calls(router)
    assert body(request) == {
        "name": "n",
        "data": b64(SOURCE),
        "cost": 60,
        "description": "d",
        "is_public": False,
    }


async def test_upload_program_from_files_with_overrides(
    connected: Connected, tmp_path: Any
) -> None:
    provider, router = connected
    router.post(f"{RUNTIME}/programs").respond(json={"id": "p"})
    # A file whose text has no "def main(" is still read as a path.
    source = "print('a program file')\n"
    source_file = tmp_path / "program.py"
    source_file.write_text(source, encoding="utf-8")
    meta_file = tmp_path / "meta.json"
    meta_file.write_text(
        json.dumps(
            {
                "name": "from-meta",
                "max_execution_time": 100,
                "description": "meta description",
                "return_values": {"type": "string"},
            }
        ),
        encoding="utf-8",
    )
    await provider.runtime.upload_program(
        str(source_file), metadata=str(meta_file), name="explicit", max_execution_time=200
    )
    [request] = service_calls(router)
    assert_rt(
        request,
        "POST",
        "/programs",
        json_body={
            "name": "explicit",
            "data": b64(source),
            "cost": 200,
            "description": "meta description",
            "is_public": False,
            "spec": {"return_values": {"type": "string"}},
        },
    )


async def test_upload_program_metadata_dict_and_public(connected: Connected) -> None:
    provider, router = connected
    router.post(f"{RUNTIME}/programs").respond(json={"id": "p"})
    await provider.runtime.upload_program(
        SOURCE,
        metadata={
            "name": "m",
            "max_execution_time": 30,
            "description": "dict",
            "interim_results": {"type": "object"},
        },
        description="explicit wins",
        is_public=True,
    )
    [request] = service_calls(router)
    assert body(request) == {
        "name": "m",
        "data": b64(SOURCE),
        "cost": 30,
        "description": "explicit wins",
        "is_public": True,
        "spec": {"interim_results": {"type": "object"}},
    }


async def test_upload_program_sends_lists_as_json_schemas(connected: Connected) -> None:
    """upload_program(parameters=[...]) as the reference types it: the items, or dicts."""
    provider, router = connected
    router.post(f"{RUNTIME}/programs").respond(json={"id": "p"})
    await provider.runtime.upload_program(
        SOURCE,
        name="listed",
        max_execution_time=60,
        description="lists",
        version=1.0,
        parameters=[
            ProgramParameter("iterations", "How many.", "integer", True),
            {"name": "label", "type": "str"},
        ],
        return_values=[ProgramResult("-", "A string.", "string")],
        interim_results=[{"name": "counts", "description": "Histogram.", "type": "dict"}],
    )
    [request] = service_calls(router)
    assert_rt(
        request,
        "POST",
        "/programs",
        json_body={
            "name": "listed",
            "data": b64(SOURCE),
            "cost": 60,
            "description": "lists",
            "is_public": False,
            "version": "1.0",
            "spec": {
                "parameters": {
                    "type": "object",
                    "properties": {
                        "iterations": {"description": "How many.", "type": "integer"},
                        "label": {"type": "str"},
                    },
                    "required": ["iterations"],
                },
                "return_values": {
                    "type": "object",
                    "properties": {"-": {"description": "A string.", "type": "string"}},
                },
                "interim_results": {
                    "type": "object",
                    "properties": {"counts": {"description": "Histogram.", "type": "dict"}},
                },
            },
        },
    )


async def test_upload_program_refuses_a_malformed_item_before_any_request(
    connected: Connected,
) -> None:
    provider, router = connected
    router.post(f"{RUNTIME}/programs").respond(json={"id": "p"})
    with pytest.raises(ValueError, match=r"parameters\[1\]: a name is required"):
        await provider.runtime.upload_program(
            SOURCE, **UPLOAD_META, parameters=[{"name": "a"}, {"type": "int"}]
        )
    with pytest.raises(ValueError, match="unknown program metadata 'max_exec_time'"):
        await provider.runtime.upload_program(SOURCE, metadata={**UPLOAD_META, "max_exec_time": 5})
    assert service_calls(router) == []


async def test_upload_program_reads_later_metadata_files_with_spec_and_is_public(
    connected: Connected, tmp_path: Any
) -> None:
    provider, router = connected
    router.post(f"{RUNTIME}/programs").respond(json={"id": "p"})
    spec = {
        "backend_requirements": {"min_num_qubits": 5},
        "parameters": {"type": "object", "properties": {"iterations": {"type": "integer"}}},
        "return_values": {"type": "string"},
    }
    meta_file = tmp_path / "meta.json"
    meta_file.write_text(json.dumps({**UPLOAD_META, "is_public": True, "spec": spec}))
    await provider.runtime.upload_program(SOURCE, metadata=str(meta_file))
    await provider.runtime.upload_program(SOURCE, metadata=str(meta_file), is_public=False)
    first, second = service_calls(router)
    assert body(first)["spec"] == spec
    assert body(first)["is_public"] is True
    assert body(second)["is_public"] is False  # the argument wins


async def test_programs_survive_a_program_with_a_malformed_spec(
    connected: Connected, caplog: pytest.LogCaptureFixture
) -> None:
    """One program stored with a spec no client wrote must not break programs() for the
    whole account: it is read as far as it goes, and what was not is logged."""
    provider, router = connected
    listed = [{"name": "x", "description": "d", "type": "int", "required": True}]
    records = [
        program_record(1, spec={"parameters": listed}),
        program_record(2, spec={"parameters": [{"type": "no name"}], "return_values": 7}),
        program_record(3, cost="long", spec="{not json"),
        program_record(4, spec={"interim_results": {"type": "object"}}),
    ]
    router.get(f"{RUNTIME}/programs").respond(json={"programs": records, "count": 4})
    router.get(f"{RUNTIME}/programs/prog-2").respond(json=records[1])
    with caplog.at_level(logging.WARNING, logger="async_qexp"):
        programs = await provider.runtime.programs()
        single = await provider.runtime.program("prog-2", refresh=True)
    assert [p.program_id for p in programs] == ["prog-1", "prog-2", "prog-3", "prog-4"]
    assert programs[0].parameter_items() == [ProgramParameter("x", "d", "int", True)]
    assert programs[1].parameters == {}
    assert programs[1].return_values == {}
    assert programs[2].max_execution_time == 0
    assert programs[3].interim_results == {"type": "object"}
    assert single.program_id == "prog-2"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(w.startswith("program prog-2: spec.parameters[0]") for w in warnings)
    assert any(w.startswith("program prog-2: spec.return_values") for w in warnings)
    assert any(w.startswith("program prog-3: cost") for w in warnings)
    assert any(w.startswith("program prog-3: spec: not JSON") for w in warnings)
    assert not any("prog-1" in w or "prog-4" in w for w in warnings)


@pytest.mark.parametrize(
    "given",
    [
        {"max_execution_time": 10, "description": "d"},
        {"name": "n", "description": "d"},
        {"name": "n", "max_execution_time": 10},
        {"name": "", "max_execution_time": 10, "description": "d"},
    ],
)
async def test_upload_program_requires_metadata(connected: Connected, given: Any) -> None:
    provider, router = connected
    router.post(f"{RUNTIME}/programs").respond(json={"id": "p"})
    with pytest.raises(ValueError, match="missing program metadata"):
        await provider.runtime.upload_program(SOURCE, **given)
    assert service_calls(router) == []


@pytest.mark.parametrize(
    ("status", "error"), [(409, RuntimeDuplicateProgramError), (403, AuthError)]
)
async def test_upload_program_errors(connected: Connected, status: int, error: type) -> None:
    provider, router = connected
    route = router.post(f"{RUNTIME}/programs").respond(
        status, json={"error": {"code": 1, "message": "nope"}}
    )
    with pytest.raises(error) as info:
        await provider.runtime.upload_program(
            SOURCE, name="n", max_execution_time=1, description="d"
        )
    assert info.value.status == status
    if status == 409:
        assert isinstance(info.value, EntryExists)
    assert route.call_count == 1


async def test_upload_program_invalidates_the_program_cache(connected: Connected) -> None:
    provider, router = connected
    listing = router.get(f"{RUNTIME}/programs").respond(
        json={"programs": [program_record(1)], "count": 1}
    )
    router.post(f"{RUNTIME}/programs").respond(json={"id": "p"})
    await provider.runtime.programs()
    await provider.runtime.programs()
    assert listing.call_count == 1
    await provider.runtime.upload_program(SOURCE, name="n", max_execution_time=1, description="d")
    await provider.runtime.programs()
    assert listing.call_count == 2


async def test_update_program_data_and_metadata(connected: Connected) -> None:
    provider, router = connected
    put = router.put(f"{RUNTIME}/programs/prog-1/data").respond(200)
    patch = router.patch(f"{RUNTIME}/programs/prog-1").respond(200, json={})
    spec = {"parameters": {"properties": {}}}
    await provider.runtime.update_program(
        "prog-1",
        data=SOURCE,
        metadata={"name": "old", "description": "", "max_execution_time": 0},
        name="new name",
        max_execution_time=900,
        spec=spec,
    )
    calls = service_calls(router)
    assert [c.method for c in calls] == ["PUT", "PATCH"]
    request = calls[0]
    assert request.url.host == RUNTIME_HOST
    assert raw_path(request) == "/runtime/programs/prog-1/data"
    assert query(request) == []
    assert request.content.decode("ascii") == b64(SOURCE)
    assert request.headers["Content-Type"] == "application/octet-stream"
    assert_service_headers(request)
    # Only truthy fields go into the PATCH body.
    assert_rt(
        calls[1],
        "PATCH",
        "/programs/prog-1",
        json_body={"name": "new name", "cost": 900, "spec": spec},
    )
    assert put.call_count == patch.call_count == 1


async def test_update_program_takes_spec_lists_and_explicit_spec_wins(
    connected: Connected,
) -> None:
    provider, router = connected
    route = router.patch(f"{RUNTIME}/programs/prog-1").respond(json={})
    meta = {"description": "d", "parameters": [{"name": "a", "type": "int"}]}
    await provider.runtime.update_program("prog-1", metadata=meta)
    await provider.runtime.update_program(
        "prog-1", metadata=meta, spec={"interim_results": [ProgramResult("i", "", "int")]}
    )
    first, second = (body(call.request) for call in route.calls)
    assert first == {
        "description": "d",
        "spec": {"parameters": {"type": "object", "properties": {"a": {"type": "int"}}}},
    }
    assert second == {
        "description": "d",
        "spec": {"interim_results": {"type": "object", "properties": {"i": {"type": "int"}}}},
    }
    with pytest.raises(ValueError, match="is_public"):
        await provider.runtime.update_program("prog-1", metadata={"is_public": True})
    assert route.call_count == 2


async def test_update_program_only_data_or_only_metadata(connected: Connected) -> None:
    provider, router = connected
    router.put(f"{RUNTIME}/programs/prog-1/data").respond(200)
    router.patch(f"{RUNTIME}/programs/prog-1").respond(200)
    await provider.runtime.update_program("prog-1", data=SOURCE.encode("utf-8"))
    await provider.runtime.update_program("prog-1", description="better")
    calls = service_calls(router)
    assert [c.method for c in calls] == ["PUT", "PATCH"]
    assert calls[0].content.decode("ascii") == b64(SOURCE)
    assert_rt(calls[1], "PATCH", "/programs/prog-1", json_body={"description": "better"})


async def test_update_program_needs_something(connected: Connected) -> None:
    provider, router = connected
    with pytest.raises(ValueError, match="nothing to update"):
        await provider.runtime.update_program("prog-1")
    with pytest.raises(ValueError, match="nothing to update"):
        await provider.runtime.update_program("prog-1", metadata={"name": ""}, description="")
    assert service_calls(router) == []


@pytest.mark.parametrize("with_data", [True, False])
async def test_update_program_not_found(connected: Connected, with_data: bool) -> None:
    provider, router = connected
    router.put(f"{RUNTIME}/programs/gone/data").respond(404, json={"error": {"message": "x"}})
    router.patch(f"{RUNTIME}/programs/gone").respond(404, json={"error": {"message": "x"}})
    with pytest.raises(RuntimeProgramNotFound):
        await provider.runtime.update_program("gone", data=SOURCE if with_data else None, name="n")
    assert len(service_calls(router)) == 1


@pytest.mark.parametrize(("public", "suffix"), [(True, "public"), (False, "private")])
async def test_set_program_visibility(connected: Connected, public: bool, suffix: str) -> None:
    provider, router = connected
    router.put(f"{RUNTIME}/programs/prog-1/{suffix}").respond(200)
    await provider.runtime.set_program_visibility("prog-1", public)
    [request] = service_calls(router)
    assert_rt(request, "PUT", f"/programs/prog-1/{suffix}")


async def test_set_program_visibility_not_found(connected: Connected) -> None:
    provider, router = connected
    router.put(f"{RUNTIME}/programs/gone/public").respond(404)
    with pytest.raises(RuntimeProgramNotFound):
        await provider.runtime.set_program_visibility("gone", True)


async def test_delete_program_and_cache(connected: Connected) -> None:
    provider, router = connected
    listing = router.get(f"{RUNTIME}/programs").respond(
        json={"programs": [program_record(1), program_record(2)], "count": 2}
    )
    router.delete(f"{RUNTIME}/programs/prog-1").respond(200, json={})
    router.delete(f"{RUNTIME}/programs/gone").respond(404, json={"error": {"message": "x"}})
    await provider.runtime.programs()
    await provider.runtime.delete_program("prog-1")
    assert_rt(service_calls(router)[-1], "DELETE", "/programs/prog-1")
    assert [p.program_id for p in await provider.runtime.programs()] == ["prog-2"]
    assert listing.call_count == 1
    with pytest.raises(RuntimeProgramNotFound) as info:
        await provider.runtime.delete_program("gone")
    assert isinstance(info.value, EntryNotFound)


# -- run ---------------------------------------------------------------------------------------


async def test_run_sends_the_reference_body(connected: Connected) -> None:
    provider, router = connected
    route = router.post(f"{RUNTIME}/jobs").respond(json={"id": "job-1"})
    inputs = {
        "iterations": 3,
        "z": 1.5 - 2j,
        "when": datetime(2022, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        "qubits": {3, 1, 2},
        "nested": {"list": [1, "a", None]},
    }
    job = await provider.runtime.run("prog-1", {"backend_name": "ibmq_qasm_simulator"}, inputs)

    [request] = service_calls(router)
    assert route.call_count == 1
    assert request.method == "POST"
    assert request.url.host == RUNTIME_HOST
    assert raw_path(request) == "/runtime/jobs"
    assert query(request) == []
    assert_service_headers(request, has_body=True)
    sent = body(request)
    qubits = sent["params"]["qubits"]
    assert qubits["__type__"] == "set"
    assert sorted(qubits["__value__"]) == [1, 2, 3]
    sent["params"]["qubits"] = "checked"
    assert sent == {
        "program_id": "prog-1",
        "hub": HUB,
        "group": GROUP,
        "project": PROJECT,
        "backend": "ibmq_qasm_simulator",
        "params": {
            "iterations": 3,
            "z": {"__type__": "complex", "__value__": [1.5, -2.0]},
            "when": {"__type__": "datetime", "__value__": "2022-01-02T03:04:05+00:00"},
            "qubits": "checked",
            "nested": {"list": [1, "a", None]},
        },
        "runtime": None,
    }
    # The body decodes back to the inputs.
    assert json.loads(request.content, cls=RuntimeDecoder)["params"] == inputs

    assert isinstance(job, RuntimeJob)
    assert job.job_id == "job-1"
    assert job.program_id == "prog-1"
    assert job.backend == "ibmq_qasm_simulator"
    assert job.inputs == inputs
    assert job.creation_date is None
    assert not job.streaming


async def test_run_with_runtime_options_image_and_log_level(connected: Connected) -> None:
    provider, router = connected
    router.post(f"{RUNTIME}/jobs").respond(json={"id": "job-2", "created": "2022-03-04T05:06:07Z"})
    options = RuntimeOptions(
        backend_name="ibmq_lima", image="qiskit/runtime-image:v1.0", log_level="debug"
    )
    job = await provider.runtime.run("prog-2", options, {})
    [request] = service_calls(router)
    assert body(request) == {
        "program_id": "prog-2",
        "hub": HUB,
        "group": GROUP,
        "project": PROJECT,
        "backend": "ibmq_lima",
        "params": {},
        "runtime": "qiskit/runtime-image:v1.0",
        "log_level": "DEBUG",
    }
    assert job.creation_date == datetime(2022, 3, 4, 5, 6, 7, tzinfo=timezone.utc)


async def test_a_job_knows_the_image_it_was_run_with(connected: Connected) -> None:
    """The reference's RuntimeJob.image: the image given to run(), "" for the default."""
    provider, router = connected
    router.post(f"{RUNTIME}/jobs").respond(json={"id": "job-2"})
    router.get(f"{RUNTIME}/jobs/job-2").respond(json=job_record("job-2"))
    options = {"backend_name": "ibmq_lima", "image": "qiskit/runtime-image:v1.0"}
    assert (await provider.runtime.run("prog-2", options, {})).image == "qiskit/runtime-image:v1.0"
    assert (await provider.runtime.run("prog-2", {"backend_name": "b"}, {})).image == ""
    assert (await provider.runtime.job("job-2")).image == ""  # as the reference rebuilds it
    with pytest.raises(TypeError, match="image"):
        RuntimeJob(provider.runtime, "j", program_id="p", backend="b", image=None)  # type: ignore[arg-type]


async def test_run_with_an_options_dict_with_every_key(connected: Connected) -> None:
    provider, router = connected
    router.post(f"{RUNTIME}/jobs").respond(json={"id": "job-3"})
    await provider.runtime.run(
        "prog-3", {"backend_name": "b", "image": "img:1", "log_level": "WARNING"}, {"x": 1}
    )
    [request] = service_calls(router)
    sent = body(request)
    assert sent["runtime"] == "img:1"
    assert sent["log_level"] == "WARNING"
    assert sent["params"] == {"x": 1}


async def test_run_encodes_numpy_arrays(connected: Connected) -> None:
    np = pytest.importorskip("numpy")
    provider, router = connected
    router.post(f"{RUNTIME}/jobs").respond(json={"id": "job-np"})
    array = np.arange(6, dtype=np.float64).reshape(2, 3)
    await provider.runtime.run(
        "prog-1",
        {"backend_name": "b"},
        {"a": array, "n": np.int64(7), "o": np.array([1, "x"], dtype=object)},
    )
    [request] = service_calls(router)
    params = body(request)["params"]
    assert params["a"]["__type__"] == "ndarray"
    assert isinstance(params["a"]["__value__"], str)
    assert params["n"] == 7
    assert params["o"] == {"__type__": "ndarray", "__value__": [1, "x"]}
    decoded = json.loads(request.content, cls=RuntimeDecoder)["params"]
    np.testing.assert_array_equal(decoded["a"], array)
    assert decoded["a"].dtype == np.float64


@pytest.mark.parametrize(
    "options",
    [
        {"backend_name": ""},
        {"backend_name": None},
        {"backend_name": "b", "image": "noTag"},
        {"backend_name": "b", "image": "bad image:1"},
        {"backend_name": "b", "log_level": "LOUD"},
        {"backend_name": "b", "shots": 100},
    ],
)
async def test_run_validates_options_before_any_request(
    connected: Connected, options: dict[str, Any]
) -> None:
    provider, router = connected
    router.post(f"{RUNTIME}/jobs").respond(json={"id": "never"})
    with pytest.raises(ValueError, match="option"):
        await provider.runtime.run("prog-1", options, {})
    assert service_calls(router) == []


async def test_run_validates_program_id(connected: Connected) -> None:
    provider, router = connected
    with pytest.raises(ValueError, match="program_id"):
        await provider.runtime.run("", {"backend_name": "b"}, {})
    assert service_calls(router) == []


async def test_runtime_options_validation() -> None:
    assert RuntimeOptions(backend_name="b", image="a.b/c-d_e:1.2-3").image == "a.b/c-d_e:1.2-3"
    for bad in ({"backend_name": ""}, {"backend_name": "b", "image": "x:"}):
        with pytest.raises(ValueError, match="options: "):
            RuntimeOptions(**bad)
    for level in ("DEBUG", "info", "Warning", "ERROR", "critical"):
        RuntimeOptions(backend_name="b", log_level=level)


async def test_run_options_dict_without_backend_name_is_a_value_error(
    connected: Connected,
) -> None:
    provider, router = connected
    with pytest.raises(ValueError, match="backend_name"):
        await provider.runtime.run("prog-1", {"image": "img:1"}, {})
    assert service_calls(router) == []


async def test_run_is_not_retried_on_503(connected: Connected) -> None:
    provider, router = connected
    route = router.post(f"{RUNTIME}/jobs").respond(503, json={"error": {"message": "unavailable"}})
    with pytest.raises(ApiError) as info:
        await provider.runtime.run("prog-1", {"backend_name": "b"}, {})
    assert info.value.status == 503
    assert route.call_count == 1


async def test_run_is_retried_on_429(connected: Connected) -> None:
    provider, router = connected
    route = router.post(f"{RUNTIME}/jobs").mock(
        side_effect=[
            httpx.Response(429, json={"error": {"message": "slow down"}}),
            httpx.Response(200, json={"id": "job-429"}),
        ]
    )
    job = await provider.runtime.run("prog-1", {"backend_name": "b"}, {"x": 1})
    assert job.job_id == "job-429"
    assert route.call_count == 2
    first, second = (call.request for call in route.calls)
    assert first.content == second.content
    assert body(second)["params"] == {"x": 1}


LOOPBACK = "http://127.0.0.1:9/runtime"
"""A runtime URL on a loopback port nobody listens on: REST calls are mocked by the router and
every stream is refused at once (no DNS, no network)."""


@pytest_asyncio.fixture
async def refused_streams() -> AsyncIterator[Connected]:
    """``(provider, router)`` with the runtime at :data:`LOOPBACK`."""
    router = respx.MockRouter(assert_all_called=False)
    router.post(f"{AUTH}/users/loginWithToken").respond(json={"id": ACCESS})
    router.get(f"{AUTH}/users/me").respond(
        json={"id": "user-1", "urls": {"services": {"runtime": LOOPBACK}}}
    )
    async with connect(router) as provider:
        yield provider, router


async def test_run_with_a_callback_starts_streaming(refused_streams: Connected) -> None:
    provider, router = refused_streams
    runtime = provider.runtime
    # Refused at once; give up fast and poll instead.
    runtime.stream_policy = StreamPolicy(
        max_retries=0, backoff_initial=0.001, backoff_max=0.001, open_timeout=1, poll_interval=0.01
    )
    router.post(f"{LOOPBACK}/jobs").respond(json={"id": "job-cb"})
    polls = router.get(f"{LOOPBACK}/jobs/job-cb").respond(json=job_record("job-cb", "RUNNING"))
    router.get(f"{LOOPBACK}/jobs/job-cb/interim_results").respond(json=[])
    received: list[Any] = []

    job = await runtime.run(
        "prog-1", {"backend_name": "b"}, {}, callback=lambda job_id, msg: received.append(msg)
    )
    assert job.streaming
    await wait_until(lambda: polls.call_count > 0)  # refused, then polling
    await job.cancel_result_streaming()
    assert not job.streaming
    assert received == []
    await job.cancel_result_streaming()  # a no-op now


async def test_cancel_streaming_right_after_run_ends_the_callback_task_cleanly(
    refused_streams: Connected,
) -> None:
    provider, router = refused_streams
    router.post(f"{LOOPBACK}/jobs").respond(json={"id": "job-cb0"})
    job = await provider.runtime.run("prog-1", {"backend_name": "b"}, {}, callback=print)
    [task] = provider.tasks.tasks  # the callback task (the reader belongs to the stream)
    await job.cancel_result_streaming()
    assert task.done()
    assert task.exception() is None
    assert provider.tasks.tasks == frozenset()


async def test_cancel_streaming_from_another_task_does_not_hang(
    refused_streams: Connected,
) -> None:
    provider, router = refused_streams
    router.post(f"{LOOPBACK}/jobs").respond(json={"id": "job-cb1"})
    job = await provider.runtime.run("prog-1", {"backend_name": "b"}, {}, callback=print)
    # The callback task runs first (and starts the reader task), then the canceller runs
    # before the reader's first step.
    canceller = asyncio.ensure_future(job.cancel_result_streaming())
    done, _ = await asyncio.wait([canceller], timeout=0.5)
    if not done:
        canceller.cancel()
        await asyncio.wait([canceller])
    assert done, "cancel_result_streaming() did not return"


# -- job / jobs / delete / logout ------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"x": 1, "z": {"__type__": "complex", "__value__": [0, 1]}},
        [{"x": 1, "z": {"__type__": "complex", "__value__": [0, 1]}}],
        json.dumps({"x": 1, "z": {"__type__": "complex", "__value__": [0, 1]}}),
        [json.dumps({"x": 1, "z": {"__type__": "complex", "__value__": [0, 1]}})],
    ],
    ids=["dict", "list", "json-string", "list-of-json-string"],
)
async def test_job_parses_params_in_every_shape(connected: Connected, params: Any) -> None:
    provider, router = connected
    route = router.get(f"{RUNTIME}/jobs/job-1").respond(
        json=job_record("job-1", "QUEUED", params=params, created="2022-01-02T03:04:05.5Z")
    )
    job = await provider.runtime.job("job-1")
    assert_rt(route.calls[0].request, "GET", "/jobs/job-1")
    assert job.inputs == {"x": 1, "z": 1j}
    assert job.program_id == "prog-1"
    assert job.backend == "ibmq_qasm_simulator"
    assert job.creation_date == datetime(2022, 1, 2, 3, 4, 5, 500000, tzinfo=timezone.utc)
    assert job.creation_date is not None
    assert job.creation_date.utcoffset() is not None
    assert job.cached_status.value == "QUEUED"


@pytest.mark.parametrize("params", [[], {}, "", None])
async def test_job_with_empty_params(connected: Connected, params: Any) -> None:
    provider, router = connected
    router.get(f"{RUNTIME}/jobs/job-1").respond(json=job_record(params=params))
    job = await provider.runtime.job("job-1")
    assert job.inputs == {}
    assert job.creation_date is None


async def test_job_not_found(connected: Connected) -> None:
    provider, router = connected
    router.get(f"{RUNTIME}/jobs/gone").respond(404, json={"error": {"message": "no job"}})
    with pytest.raises(RuntimeJobNotFound) as info:
        await provider.runtime.job("gone")
    assert isinstance(info.value, EntryNotFound)


def _a_job(provider: Provider) -> RuntimeJob:
    return RuntimeJob(provider.runtime, "job-1", program_id="p", backend="b")


NOT_FOUND_CALLS = [
    pytest.param(lambda p: p.runtime.program("p1"), RuntimeProgramNotFound, id="program"),
    pytest.param(
        lambda p: p.runtime.update_program("p1", description="d"),
        RuntimeProgramNotFound,
        id="update-metadata",
    ),
    pytest.param(
        lambda p: p.runtime.update_program("p1", data=SOURCE), RuntimeProgramNotFound, id="data"
    ),
    pytest.param(
        lambda p: p.runtime.set_program_visibility("p1", True),
        RuntimeProgramNotFound,
        id="visibility",
    ),
    pytest.param(lambda p: p.runtime.delete_program("p1"), RuntimeProgramNotFound, id="delete"),
    pytest.param(
        lambda p: p.runtime.run("p1", {"backend_name": "b"}, {}), RuntimeProgramNotFound, id="run"
    ),
    pytest.param(lambda p: p.runtime.job("job-1"), RuntimeJobNotFound, id="job"),
    pytest.param(lambda p: p.runtime.delete_job("job-1"), RuntimeJobNotFound, id="delete-job"),
    pytest.param(lambda p: _a_job(p).status(), RuntimeJobNotFound, id="status"),
    pytest.param(lambda p: _a_job(p).result(), RuntimeJobNotFound, id="result"),
    pytest.param(lambda p: _a_job(p).error_message(), RuntimeJobNotFound, id="error-message"),
    pytest.param(lambda p: _a_job(p).wait_for_final_state(), RuntimeJobNotFound, id="wait-final"),
    pytest.param(lambda p: _a_job(p).interim_results(), RuntimeJobNotFound, id="interim"),
    pytest.param(lambda p: _a_job(p).cancel(), RuntimeJobNotFound, id="cancel"),
]


@pytest.mark.parametrize(("call", "error"), NOT_FOUND_CALLS)
async def test_every_runtime_404_is_its_specific_error_and_both_bases(
    connected: Connected, call: Any, error: type[Exception]
) -> None:
    """docs/protocol.md#runtime-errors: a 404 is the reference's specific error, which is an
    EntryNotFound and a RuntimeServiceError (as QiskitRuntimeError), so both excepts work."""
    provider, router = connected
    router.route(host=RUNTIME_HOST).respond(404, json={"error": {"message": "not here"}})
    with pytest.raises(error) as info:
        await call(provider)
    assert isinstance(info.value, EntryNotFound)
    assert isinstance(info.value, RuntimeServiceError)
    assert info.value.status == 404
    assert "not here" in str(info.value)


async def test_a_404_for_the_result_of_a_finished_job_is_runtime_job_not_found(
    connected: Connected,
) -> None:
    provider, router = connected
    router.get(f"{RUNTIME}/jobs/job-1").respond(json=job_record("job-1", "COMPLETED"))
    router.get(f"{RUNTIME}/jobs/job-1/results").respond(404, json={"error": {"message": "gone"}})
    with pytest.raises(RuntimeJobNotFound):
        await _a_job(provider).result()
    # ... while a job's logs read a 404 as no output.
    router.get(f"{RUNTIME}/jobs/job-1/logs").respond(404)
    assert await _a_job(provider).logs() == ""


async def test_runtime_errors_share_the_runtime_base_and_keep_their_http_bases() -> None:
    for cls in (RuntimeJobNotFound, RuntimeProgramNotFound):
        assert issubclass(cls, EntryNotFound)
        assert issubclass(cls, RuntimeServiceError)
    assert issubclass(RuntimeDuplicateProgramError, EntryExists)
    assert issubclass(RuntimeDuplicateProgramError, RuntimeServiceError)
    error = RuntimeDuplicateProgramError("taken", status=409, method="POST", url="u")
    assert (error.status, error.message, str(error)) == (409, "taken", "409 for POST u: taken")


def job_records(n: int) -> list[dict[str, Any]]:
    return [job_record(f"job-{i}", "COMPLETED") for i in range(n)]


async def test_jobs_default_query(connected: Connected) -> None:
    provider, router = connected
    router.get(f"{RUNTIME}/jobs").mock(side_effect=paged(job_records(30), "jobs"))
    jobs = await provider.runtime.jobs()
    assert [j.job_id for j in jobs] == [f"job-{i}" for i in range(10)]
    [request] = service_calls(router)
    assert_rt(request, "GET", "/jobs", [("limit", "10")])


async def test_jobs_filters(connected: Connected) -> None:
    provider, router = connected
    router.get(f"{RUNTIME}/jobs").respond(json={"jobs": job_records(1), "count": 1})
    await provider.runtime.jobs(limit=5, pending=True, program_id="prog-9")
    await provider.runtime.jobs(limit=5, skip=2, pending=False)
    first, second = service_calls(router)
    assert_rt(first, "GET", "/jobs", [("limit", "5"), ("pending", "true"), ("program", "prog-9")])
    assert_rt(second, "GET", "/jobs", [("limit", "5"), ("offset", "2"), ("pending", "false")])


async def test_jobs_pages_without_limit_until_count_minus_skip(connected: Connected) -> None:
    provider, router = connected
    route = router.get(f"{RUNTIME}/jobs").mock(side_effect=paged(job_records(45), "jobs"))
    jobs = await provider.runtime.jobs(limit=None, skip=3)
    assert [j.job_id for j in jobs] == [f"job-{i}" for i in range(3, 45)]
    assert [sorted(query(c.request)) for c in route.calls] == [
        [("limit", "20"), ("offset", "3")],
        [("limit", "20"), ("offset", "23")],
        [("limit", "20"), ("offset", "43")],
    ]


async def test_jobs_next_page_asks_for_what_is_left_of_limit(connected: Connected) -> None:
    provider, router = connected
    route = router.get(f"{RUNTIME}/jobs").mock(side_effect=paged(job_records(100), "jobs"))
    jobs = await provider.runtime.jobs(limit=25, skip=5)
    assert [j.job_id for j in jobs] == [f"job-{i}" for i in range(5, 30)]
    assert [sorted(query(c.request)) for c in route.calls] == [
        [("limit", "20"), ("offset", "5")],
        [("limit", "5"), ("offset", "25")],
    ]


async def test_jobs_stops_when_count_minus_skip_is_reached(connected: Connected) -> None:
    provider, router = connected
    route = router.get(f"{RUNTIME}/jobs").mock(side_effect=paged(job_records(15), "jobs"))
    jobs = await provider.runtime.jobs(limit=50, skip=10)
    assert len(jobs) == 5
    assert route.call_count == 1


async def test_jobs_stops_on_an_empty_page_when_count_lies(connected: Connected) -> None:
    provider, router = connected
    route = router.get(f"{RUNTIME}/jobs").mock(side_effect=paged(job_records(3), "jobs", count=500))
    jobs = await provider.runtime.jobs(limit=None)
    assert len(jobs) == 3
    assert route.call_count == 2
    assert sorted(query(route.calls[1].request)) == [("limit", "20"), ("offset", "3")]


async def test_jobs_are_built_from_their_records(connected: Connected) -> None:
    provider, router = connected
    router.get(f"{RUNTIME}/jobs").respond(
        json={
            "jobs": [
                job_record("a", "QUEUED", params=[{"k": {"__type__": "set", "__value__": [1]}}]),
                job_record("b", state={"status": "Completed", "reason": None}),
            ],
            "count": 2,
        }
    )
    a, b = await provider.runtime.jobs()
    assert a.inputs == {"k": {1}}
    assert a.cached_status.value == "QUEUED"
    assert b.cached_status.value == "DONE"


@pytest.mark.parametrize(("limit", "skip"), [(0, 0), (-3, 0), (1, -1)])
async def test_jobs_validates_limit_and_skip(connected: Connected, limit: Any, skip: int) -> None:
    provider, router = connected
    with pytest.raises(ValueError, match=r"limit|skip"):
        provider.runtime.jobs(limit=limit, skip=skip)  # at the call, before any await
    assert service_calls(router) == []


# A wrong type is a TypeError (it was a ValueError for limit=False before the redesign).
@pytest.mark.parametrize(
    "kwargs",
    [
        {"limit": False},
        {"limit": "10"},
        {"limit": 1.5},
        {"skip": "2"},
        {"pending": "true"},
        {"pending": 1},
        {"program_id": 5},
    ],
)
async def test_jobs_refuses_wrong_types(connected: Connected, kwargs: dict[str, Any]) -> None:
    provider, router = connected
    with pytest.raises(TypeError, match=r"limit|skip|pending|program_id"):
        provider.runtime.jobs(**kwargs)
    assert service_calls(router) == []


@pytest.mark.parametrize("program_id", ["", "a/b", ".."])
async def test_jobs_refuses_a_bad_program_id(connected: Connected, program_id: str) -> None:
    provider, router = connected
    with pytest.raises(ValueError, match="program_id"):
        provider.runtime.jobs(program_id=program_id)
    assert service_calls(router) == []


async def test_delete_job(connected: Connected) -> None:
    provider, router = connected
    router.delete(f"{RUNTIME}/jobs/job-1").respond(204)
    router.delete(f"{RUNTIME}/jobs/gone").respond(404, json={"error": {"message": "x"}})
    await provider.runtime.delete_job("job-1")
    assert_rt(service_calls(router)[0], "DELETE", "/jobs/job-1")
    with pytest.raises(RuntimeJobNotFound):
        await provider.runtime.delete_job("gone")


async def test_logout(connected: Connected) -> None:
    provider, router = connected
    router.post(f"{RUNTIME}/logout").respond(200)
    await provider.runtime.logout()
    [request] = service_calls(router)
    assert_rt(request, "POST", "/logout")


async def test_custom_client_application_header_suffix(
    router: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QEXP_CUSTOM_CLIENT_APP_HEADER", "my-app")
    router.post(f"{RUNTIME}/logout").respond(200)
    async with connect(router) as provider:
        await provider.runtime.logout()
        [request] = service_calls(router)
    assert request.headers["X-Qx-Client-Application"] == f"{CLIENT_APP}/my-app"


async def test_no_hgp_means_no_hub_group_project() -> None:
    bare = respx.MockRouter(assert_all_called=False)
    mock_login(bare, network=[])
    bare.post(f"{RUNTIME}/jobs").respond(json={"id": "j"})
    async with connect(bare) as provider:
        await provider.runtime.run("p", {"backend_name": "b"}, {})
        request = service_calls(bare)[-1]
    assert body(request) == {"program_id": "p", "backend": "b", "params": {}, "runtime": None}


class _Tagged(ResultDecoder):
    @classmethod
    def decode(cls, data: str) -> Any:
        return ("tagged", super().decode(data))


async def test_run_result_decoder_is_kept_by_the_job(connected: Connected) -> None:
    provider, router = connected
    router.post(f"{RUNTIME}/jobs").respond(json={"id": "job-d"})
    router.get(f"{RUNTIME}/jobs/job-d").respond(json=job_record("job-d", "COMPLETED"))
    router.get(f"{RUNTIME}/jobs/job-d/results").respond(text='{"v": 1}')
    job = await provider.runtime.run("prog-1", {"backend_name": "b"}, {}, result_decoder=_Tagged)
    assert await job.result() == ("tagged", {"v": 1})


# -- retries (docs/protocol.md#retries-and-redirects: only replay-safe calls are retried on 5xx) --


async def test_upload_program_is_not_retried_on_503(connected: Connected) -> None:
    provider, router = connected
    route = router.post(f"{RUNTIME}/programs").respond(503)
    with pytest.raises(ApiError) as info:
        await provider.runtime.upload_program(
            SOURCE, name="n", max_execution_time=1, description="d"
        )
    assert info.value.status == 503
    assert route.call_count == 1


async def test_patch_is_not_retried_but_put_data_is(connected: Connected) -> None:
    provider, router = connected
    put = router.put(f"{RUNTIME}/programs/prog-1/data").mock(
        side_effect=[httpx.Response(503), httpx.Response(200)]
    )
    patch = router.patch(f"{RUNTIME}/programs/prog-1").respond(503)
    with pytest.raises(ApiError) as info:
        await provider.runtime.update_program("prog-1", data=SOURCE, name="n")
    assert info.value.status == 503
    assert put.call_count == 2
    assert patch.call_count == 1


@pytest.mark.parametrize(
    ("method", "path", "call"),
    [
        ("GET", "/jobs/job-1", lambda rt: rt.job("job-1")),
        ("DELETE", "/jobs/job-1", lambda rt: rt.delete_job("job-1")),
        ("POST", "/logout", lambda rt: rt.logout()),
        ("PUT", "/programs/prog-1/public", lambda rt: rt.set_program_visibility("prog-1", True)),
    ],
)
async def test_replay_safe_calls_are_retried_on_503(
    connected: Connected, method: str, path: str, call: Any
) -> None:
    provider, router = connected
    route = router.route(method=method, url=f"{RUNTIME}{path}").mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json=job_record())]
    )
    await call(provider.runtime)
    assert route.call_count == 2


# -- malformed answers (defect 5 of the redesign issue) ------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "answer", "call"),
    [
        pytest.param("GET", "/jobs/job-1", {}, lambda rt: rt.job("job-1"), id="job-empty"),
        pytest.param("GET", "/jobs/job-1", [], lambda rt: rt.job("job-1"), id="job-list"),
        pytest.param(
            "GET", "/programs/prog-1", {}, lambda rt: rt.program("prog-1"), id="program-empty"
        ),
        pytest.param("GET", "/jobs", {"count": 3}, lambda rt: rt.jobs(), id="jobs-without-jobs"),
        pytest.param(
            "GET", "/jobs", {"jobs": [{}], "count": 1}, lambda rt: rt.jobs(), id="jobs-bad-record"
        ),
        pytest.param(
            "GET", "/programs", {"count": 1}, lambda rt: rt.programs(), id="programs-no-programs"
        ),
        pytest.param(
            "POST",
            "/jobs",
            {"created": "2022-01-01T00:00:00Z"},
            lambda rt: rt.run("prog-1", {"backend_name": "b"}, {}),
            id="run-without-id",
        ),
        pytest.param(
            "POST",
            "/programs",
            {"name": "n"},
            lambda rt: rt.upload_program(SOURCE, name="n", max_execution_time=1, description="d"),
            id="upload-without-id",
        ),
    ],
)
async def test_a_malformed_answer_is_an_api_error_naming_the_request(
    connected: Connected, method: str, path: str, answer: Any, call: Any
) -> None:
    provider, router = connected
    router.route(method=method, url=f"{RUNTIME}{path}").respond(json=answer)
    with pytest.raises(ApiError) as info:
        await call(provider.runtime)
    error = info.value
    assert type(error) is ApiError
    assert (error.method, error.url, error.status) == (method, f"{RUNTIME}{path}", 200)
    assert f"{method} {RUNTIME}{path}" in str(error)
    assert "malformed" in str(error)


async def test_malformed_job_answers_while_polling_and_for_interim_results(
    connected: Connected,
) -> None:
    provider, router = connected
    router.get(f"{RUNTIME}/jobs/job-1").respond(json={"status": "RUNNING"})
    router.get(f"{RUNTIME}/jobs/job-1/interim_results").respond(text="<html>oops</html>")
    job = RuntimeJob(provider.runtime, "job-1", program_id="prog-1", backend="b")
    with pytest.raises(ApiError, match=r"malformed job record: .*no id"):
        await job.status()
    with pytest.raises(ApiError, match="malformed interim results") as info:
        await job.interim_results()
    assert info.value.url == f"{RUNTIME}/jobs/job-1/interim_results"


# -- jobs() is a Pager -------------------------------------------------------------------------


async def test_jobs_pages_lazily_and_prefetches_the_next_page(connected: Connected) -> None:
    provider, router = connected
    route = router.get(f"{RUNTIME}/jobs").mock(side_effect=paged(job_records(45), "jobs"))
    pager = provider.runtime.jobs(limit=None)
    await asyncio.sleep(0)
    assert route.call_count == 0  # nothing is fetched before it is consumed
    seen: list[str] = []
    async for job in pager:
        seen.append(job.job_id)
        if len(seen) == 1:  # the second page is fetched while the first is read
            await wait_until(lambda: route.call_count == 2)
            assert pager.pages_fetched == 1
    assert seen == [f"job-{i}" for i in range(45)]
    assert [sorted(query(c.request)) for c in route.calls] == [
        [("limit", "20")],
        [("limit", "20"), ("offset", "20")],
        [("limit", "20"), ("offset", "40")],
    ]


async def test_leaving_a_jobs_pager_early_cancels_its_prefetch(connected: Connected) -> None:
    provider, router = connected
    prefetching, release = asyncio.Event(), asyncio.Event()

    async def slow_second_page(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("offset"):
            prefetching.set()
            await release.wait()  # never set: the prefetch must be cancelled
        return paged(job_records(45), "jobs")(request)

    router.get(f"{RUNTIME}/jobs").mock(side_effect=slow_second_page)
    async with provider.runtime.jobs(limit=None) as pager:
        async for job in pager:
            assert job.job_id == "job-0"
            await asyncio.wait_for(prefetching.wait(), 5)
            assert len(provider.tasks.tasks) == 1  # the prefetch, owned by the provider
            break
    assert provider.tasks.tasks == frozenset()
