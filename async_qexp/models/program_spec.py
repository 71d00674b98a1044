"""A runtime program's spec: what it takes, returns and publishes, as the wire and users write it.

On the wire (``docs/protocol.md#programs``) a program's ``spec`` holds up to four parts:
``backend_requirements`` (a JSON object) and ``parameters``, ``return_values`` and
``interim_results`` (JSON schemas). The reference client of the ``upload_program(parameters=
...)`` era described the last three as **lists** instead: of ``ProgramParameter(name,
description, type, required)`` and ``ProgramResult(name, description, type)`` items, or of
dicts with those keys. Both forms are accepted on upload; a list is sent as the JSON schema it
stands for, so that every client, ours and the reference's of either era, reads it back::

    [ProgramParameter("shots", "How many shots.", "int", True)]
    → {"type": "object", "properties": {"shots": {"description": "How many shots.",
       "type": "int"}}, "required": ["shots"]}

and :func:`parameter_items` and :func:`result_items` turn such a schema back into items.

Reading is lenient, writing strict: a spec the server stores in some other shape (a list, the
older ``{"doc": [...]}``, JSON text, or garbage) is read as far as it can be, and every part that
could not be read is reported in a list of problems rather than raised, so one malformed program
never breaks the listing of the whole account.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ._checks import require_bool, require_str

__all__ = [
    "SPEC_PARTS",
    "ProgramParameter",
    "ProgramResult",
    "items_schema",
    "parameter_items",
    "read_spec",
    "result_items",
    "spec_for_upload",
]

SPEC_PARTS = ("backend_requirements", "parameters", "return_values", "interim_results")
"""The parts of a program's spec, in the order the wire lists them."""

_SCHEMA_PARTS = SPEC_PARTS[1:]
_RESULT_KEYS = ("name", "description", "type")
_PARAMETER_KEYS = (*_RESULT_KEYS, "required")


def _name(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    require_str(value, attribute.name, empty=False)


def _text(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    require_str(value, attribute.name)


def _flag(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    require_bool(value, attribute.name)


@attrs.frozen
class ProgramParameter:
    """One input parameter of a runtime program, as the reference client's
    ``ProgramParameter(name, description, type, required)``.

    Attributes:
        name: the parameter's name (the keyword the program's ``main`` takes).
        description: what it is.
        type: its type, as free text (``"int"``, ``"QuantumCircuit"``, ``"integer"``, ...).
        required: whether a run must give it.

    Raises:
        TypeError: for a field of the wrong type.
        ValueError: for an empty name.
    """

    name: str = attrs.field(validator=_name)
    description: str = attrs.field(default="", validator=_text)
    type: str = attrs.field(default="", validator=_text)
    required: bool = attrs.field(default=False, validator=_flag)


@attrs.frozen
class ProgramResult:
    """One value a runtime program returns or publishes, as the reference client's
    ``ProgramResult(name, description, type)``.

    Attributes:
        name: the value's name (a key of the returned or published dict).
        description: what it is.
        type: its type, as free text.

    Raises:
        TypeError: for a field of the wrong type.
        ValueError: for an empty name.
    """

    name: str = attrs.field(validator=_name)
    description: str = attrs.field(default="", validator=_text)
    type: str = attrs.field(default="", validator=_text)


# -- writing: strict ---------------------------------------------------------------------------


def _item_fields(item: Any, where: str) -> dict[str, Any]:
    """The fields of one list item: a record, a reference NamedTuple or a dict."""
    if isinstance(item, ProgramParameter | ProgramResult):
        return attrs.asdict(item)
    if isinstance(item, Mapping):
        return dict(item)
    as_dict = getattr(item, "_asdict", None)  # the reference's NamedTuple items
    if callable(as_dict) and isinstance(item, tuple):
        fields = as_dict()
        if isinstance(fields, Mapping):
            return dict(fields)
    raise TypeError(
        f"{where} must be a ProgramParameter, a ProgramResult or a dict, not {type(item).__name__}"
    )


def _checked_item(item: Any, part: str, index: int) -> ProgramParameter | ProgramResult:
    where = f"{part}[{index}]"
    fields = _item_fields(item, where)
    allowed = _PARAMETER_KEYS if part == "parameters" else _RESULT_KEYS
    unknown = [key for key in fields if key not in allowed]
    if unknown:
        raise ValueError(
            f"{where}: unknown keys {', '.join(map(repr, unknown))} "
            f"(an item has {', '.join(allowed)})"
        )
    if "name" not in fields:
        raise ValueError(f"{where}: a name is required")
    try:
        if part == "parameters":
            return ProgramParameter(**fields)
        return ProgramResult(**fields)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{where}: {exc}") from None


def items_schema(items: Sequence[ProgramParameter | ProgramResult]) -> dict[str, Any]:
    """The JSON schema of an object with one property per item (``required`` lists the
    required parameters; empty descriptions and types are left out)."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for item in items:
        prop: dict[str, Any] = {}
        if item.description:
            prop["description"] = item.description
        if item.type:
            prop["type"] = item.type
        properties[item.name] = prop
        if isinstance(item, ProgramParameter) and item.required:
            required.append(item.name)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _upload_part(value: Any, part: str) -> dict[str, Any]:
    """One spec part as the wire carries it: a mapping as it is, a list as its JSON schema."""
    if part == "backend_requirements":
        if not isinstance(value, Mapping):
            raise TypeError(f"backend_requirements must be a dict, not {type(value).__name__}")
        return dict(value)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, list | tuple):
        items = [_checked_item(item, part, index) for index, item in enumerate(value)]
        names = [item.name for item in items]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"{part}: repeated names {', '.join(map(repr, repeated))}")
        return items_schema(items)
    kind = "ProgramParameter" if part == "parameters" else "ProgramResult"
    raise TypeError(
        f"{part} must be a dict (a JSON schema) or a list of {kind} items, "
        f"not {type(value).__name__}"
    )


def spec_for_upload(parts: Mapping[str, Any]) -> dict[str, Any]:
    """The ``spec`` of an upload or an update from its given parts (``None`` and empty parts
    are not sent).

    Raises:
        TypeError: for a part, or a list item, of the wrong type.
        ValueError: for an unknown part, a list item without a name or with unknown keys, or
            two items of one name.
    """
    unknown = [key for key in parts if key not in SPEC_PARTS]
    if unknown:
        raise ValueError(
            f"unknown spec parts {', '.join(map(repr, unknown))} (a spec has "
            f"{', '.join(SPEC_PARTS)})"
        )
    spec: dict[str, Any] = {}
    for part in SPEC_PARTS:
        value = parts.get(part)
        if value is None:
            continue
        converted = _upload_part(value, part)  # checks the type, even of an empty value
        if value:
            spec[part] = converted
    return spec


# -- reading: lenient --------------------------------------------------------------------------


def _json_text(value: str, where: str, problems: list[str]) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        problems.append(f"{where}: not JSON, ignored: {value[:80]!r}")
        return None


def _read_items(items: Sequence[Any], where: str, problems: list[str]) -> dict[str, Any]:
    """The JSON schema of a stored list of items, skipping what cannot be read (``{}`` when
    nothing can)."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for index, item in enumerate(items):
        name = item.get("name") if isinstance(item, Mapping) else None
        if not isinstance(item, Mapping) or not isinstance(name, str) or not name:
            problems.append(f"{where}[{index}]: not an item with a name, ignored: {item!r}")
            continue
        if name in properties:
            problems.append(f"{where}[{index}]: a second item named {name!r}, ignored")
            continue
        prop: dict[str, Any] = {}
        for key, value in item.items():
            if key in ("name", "required"):
                continue
            if key in ("description", "type") and not isinstance(value, str):
                problems.append(f"{where}[{index}].{key}: not text, ignored: {value!r}")
                continue
            prop[key] = value
        properties[name] = prop
        flag = item.get("required", False)
        if not isinstance(flag, bool):
            problems.append(f"{where}[{index}].required: not a bool, read as false: {flag!r}")
        elif flag:
            required.append(name)
    if not properties:
        return {}
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _read_part(
    value: Any, part: str, problems: list[str], *, nested: bool = False
) -> dict[str, Any]:
    where = f"spec.{part}"
    if value is None:
        return {}
    if isinstance(value, str) and not nested:
        return _read_part(_json_text(value, where, problems), part, problems, nested=True)
    if isinstance(value, Mapping):
        doc = value.get("doc")
        if part != "backend_requirements" and isinstance(doc, list) and "properties" not in value:
            return _read_items(doc, where, problems)  # the oldest form: {"doc": [...]}
        return dict(value)
    if isinstance(value, list) and part != "backend_requirements":
        return _read_items(value, where, problems)
    problems.append(f"{where}: a {type(value).__name__}, ignored: {value!r:.80}")
    return {}


def read_spec(spec: Any, problems: list[str]) -> dict[str, dict[str, Any]]:
    """The four parts of a stored spec, each a dict (``{}`` when absent or unreadable); what
    could not be read is appended to ``problems``."""
    if isinstance(spec, str):
        spec = _json_text(spec, "spec", problems)
    if spec is None:
        spec = {}
    if not isinstance(spec, Mapping):
        problems.append(f"spec: a {type(spec).__name__}, ignored: {spec!r:.80}")
        spec = {}
    return {part: _read_part(spec.get(part), part, problems) for part in SPEC_PARTS}


def _schema_fields(schema: Mapping[str, Any]) -> list[tuple[dict[str, str], bool]]:
    """``(name, description, type)`` of each property of a JSON schema, and whether it is
    required."""
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return []
    required = schema.get("required")
    needed = set(required) if isinstance(required, list) else set()
    fields: list[tuple[dict[str, str], bool]] = []
    for name, prop in properties.items():
        if not isinstance(name, str) or not name:
            continue
        described = prop if isinstance(prop, Mapping) else {}
        description = described.get("description")
        kind = described.get("type")
        if isinstance(kind, list) and all(isinstance(each, str) for each in kind):
            kind = " | ".join(kind)
        text = {
            "name": name,
            "description": description if isinstance(description, str) else "",
            "type": kind if isinstance(kind, str) else "",
        }
        fields.append((text, name in needed))
    return fields


def parameter_items(schema: Mapping[str, Any]) -> list[ProgramParameter]:
    """The parameters a JSON schema's ``properties`` describe, in order (a schema without
    ``properties`` describes none). Lenient: a description or type that is not text reads as
    ``""``; a list of types reads as ``"a | b"``."""
    return [ProgramParameter(**text, required=needed) for text, needed in _schema_fields(schema)]


def result_items(schema: Mapping[str, Any]) -> list[ProgramResult]:
    """The values a JSON schema's ``properties`` describe, in order, read as
    :func:`parameter_items` reads them (a schema of a single value describes none)."""
    return [ProgramResult(**text) for text, _ in _schema_fields(schema)]
