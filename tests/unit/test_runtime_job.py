"""RuntimeJob against a mocked runtime service: docs/behaviour.md#runtimejob and
docs/protocol.md#runtime-jobs.

Status mapping from both the R (``state``) and P (``status``) vocabularies, the final-status
cache, error messages, waiting, results and their decoders, cancel, logs and interim results.
The websocket stream is covered by ``test_runtime_stream.py``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import httpx
import pytest
import respx

from async_qexp import (
    ApiError,
    EntryNotFound,
    JobTimeoutError,
    Provider,
    RuntimeInvalidStateError,
    RuntimeJobFailureError,
    RuntimeJobNotFound,
)
from async_qexp.runtime import JobStatus, ResultDecoder, RuntimeJob

from ._support import RUNTIME, assert_service_headers, query, raw_path, service_calls

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(10)]

Connected = tuple[Provider, respx.MockRouter]

JOB = "job-1"
JOB_URL = f"{RUNTIME}/jobs/{JOB}"
TRACEBACK = "Traceback (most recent call last):\n  File \"program.py\", line 3\nKeyError: 'x'"


def record(job_id: str = JOB, **fields: Any) -> dict[str, Any]:
    """A job record; ``fields`` give ``status`` and/or ``state``."""
    base: dict[str, Any] = {
        "id": job_id,
        "program": {"id": "prog-1"},
        "backend": "ibmq_qasm_simulator",
        "params": [{}],
    }
    base.update(fields)
    return base


def status_response(status: str) -> httpx.Response:
    return httpx.Response(200, json=record(status=status, state={"status": status}))


def new_job(provider: Provider, decoder: type[ResultDecoder] = ResultDecoder) -> RuntimeJob:
    """A job as ``run()`` returns it: INITIALIZING, nothing polled yet."""
    return RuntimeJob(
        provider.runtime, JOB, program_id="prog-1", backend="b", result_decoder=decoder
    )


def assert_get(request: httpx.Request, path: str) -> None:
    assert request.method == "GET"
    assert raw_path(request) == "/runtime" + path
    assert query(request) == []
    assert request.content == b""
    assert_service_headers(request)


class Tagged(ResultDecoder):
    @classmethod
    def decode(cls, data: str) -> Any:
        return ("tagged", super().decode(data))


class Raw(ResultDecoder):
    @classmethod
    def decode(cls, data: str) -> Any:
        return ("raw", data)


# -- status ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # P vocabulary (``status``), compared upper-cased
        ({"status": "QUEUED"}, JobStatus.QUEUED),
        ({"status": "RUNNING"}, JobStatus.RUNNING),
        ({"status": "COMPLETED"}, JobStatus.DONE),
        ({"status": "completed"}, JobStatus.DONE),
        ({"status": "FAILED"}, JobStatus.ERROR),
        ({"status": "CANCELLED"}, JobStatus.CANCELLED),
        ({"status": "CANCELLED - RAN TOO LONG"}, JobStatus.ERROR),
        ({"status": "Cancelled - Ran too long"}, JobStatus.ERROR),
        # R vocabulary (``state: {status, reason}``)
        ({"state": {"status": "QUEUED", "reason": None}}, JobStatus.QUEUED),
        ({"state": {"status": "Running", "reason": None}}, JobStatus.RUNNING),
        ({"state": {"status": "COMPLETED"}}, JobStatus.DONE),
        ({"state": {"status": "FAILED", "reason": "error"}}, JobStatus.ERROR),
        ({"state": {"status": "CANCELLED", "reason": None}}, JobStatus.CANCELLED),
        ({"state": {"status": "CANCELLED", "reason": "by user"}}, JobStatus.CANCELLED),
        ({"state": {"status": "CANCELLED", "reason": "RAN TOO LONG"}}, JobStatus.ERROR),
        ({"state": {"status": "cancelled", "reason": "Ran too long"}}, JobStatus.ERROR),
        # both: the R ``state`` wins
        ({"status": "RUNNING", "state": {"status": "COMPLETED"}}, JobStatus.DONE),
    ],
)
async def test_status_mapping(
    connected: Connected, fields: dict[str, Any], expected: JobStatus
) -> None:
    provider, router = connected
    route = router.get(JOB_URL).respond(json=record(**fields))
    job = new_job(provider)
    assert job.cached_status is JobStatus.INITIALIZING
    assert await job.status() is expected
    assert job.cached_status is expected
    [request] = service_calls(router)
    assert_get(request, f"/jobs/{JOB}")
    assert route.call_count == 1


@pytest.mark.parametrize(
    "fields",
    [{"status": "ON HOLD"}, {"state": {"status": "PAUSED"}}, {}, {"status": ""}],
)
async def test_unknown_status_raises(connected: Connected, fields: dict[str, Any]) -> None:
    provider, router = connected
    router.get(JOB_URL).respond(json=record(**fields))
    with pytest.raises(RuntimeInvalidStateError, match="unknown job status"):
        await new_job(provider).status()


async def test_final_status_is_cached_for_good(connected: Connected) -> None:
    provider, router = connected
    route = router.get(JOB_URL).mock(
        side_effect=[
            status_response("QUEUED"),
            status_response("RUNNING"),
            status_response("COMPLETED"),
            status_response("FAILED"),  # never asked for
        ]
    )
    job = new_job(provider)
    assert await job.status() is JobStatus.QUEUED
    assert await job.status() is JobStatus.RUNNING
    assert await job.status() is JobStatus.DONE
    assert await job.status() is JobStatus.DONE
    assert await job.wait_for_final_state() is JobStatus.DONE
    assert route.call_count == 3
    assert JobStatus.DONE.is_final
    assert not JobStatus.RUNNING.is_final
    assert not JobStatus.INITIALIZING.is_final


async def test_job_not_found_while_polling(connected: Connected) -> None:
    provider, router = connected
    router.get(JOB_URL).respond(404, json={"error": {"message": "gone"}})
    with pytest.raises(RuntimeJobNotFound) as info:
        await new_job(provider).status()
    assert isinstance(info.value, EntryNotFound)


# -- error_message -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields", [{"status": "FAILED"}, {"state": {"status": "FAILED", "reason": "error"}}]
)
async def test_error_message_for_a_failed_job(connected: Connected, fields: dict[str, Any]) -> None:
    provider, router = connected
    router.get(JOB_URL).respond(json=record(**fields))
    results = router.get(f"{JOB_URL}/results").respond(text=TRACEBACK)
    job = new_job(provider)
    assert await job.error_message() == f"Job {JOB} has failed:\n{TRACEBACK}"
    assert_get(results.calls[0].request, f"/jobs/{JOB}/results")
    # cached: nothing more is sent
    assert await job.error_message() == f"Job {JOB} has failed:\n{TRACEBACK}"
    assert len(service_calls(router)) == 2


@pytest.mark.parametrize(
    "fields",
    [
        {"status": "CANCELLED - RAN TOO LONG"},
        {"state": {"status": "CANCELLED", "reason": "RAN TOO LONG"}},
    ],
)
async def test_error_message_for_a_job_that_ran_too_long(
    connected: Connected, fields: dict[str, Any]
) -> None:
    provider, router = connected
    router.get(JOB_URL).respond(json=record(**fields))
    router.get(f"{JOB_URL}/results").respond(text="time limit exceeded")
    assert await new_job(provider).error_message() == (
        f"Job {JOB} ran longer than maximum execution time. Job was cancelled:\ntime limit exceeded"
    )


@pytest.mark.parametrize("status", ["QUEUED", "RUNNING", "COMPLETED", "CANCELLED"])
async def test_no_error_message_unless_error(connected: Connected, status: str) -> None:
    provider, router = connected
    router.get(JOB_URL).respond(json=record(status=status))
    results = router.get(f"{JOB_URL}/results").respond(text="x")
    assert await new_job(provider).error_message() is None
    assert results.call_count == 0


# -- result and waiting ------------------------------------------------------------------------


async def test_result_waits_then_decodes_and_caches(connected: Connected) -> None:
    provider, router = connected
    polls = router.get(JOB_URL).mock(
        side_effect=[
            status_response("QUEUED"),
            status_response("RUNNING"),
            status_response("COMPLETED"),
        ]
    )
    payload = {
        "energy": {"__type__": "complex", "__value__": [-1.5, 0.25]},
        "counts": {"00": 10},
        "seen": {"__type__": "set", "__value__": ["a"]},
        "other": {"__type__": "QuantumCircuit", "__value__": "opaque"},
    }
    results = router.get(f"{JOB_URL}/results").respond(text=json.dumps(payload))
    job = new_job(provider)
    value = await job.result()
    assert value == {
        "energy": -1.5 + 0.25j,
        "counts": {"00": 10},
        "seen": {"a"},
        "other": {"__type__": "QuantumCircuit", "__value__": "opaque"},
    }
    assert polls.call_count == 3
    assert results.call_count == 1
    assert_get(results.calls[0].request, f"/jobs/{JOB}/results")
    assert job.cached_status is JobStatus.DONE

    assert await job.result() is value
    assert polls.call_count == 3
    assert results.call_count == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [("not json at all", "not json at all"), ("", None), ('"a string"', "a string"), ("42", 42)],
)
async def test_result_text_shapes(connected: Connected, text: str, expected: Any) -> None:
    provider, router = connected
    router.get(JOB_URL).respond(json=record(status="COMPLETED"))
    results = router.get(f"{JOB_URL}/results").respond(text=text)
    job = new_job(provider)
    assert await job.result() == expected
    assert await job.result() == expected
    assert results.call_count == 1


async def test_large_result_is_decoded(connected: Connected) -> None:
    provider, router = connected
    router.get(JOB_URL).respond(json=record(status="COMPLETED"))
    big = ["x" * 1000] * 1100  # more than 1 MiB of JSON: decoded in a worker thread
    router.get(f"{JOB_URL}/results").respond(text=json.dumps(big))
    assert await new_job(provider).result() == big


async def test_result_decoder_given_to_the_job_and_to_result(connected: Connected) -> None:
    provider, router = connected
    polls = router.get(JOB_URL).respond(json=record(status="COMPLETED"))
    results = router.get(f"{JOB_URL}/results").respond(text='{"v": 1}')
    job = new_job(provider, decoder=Tagged)
    assert await job.result() == ("tagged", {"v": 1})
    assert await job.result(decoder=Raw) == ("raw", '{"v": 1}')
    assert await job.result(decoder=ResultDecoder) == {"v": 1}
    assert results.call_count == 3  # one fetch per decoder
    # every decoder's result is cached
    assert await job.result() == ("tagged", {"v": 1})
    assert await job.result(decoder=Raw) == ("raw", '{"v": 1}')
    assert results.call_count == 3
    assert polls.call_count == 1


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({"status": "FAILED"}, "has failed:\n"),
        ({"state": {"status": "CANCELLED", "reason": "RAN TOO LONG"}}, "ran longer than"),
    ],
)
async def test_result_of_a_failed_job_raises(
    connected: Connected, fields: dict[str, Any], text: str
) -> None:
    provider, router = connected
    router.get(JOB_URL).respond(json=record(**fields))
    router.get(f"{JOB_URL}/results").respond(text=TRACEBACK)
    job = new_job(provider)
    with pytest.raises(RuntimeJobFailureError) as info:
        await job.result()
    message = str(info.value)
    assert message.startswith(f"Unable to retrieve job result. Job {JOB} ")
    assert text in message
    assert "KeyError: 'x'" in message
    assert len(service_calls(router)) == 2
    with pytest.raises(RuntimeJobFailureError):
        await job.result()
    assert len(service_calls(router)) == 2  # status and error text are cached


async def test_result_of_a_cancelled_job_fetches_what_there_is(connected: Connected) -> None:
    provider, router = connected
    router.get(JOB_URL).respond(json=record(status="CANCELLED"))
    router.get(f"{JOB_URL}/results").respond(text="")
    job = new_job(provider)
    assert await job.result() is None
    assert job.cached_status is JobStatus.CANCELLED


async def test_result_timeout(connected: Connected) -> None:
    provider, router = connected
    polls = router.get(JOB_URL).respond(json=record(status="RUNNING"))
    results = router.get(f"{JOB_URL}/results").respond(text="never")
    job = new_job(provider)
    started = time.monotonic()
    with pytest.raises(JobTimeoutError, match=f"Timeout while waiting for job {JOB}") as info:
        await job.result(timeout=0.2)
    elapsed = time.monotonic() - started
    assert isinstance(info.value, TimeoutError)
    assert 0.15 <= elapsed < 2
    assert polls.call_count >= 2
    assert results.call_count == 0
    assert job.cached_status is JobStatus.RUNNING


async def test_wait_for_final_state(connected: Connected) -> None:
    provider, router = connected
    polls = router.get(JOB_URL).mock(
        side_effect=[status_response("QUEUED")] * 3 + [status_response("FAILED")]
    )
    job = new_job(provider)
    assert await job.wait_for_final_state(timeout=5, wait=0.01) is JobStatus.ERROR
    assert polls.call_count == 4
    assert all(raw_path(c.request) == f"/runtime/jobs/{JOB}" for c in polls.calls)
    assert await job.wait_for_final_state(timeout=0.01) is JobStatus.ERROR
    assert polls.call_count == 4


def _record_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses the job takes between polls (each then yields at once)."""
    pauses: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(delay: float, result: Any = None) -> Any:
        pauses.append(delay)
        return await real_sleep(0, result)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    return pauses


@pytest.mark.parametrize("wait", [0.02, 0.3])
async def test_result_takes_the_reference_wait_between_polls(
    connected: Connected, monkeypatch: pytest.MonkeyPatch, wait: float
) -> None:
    """P's result(timeout=None, wait=5, decoder=None): wait is what it is to
    wait_for_final_state(timeout, wait), the pause between status polls."""
    provider, router = connected
    running = [status_response("RUNNING")] * 9
    router.get(JOB_URL).mock(side_effect=[*running, status_response("COMPLETED")] * 3)
    router.get(f"{JOB_URL}/results").respond(text='{"v": 1}')
    pauses = _record_sleeps(monkeypatch)
    assert await new_job(provider).result(None, wait) == {"v": 1}  # the reference's order
    through_result = list(pauses)
    pauses.clear()
    await new_job(provider).wait_for_final_state(None, wait)
    assert through_result == pauses
    assert len(pauses) == 9
    assert max(pauses) == wait  # polls back off to every `wait` seconds, never longer
    assert pauses[0] == min(0.05, wait)
    # The decoder is the third argument, as in the reference.
    assert await new_job(provider).result(5, wait, Tagged) == ("tagged", {"v": 1})


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"wait": 0}, ValueError),
        ({"wait": -1}, ValueError),
        ({"wait": float("inf")}, ValueError),
        ({"wait": float("nan")}, ValueError),
        ({"wait": "5"}, TypeError),
        ({"wait": True}, TypeError),
        ({"wait": None}, TypeError),
        ({"wait": Tagged}, TypeError),  # result(timeout, decoder) written positionally
        ({"timeout": -0.5}, ValueError),
        ({"timeout": "10"}, TypeError),
        ({"timeout": False}, TypeError),
    ],
)
async def test_result_and_wait_check_timeout_and_wait_before_polling(
    connected: Connected, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    provider, router = connected
    router.route(host="runtime.example.test").respond(json=record(status="COMPLETED"))
    job = new_job(provider)
    with pytest.raises(error, match=r"timeout|wait"):
        await job.result(**kwargs)
    with pytest.raises(error, match=r"timeout|wait"):
        await job.wait_for_final_state(**kwargs)
    assert service_calls(router) == []
    assert await job.wait_for_final_state(timeout=0, wait=0.01) is JobStatus.DONE  # 0: no wait


async def test_wait_for_final_state_timeout(connected: Connected) -> None:
    provider, router = connected
    router.get(JOB_URL).respond(json=record(status="QUEUED"))
    with pytest.raises(JobTimeoutError):
        await new_job(provider).wait_for_final_state(timeout=0.1, wait=0.02)


# -- cancel --------------------------------------------------------------------------------------


async def test_cancel_sets_cancelled_without_polling(connected: Connected) -> None:
    provider, router = connected
    polls = router.get(JOB_URL).respond(json=record(status="RUNNING"))
    cancel = router.post(f"{JOB_URL}/cancel").respond(204)
    job = new_job(provider)
    assert await job.status() is JobStatus.RUNNING
    await job.cancel()
    [request] = [c.request for c in cancel.calls]
    assert request.method == "POST"
    assert raw_path(request) == f"/runtime/jobs/{JOB}/cancel"
    assert query(request) == []
    assert request.content == b""
    assert_service_headers(request)
    assert job.cached_status is JobStatus.CANCELLED
    assert await job.status() is JobStatus.CANCELLED
    assert await job.error_message() is None
    assert polls.call_count == 1
    assert not job.streaming


async def test_cancel_a_finished_job(connected: Connected) -> None:
    provider, router = connected
    router.post(f"{JOB_URL}/cancel").respond(
        409, json={"error": {"code": 3211, "message": "Job in final state"}}
    )
    job = new_job(provider)
    with pytest.raises(RuntimeInvalidStateError, match="Job cannot be cancelled") as info:
        await job.cancel()
    assert "Job in final state" in str(info.value)
    assert job.cached_status is JobStatus.INITIALIZING


async def test_cancel_an_unknown_job(connected: Connected) -> None:
    provider, router = connected
    router.post(f"{JOB_URL}/cancel").respond(404, json={"error": {"message": "no"}})
    job = new_job(provider)
    with pytest.raises(RuntimeJobNotFound):
        await job.cancel()
    assert job.cached_status is JobStatus.INITIALIZING


async def test_cancel_other_errors(connected: Connected) -> None:
    provider, router = connected
    router.post(f"{JOB_URL}/cancel").respond(400, json={"error": {"message": "bad"}})
    job = new_job(provider)
    with pytest.raises(ApiError) as info:
        await job.cancel()
    assert info.value.status == 400
    assert job.cached_status is JobStatus.INITIALIZING


# -- logs and interim results ------------------------------------------------------------------


async def test_logs(connected: Connected, caplog: pytest.LogCaptureFixture) -> None:
    provider, router = connected
    route = router.get(f"{JOB_URL}/logs").respond(text="line 1\nline 2\n")
    job = new_job(provider)
    with caplog.at_level(logging.INFO, logger="async_qexp"):
        assert await job.logs() == "line 1\nline 2\n"
    assert "logs are complete only after the job finishes" in caplog.text
    assert_get(route.calls[0].request, f"/jobs/{JOB}/logs")


async def test_logs_not_found_is_empty(connected: Connected) -> None:
    provider, router = connected
    router.get(f"{JOB_URL}/logs").respond(404, json={"error": {"message": "no logs"}})
    assert await new_job(provider).logs() == ""


async def test_logs_other_errors_raise(connected: Connected) -> None:
    provider, router = connected
    router.get(f"{JOB_URL}/logs").respond(400, json={"error": {"message": "bad"}})
    with pytest.raises(ApiError):
        await new_job(provider).logs()


async def test_interim_results(connected: Connected) -> None:
    provider, router = connected
    route = router.get(f"{JOB_URL}/interim_results").respond(
        json=[
            {"iteration": 1, "value": {"__type__": "complex", "__value__": [1, -1]}},
            {"iteration": 2, "when": {"__type__": "datetime", "__value__": "2022-01-02T00:00:00Z"}},
            [1, 2],
            7,
        ]
    )
    job = new_job(provider)
    interim = await job.interim_results()
    assert interim[0] == {"iteration": 1, "value": 1 - 1j}
    assert interim[1]["when"].isoformat() == "2022-01-02T00:00:00+00:00"
    assert interim[2:] == [[1, 2], 7]
    assert_get(route.calls[0].request, f"/jobs/{JOB}/interim_results")

    tagged = await job.interim_results(decoder=Tagged)
    assert tagged[0] == ("tagged", {"iteration": 1, "value": 1 - 1j})
    assert [item[0] for item in tagged] == ["tagged"] * 4


async def test_interim_results_use_the_job_decoder(connected: Connected) -> None:
    provider, router = connected
    router.get(f"{JOB_URL}/interim_results").respond(json=[{"a": 1}])
    assert await new_job(provider, decoder=Tagged).interim_results() == [("tagged", {"a": 1})]


async def test_interim_results_empty_and_single(connected: Connected) -> None:
    provider, router = connected
    router.get(f"{JOB_URL}/interim_results").mock(
        side_effect=[
            httpx.Response(200, text=""),
            httpx.Response(200, json=[]),
            httpx.Response(200, json={"only": 1}),
        ]
    )
    job = new_job(provider)
    assert await job.interim_results() == []
    assert await job.interim_results() == []
    assert await job.interim_results() == [{"only": 1}]


async def test_job_repr_and_record_shapes(connected: Connected) -> None:
    provider, router = connected
    router.get(JOB_URL).respond(json=record(status="RUNNING", program="prog-plain"))
    job = await provider.runtime.job(JOB)
    assert job.program_id == "prog-plain"
    assert JOB in repr(job)
    assert "RUNNING" in repr(job)
