"""Storage of the emulator: the async :class:`Store` interface, its typed errors, and the two
stores: :class:`SQLiteStore` (a file or memory, on one database thread; the default) and
``PostgresStore`` (in :mod:`.postgres`, with the ``postgresql`` extra), chosen by
:func:`open_store` from the database's name.

See :mod:`.interface` for the operations and the fields of the records they take and return.
"""

from __future__ import annotations

import os

from . import interface
from ._base import SCHEMA_VERSION, SchemaError, is_postgres_url, shown_database
from .interface import *  # noqa: F403 - the interface is this package's vocabulary
from .sqlite import SQLiteStore

__all__ = [
    *interface.__all__,
    "SCHEMA_VERSION",
    "SQLiteStore",
    "SchemaError",
    "is_postgres_url",
    "open_store",
    "shown_database",
]


async def open_store(
    db: str | None,
    *,
    synchronous: str = "normal",
    blobs: str | os.PathLike[str] | None = None,
) -> interface.Store:
    """Open the store of ``db``: a PostgreSQL URL, a SQLite file, or ``None`` (SQLite in
    memory). ``synchronous`` applies to a SQLite file. ``blobs`` is the directory that holds
    the bytes of figures and files (``None``: they are in the database).

    Raises:
        RuntimeError: a PostgreSQL URL without the ``postgresql`` extra installed.
        ConnectionError: the PostgreSQL server cannot be reached.
        SchemaError: the database was made by a newer emulator.
        ValueError: ``blobs`` is missing or not writable, or is not the directory the
            database's figures and files are in.
    """
    if is_postgres_url(db):
        assert db is not None
        try:
            from .postgres import PostgresStore
        except ImportError as exc:
            raise RuntimeError(
                'a PostgreSQL database needs psycopg: pip install "async_qexp[postgresql]"'
            ) from exc
        return await PostgresStore.open(db, blobs=blobs)
    return await SQLiteStore.open(db, synchronous, blobs)
