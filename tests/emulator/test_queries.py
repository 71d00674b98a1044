"""Query strings become frozen query objects (no SQL, no I/O): what the handlers hand the store."""

from __future__ import annotations

from urllib.parse import urlencode

import attrs
import pytest
from starlette.requests import Request

from async_qexp.emulator import EmulatorConfig
from async_qexp.emulator._util import HTTPProblem
from async_qexp.emulator.queries import (
    ComponentMatch,
    ExperimentQuery,
    JobQuery,
    Principal,
    ResultQuery,
    SortSpec,
    TagMatch,
    TextMatch,
    TimeBound,
)
from async_qexp.emulator.resultsdb import parse
from async_qexp.emulator.runtime import parse as runtime_parse

USER = Principal("me-id", (("h", "g", "p"),))
CONFIG = EmulatorConfig(default_page_size=50, max_page_size=200)


def _request(params: list[tuple[str, str]]) -> Request:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "query_string": urlencode(params).encode(),
    }
    return Request(scope)


def test_experiment_query_with_every_filter() -> None:
    query = parse.experiment_query(
        _request(
            [
                ("device_name", "lima"),
                ("type", "like:T"),
                ("tags", "any:a,b"),
                ("start_time", "ge:2024-01-01T00:00:00Z"),
                ("start_time", "le:2024-01-02T00:00:00+01:00"),
                ("device_components", "contains:Q1,Q0"),
                ("device_components", "R0"),
                ("visibility", "!public"),
                ("owner", "me"),
                ("parent_experiment_uuid", "p1"),
                ("sort", "type:asc"),
                ("limit", "500"),
                ("marker", "m"),
            ]
        ),
        USER,
        CONFIG,
    )
    assert query == ExperimentQuery(
        sort=SortSpec((("type", "asc"), ("start_time", "desc"), ("uuid", "asc"))),
        limit=200,
        marker="m",
        device_name="lima",
        type=TextMatch("T", substring=True),
        tags=TagMatch(("a", "b"), every=False),
        components=ComponentMatch(exact=("R0",), contains=("Q1", "Q0")),
        parent_experiment_uuid="p1",
        start_time=(
            TimeBound("ge", "2024-01-01T00:00:00.000000Z"),
            TimeBound("le", "2024-01-01T23:00:00.000000Z"),
        ),
        visibility=("public", True),
        owner=("me-id", False),
    )
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        query.limit = 1  # type: ignore[misc]


def test_result_query_and_defaults() -> None:
    query = parse.result_query(
        _request([("quality", "in:good,No Information"), ("verified", "TRUE"), ("tags", "x")]),
        CONFIG,
    )
    assert query.quality == ("Good", "No Information")
    assert query.verified is True
    assert query.tags == TagMatch(("x",), every=True)
    assert query.limit == 50
    assert query.sort.keys == (("created_at", "desc"), ("uuid", "asc"))
    assert parse.result_query(_request([]), CONFIG) == ResultQuery(sort=query.sort, limit=50)


@pytest.mark.parametrize(
    "params",
    [
        [("sort", "uuid:asc")],
        [("sort", "type:up")],
        [("sort", "nope:asc")],
        [("limit", "0")],
        [("limit", "-3")],
        [("tags", "any:")],
        [("quality", "great")],
        [("verified", "maybe")],
        [("created_at", "ge:tomorrow")],
    ],
)
def test_bad_result_queries_are_400(params: list[tuple[str, str]]) -> None:
    with pytest.raises(HTTPProblem) as info:
        parse.result_query(_request(params), CONFIG)
    assert info.value.status == 400


def test_job_query() -> None:
    query = runtime_parse.job_query(
        _request([("pending", "yes"), ("provider", "h/g/p"), ("sort", "asc"), ("offset", "4")]),
        USER,
        CONFIG,
    )
    assert query == JobQuery(
        owner="me-id", limit=50, offset=4, pending=True, hgp=("h", "g", "p"), ascending=True
    )
    with pytest.raises(HTTPProblem):
        runtime_parse.job_query(_request([("provider", "h/g")]), USER, CONFIG)
