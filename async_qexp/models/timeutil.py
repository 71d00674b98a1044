"""Date-times on the wire (PROTOCOL §1.4).

Client → server: UTC, ISO-8601 with a ``Z`` suffix; microseconds only when non-zero. A naive
datetime is taken as local time; an aware one is converted to UTC.

Server → client: any ISO-8601 string; the server emits UTC, so a value without an offset is
read as UTC. Parsed values are timezone-aware, in the local zone (as the reference clients
return them); they compare equal to the same instant in any zone.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

__all__ = ["format_datetime", "parse_datetime"]

_ISO = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<h>\d{2}):(?P<m>\d{2})"
    r"(?::(?P<s>\d{2})(?:[.,](?P<f>\d+))?)?"
    r"\s*(?P<tz>Z|z|[+-]\d{2}(?::?\d{2})?)?$"
)


def format_datetime(value: datetime | str) -> str:
    """Render a datetime for the wire: UTC, ``Z``-suffixed, microseconds only when non-zero.

    A string is parsed first (so it is validated and normalised).
    """
    if isinstance(value, str):
        value = parse_datetime(value, naive_as_local=True)
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, not {type(value).__name__}")
    utc = value.astimezone(timezone.utc)
    return utc.replace(tzinfo=None).isoformat() + "Z"


def parse_datetime(text: str, *, naive_as_local: bool = False) -> datetime:
    """Parse an ISO-8601 date-time into an aware datetime in the local zone.

    A value without an offset is UTC, as the server sends it (PROTOCOL §1.4), or local time
    with ``naive_as_local`` (for values a user typed). Fractions of any length are accepted
    (rounded down to microseconds).
    """
    match = _ISO.match(text.strip())
    if match is None:
        raise ValueError(f"not an ISO-8601 date-time: {text!r}")
    year, month, day = (int(p) for p in match["date"].split("-"))
    fraction = (match["f"] or "0")[:6].ljust(6, "0")
    tz: timezone | None = None if naive_as_local else timezone.utc
    offset = match["tz"]
    if offset in ("Z", "z"):
        tz = timezone.utc
    elif offset:
        sign = 1 if offset[0] == "+" else -1
        digits = offset[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    parsed = datetime(  # naive (local) when tz is None; astimezone() then attaches the zone
        year,
        month,
        day,
        int(match["h"]),
        int(match["m"]),
        int(match["s"] or 0),
        int(fraction),
        tzinfo=tz,
    )
    return parsed.astimezone()
