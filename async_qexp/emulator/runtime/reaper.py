"""Records of the running job workers of a file database, so that a restart can kill the
workers a dead emulator left behind (:class:`WorkerRecords`).

A worker dies with its emulator on its own (see :mod:`.worker`); this is the second line: a
worker stuck where neither its watchdog nor its parent-death signal can act, or a process its
program started after its worker was killed. Each running worker has a file
``<database>.workers/<job id>.json`` holding its process id, its start time (in clock ticks
since boot, from ``/proc``) and the boot id, written when it starts and removed when it ends.
At start-up the emulator kills, for each file left, the worker's process group if that process
is still the one recorded (same pid, same start time, same boot), and any process left in the
worker's session that started after it, then removes the file. Without ``/proc`` (not Linux)
nothing can be verified, and nothing is killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path

from ..store import is_postgres_url

__all__ = ["WorkerRecords"]

_PROC = Path("/proc")


def _stat(pid: int) -> tuple[int, int, int] | None:
    """``(process group, session, start time)`` of a live process, else ``None``."""
    try:
        text = (_PROC / str(pid) / "stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = text.rsplit(") ", 1)[-1].split()
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return int(fields[2]), int(fields[3]), int(fields[19])


def _boot_id() -> str | None:
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return None


class WorkerRecords:
    """The worker records of one database (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        """Records kept in ``directory`` (created when the first worker is recorded)."""
        self.directory = directory

    @classmethod
    def for_database(cls, db: str | None) -> WorkerRecords | None:
        """The records of a file database (``<db>.workers``); ``None`` for an in-memory one,
        whose jobs no restart can see, and for PostgreSQL, where several emulator processes
        share the jobs (a program's process dies with the emulator process that ran it)."""
        if db is None or db in ("", ":memory:") or is_postgres_url(db):
            return None
        return cls(Path(db + ".workers"))

    def _file(self, job_id: str) -> Path:
        return self.directory / f"{job_id}.json"

    def record(self, job_id: str, pid: int) -> None:
        """Record the worker ``pid`` of a job, which has just started."""
        info = _stat(pid)
        data = {"pid": pid, "start": None if info is None else info[2], "boot": _boot_id()}
        self.directory.mkdir(exist_ok=True)
        tmp = self.directory / f".{job_id}.tmp"
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(self._file(job_id))

    def forget(self, job_id: str) -> None:
        """Remove the record of a job whose worker has ended."""
        with contextlib.suppress(FileNotFoundError):
            self._file(job_id).unlink()

    def reap(self) -> list[int]:
        """Kill what the recorded workers left (see the module docstring), remove every record,
        and return the process ids killed."""
        if not self.directory.is_dir():
            return []
        killed: list[int] = []
        boot = _boot_id()
        for path in sorted(self.directory.glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                pid, start = int(data["pid"]), data["start"]
            except (OSError, ValueError, KeyError, TypeError):
                data, pid, start = None, 0, None
            if data is not None and start is not None and boot and data.get("boot") == boot:
                killed += self._kill_session(pid, int(start))
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        return killed

    @staticmethod
    def _kill_session(pid: int, start: int) -> list[int]:
        """Kill the recorded worker if it is still that process, and every process of its
        session (its group, as it leads both) that started after it."""
        killed = []
        info = _stat(pid)
        if info is not None and info[2] == start and info[0] == pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
                killed.append(pid)
        for entry in _PROC.iterdir():
            if not entry.name.isdigit() or int(entry.name) == pid:
                continue
            other = _stat(int(entry.name))
            if other is not None and other[:2] == (pid, pid) and other[2] >= start:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(entry.name), signal.SIGKILL)
                    killed.append(int(entry.name))
        return killed
