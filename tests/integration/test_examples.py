"""Every example runs to completion against the embedded emulator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("quickstart.py", ["connected to the embedded emulator", "of good quality", "Done in"]),
        ("stream_runtime.py", ["interim: {'iteration': 4", "final: {'iterations': 5", "DONE"]),
        (
            "t1_experiment.py",
            ["fit: T1 =", "quality good", "loaded back from the service", "T1_Q0.svg"],
        ),
    ],
)
def test_example_runs(script: str, expected: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("QEXP_TOKEN", "QEXP_URL")}
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        capture_output=True,
        text=True,
        timeout=110,
        env=env,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    for text in expected:
        assert text in completed.stdout, completed.stdout
