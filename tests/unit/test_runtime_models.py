"""The runtime records of ``async_qexp.models.runtime``, without a server: how responses are read
(docs/protocol.md#job-records-and-status, #listing-jobs, #programs) and requests written
(docs/protocol.md#running-a-job)."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Any

import pytest

from async_qexp.models.runtime import (
    JobRecord,
    JobStatus,
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


@pytest.mark.parametrize("record", [{}, {"name": "no id"}, [], {"id": "p", "cost": "long"}])
def test_a_malformed_program_record_is_a_value_error(record: Any) -> None:
    with pytest.raises(ValueError, match=r"record|cost"):
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
        },
        "def main(): pass",
        is_public=True,
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
    ],
)
def test_program_upload_checks_the_metadata(change: dict[str, Any], error: type) -> None:
    metadata = {"name": "n", "max_execution_time": 60, "description": "d", **change}
    with pytest.raises(error):
        program_upload(metadata, "", is_public=False)


def test_program_upload_needs_a_bool_is_public() -> None:
    metadata = {"name": "n", "max_execution_time": 60, "description": "d"}
    with pytest.raises(TypeError, match="is_public"):
        program_upload(metadata, "", is_public="yes")  # type: ignore[arg-type]


def test_program_update_body() -> None:
    assert program_update({"name": "", "description": None, "spec": {}}) == {}
    assert program_update({"name": "n", "max_execution_time": 5, "spec": {"a": 1}}) == {
        "name": "n",
        "cost": 5,
        "spec": {"a": 1},
    }
    with pytest.raises(TypeError, match="spec"):
        program_update({"spec": "a schema"})
    with pytest.raises(TypeError, match="max_execution_time"):
        program_update({"max_execution_time": "5"})
