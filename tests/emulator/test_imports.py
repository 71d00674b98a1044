"""The emulator imports nothing of the client but ``async_qexp.models``, and loads no file by path.

Checked three ways: statically (every import statement of the emulator's sources), in a fresh
interpreter that imports every emulator module, and inside a job's worker process.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import async_qexp.emulator

from .runtime_helpers import run_job, runtime_client, upload, wait_status

EMULATOR_DIR = Path(async_qexp.emulator.__file__).parent
ALLOWED_PREFIXES = ("async_qexp.models", "async_qexp.emulator")
ALLOWED_EXACT = {"async_qexp", "async_qexp._version"}


def _allowed(module: str) -> bool:
    return module in ALLOWED_EXACT or any(
        module == p or module.startswith(p + ".") for p in ALLOWED_PREFIXES
    )


def _package_of(path: Path) -> list[str]:
    rel = path.relative_to(EMULATOR_DIR.parent.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    else:
        parts.pop()  # a module's package is its folder
    return parts


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = _package_of(path)
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.append(module)
            found.extend(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_sources_import_only_models_of_the_client() -> None:
    files = sorted(EMULATOR_DIR.rglob("*.py"))
    assert len(files) > 10
    bad: list[str] = []
    for path in files:
        for module in _imports(path):
            if module.split(".")[0] == "async_qexp" and not _allowed(module):
                bad.append(f"{path.relative_to(EMULATOR_DIR)}: {module}")
        text = path.read_text(encoding="utf-8")
        for needle in ("spec_from_file_location", "exec_module", "SourceFileLoader", "run_path"):
            if needle in text:
                bad.append(f"{path.relative_to(EMULATOR_DIR)}: loads a file by path ({needle})")
    assert bad == []


def _module_name(path: Path) -> str:
    rel = path.relative_to(EMULATOR_DIR.parent.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _edges(path: Path, modules: set[str]) -> set[str]:
    """The emulator modules ``path`` imports (``from . import x`` imports ``x``, not ``.``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom):
            package = _package_of(path)
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                if sub in modules:
                    found.add(sub)
                elif module in modules:
                    found.add(module)
    return found


def test_no_import_cycles_inside_the_emulator() -> None:
    files = {_module_name(p): p for p in EMULATOR_DIR.rglob("*.py")}
    graph = {name: _edges(path, set(files)) - {name} for name, path in files.items()}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str], done: set[str]) -> None:
        if node in trail:
            cycles.append([*trail[trail.index(node) :], node])
            return
        if node in done:
            return
        for nxt in sorted(graph[node]):
            visit(nxt, [*trail, node], done)
        done.add(node)

    finished: set[str] = set()
    for start in sorted(graph):
        visit(start, [], finished)
    assert cycles == []


CHECK = """
import json, pkgutil, importlib, sys
import async_qexp.emulator as emu
first = sorted(m for m in sys.modules if m.startswith("async_qexp"))
heavy_after_package = sorted(
    m for m in ("starlette", "uvicorn", "httpx", "aiohttp", "cattrs") if m in sys.modules
)
for info in pkgutil.walk_packages(emu.__path__, "async_qexp.emulator."):
    if info.name.endswith(".worker") or ".programs." in info.name:
        continue  # scripts run in other processes
    importlib.import_module(info.name)
emu.serve, emu.EmulatorConfig
print(json.dumps({
    "first": first,
    "heavy": heavy_after_package,
    "all": sorted(m for m in sys.modules if m.startswith("async_qexp")),
}))
"""


def test_importing_the_whole_emulator_loads_no_client_module() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, check=True, timeout=30
    )
    data = json.loads(out.stdout)
    # the package itself is light (a worker process imports it on its way to .runtime.worker)
    assert data["heavy"] == []
    assert [m for m in data["first"] if not _allowed(m)] == []
    loaded = data["all"]
    assert "async_qexp.emulator.runtime.manager" in loaded
    assert [m for m in loaded if not _allowed(m)] == []
    for client_module in ("async_qexp._http", "async_qexp.runtime", "async_qexp.experiment"):
        assert client_module not in loaded


REPORT_MODULES = """
import sys


def main(backend, user_messenger, **kwargs):
    return sorted(m for m in sys.modules if m == "async_qexp" or m.startswith("async_qexp."))
"""


@pytest.mark.asyncio
async def test_a_job_worker_loads_only_the_envelopes(emu: async_qexp.emulator.Emulator) -> None:
    client = await runtime_client(emu)
    async with client:
        program = await upload(client, "modules", REPORT_MODULES)
        job_id = await run_job(client, program)
        record = await wait_status(client, job_id)
        assert record["status"] == "COMPLETED", (await client.get(f"/jobs/{job_id}/results")).text
        loaded = json.loads((await client.get(f"/jobs/{job_id}/results")).text)
    assert "async_qexp.models.envelopes" in loaded
    assert [m for m in loaded if not _allowed(m)] == []
    # no server, no converter, no records: the worker needs the envelopes only
    assert "async_qexp.emulator.runtime.manager" not in loaded
    assert "async_qexp.emulator.server" not in loaded
    assert "async_qexp.models.codec" not in loaded


SQL = re.compile(
    r"\b(SELECT|INSERT\s+INTO|DELETE\s+FROM|UPDATE\s+\w+\s+SET|WHERE|ORDER\s+BY|json_each|sqlite3)\b"
    r"|\?\s*[,)]|=\s*\?"
)


def test_sql_lives_only_in_the_store() -> None:
    offenders = [
        f"{path.relative_to(EMULATOR_DIR)}:{number}: {line.strip()}"
        for path in sorted(EMULATOR_DIR.rglob("*.py"))
        if "store" not in path.relative_to(EMULATOR_DIR).parts
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if SQL.search(line)
    ]
    assert offenders == []
