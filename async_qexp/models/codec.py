"""The one cattrs converter between records and wire dictionaries, in both directions.

Everything comes from the fields' metadata (:mod:`async_qexp.models.records`):

* :func:`from_wire` reads a record leniently, as the reference clients do: a ``null`` field
  takes its default, unknown fields are ignored, an unparsable date-time reads as ``None``;
  the envelopes in the user-data field (``extra``, ``fit``) are decoded.
* :func:`to_wire` writes every field under its wire name.
* :func:`create_body` writes what a create sends: the fields marked ``create`` that differ from
  their default, and those marked ``always``.
* :func:`update_body` writes a partial update: exactly the fields given, whatever their value
  (``0.0``, ``[]`` and ``{}`` included), each checked as the record checks it.

Date-times are written in UTC with a ``Z``; qualities and share levels as the service spells
them; user data as a tree of standard JSON values with envelopes (``docs/protocol.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from .envelopes import decode_envelopes, encode_envelopes
from .records import (
    AnalysisResult,
    Experiment,
    ExperimentShareLevel,
    FileInfo,
    ResultQuality,
)
from .timeutil import format_datetime, parse_datetime

__all__ = [
    "converter",
    "create_body",
    "from_wire",
    "to_wire",
    "updatable",
    "update_body",
    "wire_name",
    "wire_names",
]

T = TypeVar("T")

converter = cattrs.Converter(detailed_validation=False)
"""The converter of every record; user data fields are encoded by their own hooks."""

_USER_DATA = {Experiment: "metadata", AnalysisResult: "result_data"}
"""The field of each record that holds user data (opaque JSON with envelopes)."""


def _structure_datetime(value: Any, _: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=timezone.utc).astimezone()
    try:
        return parse_datetime(str(value))
    except ValueError:
        return None


def _structure_quality(value: Any, _: Any) -> ResultQuality | None:
    return ResultQuality.from_wire(value) if value else None


def _structure_share_level(value: Any, _: Any) -> ExperimentShareLevel | None:
    return ExperimentShareLevel.parse(value) if value else None


converter.register_structure_hook(datetime, _structure_datetime)
converter.register_unstructure_hook(datetime, format_datetime)
converter.register_structure_hook(ResultQuality, _structure_quality)
converter.register_unstructure_hook(ResultQuality, lambda quality: quality.wire)
converter.register_structure_hook(ExperimentShareLevel, _structure_share_level)
converter.register_unstructure_hook(ExperimentShareLevel, lambda level: level.value)


def wire_names(cls: type[Any]) -> dict[str, str]:
    """Python field name → wire name, for every field of ``cls`` that has one."""
    return {f.name: f.metadata["wire"] for f in attrs.fields(cls) if "wire" in f.metadata}


def wire_name(cls: type[Any], field: str) -> str:
    """The wire name of ``cls.field``."""
    return wire_names(cls)[field]


def _overrides(cls: type[Any]) -> dict[str, Any]:
    overrides = {name: override(rename=wire) for name, wire in wire_names(cls).items()}
    user_field = _USER_DATA.get(cls)
    if user_field is not None:
        overrides[user_field] = override(
            rename=wire_name(cls, user_field),
            struct_hook=lambda value, _: value,
            unstruct_hook=encode_envelopes,
        )
    return overrides


_CREATE: dict[type[Any], Any] = {}

for _cls in (Experiment, AnalysisResult, FileInfo):
    attrs.resolve_types(_cls)
    converter.register_structure_hook(
        _cls, make_dict_structure_fn(_cls, converter, **_overrides(_cls))
    )
    converter.register_unstructure_hook(
        _cls, make_dict_unstructure_fn(_cls, converter, **_overrides(_cls))
    )
    _create = _overrides(_cls)
    for _field in attrs.fields(_cls):
        meta = _field.metadata
        if not meta.get("create"):
            _create[_field.name] = override(omit=True)
        elif meta.get("always"):
            _create[_field.name] = attrs.evolve(_create[_field.name], omit_if_default=False)
    _CREATE[_cls] = make_dict_unstructure_fn(
        _cls, converter, _cattrs_omit_if_default=True, **_create
    )


def from_wire(cls: type[T], data: Mapping[str, Any], *, decode_user_data: bool = True) -> T:
    """Build a record from a wire dictionary.

    ``null`` values are dropped first, so the record's defaults apply. With
    ``decode_user_data`` the envelopes in the user-data field are decoded.

    Raises:
        TypeError, ValueError, KeyError: for a dictionary that is not such a record.
    """
    cleaned = {k: v for k, v in data.items() if v is not None}
    user_field = _USER_DATA.get(cls)
    if decode_user_data and user_field is not None:
        wire = wire_name(cls, user_field)
        if wire in cleaned:
            cleaned[wire] = decode_envelopes(cleaned[wire])
    return converter.structure(cleaned, cls)


def to_wire(record: Any) -> dict[str, Any]:
    """The wire dictionary of a record: every field, under its wire name."""
    result: dict[str, Any] = converter.unstructure(record)
    return result


def create_body(record: Experiment | AnalysisResult) -> dict[str, Any]:
    """The body of a create: the fields a client sends, those at their default left out.

    Raises:
        TypeError, ValueError: for user data that cannot be encoded.
    """
    body: dict[str, Any] = _CREATE[type(record)](record)
    return body


def updatable(cls: type[Any]) -> tuple[str, ...]:
    """The Python names of the fields of ``cls`` that a partial update can change."""
    return tuple(f.name for f in attrs.fields(cls) if f.metadata.get("update"))


def update_body(cls: type[Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The body of a partial update of a ``cls`` record: exactly the fields in ``changes``.

    ``changes`` maps Python field names to new values; each is converted and checked as the
    record does it, then written under its wire name.

    Raises:
        TypeError: for a field that cannot be updated, or a value of the wrong type.
        ValueError: for a bad value.
    """
    fields = attrs.fields_dict(cls)
    body: dict[str, Any] = {}
    for name, value in changes.items():
        field = fields.get(name)
        if field is None or not field.metadata.get("update"):
            raise TypeError(f"{cls.__name__}.{name} cannot be updated")
        if field.converter is not None:
            value = field.converter(value)  # type: ignore[operator]
        if field.validator is not None:
            field.validator(None, field, value)
        if name == _USER_DATA.get(cls):
            wire_value = encode_envelopes(value)
        else:
            wire_value = converter.unstructure(value, unstructure_as=field.type)
        body[field.metadata["wire"]] = wire_value
    return body
