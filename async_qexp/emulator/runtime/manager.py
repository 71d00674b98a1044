"""Job execution: one worker process per job, per-backend queues, message fan-out.

Every job that is not final has a :class:`JobRun` in :attr:`RuntimeManager.live`: it holds the
job's published messages in memory (for live subscribers) once they are stored, one store
operation per chunk read from the worker's pipe. A finished job's messages are read back from
the store. Every database call is awaited on the store (off the event loop); the changes a
job goes through are submitted in order, so the stored status never goes back.
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
from collections import deque
from typing import Any

from starlette.websockets import WebSocket

from .._util import now_ts
from ..config import EmulatorConfig
from ..faults import FaultSettings
from ..queries import Principal
from ..store import Conflict, NotFound, Row, RuntimeStore
from .live import JobRun
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
        self._queues: dict[str, deque[JobRun]] = {b: deque() for b in self.backends}
        self._running: dict[str, int] = dict.fromkeys(self.backends, 0)
        self._tasks: set[asyncio.Task[None]] = set()
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
        for row in await self.store.unfinished_jobs():
            if row["status"] == "QUEUED" and row["backend"] in self._queues:
                self._enqueue(JobRun(row))
            else:
                await self.store.update_job(
                    row["id"],
                    {
                        "status": "FAILED",
                        "ended": now,
                        "result": "the emulator stopped while the job was running",
                    },
                )

    async def aclose(self) -> None:
        """Kill every worker and wait for the supervising tasks (queued jobs stay queued)."""
        self._closing = True
        for queue in self._queues.values():
            queue.clear()  # still QUEUED in the database: a restart on the same file runs them
        for run in list(self.live.values()):
            if run.override is None:
                run.override = "shutdown"
            self._kill(run)
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    # -- scheduling ----------------------------------------------------------------------

    async def submit(self, values: dict[str, Any], *, user: Principal | None = None) -> Row:
        """Store a new job (status QUEUED) under a fresh id and queue it on its backend;
        return its record. With ``user``, the program must be one they may see (see
        :meth:`~async_qexp.emulator.store.RuntimeStore.insert_job`)."""
        while True:
            row = {**values, "id": "c" + secrets.token_hex(10), "created": now_ts()}
            run = JobRun({"cost": 0, **row})  # (the program's cost is known once stored)
            # Live before it is stored: a stream opened as soon as the job exists finds it.
            self.live[run.job_id] = run
            try:
                stored = await self.store.insert_job(row, user=user)
            except Conflict:
                del self.live[run.job_id]
                continue
            except BaseException:
                del self.live[run.job_id]
                raise
            run.program_id, run.cost = stored["program_id"], int(stored["cost"])
            if not run.done:  # (a cancel or delete may have come first)
                self._enqueue(run)
            return stored

    def _enqueue(self, run: JobRun) -> None:
        self.live[run.job_id] = run
        self._queues[run.backend].append(run)
        self._pump(run.backend)

    def _pump(self, backend: str) -> None:
        queue = self._queues[backend]
        while queue and not self._closing and self._running[backend] < self.concurrency:
            run = queue.popleft()
            self._running[backend] += 1
            task = asyncio.ensure_future(self._supervise(run))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def queued(self, backend: str) -> int:
        """Jobs waiting for ``backend`` (0 for a backend the runtime does not serve)."""
        queue = self._queues.get(backend)
        return 0 if queue is None else len(queue)

    def queued_position(self, job_id: str) -> int | None:
        """0-based place of a queued job in its backend's queue."""
        run = self.live.get(job_id)
        if run is None:
            return None
        with contextlib.suppress(ValueError):
            return self._queues[run.backend].index(run)
        return None

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
            self._pump(run.backend)

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
        await self.store.update_job(run.job_id, {"status": "RUNNING", "started": now_ts()})
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

    def _unqueue(self, run: JobRun) -> bool:
        """Take a job that has not started out of its queue; ``False`` if it has started."""
        if run.started:
            return False
        with contextlib.suppress(ValueError):
            self._queues[run.backend].remove(run)
        return True

    async def cancel(self, job_id: str) -> bool:
        """Cancel a job that is not final; ``False`` if it is final (or unknown)."""
        run = self.live.get(job_id)
        if run is None or run.done or run.finishing:
            return False
        run.override = "cancelled"
        if self._unqueue(run):
            await self._finish(run, "CANCELLED", None)
            return True
        await self.store.update_job(job_id, {"status": "CANCELLED", "reason": None})
        self._kill(run)
        return True

    async def delete(self, job_id: str) -> None:
        """Delete a job in any state (a running process is killed)."""
        run = self.live.get(job_id)
        if run is not None:
            run.override = "deleted"
            if self._unqueue(run):
                await self._finish(run, "CANCELLED", None)
            else:
                self._kill(run)
        await self.store.delete_job(job_id)

    def live_logs(self, job_id: str) -> str | None:
        """The log so far of a job that is not final."""
        run = self.live.get(job_id)
        return None if run is None else self._logs_text(run)

    async def stream(self, ws: WebSocket, job_id: str) -> None:
        """Send ACK, every stored message, live ones, then close 1000 once the job is final
        (see :func:`.stream.send_job_messages`)."""
        drop_after = self.faults.take_stream_drop(job_id)
        await send_job_messages(ws, job_id, self.live.get, self.store, drop_after)
