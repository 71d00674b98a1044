"""Storage of the emulator: the async :class:`Store` interface, its typed errors, and
:class:`SQLiteStore`, which runs every SQLite call on one database thread.

See :mod:`.interface` for the operations and the fields of the records they take and return.
"""

from __future__ import annotations

from .interface import (
    FINAL_STATUSES,
    BlobKind,
    Conflict,
    ExperimentStore,
    Forbidden,
    Invalid,
    NotFound,
    Row,
    RuntimeStore,
    Store,
    StoreError,
)
from .sqlite import SQLiteStore

__all__ = [
    "FINAL_STATUSES",
    "BlobKind",
    "Conflict",
    "ExperimentStore",
    "Forbidden",
    "Invalid",
    "NotFound",
    "Row",
    "RuntimeStore",
    "SQLiteStore",
    "Store",
    "StoreError",
]
