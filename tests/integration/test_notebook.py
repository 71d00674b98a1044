"""Notebooks, in a real Jupyter kernel (nbclient + ipykernel, from the ``test`` extra).

``examples/notebook.ipynb`` runs top to bottom, and what it shows is checked; then a notebook
that rebinds a provider, and leaves the last one open when the kernel shuts down, shows
nothing but the one warning that ``Provider.auto()`` gives (the kernel's own stderr stays
clean too). Every kernel is shut down by nbclient when its notebook ends, error or not.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")  # in the test extra; skipped only elsewhere
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "examples" / "notebook.ipynb"
CELL_TIMEOUT = 60
"""Seconds a cell may take (the kernel gets as long to start)."""
NOISE = ("Unclosed", "Task was destroyed", "ResourceWarning", "Traceback", "never awaited")


@pytest.fixture
def kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kernel spec of this interpreter, importing this checkout, without a token."""
    spec = tmp_path / "jupyter" / "kernels" / "async-qexp-test"
    spec.mkdir(parents=True)
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": argv,
                "display_name": "async_qexp tests",
                "language": "python",
                "env": {"PYTHONPATH": path},
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("QEXP_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("QEXP_TOKEN", raising=False)
    monkeypatch.delenv("QEXP_URL", raising=False)
    return "async-qexp-test"


def run(notebook: Any, kernel: str, workdir: Path) -> str:
    """Execute ``notebook`` in place (the kernel shut down after it); its kernel's stderr."""
    client = nbclient.NotebookClient(
        notebook,
        kernel_name=kernel,
        timeout=CELL_TIMEOUT,
        startup_timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(workdir)}},
    )
    stderr = workdir / "kernel.stderr"
    with stderr.open("w") as sink:
        client.execute(stderr=sink)
    return stderr.read_text()


def outputs(notebook: Any, cell_id: str) -> dict[str, str]:
    """A cell's output, by kind: ``stdout``, ``stderr``, and each MIME type shown."""
    (cell,) = [c for c in notebook.cells if c.get("id") == cell_id]
    found: dict[str, str] = {}
    for output in cell.outputs:
        if output.output_type == "stream":
            found[output.name] = found.get(output.name, "") + output.text
        elif output.output_type == "error":
            found["error"] = "\n".join(output.traceback)
        else:
            found.update(output.get("data", {}))
    return found


def kernel_noise(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if any(word in line for word in NOISE)]


def stopped(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_the_example_notebook_runs(kernel: str, tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "committed cleared"
    notebook.cells.append(nbformat.v4.new_code_cell("import os\nprint(os.getpid())", id="pid"))

    started = time.monotonic()
    stderr = run(notebook, kernel, tmp_path)
    took = time.monotonic() - started

    for cell in notebook.cells:
        if cell.cell_type == "code":
            shown = outputs(notebook, cell.id)
            assert "error" not in shown, shown["error"]
            assert "stderr" not in shown, f"{cell.id}: {shown['stderr']}"
    assert kernel_noise(stderr) == [], stderr

    assert "embedded emulator" in outputs(notebook, "cell-01")["text/plain"]
    assert "<table" in outputs(notebook, "cell-03")["text/html"]
    queried = outputs(notebook, "cell-05")
    assert "2 experiments</caption>" in queried["text/html"]
    assert queried["text/plain"].startswith("2 experiments\nid ")
    paged = outputs(notebook, "cell-07")["stdout"].splitlines()
    assert [line.split()[4] for line in paged[:5]] == ["Q0", "Q1", "Q2", "Q3", "Q4"]
    assert paged[5] == "read in 3 pages of 2"
    streamed = outputs(notebook, "cell-09")
    lines = streamed["stdout"].splitlines()
    for number, line in enumerate(lines[:3]):
        assert line.startswith(f"interim: {{'iteration': {number}, 'counts': "), line
    assert "final: {'iterations': 3, 'message': 'All done!'}" in streamed["stdout"]
    assert "sample-program on emulator_simulator, DONE" in streamed["text/plain"]
    container = outputs(notebook, "cell-11")
    assert "analysis results  3" in container["text/plain"]
    assert "data:image/svg+xml;base64," in container["text/html"]
    loaded = outputs(notebook, "cell-12")
    assert loaded["stdout"] == "loaded 3 results and figures ['T1_Q0.svg']\n"
    assert "3 analysis results</caption>" in loaded["text/html"]
    assert "<polyline" in outputs(notebook, "cell-13")["image/svg+xml"]
    assert "closed" in outputs(notebook, "cell-17")["text/plain"]

    pid = int(outputs(notebook, "pid")["stdout"])
    assert stopped(pid), "the kernel is shut down"
    print(f"the notebook ran in {took:.1f} s, kernel start and shutdown included")


DROPPED = [
    """\
import asyncio, atexit, gc, threading, warnings

warnings.simplefilter("default", ResourceWarning)  # show every one
kept = []


def report():
    with open("released.txt", "w") as sink:
        sink.write(repr([provider._held.empty for provider in kept]))


def emulators():
    return sum(thread.name == "qexp-emulator" for thread in threading.enumerate())


atexit.register(report)  # before async_qexp's own hook is registered: it runs after it
from async_qexp import Provider""",
    """\
provider = await Provider.auto()  # no token: the in-memory warning, once
await provider.experiment.create_experiment("T1", "ibmq_lima")
job = await provider.runtime.run(
    "sample-program", options={"backend_name": "emulator_simulator"}, inputs={"iterations": 50}
)
job.stream_results(lambda job_id, message: None)  # a task the provider owns
emulators()""",
    """\
provider = await Provider.auto()  # rebinding drops the first provider (no gc.collect())
del job
for _ in range(200):
    if emulators() == 1:
        break
    await asyncio.sleep(0.05)
gc.collect()  # whatever is left to collect says nothing either
await asyncio.sleep(0.1)
print("emulators:", emulators())
job = await provider.runtime.run(
    "sample-program", options={"backend_name": "emulator_simulator"}, inputs={"iterations": 50}
)
job.stream_results(lambda job_id, message: None)
kept.append(provider)  # left open when the kernel shuts down""",
]


def test_a_notebook_that_drops_or_leaves_providers_open_shows_nothing(
    kernel: str, tmp_path: Path
) -> None:
    cells = [nbformat.v4.new_code_cell(s, id=f"c{n}") for n, s in enumerate(DROPPED)]
    notebook = nbformat.v4.new_notebook(cells=cells)
    stderr = run(notebook, kernel, tmp_path)

    warned = outputs(notebook, "c1")
    assert warned["text/plain"] == "1"
    assert "in-memory database" in warned["stderr"]
    assert "--db qexp.sqlite" in warned["stderr"]
    assert kernel_noise(warned["stderr"]) == []
    rebound = outputs(notebook, "c2")
    assert rebound == {"stdout": "emulators: 1\n"}, "the first one stopped; no warning, no noise"
    assert outputs(notebook, "c0") == {}
    assert kernel_noise(stderr) == [], stderr
    released = (tmp_path / "released.txt").read_text()
    assert released == "[True]", "the provider left open was closed when the kernel exited"
