"""Request-body helpers: JSON parsing that answers 400, never 500."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request

from ._util import HTTPProblem

__all__ = [
    "MAX_INT_DIGITS",
    "MAX_JSON_DEPTH",
    "check_json_value",
    "parse_body",
    "parse_count",
    "parse_json_text",
    "read_json",
    "read_json_object",
]

MAX_JSON_DEPTH = 256
"""Deeper request bodies get 400 (so that re-serialising them can never hit recursion limits)."""

MAX_INT_DIGITS = 18
"""The most digits of an integer in a query string: anything longer is 400 before ``int()``
(which refuses more than 4300 digits) and before SQLite (whose integers have 64 bits)."""


def check_json_value(value: Any, field: str = "JSON body", limit: int = MAX_JSON_DEPTH) -> None:
    """400 if a parsed JSON value is nested deeper than ``limit`` or holds a lone surrogate."""
    try:
        _check_value(value, limit)
    except HTTPProblem as exc:
        raise HTTPProblem(400, exc.message.replace("JSON body", field)) from None


def parse_json_text(text: str, field: str) -> Any:
    """A JSON value sent as a string inside a body (a ``spec``, ``params`` ...), checked like a
    body: 400 when malformed, nested deeper than :data:`MAX_JSON_DEPTH` or not UTF-8-able."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise HTTPProblem(400, f"{field}: not valid JSON") from None
    check_json_value(value, field)
    return value


def parse_count(text: str | None, name: str, default: int) -> int:
    """A non-negative integer of a query string (``limit``, ``offset``): ASCII digits only, at
    most :data:`MAX_INT_DIGITS` of them; ``default`` when absent or empty; 400 otherwise."""
    if text is None or text == "":
        return default
    if not (text.isascii() and text.isdigit()):
        raise HTTPProblem(400, f"{name}: expected a non-negative integer, not {text[:40]!r}")
    if len(text.lstrip("0")) > MAX_INT_DIGITS:
        raise HTTPProblem(400, f"{name}: at most {MAX_INT_DIGITS} digits")
    return int(text)


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


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
"""A JSON escape of a UTF-16 surrogate (``\\ud800``-``\\udfff``), paired or not."""


def parse_body(raw: bytes) -> Any:
    """A request body parsed as JSON: 400 if malformed, nested deeper than
    :data:`MAX_JSON_DEPTH` or holding a lone surrogate.

    The walk over every value that finds the last two is skipped when the text cannot hold
    either: strict UTF-8 (no surrogate in the bytes), no escaped surrogate, and no more
    brackets than the depth allowed. A body in another encoding, or with a byte-order mark,
    is read as ``json.loads`` reads bytes, and walked.
    """
    try:
        text: str | None = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    try:
        if text is None or text.startswith("\ufeff"):
            body = json.loads(raw)
            _check_value(body, MAX_JSON_DEPTH)
            return body
        body = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise HTTPProblem(400, f"malformed JSON body: {exc}") from None
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH or _SURROGATE_ESCAPE.search(text):
        _check_value(body, MAX_JSON_DEPTH)
    return body


async def read_json(request: Request) -> Any:
    """The request body parsed as JSON (any Content-Type); 400 if empty or malformed."""
    raw = await request.body()
    if not raw.strip():
        raise HTTPProblem(400, "request body must be JSON")
    return parse_body(raw)


async def read_json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; 400 otherwise."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise HTTPProblem(400, "request body must be a JSON object")
    return body
