"""Logging of a whole session, every record of every library at DEBUG: what the library says
(one line per request, login, job transitions, stream connects) and what nobody may say (the
API token, the access token, a signed URL's query), on both transports."""

from __future__ import annotations

import contextlib
import logging
import traceback
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from async_qexp import ExperimentData, Provider
from async_qexp._http import HttpSession
from async_qexp.emulator import serve

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(30)]

TOKEN = "api-token-LOGTEST-5f9c2a7e81d4"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="4" height="4"/></svg>'


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def every_record_at_debug() -> Iterator[list[logging.LogRecord]]:
    """Every logger of the process at DEBUG, enabled, and captured (those that do not
    propagate too); restored afterwards."""
    capture = _Capture()
    root = logging.getLogger()
    manager = logging.Logger.manager
    loggers = [root, *(v for v in manager.loggerDict.values() if isinstance(v, logging.Logger))]
    saved = [(logger, logger.level, logger.disabled, logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
        if logger is root or not logger.propagate:
            logger.addHandler(capture)
    try:
        yield capture.records
    finally:
        for logger, level, disabled, _ in saved:
            logger.setLevel(level)
            logger.disabled = disabled
            logger.removeHandler(capture)


def text_of(record: logging.LogRecord) -> str:
    """Everything a handler could write of a record."""
    parts = [record.getMessage(), record.name]
    if record.exc_text:
        parts.append(record.exc_text)
    if record.exc_info and record.exc_info[1] is not None:
        parts.append("".join(traceback.format_exception(*record.exc_info)))
    return "\n".join(parts)


async def test_a_full_session_logs_what_it_does_and_no_secret(
    monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    sent: list[str] = []
    exchange = HttpSession._exchange

    async def spy(self: HttpSession, request: httpx.Request) -> httpx.Response:
        sent.append(str(request.url))
        return await exchange(self, request)

    monkeypatch.setattr(HttpSession, "_exchange", spy)
    async with serve() as emulator:  # uvicorn sets its loggers' levels when it starts
        with every_record_at_debug() as records:
            async with Provider(TOKEN, emulator.url, transport=transport) as provider:  # type: ignore[arg-type]
                access = provider.http.access_token_for(provider.account.auth_url)
                exp_id = await provider.experiment.create_experiment("T1", "ibmq_lima")
                assert len(await provider.experiment.experiments(backend_name="ibmq_lima")) == 1
                job = await provider.runtime.run(
                    "hello-world", {"backend_name": "emulator_simulator"}, {"iterations": 2}
                )
                async with job.stream_results() as stream:
                    assert len([m async for m in stream]) == 3
                assert await job.result() == "Hello, World!"
                async with ExperimentData(
                    service=provider, experiment_type="T1", backend="ibmq_lima"
                ) as exp:
                    exp.add_analysis_results(name="T1", value=1.5e-5)
                    exp.add_figures(SVG, "decay")
                    await exp.save()
                assert await provider.experiment.figure(exp.experiment_id, "decay.svg") == SVG
                await provider.experiment.delete_experiment(exp_id)
    assert access
    assert len(access) > 10
    signed = [url.split("?", 1)[1] for url in sent if "/_blob/" in url and "?" in url]
    assert signed, "the session uploaded no figure through a signed URL"
    secrets = [TOKEN, access, *signed, *(q.split("sig=")[-1] for q in signed)]
    leaks = [
        (record.name, text_of(record))
        for record in records
        for secret in secrets
        if secret in text_of(record)
    ]
    assert leaks == []
    assert not [r for r in records if "sig=" in text_of(r)]

    def said(logger: str, *fragments: str) -> list[str]:
        return [
            r.getMessage()
            for r in records
            if r.name == logger and all(f in r.getMessage() for f in fragments)
        ]

    # one line per request, with its status, time and attempt
    requests = said("async_qexp.http", " -> ", " ms (attempt 1)")
    assert len(requests) >= len(sent) > 10
    assert said("async_qexp.http", "POST ", "/resultsdb/experiments -> 201")
    assert said("async_qexp.http", "?device_name=ibmq_lima&limit=10 -> 200")  # filters shown
    assert said("async_qexp.http", "PUT ", "/_blob/plot/", "decay.svg -> 200")  # not its query
    assert said("async_qexp.auth", "logged in to", "as ")
    assert said("async_qexp.runtime", f"job {job.job_id} submitted")
    assert said("async_qexp.runtime", f"job {job.job_id}: ", "-> DONE")
    assert said("async_qexp.stream", f"stream of job {job.job_id}: connecting to ws://")
    assert said("async_qexp.stream", "ended (code 1000) after 3 message(s)")
    assert said("async_qexp.emulator", "POST /resultsdb/experiments -> 201")
    assert said("uvicorn.access", "PUT /_blob/plot/", "decay.svg?*** ")  # the server's own
    # the websockets client logs every handshake header at DEBUG: the token's is redacted
    handshake = [
        r.getMessage()
        for r in records
        if r.name.startswith("websockets") and "x-access-token" in r.getMessage().lower()
    ]
    assert handshake
    assert all("***" in line for line in handshake)


async def test_at_info_a_session_says_little(
    transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    """INFO is for people: login, jobs, saves; requests only at DEBUG."""
    caplog.set_level(logging.INFO, logger="async_qexp")
    async with serve() as emulator, Provider(TOKEN, emulator.url, transport=transport) as p:  # type: ignore[arg-type]
        await p.experiment.create_experiment("T1", "ibmq_lima")
        await p.experiment.experiments()
    ours: list[Any] = [r for r in caplog.records if r.name.startswith("async_qexp")]
    assert [r.name for r in ours] == [
        "async_qexp.emulator",
        "async_qexp.auth",
        "async_qexp.emulator",
    ]
