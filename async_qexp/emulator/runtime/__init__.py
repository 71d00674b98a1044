"""The emulator's runtime service, mounted at ``/runtime`` (``docs/protocol.md#runtime-rest-api``,
``#runtime-jobs`` and ``#result-stream``).

* Programs live in SQLite (``name`` unique → 409; ``data`` = the decoded source, returned only
  to the author). Built-ins (public, owner ``system``): ``hello-world``, ``sample-program``,
  ``t1-sim`` and ``burst`` from ``async_qexp/emulator/programs``, plus any ``*.py`` of
  ``EmulatorConfig.runtime_program_dirs``.
* ``POST /jobs`` runs the program's ``main(backend, user_messenger, **inputs)`` in its own
  worker process (:mod:`.worker`), at most ``runtime_concurrency`` at a time per backend
  (the others stay QUEUED, in submission order). A job is killed after its program's ``cost``
  seconds (``CANCELLED - RAN TOO LONG``; ``state`` = ``CANCELLED`` + ``RAN TOO LONG``).
* Every published message is stored with a sequence number; ``/interim_results`` is a JSON
  array of the interim ones, ``/results`` the final one's text (or the traceback).
* ``/stream/jobs/{id}``: ``ACK``, then every message from the first, then live ones; close
  1000 once the job's REST status is final and everything was sent. An unknown token or job
  is refused before the upgrade with HTTP 401 / 404 (JSON body).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_names

if TYPE_CHECKING:
    from .live import JobRun
    from .manager import RuntimeManager
    from .programs import ProgramFile, builtin_programs, load_program_dir, read_program
    from .routes import runtime_routes

_WHERE = {
    ".live": ("JobRun",),
    ".manager": ("RuntimeManager",),
    ".programs": ("ProgramFile", "builtin_programs", "load_program_dir", "read_program"),
    ".routes": ("runtime_routes",),
}
__all__ = [
    "JobRun",
    "ProgramFile",
    "RuntimeManager",
    "builtin_programs",
    "load_program_dir",
    "read_program",
    "runtime_routes",
]


__getattr__, __dir__ = lazy_names(__name__, _WHERE)
