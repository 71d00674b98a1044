"""The shape of the package: what imports what, and where the docstrings point.

The import contracts of ``pyproject.toml`` (checked by ``nox -s lint``) cover the static
imports; these tests cover what those cannot see: what a running process actually loads, and
the links from docstrings into ``docs/``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "async_qexp"
DOCS = ROOT / "docs"


def _loaded_after(code: str) -> set[str]:
    script = f"{code}\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"
    output = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    return set(output.split())


def test_the_envelopes_load_without_the_client() -> None:
    """A runtime job's worker imports the envelopes: it must not pay for the HTTP client."""
    loaded = _loaded_after("import async_qexp.models.envelopes")
    assert not {"httpx", "aiohttp", "cattrs", "async_qexp._http"} & loaded


def test_the_client_does_not_load_the_emulator() -> None:
    loaded = _loaded_after("import async_qexp\nasync_qexp.Provider\nasync_qexp.ExperimentData")
    assert "async_qexp._client" in loaded
    assert not any(name.startswith("async_qexp.emulator") for name in loaded)


def test_every_public_name_resolves() -> None:
    import async_qexp

    for name in async_qexp.__all__:
        assert getattr(async_qexp, name) is not None, name
    assert set(dir(async_qexp)) >= set(async_qexp.__all__)
    with pytest.raises(AttributeError):
        async_qexp.NotAName  # type: ignore[attr-defined]  # noqa: B018


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors of a Markdown page's headings."""
    anchors = set()
    for line in page.read_text().splitlines():
        match = re.match(r"^#{1,6}\s+(.*)$", line)
        if match:
            text = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower())
            anchors.add(text.replace(" ", "-"))
    return anchors


def test_docstrings_point_only_at_files_of_the_repository() -> None:
    """No docstring names a document outside the repository, and every ``docs/`` link in the
    code leads to a page and a heading that exist."""
    outside = re.compile(r"\b(PROTOCOL|BEHAVIOUR)\s*(§|M-)|ARCHITECTURE\.md")
    link = re.compile(r"docs/([\w\-]+\.md)(?:#([\w\-]+))?")
    pages: dict[str, set[str]] = {}
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        relative = path.relative_to(ROOT)
        problems += [f"{relative}: names {m.group(0)!r}" for m in outside.finditer(text)]
        for match in link.finditer(text):
            page, anchor = match.groups()
            if page not in pages:
                target = DOCS / page
                pages[page] = _anchors(target) if target.exists() else set()
                if not target.exists():
                    problems.append(f"{relative}: docs/{page} does not exist")
            if anchor and anchor not in pages[page]:
                problems.append(f"{relative}: docs/{page} has no heading #{anchor}")
    assert problems == []


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, name: str, modules: set[str]) -> set[str]:
    """The modules of the package that a module imports (anywhere in it, typing ones too)."""
    import ast

    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                found.add(target)
    return found


def test_no_two_modules_import_each_other_even_through_others() -> None:
    """No circle of imports anywhere in the package (a package importing its own modules
    through its ``__init__`` is not a circle)."""
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {name: _imports(path, name, set(paths)) for name, path in paths.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    assert circles == []
