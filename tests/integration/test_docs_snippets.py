"""The Python examples of the guide pages run, against the embedded emulator.

Each page's ```` ```python ```` blocks run in order in one namespace, in a process of their
own, as a notebook would run its cells: a block with a top-level ``await`` runs on one event
loop kept for the whole page, a block without one runs as a script does (so it may call
``asyncio.run``). A block right after a ``<!-- skip -->`` line is not run (one that needs an IBM
Quantum account, say). The page's directory is a fresh temporary one, with no ``QEXP_TOKEN``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"

GUIDE = [
    "index.md",
    "getting-started.md",
    "emulator.md",
    "batch-uploading.md",
    "streaming.md",
    "experiment-data.md",
    "notebooks.md",
    "sync.md",
    "drop-in.md",
    "configuration.md",
    "errors.md",
]

FENCE = re.compile(
    r"^(?P<skip><!-- skip -->\n)?```python[^\n]*\n(?P<code>.*?)^```$", re.MULTILINE | re.DOTALL
)

RUNNER = """
import ast, asyncio, json, sys

blocks = json.loads(sys.argv[1])
namespace = {"__name__": "__main__"}
loop = asyncio.new_event_loop()
try:
    for number, source in enumerate(blocks, 1):
        code = compile(source, f"block {number}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        outcome = eval(code, namespace)
        if asyncio.iscoroutine(outcome):
            loop.run_until_complete(outcome)
finally:
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
"""


def python_blocks(page: str) -> list[str]:
    """The blocks of ``page`` that run, in order."""
    text = (DOCS / page).read_text()
    return [m["code"] for m in FENCE.finditer(text) if not m["skip"]]


def test_every_guide_page_is_in_the_site() -> None:
    nav = (DOCS.parent / "mkdocs.yml").read_text()
    assert [page for page in GUIDE if page not in nav] == []


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("page", GUIDE)
def test_the_examples_of_a_guide_page_run(page: str, tmp_path: Path) -> None:
    import json

    blocks = python_blocks(page)
    if not blocks:
        pytest.skip(f"{page} has no Python example to run")
    env = {k: v for k, v in os.environ.items() if k not in ("QEXP_TOKEN", "QEXP_URL")}
    env["QEXP_CONFIG_DIR"] = str(tmp_path / "config")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(DOCS.parent), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    completed = subprocess.run(
        [sys.executable, "-W", "error::ResourceWarning", "-c", RUNNER, json.dumps(blocks)],
        capture_output=True,
        text=True,
        timeout=170,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert "Warning" not in completed.stderr, completed.stderr[-4000:]
