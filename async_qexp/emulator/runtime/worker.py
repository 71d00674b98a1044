"""The process that runs one runtime job (started by the emulator, one per job).

Run as ``python -m async_qexp.emulator.runtime.worker`` with the server's interpreter. It
imports the standard library and :mod:`async_qexp.models.envelopes` (the runtime's JSON
envelopes), nothing else of the package, so it starts fast. Protocol with the emulator:

* **arguments**: ``--parent <emulator pid>``.
* **stdin**: one line of JSON: ``{"source", "name", "inputs" (JSON text), "backend",
  "log_level", "deadline" (seconds, optional)}``. The emulator then keeps stdin open and
  writes nothing more: its end of file means the emulator is gone (exited, crashed, killed
  with ``kill -9``), and a watchdog thread then kills the worker's whole process group (the
  program and whatever it started). The program itself reads an empty stdin.
* The worker also asks Linux for ``SIGTERM`` when its parent dies (``PR_SET_PDEATHSIG``),
  handled the same way, and kills its group once ``deadline`` seconds have passed (a bound
  past the emulator's own limit of the job, in case the emulator hangs).
* **stdout** (the original file descriptor 1) carries the published messages, each framed as
  a header line ``"<kind> <byte length>\\n"`` followed by that many bytes of UTF-8 JSON:
  kind ``I`` = interim message, ``F`` = final result, ``E`` = the traceback of a failure.
* **stderr** is the job's log: the program's ``print`` output (file descriptor 1 is pointed
  at stderr once the message channel has been duplicated away), its ``sys.stderr`` and its
  ``logging`` records.

The exit status is 0 after ``main`` returned, 1 after it raised.
"""

from __future__ import annotations

import ctypes
import json
import linecache
import logging
import os
import select
import signal
import sys
import threading
import time
import traceback
import types
from typing import IO, Any

from async_qexp.models.envelopes import RuntimeDecoder, RuntimeEncoder


class _Name(str):
    """The backend name: a string that can also be called (``backend.name()``)."""

    __slots__ = ()

    def __call__(self) -> str:
        return str(self)


class Backend:
    """The backend handed to ``main``: ``backend.name`` and ``backend.name()`` both work."""

    def __init__(self, name: str) -> None:
        self.name = _Name(name)

    def __repr__(self) -> str:
        return f"<Backend {self.name}>"


class UserMessenger:
    """Publishes messages to the job's subscribers (``user_messenger.publish``)."""

    def __init__(self, channel: IO[bytes], encoder: type[json.JSONEncoder]) -> None:
        self._channel = channel
        self._encoder = encoder
        self.final_published = False

    def _send(self, kind: str, text: str) -> None:
        data = text.encode("utf-8", "surrogatepass")
        self._channel.write(f"{kind} {len(data)}\n".encode("ascii") + data)
        self._channel.flush()

    def publish(
        self,
        message: Any,
        encoder: type[json.JSONEncoder] | None = None,
        final: bool = False,
    ) -> None:
        """Send ``message`` (JSON-encoded with ``encoder``); ``final=True`` makes it the result."""
        text = json.dumps(message, cls=encoder or self._encoder)
        self._send("F" if final else "I", text)
        if final:
            self.final_published = True


def _forget_working_directory() -> None:
    """Drop the entry ``python -m`` put first on ``sys.path`` (the working directory): the
    program sees the same import path as under ``python program.py`` minus its own folder."""
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]


def _load_program(name: str, source: str) -> types.ModuleType:
    filename = f"<runtime program {name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType("__main__")
    module.__file__ = filename
    sys.modules["__main__"] = module
    exec(compile(source, filename, "exec"), module.__dict__)
    return module


_PR_SET_PDEATHSIG = 1


def _kill_group(*_: object) -> None:
    """Kill the worker's process group: the program, its children and the worker itself."""
    try:
        os.killpg(os.getpgrp(), signal.SIGKILL)
    finally:
        os._exit(137)


def _watch(fd: int, deadline: float | None) -> None:
    """Wait (on a daemon thread) until ``fd`` reaches end of file or ``deadline`` passes, then
    kill the group."""
    while True:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            ready, _, _ = select.select([fd], [], [], timeout)
            if ready and os.read(fd, 4096):
                continue  # (the emulator writes nothing after the spec)
        except InterruptedError:
            continue
        except OSError:  # the program closed it: the emulator can no longer be watched
            _kill_group()
        if ready or deadline is None or time.monotonic() >= deadline:
            _kill_group()


def _die_with_parent(parent: int) -> None:
    """Have Linux send SIGTERM when the parent dies (and kill the group on it)."""
    signal.signal(signal.SIGTERM, _kill_group)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
            pass
    if os.getppid() != parent:  # it died before the request took effect
        _kill_group()


def _read_spec(watch: bool) -> dict[str, Any]:
    """The job's spec (the first line of stdin); then, with ``watch``, stdin becomes the
    watchdog's, and the program gets an empty one. (Without it, as an emulator that does not
    pass ``--parent`` expects, stdin ends after the spec and nothing is watched.)"""
    if not watch:
        spec: dict[str, Any] = json.loads(sys.stdin.buffer.read())
        sys.stdin.close()
        return spec
    spec = json.loads(sys.stdin.buffer.readline())
    watched = os.dup(0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    deadline = spec.get("deadline")
    at = None if deadline is None else time.monotonic() + float(deadline)
    threading.Thread(target=_watch, args=(watched, at), name="watchdog", daemon=True).start()
    return spec


def main() -> int:
    """Run the job described on stdin; see the module docstring."""
    watch = len(sys.argv) > 2 and sys.argv[1] == "--parent"
    if watch:
        _die_with_parent(int(sys.argv[2]))
    # The message channel is a private duplicate of stdout; fd 1 then goes to the log.
    channel = os.fdopen(os.dup(1), "wb", buffering=64 * 1024)
    os.dup2(2, 1)
    sys.stdout = os.fdopen(1, "w", buffering=1, encoding="utf-8", errors="backslashreplace")
    spec = _read_spec(watch)
    level = str(spec.get("log_level") or "INFO").upper()
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    _forget_working_directory()
    messenger = UserMessenger(channel, RuntimeEncoder)
    try:
        inputs = json.loads(spec.get("inputs") or "{}", cls=RuntimeDecoder)
        if not isinstance(inputs, dict):
            raise TypeError(f"the job's inputs must be a JSON object, not {type(inputs).__name__}")
        program = _load_program(str(spec.get("name") or "program"), spec["source"])
        entry = getattr(program, "main", None)
        if not callable(entry):
            raise AttributeError("the program defines no main(backend, user_messenger, **kwargs)")
        result = entry(Backend(str(spec.get("backend") or "")), messenger, **inputs)
        if not messenger.final_published:
            messenger.publish(result, final=True)
    except BaseException:
        text = traceback.format_exc()
        sys.stderr.write(text)
        sys.stderr.flush()
        messenger._send("E", text)
        channel.close()
        return 1
    sys.stdout.flush()
    sys.stderr.flush()
    channel.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
