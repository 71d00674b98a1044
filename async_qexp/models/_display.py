"""How the library's objects show themselves: in a ``repr``, in IPython, in a notebook.

The rendering lives here, once; a class only declares what it shows (:class:`Displayable`):

* a short ``repr``: ``<Experiment 3c5d2f4e T1 on ibmq_lima, 2026-11-29 10:02, 3 tags>``;
* IPython's pretty printer (``_repr_pretty_``): the fields of one object, one per line, or an
  aligned text table for a list;
* a notebook (``_repr_html_``): a compact HTML table. Every value is escaped with
  :func:`html.escape`; nothing is ever emitted but table markup and, for figures, ``<img>``
  tags whose source is a base64 ``data:`` URI (a browser runs no script in an SVG image);
* :meth:`RecordList.to_dataframe`: a pandas DataFrame, pandas being imported there only.

Date-times show in the local time zone, to the minute; table cells show the first 8
characters of an id (the full value is the cell's tooltip); long values are cut with ``…``.

It lives beside the wire models because they use it, and it imports nothing else of the
package (the emulator imports the models, and nothing else of the client).
"""

from __future__ import annotations

import base64
import enum
import html
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, Generic, Protocol, SupportsIndex, TypeVar, overload

import attrs

__all__ = [
    "MAX_ROWS",
    "Column",
    "Displayable",
    "PrettyPrinter",
    "RecordList",
    "cell_text",
    "html_fields",
    "html_table",
    "plural",
    "pretty_lines",
    "short_id",
    "short_time",
    "svg_thumbnail",
]

T = TypeVar("T")

MAX_ROWS = 50
"""Rows a table shows at most (``to_dataframe()`` has every row)."""

MAX_CELL = 40
"""Characters a table cell shows at most."""

MAX_THUMBNAIL_BYTES = 256 * 1024
"""Larger figures are named, not drawn, in a notebook's view of an ``ExperimentData``."""

_STYLE_TABLE = "border-collapse:collapse;font-size:0.9em"
_STYLE_CELL = "text-align:left"
_STYLE_CAPTION = "text-align:left;font-weight:bold;padding:2px 0"


class PrettyPrinter(Protocol):
    """What ``_repr_pretty_`` uses of IPython's ``RepresentationPrinter``."""

    def text(self, obj: str) -> None:
        """Write text."""

    def break_(self) -> None:
        """Start a new line (at the current indentation)."""


# -- one value as text -------------------------------------------------------------------------


def short_time(value: datetime | None) -> str:
    """A date-time in the local time zone, to the minute (``""`` for ``None``)."""
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone()
    return f"{value:%Y-%m-%d %H:%M}"


def short_id(value: Any) -> str:
    """The first 8 characters of an id (a uuid's first group)."""
    return "" if value is None else str(value)[:8]


def plural(count: int, noun: str) -> str:
    """``"1 tag"``, ``"3 tags"``, ``"2 analysis results"``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _cut(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)] + "…"


def cell_text(value: Any, limit: int | None = MAX_CELL) -> str:
    """A value as a human reads it: short local date-times, enum values, joined lists,
    ``key: value`` pairs, floats to 5 significant digits; cut to ``limit`` characters."""
    if value is None:
        text = ""
    elif isinstance(value, enum.Enum):
        text = str(value.value) if isinstance(value, str) else value.name
    elif isinstance(value, str):
        text = value
    elif isinstance(value, datetime):
        text = short_time(value)
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, float):
        text = f"{value:.5g}"
    elif isinstance(value, Mapping):
        text = ", ".join(f"{k}: {_nested(v)}" for k, v in value.items())
    elif isinstance(value, list | tuple | set | frozenset):
        text = ", ".join(_nested(v) for v in value)
    else:
        text = str(value)
    return _cut(" ".join(text.split()), limit)


def _nested(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + cell_text(value, None) + "}"
    if isinstance(value, list | tuple | set | frozenset):
        return "[" + cell_text(value, None) + "]"
    return cell_text(value, None)


def _plain(value: Any) -> Any:
    """A value for a DataFrame cell: an enum as its value, anything else as it is."""
    if isinstance(value, enum.Enum):
        return value.value if isinstance(value, str) else value.name
    return value


# -- what a class declares -----------------------------------------------------------------------


@attrs.frozen
class Column:
    """One column of a table of records.

    Attributes:
        header: the column's title.
        attribute: the attribute of a record it shows (and the DataFrame column it is).
        format: how a table cell shows the value (default :func:`cell_text`).
    """

    header: str
    attribute: str
    format: Callable[[Any], str] | None = None

    def raw(self, item: Any) -> Any:
        """The item's value of this column."""
        return getattr(item, self.attribute, None)

    def cell(self, item: Any) -> str:
        """The item's value as a table cell shows it."""
        value = self.raw(item)
        return cell_text(value) if self.format is None else _cut(self.format(value), MAX_CELL)


class Displayable:
    """A mixin for objects shown to people: declare :attr:`_columns` and :meth:`_summary`
    (and :meth:`_fields` when one object shows more than its row); get a short ``repr``,
    ``_repr_pretty_``, ``_repr_html_``, and rows of a :class:`RecordList`."""

    __slots__ = ()

    _columns: ClassVar[tuple[Column, ...]] = ()
    """The columns of a table of these objects, in order."""
    _noun: ClassVar[str] = "item"
    """What one of these is called in a table's caption (``"experiment"``)."""

    def _summary(self) -> str:
        """One line: what the ``repr`` shows between ``<`` and ``>``."""
        return type(self).__name__

    def _fields(self) -> list[tuple[str, Any]]:
        """``(label, value)`` of what one object shows; empty values are left out."""
        return [(column.header, column.raw(self)) for column in self._columns]

    def __repr__(self) -> str:
        return f"<{self._summary()}>"

    def _repr_pretty_(self, p: PrettyPrinter, cycle: bool) -> None:
        """IPython's pretty printer: the summary, then one field per line; inside another
        object (a list, a dict), the ``repr`` alone."""
        nested: int = getattr(p, "indentation", 0)  # IPython's printer, inside a list
        if cycle or nested:
            p.text(repr(self))
            return
        pretty_lines(p, [self._summary(), *_field_lines(self._fields())])

    def _repr_html_(self) -> str:
        """A notebook's view: the fields as a two-column table."""
        return html_fields(self._summary(), self._fields())


def _shown(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str | list | tuple | dict | set | frozenset):
        return bool(value)
    return True


def _field_lines(fields: Iterable[tuple[str, Any]]) -> list[str]:
    shown = [(label, value) for label, value in fields if _shown(value)]
    width = max((len(label) for label, _ in shown), default=0)
    return [f"  {label:<{width}}  {cell_text(value, 100)}" for label, value in shown]


# -- rendering ----------------------------------------------------------------------------------


def pretty_lines(p: PrettyPrinter, lines: Sequence[str]) -> None:
    """Write lines through IPython's pretty printer."""
    for number, line in enumerate(lines):
        if number:
            p.break_()
        p.text(line)


def _tag(name: str, content: str, style: str, title: str | None = None) -> str:
    tip = "" if title is None else f' title="{html.escape(title)}"'
    return f'<{name} style="{style}"{tip}>{content}</{name}>'


def html_fields(title: str, fields: Iterable[tuple[str, Any]], extra_rows: str = "") -> str:
    """One object as a two-column table: ``label | value`` (empty values left out).

    ``extra_rows`` is markup this module made (:func:`svg_thumbnail`), never user text.
    """
    rows = "".join(
        "<tr>"
        + _tag("th", html.escape(label), _STYLE_CELL)
        + _tag("td", html.escape(cell_text(value, 200)), _STYLE_CELL)
        + "</tr>"
        for label, value in fields
        if _shown(value)
    )
    caption = _tag("caption", html.escape(title), _STYLE_CAPTION)
    return f'<table style="{_STYLE_TABLE}">{caption}<tbody>{rows}{extra_rows}</tbody></table>'


def html_table(
    caption: str, headers: Sequence[str], rows: Sequence[Sequence[tuple[str, str]]], more: int = 0
) -> str:
    """A table: each cell is ``(text shown, full value as its tooltip)``; ``more`` rows left
    out are counted in a last row."""
    head = "".join(_tag("th", html.escape(h), _STYLE_CELL) for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            _tag("td", html.escape(text), _STYLE_CELL, full if full != text else None)
            for text, full in row
        )
        + "</tr>"
        for row in rows
    )
    if more:
        note = html.escape(f"… {more} more (to_dataframe() has every row)")
        body += f'<tr><td colspan="{len(headers)}" style="{_STYLE_CELL}">{note}</td></tr>'
    return (
        f'<table style="{_STYLE_TABLE}">{_tag("caption", html.escape(caption), _STYLE_CAPTION)}'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def svg_thumbnail(name: str, svg: bytes, height: int = 120) -> str:
    """A figure as an ``<img>`` of a base64 ``data:`` URI (no script in it can run), or its
    name alone when it is too large to inline."""
    label = html.escape(name)
    if len(svg) > MAX_THUMBNAIL_BYTES:
        return f"<span>{label}</span>"
    source = "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")
    return (
        f'<figure style="display:inline-block;margin:2px 8px 2px 0">'
        f'<img src="{source}" alt="{label}" style="height:{int(height)}px">'
        f'<figcaption style="font-size:0.8em">{label}</figcaption></figure>'
    )


def _text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in (headers, *rows)
    ]


# -- lists --------------------------------------------------------------------------------------


def _columns_of(items: Sequence[Any]) -> tuple[Column, ...] | None:
    kinds = {type(item) for item in items}
    if len(kinds) == 1:
        kind = kinds.pop()
        if issubclass(kind, Displayable) and kind._columns:
            return kind._columns
    return None


def _caption(items: Sequence[Any]) -> str:
    kinds = {type(item) for item in items}
    kind = kinds.pop() if len(kinds) == 1 else None
    noun = kind._noun if kind is not None and issubclass(kind, Displayable) else "item"
    return plural(len(items), noun)


def _row_data(item: Any) -> dict[str, Any]:
    if attrs.has(type(item)):
        return {
            field.name: _plain(getattr(item, field.name))
            for field in attrs.fields(type(item))
            if not field.name.startswith("_")
        }
    if isinstance(item, Displayable) and item._columns:
        return {column.attribute: _plain(column.raw(item)) for column in item._columns}
    return {"value": item}


class RecordList(list[T], Generic[T]):
    """A list of records (what awaiting a pager gives) that shows itself as a table.

    It is a ``list`` in every way (``==`` a plain list with the same items, slicing gives a
    ``RecordList``); in IPython it prints as an aligned table, in a notebook as an HTML
    table, and :meth:`to_dataframe` makes a pandas DataFrame of it.
    """

    __slots__ = ()

    @overload
    def __getitem__(self, index: SupportsIndex) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> RecordList[T]: ...

    def __getitem__(self, index: SupportsIndex | slice) -> T | RecordList[T]:
        if isinstance(index, slice):
            return RecordList(super().__getitem__(index))
        return super().__getitem__(index)

    def _table(self) -> tuple[list[str], list[list[tuple[str, str]]]]:
        shown = list.__getitem__(self, slice(0, MAX_ROWS))
        columns = _columns_of(self)
        if columns is None:
            rows = [[(cell_text(repr(item), 100), repr(item))] for item in shown]
            return ["item"], rows
        columns = tuple(c for c in columns if any(_shown(c.raw(item)) for item in shown))
        return [c.header for c in columns], [
            [(c.cell(item), cell_text(c.raw(item), None)) for c in columns] for item in shown
        ]

    def _repr_pretty_(self, p: PrettyPrinter, cycle: bool) -> None:
        """IPython's pretty printer: a caption, then an aligned text table; inside another
        object (a dict, a list), the ``repr``."""
        nested: int = getattr(p, "indentation", 0)
        if cycle or nested or not self:
            p.text("[...]" if cycle else repr(self))
            return
        headers, rows = self._table()
        lines = [_caption(self), *_text_table(headers, [[t for t, _ in r] for r in rows])]
        if len(self) > MAX_ROWS:
            lines.append(f"… {len(self) - MAX_ROWS} more (to_dataframe() has every row)")
        pretty_lines(p, lines)

    def _repr_html_(self) -> str | None:
        """A notebook's view: an HTML table (``None`` when empty, so ``[]`` shows)."""
        if not self:
            return None
        headers, rows = self._table()
        return html_table(_caption(self), headers, rows, more=max(len(self) - MAX_ROWS, 0))

    def to_dataframe(self) -> Any:
        """The records as a pandas DataFrame: one row per record, one column per field
        (enums as their values, date-times as they are).

        Raises:
            ImportError: when pandas is not installed.
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                "RecordList.to_dataframe() needs pandas, which is not installed: pip install pandas"
            ) from None
        return pd.DataFrame.from_records([_row_data(item) for item in self])
