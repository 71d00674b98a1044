"""The runtime records of ``async_qexp.models.runtime``, without a server: how responses are read
(docs/protocol.md#job-records-and-status, #listing-jobs, #programs) and requests written
(docs/protocol.md#running-a-job)."""

from __future__ import annotations

import base64
import collections
import json
from datetime import datetime, timezone
from typing import Any

import pytest

from async_qexp.models.runtime import (
    JobRecord,
    JobStatus,
    ProgramParameter,
    ProgramResult,
    RuntimeOptions,
    RuntimeProgram,
    created_id,
    created_job,
    interim_texts,
    job_listing,
    program_listing,
    program_update,
    program_upload,
    run_request,
)


def test_job_record_reads_both_status_vocabularies_and_the_inputs() -> None:
    record = JobRecord.from_wire(
        {
            "id": "j",
            "program": {"id": "p"},
            "backend": "b",
            "created": "2022-01-02T03:04:05Z",
            "status": "RUNNING",
            "state": {"status": "Cancelled", "reason": "Ran too long"},
            "params": [json.dumps({"z": {"__type__": "complex", "__value__": [0, 1]}})],
        }
    )
    assert record.job_id == "j"
    assert record.program_id == "p"
    assert record.status_name == "RAN TOO LONG"
    assert record.status is JobStatus.ERROR
    assert record.created == datetime(2022, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert record.inputs == {"z": 1j}
    unknown = JobRecord.from_wire({"id": "j", "status": "PAUSED"})
    assert (unknown.status, unknown.status_name) == (None, "PAUSED")


@pytest.mark.parametrize(
    "record", [{}, {"id": ""}, {"id": 5}, [], "j", None, {"id": "j", "params": "{broken"}]
)
def test_a_malformed_job_record_is_a_value_error(record: Any) -> None:
    with pytest.raises(ValueError, match=r"record|params"):
        JobRecord.from_wire(record)


@pytest.mark.parametrize("record", [{}, {"name": "no id"}, [], {"id": ""}, {"id": 3}])
def test_a_program_record_without_an_id_is_a_value_error(record: Any) -> None:
    with pytest.raises(ValueError, match="record"):
        RuntimeProgram.from_wire(record)


def test_listings_give_their_records_and_count() -> None:
    jobs, count = job_listing({"jobs": [{"id": "a"}, {"id": "b"}], "count": 7})
    assert [job.job_id for job in jobs] == ["a", "b"]
    assert count == 7
    programs, count = program_listing({"programs": [{"id": "p", "spec": None}], "count": 1})
    assert [program.program_id for program in programs] == ["p"]
    assert programs[0].parameters == {}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"count": 0},
        {"jobs": None, "count": 0},
        {"jobs": {}, "count": 0},
        {"jobs": []},
        {"jobs": [], "count": "3"},
        {"jobs": [], "count": True},
        {"jobs": [{}], "count": 1},
        [],
        None,
    ],
)
def test_a_malformed_job_listing_is_a_value_error(body: Any) -> None:
    with pytest.raises(ValueError, match=r"listing|record"):
        job_listing(body)


def test_a_program_listing_without_programs_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="'programs'"):
        program_listing({"count": 0})


def test_created_ids() -> None:
    assert created_id({"id": "p-1"}, "program") == "p-1"
    assert created_job({"id": "j"}) == ("j", None)
    assert created_job({"id": "j", "created": "2022-03-04T05:06:07Z"}) == (
        "j",
        datetime(2022, 3, 4, 5, 6, 7, tzinfo=timezone.utc),
    )
    assert created_job({"id": "j", "created": "yesterday"}) == ("j", None)
    for body in ({}, {"id": None}, [], "j"):
        with pytest.raises(ValueError, match=r"id|JSON object"):
            created_job(body)


def test_interim_texts() -> None:
    assert interim_texts("") == []
    assert interim_texts("[]") == []
    assert interim_texts('["m0", {"a": 1}, 2]') == ["m0", '{"a": 1}', "2"]
    assert interim_texts('{"only": 1}') == ['{"only": 1}']
    with pytest.raises(ValueError, match="Expecting value"):
        interim_texts("<html>not json</html>")


# -- the run request ----------------------------------------------------------------------------


def test_run_request() -> None:
    options = RuntimeOptions(backend_name="b", image="img:1", log_level="info")
    body = run_request("p", options, {"x": 1}, hub="h", group="g", project="pr")
    assert body == {
        "program_id": "p",
        "hub": "h",
        "group": "g",
        "project": "pr",
        "backend": "b",
        "params": {"x": 1},
        "runtime": "img:1",
        "log_level": "INFO",
    }
    bare = run_request("p", RuntimeOptions(backend_name="b"), {})
    assert bare == {"program_id": "p", "backend": "b", "params": {}, "runtime": None}


@pytest.mark.parametrize(
    ("program_id", "inputs", "error"),
    [
        (None, {}, TypeError),
        (5, {}, TypeError),
        ("", {}, ValueError),
        ("a/b", {}, ValueError),
        ("p", None, TypeError),
        ("p", [("x", 1)], TypeError),
        ("p", "x=1", TypeError),
        ("p", {1: "one"}, TypeError),
    ],
)
def test_run_request_checks_its_arguments(program_id: Any, inputs: Any, error: type) -> None:
    with pytest.raises(error, match=r"program_id|inputs|input names"):
        run_request(program_id, RuntimeOptions(backend_name="b"), inputs)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"backend_name": 5}, TypeError),
        ({"backend_name": b"b"}, TypeError),
        ({"backend_name": "b", "image": 1}, TypeError),
        ({"backend_name": "b", "log_level": 10}, TypeError),
        ({"backend_name": ""}, ValueError),
        ({"backend_name": None}, ValueError),
        ({"backend_name": "b", "image": "no-tag"}, ValueError),
        ({"backend_name": "b", "log_level": "LOUD"}, ValueError),
    ],
)
def test_runtime_options_check_types_and_values(fields: dict[str, Any], error: type) -> None:
    with pytest.raises(error, match="options: "):
        RuntimeOptions(**fields)
    with pytest.raises(error, match="options: "):
        RuntimeOptions.of(fields)


def test_runtime_options_of() -> None:
    options = RuntimeOptions(backend_name="b")
    assert RuntimeOptions.of(options) is options
    assert RuntimeOptions.of({"backend_name": "b", "log_level": "debug"}).log_level == "debug"
    with pytest.raises(TypeError, match="options must be"):
        RuntimeOptions.of([("backend_name", "b")])
    with pytest.raises(TypeError, match="options must be"):
        RuntimeOptions.of(None)
    with pytest.raises(ValueError, match="unknown runtime options: 'shots'"):
        RuntimeOptions.of({"backend_name": "b", "shots": 10})
    with pytest.raises(ValueError, match="backend_name is required"):
        RuntimeOptions.of({})


# -- programs -----------------------------------------------------------------------------------


def test_program_upload_body() -> None:
    body = program_upload(
        {
            "name": "n",
            "max_execution_time": 60,
            "description": "d",
            "version": 1.5,
            "parameters": {"properties": {}},
            "return_values": {},  # empty: not sent
            "is_public": True,
        },
        "def main(): pass",
    )
    assert body == {
        "name": "n",
        "data": base64.standard_b64encode(b"def main(): pass").decode("ascii"),
        "cost": 60,
        "description": "d",
        "is_public": True,
        "spec": {"parameters": {"properties": {}}},
        "version": "1.5",
    }


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"name": 5}, TypeError),
        ({"description": ["d"]}, TypeError),
        ({"max_execution_time": "60"}, TypeError),
        ({"max_execution_time": 60.5}, TypeError),
        ({"max_execution_time": True}, TypeError),
        ({"max_execution_time": -1}, ValueError),
        ({"parameters": "x: int"}, TypeError),
        ({"version": True}, TypeError),
        ({"is_public": "yes"}, TypeError),
        ({"spec": "a schema"}, TypeError),
        ({"spec": {"params": {}}}, ValueError),
        ({"max_exec_time": 60}, ValueError),
    ],
)
def test_program_upload_checks_the_metadata(change: dict[str, Any], error: type) -> None:
    metadata = {"name": "n", "max_execution_time": 60, "description": "d", **change}
    with pytest.raises(error):
        program_upload(metadata, "")


def test_program_update_body() -> None:
    assert program_update({"name": "", "description": None, "spec": {}}) == {}
    spec = {"parameters": {"type": "object"}}
    assert program_update({"name": "n", "max_execution_time": 5, "spec": spec}) == {
        "name": "n",
        "cost": 5,
        "spec": spec,
    }
    with pytest.raises(TypeError, match="spec"):
        program_update({"spec": "a schema"})
    with pytest.raises(ValueError, match="unknown spec parts 'a'"):
        program_update({"spec": {"a": 1}})


def test_program_update_takes_metadata_as_an_upload_does() -> None:
    """The spec parts at the top level (as upload metadata has them) were silently ignored."""
    listed = [ProgramParameter("x", "d", "int", True)]
    assert program_update(
        {"parameters": listed, "spec": {"return_values": {"type": "string"}}}
    ) == {
        "spec": {
            "return_values": {"type": "string"},
            "parameters": {
                "type": "object",
                "properties": {"x": {"description": "d", "type": "int"}},
                "required": ["x"],
            },
        }
    }
    with pytest.raises(ValueError, match="unknown program metadata 'params'"):
        program_update({"params": listed})
    with pytest.raises(ValueError, match="cannot change version or is_public"):
        program_update({"version": "2", "is_public": True})
    with pytest.raises(TypeError, match="max_execution_time"):
        program_update({"max_execution_time": "5"})


# -- program specs: lists and mappings (docs/protocol.md#programs) ------------------------------

# The reference client's items are NamedTuples of these fields; users pass them, or dicts.
ReferenceParameter = collections.namedtuple(
    "ReferenceParameter", ["name", "description", "type", "required"]
)
ReferenceResult = collections.namedtuple("ReferenceResult", ["name", "description", "type"])

META = {"name": "n", "max_execution_time": 60, "description": "d"}


def test_program_upload_sends_lists_of_items_as_json_schemas() -> None:
    body = program_upload(
        {
            **META,
            "parameters": [
                ProgramParameter("shots", "How many shots.", "int", True),
                ReferenceParameter("circuit", "The circuit.", "QuantumCircuit", False),
                {"name": "seed", "description": "A seed.", "type": "int", "required": True},
                {"name": "label", "type": "str"},  # two keys: not {'name': 'type'}
            ],
            "return_values": [ReferenceResult("-", "A string that says 'All done!'.", "string")],
            "interim_results": (
                ProgramResult("iteration", "Iteration number.", "int"),
                {"name": "counts", "description": "Histogram data.", "type": "dict"},
            ),
        },
        "",
    )
    assert body["spec"] == {
        "parameters": {
            "type": "object",
            "properties": {
                "shots": {"description": "How many shots.", "type": "int"},
                "circuit": {"description": "The circuit.", "type": "QuantumCircuit"},
                "seed": {"description": "A seed.", "type": "int"},
                "label": {"type": "str"},
            },
            "required": ["shots", "seed"],
        },
        "return_values": {
            "type": "object",
            "properties": {
                "-": {"description": "A string that says 'All done!'.", "type": "string"}
            },
        },
        "interim_results": {
            "type": "object",
            "properties": {
                "iteration": {"description": "Iteration number.", "type": "int"},
                "counts": {"description": "Histogram data.", "type": "dict"},
            },
        },
    }


@pytest.mark.parametrize(
    ("part", "value", "error", "match"),
    [
        ("parameters", [{"description": "no name"}], ValueError, r"parameters\[0\]: a name"),
        ("parameters", [{"name": ""}], ValueError, r"parameters\[0\]: name must not be empty"),
        ("parameters", [{"name": "x", "kind": "int"}], ValueError, "unknown keys 'kind'"),
        ("parameters", [{"name": "x", "type": int}], TypeError, r"parameters\[0\]: type"),
        ("parameters", [{"name": "x", "required": "yes"}], TypeError, "required must be a bool"),
        ("parameters", [{"name": "x"}, {"name": "x"}], ValueError, "repeated names 'x'"),
        ("parameters", ["x"], TypeError, r"parameters\[0\] must be a ProgramParameter"),
        ("parameters", [("x", "d", "int", True)], TypeError, "must be a ProgramParameter"),
        ("parameters", "x: int", TypeError, "a dict .a JSON schema. or a list"),
        ("return_values", [ProgramParameter("x")], ValueError, "unknown keys 'required'"),
        ("interim_results", [{"name": "x", "required": False}], ValueError, "'required'"),
        ("backend_requirements", [{"min_num_qubits": 5}], TypeError, "must be a dict"),
        ("backend_requirements", "min_num_qubits=5", TypeError, "must be a dict"),
    ],
)
def test_program_upload_refuses_malformed_spec_items(
    part: str, value: Any, error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        program_upload({**META, part: value}, "")


def test_program_items_check_their_fields() -> None:
    assert ProgramParameter("x") == ProgramParameter("x", "", "", False)
    with pytest.raises(TypeError, match="required"):
        ProgramParameter("x", "d", "int", 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="name"):
        ProgramResult("")
    with pytest.raises(TypeError, match="description"):
        ProgramResult("x", None)  # type: ignore[arg-type]


def test_program_metadata_in_either_reference_form() -> None:
    # The later reference's metadata files: the parts in "spec", and "is_public".
    later = {
        **META,
        "is_public": True,
        "spec": {
            "backend_requirements": {"min_num_qubits": 5},
            "parameters": {"type": "object", "properties": {"iterations": {"type": "integer"}}},
        },
    }
    body = program_upload(later, "")
    assert body["is_public"] is True
    assert body["spec"] == later["spec"]
    # The earlier form (the parts at the top level) wins over "spec", part by part.
    both = {**later, "parameters": [{"name": "n", "type": "int", "required": True}]}
    assert program_upload(both, "")["spec"] == {
        "backend_requirements": {"min_num_qubits": 5},
        "parameters": {
            "type": "object",
            "properties": {"n": {"type": "int"}},
            "required": ["n"],
        },
    }
    # update_program's spec takes the same lists.
    patch = program_update({"spec": {"interim_results": [ProgramResult("i", "", "int")]}})
    assert patch == {
        "spec": {"interim_results": {"type": "object", "properties": {"i": {"type": "int"}}}}
    }


def test_a_program_reads_its_items_back() -> None:
    uploaded = [
        ProgramParameter("shots", "How many shots.", "int", True),
        ProgramParameter("label", "", "str", False),
    ]
    results = [ProgramResult("-", "All done.", "string")]
    body = program_upload({**META, "parameters": uploaded, "return_values": results}, "")
    program = RuntimeProgram.from_wire({"id": "p", **body})
    assert program.parameter_items() == uploaded
    assert program.return_value_items() == results
    assert program.interim_result_items() == []
    text = str(program)
    assert "shots (int, required)" in text
    assert "How many shots." in text
    assert "Returns:" in text
    # A schema of one value (no properties) describes no items; lists of types read as text.
    single = RuntimeProgram.from_wire(
        {
            "id": "q",
            "spec": {
                "return_values": {"type": "string"},
                "parameters": {"properties": {"x": {"type": ["integer", "null"]}}},
            },
        }
    )
    assert single.return_value_items() == []
    assert single.parameter_items() == [ProgramParameter("x", "", "integer | null", False)]


@pytest.mark.parametrize(
    ("spec", "parameters", "problem"),
    [
        # A list as another client stored it: read as its schema.
        (
            {"parameters": [{"name": "x", "description": "d", "type": "int", "required": True}]},
            {
                "type": "object",
                "properties": {"x": {"description": "d", "type": "int"}},
                "required": ["x"],
            },
            None,
        ),
        # The oldest form, {"doc": [...]}, and JSON text of a spec.
        (
            {"parameters": {"doc": [{"name": "x", "type": "int"}]}},
            {"type": "object", "properties": {"x": {"type": "int"}}},
            None,
        ),
        (
            json.dumps({"parameters": {"type": "object"}}),
            {"type": "object"},
            None,
        ),
        # Garbage: read as far as it goes, and said.
        (
            {"parameters": [{"type": "int"}, {"name": "y", "type": 5, "required": "no"}, 3]},
            {"type": "object", "properties": {"y": {}}},
            "spec.parameters[0]: not an item with a name",
        ),
        ({"parameters": "not json"}, {}, "spec.parameters: not JSON"),
        ({"parameters": 42}, {}, "spec.parameters: a int, ignored"),
        ({"backend_requirements": ["x"]}, {}, "spec.backend_requirements: a list"),
        ("not json", {}, "spec: not JSON"),
        ([1, 2], {}, "spec: a list"),
    ],
)
def test_a_malformed_stored_spec_is_read_leniently(
    spec: Any, parameters: dict[str, Any], problem: str | None
) -> None:
    problems: list[str] = []
    program = RuntimeProgram.from_wire({"id": "p", "name": "n", "spec": spec}, problems)
    assert program.parameters == parameters
    if problem is None:
        assert problems == []
    else:
        assert any(problem in text for text in problems), problems
        assert all(text.startswith("program p: ") for text in problems)


def test_a_malformed_program_field_is_read_leniently() -> None:
    problems: list[str] = []
    program = RuntimeProgram.from_wire({"id": "p", "cost": "long", "version": [1]}, problems)
    assert (program.max_execution_time, program.version) == (0, None)
    assert problems == [
        "program p: cost: not a whole number of seconds, read as 0: 'long'",
        "program p: version: not a number or text, ignored: [1]",
    ]
    assert RuntimeProgram.from_wire({"id": "p", "version": 1.5}).version == "1.5"
    programs, _ = program_listing(
        {"programs": [{"id": "bad", "spec": {"parameters": 1}}, {"id": "good"}], "count": 2},
        problems,
    )
    assert [p.program_id for p in programs] == ["bad", "good"]
    assert problems[-1].startswith("program bad: spec.parameters")
