"""The account file of ``qexp login``: ``$QEXP_CONFIG_DIR/account.json`` (by default
``~/.async_qexp/account.json``), readable by its owner only.

It holds ``{"token": ..., "url": ..., "instance": ...}`` (``url`` and ``instance`` only when
given). It is written to a new file created with mode ``0600`` (in a directory created with
``0700``) and renamed over the old one, so the token is never readable by others, not even
for a moment.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from .._config import preferences_path

__all__ = ["ACCOUNT_FILE", "account_path", "read_account", "remove_account", "write_account"]

ACCOUNT_FILE = "account.json"
"""The account file's name, in the configuration directory."""

_KEYS = ("token", "url", "instance")


def account_path() -> Path:
    """Where the account is kept: beside the preferences (``$QEXP_CONFIG_DIR`` or
    ``~/.async_qexp``)."""
    return preferences_path().parent / ACCOUNT_FILE


def read_account(path: Path) -> dict[str, str]:
    """The saved account (empty when there is no file).

    Raises:
        ValueError: for a file that is not such an account.
        OSError: for a file that cannot be read.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        raise ValueError(f"the account file {path} is not valid JSON") from None
    if not isinstance(data, dict) or not all(
        isinstance(data.get(key), str | None) for key in _KEYS
    ):
        raise ValueError(f"the account file {path} is not an account (token, url, instance)")
    return {key: data[key] for key in _KEYS if data.get(key)}


def write_account(path: Path, account: dict[str, str]) -> None:
    """Save an account, readable by its owner only (mode ``0600`` from the start).

    Raises:
        OSError: when the file cannot be written.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump({k: v for k, v in account.items() if v}, file, indent=2)
            file.write("\n")
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def remove_account(path: Path) -> bool:
    """Remove the account file; ``False`` if there was none."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
