"""``GET /openapi.json``: a valid OpenAPI 3 document, generated from the emulator's routes and
the wire models, that covers every route and whose schemas the real answers match."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from async_qexp.emulator import Emulator, serve
from async_qexp.emulator.app import build_app
from async_qexp.emulator.openapi import OPERATIONS, body_schema, openapi_document, record_schema
from async_qexp.emulator.runtime.routes import runtime_routes
from async_qexp.models.records import AnalysisResult, Experiment, FileInfo

from .conftest import login_client

METHODS = {"get", "put", "post", "patch", "delete"}


async def _document(emu: Emulator) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=emu.url) as client:
        answer = await client.get("/openapi.json")  # no token needed
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    document: dict[str, Any] = answer.json()
    return document


def _routes(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for route in routes:
        if isinstance(route, Mount):
            yield from _routes(list(route.routes), prefix + route.path)
        elif isinstance(route, (Route, WebSocketRoute)):
            yield prefix + route.path, route


def _plain(path: str) -> str:
    """``/x/{name:path}`` → ``/x/{name}`` (as OpenAPI spells a parameter)."""
    out, rest = "", path
    while "{" in rest:
        head, _, tail = rest.partition("{")
        param, _, rest = tail.partition("}")
        out += head + "{" + param.split(":")[0] + "}"
    return out + rest


def _handler_names(route: Any) -> str:
    endpoint = route.endpoint
    if isinstance(endpoint, functools.partial):
        return f"{endpoint.func.__name__}_{endpoint.keywords['kind']}"
    return str(endpoint.__name__)


@pytest.mark.asyncio
async def test_the_document_is_valid_openapi_3() -> None:
    async with serve() as emu:
        document = await _document(emu)
    assert document["openapi"].startswith("3.")
    validate(document)  # raises on any violation of the OpenAPI 3 schema


@pytest.mark.asyncio
async def test_every_route_and_method_is_described() -> None:
    async with serve() as emu:
        document = await _document(emu)
        app: Any = build_app(emu._state, runtime_routes())
    expected: set[tuple[str, str]] = set()
    handlers: set[str] = set()
    for path, route in _routes(list(app.app.routes)):
        if isinstance(route, WebSocketRoute):
            expected.add(("get", _plain(path)))
            continue
        handlers.add(_handler_names(route))
        for method in (route.methods or set()) - {"HEAD"}:
            expected.add((method.lower(), _plain(path)))
    described = {
        (method, path)
        for path, operations in document["paths"].items()
        for method in operations
        if method in METHODS
    }
    assert described == expected
    assert len(expected) > 50
    # every handler says what it takes and answers (none falls back to a guess) ...
    qualified = {key.rsplit(".", 1)[-1] for key in OPERATIONS}
    assert handlers - {"stream_job"} <= qualified, handlers - qualified
    # ... and nothing is described that no route serves
    assert qualified <= handlers, qualified - handlers
    ids = [op["operationId"] for ops in document["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


@pytest.mark.asyncio
async def test_links_point_at_operations_and_their_parameters() -> None:
    async with serve() as emu:
        document = await _document(emu)
    by_id = {
        op["operationId"]: (path, op)
        for path, ops in document["paths"].items()
        for op in ops.values()
    }
    links = 0
    for ops in document["paths"].values():
        for op in ops.values():
            for response in op["responses"].values():
                for link in response.get("links", {}).values():
                    links += 1
                    _path, target = by_id[link["operationId"]]
                    names = {p["name"] for p in target.get("parameters", [])}
                    assert set(link.get("parameters", {})) <= names, link
                    if "requestBody" in link:
                        body = target["requestBody"]["content"]["application/json"]["schema"]
                        assert body["$ref"].startswith("#/components/schemas/")
    assert links >= 20


def test_record_schemas_come_from_the_wire_models() -> None:
    document = openapi_document([])
    schemas = document["components"]["schemas"]
    for cls in (Experiment, AnalysisResult, FileInfo):
        attrs.resolve_types(cls)  # as cattrs does: field.type becomes a type, not its text
    # the same schemas whether the annotations were resolved before or after the import
    assert (
        record_schema(AnalysisResult, ["uuid", "experiment_uuid", "device_name"])
        == (schemas["AnalysisResult"])
    )
    assert body_schema(Experiment, "update") == schemas["ExperimentUpdate"]
    result = record_schema(AnalysisResult)["properties"]
    assert result["verified"] == {"type": "boolean"}
    assert result["chisq"] == {"type": "number", "nullable": True}
    assert result["device_components"] == {"type": "array", "items": {"type": "string"}}
    assert result["fit"]["type"] == "object"
    assert record_schema(FileInfo)["properties"]["Size"] == {"type": "integer"}
    assert body_schema(Experiment, "update")["properties"]["end_time"]["format"] == "date-time"
    for name, cls in (("Experiment", Experiment), ("AnalysisResult", AnalysisResult)):
        wire = {f.metadata["wire"] for f in attrs.fields(cls) if "wire" in f.metadata}
        assert set(schemas[name]["properties"]) == wire
        creatable = {f.metadata["wire"] for f in attrs.fields(cls) if f.metadata.get("create")}
        assert set(schemas[name + "Create"]["properties"]) <= wire
        assert creatable <= set(schemas[name + "Create"]["properties"])
    assert schemas["Experiment"]["properties"]["visibility"]["enum"] == [
        "private",
        "project",
        "group",
        "hub",
        "public",
    ]


def _validator(document: dict[str, Any], name: str) -> OAS30Validator:
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return OAS30Validator(schema)


@pytest.mark.asyncio
async def test_real_answers_match_their_schemas() -> None:
    async with serve() as emu:
        document = await _document(emu)
        client = await login_client(emu.url, "schema-user")
        async with client:
            created = await client.post(
                "/experiments",
                json={"type": "T1", "device_name": "ibmq_lima", "tags": ["a"], "notes": "n"},
            )
            assert created.status_code == 201
            uuid = created.json()["uuid"]
            result = await client.post(
                "/analysis_results",
                json={"experiment_uuid": uuid, "type": "T1", "quality": "Good", "fit": {"a": 1}},
            )
            assert result.status_code == 201
            listed = await client.get("/experiments")
            missing = await client.get("/experiments/nope")
    _validator(document, "Experiment").validate(created.json())
    _validator(document, "AnalysisResult").validate(result.json())
    for experiment in listed.json()["experiments"]:
        _validator(document, "Experiment").validate(experiment)
    assert missing.status_code == 404
    _validator(document, "Error").validate(missing.json())
    # and the validator is not a rubber stamp
    with pytest.raises(Exception, match="is not of type"):
        _validator(document, "Experiment").validate({**created.json(), "tags": "a"})


_QUERY_READ = re.compile(
    r"(?:\blast|\b_all|\b_text|\b_times|\b_int_param|\b_bool_param|query_params\.get|\bq\.get)"
    r"\((?:request, )?\"([a-z_]+)\""
)


def test_every_query_parameter_the_emulator_reads_is_described() -> None:
    """The query parameters are declared in the document, not derived: every one the
    emulator's parsers read (found in their source) must be among them."""
    package = Path(openapi_document.__code__.co_filename).parent
    read: set[str] = set()
    for source in package.rglob("*.py"):
        read |= set(_QUERY_READ.findall(source.read_text()))
    read |= {"limit", "offset"}  # read through _window()
    assert {"limit", "marker", "device_components", "created_at", "program", "sig"} <= read
    described = {
        parameter["name"]
        for operations in openapi_document(_app_routes()).get("paths", {}).values()
        for operation in operations.values()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query"
    }
    assert read <= described, read - described


def _app_routes() -> list[BaseRoute]:
    from async_qexp.emulator.auth import auth_routes
    from async_qexp.emulator.classic import classic_routes
    from async_qexp.emulator.resultsdb import blob_routes, resultsdb_routes

    return [
        *auth_routes(),
        *classic_routes(),
        Mount("/resultsdb", routes=resultsdb_routes()),
        Mount("/runtime", routes=runtime_routes()),
        *blob_routes(),
    ]
