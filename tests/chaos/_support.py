"""What the chaos tests share: the fault mixes, an injector of after-processing faults, the
bulk save and its read-back check, an emulator in a process of its own (to kill -9), a TCP
proxy whose connections can be cut, and a count of the process's tasks, threads and files."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import attrs

from async_qexp import ExperimentData, Provider, RetryPolicy
from async_qexp.emulator import Emulator
from async_qexp.emulator.faults import FaultSettings
from async_qexp.experiment.results import AnalysisResultData

from ..helpers import client_tasks

TOKEN = "chaos-user"

CHAOS_RETRY = RetryPolicy(
    max_attempts=40, backoff_initial=0.01, backoff_max=0.25, jitter=0.5, total_budget=90.0
)
"""Enough attempts that every request outlasts the faults (and an emulator restart)."""

N_RESULTS = 1000
N_FIGURES = 50


# -- fault mixes ---------------------------------------------------------------------------------


@attrs.frozen
class FaultMix:
    """Random rates (drawn before processing) and scripted faults after processing."""

    rates: dict[str, float] = attrs.field(factory=dict)
    after: tuple[tuple[int | None, bool], ...] = ()
    """``(status, drop)`` choices for the after-processing injector (empty: none)."""
    every: int = 12
    """Requests between after-processing faults (one in ``every``)."""

    def apply(self, faults: FaultSettings, seed: int) -> None:
        """Set the random rates (and the seed) on a live emulator."""
        faults.seed = seed
        for name, value in self.rates.items():
            setattr(faults, name, value)


FAULT_MIXES: dict[str, FaultMix] = {
    "drops-before": FaultMix({"drop_rate": 0.05}),
    "drops-after": FaultMix(after=((None, True),)),
    "5xx": FaultMix(
        {"error_rate_500": 0.04, "error_rate_503": 0.04}, after=((500, False), (503, False))
    ),
    "429-retry-after": FaultMix({"error_rate_429": 0.08, "retry_after": 0.02}),
    "everything": FaultMix(
        {
            "drop_rate": 0.02,
            "error_rate_500": 0.02,
            "error_rate_503": 0.02,
            "error_rate_429": 0.03,
            "retry_after": 0.01,
        },
        after=((None, True), (503, False), (500, False)),
        every=20,
    ),
}
"""Every fault the emulator offers, one mix each, and all of them together."""


@contextlib.asynccontextmanager
async def faults_on(emulator: Emulator, mix: FaultMix, seed: int = 13) -> AsyncIterator[None]:
    """The mix in force on ``emulator`` for the block (cleared afterwards): its rates, and
    one after-processing fault armed after every ``mix.every`` requests the emulator logged
    (counted in requests, not time, so a lone request retrying is not faulted every time)."""
    faults = emulator.faults
    mix.apply(faults, seed)
    rng = random.Random(seed)
    log = emulator.request_log

    async def inject() -> None:
        armed_at = len(log)
        while True:
            await asyncio.sleep(0.002)
            if faults.pending == 0 and len(log) - armed_at >= mix.every:
                status, drop = rng.choice(mix.after)
                faults.fail_next(1, status or 503, after_processing=True, drop=drop)
                armed_at = len(log)

    async with anyio.create_task_group() as group:
        if mix.after:
            group.start_soon(inject)
        try:
            yield
        finally:
            group.cancel_scope.cancel()
            faults.clear()


def fault_counts(emulator: Emulator) -> dict[str, int]:
    """How many requests the emulator faulted, by kind."""
    counts: dict[str, int] = {}
    for record in emulator.request_log:
        if record.fault is not None:
            kind = record.fault if record.status is None else f"{record.fault}:{record.status}"
            counts[kind] = counts.get(kind, 0) + 1
    return counts


# -- the bulk save and its check ------------------------------------------------------------------


def svg(index: int) -> bytes:
    """A distinct figure (a few hundred bytes)."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{index + 1}" height="9">'
        f"<!-- figure {index} {'#' * (index % 17)} --></svg>"
    ).encode()


def fill(data: ExperimentData, tag: str) -> dict[str, int]:
    """Add :data:`N_RESULTS` results and :data:`N_FIGURES` figures; the index of each result
    by id."""
    index_of = {}
    for i in range(N_RESULTS):
        result_id = data.add_analysis_results(
            name=f"{tag}-fit", value=i * 0.5, quality="good", components=[f"Q{i % 7}"], index=i
        )
        assert isinstance(result_id, str)
        index_of[result_id] = i
    data.add_figures([svg(i) for i in range(N_FIGURES)], [f"fig-{i:03}" for i in range(N_FIGURES)])
    return index_of


async def check_saved(
    url: str, transport: str, experiment_id: str, tag: str, index_of: dict[str, int]
) -> None:
    """Read everything back through a new provider (new connections): the experiment once,
    every result once with its own value, every figure once with its own bytes."""
    async with Provider(TOKEN, url, transport=transport, retry=CHAOS_RETRY) as fresh:  # type: ignore[arg-type]
        service = fresh.experiment
        experiments = await service.experiments(limit=None, experiment_type=tag)
        assert [e.experiment_id for e in experiments] == [experiment_id], "lost or duplicated"
        results = await service.analysis_results(limit=None, experiment_id=experiment_id)
        ids = [r.result_id for r in results]
        duplicated = len(ids) - len(set(ids))
        lost = set(index_of) - set(ids)
        unknown = set(ids) - set(index_of)
        assert (duplicated, len(lost), len(unknown)) == (0, 0, 0)
        corrupted = []
        for record in results:
            row = AnalysisResultData.from_record(record)
            i = index_of[record.result_id]
            if (row.value, row.extra.get("index"), row.name) != (i * 0.5, i, f"{tag}-fit"):
                corrupted.append(record.result_id)
        assert corrupted == []
        experiment = await service.experiment(experiment_id)
        names = [f"fig-{i:03}.svg" for i in range(N_FIGURES)]
        assert sorted(experiment.figure_names) == names
        assert len(experiment.figure_names) == N_FIGURES
        for i, name in enumerate(names):
            assert await service.figure(experiment_id, name) == svg(i), f"{name} corrupted"


async def bulk_save(
    provider: Provider, tag: str, *, max_workers: int = 16, progress: Any = None
) -> tuple[ExperimentData, dict[str, int]]:
    """Fill and save one experiment; the save must succeed at the first call."""
    data = ExperimentData(service=provider, experiment_type=tag, backend="ibmq_lima", verbose=False)
    index_of = fill(data, tag)
    report = await data.save(max_workers=max_workers, progress=progress)
    assert report.all_failures() == []
    return data, index_of


async def service_calls(provider: Provider, tag: str, count: int = 60) -> list[str]:
    """``count`` concurrent create_experiment + create_analysis_result + create_figure."""

    async def one(i: int) -> str:
        service = provider.experiment
        exp_id = await service.create_experiment(tag, "ibmq_lima", metadata={"i": i})
        await service.create_analysis_result(exp_id, {"i": i}, f"{tag}-r")
        await service.create_figure(exp_id, svg(i), "only.svg")
        return exp_id

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def check_service_calls(url: str, transport: str, tag: str, ids: list[str]) -> None:
    """Every call's records once, with their own data."""
    async with Provider(TOKEN, url, transport=transport, retry=CHAOS_RETRY) as fresh:  # type: ignore[arg-type]
        service = fresh.experiment
        stored = await service.experiments(limit=None, experiment_type=tag)
        assert sorted(e.experiment_id for e in stored) == sorted(ids)
        assert sorted(e.metadata["i"] for e in stored) == list(range(len(ids)))
        results = await service.analysis_results(limit=None, result_type=f"{tag}-r")
        assert len(results) == len(ids)
        by_experiment = {r.experiment_id: r.result_data["i"] for r in results}
        index = {e.experiment_id: e.metadata["i"] for e in stored}
        assert by_experiment == index
        for experiment in stored:
            assert experiment.figure_names == ["only.svg"]
            figure = await service.figure(experiment.experiment_id, "only.svg")
            assert figure == svg(experiment.metadata["i"])


# -- an emulator in a process of its own --------------------------------------------------------


def free_port() -> int:
    """A port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class EmulatorProcess:
    """``python -m async_qexp.emulator`` on a SQLite file; killed with SIGKILL and restarted
    on the same port (so a client's URLs stay valid)."""

    def __init__(self, db: Path, port: int | None = None, *, runtime: bool = False) -> None:
        self.db = db
        self.runtime = runtime
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[str] | None = None
        self.kills = 0

    def start(self) -> None:
        """Start it and wait until it listens (blocking)."""
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "async_qexp.emulator",
                "--port",
                str(self.port),
                "--db",
                str(self.db),
                *([] if self.runtime else ["--no-runtime"]),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("listening on "):
            self.stop()
            raise AssertionError(f"the emulator did not start: {line!r}")

    def kill(self) -> None:
        """SIGKILL, and reap it."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.kills += 1
        self._close_pipes()

    def stop(self) -> None:
        """SIGTERM (SIGKILL after 10 s)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._close_pipes()
        self.process = None

    def _close_pipes(self) -> None:
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()


def integrity(db: Path) -> str:
    """``PRAGMA integrity_check`` of a database nobody has open."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(db)) as connection:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])


# -- a TCP proxy whose connections can be cut ------------------------------------------------


class CuttingProxy:
    """Forwards 127.0.0.1:<port> to ``target_port``; :meth:`cut` aborts every open
    connection at once (both sides get a reset, no close frame, no FIN)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.cuts = 0
        self.connections = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        """The proxy's base URL."""
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> CuttingProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        self.cut(count=False)
        for task in list(self._pipes):
            task.cancel()
        if self._pipes:
            await asyncio.wait(self._pipes)
        await self._server.wait_closed()

    def cut(self, *, count: bool = True) -> int:
        """Abort every open connection; how many there were."""
        writers, self._writers = self._writers, set()
        for writer in writers:
            writer.transport.abort()
        if count and writers:
            self.cuts += 1
        return len(writers)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        pipes = [
            asyncio.ensure_future(self._pipe(reader, up_writer)),
            asyncio.ensure_future(self._pipe(up_reader, writer)),
        ]
        self._pipes.update(pipes)
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pipes:
                task.cancel()
            await asyncio.wait(pipes)
            self._pipes.difference_update(pipes)
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()


# -- leaks ---------------------------------------------------------------------------------------


@attrs.frozen
class Resources:
    """What the process holds: client tasks, threads, open file descriptors (sockets too)."""

    tasks: int
    threads: tuple[str, ...]
    fds: int
    sockets: int

    @classmethod
    def now(cls) -> Resources:
        """A snapshot."""
        fds = os.listdir("/proc/self/fd")
        sockets = 0
        for fd in fds:
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                    sockets += 1
        threads = tuple(sorted(t.name for t in threading.enumerate() if not _idle_worker_thread(t)))
        return cls(len(client_tasks()), threads, len(fds), sockets)


def _idle_worker_thread(thread: threading.Thread) -> bool:
    """anyio's and asyncio's pooled worker threads, which outlive their work by design."""
    return thread.name.startswith(("AnyIO worker thread", "asyncio_", "ThreadPoolExecutor"))


async def settle(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Wait (up to ``timeout``) until ``condition()``; whether it became true."""
    with anyio.move_on_after(timeout):
        while not condition():  # noqa: ASYNC110 - polling process-wide counters
            await asyncio.sleep(0.05)
        return True
    return False
