"""Program files: the built-in programs and ``--program-dir`` directories.

A program file is Python source defining ``main(backend, user_messenger, **kwargs)``. Its
metadata is an optional module-level literal (read with :func:`ast.literal_eval`, never
executed by the server)::

    __program__ = {"name": "hello-world", "description": "...", "max_execution_time": 300,
                   "spec": {"parameters": {...}}, "version": "1.0"}

Without it the name is the file name (``_`` → ``-``) and the description the docstring.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

__all__ = ["BUILTIN_DIR", "ProgramFile", "builtin_programs", "load_program_dir", "read_program"]

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "programs"
"""Where the built-in programs live (``async_qexp/emulator/programs``)."""

DEFAULT_MAX_EXECUTION_TIME = 300


@attrs.frozen
class ProgramFile:
    """A program read from a file."""

    name: str
    description: str
    max_execution_time: int
    spec: dict[str, Any]
    version: str | None
    source: str


def read_program(path: str | os.PathLike[str]) -> ProgramFile:
    """Read one program file."""
    file = Path(path)
    source = file.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(file))
    meta: dict[str, Any] = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "__program__"
        ):
            value = ast.literal_eval(node.value)
            if isinstance(value, dict):
                meta = value
    doc = ast.get_docstring(tree) or ""
    return ProgramFile(
        name=str(meta.get("name") or file.stem.replace("_", "-")),
        description=str(meta.get("description") or doc.strip().split("\n\n")[0] or file.stem),
        max_execution_time=int(meta.get("max_execution_time") or DEFAULT_MAX_EXECUTION_TIME),
        spec=dict(meta.get("spec") or {}),
        version=None if meta.get("version") is None else str(meta["version"]),
        source=source,
    )


def load_program_dir(directory: str | os.PathLike[str]) -> list[ProgramFile]:
    """Every ``*.py`` program of a directory (files starting with ``_`` are skipped)."""
    return [
        read_program(path)
        for path in sorted(Path(directory).glob("*.py"))
        if not path.name.startswith("_")
    ]


def builtin_programs() -> Iterator[ProgramFile]:
    """The built-in programs (``hello-world``, ``sample-program``, ``t1-sim``, ``burst``)."""
    yield from load_program_dir(BUILTIN_DIR)
