"""``ExperimentService.create_analysis_results``: the requests it sends, its bound, its progress
and its report; every item is checked before anything is sent."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
import respx

from async_qexp import (
    AnalysisResult,
    BulkCreateReport,
    ClosedError,
    EntryNotFound,
    Provider,
    ResultQuality,
)

from ._support import RDB_HOST, assert_request, body, connect, service_calls

pytestmark = pytest.mark.asyncio

Connected = tuple[Provider, respx.MockRouter]


def created(request: httpx.Request) -> httpx.Response:
    return httpx.Response(201, json={"uuid": body(request)["uuid"]})


def error(status: int, message: str = "no") -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": status, "message": message}})


def posts(router: respx.MockRouter) -> respx.Route:
    return router.route(method="POST", host=RDB_HOST, path="/resultsdb/analysis_results")


async def test_the_bodies_are_those_of_create_analysis_result(connected: Connected) -> None:
    provider, router = connected
    route = posts(router).mock(side_effect=created)
    record = AnalysisResult(
        result_id="r2",
        experiment_id="e1",
        result_type="T2",
        result_data={"value": 2},
        quality=ResultQuality.BAD,
        backend_name="set by the service, never sent",
    )
    report = await provider.experiment.create_analysis_results(
        [
            {
                "experiment_id": "e1",
                "result_type": "T1",
                "result_id": "r1",
                "result_data": {"value": 41.4, "z": 1j},
                "device_components": ["Q0"],
                "tags": ["calib"],
                "quality": "good",
                "verified": True,
                "chisq": 1.5,
            },
            record,
        ]
    )
    assert report == BulkCreateReport(created=("r1", "r2"))
    assert report.ok
    assert report.total == 2
    assert repr(report) == "<BulkCreateReport created=2 existing=0 failed=0>"
    sent = sorted((call.request for call in route.calls), key=lambda r: body(r)["uuid"])
    assert_request(
        sent[0],
        "POST",
        "/analysis_results",
        json_body={
            "uuid": "r1",
            "experiment_uuid": "e1",
            "type": "T1",
            "fit": {"value": 41.4, "z": {"__type__": "complex", "__value__": [0.0, 1.0]}},
            "device_components": ["Q0"],
            "tags": ["calib"],
            "quality": "Good",
            "verified": True,
            "chisq": 1.5,
        },
    )
    assert_request(
        sent[1],
        "POST",
        "/analysis_results",
        json_body={
            "uuid": "r2",
            "experiment_uuid": "e1",
            "type": "T2",
            "fit": {"value": 2},
            "quality": "Bad",
            "verified": False,
        },
    )
    assert len(service_calls(router)) == 2


async def test_an_item_without_an_id_gets_a_uuid4_and_the_defaults(connected: Connected) -> None:
    provider, router = connected
    route = posts(router).mock(side_effect=created)
    report = await provider.experiment.create_analysis_results(
        [{"experiment_id": "e1", "result_type": "T1"}]
    )
    sent = body(route.calls.last.request)
    assert report.created == (sent["uuid"],)
    assert str(uuid.UUID(sent["uuid"], version=4)) == sent["uuid"]
    assert sent == {
        "uuid": sent["uuid"],
        "experiment_uuid": "e1",
        "type": "T1",
        "quality": "No Information",
        "verified": False,
    }


async def test_a_json_encoder_encodes_every_result_data(connected: Connected) -> None:
    class Encoder(json.JSONEncoder):
        def default(self, o: Any) -> Any:
            if isinstance(o, set):
                return sorted(o)
            return super().default(o)  # pragma: no cover

    provider, router = connected
    route = posts(router).mock(side_effect=created)
    await provider.experiment.create_analysis_results(
        [
            {
                "experiment_id": "e1",
                "result_type": "T1",
                "result_id": "a",
                "result_data": {"s": {2, 1}},
            },
            AnalysisResult(
                result_id="b", experiment_id="e1", result_type="T1", result_data={"s": {3}}
            ),
        ],
        json_encoder=Encoder,
    )
    fits = {body(c.request)["uuid"]: body(c.request)["fit"] for c in route.calls}
    assert fits == {"a": {"s": [1, 2]}, "b": {"s": [3]}}


async def test_creates_run_concurrently_within_the_in_flight_bound(
    router: respx.MockRouter,
) -> None:
    in_flight = peak = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return created(request)

    route = posts(router).mock(side_effect=slow)
    items = [{"experiment_id": "e1", "result_type": "T1", "result_id": f"r{i}"} for i in range(20)]
    async with connect(router, max_in_flight=3) as provider:
        report = await provider.experiment.create_analysis_results(items)
        assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
    assert peak == 3
    assert route.call_count == 20
    assert report.created == tuple(f"r{i}" for i in range(20))  # the order given


async def test_progress_is_monotone_and_ends_at_the_total(connected: Connected) -> None:
    provider, router = connected

    async def answer(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.001 * (hash(body(request)["uuid"]) % 5))
        return created(request) if body(request)["uuid"] != "r3" else error(404)

    posts(router).mock(side_effect=answer)
    calls: list[tuple[int, int | None]] = []
    items = [{"experiment_id": "e1", "result_type": "T1", "result_id": f"r{i}"} for i in range(9)]
    await provider.experiment.create_analysis_results(
        items, progress=lambda done, total: calls.append((done, total))
    )
    assert calls == [(done, 9) for done in range(10)]


async def test_progress_of_nothing_reports_zero_of_zero(connected: Connected) -> None:
    provider, router = connected
    calls: list[tuple[int, int | None]] = []
    report = await provider.experiment.create_analysis_results(
        [], progress=lambda done, total: calls.append((done, total))
    )
    assert report == BulkCreateReport()
    assert calls == [(0, 0)]
    assert service_calls(router) == []


async def test_existing_ids_are_counted_as_existing_and_failures_reported(
    connected: Connected,
) -> None:
    provider, router = connected

    def answer(request: httpx.Request) -> httpx.Response:
        rid = body(request)["uuid"]
        if rid in ("r1", "r3"):
            return error(409, "exists")
        if rid == "r4":
            return error(404, "no such experiment")
        return created(request)

    posts(router).mock(side_effect=answer)
    items = [{"experiment_id": "e1", "result_type": "T1", "result_id": f"r{i}"} for i in range(5)]
    report = await provider.experiment.create_analysis_results(items)
    assert report.created == ("r0", "r2")
    assert report.existing == ("r1", "r3")
    assert [rid for rid, _ in report.failed] == ["r4"]
    assert isinstance(report.failed[0][1], EntryNotFound)
    assert not report.ok
    assert report.total == 5


async def test_a_replayed_create_that_meets_409_was_created_by_this_call(
    connected: Connected,
) -> None:
    """A first attempt answered 502 may have been stored: the replay's 409 is our own create."""
    provider, router = connected
    posts(router).mock(side_effect=[error(502), error(409, "exists")])
    report = await provider.experiment.create_analysis_results(
        [{"experiment_id": "e1", "result_type": "T1", "result_id": "r1"}]
    )
    assert report == BulkCreateReport(created=("r1",))


@pytest.mark.parametrize(
    ("items", "error_type", "message"),
    [
        ([{"experiment_id": "e1"}], ValueError, r"results\[0\]: .*needs result_type"),
        ([{"result_type": "T1"}], ValueError, r"results\[0\]: .*needs experiment_id"),
        (
            [
                {"experiment_id": "e1", "result_type": "T1"},
                {"experiment_id": "e1", "result_type": ""},
            ],
            ValueError,
            r"results\[1\]: result_type must not be empty",
        ),
        (
            [{"experiment_id": "e1", "result_type": "T1", "value": 1}],
            ValueError,
            r"results\[0\]: unknown fields \['value'\]",
        ),
        (
            [{"experiment_id": "e1", "result_type": "T1", "tags": "abc"}],
            TypeError,
            r"results\[0\]: tags must be a list of strings",
        ),
        (
            [{"experiment_id": "e1", "result_type": "T1", "verified": "yes"}],
            TypeError,
            r"results\[0\]: verified must be a bool",
        ),
        (
            [{"experiment_id": "e1", "result_type": "T1", "quality": "great"}],
            ValueError,
            r"results\[0\]: invalid quality",
        ),
        (
            [{"experiment_id": "e1", "result_type": "T1", "result_data": {"f": object()}}],
            TypeError,
            r"results\[0\]: ",
        ),
        (
            [{"experiment_id": "e/1", "result_type": "T1"}],
            ValueError,
            r"results\[0\]: experiment_id must be an id",
        ),
        (["not a result"], TypeError, r"results\[0\]: an analysis result is a mapping"),
        (
            [
                {"experiment_id": "e1", "result_type": "T1", "result_id": "same"},
                {"experiment_id": "e1", "result_type": "T2", "result_id": "other"},
                {"experiment_id": "e1", "result_type": "T3", "result_id": "same"},
            ],
            ValueError,
            r"results\[2\] has the result_id of results\[0\]: 'same'",
        ),
    ],
)
async def test_every_item_is_checked_before_any_request(
    connected: Connected, items: list[Any], error_type: type[Exception], message: str
) -> None:
    provider, router = connected
    route = posts(router).mock(side_effect=created)
    calls: list[tuple[int, int | None]] = []
    with pytest.raises(error_type, match=message):
        await provider.experiment.create_analysis_results(
            items, progress=lambda done, total: calls.append((done, total))
        )
    assert route.call_count == 0
    assert service_calls(router) == []
    assert calls == []


@pytest.mark.parametrize(
    ("results", "progress"),
    [("abc", None), ({"experiment_id": "e1"}, None), (42, None), ([], "not callable")],
)
async def test_the_arguments_themselves_are_checked(
    connected: Connected, results: Any, progress: Any
) -> None:
    provider, router = connected
    with pytest.raises(TypeError):
        await provider.experiment.create_analysis_results(results, progress=progress)
    assert service_calls(router) == []


async def test_a_generator_of_items_is_taken(connected: Connected) -> None:
    provider, router = connected
    posts(router).mock(side_effect=created)
    report = await provider.experiment.create_analysis_results(
        {"experiment_id": "e1", "result_type": "T1", "result_id": f"g{i}"} for i in range(3)
    )
    assert report.created == ("g0", "g1", "g2")


async def test_a_closed_provider_raises_closed_error(router: respx.MockRouter) -> None:
    async with connect(router) as provider:
        service = provider.experiment
    with pytest.raises(ClosedError):
        await service.create_analysis_results([{"experiment_id": "e1", "result_type": "T1"}])
