"""The runtime JSON envelopes (docs/protocol.md#runtime-envelopes) of
``async_qexp.models.envelopes`` and ResultDecoder (docs/protocol.md#result-decoders), without a
server."""

from __future__ import annotations

import base64
import importlib
import io
import json
import sys
import zlib
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from async_qexp import models, runtime
from async_qexp.models.envelopes import RuntimeDecoder, RuntimeEncoder
from async_qexp.models.envelopes import dumps_runtime as dumps
from async_qexp.models.envelopes import loads_runtime as decode_runtime
from async_qexp.runtime import ResultDecoder


def test_the_runtime_package_re_exports_the_one_codec() -> None:
    assert runtime.RuntimeEncoder is models.RuntimeEncoder is RuntimeEncoder
    assert runtime.RuntimeDecoder is models.RuntimeDecoder is RuntimeDecoder
    with pytest.raises(ImportError):
        importlib.import_module("async_qexp.runtime.codec")


def roundtrip(value: Any) -> Any:
    return json.loads(json.dumps(value, cls=RuntimeEncoder), cls=RuntimeDecoder)


class WithToJson:
    def to_json(self) -> dict[str, Any]:
        return {"kind": "custom", "n": 3}


class WithSettings:
    def __init__(self) -> None:
        self.settings = {"shots": 100, "nested": {"seed": 7}}


class WithBoth(WithSettings):
    def to_json(self) -> str:
        return "json wins"


def test_datetime_round_trip() -> None:
    aware = datetime(2022, 7, 29, 9, 49, 45, 123456, tzinfo=timezone.utc)
    assert json.loads(json.dumps(aware, cls=RuntimeEncoder)) == {
        "__type__": "datetime",
        "__value__": "2022-07-29T09:49:45.123456+00:00",
    }
    assert roundtrip(aware) == aware
    offset = datetime(2022, 1, 1, 12, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    assert roundtrip(offset) == offset
    assert roundtrip(offset).utcoffset() == timedelta(hours=5, minutes=30)
    naive = datetime(2022, 1, 1, 12, 30)
    assert roundtrip(naive) == naive
    assert roundtrip(date(2022, 3, 4)) == datetime(2022, 3, 4)
    # a "Z" suffix written by another client decodes to UTC
    decoded = decode_runtime('{"__type__": "datetime", "__value__": "2022-01-02T03:04:05Z"}')
    assert decoded == datetime(2022, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def test_complex_round_trip() -> None:
    assert json.loads(dumps(1 - 2.5j)) == {"__type__": "complex", "__value__": [1.0, -2.5]}
    assert roundtrip(1 - 2.5j) == 1 - 2.5j
    assert roundtrip([0j, {"z": 3j}]) == [0j, {"z": 3j}]


def test_set_round_trip() -> None:
    encoded = json.loads(dumps({"s": {3, 1, 2}}))
    assert encoded["s"]["__type__"] == "set"
    assert sorted(encoded["s"]["__value__"]) == [1, 2, 3]
    assert roundtrip({3, 1, 2}) == {1, 2, 3}
    assert roundtrip(frozenset({"a"})) == {"a"}


def test_to_json_objects() -> None:
    assert json.loads(dumps(WithToJson())) == {
        "__type__": "to_json",
        "__value__": {"kind": "custom", "n": 3},
    }
    assert roundtrip(WithToJson()) == {"kind": "custom", "n": 3}
    assert roundtrip(WithBoth()) == "json wins"  # to_json is checked before settings


def test_settings_objects_decode_to_a_dict() -> None:
    encoded = json.loads(dumps(WithSettings()))
    assert encoded == {
        "__type__": "settings",
        "__module__": __name__,
        "__class__": "WithSettings",
        "__value__": {"shots": 100, "nested": {"seed": 7}},
    }
    assert roundtrip(WithSettings()) == {"shots": 100, "nested": {"seed": 7}}
    # no class is ever imported from a message
    evil = {"__type__": "settings", "__module__": "os", "__class__": "system", "__value__": {}}
    assert decode_runtime(json.dumps(evil)) == {}


def test_settings_with_int_keys_marker() -> None:
    text = json.dumps(
        {
            "__type__": "settings",
            "__module__": "m",
            "__class__": "C",
            "__value__": {"layout": {"0": 5, "1": 6, "__int_keys__": True}},
        }
    )
    assert decode_runtime(text) == {"layout": {0: 5, 1: 6}}


def test_unknown_and_malformed_tags_are_left_as_dicts() -> None:
    for obj in (
        {"__type__": "QuantumCircuit", "__value__": "eJwLd3QEAAAA//8="},
        {"__type__": "Result", "__value__": {"results": []}},
        {"__type__": "complex"},  # no value
        {"__type__": 5, "__value__": [1, 2]},  # tag not a string
        {"__type__": "complex", "__value__": "not a pair"},
        {"__type__": "datetime", "__value__": "yesterday"},
        {"plain": "dict"},
    ):
        assert decode_runtime(json.dumps(obj)) == obj
    nested = {
        "outer": [
            {"__type__": "Instruction", "__value__": "x"},
            {"__type__": "set", "__value__": [1]},
        ]
    }
    assert decode_runtime(json.dumps(nested)) == {
        "outer": [{"__type__": "Instruction", "__value__": "x"}, {1}]
    }


def test_plain_json_is_unchanged() -> None:
    value = {"a": [1, 2.5, None, True, "s"], "b": {"c": {}}}
    assert json.loads(dumps(value)) == value
    assert roundtrip(value) == value


def test_unserialisable_values_still_fail() -> None:
    with pytest.raises(TypeError):
        dumps(object())


def test_result_decoder() -> None:
    assert ResultDecoder.decode('{"z": {"__type__": "complex", "__value__": [0, 1]}}') == {"z": 1j}
    assert ResultDecoder.decode("Traceback: KeyError") == "Traceback: KeyError"
    assert ResultDecoder.decode("") == ""
    assert ResultDecoder.decode("{broken") == "{broken"
    assert ResultDecoder.decode("[1, 2]") == [1, 2]
    assert ResultDecoder.decode('"text"') == "text"


def test_result_decoder_subclass() -> None:
    class Doubling(ResultDecoder):
        @classmethod
        def decode(cls, data: str) -> Any:
            value = super().decode(data)
            return value * 2

    assert Doubling.decode("21") == 42
    assert Doubling.decode("ab") == "abab"


# -- numpy (optional) --------------------------------------------------------------------------


def test_ndarray_round_trip() -> None:
    np = pytest.importorskip("numpy")
    array = np.array([[1.5, 2.0], [3.0, -4.25]], dtype=np.float32)
    encoded = json.loads(dumps(array))
    assert encoded["__type__"] == "ndarray"
    raw = zlib.decompress(base64.standard_b64decode(encoded["__value__"]))
    np.testing.assert_array_equal(np.load(io.BytesIO(raw), allow_pickle=False), array)
    decoded = roundtrip(array)
    np.testing.assert_array_equal(decoded, array)
    assert decoded.dtype == np.float32
    assert roundtrip(np.arange(3) * (1 + 1j)).dtype == np.complex128


def test_object_ndarray_and_numpy_scalars() -> None:
    np = pytest.importorskip("numpy")
    objects = np.array([1, "two", None], dtype=object)
    assert json.loads(dumps(objects)) == {"__type__": "ndarray", "__value__": [1, "two", None]}
    decoded = roundtrip(objects)
    assert decoded.dtype == object
    assert decoded.tolist() == [1, "two", None]
    assert json.loads(dumps({"i": np.int32(3), "f": np.float64(0.5)})) == {"i": 3, "f": 0.5}


def test_ndarray_list_payload_without_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "numpy", None)  # numpy marked absent
    as_list = {"__type__": "ndarray", "__value__": [[1, 2], [3, 4]]}
    assert decode_runtime(json.dumps(as_list)) == [[1, 2], [3, 4]]
    packed = {"__type__": "ndarray", "__value__": "eJwLd3QEAAAA//8="}
    assert decode_runtime(json.dumps(packed)) == packed


def test_runtime_json_refuses_keys_json_would_turn_into_strings() -> None:
    """``json.dumps`` makes ``{1: "a"}`` into ``{"1": "a"}`` silently: refused instead."""
    from async_qexp.models import dumps_runtime

    with pytest.raises(TypeError, match="keys must be strings"):
        dumps_runtime({"inputs": [{"layout": {0: 5}}]})
    loop: dict[str, Any] = {}
    loop["self"] = loop
    with pytest.raises(ValueError, match="nested deeper"):
        dumps_runtime(loop)
    assert dumps_runtime({"ok": [{"a": 1}]}) == '{"ok": [{"a": 1}]}'
