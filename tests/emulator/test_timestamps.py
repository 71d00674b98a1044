"""Timestamps in bodies and filters go through ``models.timeutil.parse_iso`` and are stored as
``YYYY-MM-DDTHH:MM:SS.ffffffZ``; errors are ``HTTPProblem`` answers, never 500."""

from __future__ import annotations

import httpx
import pytest

from async_qexp.emulator._util import HTTPProblem, error_body, normalize_timestamp

from .conftest import assert_error, create_exp

# Python 3.10's datetime.fromisoformat reads none of the first four.
SPELLINGS = [
    ("2024-05-01T12:30:45.5+02:00", "2024-05-01T10:30:45.500000Z"),
    ("2024-05-01T12:30:45Z", "2024-05-01T12:30:45.000000Z"),
    ("2024-05-01T12:30:45.123456789Z", "2024-05-01T12:30:45.123456Z"),
    ("2024-05-01 12:30:45+0200", "2024-05-01T10:30:45.000000Z"),
    ("2024-05-01T12:30:45.5 +02", "2024-05-01T10:30:45.500000Z"),
    ("2024-05-01T12:30:45 00:00", "2024-05-01T12:30:45.000000Z"),  # '+' lost in a query
    ("2024-05-01T12:30:45", "2024-05-01T12:30:45.000000Z"),  # naive: UTC
    ("2024-05-01", "2024-05-01T00:00:00.000000Z"),
]


@pytest.mark.parametrize(("given", "stored"), SPELLINGS)
def test_normalize_timestamp(given: str, stored: str) -> None:
    assert normalize_timestamp(given, "start_time") == stored


@pytest.mark.parametrize("bad", ["", " ", "yesterday", "2024-13-01T00:00:00Z", 12345, None])
def test_bad_timestamps_are_400(bad: object) -> None:
    with pytest.raises(HTTPProblem) as info:
        normalize_timestamp(bad, "start_time")
    assert info.value.status == 400
    assert "start_time" in info.value.message


def test_http_problem_defaults_and_body() -> None:
    problem = HTTPProblem(404)
    assert (problem.status, problem.message, problem.code) == (404, "Not Found", 404)
    assert HTTPProblem(409, "taken", "E42").code == "E42"
    assert error_body(404) == b'{"error":{"code":404,"message":"Not Found"}}'


@pytest.mark.asyncio
async def test_offsets_and_fractions_round_trip_and_filter(rdb: httpx.AsyncClient) -> None:
    created = await create_exp(rdb, "e1", start_time="2024-05-01T12:30:45.5+02:00")
    assert created["start_time"] == "2024-05-01T10:30:45.500000Z"
    params = [
        ("start_time", "ge:2024-05-01T10:30:45.5Z"),
        ("start_time", "le:2024-05-01T12:30:45.5+02:00"),
    ]
    page = (await rdb.get("/experiments", params=params)).json()
    assert [e["uuid"] for e in page["experiments"]] == ["e1"]
    params = [("start_time", "gt:2024-05-01T10:30:45.5Z")]
    assert (await rdb.get("/experiments", params=params)).json()["experiments"] == []
    assert_error(await rdb.get("/experiments", params={"start_time": "ge:soon"}), 400)
