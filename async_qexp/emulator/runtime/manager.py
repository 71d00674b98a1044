"""Job execution: one worker process per job, a queue in the database, message fan-out.

Jobs wait in the database (``QUEUED``). Each emulator process claims the oldest of a backend
when fewer than ``runtime_concurrency`` of that backend run (counted over every process sharing
the database; two never claim one job), and runs it. A job this process runs has a
:class:`JobRun` in :attr:`RuntimeManager.live`: it holds the job's published messages in memory
(for the streams here) once they are stored, one store operation per chunk read from the
worker's pipe. Streams of other jobs read the database, woken by the store's job events (other
processes' changes, see :meth:`~async_qexp.emulator.store.RuntimeStore.job_events`) or by this
process's; cancelling or deleting a job another process runs goes through the database too.
Every database call is awaited on the store (off the event loop); the changes a job goes through
are submitted in order, so the stored status never goes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.websockets import WebSocket

from .._util import now_ts
from ..config import EmulatorConfig
from ..faults import FaultSettings
from ..queries import Principal
from ..store import Conflict, NotFound, Row, RuntimeStore
from .live import POLL, JobEvents, JobRun
from .programs import builtin_programs, load_program_dir
from .reaper import WorkerRecords
from .stream import send_job_messages

__all__ = ["SYSTEM_OWNER", "WORKER_GRACE", "WORKER_MODULE", "RuntimeManager"]

logger = logging.getLogger("async_qexp.emulator")

SYSTEM_OWNER = "system"
"""The owner of the built-in programs."""

WORKER_MODULE = "async_qexp.emulator.runtime.worker"
"""The module a job's process runs (``python -m``, with the server's interpreter)."""
_READ_CHUNK = 256 * 1024
WORKER_GRACE = 30
"""Seconds past its job's ``cost`` after which a worker kills itself (the emulator kills it at
``cost``; this bounds a worker whose emulator hangs)."""


def _parse_frames(buf: bytearray) -> tuple[list[tuple[str, str]], int, str | None]:
    """Complete ``"<kind> <len>\\n<payload>"`` frames in ``buf``, the bytes they used, and an
    error if the data after them is no frame."""
    items: list[tuple[str, str]] = []
    pos = 0
    end = len(buf)
    while True:
        nl = buf.find(b"\n", pos, pos + 32)
        if nl < 0:
            if end - pos >= 32:
                return items, pos, f"corrupt message channel ({bytes(buf[pos : pos + 32])!r})"
            break
        header = bytes(buf[pos:nl])
        kind, _, size_text = header.partition(b" ")
        if kind not in (b"I", b"F", b"E") or not size_text.isdigit():
            return items, pos, f"corrupt message channel ({header[:32]!r})"
        size = int(size_text)
        if nl + 1 + size > end:
            break
        items.append((kind.decode("ascii"), buf[nl + 1 : nl + 1 + size].decode("utf-8", "replace")))
        pos = nl + 1 + size
    return items, pos, None


class RuntimeManager:
    """Programs and jobs of one emulator: scheduling, worker processes, message fan-out."""

    def __init__(self, config: EmulatorConfig, store: RuntimeStore, faults: FaultSettings) -> None:
        """A manager of the jobs in ``store``; :meth:`start` it on the serving loop."""
        self.config = config
        self.store = store
        self.faults = faults
        self.backends: tuple[str, ...] = tuple(config.runtime_backends)
        self.concurrency = int(config.runtime_concurrency)
        self.live: dict[str, JobRun] = {}
        self.events = JobEvents()
        self.runner = secrets.token_hex(8)
        """This process's name as the runner of jobs (``rt_jobs.runner``)."""
        self._running: dict[str, int] = dict.fromkeys(self.backends, 0)
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._background: list[asyncio.Task[None]] = []
        self._exit = contextlib.AsyncExitStack()
        self._closing = False
        self.worker_pids: list[int] = []
        """Process ids of every worker started (for tests: none may outlive the emulator)."""
        self.worker_records = WorkerRecords.for_database(config.db)
        """Where running workers are recorded, for a restart to reap (``None`` in memory)."""

    # -- start and stop ------------------------------------------------------------------

    async def start(self) -> None:
        """Seed the built-in programs and deal with jobs a previous process left behind."""
        now = now_ts()
        programs = list(builtin_programs())
        for directory in self.config.runtime_program_dirs:
            programs.extend(load_program_dir(directory))
        rows = [
            {
                "id": meta.name,
                "name": meta.name,
                "description": meta.description,
                "cost": meta.max_execution_time,
                "is_public": True,
                "spec": meta.spec,
                "data": meta.source,
                "owner": SYSTEM_OWNER,
                "version": meta.version,
                "creation_date": now,
                "update_date": now,
            }
            for meta in programs
        ]
        for name in await self.store.upsert_system_programs(rows):
            logger.warning("built-in program %r: a user's program has that name", name)
        if self.worker_records is not None:
            killed = await asyncio.to_thread(self.worker_records.reap)
            if killed:
                logger.warning(
                    "killed %d process(es) a previous emulator left running", len(killed)
                )
        events = await self._exit.enter_async_context(self.store.job_events(self.runner))
        try:
            await self.store.release_orphans(self.runner, now)
        except BaseException:
            await self._exit.aclose()
            raise
        loop = asyncio.get_running_loop()
        self._background = [
            loop.create_task(self._listen(events), name="qexp-runtime-events"),
            loop.create_task(self._dispatch(), name="qexp-runtime-queue"),
        ]

    async def aclose(self) -> None:
        """Kill every worker and wait for the supervising tasks (queued jobs stay queued, for
        another process or a restart on the same database to run)."""
        self._closing = True
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._background = []
        for run in list(self.live.values()):
            if run.override is None:
                run.override = "shutdown"
            self._kill(run)
        while self._tasks:
            await asyncio.wait(list(self._tasks))
        await self._exit.aclose()
        self.events.fire_all()

    # -- scheduling ----------------------------------------------------------------------

    async def submit(self, values: dict[str, Any], *, user: Principal | None = None) -> Row:
        """Store a new job (status QUEUED) under a fresh id, for a process to claim; return
        its record. With ``user``, the program must be one they may see (see
        :meth:`~async_qexp.emulator.store.RuntimeStore.insert_job`)."""
        while True:
            row = {**values, "id": "c" + secrets.token_hex(10), "created": now_ts()}
            try:
                stored = await self.store.insert_job(row, user=user)
            except Conflict:
                continue
            self._wake.set()
            return stored

    async def _dispatch(self) -> None:
        """Claim queued jobs while there is room; look again when woken, or every
        :data:`POLL` seconds (then also failing the jobs of processes that are gone)."""
        while not self._closing:
            self._wake.clear()
            try:
                for backend in self.backends:
                    while self._running[backend] < self.concurrency and not self._closing:
                        row = await self.store.claim_job(
                            backend, self.runner, self.concurrency, now_ts()
                        )
                        if row is None:
                            break
                        self._start(JobRun(row))
            except Exception:
                logger.exception("runtime queue: claiming a job failed; trying again")
            try:
                await asyncio.wait_for(self._wake.wait(), POLL)
            except asyncio.TimeoutError:
                with contextlib.suppress(Exception):
                    for job_id in await self.store.release_orphans(self.runner, now_ts()):
                        logger.warning("runtime job %s: its emulator process is gone", job_id)
                        self.events.fire(job_id)

    def _start(self, run: JobRun) -> None:
        self.live[run.job_id] = run
        self._running[run.backend] += 1
        task = asyncio.ensure_future(self._supervise(run))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.events.fire(run.job_id)  # its streams here follow it live from now on

    async def _listen(self, events: Any) -> None:
        """Act on what other processes do to jobs (see :meth:`_on_event`)."""
        async for job_id, kind in events:
            self._on_event(job_id, kind)

    def _on_event(self, job_id: str, kind: str) -> None:
        if kind == "*":  # events may have been missed
            self.events.fire_all()
            self._wake.set()
            return
        run = self.live.get(job_id)
        if run is not None and kind in ("c", "d") and not run.done:
            if run.override is None:
                run.override = "deleted" if kind == "d" else "cancelled"
            self._kill(run)
        self.events.fire(job_id)
        if kind == "s":  # a job started or ended somewhere: maybe room for another
            self._wake.set()

    async def queued(self, backend: str) -> int:
        """Jobs waiting for ``backend`` (0 for a backend the runtime does not serve)."""
        if backend not in self.backends:
            return 0
        return await self.store.count_queued(backend)

    # -- running one job -----------------------------------------------------------------

    async def _supervise(self, run: JobRun) -> None:
        try:
            await self._execute(run)
        except Exception as exc:  # pragma: no cover - a bug in the emulator
            logger.exception("runtime job %s: supervisor failed", run.job_id)
            await self._finish(run, "FAILED", f"internal emulator error: {exc!r}")
        finally:
            await self._finish(run, "FAILED", "the job was interrupted")  # unless finished
            self._running[run.backend] -= 1
            self._wake.set()

    async def _execute(self, run: JobRun) -> None:
        run.started = True
        try:
            program = await self.store.get_program(None, run.program_id)
        except NotFound:
            program = None
        # Cancelled or deleted while leaving the queue (checked after every await until the
        # process exists; after that, killing the process ends the job).
        if run.override is not None:
            await self._finish_killed(run)
            return
        if program is None:
            await self._finish(run, "FAILED", f"program {run.program_id} no longer exists")
            return
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                WORKER_MODULE,
                "--parent",
                str(os.getpid()),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            await self._finish(run, "FAILED", f"could not start the program's process: {exc}")
            return
        run.proc = proc
        self.worker_pids.append(proc.pid)
        records = self.worker_records
        if records is not None:
            await asyncio.to_thread(records.record, run.job_id, proc.pid)
        loop = asyncio.get_running_loop()
        timer = loop.call_later(max(run.cost, 0.001), self._overrun, run)
        if run.override is not None:
            self._kill(run)
        spec = {
            "source": program["data"],
            "name": program["name"],
            "inputs": run.params,
            "backend": run.backend,
            "log_level": run.log_level,
            "deadline": run.cost + WORKER_GRACE,
        }
        io_task = asyncio.gather(
            self._write_spec(proc, json.dumps(spec).encode() + b"\n"),
            self._read_messages(run, proc),
            self._read_logs(run, proc),
        )
        try:
            returncode = await proc.wait()
        finally:
            timer.cancel()
            self._kill_group(proc.pid)  # whatever the program left behind
            await io_task
            await self._close_stdin(proc)
            if records is not None:
                await asyncio.to_thread(records.forget, run.job_id)
        await self._finish_process(run, returncode)

    async def _write_spec(self, proc: asyncio.subprocess.Process, data: bytes) -> None:
        """Send the job's spec, one line; stdin stays open while the worker runs (its end of
        file tells the worker that the emulator is gone)."""
        stdin = proc.stdin
        assert stdin is not None
        with contextlib.suppress(OSError):
            stdin.write(data)
            await stdin.drain()

    @staticmethod
    async def _close_stdin(proc: asyncio.subprocess.Process) -> None:
        stdin = proc.stdin
        if stdin is not None:
            stdin.close()
            with contextlib.suppress(OSError):
                await stdin.wait_closed()

    async def _read_messages(self, run: JobRun, proc: asyncio.subprocess.Process) -> None:
        stream = proc.stdout
        assert stream is not None
        buf = bytearray()
        while True:
            chunk = await stream.read(_READ_CHUNK)
            if not chunk:
                return
            buf += chunk
            items, used, error = _parse_frames(buf)
            if used:
                del buf[:used]
            if items:
                await self._publish(run, items)
            if error is not None:
                if run.error_text is None:
                    run.error_text = f"the program broke its message channel: {error}"
                self._kill(run)
                while await stream.read(_READ_CHUNK):
                    pass
                return

    async def _read_logs(self, run: JobRun, proc: asyncio.subprocess.Process) -> None:
        stream = proc.stderr
        assert stream is not None
        limit = self.config.runtime_log_limit
        while True:
            chunk = await stream.read(_READ_CHUNK)
            if not chunk:
                return
            room = limit - len(run.logs)
            if room > 0:
                run.logs += chunk[:room]
            if len(chunk) > room and not run.logs_truncated:
                run.logs_truncated = True

    async def _publish(self, run: JobRun, items: list[tuple[str, str]]) -> None:
        """Store a chunk's messages, then hand them to the live subscribers."""
        messages: list[tuple[bool, str]] = []
        for kind, text in items:
            if kind == "E":
                run.error_text = text
            else:
                final = kind == "F"
                if final:
                    run.final_text = text
                messages.append((final, text))
        if not messages or run.override == "deleted":
            return
        await self.store.add_messages(run.job_id, len(run.messages), messages)
        run.messages.extend(text for _, text in messages)
        run.notify()

    def _logs_text(self, run: JobRun) -> str:
        text = run.logs.decode("utf-8", "replace")
        if run.logs_truncated:
            text += "\n[log truncated]\n"
        return text

    async def _finish_process(self, run: JobRun, returncode: int) -> None:
        if run.override is not None:
            await self._finish_killed(run)
        elif run.error_text is not None:
            await self._finish(run, "FAILED", run.error_text)
        elif returncode == 0 and run.final_text is not None:
            await self._finish(run, "COMPLETED", run.final_text)
        else:
            tail = self._logs_text(run)[-4000:]
            await self._finish(
                run,
                "FAILED",
                f"the program's process ended with status {returncode} without a result\n{tail}",
            )

    async def _finish_killed(self, run: JobRun) -> None:
        reason = run.override
        if reason in ("cancelled", "deleted"):
            await self._finish(run, "CANCELLED", None)
        elif reason == "timeout":
            await self._finish(
                run,
                "CANCELLED - RAN TOO LONG",
                f"RAN TOO LONG: the job ran longer than its maximum execution time "
                f"({run.cost} s) and was stopped.",
            )
        else:
            await self._finish(run, "FAILED", "the emulator shut down while the job was running")

    async def _finish(self, run: JobRun, status: str, result: str | None) -> None:
        """Store the job's final status (once), then let its subscribers know."""
        if run.done or run.finishing:
            return
        run.finishing = True
        try:
            if run.override != "deleted":
                await self.store.update_job(
                    run.job_id,
                    {
                        "status": status,
                        "reason": "RAN TOO LONG" if status == "CANCELLED - RAN TOO LONG" else None,
                        "ended": now_ts(),
                        "result": result,
                        "logs": self._logs_text(run),
                    },
                )
        finally:
            run.done = True
            self.live.pop(run.job_id, None)
            run.notify()
            self.events.fire(run.job_id)

    # -- killing -------------------------------------------------------------------------

    def _overrun(self, run: JobRun) -> None:
        if run.done or run.override is not None:
            return
        run.override = "timeout"
        self._kill(run)

    def _kill(self, run: JobRun) -> None:
        proc = run.proc
        if proc is not None and proc.returncode is None:
            self._kill_group(proc.pid)

    @staticmethod
    def _kill_group(pid: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)

    async def cancel(self, job_id: str) -> bool:
        """Cancel a job that is not final, here or in the process that runs it; ``False`` if
        it is final (or unknown)."""
        run = self.live.get(job_id)
        if run is None:
            if await self.store.stop_job(job_id, now_ts(), "c") is None:
                return False
            self._on_event(job_id, "c")  # (in case this process claimed it meanwhile)
            return True
        if run.done or run.finishing:
            return False
        run.override = "cancelled"
        await self.store.update_job(job_id, {"status": "CANCELLED", "reason": None})
        self._kill(run)
        return True

    async def delete(self, job_id: str) -> None:
        """Delete a job in any state (a running process is killed, here or where it runs)."""
        run = self.live.get(job_id)
        if run is not None:
            run.override = "deleted"
            self._kill(run)
        elif await self.store.stop_job(job_id, now_ts(), "d") is not None:
            self._on_event(job_id, "d")
        await self.store.delete_job(job_id)
        self.events.fire(job_id)

    def live_logs(self, job_id: str) -> str | None:
        """The log so far of a job that is not final."""
        run = self.live.get(job_id)
        return None if run is None else self._logs_text(run)

    async def stream(
        self, ws: WebSocket, job_id: str, allowed: Callable[[], Awaitable[bool]]
    ) -> None:
        """Send ACK, every stored message, live ones, then close 1000 once the job is final,
        or 1008 once ``allowed()`` says no (see :func:`.stream.send_job_messages`)."""
        drop_after = self.faults.take_stream_drop(job_id)
        await send_job_messages(
            ws, job_id, self.live.get, self.store, drop_after, self.events, allowed
        )
