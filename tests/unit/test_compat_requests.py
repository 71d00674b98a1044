"""The drop-in (``async_qexp.compat.IBMExperimentService``) sends exactly the requests of the
reference's calls, takes the value shapes qiskit-experiments 0.13 and 0.14 pass, answers in
the reference's shapes, and raises the reference's errors (each one of ours)."""

from __future__ import annotations

import enum
import io
import json
import sys
import threading
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import respx

from async_qexp import ApiError, ClosedError, EntryExists, EntryNotFound, RequestError
from async_qexp.compat import (
    AnalysisResultData,
    ExperimentData,
    IBMAccountError,
    IBMApiError,
    IBMApiRequestError,
    IBMExperimentEntryExists,
    IBMExperimentEntryNotFound,
    IBMExperimentSaveFailed,
    IBMExperimentService,
    ResultQuality,
    SaveHandler,
)

from ._support import AUTH, FAST_RETRY, LOGIN_CALLS, RDB, TOKEN, assert_request, body, query

pytestmark = pytest.mark.timeout(30)

EXP = "3c5d2f4e-0000-4000-8000-000000000001"
RES = "3c5d2f4e-0000-4000-8000-0000000000a1"


class QeQuality(enum.Enum):
    """qiskit-experiments 0.14's own enum: lower-case values."""

    BAD = "bad"
    GOOD = "good"
    UNKNOWN = "unknown"


class RefQuality(enum.Enum):
    """qiskit-ibm-experiment's enum: upper-case values."""

    BAD = "BAD"
    GOOD = "GOOD"
    UNKNOWN = "UNKNOWN"


class Qubit:
    """A device component object of either library: known by its text."""

    def __init__(self, index: int) -> None:
        self._index = index

    def __str__(self) -> str:
        return f"Q{self._index}"


@dataclass
class DbAnalysisResultData:
    """The shape qiskit-experiments 0.14 passes (its own class, not ours)."""

    result_id: str | None = RES
    experiment_id: str | None = EXP
    result_type: str | None = "T1"
    result_data: dict[str, Any] | None = field(default_factory=dict)
    device_components: Any = field(default_factory=list)
    quality: Any = QeQuality.UNKNOWN
    verified: Any = False
    tags: Any = field(default_factory=list)
    backend_name: str | None = None
    creation_datetime: Any = None
    updated_datetime: Any = None
    chisq: Any = None


@pytest.fixture
def service(router: respx.MockRouter) -> Iterator[IBMExperimentService]:
    made = IBMExperimentService(
        token=TOKEN,
        url=AUTH,
        transport=httpx.MockTransport(router.async_handler),
        retry=FAST_RETRY,
        prompt_for_delete=False,
    )
    try:
        yield made
    finally:
        made.close()


def calls(router: respx.MockRouter) -> list[httpx.Request]:
    return [call.request for call in router.calls][LOGIN_CALLS:]


def test_create_experiment_sends_the_reference_body_and_returns_the_answer(
    service: IBMExperimentService, router: respx.MockRouter
) -> None:
    router.post(f"{RDB}/experiments").mock(
        return_value=httpx.Response(201, json={"uuid": EXP, "owner": "u1"})
    )
    data = ExperimentData(
        experiment_id=EXP,
        experiment_type="T1",
        backend="ibmq_lima",
        tags=["a"],
        job_ids=["j1"],
        share_level="Project",
        metadata={"qubits": [0], "artifact_files": {"x.zip"}},
        notes="n",
    )

    class SetEncoder(json.JSONEncoder):
        def default(self, o: Any) -> Any:
            return sorted(o) if isinstance(o, set) else super().default(o)

    answer = service.create_experiment(data, json_encoder=SetEncoder)
    assert answer == {"uuid": EXP, "owner": "u1"}
    (request,) = calls(router)
    assert_request(
        request,
        "POST",
        "/experiments",
        json_body={
            "uuid": EXP,
            "type": "T1",
            "device_name": "ibmq_lima",
            "extra": {"qubits": [0], "artifact_files": ["x.zip"]},
            "tags": ["a"],
            "jobs": ["j1"],
            "visibility": "project",
            "notes": "n",
            "hub_id": "ibm-q",
            "group_id": "open",
            "project_id": "main",
        },
    )


def test_hgp_given_to_the_service_wins_as_in_the_reference(router: respx.MockRouter) -> None:
    router.post(f"{RDB}/experiments").mock(return_value=httpx.Response(201, json={}))
    with IBMExperimentService(
        token=TOKEN,
        url=AUTH,
        hgp="hub-a/group-1/proj-x",
        transport=httpx.MockTransport(router.async_handler),
    ) as service:
        data = ExperimentData(experiment_id=EXP, experiment_type="T1", backend="b", hub="x")
        assert service.create_experiment(data) == {}  # the answer, as the service gave it
    sent = body(calls(router)[0])
    assert (sent["hub_id"], sent["group_id"], sent["project_id"]) == ("hub-a", "group-1", "proj-x")
    assert (data.hub, data.group, data.project) == ("hub-a", "group-1", "proj-x")


@pytest.mark.parametrize(
    ("quality", "wire"),
    [
        (QeQuality.GOOD, "Good"),  # the enum qiskit-ibm-experiment 0.4.8 fails on (KeyError)
        (RefQuality.BAD, "Bad"),
        (ResultQuality.UNKNOWN, "No Information"),
        ("good", "Good"),  # qiskit-experiments 0.13 passes the lower-case text
        ("BAD", "Bad"),
        ("unknown", "No Information"),
        (None, "No Information"),
    ],
)
def test_every_quality_shape_is_accepted(
    service: IBMExperimentService, router: respx.MockRouter, quality: Any, wire: str
) -> None:
    router.post(f"{RDB}/analysis_results").mock(return_value=httpx.Response(201, json={}))
    data = DbAnalysisResultData(
        result_data={"_value": 1.5, "_extra": {}},
        device_components=[Qubit(0), "Q1"],
        quality=quality,
        verified=True,
        tags=("t",),
        chisq=0.75,
    )
    assert service.create_analysis_result(data) == RES
    (request,) = calls(router)
    assert_request(
        request,
        "POST",
        "/analysis_results",
        json_body={
            "uuid": RES,
            "experiment_uuid": EXP,
            "type": "T1",
            "fit": {"_value": 1.5, "_extra": {}},
            "device_components": ["Q0", "Q1"],
            "tags": ["t"],
            "quality": wire,
            "verified": True,
            "chisq": 0.75,
        },
    )


def test_a_nan_chisq_is_left_out_and_a_numpy_like_real_taken(
    service: IBMExperimentService, router: respx.MockRouter
) -> None:
    class Float64(float):  # numpy.float64 is a float subclass
        pass

    router.post(f"{RDB}/analysis_results").mock(return_value=httpx.Response(201, json={}))
    service.create_analysis_result(DbAnalysisResultData(chisq=float("nan")))
    service.create_analysis_result(DbAnalysisResultData(result_id=None, chisq=Float64(2.5)))
    first, second = (body(r) for r in calls(router))
    assert "chisq" not in first
    assert second["chisq"] == 2.5
    assert second["uuid"] != RES  # a missing id is generated


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"quality": "excellent"}, ValueError),
        ({"quality": 3}, TypeError),
        ({"tags": "abc"}, TypeError),
        ({"chisq": "1.0"}, TypeError),
        ({"result_data": [1, 2]}, TypeError),
        ({"verified": "yes"}, TypeError),
        ({"device_components": [3]}, TypeError),
    ],
)
def test_a_bad_field_is_refused_before_any_request(
    service: IBMExperimentService, router: respx.MockRouter, change: dict[str, Any], error: type
) -> None:
    data = DbAnalysisResultData(**change)
    with pytest.raises(error):
        service.create_analysis_result(data)
    with pytest.raises(TypeError):
        service.create_analysis_result({"result_id": RES})  # type: ignore[arg-type]
    assert calls(router) == []


def test_update_analysis_result_sends_what_the_reference_sends(
    service: IBMExperimentService, router: respx.MockRouter
) -> None:
    router.put(f"{RDB}/analysis_results/{RES}").mock(return_value=httpx.Response(200, json={}))
    data = AnalysisResultData(
        result_id=RES, experiment_id=EXP, result_type="T1", quality="Bad", tags=["x"]
    )
    assert service.update_analysis_result(data) is None
    assert body(calls(router)[0]) == {
        "uuid": RES,
        "tags": ["x"],
        "quality": "Bad",
        "verified": False,
    }


def test_errors_are_the_references_and_ours(
    service: IBMExperimentService, router: respx.MockRouter
) -> None:
    router.get(f"{RDB}/experiments/{EXP}").mock(
        return_value=httpx.Response(404, json={"error": {"code": 404, "message": "no"}})
    )
    router.post(f"{RDB}/experiments").mock(
        return_value=httpx.Response(409, json={"error": {"code": 409, "message": "dup"}})
    )
    router.get(f"{RDB}/analysis_results/{RES}").mock(return_value=httpx.Response(400, json={}))
    with pytest.raises(IBMExperimentEntryNotFound) as missing:
        service.experiment(EXP)
    assert isinstance(missing.value, EntryNotFound)
    assert missing.value.status == 404
    with pytest.raises(EntryExists) as exists:
        service.create_experiment(ExperimentData(experiment_type="T1", backend="b"))
    assert isinstance(exists.value, IBMExperimentEntryExists)
    with pytest.raises(IBMApiError) as refused:
        service.analysis_result(RES)
    assert isinstance(refused.value, ApiError)
    assert refused.value.status == 400


def test_no_answer_is_an_ibm_api_error_and_a_request_error(router: respx.MockRouter) -> None:
    router.get(f"{RDB}/experiments/{EXP}").mock(side_effect=httpx.ConnectError("refused"))
    with (
        IBMExperimentService(
            token=TOKEN,
            url=AUTH,
            transport=httpx.MockTransport(router.async_handler),
            retry=FAST_RETRY,
        ) as service,
        pytest.raises(IBMApiRequestError) as failed,
    ):
        service.experiment(EXP)
    assert isinstance(failed.value, RequestError)
    assert isinstance(failed.value, IBMApiError)
    assert failed.value.attempts == FAST_RETRY.max_attempts
    assert "refused" in str(failed.value)


def _slow_create(state: dict[str, Any]) -> Any:
    lock = threading.Lock()

    async def handler(request: httpx.Request) -> httpx.Response:
        import anyio

        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        await anyio.sleep(0.01)
        with lock:
            state["now"] -= 1
        if json.loads(request.content)["type"] == "fails":
            return httpx.Response(400, json={"error": {"code": 400, "message": "bad result"}})
        return httpx.Response(201, json={})

    return handler


def test_bulk_creates_run_concurrently_bounded_by_max_workers(
    service: IBMExperimentService, router: respx.MockRouter
) -> None:
    state = {"now": 0, "peak": 0}
    router.post(f"{RDB}/analysis_results").mock(side_effect=_slow_create(state))
    data = [DbAnalysisResultData(result_id=None, result_type=f"r{i}") for i in range(12)]
    status = service.create_analysis_results(data, max_workers=3)
    assert isinstance(status, dict)
    assert status["running"] == []
    assert status["fail"] == []
    assert [item[0] for item in status["done"]] == data
    assert state["peak"] == 3
    types_sent = sorted(body(r)["type"] for r in calls(router))
    assert types_sent == sorted(f"r{i}" for i in range(12))


def test_a_failed_bulk_item_is_reported_and_raised_after_the_others(
    service: IBMExperimentService, router: respx.MockRouter
) -> None:
    state = {"now": 0, "peak": 0}
    router.post(f"{RDB}/analysis_results").mock(side_effect=_slow_create(state))
    good = [DbAnalysisResultData(result_id=None, result_type=f"r{i}") for i in range(3)]
    bad_value = DbAnalysisResultData(result_id=None, quality="excellent")
    refused = DbAnalysisResultData(result_id=None, result_type="fails")
    with pytest.raises(IBMExperimentSaveFailed) as failed:
        service.create_analysis_results([*good, bad_value, refused])
    status = failed.value.save_status
    assert [item[0] for item in status["done"]] == good
    assert [f["data"][0] for f in status["fail"]] == [bad_value, refused]
    assert isinstance(status["fail"][0]["exception"], ValueError)
    assert isinstance(status["fail"][1]["exception"], IBMApiError)
    assert str(failed.value).startswith("2 of 5 analysis results could not be saved")
    assert len(calls(router)) == 4  # the refused value never went out

    service.set_option(raise_on_failed_save=False)  # the reference's silence, on request
    quiet = service.create_analysis_results([refused])
    assert isinstance(quiet, dict)
    assert len(quiet["fail"]) == 1


def test_a_non_blocking_bulk_create_returns_a_handler(
    service: IBMExperimentService, router: respx.MockRouter
) -> None:
    state = {"now": 0, "peak": 0}
    router.post(f"{RDB}/analysis_results").mock(side_effect=_slow_create(state))
    data = [DbAnalysisResultData(result_id=None, result_type=f"r{i}") for i in range(6)]
    handler = service.create_analysis_results(data, blocking=False, max_workers=2)
    assert isinstance(handler, SaveHandler)
    assert handler.block_for_save(timeout=10) is True
    status = handler.save_status()
    assert len(status["done"]) == 6
    assert status["running"] == []
    assert handler.save_status()["done"] == status["done"]  # reported once, kept
    assert state["peak"] == 2


def test_bulk_arguments_are_checked_before_any_request(
    service: IBMExperimentService, router: respx.MockRouter
) -> None:
    with pytest.raises(ValueError, match="max_workers"):
        service.create_analysis_results([DbAnalysisResultData()], max_workers=0)
    with pytest.raises(TypeError):
        service.create_analysis_results(DbAnalysisResultData())
    with pytest.raises(TypeError):
        service.create_figures(EXP, "fig.svg")  # type: ignore[arg-type]
    assert calls(router) == []


def test_create_figures_uploads_each_through_a_signed_url(
    service: IBMExperimentService, router: respx.MockRouter
) -> None:
    upload = "https://blobs.example.test/put?sig=1"
    router.get(url__regex=rf"{RDB}/experiments/{EXP}/plots/upload/.*").mock(
        return_value=httpx.Response(200, json={"url": upload})
    )
    router.put(upload).mock(return_value=httpx.Response(200))
    status = service.create_figures(EXP, [(b"<svg/>", "a"), (b"<svg></svg>", "b.svg")])
    assert isinstance(status, dict)
    assert [d[2] for d in status["done"]] == ["a", "b.svg"]
    sent = calls(router)
    asked = sorted(r.url.raw_path.decode() for r in sent if r.method == "GET")
    assert asked == [
        f"/resultsdb/experiments/{EXP}/plots/upload/a.svg",
        f"/resultsdb/experiments/{EXP}/plots/upload/b.svg",
    ]
    puts = [r for r in sent if r.method == "PUT"]
    assert sorted(r.content for r in puts) == [b"<svg/>", b"<svg></svg>"]
    assert all("X-Access-Token" not in r.headers for r in puts)  # another origin: no token


def test_files_answers_as_the_service_does_and_uploads_file_objects(
    service: IBMExperimentService, router: respx.MockRouter
) -> None:
    listing = {"files": [{"Key": "a.zip", "Size": 3, "LastModified": "2026-01-01T00:00:00Z"}]}
    router.get(f"{RDB}/experiments/{EXP}/files").mock(
        return_value=httpx.Response(200, json=listing)
    )
    upload = "https://blobs.example.test/file?sig=2"
    router.get(f"{RDB}/experiments/{EXP}/files/upload/a.zip").mock(
        return_value=httpx.Response(200, json={"url": upload})
    )
    router.put(upload).mock(return_value=httpx.Response(200))
    assert service.files(EXP) == listing
    assert service.experiment_has_file(EXP, "a.zip") is True
    service.file_upload(EXP, "a.zip", io.BytesIO(b"zip"))  # qiskit-experiments 0.13's artifacts
    service.file_upload(EXP, "a.zip", None)  # its "deleted artifact": an empty file
    puts = [r.content for r in calls(router) if r.method == "PUT"]
    assert puts == [b"zip", b""]


def test_listings_ignore_unknown_keywords_and_map_the_reference_filters(
    service: IBMExperimentService, router: respx.MockRouter
) -> None:
    record = {
        "uuid": RES,
        "experiment_uuid": EXP,
        "type": "T1",
        "fit": {"v": 1},
        "device_components": ["Q0"],
        "quality": "Good",
        "verified": False,
        "tags": [],
        "device_name": "ibmq_lima",
        "created_at": "2026-01-01T00:00:00Z",
    }
    route = router.get(f"{RDB}/analysis_results").mock(
        return_value=httpx.Response(200, json={"analysis_results": [record]})
    )
    found = service.analysis_results(
        experiment_id=EXP,
        quality=[QeQuality.GOOD, "bad"],
        limit=None,
        no_such_filter=1,
    )
    params = dict(query(route.calls.last.request))
    assert params["experiment_uuid"] == EXP
    assert params["quality"] == "in:Good,Bad"
    assert "no_such_filter" not in params
    (result,) = found
    assert isinstance(result, AnalysisResultData)
    assert result.quality is ResultQuality.GOOD
    assert result.device_components == ["Q0"]
    assert result.backend_name == "ibmq_lima"
    assert result.creation_datetime is not None
    assert result.creation_datetime.utcoffset() is not None


def test_quality_comes_back_as_the_callers_enum(
    service: IBMExperimentService, router: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = {"uuid": RES, "experiment_uuid": EXP, "type": "T1", "quality": "Bad"}
    router.get(f"{RDB}/analysis_results/{RES}").mock(return_value=httpx.Response(200, json=record))
    assert service.analysis_result(RES).quality is ResultQuality.BAD
    reference = types.ModuleType("qiskit_ibm_experiment.service.constants")
    reference.ResultQuality = RefQuality  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, reference.__name__, reference)
    assert service.analysis_result(RES).quality is RefQuality.BAD  # qiskit-experiments 0.13
    experiments = types.ModuleType("qiskit_experiments.database_service.constants")
    experiments.ResultQuality = QeQuality  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, experiments.__name__, experiments)
    assert service.analysis_result(RES).quality is QeQuality.BAD  # 0.14 loaded: its own wins
    service._result_quality = RefQuality
    assert service.analysis_result(RES).quality is RefQuality.BAD  # result_quality= chosen


def test_delete_prompts_only_on_a_terminal(
    service: IBMExperimentService, router: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    route = router.delete(f"{RDB}/experiments/{EXP}").mock(return_value=httpx.Response(200))
    service.set_option(prompt_for_delete=True)

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    asked: list[str] = []
    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr("builtins.input", lambda prompt: asked.append(prompt) or "n")
    service.delete_experiment(EXP)
    assert route.call_count == 0
    assert "delete the experiment" in asked[0]
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    service.delete_experiment(EXP)
    assert route.call_count == 1
    monkeypatch.setattr(sys, "stdin", io.StringIO())  # no terminal: no prompt, deleted
    monkeypatch.setattr("builtins.input", lambda prompt: pytest.fail("prompted"))
    service.delete_experiment(EXP)
    assert route.call_count == 2


def test_a_closed_service_raises_closed_error(router: respx.MockRouter) -> None:
    service = IBMExperimentService(
        token=TOKEN, url=AUTH, transport=httpx.MockTransport(router.async_handler)
    )
    service.close()
    service.close()
    with pytest.raises(ClosedError):
        service.experiment(EXP)


def test_the_token_comes_from_the_argument_a_saved_account_or_the_environment(
    router: respx.MockRouter, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    transport = httpx.MockTransport(router.async_handler)
    with pytest.raises(IBMAccountError):
        IBMExperimentService(url=AUTH, transport=transport)
    with pytest.raises(IBMAccountError):
        IBMExperimentService(name="nobody", transport=transport)
    IBMExperimentService.save_account(token=TOKEN, url=AUTH, name="mine")
    saved = tmp_path / ".qiskit" / "qiskit-ibm.json"
    assert json.loads(saved.read_text())["mine"] == {"token": TOKEN, "url": AUTH}
    assert saved.stat().st_mode & 0o077 == 0
    with pytest.raises(IBMAccountError, match="already exists"):
        IBMExperimentService.save_account(token=TOKEN, name="mine")
    IBMExperimentService(name="mine", transport=transport).close()
    monkeypatch.setenv("QEXP_TOKEN", TOKEN)
    IBMExperimentService(url=AUTH, transport=transport).close()
    logins = [c.request for c in router.calls if c.request.url.path.endswith("loginWithToken")]
    assert [json.loads(r.content)["apiToken"] for r in logins] == [TOKEN, TOKEN]
    assert IBMExperimentService.delete_account("mine") is True
    assert IBMExperimentService.delete_account("mine") is False


def test_requests_timeout_becomes_the_clients_timeout(router: respx.MockRouter) -> None:
    transport = httpx.MockTransport(router.async_handler)
    with IBMExperimentService(token=TOKEN, url=AUTH, transport=transport) as default:
        assert httpx.Timeout(default.provider.provider._timeout).connect == 10.0  # the client's
    with IBMExperimentService(
        token=TOKEN, url=AUTH, transport=transport, requests_timeout=7
    ) as given:
        timeout = httpx.Timeout(given.provider.provider._timeout)
        assert (timeout.connect, timeout.read) == (7.0, 7.0)
        assert given.options["requests_timeout"] == 7


def test_constructor_arguments_are_checked(router: respx.MockRouter) -> None:
    transport = httpx.MockTransport(router.async_handler)
    with pytest.raises(ValueError, match="hub/group/project"):
        IBMExperimentService(token=TOKEN, url=AUTH, hgp="just-a-hub", transport=transport)
    with pytest.raises(ValueError, match="NTLM"):
        IBMExperimentService(
            token=TOKEN, url=AUTH, proxies={"username_ntlm": "u"}, transport=transport
        )
    with pytest.raises(TypeError):
        IBMExperimentService(token=TOKEN, url=AUTH, result_quality=str, transport=transport)
    assert router.calls.call_count == 0


def test_the_data_classes_have_the_reference_fields() -> None:
    assert list(ExperimentData.__dataclass_fields__) == [
        "experiment_id", "parent_id", "experiment_type", "backend", "tags", "job_ids",
        "share_level", "metadata", "figure_names", "notes", "hub", "group", "project",
        "owner", "creation_datetime", "start_datetime", "end_datetime", "updated_datetime",
    ]  # fmt: skip
    assert list(AnalysisResultData.__dataclass_fields__) == [
        "result_id", "experiment_id", "result_type", "result_data", "device_components",
        "quality", "verified", "tags", "backend_name", "creation_datetime",
        "updated_datetime", "chisq",
    ]  # fmt: skip
    data = AnalysisResultData(result_data={"a": [1]}, tags=["t"])
    copied = data.copy()
    copied.result_data["a"].append(2)  # type: ignore[index]
    assert data.result_data == {"a": [1]}
    assert "Result None" in str(AnalysisResultData(result_type=None))


def test_create_or_update_experiment_updates_what_exists(
    service: IBMExperimentService, router: respx.MockRouter
) -> None:
    router.post(f"{RDB}/experiments").mock(
        return_value=httpx.Response(409, json={"error": {"code": 409, "message": "exists"}})
    )
    put = router.put(f"{RDB}/experiments/{EXP}").mock(
        return_value=httpx.Response(200, json={"uuid": EXP, "notes": "again"})
    )
    data = ExperimentData(
        experiment_id=EXP, experiment_type="T1", backend="b", notes="again", tags=["x"]
    )
    answer = service.create_or_update_experiment(data)
    assert answer == {"uuid": EXP, "notes": "again"}
    assert_request(
        put.calls.last.request,
        "PUT",
        f"/experiments/{EXP}",
        json_body={"notes": "again", "tags": ["x"]},
    )
    service.create_or_update_experiment(data, create=False)  # update first: one PUT
    assert put.call_count == 2
    assert [r.method for r in calls(router)].count("POST") == 1


def test_bulk_update_sends_one_request(
    service: IBMExperimentService, router: respx.MockRouter
) -> None:
    route = router.put(f"{RDB}/analysis_results/bulkupdate").mock(
        return_value=httpx.Response(200, json={})
    )
    first = AnalysisResultData(result_id=RES, quality=QeQuality.GOOD, verified=True)
    second = DbAnalysisResultData(result_id="r2", tags=["t"], chisq=1.5)
    service.bulk_update_analysis_result([first, second])
    assert body(route.calls.last.request) == {
        "analysis_results": [
            {"uuid": RES, "quality": "Good", "verified": True},
            {
                "uuid": "r2",
                "tags": ["t"],
                "quality": "No Information",  # its enum's UNKNOWN, sent as the reference does
                "verified": False,
                "chisq": 1.5,
            },
        ]
    }


def test_figure_and_file_downloads(
    service: IBMExperimentService, router: respx.MockRouter, tmp_path: Any
) -> None:
    router.get(f"{RDB}/experiments/{EXP}/plots/a.svg").mock(
        return_value=httpx.Response(200, content=b"<svg/>")
    )
    router.get(f"{RDB}/experiments/{EXP}/files/meta.json").mock(
        return_value=httpx.Response(200, json={"z": {"__type__": "complex", "__value__": [1, 2]}})
    )
    assert service.figure(EXP, "a.svg") == b"<svg/>"
    assert service.figure(EXP, "a.svg", str(tmp_path / "a.svg")) == 6
    assert (tmp_path / "a.svg").read_bytes() == b"<svg/>"
    raw = service.file_download(EXP, "meta")  # the reference's default decoder: JSON as it is
    assert raw == {"z": {"__type__": "complex", "__value__": [1, 2]}}
    assert service.file_download(EXP, "meta", json_decoder=None) == {"z": 1 + 2j}  # envelopes


def test_data_frames_convert_both_ways() -> None:
    pd = pytest.importorskip("pandas")
    results = [
        AnalysisResultData(
            result_id=RES,
            experiment_id=EXP,
            result_type="T1",
            result_data={"_value": 1.0, "_extra": {"a": 1}},
            device_components=["Q0"],
            quality=ResultQuality.GOOD,
            chisq=0.5,
        )
    ]
    frame = IBMExperimentService.analysis_result_list_to_dataframe(results)
    assert isinstance(frame, pd.DataFrame)
    assert frame.loc[0, "name"] == "T1"
    assert frame.loc[0, "quality"] == "good"
    (back,) = IBMExperimentService.dataframe_to_analysis_result_list(frame)
    assert back.result_id == RES
    assert back.quality is ResultQuality.GOOD
    assert back.result_data == {
        "_value": 1.0,
        "_extra": {"a": 1},
        "_source": None,
        "_experiment": None,
    }
    assert IBMExperimentService.analysis_result_list_to_dataframe([]).empty


def test_copies_share_the_service_and_a_pickle_drops_it(
    service: IBMExperimentService, caplog: pytest.LogCaptureFixture
) -> None:
    import copy
    import pickle

    holder = {"service": service, "data": [1]}
    assert copy.copy(service) is service
    deep = copy.deepcopy(holder)
    assert deep["service"] is service
    assert deep["data"] is not holder["data"]
    restored = pickle.loads(pickle.dumps(holder))
    assert restored == {"service": None, "data": [1]}
    assert TOKEN.encode() not in pickle.dumps(holder)
    assert "not restored from a pickle" in caplog.text


def test_a_bulk_create_reads_each_item_when_its_turn_comes(
    service: IBMExperimentService, router: respx.MockRouter
) -> None:
    """As the reference's threads did: the first request leaves before the last of a long
    list is read and encoded (only the items the workers took are read by then)."""
    read: list[str] = []

    @dataclass
    class Watched(DbAnalysisResultData):
        def __getattribute__(self, name: str) -> Any:
            value = object.__getattribute__(self, name)
            if name == "result_type":
                read.append(value)
            return value

    seen_at_first: list[int] = []

    async def create(request: httpx.Request) -> httpx.Response:
        if not seen_at_first:
            seen_at_first.append(len(set(read)))
        return httpx.Response(201, json={})

    router.post(f"{RDB}/analysis_results").mock(side_effect=create)
    data = [Watched(result_id=None, result_type=f"r{i}") for i in range(20)]
    status = service.create_analysis_results(data, max_workers=2)
    assert isinstance(status, dict)
    assert len(status["done"]) == 20
    assert seen_at_first[0] <= 2
    assert set(read) == {f"r{i}" for i in range(20)}
