"""What ``qexp`` writes: JSON documents and lines, plain aligned tables, one-line errors, and a
progress bar that is drawn only on a terminal."""

from __future__ import annotations

import enum
import json
import shutil
import sys
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import IO, Any

import attrs
import click

from ..models import RuntimeEncoder, encode_envelopes, format_datetime

__all__ = [
    "ProgressBar",
    "echo_json",
    "echo_json_line",
    "echo_table",
    "local_time",
    "one_line",
    "plain",
    "record_json",
    "short_id",
]

USER_DATA_FIELDS = frozenset({"metadata", "result_data"})
"""Record fields holding user data: written with the experiment service's envelopes."""


def plain(value: Any) -> Any:
    """``value`` as plain JSON values: datetimes as UTC ISO-8601 text, enums as their values,
    components and other ``str`` subclasses as plain strings, attrs records as objects."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, str):
        return str(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, datetime):
        return format_datetime(value)
    if attrs.has(type(value)):
        return record_json(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    return value


def record_json(record: Any) -> dict[str, Any]:
    """A record (an attrs instance) as a JSON object: its Python field names, plain values,
    and user data (``metadata``, ``result_data``) with the envelopes of
    ``docs/protocol.md#json-envelopes``."""
    out: dict[str, Any] = {}
    for field in attrs.fields(type(record)):
        value = getattr(record, field.name)
        out[field.name] = (
            encode_envelopes(value) if field.name in USER_DATA_FIELDS else plain(value)
        )
    return out


def _dumps(document: Any, *, indent: int | None) -> str:
    # The runtime encoder writes what a runtime message may hold (complex, arrays, ...) in
    # its envelopes; everything else is plain JSON already.
    return json.dumps(document, cls=RuntimeEncoder, indent=indent, ensure_ascii=False)


def echo_json(document: Any) -> None:
    """Write one JSON document (indented) to stdout."""
    click.echo(_dumps(document, indent=2))


def echo_json_line(document: Any) -> None:
    """Write one JSON document on one line to stdout, flushed (for JSON lines streams)."""
    sys.stdout.write(_dumps(document, indent=None) + "\n")
    sys.stdout.flush()


def short_id(value: str | None, wide: bool = False) -> str:
    """The first 8 characters of an id (the whole id with ``wide``)."""
    if not value:
        return "-"
    return value if wide else value[:8]


def local_time(value: datetime | None) -> str:
    """A date-time in the local time zone, to the minute; ``-`` when unknown."""
    if value is None:
        return "-"
    return value.astimezone().strftime("%Y-%m-%d %H:%M")


def echo_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, empty: str) -> None:
    """Write a plain table, columns aligned, the last one not padded; ``empty`` when there
    are no rows."""
    cells = [[str(cell) for cell in row] for row in rows]
    if not cells:
        click.echo(empty)
        return
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        padded = [v.ljust(w) for v, w in zip(values[:-1], widths[:-1], strict=True)]
        return "  ".join([*padded, values[-1]]).rstrip()

    click.echo(line(list(headers)))
    for row in cells:
        click.echo(line(row))


def one_line(error: BaseException) -> str:
    """An error's message on one line: its first line, and its last when it has more (a job's
    traceback ends with the exception that failed it)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    if len(lines) == 1:
        return lines[0]
    return f"{lines[0]} ... {lines[-1]}"


class ProgressBar:
    """A ``progress(done, total)`` callback that draws a one-line bar on ``stream``, only when
    the stream is a terminal (so nothing at all when it is piped or redirected).

    Redraws at most ten times a second, and always at the end; :meth:`close` ends the line.
    """

    def __init__(self, label: str, stream: IO[str] | None = None, *, enabled: bool = True) -> None:
        self._label = label
        self._stream = stream if stream is not None else sys.stderr
        self._enabled = enabled and self._stream.isatty()
        self._drawn = False
        self._last = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        """Move the bar to ``done`` of ``total``."""
        if not self._enabled:
            return
        now = time.monotonic()
        finished = total is not None and done >= total
        if not finished and now - self._last < 0.1 and self._drawn:
            return
        self._last = now
        if total:
            width = max(10, min(40, shutil.get_terminal_size((80, 20)).columns - 40))
            filled = width * done // total
            bar = "#" * filled + "-" * (width - filled)
            text = f"{self._label} [{bar}] {done}/{total}"
        else:
            text = f"{self._label} {done}"
        self._stream.write("\r" + text)
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        """End the bar's line (if one was drawn)."""
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False
