"""The analysis results of an experiment container: rows, and the table that holds them.

A row (:class:`AnalysisResultData`) is checked and encoded for the wire when it is made and
again whenever one of its fields is assigned, so a value that cannot be saved is refused at
once (``TypeError`` or ``ValueError``) and never reaches a ``save()``. The encoding is kept on
the row: saving sends it as it is, and its digest tells the save what changed
(``docs/behaviour.md#analysis-results``).

Change a row by assigning its fields (``row.tags = [...]``): a change made inside a field's
value (``row.tags.append(...)``) is not seen.

Rows are kept in insertion order, keyed by their full ``result_id``; the short id (first 8
characters) and the name resolve too. pandas is optional: ``dataframe()`` needs it, nothing
else does.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
import warnings
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import attrs

from .._version import __version__
from ..errors import EntryNotFound
from ..models import AnalysisResult, ResultQuality, create_body, encode_envelopes, parse_iso
from ..models import _checks as check
from ..models._display import Column, Displayable, cell_text, short_id

__all__ = ["DEFAULT_COLUMNS", "AnalysisResultData", "AnalysisResultTable"]

DEFAULT_COLUMNS = (
    "name",
    "experiment",
    "components",
    "value",
    "quality",
    "experiment_id",
    "result_id",
    "tags",
    "backend",
    "run_time",
    "created_time",
)
_GROUPS = {
    "default": ("name", "experiment", "components", "value", "quality", "backend", "run_time"),
    "minimal": ("name", "components", "value", "quality"),
}
_UUID = re.compile(r"^\w{8}-\w{4}-\w{4}-\w{4}-\w{12}$")
_PRIVATE = ("_wire", "_digest")


def quality_text(value: Any) -> str | None:
    """A quality (enum, or text in any case) as the table's lower-case text.

    Raises:
        TypeError, ValueError: for anything that is not a quality.
    """
    if value is None:
        return None
    return ResultQuality.parse(value).value.lower()


def _optional_text(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        check.require_str(value, attribute.name)


def _optional_datetime(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, datetime):
        raise TypeError(f"{attribute.name} must be a datetime, not {type(value).__name__}")


def _encodable(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    encode_envelopes(value)  # raises TypeError / ValueError now rather than at save


class _Edits:
    """Counts the field assignments of every row, everywhere (a table that saw none since
    its last save needs no look at its rows: ``AnalysisResultTable.generation``)."""

    count = 0


def _changed(row: AnalysisResultData, attribute: attrs.Attribute[Any], value: Any) -> Any:
    """After a field of a row is set (converted and checked): forget its encoding."""
    if attribute.name not in _PRIVATE:
        object.__setattr__(row, "_wire", None)
        object.__setattr__(row, "_digest", b"")
        _Edits.count += 1
    return value


@attrs.define(
    eq=True, repr=False, on_setattr=[attrs.setters.convert, attrs.setters.validate, _changed]
)
class AnalysisResultData(Displayable):
    """One analysis result of an experiment container.

    It shows itself briefly (``<AnalysisResultData 1a2b3c4d T1 on Q0 = 62.1, good>``), and a
    list of them as a table in a notebook.

    Attributes:
        name: the result's name (its type on the service, e.g. ``"T1"``).
        value: the analysed quantity (any value the envelopes carry: numbers, complex,
            arrays, ...); kept as given, not copied.
        quality: ``"good"``, ``"bad"`` or ``"unknown"`` (given in any case, or as a quality
            enum), or ``None``.
        components: the device components (``["Q0"]``).
        experiment: the experiment type.
        experiment_id: the experiment's id.
        result_id: the result's id (uuid4).
        tags: tags.
        backend: the backend name.
        run_time: when the experiment ran.
        created_time: when the result was made.
        chisq: the reduced chi-squared of the fit, if any.
        verified: whether the result was verified.
        extra: every other column (string keys; values the envelopes carry).

    Raises:
        TypeError, ValueError: for a field of the wrong type or a value that cannot be saved,
            when the row is made and when a field is assigned.
    """

    name: str = attrs.field(validator=check.text)
    value: Any = attrs.field(default=None, validator=_encodable)
    quality: str | None = attrs.field(default=None, converter=quality_text)
    components: list[str] = attrs.field(factory=list, converter=check.component_list)
    experiment: str | None = attrs.field(default=None, validator=_optional_text)
    experiment_id: str | None = attrs.field(default=None, validator=_optional_text)
    result_id: str = attrs.field(factory=lambda: str(uuid.uuid4()), validator=check.ident)
    tags: list[str] = attrs.field(factory=list, converter=check.as_list, validator=check.str_list)
    backend: str | None = attrs.field(default=None, validator=_optional_text)
    run_time: datetime | None = attrs.field(default=None, validator=_optional_datetime)
    created_time: datetime | None = attrs.field(default=None, validator=_optional_datetime)
    chisq: float | None = attrs.field(default=None, validator=check.optional(check.number))
    verified: bool = attrs.field(default=False, validator=check.boolean)
    extra: dict[str, Any] = attrs.field(
        factory=dict, converter=check.as_dict, validator=[check.mapping, _encodable]
    )
    _wire: bytes | None = attrs.field(default=None, init=False, eq=False, repr=False)
    _digest: bytes = attrs.field(default=b"", init=False, eq=False, repr=False)

    _noun = "analysis result"
    _columns = (
        Column("id", "result_id", short_id),
        Column("name", "name"),
        Column("components", "components"),
        Column("value", "value"),
        Column("quality", "quality"),
        Column("chisq", "chisq"),
        Column("experiment", "experiment"),
        Column("backend", "backend"),
        Column("run time", "run_time"),
    )

    def _summary(self) -> str:
        text = f"AnalysisResultData {self.short_id} {self.name}"
        if self.components:
            text += f" on {cell_text(self.components)}"
        if self.value is not None:
            text += f" = {cell_text(self.value)}"
        if self.quality:
            text += f", {self.quality}"
        return text

    def _fields(self) -> list[tuple[str, Any]]:
        return [
            ("id", self.result_id),
            ("name", self.name),
            ("components", self.components),
            ("value", self.value),
            ("quality", self.quality),
            ("chisq", self.chisq),
            ("verified", self.verified),
            ("experiment", self.experiment),
            ("experiment id", self.experiment_id),
            ("backend", self.backend),
            ("run time", self.run_time),
            ("created", self.created_time),
            ("tags", self.tags),
            ("extra", self.extra),
        ]

    @property
    def short_id(self) -> str:
        """The first 8 characters of the result id (the table's row index)."""
        return self.result_id[:8]

    def column(self, name: str) -> Any:
        """The value of a table column."""
        if name in self.extra:
            return self.extra[name]
        return getattr(self, name, None)

    # -- the service payload ---------------------------------------------------------------

    def to_record(self) -> AnalysisResult:
        """The analysis result as the service stores it (``docs/behaviour.md#the-service-payload``).

        ``result_data`` keeps the value as given under ``_value``, the extra columns (with
        ``experiment`` and ``run_time``) under ``_extra``, and a display form under ``value``.

        Raises:
            TypeError, ValueError: if the row has no ``experiment_id`` or cannot be encoded.
        """
        extra = dict(self.extra)
        extra["experiment"] = self.experiment
        extra["run_time"] = self.run_time.isoformat() if self.run_time else None
        result_data: dict[str, Any] = {
            "_value": self.value,
            "_chisq": self.chisq,
            "_extra": extra,
            "_source": {
                "class": "async_qexp.AnalysisResultData",
                "data_version": 1,
                "async_qexp_version": __version__,
            },
            "value": _display(self.value),
        }
        nominal = getattr(self.value, "nominal_value", None)
        std_dev = getattr(self.value, "std_dev", None)
        if isinstance(nominal, int | float) and isinstance(std_dev, int | float):
            result_data["value"] = nominal
            result_data["variance"] = std_dev**2
            if "unit" in self.extra:
                result_data["unit"] = self.extra["unit"]
        if self.experiment_id is None:
            raise ValueError("the analysis result has no experiment_id")
        return AnalysisResult(
            result_id=self.result_id,
            experiment_id=self.experiment_id,
            result_type=self.name,
            result_data=result_data,
            device_components=self.components,
            tags=self.tags,
            quality=self.quality or ResultQuality.UNKNOWN,
            verified=self.verified,
            chisq=self.chisq,
        )

    def wire(self) -> bytes:
        """The JSON body that creates this result on the service (encoded once per change,
        and again after :meth:`release_wire`)."""
        if self._wire is None:
            wire = json.dumps(
                create_body(self.to_record()), separators=(",", ":"), allow_nan=False
            ).encode()
            object.__setattr__(self, "_wire", wire)
            object.__setattr__(self, "_digest", hashlib.blake2b(wire, digest_size=16).digest())
            return wire
        return self._wire

    def digest(self) -> bytes:
        """A digest of :meth:`wire`: equal digests, equal bodies."""
        if not self._digest:
            self.wire()
        return self._digest

    def release_wire(self) -> None:
        """Forget the encoded body but keep its digest (the service holds the row: the body
        is only needed again if the row changes, and then it is encoded anew)."""
        object.__setattr__(self, "_wire", None)

    @classmethod
    def from_record(cls, record: AnalysisResult) -> AnalysisResultData:
        """Rebuild a row from a stored analysis result.

        Results saved by other clients (no ``_value``) read ``value`` from ``value`` and keep
        the rest of their data as extra columns.
        """
        data = dict(record.result_data)
        if "_value" in data:
            value = data.get("_value")
            extra = dict(data.get("_extra") or {})
        else:
            value = data.pop("value", None)
            extra = data
        experiment = extra.pop("experiment", None)
        run_time = extra.pop("run_time", None)
        chisq = record.chisq if record.chisq is not None else data.get("_chisq")
        quality = record.quality.value.lower() if record.quality is not None else "unknown"
        try:
            run_datetime = parse_iso(run_time) if isinstance(run_time, str) else None
        except ValueError:
            run_datetime = None
        return cls(
            name=record.result_type,
            value=value,
            quality=quality,
            components=list(record.device_components),
            experiment=experiment if isinstance(experiment, str) else None,
            experiment_id=record.experiment_id,
            result_id=record.result_id,
            tags=list(record.tags),
            backend=record.backend_name or None,
            run_time=run_datetime,
            created_time=record.creation_datetime,
            chisq=chisq if isinstance(chisq, int | float) and not isinstance(chisq, bool) else None,
            verified=record.verified,
            extra=extra,
        )


def _display(value: Any) -> Any:
    """The human-readable ``value`` stored beside ``_value``."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, complex):
        return str(value)
    return f"({type(value).__name__})"


class AnalysisResultTable:
    """The rows of analysis results, in insertion order."""

    def __init__(self) -> None:
        self._rows: dict[str, AnalysisResultData] = {}
        self._by_short: dict[str, str] = {}  # short id -> result id: adding stays O(1)
        self._extra_columns: list[str] = []
        self._generation = 0

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Any:
        return iter(list(self._rows.values()))

    def __contains__(self, result_id: object) -> bool:
        return result_id in self._rows

    def generation(self) -> tuple[int, int]:
        """Changes whenever a row is added, replaced or removed, or a field of any row is
        assigned: equal generations, the same rows with the same encodings."""
        return (self._generation, _Edits.count)

    @property
    def columns(self) -> list[str]:
        """Every column: the defaults, then extra columns in first-seen order."""
        return [*DEFAULT_COLUMNS, "chisq", "verified", *self._extra_columns]

    def add(self, row: AnalysisResultData) -> None:
        """Add or replace a row (by full result id).

        Raises:
            ValueError: if another row already has the same short id.
        """
        if not _UUID.match(row.result_id):
            warnings.warn(
                f"result id {row.result_id!r} is not a uuid4; its first 8 characters index it",
                UserWarning,
                stacklevel=3,
            )
        clash = self.by_short_id(row.short_id)
        if clash is not None and clash.result_id != row.result_id:
            raise ValueError(f"short id {row.short_id} is already used by another result")
        self._rows[row.result_id] = row
        self._by_short[row.short_id] = row.result_id
        self._generation += 1
        for key in row.extra:
            if key not in self._extra_columns:
                self._extra_columns.append(key)

    def new_result_id(self) -> str:
        """A uuid4 whose short id is free in this table."""
        while True:
            candidate = str(uuid.uuid4())
            if self.by_short_id(candidate[:8]) is None:
                return candidate

    def get(self, result_id: str) -> AnalysisResultData | None:
        """The row with this full id, if any."""
        return self._rows.get(result_id)

    def by_short_id(self, short_id: str) -> AnalysisResultData | None:
        """The row with this short id, if any."""
        result_id = self._by_short.get(short_id)
        return self._rows.get(result_id) if result_id is not None else None

    def remove(self, result_id: str) -> AnalysisResultData:
        """Remove one row by full id."""
        row = self._rows.pop(result_id)
        self._by_short.pop(row.short_id, None)
        self._generation += 1
        return row

    def clear(self) -> None:
        """Remove every row."""
        self._rows.clear()
        self._by_short.clear()
        self._generation += 1

    def select(self, key: int | slice | str | None) -> list[AnalysisResultData]:
        """Rows by position, slice, full id, short id or name.

        Raises:
            EntryNotFound: when nothing matches.
            TypeError: for another key type.
        """
        rows = list(self._rows.values())
        if key is None:
            return rows
        if isinstance(key, bool):
            raise TypeError("an analysis-result key must be an int, a slice or a str")
        if isinstance(key, int):
            if key >= len(rows) or key < -len(rows):
                raise EntryNotFound(f"analysis result index {key} out of range", status=404)
            return [rows[key]]
        if isinstance(key, slice):
            selected = rows[key]
            if not selected:
                raise EntryNotFound(f"no analysis results in {key}", status=404)
            return selected
        if isinstance(key, str):
            if key in self._rows:
                return [self._rows[key]]
            row = self.by_short_id(key)
            if row is not None:
                return [row]
            named = [r for r in rows if r.name == key]
            if named:
                return named
            raise EntryNotFound(f"analysis result {key!r} not found", status=404)
        raise TypeError(f"invalid analysis-result key type {type(key).__name__}")

    def resolve_columns(self, columns: str | Iterable[str]) -> list[str]:
        """Column names for a group name (``"all"``, ``"default"``, ``"minimal"``) or a list.

        Raises:
            ValueError: for an unknown group name.
        """
        if isinstance(columns, str):
            if columns == "all":
                return self.columns
            if columns in _GROUPS:
                return [*_GROUPS[columns], *self._extra_columns]
            raise ValueError(f"unknown column group {columns!r}: use all, default or minimal")
        known = set(self.columns)
        chosen = []
        for column in columns:
            if column in known:
                chosen.append(column)
            else:
                warnings.warn(
                    f"unknown analysis-result column {column!r}", UserWarning, stacklevel=3
                )
        return chosen

    def dataframe(self, rows: list[AnalysisResultData], columns: list[str]) -> Any:
        """The rows as a pandas DataFrame indexed by short id (needs pandas)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("dataframe=True needs pandas: pip install pandas") from None
        records = [{c: row.column(c) for c in columns} for row in rows]
        frame = pd.DataFrame.from_records(
            records, index=[r.short_id for r in rows], columns=columns
        )
        return frame.astype(object).where(frame.notna(), None)
