"""Date-times: the one ISO-8601 parser of the project, and the wire's date-time rules.

Client → server (``docs/protocol.md#date-times``): UTC, ISO-8601 with a ``Z`` suffix;
microseconds only when non-zero. A naive datetime is taken as local time; an aware one is
converted to UTC.

Server → client: any ISO-8601 string; the server emits UTC, so a value without an offset is
read as UTC. Parsed values are timezone-aware, in the local zone (as the reference clients
return them); they compare equal to the same instant in any zone.

:func:`parse_iso` is the parser underneath, for every caller in the repository (client,
envelopes, emulator): it reads fractions of any length, ``Z``, ``±HH``, ``±HHMM`` and
``±HH:MM`` offsets, and a space instead of ``T``, on every supported Python (3.10's
``datetime.fromisoformat`` reads none of these).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

__all__ = ["format_datetime", "parse_datetime", "parse_iso"]

_ISO = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})(?:[T ](?P<h>\d{2}):(?P<m>\d{2})"
    r"(?::(?P<s>\d{2})(?:[.,](?P<f>\d+))?)?"
    r"\s*(?P<tz>Z|z|[+-]\d{2}(?::?\d{2})?)?)?$"
)


def parse_iso(text: str, *, date_only: bool = True) -> datetime:
    """Parse an ISO-8601 date or date-time as written, keeping its offset (or its absence).

    A date alone is midnight (unless ``date_only`` is false: then it is refused); fractions
    are rounded down to microseconds.

    Raises:
        TypeError: if ``text`` is not a string.
        ValueError: if it is not an ISO-8601 date-time, or out of range.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected an ISO-8601 string, not {type(text).__name__}")
    match = _ISO.match(text.strip())
    if match is None or (match["h"] is None and not date_only):
        raise ValueError(f"not an ISO-8601 date-time: {text!r}")
    year, month, day = (int(p) for p in match["date"].split("-"))
    fraction = (match["f"] or "0")[:6].ljust(6, "0")
    tz: timezone | None = None
    offset = match["tz"]
    if offset in ("Z", "z"):
        tz = timezone.utc
    elif offset:
        sign = 1 if offset[0] == "+" else -1
        digits = offset[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
        try:
            tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
        except ValueError:
            raise ValueError(f"offset out of range in {text!r}") from None
    return datetime(
        year,
        month,
        day,
        int(match["h"] or 0),
        int(match["m"] or 0),
        int(match["s"] or 0),
        int(fraction),
        tzinfo=tz,
    )


def parse_datetime(text: str, *, naive_as_local: bool = False) -> datetime:
    """Parse a date-time from the wire into an aware datetime in the local zone.

    A value without an offset is UTC, as the server sends it, or local time with
    ``naive_as_local`` (for values a user typed).
    """
    parsed = parse_iso(text, date_only=False)
    if parsed.tzinfo is None and not naive_as_local:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone()  # a naive value is local time to astimezone()


def format_datetime(value: datetime | str) -> str:
    """Render a datetime for the wire: UTC, ``Z``-suffixed, microseconds only when non-zero.

    A string is parsed first (so it is validated and normalised); a naive value is local time.

    Raises:
        TypeError: for anything but a datetime or a string.
        ValueError: for a string that is not ISO-8601.
    """
    if isinstance(value, str):
        value = parse_datetime(value, naive_as_local=True)
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, not {type(value).__name__}")
    utc = value.astimezone(timezone.utc)
    return utc.replace(tzinfo=None).isoformat() + "Z"
