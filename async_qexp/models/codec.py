"""The one cattrs converter between attrs records and wire dictionaries.

Renames come from each field's ``wire`` metadata (PROTOCOL §3.8); date-times follow §1.4;
quality and share level follow §3.11. Reading is lenient as the reference clients are (§4.3):
a ``null`` list or mapping reads as empty, unknown fields are ignored, an unparsable
date-time reads as ``None``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from .envelopes import decode_envelopes
from .records import (
    AnalysisResult,
    Experiment,
    ExperimentShareLevel,
    FileInfo,
    ResultQuality,
)
from .timeutil import format_datetime, parse_datetime

__all__ = ["converter", "from_wire", "to_wire", "wire_name"]

T = TypeVar("T")

converter = cattrs.Converter()


def _structure_datetime(value: Any, _: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value).astimezone()
    try:
        return parse_datetime(str(value))
    except ValueError:
        return None


def _structure_quality(value: Any, _: Any) -> ResultQuality | None:
    if not value:
        return None
    return ResultQuality.from_wire(value)


converter.register_structure_hook(datetime, _structure_datetime)
converter.register_unstructure_hook(datetime, format_datetime)
converter.register_structure_hook(ResultQuality, _structure_quality)
converter.register_unstructure_hook(ResultQuality, lambda q: q.wire)
converter.register_structure_hook(
    ExperimentShareLevel, lambda v, _: ExperimentShareLevel.parse(v) if v else None
)
converter.register_unstructure_hook(ExperimentShareLevel, lambda s: s.value)


def wire_name(cls: type[Any], field: str) -> str:
    """The wire name of ``cls.field``."""
    return str(attrs.fields_dict(cls)[field].metadata.get("wire", field))


def _register(cls: type[Any]) -> None:
    renames = {
        f.name: override(rename=f.metadata["wire"])
        for f in attrs.fields(cls)
        if "wire" in f.metadata
    }
    converter.register_structure_hook(
        cls,
        make_dict_structure_fn(cls, converter, **renames),  # type: ignore[arg-type]
    )
    converter.register_unstructure_hook(
        cls,
        make_dict_unstructure_fn(cls, converter, **renames),  # type: ignore[arg-type]
    )


for _cls in (Experiment, AnalysisResult, FileInfo):
    _register(_cls)

# The user-data field of each record, whose JSON envelopes are decoded on read.
_USER_DATA = {Experiment: "extra", AnalysisResult: "fit"}


def from_wire(cls: type[T], data: dict[str, Any], *, decode_user_data: bool = True) -> T:
    """Build a record from a wire dictionary.

    ``null`` values are dropped first, so the record's defaults apply (PROTOCOL §4.3).
    With ``decode_user_data`` the JSON envelopes in ``extra``/``fit`` are decoded (§4.4).
    """
    cleaned = {k: v for k, v in data.items() if v is not None}
    user_field = _USER_DATA.get(cls)
    if decode_user_data and user_field is not None and user_field in cleaned:
        cleaned[user_field] = decode_envelopes(cleaned[user_field])
    return converter.structure(cleaned, cls)


def to_wire(record: Any) -> dict[str, Any]:
    """The wire dictionary of a record (every field, wire names; user data left as is)."""
    result: dict[str, Any] = converter.unstructure(record)
    return result
