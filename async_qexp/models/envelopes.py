"""The JSON envelopes of both services: one codec, two dialects.

Values JSON has no form for travel as ``{"__type__": <tag>, "__value__": <payload>}``
(``docs/protocol.md#json-envelopes``). The two services write some tags differently:

========== ====================================== =======================================
tag        experiment service (``extra``, ``fit``) runtime (inputs, results, messages)
========== ====================================== =======================================
complex    ``[real, imag]``, non-finite parts as   ``[real, imag]``
           ``safe_float`` envelopes
safe_float ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (not written: the runtime's JSON
                                                   carries ``NaN`` tokens)
set        a list of the members                   the same
datetime   ``isoformat()``                         the same
b64encoded ``{"encoded": <base64>, "compressed":}`` (not written)
ndarray    a ``b64encoded`` envelope of            ``base64(zlib(numpy.save(...)))``; a
           ``numpy.save`` output; ``dtype=object`` nested list for ``dtype=object``
           as the ``array`` tag (a nested list)
to_json    (not written)                           what the object's ``to_json()`` returned
settings   (not written)                           the object's ``settings``, with
                                                   ``__module__``/``__class__`` beside
========== ====================================== =======================================

:func:`encode_envelopes` writes the experiment dialect as a tree of standard JSON values;
:class:`RuntimeEncoder` (a ``json.JSONEncoder``) writes the runtime dialect. One decoder reads
both (:func:`decode_envelopes` for a parsed tree, :class:`RuntimeDecoder` for JSON text): it
also reads the older forms (an ``array`` tag, an ``ndarray`` whose payload is a bare base64
string or a nested list). numpy is optional; without it an array payload that is a list
decodes to that list, and a binary one is left as it is. Unknown or malformed envelopes are
data, not errors: they are left as they are. Classes are never imported from a message.
"""

from __future__ import annotations

import base64
import io
import json
import math
import sys
import zlib
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from .timeutil import parse_iso

__all__ = [
    "MAX_NESTING",
    "RuntimeDecoder",
    "RuntimeEncoder",
    "decode_envelopes",
    "dumps_runtime",
    "encode_envelopes",
    "loads_runtime",
]

MAX_NESTING = 200
"""User data nested deeper than this many levels is refused (the service refuses deep bodies,
and a value that refers to itself would nest for ever)."""

_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_COMPRESS_OVER = 1024  # bytes: larger binary payloads are zlib-compressed


def _numpy() -> Any:
    """numpy if the program already imported it or it can be imported, else ``None``."""
    np = sys.modules.get("numpy", ...)
    if np is not ...:
        return np  # ``None`` when a test (or the program) marked numpy as absent
    try:
        import numpy
    except ImportError:
        return None
    return numpy


def _loaded_numpy() -> Any:
    """numpy only if already imported: a value can only be a numpy object if it is."""
    return sys.modules.get("numpy")


def _envelope(tag: str, value: Any) -> dict[str, Any]:
    return {"__type__": tag, "__value__": value}


def _numpy_bytes(np: Any, array: Any) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


# -- the experiment dialect ---------------------------------------------------------------------


def _safe_float(value: float) -> Any:
    if math.isfinite(value):
        return value
    return _envelope(
        "safe_float", "NaN" if math.isnan(value) else str(value).replace("inf", "Infinity")
    )


def _binary(data: bytes, compress: bool) -> dict[str, Any]:
    payload = zlib.compress(data) if compress else data
    return _envelope(
        "b64encoded",
        {"encoded": base64.standard_b64encode(payload).decode("ascii"), "compressed": compress},
    )


def encode_envelopes(value: Any) -> Any:
    """``value`` as a tree of standard JSON values, special values in their envelopes.

    Raises:
        TypeError: for a value with no JSON form, or a mapping key that is not a string.
        ValueError: for data nested deeper than :data:`MAX_NESTING` levels (or that refers to
            itself).
    """
    return _encode(value, 0)


def _encode(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return _safe_float(value)
    if depth >= MAX_NESTING:
        raise ValueError(
            f"the data is nested deeper than {MAX_NESTING} levels (or refers to itself)"
        )
    if isinstance(value, Mapping):
        encoded: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"mapping keys must be strings, not {type(key).__name__} ({key!r})")
            encoded[key] = _encode(item, depth + 1)
        return encoded
    if isinstance(value, list | tuple):
        return [_encode(item, depth + 1) for item in value]
    if isinstance(value, complex):
        return _envelope("complex", [_safe_float(value.real), _safe_float(value.imag)])
    if isinstance(value, set | frozenset):
        return _envelope("set", [_encode(item, depth + 1) for item in value])
    if isinstance(value, datetime | date):
        return _envelope("datetime", value.isoformat())
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        return _binary(data, compress=len(data) > _COMPRESS_OVER)
    np = _loaded_numpy()
    if np is not None:
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                return _envelope("array", _encode(value.tolist(), depth + 1))
            return _envelope("ndarray", _binary(_numpy_bytes(np, value), compress=True))
        if isinstance(value, np.generic):
            return _encode(value.item(), depth)
    if "qiskit" in sys.modules:
        from ._qiskit import qiskit_envelope

        envelope = qiskit_envelope(value, _binary)
        if envelope is not None:
            return _encode(envelope, depth)
    raise TypeError(f"cannot encode a value of type {type(value).__name__} as JSON")


# -- the runtime dialect ------------------------------------------------------------------------


class RuntimeEncoder(json.JSONEncoder):
    """A JSON encoder writing the runtime envelopes (``json.dumps(value, cls=RuntimeEncoder)``)."""

    def default(self, obj: Any) -> Any:
        """The JSON form of one value JSON has none for."""
        if isinstance(obj, datetime | date):
            return _envelope("datetime", obj.isoformat())
        if isinstance(obj, complex):
            return _envelope("complex", [obj.real, obj.imag])
        if isinstance(obj, set | frozenset):
            return _envelope("set", list(obj))
        np = _loaded_numpy()
        if np is not None:
            if isinstance(obj, np.ndarray):
                if obj.dtype == object:
                    return _envelope("ndarray", obj.tolist())
                return _envelope("ndarray", _runtime_binary(_numpy_bytes(np, obj), True))
            if isinstance(obj, np.generic):
                return obj.item()
        if "qiskit" in sys.modules:
            from ._qiskit import qiskit_envelope

            envelope = qiskit_envelope(obj, _runtime_binary, quantum_info=False)
            if envelope is not None:
                return envelope
        if hasattr(obj, "to_json"):
            return _envelope("to_json", obj.to_json())
        if hasattr(obj, "settings"):
            return {
                "__type__": "settings",
                "__module__": type(obj).__module__,
                "__class__": type(obj).__name__,
                "__value__": obj.settings,
            }
        return super().default(obj)


def _runtime_binary(data: bytes, compress: bool) -> str:
    """A binary payload in the runtime dialect: base64 text (of zlib-compressed bytes)."""
    return base64.standard_b64encode(zlib.compress(data) if compress else data).decode("ascii")


def dumps_runtime(value: Any) -> str:
    """Serialise a value with the runtime envelopes.

    Raises:
        TypeError: for a value with no JSON form, or a mapping key that is not a string
            (JSON would turn it into one silently).
        ValueError: for a value that refers to itself or nests deeper than
            :data:`MAX_NESTING` levels.
    """
    _check_keys(value, 0)
    try:
        return json.dumps(value, cls=RuntimeEncoder)
    except RecursionError:
        raise ValueError("the value nests too deeply to be sent as JSON") from None


def _check_keys(value: Any, depth: int) -> None:
    if isinstance(value, Mapping | list | tuple):
        if depth >= MAX_NESTING:
            raise ValueError(
                f"the data is nested deeper than {MAX_NESTING} levels (or refers to itself)"
            )
        if isinstance(value, Mapping):
            for key in value:
                if not isinstance(key, str):
                    raise TypeError(
                        f"mapping keys must be strings, not {type(key).__name__} ({key!r})"
                    )
            items: Any = value.values()
        else:
            items = value
        for item in items:
            _check_keys(item, depth + 1)


class RuntimeDecoder(json.JSONDecoder):
    """A JSON decoder reading the envelopes (``json.loads(text, cls=RuntimeDecoder)``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["object_hook"] = decode_envelope
        super().__init__(*args, **kwargs)


def loads_runtime(text: str | bytes) -> Any:
    """Parse JSON text, decoding the envelopes."""
    return json.loads(text, cls=RuntimeDecoder)


# -- decoding (both dialects) -------------------------------------------------------------------


def decode_envelopes(value: Any) -> Any:
    """``value`` (a parsed JSON tree) with every known envelope turned back into its value."""
    if isinstance(value, dict):
        return decode_envelope({k: decode_envelopes(v) for k, v in value.items()})
    if isinstance(value, list):
        return [decode_envelopes(v) for v in value]
    return value


def decode_envelope(obj: dict[str, Any]) -> Any:
    """Decode one object whose values are decoded already (a ``json`` ``object_hook``).

    An object that is no envelope, or a malformed or unknown one, is returned as it is.
    """
    tag = obj.get("__type__")
    if not isinstance(tag, str) or "__value__" not in obj:
        return obj
    payload = obj["__value__"]
    if tag == "settings" and str(obj.get("__module__", "")).startswith("qiskit.quantum_info"):
        try:
            rebuild = _DECODERS["qiskit.quantum_info"]
            return rebuild({"class": obj["__class__"], "settings": _restore_int_keys(payload)})
        except (LookupError, TypeError, ValueError):
            pass  # without Qiskit (or for a class it does not rebuild): the settings, as below
    try:
        decoded = _DECODERS[tag](payload)
    except (LookupError, TypeError, ValueError, zlib.error):
        return obj
    return obj if decoded is _UNDECODED else decoded


_UNDECODED = object()


def _bytes_of(payload: Any) -> bytes:
    """The bytes of a binary payload: decoded already, an envelope's dict, or bare base64."""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, dict):
        data = base64.standard_b64decode(payload["encoded"])
        return zlib.decompress(data) if payload.get("compressed") else data
    if isinstance(payload, str):
        data = base64.b64decode(payload, validate=True)
        try:
            return zlib.decompress(data)
        except zlib.error:
            return data
    raise TypeError("not a binary payload")


def _decode_ndarray(payload: Any, *, list_dtype: Any = None) -> Any:
    np = _numpy()
    if isinstance(payload, list | int | float):
        if np is None:
            return payload
        return np.array(payload, dtype=list_dtype) if list_dtype else np.array(payload)
    if np is None:
        return _UNDECODED
    return np.load(io.BytesIO(_bytes_of(payload)), allow_pickle=False)


def _decode_complex(payload: Any) -> complex:
    real, imag = payload
    if not all(isinstance(p, int | float) and not isinstance(p, bool) for p in (real, imag)):
        raise TypeError("complex parts must be numbers")
    return complex(real, imag)


def _restore_int_keys(value: Any) -> Any:
    """Undo the ``__int_keys__`` marker of ``settings`` values (integer keys made strings)."""
    if isinstance(value, list):
        return [_restore_int_keys(v) for v in value]
    if not isinstance(value, dict):
        return value
    marked = value.get("__int_keys__") is True
    restored: dict[Any, Any] = {}
    for key, item in value.items():
        if marked and key == "__int_keys__":
            continue
        if marked and isinstance(key, str) and key.lstrip("-").isdigit():
            restored[int(key)] = _restore_int_keys(item)
        else:
            restored[key] = _restore_int_keys(item)
    return restored


_DECODERS: dict[str, Any] = {
    "complex": _decode_complex,
    "safe_float": lambda payload: _NON_FINITE[payload],
    "set": lambda payload: set(payload),
    "datetime": parse_iso,
    "b64encoded": _bytes_of,
    "ndarray": lambda payload: _decode_ndarray(payload, list_dtype=object),
    "array": _decode_ndarray,
    "to_json": lambda payload: payload,
    "settings": _restore_int_keys,
}


def _qiskit_decoder(tag: str) -> Any:
    def decode(payload: Any) -> Any:
        from ._qiskit import qiskit_value

        return qiskit_value(tag, payload, _bytes_of)

    return decode


_DECODERS.update(
    (tag, _qiskit_decoder(tag))
    for tag in ("QuantumCircuit", "Instruction", "ParameterExpression", "qiskit.quantum_info")
)
