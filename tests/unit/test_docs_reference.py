"""Every public name is in the API reference (``docs/api/``), so a new public name without
documentation fails the suite. The site's build (``nox -s docs``) then checks that each
reference renders and that every link and cross-reference leads somewhere."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

API = Path(__file__).resolve().parents[2] / "docs" / "api"
DIRECTIVE = re.compile(r"^::: +([\w.]+)\s*$", re.MULTILINE)
PUBLIC = [
    "async_qexp",
    "async_qexp.models",
    "async_qexp.sync",
    "async_qexp.emulator",
    "async_qexp.compat",
    "async_qexp.compat.errors",
]


def _resolve(path: str) -> Any:
    """The object a dotted path names: the longest importable module, then attributes."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            value = getattr(value, name)
        return value
    raise ModuleNotFoundError(path)


def _documented() -> dict[str, Any]:
    """Every path an ``::: path`` directive of the reference renders, and its object."""
    paths = [p for page in sorted(API.glob("*.md")) for p in DIRECTIVE.findall(page.read_text())]
    return {path: _resolve(path) for path in paths}


def test_every_directive_names_an_object() -> None:
    documented = _documented()
    assert len(documented) > 50


@pytest.mark.parametrize("module_name", PUBLIC)
def test_every_public_name_is_in_the_reference(module_name: str) -> None:
    module: ModuleType = importlib.import_module(module_name)
    documented = _documented()
    objects = [id(value) for value in documented.values()]
    missing = [
        f"{module_name}.{name}"
        for name in module.__all__
        if f"{module_name}.{name}" not in documented and id(getattr(module, name)) not in objects
    ]
    assert missing == [], f"add them to a page of docs/api/: {missing}"
