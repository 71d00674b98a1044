"""Starting and closing a provider: the forms of ``Provider.local()`` and ``Provider.auto()``
(awaited, ``start()``, ``async with``), the clear error before start, the in-memory warning,
and a provider dropped or left open (collected, at loop shutdown, at interpreter exit) that
releases everything it started without a word.
"""

from __future__ import annotations

import gc
import logging
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from async_qexp import NotStartedError, PendingProvider, Provider, QexpError
from async_qexp import _client as client_module
from async_qexp.emulator import EmulatorConfig, serve

from ..helpers import wait_until

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``auto()`` falls back to the emulator, and the in-memory warning is not yet given."""
    monkeypatch.delenv("QEXP_TOKEN", raising=False)
    monkeypatch.delenv("QEXP_URL", raising=False)
    monkeypatch.setenv("QEXP_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setattr(client_module, "_in_memory_warned", False)


def emulator_thread(provider: Provider) -> threading.Thread:
    runner = provider._held.emulator_thread
    assert runner is not None
    assert runner.thread is not None
    return runner.thread


# -- the forms -------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_local_awaited_is_kept_and_closed_with_one_call() -> None:
    pending = Provider.local()
    assert isinstance(pending, PendingProvider)
    provider = await pending
    assert isinstance(provider, Provider)
    thread = emulator_thread(provider)
    exp_id = await provider.experiment.create_experiment("T1", "ibmq_lima")
    assert [e.experiment_id for e in await provider.experiment.experiments()] == [exp_id]
    assert "embedded emulator" in repr(provider)
    await provider.aclose()
    assert not thread.is_alive(), "aclose() stops the emulator it started"
    assert provider._session is None
    with pytest.raises(QexpError, match="closed"):
        provider.experiment  # noqa: B018
    await provider.aclose()  # twice is fine


@pytest.mark.asyncio
async def test_start_returns_the_started_provider() -> None:
    provider = await Provider.local("bob").start()
    thread = emulator_thread(provider)
    try:
        assert provider.account.user_id
        assert await provider.runtime.programs()
    finally:
        await provider.aclose()
    assert not thread.is_alive()


@pytest.mark.asyncio
async def test_async_with_is_unchanged() -> None:
    async with Provider.local() as provider:
        thread = emulator_thread(provider)
        assert await provider.experiment.experiments() == []
    assert not thread.is_alive()
    with pytest.raises(QexpError, match="closed"):
        await provider.experiment.experiments()


@pytest.mark.parametrize("form", ["await", "start", "async with"])
@pytest.mark.asyncio
async def test_auto_forms_without_a_token(form: str) -> None:
    if form == "async with":
        async with Provider.auto() as provider:
            thread = emulator_thread(provider)
            assert provider.emulator is not None
        assert not thread.is_alive()
        return
    provider = await (Provider.auto() if form == "await" else Provider.auto().start())
    thread = emulator_thread(provider)
    assert provider.emulator is not None
    await provider.aclose()
    assert not thread.is_alive()


@pytest.mark.asyncio
async def test_auto_with_a_token_uses_that_service(monkeypatch: pytest.MonkeyPatch) -> None:
    async with serve() as emulator:
        monkeypatch.setenv("QEXP_TOKEN", "carol")
        monkeypatch.setenv("QEXP_URL", emulator.url)
        provider = await Provider.auto(emulator=EmulatorConfig(db="ignored.sqlite"))
        try:
            assert provider.emulator is None, "no embedded emulator"
            assert provider._held.emulator_thread is None
            assert await provider.experiment.experiments() == []
        finally:
            await provider.aclose()


@pytest.mark.asyncio
async def test_a_failed_start_stops_the_emulator_and_may_be_retried() -> None:
    before = {t for t in threading.enumerate() if t.name == "qexp-emulator"}
    pending = Provider.local(timeout=-1)
    with pytest.raises(ValueError, match="timeout"):
        await pending
    assert {t for t in threading.enumerate() if t.name == "qexp-emulator"} == before
    with pytest.raises(ValueError, match="timeout"):
        await pending.start()  # not started: it may be tried again (and fails again)


# -- before it is started --------------------------------------------------------------------------


@pytest.mark.parametrize("factory", [Provider.local, Provider.auto])
@pytest.mark.asyncio
async def test_using_it_before_start_says_how_to_start(factory: Any) -> None:
    pending = factory()
    name = "Provider.local()" if factory == Provider.local else "Provider.auto()"
    with pytest.raises(NotStartedError) as info:
        pending.experiment  # noqa: B018
    message = str(info.value)
    assert f"provider = await {name}" in message
    assert "await provider.aclose()" in message
    assert f"async with {name} as provider:" in message
    assert isinstance(info.value, QexpError)
    assert isinstance(info.value, AttributeError), "hasattr() and getattr(default) still work"
    assert not hasattr(pending, "runtime")
    assert getattr(pending, "account", None) is None
    with pytest.raises(AttributeError, match="has no attribute 'nonsense'") as other:
        pending.nonsense  # noqa: B018
    assert not isinstance(other.value, NotStartedError)
    assert repr(pending) == f"<PendingProvider {name}: not started>"


@pytest.mark.asyncio
async def test_after_start_the_pending_object_points_at_the_provider() -> None:
    pending = Provider.local()
    provider = await pending
    try:
        assert repr(pending) == "<PendingProvider Provider.local(): started>"
        with pytest.raises(NotStartedError, match="use the Provider it gave"):
            pending.experiment  # noqa: B018
        with pytest.raises(RuntimeError, match="was started already"):
            await pending
    finally:
        await provider.aclose()


@pytest.mark.asyncio
async def test_a_provider_not_connected_says_how_to_connect() -> None:
    provider = Provider("token", "http://127.0.0.1:9")
    with pytest.raises(NotStartedError, match=r"await provider\.connect\(\)"):
        provider.experiment  # noqa: B018


# -- the in-memory warning -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_auto_warns_once_that_data_is_in_memory(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="async_qexp")
    for _ in range(2):
        async with Provider.auto():
            pass
    warnings = [r for r in caplog.records if "in-memory" in r.getMessage()]
    assert len(warnings) == 1, "once per process"
    (record,) = warnings
    assert record.levelno == logging.WARNING
    assert record.name == "async_qexp"
    message = record.getMessage()
    assert "lost when the process exits" in message
    assert "EmulatorConfig(db='qexp.sqlite')" in message
    assert "python -m async_qexp.emulator --db qexp.sqlite" in message
    assert "QEXP_TOKEN" in message


@pytest.mark.asyncio
async def test_no_warning_with_a_database_file_or_from_local(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.WARNING, logger="async_qexp")
    db = str(tmp_path / "qexp.sqlite")
    async with Provider.auto(emulator=EmulatorConfig(db=db)) as provider:
        exp_id = await provider.experiment.create_experiment("T1", "ibmq_lima")
    async with Provider.local() as provider:
        pass
    assert not [r for r in caplog.records if "in-memory" in r.getMessage()]
    async with Provider.auto(emulator=EmulatorConfig(db=db)) as provider:
        assert (await provider.experiment.experiment(exp_id)).experiment_id == exp_id


# -- dropped or left open --------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
@pytest.mark.asyncio
async def test_a_dropped_provider_releases_everything_quietly(
    transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A notebook cell rebinds ``provider``: the old one's emulator, connections and tasks go,
    with no "Unclosed client session", no "Task was destroyed", no ResourceWarning (which
    this suite turns into errors)."""
    caplog.set_level(logging.DEBUG)
    provider = await Provider.local(transport=transport)
    thread = emulator_thread(provider)
    session = provider.http
    tasks = provider.tasks
    job = await provider.runtime.run(
        "sample-program", options={"backend_name": "emulator_simulator"}, inputs={"iterations": 50}
    )
    job.stream_results(lambda job_id, message: None)  # a task the provider owns
    for _ in range(3):
        await provider.experiment.create_experiment("T1", "ibmq_lima")
    pager = provider.experiment.experiments(limit=None, page_size=1)
    await pager.__anext__()  # the next page is being fetched, in a task the provider owns
    del provider, job, pager  # no gc.collect(): dropping the last reference is enough
    await wait_until(lambda: not thread.is_alive() and session.closed, timeout=10)
    assert tasks.closed
    gc.collect()
    noise = [
        r.getMessage()
        for r in caplog.records
        if any(w in r.getMessage() for w in ("Unclosed", "destroyed", "never awaited"))
    ]
    assert noise == []


EXIT_SCRIPT = """
import asyncio, atexit, sys
sys.path.insert(0, {root!r})
MODE, TRANSPORT = sys.argv[1], sys.argv[2]
kept = []

def report():
    print("released:", all(provider._held.empty for provider in kept))

atexit.register(report)  # before async_qexp registers its own hook, so it runs after it
from async_qexp import Provider

async def work():
    provider = await Provider.local(transport=TRANSPORT)
    await provider.experiment.create_experiment("T1", "ibmq_lima")
    job = await provider.runtime.run(
        "sample-program", options={{"backend_name": "emulator_simulator"}},
        inputs={{"iterations": 50}})
    job.stream_results(lambda job_id, message: None)
    if MODE != "dropped-in-main":
        kept.append(provider)

if MODE == "loop-left-stopped":   # a notebook kernel at exit: its loop stopped, not closed
    loop = asyncio.new_event_loop()
    loop.run_until_complete(work())
else:                               # asyncio.run closes the loop with the provider open
    asyncio.run(work())
print("done")
"""


@pytest.mark.parametrize(
    ("mode", "transport"),
    [
        ("loop-left-stopped", "aiohttp"),
        ("loop-left-stopped", "httpx"),
        ("open-at-asyncio-run-end", "aiohttp"),
        ("dropped-in-main", "aiohttp"),
    ],
)
def test_a_provider_left_open_at_exit_is_released_quietly(mode: str, transport: str) -> None:
    """Development mode shows every ResourceWarning and unclosed-resource message.
    (Deprecation warnings are not leaks: the oldest uvicorn allowed warns about the websockets
    API it uses.)"""
    script = textwrap.dedent(EXIT_SCRIPT).format(root=str(ROOT))
    completed = subprocess.run(
        [
            sys.executable,
            "-X",
            "dev",
            "-W",
            "ignore::DeprecationWarning",
            "-c",
            script,
            mode,
            transport,
        ],
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split("\n") == ["done", "released: True", ""]
    noise = [
        line
        for line in completed.stderr.splitlines()
        if "Executing <" not in line  # -X dev reports slow callbacks; those are not leaks
    ]
    assert noise == [], completed.stderr
