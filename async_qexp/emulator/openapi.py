"""The OpenAPI 3 description of the emulator, served at ``/openapi.json``: generated from its
routes (paths, methods, path parameters, summaries from the handlers' docstrings) and from the
wire models (:mod:`async_qexp.models.records`: the experiment and analysis-result schemas, and
which of their fields a create or an update takes). What neither says (query parameters,
runtime bodies, links between operations) is declared once, below, per handler.

Every error is the protocol's ``{"error": {"code", "message"}}`` (``docs/protocol.md#errors``).
The links (``POST /experiments`` → the experiment's routes, ``POST /runtime/jobs`` → the job's
...) let a stateful fuzzer chain calls (``nox -s fuzz``).
"""

from __future__ import annotations

import enum
import functools
import re
import types
import typing
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

import attrs
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from async_qexp.models.records import (
    AnalysisResult,
    Experiment,
    ExperimentShareLevel,
    FileInfo,
    ResultQuality,
)

__all__ = ["OPENAPI_VERSION", "openapi_document"]

OPENAPI_VERSION = "3.0.3"
"""The OpenAPI version of the document."""

Schema = dict[str, Any]

_REF = "#/components/schemas/"
_PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")
_ID = {"type": "string", "minLength": 1, "maxLength": 512, "pattern": "^[^/]+$"}
_TIME = {"type": "string", "format": "date-time"}
_STAMP = {"type": "string"}  # what the emulator emits: YYYY-MM-DDTHH:MM:SS.ffffffZ


def _ref(name: str) -> Schema:
    return {"$ref": _REF + name}


def _nullable(schema: Schema) -> Schema:
    return {**schema, "nullable": True}


def _object_schema(properties: Schema, required: Sequence[str] = ()) -> Schema:
    """An object schema (OpenAPI 3.0 forbids an empty ``required``: it is left out then)."""
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


# -- schemas of the wire models ----------------------------------------------------------------

_SPECIAL: dict[str, Schema] = {
    "visibility": {"type": "string", "enum": [level.value for level in ExperimentShareLevel]},
    "quality": {"type": "string", "enum": [quality.wire for quality in ResultQuality]},
    "uuid": _ID,
    "experiment_uuid": _ID,
    "parent_experiment_uuid": _ID,
}


_SCALARS: dict[Any, Schema] = {
    str: {"type": "string"},
    bool: {"type": "boolean"},
    int: {"type": "integer"},
    float: {"type": "number"},
    datetime: _TIME,
}


def _annotation_schema(annotation: Any) -> Schema:
    """The JSON schema of a field's (resolved) type: a scalar, a list, a dict, an enum (its
    wire values come from ``_SPECIAL``), or one of those or ``None``.

    Raises:
        TypeError: for a type this does not know (a new kind of field needs a schema here).
    """
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        (inner,) = [arg for arg in args if arg is not type(None)]
        return _nullable(_annotation_schema(inner))
    origin = typing.get_origin(annotation) or annotation
    if origin in _SCALARS:
        return dict(_SCALARS[origin])
    if origin is list:
        return {"type": "array", "items": _annotation_schema(args[0]) if args else {}}
    if origin is dict:
        return {"type": "object", "additionalProperties": True}
    if isinstance(origin, type) and issubclass(origin, enum.Enum):
        return {"type": "string"}
    raise TypeError(f"no JSON schema for a field of type {annotation!r}")


def _record_fields(cls: type[Any]) -> Iterator[tuple[str, Schema, dict[str, Any]]]:
    hints = typing.get_type_hints(cls)  # the annotations as types, not as their text
    for field in attrs.fields(cls):
        wire = field.metadata.get("wire")
        if wire is None:
            continue
        schema = _annotation_schema(hints[field.name])
        if wire in _SPECIAL:
            schema = {**_SPECIAL[wire], **({"nullable": True} if schema.get("nullable") else {})}
        yield wire, schema, dict(field.metadata)


def record_schema(cls: type[Any], required: Sequence[str] = ()) -> Schema:
    """A record as the emulator answers it: every wire field of ``cls``; dates are the
    emulator's UTC strings, nullable unless required."""
    properties: Schema = {}
    for wire, schema, _ in _record_fields(cls):
        if schema.get("format") == "date-time":
            schema = _nullable(_STAMP)
        properties[wire] = schema
    return _object_schema(properties, required)


def body_schema(cls: type[Any], which: str, required: Sequence[str] = ()) -> Schema:
    """A request body of ``cls``: the fields whose metadata says ``which`` (``create`` or
    ``update``); any may be null (a null reads as the default)."""
    properties = {
        wire: _nullable(schema)
        for wire, schema, meta in _record_fields(cls)
        if meta.get(which) and wire not in required
    }
    for wire, schema, _ in _record_fields(cls):
        if wire in required:
            properties[wire] = schema
    return _object_schema(properties, required)


def _listing(key: str, item: Schema, marker: bool = True) -> Schema:
    properties: Schema = {key: {"type": "array", "items": item}}
    if marker:
        properties["marker"] = {"type": "string"}
    return _object_schema(properties, [key])


def _object(required: Sequence[str] = (), **properties: Schema) -> Schema:
    return _object_schema(properties, required)


_STR = {"type": "string"}
_OBJ = {"type": "object", "additionalProperties": True}
_COST = {"type": "integer", "minimum": 1, "maximum": 10**9}

SCHEMAS: dict[str, Schema] = {
    "Error": _object(
        ["error"],
        error=_object(
            ["code", "message"], code={"oneOf": [{"type": "integer"}, _STR]}, message=_STR
        ),
    ),
    "Experiment": record_schema(Experiment, ["uuid", "type", "device_name", "jobs"]),
    "ExperimentCreate": body_schema(Experiment, "create", ["type", "device_name"]),
    "ExperimentUpdate": body_schema(Experiment, "update"),
    "AnalysisResult": record_schema(AnalysisResult, ["uuid", "experiment_uuid", "device_name"]),
    "AnalysisResultCreate": body_schema(AnalysisResult, "create", ["experiment_uuid", "type"]),
    "AnalysisResultUpdate": body_schema(AnalysisResult, "update"),
    "FileEntry": record_schema(FileInfo, ["Key", "Size"]),
    "Program": _object(
        ["id", "name", "cost", "is_public"],
        id=_STR,
        name=_STR,
        description=_STR,
        cost=_COST,
        is_public={"type": "boolean"},
        creation_date=_STR,
        update_date=_STR,
        spec=_OBJ,
        owner=_STR,
        version=_STR,
        data=_STR,
    ),
    "ProgramCreate": _object(
        ["name", "data"],
        name={"type": "string", "minLength": 1},
        data={"type": "string", "description": "base64 of the program's UTF-8 source"},
        cost=_COST,
        description=_STR,
        is_public={"type": "boolean"},
        spec={"oneOf": [_OBJ, _STR]},
        version=_STR,
    ),
    "ProgramUpdate": _object(
        name={"type": "string", "minLength": 1}, description=_STR, cost=_COST, spec=_OBJ
    ),
    "JobCreate": _object(
        ["program_id", "backend"],
        program_id={"type": "string", "minLength": 1},
        backend={"type": "string", "minLength": 1},
        hub=_STR,
        group=_STR,
        project=_STR,
        params={"oneOf": [_OBJ, _STR, {"type": "array", "items": _OBJ, "maxItems": 1}]},
        runtime=_nullable(_STR),
        log_level={"type": "string", "enum": ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]},
        cost=_COST,
    ),
    "Job": _object(
        ["id", "program", "backend", "status", "state", "created"],
        id=_STR,
        program=_object(["id"], id=_STR),
        backend=_STR,
        hub=_STR,
        group=_STR,
        project=_STR,
        status=_STR,
        state=_object(["status"], status=_STR, reason=_nullable(_STR)),
        params={"type": "array", "items": _OBJ},
        created=_STR,
        started=_nullable(_STR),
        ended=_nullable(_STR),
        runtime=_nullable(_STR),
        log_level=_nullable(_STR),
        cost={"type": "integer"},
        tags={"type": "array", "items": _STR},
    ),
}
"""The named schemas of the document."""


# -- what each handler takes and answers (beyond its route) ------------------------------------


@attrs.frozen
class Operation:
    """What the routes cannot say about a handler."""

    status: int = 200
    response: Schema | None = attrs.field(factory=lambda: dict(_OBJ))
    media: str = "application/json"
    body: Schema | None = None
    body_media: str = "application/json"
    query: tuple[tuple[str, Schema], ...] = ()
    public: bool = False
    links: dict[str, tuple[str, str, str]] = attrs.field(factory=dict)
    """Link name → (operation id, parameter or ``body:<field>``, expression)."""
    others: dict[str, tuple[str, Schema]] = attrs.field(factory=dict)
    """Further answers that are no error record: status → (description, JSON schema)."""


def _q(*names: str, schema: Schema | None = None) -> tuple[tuple[str, Schema], ...]:
    return tuple((name, schema or _STR) for name in names)


_PAGE = (("limit", {"type": "integer", "minimum": 1}), ("marker", _STR), ("sort", _STR))
_COMMON_FILTERS = _q("device_name", "type", "tags", "device_components")
_WINDOW = (
    ("limit", {"type": "integer", "minimum": 0}),
    ("offset", {"type": "integer", "minimum": 0}),
)
_BYTES = {"type": "string", "format": "binary"}
_EXP_LINKS = {
    "GetExperiment": ("get_experiment", "uuid", "$response.body#/uuid"),
    "UpdateExperiment": ("update_experiment", "uuid", "$response.body#/uuid"),
    "DeleteExperiment": ("delete_experiment", "uuid", "$response.body#/uuid"),
    "ListFiles": ("list_files", "uuid", "$response.body#/uuid"),
    "PlotUploadUrl": ("upload_url_plot", "uuid", "$response.body#/uuid"),
    "FileUploadUrl": ("upload_url_file", "uuid", "$response.body#/uuid"),
    "CreateResult": ("create_result", "body:experiment_uuid", "$response.body#/uuid"),
}
_RESULT_LINKS = {
    "GetResult": ("get_result", "uuid", "$response.body#/uuid"),
    "UpdateResult": ("update_result", "uuid", "$response.body#/uuid"),
    "DeleteResult": ("delete_result", "uuid", "$response.body#/uuid"),
}
_PROGRAM_LINKS = {
    "GetProgram": ("get_program", "program_id", "$response.body#/id"),
    "PatchProgram": ("patch_program", "program_id", "$response.body#/id"),
    "DeleteProgram": ("delete_program", "program_id", "$response.body#/id"),
    "SetPublic": ("set_public", "program_id", "$response.body#/id"),
    "RunProgram": ("create_job", "body:program_id", "$response.body#/id"),
}
_JOB_LINKS = {
    name: (op, "job_id", "$response.body#/id")
    for name, op in (
        ("GetJob", "get_job"),
        ("JobResults", "job_results"),
        ("JobInterimResults", "job_interim_results"),
        ("JobLogs", "job_logs"),
        ("CancelJob", "cancel_job"),
        ("DeleteJob", "delete_job"),
    )
}

OPERATIONS: dict[str, Operation] = {
    "version": Operation(public=True),
    "login": Operation(body=_object(["apiToken"], apiToken=_STR), public=True),
    "runtime_version": Operation(public=True),
    "blob_put": Operation(
        body=_BYTES,
        body_media="application/octet-stream",
        query=_q("expires", "sig"),
        public=True,
    ),
    "list_devices": Operation(response=_listing("devices", _OBJ, marker=False)),
    "list_device_components": Operation(
        response=_listing("device_components", _OBJ, marker=False), query=_q("device_name")
    ),
    "list_experiments": Operation(
        response=_listing("experiments", _ref("Experiment")),
        query=(
            *_PAGE,
            *_COMMON_FILTERS,
            *_q("hub_id", "group_id", "project_id", "parent_experiment_uuid"),
            *_q("start_time", "visibility", "owner"),
        ),
    ),
    "create_experiment": Operation(
        status=201, response=_ref("Experiment"), body=_ref("ExperimentCreate"), links=_EXP_LINKS
    ),
    "get_experiment": Operation(response=_ref("Experiment")),
    "update_experiment": Operation(response=_ref("Experiment"), body=_ref("ExperimentUpdate")),
    "delete_experiment": Operation(response=_ref("Experiment")),
    "list_results": Operation(
        response=_listing("analysis_results", _ref("AnalysisResult")),
        query=(
            *_PAGE,
            *_COMMON_FILTERS,
            *_q("experiment_uuid", "quality", "verified", "created_at"),
        ),
    ),
    "create_result": Operation(
        status=201,
        response=_ref("AnalysisResult"),
        body=_ref("AnalysisResultCreate"),
        links=_RESULT_LINKS,
    ),
    "get_result": Operation(response=_ref("AnalysisResult")),
    "update_result": Operation(response=_ref("AnalysisResult"), body=_ref("AnalysisResultUpdate")),
    "delete_result": Operation(response=_ref("AnalysisResult")),
    "bulk_update_results": Operation(
        response=_listing("analysis_results", _ref("AnalysisResult"), marker=False),
        body=_object(
            ["analysis_results"],
            analysis_results={
                "type": "array",
                "items": {
                    "allOf": [_ref("AnalysisResultUpdate"), _object(["uuid"], uuid=_ID)],
                },
            },
        ),
    ),
    "upload_url_plot": Operation(response=_object(["url"], url=_STR)),
    "upload_url_file": Operation(response=_object(["url"], url=_STR)),
    "get_blob_plot": Operation(response=_BYTES, media="*/*"),
    "get_blob_file": Operation(response=_BYTES, media="*/*"),
    "list_files": Operation(
        response=_object(["files"], files={"type": "array", "items": _ref("FileEntry")})
    ),
    "legacy_plot_create": Operation(
        body=_object(["plot"], plot=_BYTES),
        body_media="multipart/form-data",
        query=_q("name"),  # the figure's name when the part has no file name
        response=_object(["name", "size"], name=_STR, size={"type": "integer"}),
    ),
    "legacy_plot_update": Operation(
        body=_object(["plot"], plot=_BYTES),
        body_media="multipart/form-data",
        response=_object(["name", "size"], name=_STR, size={"type": "integer"}),
    ),
    "list_programs": Operation(
        response=_object(
            ["programs", "count"],
            programs={"type": "array", "items": _ref("Program")},
            count={"type": "integer"},
        ),
        query=_WINDOW,
    ),
    "create_program": Operation(
        status=201,
        response=_object(["id"], id=_STR),
        body=_ref("ProgramCreate"),
        links=_PROGRAM_LINKS,
    ),
    "get_program": Operation(response=_ref("Program")),
    "patch_program": Operation(response=_ref("Program"), body=_ref("ProgramUpdate")),
    "put_program_data": Operation(body=_STR, body_media="application/octet-stream"),
    "set_public": Operation(response=_ref("Program")),
    "set_private": Operation(response=_ref("Program")),
    "list_jobs": Operation(
        response=_object(
            ["jobs", "count"],
            jobs={"type": "array", "items": _ref("Job")},
            count={"type": "integer"},
        ),
        query=(
            *_WINDOW,
            ("pending", {"type": "string", "enum": ["true", "false"]}),
            *_q("program", "provider"),
            ("sort", {"type": "string", "enum": ["ASC", "DESC"]}),
        ),
    ),
    "create_job": Operation(
        response=_object(["id"], id=_STR, created=_STR, backend=_STR),
        body=_ref("JobCreate"),
        links=_JOB_LINKS,
    ),
    "get_job": Operation(response=_ref("Job")),
    "job_results": Operation(response={}, media="*/*"),  # the result as published, or text
    "job_interim_results": Operation(response={"type": "array"}),
    "job_logs": Operation(response=_STR, media="text/plain"),
    "openapi": Operation(public=True),
    "health": Operation(
        public=True, response=_object(["status"], status={"type": "string", "enum": ["ok"]})
    ),
    "ready": Operation(
        public=True,
        response=_object(["status"], status={"type": "string", "enum": ["ready"]}),
        others={
            "503": (
                "not ready: the database does not answer, or the server is shutting down",
                _object(["status", "reason"], status=_STR, reason=_STR),
            )
        },
    ),
    "me": Operation(response=_object(["id", "userId", "urls"], id=_STR, userId=_STR, urls=_OBJ)),
    "backend_status": Operation(),
    "backend_empty": Operation(),
    "delete_blob_plot": Operation(),
    "delete_blob_file": Operation(),
    "delete_program": Operation(),
    "cancel_job": Operation(),
    "delete_job": Operation(),
    "logout": Operation(),
    "network": Operation(response={"type": "array", "items": _OBJ}),
    "classic.list_backends": Operation(response={"type": "array", "items": _OBJ}),
    "runtime.routes.list_backends": Operation(
        response=_object(["devices"], devices={"type": "array", "items": _STR})
    ),
}
"""What each handler takes and answers, beyond what its route says: by its name (its
operation id), or by ``module.name`` where two modules have a handler of that name."""


# -- the document --------------------------------------------------------------------------------


def _operation_id(endpoint: Callable[..., Any]) -> str:
    if isinstance(endpoint, functools.partial):
        kind = endpoint.keywords.get("kind")
        return f"{endpoint.func.__name__}_{kind}" if kind else endpoint.func.__name__
    return str(getattr(endpoint, "__name__", "operation"))


def _summary(endpoint: Callable[..., Any]) -> str:
    func = endpoint.func if isinstance(endpoint, functools.partial) else endpoint
    doc = (getattr(func, "__doc__", None) or "").strip()
    return doc.split("\n\n")[0].replace("\n", " ")


def _walk(routes: Sequence[BaseRoute], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for route in routes:
        if isinstance(route, Mount):
            yield from _walk(route.routes, prefix + route.path)
        elif isinstance(route, (Route, WebSocketRoute)):
            yield prefix + route.path, route


def _parameters(path: str, op: Operation) -> list[Schema]:
    params: list[Schema] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PARAM.findall(path)
    ]
    params += [{"name": name, "in": "query", "schema": schema} for name, schema in op.query]
    return params


def _links(op: Operation) -> Schema:
    links: Schema = {}
    for name, (target, parameter, expression) in op.links.items():
        if parameter.startswith("body:"):
            links[name] = {"operationId": target, "requestBody": {parameter[5:]: expression}}
        else:
            links[name] = {"operationId": target, "parameters": {parameter: expression}}
    return links


def _responses(op: Operation) -> Schema:
    ok: Schema = {"description": "success"}
    if op.response is not None:
        ok["content"] = {op.media: {"schema": op.response}}
    if op.links:
        ok["links"] = _links(op)
    error = {
        "description": "the request is refused (4xx), or an emulator bug (5xx)",
        "content": {"application/json": {"schema": _ref("Error")}},
    }
    others = {
        status: {"description": text, "content": {"application/json": {"schema": schema}}}
        for status, (text, schema) in op.others.items()
    }
    return {str(op.status): ok, **others, "default": error}


def _examples(backends: Sequence[str]) -> dict[str, Schema]:
    """Request examples a fuzzer starts from (a built-in program on a served backend ...)."""
    examples: dict[str, Schema] = {
        "ExperimentCreate": {"type": "T1", "device_name": "ibmq_lima", "tags": ["fuzz"]},
        "AnalysisResultCreate": {"experiment_uuid": "x", "type": "T1", "quality": "Good"},
        "ProgramCreate": {
            "name": "fuzzed",
            "data": "ZGVmIG1haW4oYmFja2VuZCwgdXNlcl9tZXNzZW5nZXIsICoqa3cpOgogICAgcmV0dXJuIGt3Cg==",
            "cost": 5,
        },
    }
    if backends:
        examples["JobCreate"] = {
            "program_id": "hello-world",
            "backend": backends[0],
            "params": {"iterations": 1},
        }
    return examples


def openapi_document(
    routes: Sequence[BaseRoute],
    title: str = "async_qexp emulator",
    runtime_backends: Sequence[str] = (),
) -> Schema:
    """The OpenAPI 3 document of ``routes`` (the app's whole route tree); ``runtime_backends``
    are the backends jobs may run on (a job on another one is refused)."""
    schemas = {name: dict(schema) for name, schema in SCHEMAS.items()}
    for name, example in _examples(runtime_backends).items():
        schemas[name]["example"] = example
    if runtime_backends:
        job = schemas["JobCreate"]
        job["properties"] = {
            **job["properties"],
            "backend": {"type": "string", "enum": list(runtime_backends)},
        }
    paths: dict[str, Schema] = {}
    seen: dict[str, int] = {}
    for raw_path, route in _walk(routes):
        path = _PARAM.sub(lambda m: "{" + m.group(1) + "}", raw_path)
        if isinstance(route, WebSocketRoute):
            paths.setdefault(path, {})["get"] = {
                "operationId": "stream_job",
                "summary": _summary(route.endpoint) + " (a websocket: upgrade, ACK, messages)",
                "parameters": _parameters(path, Operation()),
                "security": [{"AccessToken": []}],
                "responses": {
                    "101": {"description": "switching protocols"},
                    "default": {"description": "refused", "content": {}},
                },
                "x-websocket": True,
            }
            continue
        base = _operation_id(route.endpoint)
        func = getattr(route.endpoint, "func", route.endpoint)
        module = str(getattr(func, "__module__", "")).removeprefix(__package__ + ".")
        qualified = f"{module}.{base}"
        op = OPERATIONS.get(qualified) or OPERATIONS.get(base) or Operation()
        if qualified in OPERATIONS:
            base = f"{module.split('.')[0]}_{base}"
        for method in sorted((route.methods or set()) - {"HEAD"}):
            if method.lower() in paths.get(path, {}):
                continue  # a busy route mounted twice (first, for speed): the first serves
            count = seen.get(base, 0)
            seen[base] = count + 1
            operation: Schema = {
                "operationId": base if count == 0 else f"{base}_{count + 1}",
                "summary": _summary(route.endpoint),
                "parameters": _parameters(path, op),
                "responses": _responses(op),
            }
            if not op.public:
                operation["security"] = [{"AccessToken": []}]
            if op.body is not None:
                operation["requestBody"] = {
                    "required": True,
                    "content": {op.body_media: {"schema": op.body}},
                }
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": title,
            "version": "1",
            "description": "The emulator of the IBM Quantum experiment and runtime services "
            "(docs/protocol.md). Generated from the emulator's routes and the wire models.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "AccessToken": {"type": "apiKey", "in": "header", "name": "X-Access-Token"}
            },
        },
    }
