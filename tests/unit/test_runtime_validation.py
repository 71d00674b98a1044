"""The runtime client checks its arguments before any request: a wrong type is a TypeError, a
bad value a ValueError, and nothing is coerced (docs/protocol.md#argument-validation)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import respx

from async_qexp import Provider
from async_qexp.runtime import ResultDecoder, RuntimeJob, RuntimeService

from ._support import RUNTIME, service_calls

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(10)]

Connected = tuple[Provider, respx.MockRouter]
Call = Callable[[RuntimeService], Awaitable[Any]]

SOURCE = "def main(backend, user_messenger, **kwargs):\n    return 1\n"
META = {"name": "n", "max_execution_time": 60, "description": "d"}
OPTIONS = {"backend_name": "b"}


def _circular() -> dict[str, Any]:
    value: dict[str, Any] = {}
    value["self"] = value
    return value


def _case(call: Call, error: type[Exception], id: str) -> Any:
    return pytest.param(call, error, id=id)


INVALID_CALLS = [
    # ids
    _case(lambda rt: rt.job(None), TypeError, "job-none"),  # used to GET /jobs/None
    _case(lambda rt: rt.job(5), TypeError, "job-int"),
    _case(lambda rt: rt.job(""), ValueError, "job-empty"),
    _case(lambda rt: rt.job("a/b"), ValueError, "job-slash"),
    _case(lambda rt: rt.job(".."), ValueError, "job-dotdot"),
    _case(lambda rt: rt.delete_job(None), TypeError, "delete-job-none"),
    _case(lambda rt: rt.program(None), TypeError, "program-none"),
    _case(lambda rt: rt.program("p/q"), ValueError, "program-slash"),
    _case(lambda rt: rt.program("p", refresh="yes"), TypeError, "program-refresh"),
    _case(lambda rt: rt.delete_program(3), TypeError, "delete-program-int"),
    _case(lambda rt: rt.set_program_visibility(None, True), TypeError, "visibility-none"),
    _case(lambda rt: rt.set_program_visibility("p", "yes"), TypeError, "visibility-str"),
    _case(lambda rt: rt.set_program_visibility("p", 1), TypeError, "visibility-int"),
    # programs
    _case(lambda rt: rt.update_program(None, name="n"), TypeError, "update-none"),
    _case(lambda rt: rt.update_program("p", spec="schema"), TypeError, "update-spec"),
    _case(lambda rt: rt.update_program("p", max_execution_time="60"), TypeError, "update-cost"),
    _case(lambda rt: rt.update_program("p", data=5), TypeError, "update-data"),
    _case(lambda rt: rt.update_program("p", metadata=["n"]), TypeError, "update-metadata"),
    _case(lambda rt: rt.upload_program(5, **META), TypeError, "upload-data"),
    _case(
        lambda rt: rt.upload_program(SOURCE, **{**META, "max_execution_time": "60"}),
        TypeError,
        "upload-cost-str",
    ),
    _case(
        lambda rt: rt.upload_program(SOURCE, **{**META, "max_execution_time": 1.5}),
        TypeError,
        "upload-cost-float",
    ),
    _case(lambda rt: rt.upload_program(SOURCE, **META, is_public="yes"), TypeError, "public"),
    _case(lambda rt: rt.upload_program(SOURCE, metadata=[META]), TypeError, "upload-meta"),
    _case(
        lambda rt: rt.upload_program(SOURCE, **META, parameters="x: int"),
        TypeError,
        "upload-schema",
    ),
    # run
    _case(lambda rt: rt.run(None, OPTIONS, {}), TypeError, "run-program-none"),
    _case(lambda rt: rt.run("a/b", OPTIONS, {}), ValueError, "run-program-slash"),
    _case(lambda rt: rt.run("p", "b", {}), TypeError, "run-options-str"),
    _case(lambda rt: rt.run("p", None, {}), TypeError, "run-options-none"),
    _case(lambda rt: rt.run("p", {"backend_name": 5}, {}), TypeError, "run-backend-int"),
    _case(
        lambda rt: rt.run("p", {"backend_name": "b", "log_level": 10}, {}),
        TypeError,
        "run-log-level-int",
    ),
    _case(
        lambda rt: rt.run("p", {"backend_name": "b", "image": ["i:1"]}, {}),
        TypeError,
        "run-image-list",
    ),
    _case(lambda rt: rt.run("p", OPTIONS, None), TypeError, "run-inputs-none"),
    _case(lambda rt: rt.run("p", OPTIONS, [("x", 1)]), TypeError, "run-inputs-pairs"),
    _case(lambda rt: rt.run("p", OPTIONS, {1: "one"}), TypeError, "run-inputs-int-key"),
    _case(lambda rt: rt.run("p", OPTIONS, {"x": object()}), TypeError, "run-unencodable"),
    _case(lambda rt: rt.run("p", OPTIONS, {"x": _circular()}), ValueError, "run-circular"),
    _case(lambda rt: rt.run("p", OPTIONS, {}, callback="print"), TypeError, "run-callback"),
    _case(
        lambda rt: rt.run("p", OPTIONS, {}, result_decoder=ResultDecoder()),
        TypeError,
        "run-decoder-instance",
    ),
    _case(lambda rt: rt.run("p", OPTIONS, {}, result_decoder=dict), TypeError, "run-decoder-class"),
]


@pytest.mark.parametrize(("call", "error"), INVALID_CALLS)
async def test_invalid_arguments_raise_before_any_request(
    connected: Connected, call: Call, error: type[Exception]
) -> None:
    provider, router = connected
    router.route(host="runtime.example.test").respond(json={"id": "never"})
    with pytest.raises(error):
        await call(provider.runtime)
    assert service_calls(router) == []


def new_job(provider: Provider) -> RuntimeJob:
    return RuntimeJob(provider.runtime, "job-1", program_id="p", backend="b")


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda job: job.result(decoder=ResultDecoder()), id="result-instance"),
        pytest.param(lambda job: job.result(decoder="json"), id="result-str"),
        pytest.param(lambda job: job.interim_results(decoder=str), id="interim-no-decode"),
    ],
)
async def test_job_calls_check_the_decoder(connected: Connected, call: Any) -> None:
    provider, router = connected
    router.route(host="runtime.example.test").respond(json={})
    with pytest.raises(TypeError, match="decoder"):
        await call(new_job(provider))
    assert service_calls(router) == []


async def test_stream_results_checks_its_arguments(connected: Connected) -> None:
    provider, _ = connected
    job = new_job(provider)
    with pytest.raises(TypeError, match="callback"):
        job.stream_results("print")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="decoder"):
        job.stream_results(decoder=ResultDecoder())  # type: ignore[arg-type]
    assert not job.streaming


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"job_id": None}, TypeError),
        ({"job_id": "a/b"}, ValueError),
        ({"program_id": None}, TypeError),
        ({"backend": 5}, TypeError),
        ({"inputs": [1]}, TypeError),
        ({"result_decoder": ResultDecoder()}, TypeError),
    ],
)
async def test_runtime_job_checks_its_fields(
    connected: Connected, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    provider, _ = connected
    fields: dict[str, Any] = {"job_id": "j", "program_id": "p", "backend": "b", **kwargs}
    job_id = fields.pop("job_id")
    with pytest.raises(error):
        RuntimeJob(provider.runtime, job_id, **fields)


async def test_ids_are_percent_encoded_as_one_path_segment(connected: Connected) -> None:
    provider, router = connected
    router.route(host="runtime.example.test").respond(
        json={"id": "a b?c#d%", "program": {"id": "p"}, "status": "QUEUED"}
    )
    await provider.runtime.job("a b?c#d%")
    await provider.runtime.delete_program("ü:1")
    job_get, program_delete = service_calls(router)
    assert job_get.url.raw_path == b"/runtime/jobs/a%20b%3Fc%23d%25"
    assert program_delete.url.raw_path == b"/runtime/programs/%C3%BC:1"
    assert str(job_get.url).startswith(RUNTIME)
