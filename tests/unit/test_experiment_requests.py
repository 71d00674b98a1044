"""Every ExperimentService method sends exactly the request PROTOCOL §3 describes.

Each test pins the method, the percent-encoded path, the query (a multiset: repeated keys
kept), the JSON body (§4.3) and the headers (§1.2), and checks what the method returns.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import re
import sys
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import respx

from async_qexp import (
    AnalysisResult,
    ApiError,
    AuthError,
    Device,
    EntryExists,
    EntryNotFound,
    Experiment,
    ExperimentShareLevel,
    FileInfo,
    Provider,
    ResultQuality,
)
from async_qexp.models import parse_iso

from ._support import (
    ACCESS,
    CLIENT_APP,
    LOGIN_CALLS,
    RDB,
    RDB_HOST,
    assert_request,
    body,
    connect,
    query,
    raw_path,
    service_calls,
)

pytestmark = pytest.mark.asyncio

Connected = tuple[Provider, respx.MockRouter]

IST = timezone(timedelta(hours=5, minutes=30))
PST = timezone(timedelta(hours=-8))

EXPERIMENT_WIRE: dict[str, Any] = {
    "uuid": "e1",
    "type": "T1",
    "device_name": "ibmq_lima",
    "extra": {"qubits": [0], "z": {"__type__": "complex", "__value__": [1.0, 2.0]}},
    "parent_experiment_uuid": None,
    "jobs": ["job1"],
    "tags": None,
    "visibility": "project",
    "hub_id": "ibm-q",
    "group_id": "open",
    "project_id": "main",
    "owner": "user-1",
    "plot_names": ["fig.svg"],
    "start_time": "2022-07-29T09:49:45.123456Z",
    "end_time": None,
    "created_at": "2022-07-29T09:50:01.000321Z",
    "updated_at": "2022-07-29T09:50:01Z",
}

RESULT_WIRE: dict[str, Any] = {
    "uuid": "r1",
    "experiment_uuid": "e1",
    "type": "T1",
    "fit": {"value": 41.4, "nan": {"__type__": "safe_float", "__value__": "NaN"}},
    "device_components": ["Q0"],
    "quality": "Good",
    "verified": True,
    "tags": ["calib"],
    "chisq": 1.32,
    "device_name": "ibmq_lima",
    "created_at": "2022-07-29T09:50:01.000321Z",
}

# Names that must be percent-encoded exactly (PROTOCOL §1.1): spaces, "/" kept as a separator,
# dot segments that must survive normalisation, "?" and "#" that would end the path, unicode.
NAMES = [
    ("T1 Q0.svg", "T1%20Q0.svg"),
    ("dir/sub dir/fig.svg", "dir/sub%20dir/fig.svg"),
    ("../up.svg", "%2E%2E/up.svg"),
    ("a/./b.svg", "a/%2E/b.svg"),
    ("what?x=1#frag.svg", "what%3Fx=1%23frag.svg"),
    ("grüße ü.svg", "gr%C3%BC%C3%9Fe%20%C3%BC.svg"),
    ("100%.svg", "100%25.svg"),
    ("figure_2022-07-29T12:49:45.123456.svg", "figure_2022-07-29T12:49:45.123456.svg"),
]


def rdb(router: respx.MockRouter, method: str, *responses: httpx.Response) -> respx.Route:
    """A route for every ``method`` request to the resultsDB host, answering ``responses``."""
    route = router.route(method=method, host=RDB_HOST)
    if len(responses) == 1:
        route.mock(return_value=responses[0])
    else:
        route.mock(side_effect=list(responses))
    return route


def ok(payload: Any = None, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json={} if payload is None else payload)


def last(route: respx.Route) -> httpx.Request:
    return route.calls.last.request


# -- devices (§3.5.1, §3.5.2) ---------------------------------------------------------------------


async def test_backends_gets_devices_and_returns_device_records(connected: Connected) -> None:
    provider, router = connected
    route = rdb(router, "GET", ok({"devices": [{"name": "ibmq_lima", "qubits": 5}, {"name": "b"}]}))
    devices = await provider.experiment.backends()
    assert_request(last(route), "GET", "/devices")
    assert devices == [Device(name="ibmq_lima", details={"qubits": 5}), Device(name="b")]


async def test_device_components_with_backend_sends_device_name_and_returns_list(
    connected: Connected,
) -> None:
    provider, router = connected
    components = [
        {"device_name": "ibmq_lima", "type": "Q0"},
        {"device_name": "ibmq_lima", "type": "R1"},
        {"device_name": "other", "type": "Q9"},
    ]
    route = rdb(router, "GET", ok({"device_components": components}))
    result = await provider.experiment.device_components("ibmq_lima")
    assert_request(last(route), "GET", "/device_components", [("device_name", "ibmq_lima")])
    assert result == ["Q0", "R1"]
    assert await provider.experiment.device_components("unknown") == []


async def test_device_components_without_backend_sends_no_query_and_groups_by_backend(
    connected: Connected,
) -> None:
    provider, router = connected
    components = [
        {"device_name": "ibmq_lima", "type": "Q0"},
        {"device_name": "other", "type": "Q9"},
        {"device_name": "ibmq_lima", "type": "Q1"},
    ]
    route = rdb(router, "GET", ok({"device_components": components}))
    result = await provider.experiment.device_components()
    assert_request(last(route), "GET", "/device_components")
    assert result == {"ibmq_lima": ["Q0", "Q1"], "other": ["Q9"]}


# -- one experiment (§3.5.5) ----------------------------------------------------------------------


async def test_experiment_gets_by_id_and_maps_wire_fields(connected: Connected) -> None:
    provider, router = connected
    route = rdb(router, "GET", ok(EXPERIMENT_WIRE))
    exp = await provider.experiment.experiment("e1")
    assert_request(last(route), "GET", "/experiments/e1")
    assert isinstance(exp, Experiment)
    assert exp.experiment_id == "e1"
    assert exp.experiment_type == "T1"
    assert exp.backend_name == "ibmq_lima"
    assert exp.metadata == {"qubits": [0], "z": 1 + 2j}  # envelopes decoded (§4.4)
    assert exp.job_ids == ["job1"]
    assert exp.tags == []  # null → [] (§4.3)
    assert exp.notes == ""
    assert exp.share_level is ExperimentShareLevel.PROJECT
    assert (exp.hub, exp.group, exp.project, exp.owner) == ("ibm-q", "open", "main", "user-1")
    assert exp.figure_names == ["fig.svg"]
    assert exp.start_datetime == datetime(2022, 7, 29, 9, 49, 45, 123456, tzinfo=timezone.utc)
    assert exp.end_datetime is None
    assert exp.parent_id is None


async def test_experiment_with_custom_json_decoder_leaves_envelopes_to_it(
    connected: Connected,
) -> None:
    provider, router = connected
    seen: list[Any] = []

    class Decoder(json.JSONDecoder):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, object_hook=self.hook, **kwargs)

        @staticmethod
        def hook(obj: dict[str, Any]) -> Any:
            seen.append(obj)
            if obj.get("__type__") == "complex":
                return "custom-complex"
            return obj

    rdb(router, "GET", ok(EXPERIMENT_WIRE))
    exp = await provider.experiment.experiment("e1", json_decoder=Decoder)
    assert exp.metadata["z"] == "custom-complex"
    assert seen


ID_NAMES = [(name, encoded) for name, encoded in NAMES if "/" not in name]


@pytest.mark.parametrize(("name", "encoded"), ID_NAMES)
async def test_experiment_id_is_percent_encoded_in_the_path(
    connected: Connected, name: str, encoded: str
) -> None:
    """Ids go into the path percent-encoded (``docs/protocol.md#names-in-paths``)."""
    provider, router = connected
    route = rdb(router, "GET", ok(EXPERIMENT_WIRE))
    await provider.experiment.experiment(name)
    assert raw_path(last(route)) == f"/resultsdb/experiments/{encoded}"
    assert query(last(route)) == []


@pytest.mark.parametrize("bad", ["a/b", "..", ".", "x" * 513])
async def test_an_id_that_cannot_be_one_path_segment_is_refused_before_any_request(
    connected: Connected, bad: str
) -> None:
    """Issue 9, defect 4: ``experiment("a/b")`` used to reach the server as two segments."""
    provider, router = connected
    before = router.calls.call_count
    with pytest.raises(ValueError, match="experiment_id"):
        await provider.experiment.experiment(bad)
    with pytest.raises(ValueError, match="result_id"):
        await provider.experiment.delete_analysis_result(bad)
    assert router.calls.call_count == before


# -- experiment listing (§3.5.3, §3.7, §3.8.3) -------------------------------------------------


async def test_experiments_default_limit_is_10(connected: Connected) -> None:
    provider, router = connected
    route = rdb(router, "GET", ok({"experiments": [EXPERIMENT_WIRE]}))
    result = await provider.experiment.experiments()
    assert_request(last(route), "GET", "/experiments", [("limit", "10")])
    assert [e.experiment_id for e in result] == ["e1"]
    assert route.call_count == 1


async def test_experiments_every_filter_maps_to_its_query_parameter(connected: Connected) -> None:
    """§3.8.3: every filter argument, with repeated ``start_time`` and ``device_components``."""
    provider, router = connected
    route = rdb(router, "GET", ok({"experiments": []}))
    await provider.experiment.experiments(
        limit=7,
        device_components=["Q0", "Q1"],
        experiment_type="T",
        experiment_type_operator="like",
        backend_name="ibmq_lima",
        tags=["calib", "foo"],
        tags_operator="OR",
        start_datetime_after=datetime(2022, 7, 28, tzinfo=timezone.utc),
        start_datetime_before=datetime(2022, 7, 30, 5, 30, tzinfo=IST),
        hub="ibm-q",
        group="open",
        project="main",
        exclude_public=True,
        mine_only=True,
        parent_id="p1",
        sort_by=["experiment_type:asc", "start_datetime:desc"],
    )
    assert_request(
        last(route),
        "GET",
        "/experiments",
        [
            ("device_name", "ibmq_lima"),
            ("type", "like:T"),
            ("start_time", "ge:2022-07-28T00:00:00Z"),
            ("start_time", "le:2022-07-30T00:00:00Z"),
            ("device_components", "Q0"),
            ("device_components", "Q1"),
            ("tags", "any:calib,foo"),
            ("hub_id", "ibm-q"),
            ("group_id", "open"),
            ("project_id", "main"),
            ("parent_experiment_uuid", "p1"),
            ("visibility", "!public"),
            ("owner", "me"),
            ("sort", "type:asc,start_time:desc"),
            ("limit", "7"),
        ],
    )


async def test_experiments_query_matches_protocol_example_b2(connected: Connected) -> None:
    """Appendix B.2: the raw query is form-encoded (``:`` → %3A, ``,`` → %2C, ``!`` → %21)."""
    provider, router = connected
    route = rdb(router, "GET", ok({"experiments": []}))
    await provider.experiment.experiments(
        backend_name="ibmq_lima",
        experiment_type="T",
        experiment_type_operator="like",
        start_datetime_after="2022-07-28T00:00:00Z",
        start_datetime_before="2022-07-30T00:00:00Z",
        tags=["calib", "foo"],
        exclude_public=True,
        mine_only=True,
        sort_by=["experiment_type:asc", "start_datetime:desc"],
    )
    raw_query = last(route).url.query.decode()
    assert sorted(raw_query.split("&")) == sorted(
        [
            "device_name=ibmq_lima",
            "type=like%3AT",
            "start_time=ge%3A2022-07-28T00%3A00%3A00Z",
            "start_time=le%3A2022-07-30T00%3A00%3A00Z",
            "tags=any%3Acalib%2Cfoo",
            "limit=10",
            "visibility=%21public",
            "owner=me",
            "sort=type%3Aasc%2Cstart_time%3Adesc",
        ]
    )


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param(
            {"device_components": ["Q0", "Q1"], "device_components_operator": "contains"},
            [("device_components", "contains:Q0,Q1")],
            id="components-contains",
        ),
        pytest.param(
            {"device_components": "Q3"}, [("device_components", "Q3")], id="one-component"
        ),
        pytest.param(
            {"tags": ["a", "b"], "tags_operator": "AND"}, [("tags", "contains:a,b")], id="tags-and"
        ),
        pytest.param(
            {"tags": ["a"], "tags_operator": "or"}, [("tags", "any:a")], id="tags-or-lower-case"
        ),
        pytest.param({"public_only": True}, [("visibility", "public")], id="public-only"),
        pytest.param({"exclude_mine": True}, [("owner", "!me")], id="exclude-mine"),
        pytest.param({"experiment_type": "T1"}, [("type", "T1")], id="type-exact"),
        pytest.param({"hub": "h"}, [("hub_id", "h")], id="hub-only"),
        pytest.param({"sort_by": "start_time:asc"}, [("sort", "start_time:asc")], id="sort"),
        pytest.param(
            {"sort_by": "Experiment_Type:desc"}, [("sort", "type:desc")], id="sort-key-any-case"
        ),
        pytest.param(
            {"start_datetime_after": datetime(2022, 7, 29, 9, 49, 45, 123456, tzinfo=PST)},
            [("start_time", "ge:2022-07-29T17:49:45.123456Z")],
            id="after-only-with-microseconds",
        ),
        pytest.param(
            {"tags": [], "device_components": [], "experiment_type": "", "backend_name": ""},
            [],
            id="empty-filters-omitted",
        ),
    ],
)
async def test_experiments_filter_encodings(
    connected: Connected, kwargs: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    provider, router = connected
    route = rdb(router, "GET", ok({"experiments": []}))
    await provider.experiment.experiments(limit=3, **kwargs)
    assert_request(last(route), "GET", "/experiments", [*expected, ("limit", "3")])


async def test_experiments_limit_none_pages_through_every_marker(connected: Connected) -> None:
    """§3.7: ``limit=None`` sends no ``limit`` and follows the marker until there is none."""
    provider, router = connected
    pages = [
        ok({"experiments": [dict(EXPERIMENT_WIRE, uuid="a")], "marker": "m1"}),
        ok({"experiments": [dict(EXPERIMENT_WIRE, uuid="b")], "marker": "m2"}),
        ok({"experiments": [dict(EXPERIMENT_WIRE, uuid="c")], "marker": ""}),
    ]
    route = rdb(router, "GET", *pages)
    result = await provider.experiment.experiments(limit=None, backend_name="ibmq_lima")
    assert [e.experiment_id for e in result] == ["a", "b", "c"]
    sent = [sorted(query(call.request)) for call in route.calls]
    assert sent == [
        [("device_name", "ibmq_lima")],
        [("device_name", "ibmq_lima"), ("marker", "m1")],
        [("device_name", "ibmq_lima"), ("marker", "m2")],
    ]


async def test_experiments_limit_spanning_pages_sends_the_remaining_count(
    connected: Connected,
) -> None:
    """§3.7: each page asks for ``limit=remaining``."""
    provider, router = connected
    route = rdb(
        router,
        "GET",
        ok({"experiments": [dict(EXPERIMENT_WIRE, uuid=f"a{i}") for i in range(3)], "marker": "m"}),
        ok({"experiments": [dict(EXPERIMENT_WIRE, uuid=f"b{i}") for i in range(2)], "marker": "n"}),
    )
    result = await provider.experiment.experiments(limit=5)
    assert [e.experiment_id for e in result] == ["a0", "a1", "a2", "b0", "b1"]
    assert [sorted(query(c.request)) for c in route.calls] == [
        [("limit", "5")],
        [("limit", "2"), ("marker", "m")],
    ]


async def test_experiments_stops_without_marker(connected: Connected) -> None:
    provider, router = connected
    route = rdb(router, "GET", ok({"experiments": [EXPERIMENT_WIRE], "marker": None}))
    result = await provider.experiment.experiments(limit=50)
    assert len(result) == 1
    assert route.call_count == 1


# -- lazy iteration (Pager) ------------------------------------------------------------------------


async def test_iter_experiments_is_lazy_until_consumed(connected: Connected) -> None:
    provider, router = connected
    route = rdb(router, "GET", ok({"experiments": [EXPERIMENT_WIRE]}))
    pager = provider.experiment.iter_experiments(backend_name="ibmq_lima")
    await asyncio.sleep(0.01)
    assert route.call_count == 0
    items = [e async for e in pager]
    assert [e.experiment_id for e in items] == ["e1"]
    assert route.call_count == 1
    assert query(last(route)) == [("device_name", "ibmq_lima")]  # no limit: server's page size


async def test_iter_experiments_page_size_and_limit(connected: Connected) -> None:
    provider, router = connected
    route = rdb(
        router,
        "GET",
        ok({"experiments": [dict(EXPERIMENT_WIRE, uuid=f"a{i}") for i in range(2)], "marker": "m"}),
        ok({"experiments": [dict(EXPERIMENT_WIRE, uuid=f"b{i}") for i in range(2)], "marker": "n"}),
        ok({"experiments": [dict(EXPERIMENT_WIRE, uuid="c0")], "marker": "o"}),
    )
    pager = provider.experiment.iter_experiments(page_size=2, limit=5)
    items = await pager.collect()
    assert [e.experiment_id for e in items] == ["a0", "a1", "b0", "b1", "c0"]
    assert [sorted(query(c.request)) for c in route.calls] == [
        [("limit", "2")],
        [("limit", "2"), ("marker", "m")],
        [("limit", "1"), ("marker", "n")],
    ]
    assert pager.pages_fetched == 3


async def test_iter_experiments_breaking_early_and_aclose_cancels_the_prefetch(
    connected: Connected,
) -> None:
    provider, router = connected
    entered = asyncio.Event()
    cancelled = asyncio.Event()

    async def second_page(request: httpx.Request) -> httpx.Response:
        entered.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return ok({"experiments": []})  # pragma: no cover - never reached

    route = router.route(method="GET", host=RDB_HOST)
    route.side_effect = [
        ok({"experiments": [dict(EXPERIMENT_WIRE, uuid="a"), EXPERIMENT_WIRE], "marker": "m"}),
        second_page,
    ]
    pager = provider.experiment.iter_experiments(page_size=2)
    async for first in pager:
        assert first.experiment_id == "a"
        break
    await asyncio.wait_for(entered.wait(), 1)  # the next page is being prefetched
    await pager.aclose()
    assert cancelled.is_set()
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
    with pytest.raises(StopAsyncIteration):
        await pager.__anext__()
    assert route.call_count == 1  # respx records a call only once it is answered


async def test_iter_experiments_as_async_context_manager_closes_the_prefetch(
    connected: Connected,
) -> None:
    provider, router = connected
    cancelled = asyncio.Event()

    async def slow_page(request: httpx.Request) -> httpx.Response:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return ok({"experiments": []})  # pragma: no cover

    router.route(method="GET", host=RDB_HOST).side_effect = [
        ok({"experiments": [EXPERIMENT_WIRE], "marker": "m"}),
        slow_page,
    ]
    async with provider.experiment.iter_experiments() as experiments:
        async for exp in experiments:
            assert exp.experiment_id == "e1"
            break
        await asyncio.sleep(0.01)
    assert cancelled.is_set()
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


@pytest.mark.parametrize(
    ("call", "typo", "meant"),
    [
        ("experiments", "backend", "'backend_name'"),
        ("experiments", "tag", "'tags'"),
        ("iter_experiments", "experiment_typ", "'experiment_type'"),
        ("analysis_results", "experiment", "'experiment_id'"),
        ("iter_analysis_results", "qualty", "'quality'"),
    ],
)
async def test_an_unknown_filter_is_a_type_error_naming_the_close_matches(
    connected: Connected, call: str, typo: str, meant: str
) -> None:
    """Issue 11: a typo'd filter used to be dropped with an INFO line (and list everything)."""
    provider, router = connected
    before = router.calls.call_count
    with pytest.raises(TypeError, match=f"'{typo}' \\(did you mean {meant}") as info:
        getattr(provider.experiment, call)(**{typo: "x"})
    assert f"{call.removeprefix('iter_')}()" in str(info.value)
    with pytest.raises(TypeError, match="'zzz'; it takes backend_name, "):
        getattr(provider.experiment, call)(zzz=1)
    assert router.calls.call_count == before


async def test_the_blocking_twins_reject_unknown_filters_the_same_way() -> None:
    from async_qexp.sync import SyncExperimentService

    for call, typo in (("experiments", "backend"), ("analysis_results", "tag")):
        with pytest.raises(TypeError, match="did you mean"):
            getattr(SyncExperimentService, call)(None, **{typo: "x"})
        assert "filters" not in inspect.signature(getattr(SyncExperimentService, call)).parameters


# -- create / update / delete experiment (§3.5.4, §3.5.6, §3.5.7, §4.3) ---------------------------


async def test_create_experiment_sends_the_full_body(connected: Connected) -> None:
    provider, router = connected
    route = rdb(router, "POST", ok({"uuid": "e1"}, status=201))
    with pytest.warns(UserWarning, match="'unsupported': ignored") as warned:
        exp_id = await provider.experiment.create_experiment(
            "T1",
            "ibmq_lima",
            metadata={"qubits": [0], "z": 1 + 2j, "bad": float("nan"), "s": {1}},
            experiment_id="e1",
            parent_id="p1",
            job_ids=["job1", "job2"],
            tags=["calib"],
            notes="some notes",
            share_level="Group",
            start_datetime=datetime(2022, 7, 29, 15, 19, 45, 123456, tzinfo=IST),
            end_datetime=datetime(2022, 7, 29, 2, 0, tzinfo=PST),
            unsupported="ignored",
        )
    assert warned[0].filename == __file__  # the warning points at the caller
    assert exp_id == "e1"
    assert_request(
        last(route),
        "POST",
        "/experiments",
        json_body={
            "uuid": "e1",
            "type": "T1",
            "device_name": "ibmq_lima",
            "extra": {
                "qubits": [0],
                "z": {"__type__": "complex", "__value__": [1.0, 2.0]},
                "bad": {"__type__": "safe_float", "__value__": "NaN"},
                "s": {"__type__": "set", "__value__": [1]},
            },
            "parent_experiment_uuid": "p1",
            "hub_id": "ibm-q",
            "group_id": "open",
            "project_id": "main",
            "visibility": "group",
            "tags": ["calib"],
            "jobs": ["job1", "job2"],
            "notes": "some notes",
            "start_time": "2022-07-29T09:49:45.123456Z",
            "end_time": "2022-07-29T10:00:00Z",
        },
    )


async def test_create_experiment_minimal_body_generates_a_uuid4(connected: Connected) -> None:
    """§4.3: only truthy values; the hub/group/project of the provider is always sent."""
    provider, router = connected
    route = rdb(router, "POST", ok({}, status=201))
    exp_id = await provider.experiment.create_experiment("T1", "ibmq_lima", metadata={}, tags=[])
    sent = body(last(route))
    assert str(uuid.UUID(sent["uuid"], version=4)) == sent["uuid"]
    assert exp_id == sent["uuid"]  # no uuid in the response: the one sent
    assert sent == {
        "uuid": sent["uuid"],
        "type": "T1",
        "device_name": "ibmq_lima",
        "hub_id": "ibm-q",
        "group_id": "open",
        "project_id": "main",
    }


async def test_create_experiment_uses_the_selected_hub_group_project(
    router: respx.MockRouter,
) -> None:
    async with connect(router, hub="hub-a") as provider:
        route = rdb(router, "POST", ok({"uuid": "e9"}, status=201))
        assert await provider.experiment.create_experiment("T1", "b", experiment_id="e9") == "e9"
        sent = body(last(route))
        assert (sent["hub_id"], sent["group_id"], sent["project_id"]) == (
            "hub-a",
            "group-1",
            "proj-x",
        )


async def test_create_experiment_returns_the_uuid_the_service_answers(
    connected: Connected,
) -> None:
    provider, router = connected
    rdb(router, "POST", ok({"uuid": "server-side"}, status=201))
    assert await provider.experiment.create_experiment("T1", "b", experiment_id="e1") == (
        "server-side"
    )


async def test_create_experiment_with_custom_json_encoder(connected: Connected) -> None:
    provider, router = connected

    class Encoder(json.JSONEncoder):
        def default(self, o: Any) -> Any:
            if isinstance(o, complex):
                return {"re": o.real, "im": o.imag}
            return super().default(o)

    route = rdb(router, "POST", ok({"uuid": "e1"}, status=201))
    await provider.experiment.create_experiment(
        "T1", "b", metadata={"z": 1j}, experiment_id="e1", json_encoder=Encoder
    )
    assert body(last(route))["extra"] == {"z": {"re": 0.0, "im": 1.0}}


async def test_update_experiment_sends_only_the_given_fields(connected: Connected) -> None:
    provider, router = connected
    route = rdb(router, "PUT", ok())
    result = await provider.experiment.update_experiment(
        "e 1",
        metadata={"a": 1},
        job_ids=["j"],
        notes="n",
        tags=["t"],
        share_level=ExperimentShareLevel.PUBLIC,
        end_datetime=datetime(2022, 7, 29, 9, 49, 45, tzinfo=timezone.utc),
    )
    assert result is None
    assert_request(
        last(route),
        "PUT",
        "/experiments/e%201",
        json_body={
            "extra": {"a": 1},
            "jobs": ["j"],
            "notes": "n",
            "tags": ["t"],
            "visibility": "public",
            "end_time": "2022-07-29T09:49:45Z",
        },
    )


async def test_update_experiment_with_nothing_sends_an_empty_object(connected: Connected) -> None:
    """§3.5.6: an empty body ``{}`` is sent (and must be accepted)."""
    provider, router = connected
    route = rdb(router, "PUT", ok())
    await provider.experiment.update_experiment("e1")
    assert_request(last(route), "PUT", "/experiments/e1", json_body={})
    assert last(route).content == b"{}"


async def test_delete_experiment_returns_true(connected: Connected) -> None:
    provider, router = connected
    route = rdb(router, "DELETE", ok())
    assert await provider.experiment.delete_experiment("e1") is True
    assert_request(last(route), "DELETE", "/experiments/e1")


async def test_delete_experiment_404_returns_false_with_a_warning(
    connected: Connected, caplog: pytest.LogCaptureFixture
) -> None:
    provider, router = connected
    rdb(router, "DELETE", httpx.Response(404, json={"error": {"code": 1, "message": "nope"}}))
    with caplog.at_level(logging.WARNING, logger="async_qexp"):
        assert await provider.experiment.delete_experiment("e1") is False
    assert any(r.levelno == logging.WARNING and "e1" in r.getMessage() for r in caplog.records)


async def test_delete_experiment_other_error_raises(connected: Connected) -> None:
    provider, router = connected
    rdb(router, "DELETE", httpx.Response(403, json={"error": {"code": 7, "message": "no"}}))
    with pytest.raises(AuthError):
        await provider.experiment.delete_experiment("e1")


# -- analysis results (§3.5.8 - §3.5.13) -----------------------------------------------------------


async def test_analysis_result_gets_by_id_and_maps_wire_fields(connected: Connected) -> None:
    provider, router = connected
    route = rdb(router, "GET", ok(RESULT_WIRE))
    result = await provider.experiment.analysis_result("r 1")
    assert_request(last(route), "GET", "/analysis_results/r%201")
    assert isinstance(result, AnalysisResult)
    assert result.result_id == "r1"
    assert result.experiment_id == "e1"
    assert result.result_type == "T1"
    assert result.result_data["value"] == 41.4
    assert result.result_data["nan"] != result.result_data["nan"]  # NaN
    assert result.device_components == ["Q0"]
    assert result.quality is ResultQuality.GOOD
    assert result.verified is True
    assert result.tags == ["calib"]
    assert result.chisq == 1.32
    assert result.backend_name == "ibmq_lima"


async def test_analysis_results_default_limit_is_10(connected: Connected) -> None:
    provider, router = connected
    route = rdb(router, "GET", ok({"analysis_results": [RESULT_WIRE]}))
    results = await provider.experiment.analysis_results()
    assert_request(last(route), "GET", "/analysis_results", [("limit", "10")])
    assert [r.result_id for r in results] == ["r1"]


async def test_analysis_results_every_filter_maps_to_its_query_parameter(
    connected: Connected,
) -> None:
    provider, router = connected
    route = rdb(router, "GET", ok({"analysis_results": []}))
    await provider.experiment.analysis_results(
        limit=4,
        device_components=["Q0", "Q1"],
        device_components_operator="contains",
        experiment_id="e1",
        result_type="T1",
        result_type_operator="like",
        backend_name="ibmq_lima",
        quality=["good", ResultQuality.BAD, "Unknown"],
        verified=False,
        tags=["a", "b"],
        tags_operator="AND",
        creation_datetime_after=datetime(2022, 7, 29, 15, 30, tzinfo=IST),
        creation_datetime_before=datetime(2022, 7, 29, 10, 0, 0, 1, tzinfo=timezone.utc),
        sort_by=["result_type:asc", "creation_datetime:desc", "device_components:asc"],
    )
    assert_request(
        last(route),
        "GET",
        "/analysis_results",
        [
            ("device_name", "ibmq_lima"),
            ("device_components", "contains:Q0,Q1"),
            ("experiment_uuid", "e1"),
            ("type", "like:T1"),
            ("quality", "in:Good,Bad,No Information"),
            ("verified", "false"),
            ("tags", "contains:a,b"),
            ("created_at", "ge:2022-07-29T10:00:00Z"),
            ("created_at", "le:2022-07-29T10:00:00.000001Z"),
            ("sort", "type:asc,created_at:desc,device_components:asc"),
            ("limit", "4"),
        ],
    )


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param({"quality": "good"}, [("quality", "Good")], id="quality-single"),
        pytest.param(
            {"quality": ResultQuality.UNKNOWN}, [("quality", "No Information")], id="quality-enum"
        ),
        pytest.param({"quality": ["bad"]}, [("quality", "in:Bad")], id="quality-list"),
        pytest.param({"verified": True}, [("verified", "true")], id="verified-true"),
        pytest.param(
            {"device_components": ["Q0", "R1"]},
            [("device_components", "Q0"), ("device_components", "R1")],
            id="components-repeated",
        ),
        pytest.param({"tags": ["x"]}, [("tags", "any:x")], id="tags-default-or"),
        pytest.param({"result_type": "T1"}, [("type", "T1")], id="type-exact"),
    ],
)
async def test_analysis_results_filter_encodings(
    connected: Connected, kwargs: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    provider, router = connected
    route = rdb(router, "GET", ok({"analysis_results": []}))
    await provider.experiment.analysis_results(limit=2, **kwargs)
    assert_request(last(route), "GET", "/analysis_results", [*expected, ("limit", "2")])


async def test_analysis_results_limit_none_pages_with_the_marker(connected: Connected) -> None:
    provider, router = connected
    route = rdb(
        router,
        "GET",
        ok({"analysis_results": [dict(RESULT_WIRE, uuid="a")], "marker": "m1"}),
        ok({"analysis_results": [dict(RESULT_WIRE, uuid="b")]}),
    )
    results = await provider.experiment.analysis_results(limit=None, experiment_id="e1")
    assert [r.result_id for r in results] == ["a", "b"]
    assert [sorted(query(c.request)) for c in route.calls] == [
        [("experiment_uuid", "e1")],
        [("experiment_uuid", "e1"), ("marker", "m1")],
    ]


async def test_iter_analysis_results_is_lazy_and_pages(connected: Connected) -> None:
    provider, router = connected
    route = rdb(
        router,
        "GET",
        ok({"analysis_results": [dict(RESULT_WIRE, uuid="a")], "marker": "m1"}),
        ok({"analysis_results": [dict(RESULT_WIRE, uuid="b"), dict(RESULT_WIRE, uuid="c")]}),
    )
    pager = provider.experiment.iter_analysis_results(page_size=5, limit=2, verified=True)
    assert route.call_count == 0
    results = [r.result_id async for r in pager]
    assert results == ["a", "b"]
    assert [sorted(query(c.request)) for c in route.calls] == [
        [("limit", "2"), ("verified", "true")],
        [("limit", "1"), ("marker", "m1"), ("verified", "true")],
    ]


async def test_create_analysis_result_sends_the_full_body(connected: Connected) -> None:
    provider, router = connected
    route = rdb(router, "POST", ok({"uuid": "r1"}, status=201))
    with pytest.warns(UserWarning, match="create_analysis_result"):
        result_id = await provider.experiment.create_analysis_result(
            "e1",
            {"value": 41.4, "inf": float("inf"), "z": 1j},
            "T1",
            device_components=["Q0", "Q1"],
            tags=["calib"],
            quality="good",
            verified=True,
            result_id="r1",
            chisq=1.32,
            unsupported="x",
        )
    assert result_id == "r1"
    assert_request(
        last(route),
        "POST",
        "/analysis_results",
        json_body={
            "uuid": "r1",
            "experiment_uuid": "e1",
            "type": "T1",
            "fit": {
                "value": 41.4,
                "inf": {"__type__": "safe_float", "__value__": "Infinity"},
                "z": {"__type__": "complex", "__value__": [0.0, 1.0]},
            },
            "device_components": ["Q0", "Q1"],
            "tags": ["calib"],
            "quality": "Good",
            "verified": True,
            "chisq": 1.32,
        },
    )


async def test_create_analysis_result_defaults_keep_quality_and_verified_false(
    connected: Connected,
) -> None:
    """``quality`` defaults to ``No Information`` and ``verified=false`` is sent; empty values
    are not; a single component is wrapped in a list; ``chisq=0.0`` is a value, and is sent
    (issue 9, defect 3: it used to be dropped)."""
    provider, router = connected
    route = rdb(router, "POST", ok({}, status=201))
    result_id = await provider.experiment.create_analysis_result(
        "e1", {}, "T1", device_components="Q0", chisq=0.0
    )
    sent = body(last(route))
    assert result_id == sent["uuid"]
    assert str(uuid.UUID(sent["uuid"], version=4)) == sent["uuid"]
    assert sent == {
        "uuid": sent["uuid"],
        "experiment_uuid": "e1",
        "type": "T1",
        "device_components": ["Q0"],
        "quality": "No Information",
        "verified": False,
        "chisq": 0.0,
    }


async def test_update_analysis_result_keeps_uuid_in_the_body(connected: Connected) -> None:
    """§3.5.11 (0.2.8+): the PUT body carries ``uuid``; ``verified=False`` is kept."""
    provider, router = connected
    route = rdb(router, "PUT", ok())
    await provider.experiment.update_analysis_result(
        "r1",
        result_data={"value": 1},
        tags=["t"],
        quality=ResultQuality.BAD,
        verified=False,
        chisq=2.5,
    )
    assert_request(
        last(route),
        "PUT",
        "/analysis_results/r1",
        json_body={
            "fit": {"value": 1},
            "tags": ["t"],
            "quality": "Bad",
            "verified": False,
            "chisq": 2.5,
            "uuid": "r1",
        },
    )


async def test_update_analysis_result_with_nothing_sends_only_the_uuid(
    connected: Connected,
) -> None:
    provider, router = connected
    route = rdb(router, "PUT", ok())
    await provider.experiment.update_analysis_result("r1")
    assert_request(last(route), "PUT", "/analysis_results/r1", json_body={"uuid": "r1"})


async def test_bulk_update_analysis_results_sends_one_put(connected: Connected) -> None:
    """§3.5.13: ``PUT /analysis_results/bulkupdate`` with ``{"analysis_results": [...]}``."""
    provider, router = connected
    route = rdb(router, "PUT", ok())
    await provider.experiment.bulk_update_analysis_results(
        [
            {"result_id": "r1", "quality": "good", "verified": True},
            {"result_id": "r2", "result_data": {"x": 1j}, "tags": ["a"], "chisq": 0.5},
            {"result_id": "r3", "verified": False},
        ]
    )
    assert route.call_count == 1
    assert_request(
        last(route),
        "PUT",
        "/analysis_results/bulkupdate",
        json_body={
            "analysis_results": [
                {"quality": "Good", "verified": True, "uuid": "r1"},
                {
                    "fit": {"x": {"__type__": "complex", "__value__": [0.0, 1.0]}},
                    "tags": ["a"],
                    "chisq": 0.5,
                    "uuid": "r2",
                },
                {"verified": False, "uuid": "r3"},
            ]
        },
    )


async def test_bulk_update_with_no_updates_sends_nothing(connected: Connected) -> None:
    provider, router = connected
    await provider.experiment.bulk_update_analysis_results([])
    assert service_calls(router) == []


async def test_delete_analysis_result_true_then_false_on_404(
    connected: Connected, caplog: pytest.LogCaptureFixture
) -> None:
    provider, router = connected
    route = rdb(router, "DELETE", ok(), httpx.Response(404, json={"error": {"message": "gone"}}))
    assert await provider.experiment.delete_analysis_result("r1") is True
    assert_request(last(route), "DELETE", "/analysis_results/r1")
    with caplog.at_level(logging.WARNING, logger="async_qexp"):
        assert await provider.experiment.delete_analysis_result("r1") is False
    assert any(r.levelno == logging.WARNING for r in caplog.records)


# -- figures (§3.10.1, §3.10.2, §4.6) --------------------------------------------------------------

BLOB = "https://blob.example.test/_blob/put/7d6e?sig=abc"


def signed_upload(
    router: respx.MockRouter, url: str = BLOB, status: int = 200, figures: list[str] | None = None
) -> tuple[respx.Route, respx.Route]:
    """Mock the figure flow: the experiment's record (listing ``figures``), the URL request on
    resultsDB, and the PUT to ``url``."""
    router.get(f"{RDB}/experiments/e1").mock(
        return_value=ok({**EXPERIMENT_WIRE, "plot_names": figures or []})
    )
    ask = rdb(router, "GET", ok({"url": url}))
    put = router.put(url__startswith=url.split("?")[0]).mock(return_value=httpx.Response(status))
    return ask, put


@pytest.mark.parametrize(("name", "encoded"), NAMES)
async def test_create_figure_two_step_signed_url_flow(
    connected: Connected, name: str, encoded: str
) -> None:
    """GET the record (no figure of that name), GET ``…/plots/upload/{name}`` → ``{"url"}``,
    then PUT the raw bytes there (``docs/protocol.md#figures``)."""
    provider, router = connected
    ask, put = signed_upload(router)
    svg = b"<svg>\x00\xff</svg>"
    result = await provider.experiment.create_figure("e1", svg, figure_name=name)
    assert result == (name, len(svg))
    assert_request(service_calls(router)[0], "GET", "/experiments/e1")
    assert_request(last(ask), "GET", f"/experiments/e1/plots/upload/{encoded}")
    upload = last(put)
    assert upload.method == "PUT"
    assert str(upload.url) == BLOB  # used verbatim, query included
    assert upload.content == svg
    assert upload.headers["Content-Type"] == "application/json"
    assert upload.headers["X-Qx-Client-Application"] == CLIENT_APP
    assert len(service_calls(router)) == 3


async def test_create_figure_appends_svg_to_the_name(connected: Connected) -> None:
    provider, router = connected
    ask, _ = signed_upload(router)
    name, size = await provider.experiment.create_figure("e1", b"<svg/>", figure_name="T1 plot")
    assert (name, size) == ("T1 plot.svg", 6)
    assert raw_path(last(ask)) == "/resultsdb/experiments/e1/plots/upload/T1%20plot.svg"


async def test_create_figure_from_a_file_path_uses_the_path_as_name(
    connected: Connected, tmp_path: Any
) -> None:
    """§4.6: a ``str`` figure is a file path, and the path string becomes the name."""
    provider, router = connected
    ask, put = signed_upload(router)
    path = tmp_path / "my fig.svg"
    path.write_bytes(b"<svg>file</svg>")
    name, size = await provider.experiment.create_figure("e1", str(path))
    assert (name, size) == (str(path), 15)
    assert last(put).content == b"<svg>file</svg>"
    expected = "/".join(
        p.replace(" ", "%20") for p in str(path).split("/")
    )  # tmp paths have no other special characters
    assert raw_path(last(ask)) == f"/resultsdb/experiments/e1/plots/upload/{expected}"


async def test_create_figure_generates_a_timestamped_svg_name(connected: Connected) -> None:
    provider, router = connected
    signed_upload(router)
    before = datetime.now()
    name, _ = await provider.experiment.create_figure("e1", b"<svg/>")
    match = re.fullmatch(r"figure_(.+)\.svg", name)
    assert match is not None
    stamp = parse_iso(match[1])
    assert before - timedelta(seconds=1) <= stamp <= datetime.now() + timedelta(seconds=1)


@pytest.mark.parametrize("status", [201, 204])
async def test_create_figure_non_200_upload_raises(connected: Connected, status: int) -> None:
    """§3.10.1: the PUT must answer exactly 200."""
    provider, router = connected
    signed_upload(router, status=status)
    with pytest.raises(ApiError) as info:
        await provider.experiment.create_figure("e1", b"<svg/>", "f.svg")
    assert info.value.status == status


async def test_create_figure_upload_error_status_raises(connected: Connected) -> None:
    provider, router = connected
    signed_upload(router, status=403)
    with pytest.raises(AuthError):
        await provider.experiment.create_figure("e1", b"<svg/>", "f.svg")


async def test_create_figure_unknown_experiment_raises_entry_not_found(
    connected: Connected,
) -> None:
    provider, router = connected
    rdb(router, "GET", httpx.Response(404, json={"error": {"code": 404, "message": "no exp"}}))
    with pytest.raises(EntryNotFound):
        await provider.experiment.create_figure("e1", b"<svg/>", "f.svg")
    assert len(service_calls(router)) == 1
    with pytest.raises(EntryNotFound):
        await provider.experiment.upload_figure("e1", b"<svg/>", "f.svg")


async def test_update_figure_uses_the_same_flow(connected: Connected) -> None:
    provider, router = connected
    ask, put = signed_upload(router, figures=["f.svg"])
    assert await provider.experiment.update_figure("e1", b"<svg2/>", "f") == ("f.svg", 7)
    assert_request(last(ask), "GET", "/experiments/e1/plots/upload/f.svg")
    assert last(put).content == b"<svg2/>"


async def test_create_figure_of_an_existing_name_is_refused_as_the_reference_does(
    connected: Connected,
) -> None:
    """Issue 10: ours overwrote; the reference raises ``EntryExists`` (and sends nothing)."""
    provider, router = connected
    ask, put = signed_upload(router, figures=["f.svg"])
    with pytest.raises(EntryExists, match=r"f\.svg"):
        await provider.experiment.create_figure("e1", b"<svg/>", "f")
    assert ask.call_count == 0
    assert put.call_count == 0


async def test_update_figure_of_a_missing_name_is_refused_as_the_reference_does(
    connected: Connected,
) -> None:
    """Issue 10: ours created it; the reference raises ``EntryNotFound``."""
    provider, router = connected
    ask, put = signed_upload(router, figures=["other.svg"])
    with pytest.raises(EntryNotFound, match=r"f\.svg"):
        await provider.experiment.update_figure("e1", b"<svg/>", "f")
    assert ask.call_count == 0
    assert put.call_count == 0


async def test_upload_figure_replaces_without_asking(connected: Connected) -> None:
    """What ``ExperimentData.save()`` uses: two requests, whatever is stored."""
    provider, router = connected
    ask, _put = signed_upload(router, figures=["f.svg"])
    assert await provider.experiment.upload_figure("e1", b"<svg/>", "f.svg") == ("f.svg", 6)
    assert [r.method for r in service_calls(router)] == ["GET", "PUT"]
    assert_request(last(ask), "GET", "/experiments/e1/plots/upload/f.svg")


async def test_figure_returns_the_bytes(connected: Connected) -> None:
    provider, router = connected
    route = rdb(router, "GET", httpx.Response(200, content=b"<svg>x</svg>"))
    data = await provider.experiment.figure("e1", "dir/a b.svg")
    assert data == b"<svg>x</svg>"
    assert_request(last(route), "GET", "/experiments/e1/plots/dir/a%20b.svg")


async def test_figure_with_file_name_writes_the_file_and_returns_the_size(
    connected: Connected, tmp_path: Any
) -> None:
    provider, router = connected
    rdb(router, "GET", httpx.Response(200, content=b"<svg>x</svg>"))
    target = tmp_path / "out.svg"
    assert await provider.experiment.figure("e1", "a.svg", file_name=target) == 12
    assert target.read_bytes() == b"<svg>x</svg>"


async def test_figure_missing_raises_entry_not_found(connected: Connected) -> None:
    provider, router = connected
    rdb(router, "GET", httpx.Response(404, json={"error": {"code": 1, "message": "no fig"}}))
    with pytest.raises(EntryNotFound, match="no fig"):
        await provider.experiment.figure("e1", "a.svg")


async def test_delete_figure_true_then_false_on_404(connected: Connected) -> None:
    provider, router = connected
    route = rdb(router, "DELETE", ok(), httpx.Response(404))
    assert await provider.experiment.delete_figure("e1", "../a b.svg") is True
    assert_request(last(route), "DELETE", "/experiments/e1/plots/%2E%2E/a%20b.svg")
    assert await provider.experiment.delete_figure("e1", "a.svg") is False


# -- files (§3.10.4, §4.7) -------------------------------------------------------------------------


async def test_files_lists_file_infos(connected: Connected) -> None:
    provider, router = connected
    route = rdb(
        router,
        "GET",
        ok(
            {
                "files": [
                    {"Key": "data.json", "Size": 12, "LastModified": "2022-07-29T09:49:45Z"},
                    {"Key": "b.yaml", "Size": 3, "LastModified": None},
                ]
            }
        ),
    )
    files = await provider.experiment.files("e1")
    assert_request(last(route), "GET", "/experiments/e1/files")
    assert files == [
        FileInfo(
            name="data.json",
            size=12,
            last_modified=datetime(2022, 7, 29, 9, 49, 45, tzinfo=timezone.utc),
        ),
        FileInfo(name="b.yaml", size=3),
    ]


async def test_file_upload_of_a_dict_writes_json_and_appends_json(connected: Connected) -> None:
    provider, router = connected
    ask = rdb(router, "GET", ok({"url": BLOB}))
    put = router.put(url__startswith=BLOB.split("?")[0]).mock(return_value=httpx.Response(200))
    name = await provider.experiment.file_upload("e1", "data file", {"a": 1, "z": 1j})
    assert name == "data file.json"
    assert_request(last(ask), "GET", "/experiments/e1/files/upload/data%20file.json")
    upload = last(put)
    assert upload.headers["Content-Type"] == "application/json"
    assert json.loads(upload.content) == {
        "a": 1,
        "z": {"__type__": "complex", "__value__": [0.0, 1.0]},
    }


@pytest.mark.parametrize(
    ("file_name", "data", "stored_name", "payload"),
    [
        ("raw.zip", b"PK\x03\x04", "raw.zip", b"PK\x03\x04"),
        ("text", "as is", "text.json", b"as is"),
        ("list.json", [1, 2], "list.json", b"[1, 2]"),
    ],
)
async def test_file_upload_naming_rule_and_payloads(
    connected: Connected, file_name: str, data: Any, stored_name: str, payload: bytes
) -> None:
    provider, router = connected
    ask = rdb(router, "GET", ok({"url": BLOB}))
    put = router.put(url__startswith=BLOB.split("?")[0]).mock(return_value=httpx.Response(200))
    assert await provider.experiment.file_upload("e1", file_name, data) == stored_name
    assert raw_path(last(ask)) == f"/resultsdb/experiments/e1/files/upload/{stored_name}"
    assert last(put).content == payload


async def test_file_yaml_round_trip_when_pyyaml_is_installed(connected: Connected) -> None:
    pytest.importorskip("yaml")
    provider, router = connected
    ask = rdb(router, "GET", ok({"url": BLOB}), httpx.Response(200, content=b"a: 1\n"))
    put = router.put(url__startswith=BLOB.split("?")[0]).mock(return_value=httpx.Response(200))
    assert await provider.experiment.file_upload("e1", "cfg.yaml", {"a": [1, 2]}) == "cfg.yaml"
    assert last(put).content == b"a:\n- 1\n- 2\n"
    assert await provider.experiment.file_download("e1", "cfg.yaml") == {"a": 1}
    assert raw_path(last(ask)) == "/resultsdb/experiments/e1/files/cfg.yaml"


async def test_file_yaml_without_pyyaml_is_a_value_error(
    connected: Connected, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider, router = connected
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml → ImportError
    with pytest.raises(ValueError, match="PyYAML"):
        await provider.experiment.file_upload("e1", "cfg.yaml", {"a": 1})
    assert service_calls(router) == []


async def test_file_download_json_decodes_envelopes(connected: Connected) -> None:
    provider, router = connected
    route = rdb(
        router,
        "GET",
        httpx.Response(200, content=b'{"z": {"__type__": "complex", "__value__": [1, 2]}}'),
    )
    assert await provider.experiment.file_download("e1", "data") == {"z": 1 + 2j}
    assert_request(last(route), "GET", "/experiments/e1/files/data.json")


async def test_file_download_other_suffixes_return_bytes(connected: Connected) -> None:
    provider, router = connected
    route = rdb(router, "GET", httpx.Response(200, content=b"PK\x03\x04"))
    assert await provider.experiment.file_download("e1", "d/x.zip") == b"PK\x03\x04"
    assert raw_path(last(route)) == "/resultsdb/experiments/e1/files/d/x.zip"


async def test_file_delete_true_then_false_on_404(connected: Connected) -> None:
    provider, router = connected
    route = rdb(router, "DELETE", ok(), httpx.Response(404))
    assert await provider.experiment.file_delete("e1", "data") is True
    assert_request(last(route), "DELETE", "/experiments/e1/files/data.json")
    assert await provider.experiment.file_delete("e1", "data.yaml") is False


async def test_experiment_has_file_applies_the_naming_rule(connected: Connected) -> None:
    provider, router = connected
    route = rdb(router, "GET", ok({"files": [{"Key": "data.json", "Size": 1}]}))
    assert await provider.experiment.experiment_has_file("e1", "data") is True
    assert await provider.experiment.experiment_has_file("e1", "data.json") is True
    assert await provider.experiment.experiment_has_file("e1", "other") is False
    assert_request(last(route), "GET", "/experiments/e1/files")


# -- the access token and foreign origins (§1.2, §3.10.1) -----------------------------------------


async def test_signed_url_on_a_foreign_host_gets_no_access_token(connected: Connected) -> None:
    provider, router = connected
    _, put = signed_upload(router, url="https://storage.elsewhere.test/bucket/f.svg?X-Sig=1")
    await provider.experiment.create_figure("e1", b"<svg/>", "f.svg")
    assert "X-Access-Token" not in last(put).headers
    assert provider.http.sends_token_to("https://storage.elsewhere.test/x") is False


async def test_signed_url_on_the_resultsdb_host_gets_the_access_token(
    connected: Connected,
) -> None:
    provider, router = connected
    url = f"https://{RDB_HOST}/_blob/put/7d6e?sig=abc"
    router.route(method="PUT", host=RDB_HOST).mock(return_value=httpx.Response(200))
    router.get(f"{RDB}/experiments/e1").mock(return_value=ok(EXPERIMENT_WIRE))
    rdb(router, "GET", ok({"url": url}))
    await provider.experiment.create_figure("e1", b"<svg/>", "f.svg")
    upload = service_calls(router)[-1]
    assert upload.method == "PUT"
    assert upload.headers["X-Access-Token"] == ACCESS


async def test_same_host_other_port_or_scheme_is_foreign(connected: Connected) -> None:
    provider, _ = connected
    http = provider.http
    assert http.sends_token_to(f"{RDB}/experiments")
    assert http.sends_token_to(f"https://{RDB_HOST}:443/x")
    assert not http.sends_token_to(f"http://{RDB_HOST}/x")
    assert not http.sends_token_to(f"https://{RDB_HOST}:8443/x")
    assert not http.sends_token_to(f"https://evil.{RDB_HOST}/x")


# -- preferences ----------------------------------------------------------------------------------


async def test_save_preferences_writes_the_file_and_a_new_provider_reads_it(
    router: respx.MockRouter, tmp_path: Any
) -> None:
    path = tmp_path / "prefs" / "preferences.json"
    async with connect(router, preferences_path=path) as provider:
        assert provider.experiment.preferences == {}
        await provider.experiment.save_preferences(auto_save=True)
        assert provider.experiment.preferences == {"auto_save": True}
        copy = provider.experiment.preferences
        copy["auto_save"] = False
        assert provider.experiment.preferences == {"auto_save": True}  # a copy
    assert json.loads(path.read_text()) == {"experiment": {"auto_save": True}}
    async with connect(router, preferences_path=path) as provider:
        assert provider.experiment.preferences == {"auto_save": True}
    assert router.calls.call_count == 2 * LOGIN_CALLS  # preferences never hit the network


async def test_save_preferences_rejects_a_non_bool(router: respx.MockRouter, tmp_path: Any) -> None:
    async with connect(router, preferences_path=tmp_path / "p.json") as provider:
        with pytest.raises(TypeError, match="auto_save"):
            await provider.experiment.save_preferences(auto_save="yes")  # type: ignore[arg-type]
    assert not (tmp_path / "p.json").exists()


async def test_experiments_limit_reached_on_a_page_boundary_stops_without_prefetch(
    connected: Connected,
) -> None:
    provider, router = connected
    route = rdb(
        router,
        "GET",
        ok({"experiments": [dict(EXPERIMENT_WIRE, uuid=f"a{i}") for i in range(2)], "marker": "m"}),
    )
    assert len(await provider.experiment.experiments(limit=2)) == 2
    await asyncio.sleep(0.01)
    assert route.call_count == 1


async def test_experiments_more_items_than_asked_are_cut_to_the_limit(
    connected: Connected,
) -> None:
    provider, router = connected
    rdb(router, "GET", ok({"experiments": [dict(EXPERIMENT_WIRE, uuid=f"a{i}") for i in range(5)]}))
    assert len(await provider.experiment.experiments(limit=3)) == 3


async def test_malformed_listing_raises_api_error(connected: Connected) -> None:
    provider, router = connected
    rdb(router, "GET", ok({"experiments": {"not": "a list"}}), ok(["not", "an object"]))
    with pytest.raises(ApiError, match="malformed"):
        await provider.experiment.experiments()
    with pytest.raises(ApiError, match="malformed"):
        await provider.experiment.experiments()


@pytest.mark.parametrize(
    ("method", "response"),
    [
        ("experiment", httpx.Response(200, text="<html>proxy error</html>")),
        ("experiments", httpx.Response(200, text="<html>proxy error</html>")),
        ("analysis_result", ok(dict(RESULT_WIRE, quality="Excellent"))),
        ("experiment", ok({"type": "T1"})),  # no uuid, no device_name
    ],
)
async def test_malformed_record_responses_raise_api_error(
    connected: Connected, method: str, response: httpx.Response
) -> None:
    provider, router = connected
    rdb(router, "GET", response)
    call = getattr(provider.experiment, method)
    with pytest.raises(ApiError):
        await (call() if method == "experiments" else call("x1"))


async def test_upload_url_missing_is_an_api_error(connected: Connected) -> None:
    provider, router = connected
    rdb(router, "GET", ok({"no": "url"}))
    with pytest.raises(ApiError, match="upload URL"):
        await provider.experiment.upload_figure("e1", b"<svg/>", "f.svg")
    assert len(service_calls(router)) == 1
