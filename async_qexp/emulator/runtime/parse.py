"""Requests of the runtime service, parsed: program and job bodies into record values, list
query strings into query objects. Anything malformed is a 400
(``docs/protocol.md#runtime-rest-api``)."""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

from starlette.requests import Request

from .._req import parse_count, parse_json_text
from .._util import HTTPProblem
from ..config import EmulatorConfig
from ..queries import JobQuery, Principal, ProgramQuery

__all__ = [
    "LOG_LEVELS",
    "decode_source",
    "job_query",
    "job_values",
    "program_changes",
    "program_query",
    "program_values",
]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
"""The ``log_level`` values a job accepts (any case)."""

DEFAULT_COST = 300
"""Seconds a program may run when its upload gives no ``cost``."""

MAX_COST = 10**9
"""The largest ``cost`` (seconds, about 31 years) a program or job may give."""


# -- query strings -----------------------------------------------------------------------------


def _int_param(request: Request, name: str, default: int) -> int:
    return parse_count(request.query_params.get(name), name, default)


def _bool_param(request: Request, name: str) -> bool | None:
    text = request.query_params.get(name)
    if text is None or text == "":
        return None
    low = text.lower()
    if low in ("true", "1", "yes"):
        return True
    if low in ("false", "0", "no"):
        return False
    raise HTTPProblem(400, f"{name}: expected true or false, not {text!r}")


def _window(request: Request, config: EmulatorConfig) -> tuple[int, int]:
    """``(limit, offset)``: ``limit`` 0 or absent is the default page size."""
    limit = _int_param(request, "limit", config.default_page_size) or config.default_page_size
    return min(limit, config.max_page_size), _int_param(request, "offset", 0)


def program_query(request: Request, user: Principal, config: EmulatorConfig) -> ProgramQuery:
    """``GET /programs?limit&offset``."""
    limit, offset = _window(request, config)
    return ProgramQuery(user.id, limit, offset)


def job_query(request: Request, user: Principal, config: EmulatorConfig) -> JobQuery:
    """``GET /jobs?limit&offset&pending&program&provider&sort``."""
    limit, offset = _window(request, config)
    provider = request.query_params.get("provider")
    hgp: tuple[str, str, str] | None = None
    if provider:
        parts = provider.split("/")
        if len(parts) != 3:
            raise HTTPProblem(400, "provider: expected hub/group/project")
        hgp = (parts[0], parts[1], parts[2])
    return JobQuery(
        owner=user.id,
        limit=limit,
        offset=offset,
        pending=_bool_param(request, "pending"),
        program_id=request.query_params.get("program") or None,
        hgp=hgp,
        ascending=(request.query_params.get("sort") or "").upper() == "ASC",
    )


# -- programs ----------------------------------------------------------------------------------


def decode_source(data: Any, *, allow_plain: bool = False) -> str:
    """A program's source from the base64 the client sends (or, with ``allow_plain``, from
    plain source text that defines ``main``)."""
    if isinstance(data, bytes):
        raw = data
    elif isinstance(data, str):
        raw = data.encode("utf-8")
    else:
        raise HTTPProblem(400, "data: expected the base64 of the program source")
    compact = b"".join(raw.split())
    try:
        decoded = base64.b64decode(compact, validate=True)
        return decoded.decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        if allow_plain and b"def main(" in raw:
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                pass
        raise HTTPProblem(400, "data: not the base64 of UTF-8 program source") from None


def cost(value: Any, field: str = "cost") -> int:
    """A positive number of seconds, at most :data:`MAX_COST` (a float or numeric string is
    truncated; infinities, NaN and anything larger are 400)."""
    problem = HTTPProblem(400, f"{field}: expected a number of seconds from 1 to {MAX_COST}")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise problem
    if isinstance(value, str):
        if len(value) > 40:
            raise problem
        try:
            value = float(value)
        except ValueError:
            raise problem from None
    if isinstance(value, float):
        if not math.isfinite(value) or not 1 <= value < MAX_COST + 1:
            raise problem
        value = int(value)
    if not 1 <= value <= MAX_COST:
        raise problem
    return int(value)


def _spec(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        value = parse_json_text(value, "spec")
    if not isinstance(value, dict):
        raise HTTPProblem(400, "spec: expected a JSON object")
    return value


def _name(value: Any, message: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise HTTPProblem(400, message)
    return value.strip()


def _description(value: Any) -> str:
    if not isinstance(value, str):
        raise HTTPProblem(400, "description: expected a string")
    return value


def program_values(body: dict[str, Any], user: Principal, now: str) -> dict[str, Any]:
    """The record of a new program (``POST /programs``); its ``id`` is its name."""
    name = _name(body.get("name"), "name: required")
    return {
        "id": name,
        "name": name,
        "description": _description(body.get("description") or ""),
        "cost": cost(body.get("cost", body.get("max_execution_time", DEFAULT_COST))),
        "is_public": bool(body.get("is_public", False)),
        "spec": _spec(body.get("spec")),
        "data": decode_source(body.get("data")),
        "owner": user.id,
        "version": None if body.get("version") is None else str(body["version"]),
        "creation_date": now,
        "update_date": now,
    }


def program_changes(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``PATCH /programs/{id}``: the fields to set, and the keys to merge into ``spec``."""
    values: dict[str, Any] = {}
    if body.get("name") is not None:
        values["name"] = _name(body["name"], "name: expected a non-empty string")
    if body.get("description") is not None:
        values["description"] = _description(body["description"])
    if body.get("cost") is not None:
        values["cost"] = cost(body["cost"])
    spec = None if body.get("spec") is None else _spec(body["spec"])
    return values, spec


# -- jobs --------------------------------------------------------------------------------------


def _params(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, list):
        value = value[0] if value else {}
    if isinstance(value, str):
        value = parse_json_text(value, "params") if value.strip() else {}
    if not isinstance(value, dict):
        raise HTTPProblem(400, "params: expected a JSON object")
    return value


def job_values(body: dict[str, Any], user: Principal, backends: tuple[str, ...]) -> dict[str, Any]:
    """The record of a new job (``POST /jobs``), without its ``id``, ``created`` time and, when
    the body gives none, ``cost`` (the program's).

    Raises:
        HTTPProblem: 400 for a malformed field or a backend that is not served (a 404 of
            ``POST /jobs`` means the program, ``docs/protocol.md#running-a-job``).
    """
    program_id = body.get("program_id", body.get("programId"))
    if not isinstance(program_id, str) or not program_id:
        raise HTTPProblem(400, "program_id: required")
    backend = body.get("backend")
    if not isinstance(backend, str) or not backend:
        raise HTTPProblem(400, "backend: required")
    if backend not in backends:
        raise HTTPProblem(400, f"backend {backend} not found")
    image = body.get("runtime")
    if image is not None and not isinstance(image, str):
        raise HTTPProblem(400, "runtime: expected a string or null")
    log_level = body.get("log_level")
    if log_level is not None:
        if not isinstance(log_level, str) or log_level.upper() not in LOG_LEVELS:
            raise HTTPProblem(400, f"log_level: one of {', '.join(LOG_LEVELS)}")
        log_level = log_level.upper()
    hub, group, project = user.default_hgp
    given = [body.get(k) for k in ("hub", "group", "project")]
    if all(isinstance(v, str) and v for v in given):
        hub, group, project = (str(v) for v in given)
        if not user.may_write_to(hub, group, project):
            raise HTTPProblem(403, f"you are not a member of {hub}/{group}/{project}")
    values: dict[str, Any] = {
        "owner": user.id,
        "program_id": program_id,
        "backend": backend,
        "hub": hub,
        "group": group,
        "project": project,
        "params": json.dumps(_params(body.get("params"))),
        "runtime": image or None,
        "log_level": log_level,
        "status": "QUEUED",
        "reason": None,
    }
    if body.get("cost") is not None:
        values["cost"] = cost(body["cost"])
    return values
