"""Storage of the emulator: the async :class:`Store` interface, its typed errors, and
:class:`SQLiteStore`, which runs every SQLite call on one database thread.

See :mod:`.interface` for the operations and the fields of the records they take and return.
"""

from __future__ import annotations

from . import interface
from .interface import *  # noqa: F403 - the interface is this package's vocabulary
from .sqlite import SQLiteStore

__all__ = [*interface.__all__, "SQLiteStore"]
