"""The emulator's runtime service (PROTOCOL §5 and §6), mounted at ``/runtime``.

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

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .manager import JobRun, RuntimeManager
    from .programs import ProgramFile, builtin_programs, load_program_dir, read_program
    from .routes import runtime_routes

_WHERE = {
    ".manager": ("JobRun", "RuntimeManager"),
    ".programs": ("ProgramFile", "builtin_programs", "load_program_dir", "read_program"),
    ".routes": ("runtime_routes",),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = [
    "JobRun",
    "ProgramFile",
    "RuntimeManager",
    "builtin_programs",
    "load_program_dir",
    "read_program",
    "runtime_routes",
]


def __getattr__(name: str) -> Any:
    """Import a name on first use (PEP 562), so that the job worker (:mod:`.worker`, run as
    ``python -m``) loads none of the server."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULE_OF})
