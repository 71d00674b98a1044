"""Accounts saved on disk in the file qiskit-ibm-experiment uses
(``~/.qiskit/qiskit-ibm.json``: one JSON object, an account per name), so an account saved by
either client is read by both."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import IBMAccountError

__all__ = [
    "DEFAULT_ACCOUNT_NAME",
    "accounts_file",
    "delete_account",
    "read_account",
    "save_account",
]

DEFAULT_ACCOUNT_NAME = "default-ibm-quantum"
"""The name an account is saved under when none is given (the reference's)."""


def accounts_file() -> Path:
    """The accounts file: ``~/.qiskit/qiskit-ibm.json``."""
    return Path.home() / ".qiskit" / "qiskit-ibm.json"


def _read_all(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError) as exc:
        raise IBMAccountError(f"cannot read the saved accounts in {path}: {exc}") from None
    if not isinstance(data, dict):
        raise IBMAccountError(f"the saved accounts in {path} are not a JSON object")
    return data


def _write_all(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # The file holds tokens: readable by its owner only.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        json.dump(data, out, sort_keys=True, indent=4)


def read_account(name: str | None) -> dict[str, Any] | None:
    """The saved account ``name`` (default: the default account), or ``None``."""
    account = _read_all(accounts_file()).get(name or DEFAULT_ACCOUNT_NAME)
    if account is not None and not isinstance(account, dict):
        raise IBMAccountError(f"the saved account {name!r} is not a JSON object")
    return account


def save_account(name: str | None, account: dict[str, Any], overwrite: bool) -> None:
    """Save ``account`` under ``name``.

    Raises:
        IBMAccountError: if an account of that name exists and ``overwrite`` is false.
    """
    path = accounts_file()
    data = _read_all(path)
    key = name or DEFAULT_ACCOUNT_NAME
    if data.get(key) and not overwrite:
        raise IBMAccountError(
            f"Named account ({key}) already exists. Set overwrite=True to overwrite."
        )
    data[key] = {k: v for k, v in account.items() if v is not None}
    _write_all(path, data)


def delete_account(name: str | None) -> bool:
    """Delete the saved account ``name``; whether there was one."""
    path = accounts_file()
    data = _read_all(path)
    key = name or DEFAULT_ACCOUNT_NAME
    if key not in data:
        return False
    del data[key]
    _write_all(path, data)
    return True
