"""JSON envelopes for values JSON cannot hold (PROTOCOL §4.4).

User data (experiment ``metadata``, analysis ``result_data``, file contents) may hold complex
numbers, non-finite floats, sets, datetimes, bytes and numpy arrays. They travel as
``{"__type__": <tag>, "__value__": <payload>}`` in the format qiskit-experiments writes, so
data saved by either library reads back in the other:

========== ============================================================================
tag        payload
========== ============================================================================
complex    ``[real, imag]`` (each possibly a ``safe_float`` envelope)
safe_float ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``
set        a list of the members
datetime   an ISO-8601 string
b64encoded ``{"encoded": <base64>, "compressed": <bool>}`` (zlib when compressed)
ndarray    a ``b64encoded`` envelope of ``numpy.save`` output (``allow_pickle=False``)
========== ============================================================================

The decoder also reads the older ``array`` tag (a nested list) and an ``ndarray`` whose payload
is a bare base64 string or a nested list. numpy is optional: without it an array decodes to
nested lists. Unknown tags are left as they are.
"""

from __future__ import annotations

import base64
import io
import math
import sys
import zlib
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

__all__ = ["decode_envelopes", "encode_envelopes"]

_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _numpy() -> Any:
    """numpy if the caller's program already imported it (or it is installed), else None."""
    np = sys.modules.get("numpy")
    if np is not None:
        return np
    try:
        import numpy
    except ImportError:
        return None
    return numpy


def _envelope(tag: str, value: Any) -> dict[str, Any]:
    return {"__type__": tag, "__value__": value}


def _encode_float(value: float) -> Any:
    if math.isfinite(value):
        return value
    text = "NaN" if math.isnan(value) else str(value).replace("inf", "Infinity")
    return _envelope("safe_float", text)


def _b64(data: bytes, compress: bool) -> dict[str, Any]:
    payload = zlib.compress(data) if compress else data
    return _envelope(
        "b64encoded",
        {"encoded": base64.standard_b64encode(payload).decode("ascii"), "compressed": compress},
    )


def encode_envelopes(value: Any) -> Any:
    """Return ``value`` with every non-JSON value replaced by its envelope.

    Raises:
        TypeError: for a value with no JSON form.
    """
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return _encode_float(value)
    if isinstance(value, Mapping):
        return {str(k): encode_envelopes(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode_envelopes(v) for v in value]
    if isinstance(value, complex):
        return _envelope("complex", [_encode_float(value.real), _encode_float(value.imag)])
    if isinstance(value, set | frozenset):
        return _envelope("set", [encode_envelopes(v) for v in value])
    if isinstance(value, datetime | date):
        return _envelope("datetime", value.isoformat())
    if isinstance(value, bytes | bytearray | memoryview):
        return _b64(bytes(value), compress=len(value) > 1024)
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                return _envelope("array", encode_envelopes(value.tolist()))
            buffer = io.BytesIO()
            np.save(buffer, value, allow_pickle=False)
            return _envelope("ndarray", _b64(buffer.getvalue(), compress=True))
        if isinstance(value, np.generic):
            return encode_envelopes(value.item())
    raise TypeError(f"cannot encode a value of type {type(value).__name__} as JSON")


def _decode_bytes(payload: Any) -> bytes:
    if isinstance(payload, dict) and payload.get("__type__") == "b64encoded":
        payload = payload.get("__value__")
    if isinstance(payload, dict):
        data = base64.standard_b64decode(payload["encoded"])
        return zlib.decompress(data) if payload.get("compressed") else data
    if isinstance(payload, str):
        data = base64.standard_b64decode(payload)
        try:
            return zlib.decompress(data)
        except zlib.error:
            return data
    raise ValueError("not a binary envelope")


def _decode_array(payload: Any) -> Any:
    np = _numpy()
    if isinstance(payload, list | int | float):
        decoded = decode_envelopes(payload)
        return np.array(decoded) if np is not None else decoded
    raw = _decode_bytes(payload)
    if np is None:
        raise ValueError("numpy is needed to decode an ndarray envelope")
    return np.load(io.BytesIO(raw), allow_pickle=False)


def _decode_tagged(tag: Any, payload: Any, original: dict[str, Any]) -> Any:
    try:
        if tag == "complex":
            real, imag = (decode_envelopes(p) for p in payload)
            return complex(real, imag)
        if tag == "safe_float":
            return _NON_FINITE[payload]
        if tag == "set":
            return {decode_envelopes(v) for v in payload}
        if tag == "datetime":
            return datetime.fromisoformat(payload.replace("Z", "+00:00"))
        if tag == "b64encoded":
            return _decode_bytes(payload)
        if tag in ("ndarray", "array"):
            return _decode_array(payload)
    except (KeyError, TypeError, ValueError, zlib.error):
        pass  # a malformed envelope is data, not an error: hand it back undecoded
    return {k: decode_envelopes(v) for k, v in original.items()}


def decode_envelopes(value: Any) -> Any:
    """Return ``value`` with every known envelope turned back into its Python value."""
    if isinstance(value, dict):
        if "__type__" in value and "__value__" in value:
            return _decode_tagged(value["__type__"], value["__value__"], value)
        return {k: decode_envelopes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_envelopes(v) for v in value]
    return value
