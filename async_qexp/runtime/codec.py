"""The runtime JSON envelopes (PROTOCOL §5.9) and result decoders (§5.10).

Program inputs, interim results and final results travel as JSON in which special values are
``{"__type__": <tag>, "__value__": <payload>}``. This module writes and reads the tags that
need no quantum SDK:

========= =====================================================================
tag       payload
========= =====================================================================
datetime  ``isoformat()`` string
complex   ``[real, imag]``
ndarray   ``base64(zlib(numpy.save(...)))``; a nested list for ``dtype=object``
set       a list of the members
to_json   whatever the object's ``to_json()`` returned (decoded as it is)
settings  the object's ``settings`` (with ``__module__``/``__class__`` siblings); decoded
          as a plain dict — classes are never imported from a message
========= =====================================================================

numpy is optional. Other tags (``QuantumCircuit``, ``Result``, ...) are left undecoded.
"""

from __future__ import annotations

import base64
import io
import json
import zlib
from datetime import date, datetime
from typing import Any

__all__ = ["ResultDecoder", "RuntimeDecoder", "RuntimeEncoder", "decode_runtime", "dumps"]


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:
        return None
    return numpy


class RuntimeEncoder(json.JSONEncoder):
    """A JSON encoder writing the runtime envelopes."""

    def default(self, obj: Any) -> Any:
        """Encode one value JSON has no form for."""
        if isinstance(obj, datetime | date):
            return {"__type__": "datetime", "__value__": obj.isoformat()}
        if isinstance(obj, complex):
            return {"__type__": "complex", "__value__": [obj.real, obj.imag]}
        if isinstance(obj, set | frozenset):
            return {"__type__": "set", "__value__": list(obj)}
        np = _numpy()
        if np is not None:
            if isinstance(obj, np.ndarray):
                if obj.dtype == object:
                    return {"__type__": "ndarray", "__value__": obj.tolist()}
                buffer = io.BytesIO()
                np.save(buffer, obj, allow_pickle=False)
                packed = base64.standard_b64encode(zlib.compress(buffer.getvalue()))
                return {"__type__": "ndarray", "__value__": packed.decode("ascii")}
            if isinstance(obj, np.generic):
                return obj.item()
        if hasattr(obj, "to_json"):
            return {"__type__": "to_json", "__value__": obj.to_json()}
        if hasattr(obj, "settings"):
            return {
                "__type__": "settings",
                "__module__": type(obj).__module__,
                "__class__": type(obj).__name__,
                "__value__": obj.settings,
            }
        return super().default(obj)


def dumps(value: Any) -> str:
    """Serialise a value with the runtime envelopes."""
    return json.dumps(value, cls=RuntimeEncoder)


def _decode_envelope(obj: dict[str, Any]) -> Any:
    tag = obj.get("__type__")
    if "__value__" not in obj or not isinstance(tag, str):
        return obj
    value = obj["__value__"]
    try:
        if tag == "datetime":
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        if tag == "complex":
            return complex(value[0], value[1])
        if tag == "set":
            return set(value)
        if tag == "to_json":
            return value
        if tag == "ndarray":
            np = _numpy()
            if np is None:
                return value if isinstance(value, list) else obj
            if isinstance(value, list):
                return np.array(value, dtype=object)
            raw = zlib.decompress(base64.standard_b64decode(value))
            return np.load(io.BytesIO(raw), allow_pickle=False)
        if tag == "settings":
            return _restore_int_keys(value)
    except (TypeError, ValueError, IndexError, zlib.error):
        return obj
    return obj


def _restore_int_keys(value: Any) -> Any:
    """Undo the ``__int_keys__`` marker of ``settings`` values (PROTOCOL §5.9, row 10)."""
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


class RuntimeDecoder(json.JSONDecoder):
    """A JSON decoder reading the runtime envelopes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["object_hook"] = _decode_envelope
        super().__init__(*args, **kwargs)


def decode_runtime(text: str | bytes) -> Any:
    """Parse runtime JSON, decoding the envelopes."""
    return json.loads(text, cls=RuntimeDecoder)


class ResultDecoder:
    """Turns the text of a result or interim message into a Python value.

    Subclass it and override :meth:`decode` for custom types; pass the class (not an
    instance) to ``run(result_decoder=...)``, ``result(decoder=...)`` or
    ``stream_results(decoder=...)``.
    """

    @classmethod
    def decode(cls, data: str) -> Any:
        """Decode JSON with the runtime envelopes; text that is not JSON is returned as it is."""
        try:
            return decode_runtime(data)
        except ValueError:
            return data
