"""Request-body helpers: JSON parsing that answers 400, never 500."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from ._util import HTTPProblem

__all__ = ["MAX_JSON_DEPTH", "read_json", "read_json_object"]

MAX_JSON_DEPTH = 256
"""Deeper request bodies get 400 (so that re-serialising them can never hit recursion limits)."""


def _check_value(value: Any, limit: int) -> None:
    """400 if nested deeper than ``limit`` or holding a lone surrogate (not UTF-8 encodable)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_str(item)
            continue
        if isinstance(item, dict):
            for key in item:
                _check_str(key)
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            raise HTTPProblem(400, f"JSON body nested deeper than {limit} levels")
        stack.extend((child, depth + 1) for child in children)


def _check_str(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise HTTPProblem(400, "JSON body holds a lone surrogate (invalid Unicode)") from None


async def read_json(request: Request) -> Any:
    """The request body parsed as JSON (any Content-Type); 400 if empty or malformed."""
    raw = await request.body()
    if not raw.strip():
        raise HTTPProblem(400, "request body must be JSON")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise HTTPProblem(400, f"malformed JSON body: {exc}") from None
    _check_value(body, MAX_JSON_DEPTH)
    return body


async def read_json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; 400 otherwise."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise HTTPProblem(400, "request body must be a JSON object")
    return body
