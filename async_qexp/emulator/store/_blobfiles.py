"""Figures and files in a directory (``--blobs DIR``): :class:`BlobDir`.

A blob row whose ``sha256`` column is set keeps its bytes in the file of that name in the
directory (the lowercase hex SHA-256 of the bytes); a row without one keeps them in its ``data``
column, as every row did before the option existed. Naming a file by its content means that a
rename never replaces different bytes, that two rows (or two emulator processes) storing the
same bytes share one file, and that a file is complete as soon as it has its name.

The order of a write is what makes it safe against a crash at any point:

1. the bytes go to a temporary file in the directory (``.tmp-*``), flushed and fsynced
   (:meth:`BlobDir.stage`), before the transaction starts;
2. in the transaction, holding the content's lock, the temporary file is renamed to its hash
   and the directory fsynced (:meth:`BlobDir.place`);
3. only then is the row that points at it committed.

A crash before 3 leaves at most a file that no row refers to (harmless; a temporary one is
never served); a reader only opens the file of a committed row. A file is removed only when,
holding the content's lock, no row refers to its hash any more (:func:`release`): the lock
keeps a writer of the same bytes from placing its file in between.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterable
from typing import Any

import attrs

from ._sql import Db, transaction
from .interface import StoreError

__all__ = [
    "STALE_TEMP_S",
    "BlobDir",
    "BlobLost",
    "Staged",
    "check_blob_rows",
    "lock_name",
    "release",
]

logger = logging.getLogger("async_qexp.emulator")

_HASH = re.compile(r"[0-9a-f]{64}\Z")
_TEMP_PREFIX = ".tmp-"
STALE_TEMP_S = 3600.0
"""A temporary file older than this (seconds) when the emulator starts is a crash's leftover,
and is removed."""


class BlobLost(StoreError):
    """A committed row's file is missing or has the wrong size (someone removed or changed it
    behind the emulator's back): answered 500, never with partial bytes."""


@attrs.frozen
class Staged:
    """Bytes written to a temporary file of the directory, not yet under their name."""

    temp: str
    """The temporary file's path."""
    sha256: str
    """The lowercase hex SHA-256 of the bytes: their file's name."""
    size: int
    """How many bytes."""


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobDir:
    """The directory that holds blob bytes, one file per distinct content.

    Every method does file-system work and blocks: call them on a database thread.
    """

    def __init__(self, path: str) -> None:
        """The directory at ``path`` (an absolute path), unchecked: see :meth:`at`."""
        self.path = path

    @classmethod
    def at(cls, path: str | os.PathLike[str]) -> BlobDir:
        """The directory at ``path`` (made absolute), not checked yet: see :meth:`check`.

        Raises:
            TypeError: ``path`` is not a string or path.
            ValueError: an empty path.
        """
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"blobs: a directory path, not {type(path).__name__}")
        text = os.fspath(path)
        if not isinstance(text, str):
            raise TypeError("blobs: a directory path as text, not bytes")
        if not text:
            raise ValueError("blobs: an empty directory path")
        return cls(os.path.abspath(text))

    def check(self) -> None:
        """Check that the directory exists and that this process can write files in it and
        fsync them (by writing, syncing and removing a probe file).

        Raises:
            ValueError: the directory is missing, is no directory, or refuses a file.
        """
        if not os.path.exists(self.path):
            raise ValueError(f"--blobs directory {self.path} does not exist (create it first)")
        if not os.path.isdir(self.path):
            raise ValueError(f"--blobs {self.path} is not a directory")
        try:
            self.discard(self.stage(b"probe"))
            _fsync_dir(self.path)
        except OSError as exc:
            raise ValueError(
                f"--blobs directory {self.path} is not writable: {exc.strerror or exc}"
            ) from None
        self._remove_stale_temporaries()

    def _remove_stale_temporaries(self) -> None:
        """Remove the temporary files a crash left behind: those older than
        :data:`STALE_TEMP_S` (a write lasts seconds, so no live write owns one)."""
        cutoff = time.time() - STALE_TEMP_S
        with os.scandir(self.path) as entries:
            for entry in entries:
                if not entry.name.startswith(_TEMP_PREFIX):
                    continue
                with contextlib.suppress(OSError):
                    if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                        os.unlink(entry.path)

    def file(self, sha256: str) -> str:
        """The path of the file holding the bytes whose hash is ``sha256``."""
        if not _HASH.match(sha256):
            raise ValueError(f"not a blob hash: {sha256!r}")
        return os.path.join(self.path, sha256)

    def stage(self, data: bytes) -> Staged:
        """Write ``data`` to a new temporary file of the directory, flushed and fsynced."""
        fd, temp = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=self.path)
        try:
            with open(fd, "wb", closefd=True) as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        return Staged(temp, hashlib.sha256(data).hexdigest(), len(data))

    def place(self, staged: Staged) -> None:
        """Rename the staged file to its hash (atomically: a file of that name holds the same
        bytes already, or is replaced whole) and fsync the directory, so that the name is on
        disk before a row refers to it."""
        os.replace(staged.temp, self.file(staged.sha256))
        _fsync_dir(self.path)

    def discard(self, staged: Staged) -> None:
        """Remove the temporary file of ``staged`` if it is still there (not placed)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staged.temp)

    def read(self, sha256: str, size: int) -> bytes:
        """The bytes of ``sha256``'s file, which must be ``size`` long.

        Raises:
            FileNotFoundError: no such file.
            BlobLost: the file has another size.
        """
        with open(self.file(sha256), "rb") as fh:
            data = fh.read()
        if len(data) != size:
            raise BlobLost(
                f"the stored bytes of this blob are damaged ({len(data)} bytes in "
                f"{self.file(sha256)}, {size} expected)"
            )
        return data

    def exists(self, sha256: str) -> bool:
        """Whether ``sha256``'s file is there."""
        return os.path.isfile(self.file(sha256))

    def remove(self, sha256: str) -> None:
        """Remove ``sha256``'s file (nothing if it is gone already)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.file(sha256))


def lock_name(sha256: str) -> str:
    """The name of the lock held while a content's file is placed or removed."""
    return f"blob:{sha256}"


def release(db: Db, blobs: BlobDir | None, hashes: Iterable[str | None]) -> None:
    """Remove the files of ``hashes`` that no row refers to any more (after the transaction
    that stopped referring to them committed).

    Each is checked and removed holding the content's lock, in one transaction of its own, so
    that a row committed by anyone (any process) keeps its file. A failure is logged, not
    raised: the operation that called it has succeeded, and an unreferenced file is harmless.
    """
    todo = sorted({h for h in hashes if h})
    if blobs is None or not todo:
        return
    try:
        with transaction(db):
            for sha256 in todo:  # (sorted: two releases never wait for each other's locks)
                db.lock(lock_name(sha256))
                used = db.execute("SELECT 1 FROM blobs WHERE sha256 = ? LIMIT 1", (sha256,))
                if used.fetchone() is None:
                    blobs.remove(sha256)
    except Exception:
        logger.warning(
            "could not remove unreferenced blob files of %s (they stay: harmless)",
            blobs.path,
            exc_info=True,
        )


def check_blob_rows(db: Db, blobs: BlobDir | None) -> None:
    """Refuse to serve a database whose figures and files are in a directory without that
    directory: without ``blobs``, when a row refers to a file; with it, when the file of a
    row (one, as a sample) is not in it.

    Raises:
        ValueError: either case, with what to do.
    """
    row: Any = db.execute("SELECT sha256 FROM blobs WHERE sha256 IS NOT NULL LIMIT 1").fetchone()
    if row is None:
        return
    if blobs is None:
        raise ValueError(
            "this database keeps figures and files in a directory (it was served with "
            "--blobs DIR): give the same --blobs DIR"
        )
    if not blobs.exists(row[0]):
        raise ValueError(
            f"--blobs directory {blobs.path} lacks the file {row[0]} that the database refers "
            "to: give the directory this database was served with"
        )
