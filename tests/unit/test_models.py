"""Records, the cattrs codec (PROTOCOL §3.8, §4.3) and JSON envelopes (§4.4)."""

from __future__ import annotations

import base64
import json
import math
import zlib
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from async_qexp import (
    AnalysisResult,
    Experiment,
    ExperimentShareLevel,
    FileInfo,
    ResultQuality,
)
from async_qexp.models import (
    MAX_NESTING,
    decode_envelopes,
    encode_envelopes,
    from_wire,
    to_wire,
)

UTC = timezone.utc


def raises_value_error(excinfo: pytest.ExceptionInfo[BaseException]) -> bool:
    """Whether the error is a ValueError, or a cattrs error group holding one."""
    exc = excinfo.value
    if isinstance(exc, ValueError):
        return True
    return any(isinstance(e, ValueError) for e in getattr(exc, "exceptions", ()))


# -- enums (§3.11) ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("Group", ExperimentShareLevel.GROUP),
        ("PUBLIC", ExperimentShareLevel.PUBLIC),
        ("private", ExperimentShareLevel.PRIVATE),
        (ExperimentShareLevel.HUB, ExperimentShareLevel.HUB),
    ],
)
def test_share_level_parse_any_case(text: Any, level: ExperimentShareLevel) -> None:
    assert ExperimentShareLevel.parse(text) is level


@pytest.mark.parametrize("bad", ["team", ""])
def test_share_level_parse_rejects_unknown(bad: Any) -> None:
    with pytest.raises(ValueError, match="invalid share level"):
        ExperimentShareLevel.parse(bad)


@pytest.mark.parametrize("bad", [3, None, b"group"])
def test_share_level_parse_rejects_other_types(bad: Any) -> None:
    with pytest.raises(TypeError, match="share level"):
        ExperimentShareLevel.parse(bad)


@pytest.mark.parametrize(
    ("text", "quality", "wire"),
    [
        ("good", ResultQuality.GOOD, "Good"),
        ("Bad", ResultQuality.BAD, "Bad"),
        ("unknown", ResultQuality.UNKNOWN, "No Information"),
        (ResultQuality.UNKNOWN, ResultQuality.UNKNOWN, "No Information"),
    ],
)
def test_result_quality_parse_and_wire(text: Any, quality: ResultQuality, wire: str) -> None:
    assert ResultQuality.parse(text) is quality
    assert quality.wire == wire
    assert ResultQuality.from_wire(wire) is quality


@pytest.mark.parametrize("bad", ["No Information", "excellent", ""])
def test_result_quality_parse_rejects_wire_values_and_unknowns(bad: Any) -> None:
    """Strings are matched against the enum values, not the wire values."""
    with pytest.raises(ValueError, match="invalid quality"):
        ResultQuality.parse(bad)


def test_result_quality_parse_rejects_other_types() -> None:
    with pytest.raises(TypeError, match="quality"):
        ResultQuality.parse(1)


def test_result_quality_from_wire_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="unknown quality"):
        ResultQuality.from_wire("GOOD")


# -- from_wire / to_wire (§3.8, §4.3) ------------------------------------------------------------


def test_experiment_from_wire_defaults_for_null_and_missing_fields() -> None:
    exp = from_wire(
        Experiment,
        {
            "uuid": "e1",
            "type": "T1",
            "device_name": "b",
            "tags": None,
            "extra": None,
            "visibility": None,
            "created_at": "not a date",
            "unknown_field": 1,
        },
    )
    assert exp == Experiment(experiment_id="e1", experiment_type="T1", backend_name="b")
    assert exp.tags == []
    assert exp.metadata == {}
    assert exp.notes == ""
    assert (exp.hub, exp.group, exp.project, exp.owner) == ("", "", "", "")
    assert exp.job_ids == []
    assert exp.share_level is None
    assert exp.creation_datetime is None  # unparsable date-time reads as None


def test_analysis_result_from_wire_quality_and_defaults() -> None:
    result = from_wire(
        AnalysisResult,
        {"uuid": "r1", "experiment_uuid": "e1", "type": "T1", "quality": "No Information"},
    )
    assert result.quality is ResultQuality.UNKNOWN
    assert result.verified is False
    assert result.result_data == {}
    assert result.device_components == []
    assert result.chisq is None
    assert result.backend_name == ""


@pytest.mark.parametrize("quality", [None, ""])
def test_analysis_result_missing_quality_is_none(quality: Any) -> None:
    result = from_wire(
        AnalysisResult, {"uuid": "r1", "experiment_uuid": "e1", "type": "T", "quality": quality}
    )
    assert result.quality is None


def test_analysis_result_unknown_quality_is_an_error() -> None:
    """§3.11: only ``Good``/``Bad``/``No Information`` are valid on the wire."""
    with pytest.raises(Exception) as info:  # noqa: PT011 - cattrs wraps it in a group
        from_wire(
            AnalysisResult, {"uuid": "r1", "experiment_uuid": "e1", "type": "T", "quality": "Meh"}
        )
    assert raises_value_error(info)


def test_from_wire_decodes_envelopes_unless_told_not_to() -> None:
    wire = {
        "uuid": "e1",
        "type": "T1",
        "device_name": "b",
        "extra": {"z": {"__type__": "complex", "__value__": [1, 2]}},
    }
    assert from_wire(Experiment, wire).metadata == {"z": 1 + 2j}
    assert from_wire(Experiment, wire, decode_user_data=False).metadata == wire["extra"]


def test_from_wire_reads_numeric_timestamps() -> None:
    exp = from_wire(Experiment, {"uuid": "e", "type": "T", "device_name": "b", "start_time": 0})
    assert exp.start_datetime == datetime(1970, 1, 1, tzinfo=UTC)


def test_to_wire_uses_wire_names_and_z_datetimes() -> None:
    exp = Experiment(
        experiment_id="e1",
        experiment_type="T1",
        backend_name="b",
        share_level=ExperimentShareLevel.GROUP,
        start_datetime=datetime(2022, 7, 29, 15, 19, 45, tzinfo=timezone(timedelta(hours=5.5))),
        figure_names=["f.svg"],
    )
    wire = to_wire(exp)
    assert wire["uuid"] == "e1"
    assert wire["type"] == "T1"
    assert wire["device_name"] == "b"
    assert wire["visibility"] == "group"
    assert wire["start_time"] == "2022-07-29T09:49:45Z"
    assert wire["plot_names"] == ["f.svg"]
    assert from_wire(Experiment, wire) == exp

    result = AnalysisResult(
        result_id="r1", experiment_id="e1", result_type="T", quality=ResultQuality.UNKNOWN
    )
    wire = to_wire(result)
    assert (wire["uuid"], wire["experiment_uuid"], wire["quality"]) == (
        "r1",
        "e1",
        "No Information",
    )
    assert from_wire(AnalysisResult, wire) == result


def test_file_info_from_wire() -> None:
    info = from_wire(FileInfo, {"Key": "a.json", "Size": 3, "LastModified": "2022-07-29T09:49:45Z"})
    assert info == FileInfo(
        name="a.json", size=3, last_modified=datetime(2022, 7, 29, 9, 49, 45, tzinfo=UTC)
    )
    assert to_wire(info) == {"Key": "a.json", "Size": 3, "LastModified": "2022-07-29T09:49:45Z"}


# -- envelopes (§4.4) ------------------------------------------------------------------------------


def test_envelope_shapes_match_qiskit_experiments() -> None:
    encoded = encode_envelopes(
        {
            "c": 1 + 2j,
            "nan": math.nan,
            "inf": math.inf,
            "ninf": -math.inf,
            "cnan": complex(math.nan, math.inf),
            "set": {3},
            "dt": datetime(2022, 7, 29, 9, 49, 45, tzinfo=UTC),
            "b": b"\x00\x01",
            "tuple": (1, 2.5, "x", None, True),
        }
    )
    assert encoded == {
        "c": {"__type__": "complex", "__value__": [1.0, 2.0]},
        "nan": {"__type__": "safe_float", "__value__": "NaN"},
        "inf": {"__type__": "safe_float", "__value__": "Infinity"},
        "ninf": {"__type__": "safe_float", "__value__": "-Infinity"},
        "cnan": {
            "__type__": "complex",
            "__value__": [
                {"__type__": "safe_float", "__value__": "NaN"},
                {"__type__": "safe_float", "__value__": "Infinity"},
            ],
        },
        "set": {"__type__": "set", "__value__": [3]},
        "dt": {"__type__": "datetime", "__value__": "2022-07-29T09:49:45+00:00"},
        "b": {
            "__type__": "b64encoded",
            "__value__": {"encoded": base64.b64encode(b"\x00\x01").decode(), "compressed": False},
        },
        "tuple": [1, 2.5, "x", None, True],
    }
    json.dumps(encoded, allow_nan=False)  # standard JSON only


def test_envelopes_round_trip() -> None:
    big = bytes(range(256)) * 8  # > 1024 bytes: compressed
    value = {
        "c": complex(1.5, -2),
        "nested": [{"z": 1j, "s": {"a", "b"}}],
        "nan": math.nan,
        "inf": math.inf,
        "ninf": -math.inf,
        "dt": datetime(2022, 7, 29, 9, 49, 45, 123456, tzinfo=UTC),
        "small": b"abc",
        "big": big,
        "plain": {"x": [1, 2, 3], "y": "text", "n": None, "t": False},
    }
    wire = json.loads(json.dumps(encode_envelopes(value), allow_nan=False))
    assert wire["big"]["__value__"]["compressed"] is True
    decoded = decode_envelopes(wire)
    assert math.isnan(decoded.pop("nan"))
    value.pop("nan")
    assert decoded == value


def test_decode_reads_bare_and_legacy_forms() -> None:
    raw = zlib.compress(b"payload")
    assert (
        decode_envelopes(
            {
                "__type__": "b64encoded",
                "__value__": {"encoded": base64.b64encode(raw).decode(), "compressed": True},
            }
        )
        == b"payload"
    )
    assert decode_envelopes({"__type__": "datetime", "__value__": "2022-07-29T09:49:45Z"}) == (
        datetime(2022, 7, 29, 9, 49, 45, tzinfo=UTC)
    )


def test_decode_leaves_unknown_and_malformed_envelopes_alone() -> None:
    unknown = {"__type__": "QuantumCircuit", "__value__": {"encoded": "xx"}}
    malformed = {"__type__": "complex", "__value__": "not a pair"}
    assert decode_envelopes(unknown) == unknown
    assert decode_envelopes(malformed) == malformed
    assert decode_envelopes({"__type__": "x"}) == {"__type__": "x"}


def test_encode_rejects_values_without_a_json_form() -> None:
    with pytest.raises(TypeError, match="object"):
        encode_envelopes({"o": object()})


@pytest.mark.parametrize("key", [7, (1, 2), None, 1.5])
def test_encode_refuses_keys_that_are_not_strings(key: Any) -> None:
    """Issue 9, defect 3: keys ``(1, 2)`` and ``3`` used to come back as strings."""
    with pytest.raises(TypeError, match="keys must be strings"):
        encode_envelopes({"nested": {key: "value"}})


def test_encode_refuses_data_that_refers_to_itself_or_nests_too_deeply() -> None:
    """Issue 9, defect 4: these raised ``RecursionError``."""
    loop: dict[str, Any] = {}
    loop["self"] = loop
    with pytest.raises(ValueError, match="nested deeper"):
        encode_envelopes(loop)
    deep: Any = "bottom"
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(ValueError, match="nested deeper"):
        encode_envelopes({"deep": deep})
    fine: Any = 1
    for _ in range(MAX_NESTING - 2):
        fine = {"x": fine}
    assert decode_envelopes(encode_envelopes({"ok": fine})) == {"ok": fine}


def test_legacy_array_tag_without_numpy_is_a_list(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "numpy", None)  # as if numpy were not installed
    assert decode_envelopes({"__type__": "array", "__value__": [[1, 2], [3, 4]]}) == [
        [1, 2],
        [3, 4],
    ]


def test_numpy_arrays_round_trip() -> None:
    np = pytest.importorskip("numpy")
    value = {"a": np.arange(6, dtype=np.float64).reshape(2, 3), "s": np.int64(3)}
    encoded = encode_envelopes(value)
    assert encoded["a"]["__type__"] == "ndarray"
    assert encoded["s"] == 3
    decoded = decode_envelopes(json.loads(json.dumps(encoded)))
    assert np.array_equal(decoded["a"], value["a"])
    assert decoded["a"].dtype == np.float64


def test_decode_bare_base64_binary_payloads() -> None:
    """Older writers put a bare base64 string (compressed or not) in the envelope."""
    plain = base64.b64encode(b"raw bytes").decode()
    packed = base64.b64encode(zlib.compress(b"packed bytes")).decode()
    assert decode_envelopes({"__type__": "b64encoded", "__value__": plain}) == b"raw bytes"
    assert decode_envelopes({"__type__": "b64encoded", "__value__": packed}) == b"packed bytes"


def test_ndarray_without_numpy_is_left_undecoded(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "numpy", None)
    envelope = {"__type__": "ndarray", "__value__": base64.b64encode(b"\x93NUMPY").decode()}
    assert decode_envelopes(envelope) == envelope


def test_what_a_partial_update_may_change_and_what_it_refuses() -> None:
    from async_qexp.models.codec import updatable, update_body

    assert updatable(Experiment) == (
        "metadata",
        "job_ids",
        "tags",
        "notes",
        "share_level",
        "end_datetime",
    )
    assert updatable(AnalysisResult) == ("result_data", "quality", "verified", "tags", "chisq")
    with pytest.raises(TypeError, match=r"^Experiment\.no_such_field cannot be updated$"):
        update_body(Experiment, {"no_such_field": 1})
    with pytest.raises(TypeError, match=r"^Experiment\.experiment_type cannot be updated$"):
        update_body(Experiment, {"experiment_type": "T2"})
    end = datetime(2022, 7, 29, 15, 19, 45, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    assert update_body(Experiment, {"end_datetime": end, "tags": ["a"]}) == {
        "end_time": "2022-07-29T09:49:45Z",
        "tags": ["a"],
    }
