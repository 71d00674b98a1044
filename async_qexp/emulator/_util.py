"""Small helpers shared by the emulator modules: the HTTP problem, JSON, timestamps."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any

from starlette.responses import Response

from async_qexp.models.timeutil import parse_iso

__all__ = [
    "HTTPProblem",
    "dumps",
    "error_body",
    "error_response",
    "json_response",
    "normalize_timestamp",
    "now_ts",
    "reason",
]

_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_TRAILING_OFFSET_SPACE = re.compile(r" (\d\d:?\d\d)$")


class HTTPProblem(Exception):
    """A request the server refuses: answered with ``status`` and the JSON error body
    ``{"error": {"code": <code, default status>, "message": <message, default reason phrase>}}``
    (``docs/protocol.md#errors``)."""

    def __init__(
        self, status: int, message: str | None = None, code: int | str | None = None
    ) -> None:
        super().__init__(message or reason(status))
        self.status = status
        self.message = message or reason(status)
        self.code: int | str = status if code is None else code


def reason(status: int) -> str:
    """The standard reason phrase of an HTTP status code."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def dumps(obj: Any) -> bytes:
    """Serialise to compact UTF-8 JSON (non-finite floats allowed, as Python emits them)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=True).encode()


def error_body(status: int, message: str | None = None, code: int | str | None = None) -> bytes:
    """The JSON error body of the protocol (``docs/protocol.md#errors``)."""
    return dumps(
        {"error": {"code": status if code is None else code, "message": message or reason(status)}}
    )


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response (allows NaN/Infinity, which Starlette's JSONResponse refuses)."""
    return Response(dumps(obj), status_code=status, media_type="application/json", headers=headers)


def error_response(
    status: int,
    message: str | None = None,
    code: int | str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A JSON error response."""
    return Response(
        error_body(status, message, code),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def format_ts(dt: datetime) -> str:
    """Render an aware datetime as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC."""
    return dt.astimezone(timezone.utc).strftime(_TS_FORMAT)


def now_ts() -> str:
    """The current UTC time in the stored/emitted form."""
    return format_ts(datetime.now(timezone.utc))


def normalize_timestamp(value: Any, field: str) -> str:
    """Parse an ISO-8601 date-time and return the normalised UTC form.

    Naive values are taken as UTC. A trailing ``" 00:00"`` (a ``+`` lost in a query
    string) is repaired. Raises :class:`HTTPProblem` (400) when unparseable.
    """
    if not isinstance(value, str) or not value.strip():
        raise HTTPProblem(400, f"{field}: expected an ISO-8601 date-time string")
    text = _TRAILING_OFFSET_SPACE.sub(r"+\1", value.strip())
    try:
        dt = parse_iso(text)
    except ValueError:
        raise HTTPProblem(400, f"{field}: invalid date-time {value!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    try:
        return format_ts(dt)
    except (OverflowError, ValueError):
        raise HTTPProblem(400, f"{field}: date-time out of range {value!r}") from None
