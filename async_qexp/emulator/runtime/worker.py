"""The process that runs one runtime job (started by the emulator, one per job).

Run as ``python -m async_qexp.emulator.runtime.worker`` with the server's interpreter. It
imports the standard library and :mod:`async_qexp.models.envelopes` (the runtime's JSON
envelopes), nothing else of the package, so it starts fast. Protocol with the emulator:

* **stdin**: one JSON object, then EOF: ``{"source", "name", "inputs" (JSON text),
  "backend", "log_level"}``.
* **stdout** (the original file descriptor 1) carries the published messages, each framed as
  a header line ``"<kind> <byte length>\\n"`` followed by that many bytes of UTF-8 JSON:
  kind ``I`` = interim message, ``F`` = final result, ``E`` = the traceback of a failure.
* **stderr** is the job's log: the program's ``print`` output (file descriptor 1 is pointed
  at stderr once the message channel has been duplicated away), its ``sys.stderr`` and its
  ``logging`` records.

The exit status is 0 after ``main`` returned, 1 after it raised.
"""

from __future__ import annotations

import json
import linecache
import logging
import os
import sys
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


def main() -> int:
    """Run the job described on stdin; see the module docstring."""
    # The message channel is a private duplicate of stdout; fd 1 then goes to the log.
    channel = os.fdopen(os.dup(1), "wb", buffering=64 * 1024)
    os.dup2(2, 1)
    sys.stdout = os.fdopen(1, "w", buffering=1, encoding="utf-8", errors="backslashreplace")
    spec = json.loads(sys.stdin.buffer.read())
    sys.stdin.close()
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
