"""The analysis-result table of an experiment container (BEHAVIOUR §5).

Rows are kept in insertion order, keyed by their full ``result_id``; the short id (first 8
characters) and the name resolve too (M-5.1.4, accepting full ids as well). pandas is optional:
``dataframe()`` needs it, everything else does not.
"""

from __future__ import annotations

import math
import re
import uuid
import warnings
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs

from .._version import __version__
from ..errors import EntryNotFound
from ..models import AnalysisResult, ResultQuality

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


@attrs.define(eq=True)
class AnalysisResultData:
    """One analysis result of an experiment container.

    Attributes:
        name: the result's name (its type on the service, e.g. ``"T1"``).
        value: the analysed quantity (any JSON-encodable value: numbers, complex, arrays...).
        quality: ``"good"``, ``"bad"``, ``"unknown"`` (or free text, saved as unknown).
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
        extra: every other column.
    """

    name: str
    value: Any = None
    quality: str | None = None
    components: list[str] = attrs.field(factory=list)
    experiment: str | None = None
    experiment_id: str | None = None
    result_id: str = attrs.field(factory=lambda: str(uuid.uuid4()))
    tags: list[str] = attrs.field(factory=list)
    backend: str | None = None
    run_time: datetime | None = None
    created_time: datetime | None = None
    chisq: float | None = None
    verified: bool = False
    extra: dict[str, Any] = attrs.field(factory=dict)

    @property
    def short_id(self) -> str:
        """The first 8 characters of the result id (the table's row index)."""
        return self.result_id[:8]

    def column(self, name: str) -> Any:
        """The value of a table column."""
        if name in self.extra:
            return self.extra[name]
        return getattr(self, name, None)

    # -- the service payload (M-5.5) ------------------------------------------------------

    def to_service(self) -> dict[str, Any]:
        """Keyword arguments for ``create_analysis_result`` (BEHAVIOUR M-5.5)."""
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
        quality = str(self.quality).upper() if self.quality is not None else "UNKNOWN"
        return {
            "result_id": self.result_id,
            "experiment_id": self.experiment_id,
            "result_type": self.name,
            "result_data": result_data,
            "device_components": list(self.components),
            "tags": list(self.tags),
            "quality": quality if quality in ("GOOD", "BAD") else "UNKNOWN",
            "verified": self.verified,
            "chisq": self.chisq,
        }

    @classmethod
    def from_service(cls, record: AnalysisResult) -> AnalysisResultData:
        """Rebuild a row from a stored analysis result (BEHAVIOUR M-5.3.2).

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
        return cls(
            name=record.result_type,
            value=value,
            quality=quality,
            components=list(record.device_components),
            experiment=experiment,
            experiment_id=record.experiment_id,
            result_id=record.result_id,
            tags=list(record.tags),
            backend=record.backend_name or None,
            run_time=datetime.fromisoformat(run_time) if isinstance(run_time, str) else None,
            created_time=record.creation_datetime,
            chisq=chisq,
            verified=record.verified,
            extra=extra,
        )


def _display(value: Any) -> Any:
    """The human-readable ``value`` stored beside ``_value`` (M-5.5)."""
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

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Any:
        return iter(list(self._rows.values()))

    def __contains__(self, result_id: object) -> bool:
        return result_id in self._rows

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
        for key in row.extra:
            if key not in self._extra_columns:
                self._extra_columns.append(key)

    def new_result_id(self) -> str:
        """A uuid4 whose short id is free in this table."""
        while True:
            candidate = str(uuid.uuid4())
            if self.by_short_id(candidate[:8]) is None:
                return candidate

    def by_short_id(self, short_id: str) -> AnalysisResultData | None:
        """The row with this short id, if any."""
        result_id = self._by_short.get(short_id)
        return self._rows.get(result_id) if result_id is not None else None

    def remove(self, result_id: str) -> AnalysisResultData:
        """Remove one row by full id."""
        row = self._rows.pop(result_id)
        self._by_short.pop(row.short_id, None)
        return row

    def clear(self) -> None:
        """Remove every row."""
        self._rows.clear()
        self._by_short.clear()

    def select(self, key: int | slice | str | None) -> list[AnalysisResultData]:
        """Rows by position, slice, full id, short id or name (BEHAVIOUR M-5.1.4).

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


def quality_text(value: Any) -> str | None:
    """A quality given as enum or text, as the table's lower-case text."""
    if value is None:
        return None
    if isinstance(value, ResultQuality):
        return value.value.lower()
    return str(value).lower()


def check_mapping(value: Any, what: str) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else a ``ValueError``."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} must be a dict")
    return value
