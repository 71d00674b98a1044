"""What ``qexp`` prints for people: its tables, details and messages, and the progress bar on a
terminal. These run ``async_qexp.cli.main`` in this process against an emulator on its own
thread (``test_cli.py`` runs every command in a subprocess and checks its ``--json``)."""

from __future__ import annotations

import asyncio
import io
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from async_qexp import Provider
from async_qexp.cli import main
from async_qexp.emulator import serve_in_thread

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve_in_thread() as emulator:
        yield emulator.url


@pytest.fixture
def token(url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A user of the test's own, configured through the environment."""
    token = f"cli-output-{uuid.uuid4().hex}"
    monkeypatch.setenv("QEXP_URL", url)
    monkeypatch.setenv("QEXP_TOKEN", token)
    monkeypatch.setenv("QEXP_CONFIG_DIR", str(tmp_path / "config"))
    return token


def qexp(capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> str:
    assert main(list(args)) == code, capsys.readouterr().err
    captured = capsys.readouterr()
    if code == 0:
        assert captured.err == ""
    return captured.out


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_experiment_and_result_tables(capsys: pytest.CaptureFixture[str], token: str) -> None:
    experiment = qexp(
        capsys, "experiments", "create", "--type", "T1", "--backend", "ibmq_lima", "--tag", "cal",
        "--notes", "first try",
    ).strip()  # fmt: skip
    table = qexp(capsys, "experiments", "list").splitlines()
    assert re.fullmatch(r"ID\s+TYPE\s+BACKEND\s+TAGS\s+CREATED", table[0])
    assert re.fullmatch(
        experiment[:8] + r"  T1    ibmq_lima  cal   \d{4}-\d\d-\d\d \d\d:\d\d", table[1]
    )
    assert experiment in qexp(capsys, "experiments", "list", "--wide")
    details = qexp(capsys, "experiments", "show", experiment)
    assert f"id:          {experiment}\n" in details
    assert "notes:       first try\n" in details
    assert "metadata:    -\n" in details

    upload = io.StringIO(
        "result_type,value,stderr,unit,quality,verified\nT1,41.2,0.3,us,good,yes\n"
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdin", upload)
        terminal = Terminal()
        patch.setattr("sys.stderr", terminal)
        assert main(["upload", "-", "--format", "csv", "--experiment", experiment]) == 0
    assert terminal.getvalue().startswith("\ruploading [")
    assert terminal.getvalue().endswith("] 1/1\n")  # the bar, on a terminal
    assert (
        capsys.readouterr().out
        == "created 1, skipped 0 already stored, failed 0 (of 1 rows in -)\n"
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdin", io.StringIO('{"result_type": "T2"}\n'))
        terminal = Terminal()
        patch.setattr("sys.stderr", terminal)
        assert main(["--quiet", "upload", "-", "--experiment", experiment]) == 0
    assert terminal.getvalue() == ""  # --quiet: no bar
    capsys.readouterr()

    results = qexp(capsys, "results", "list", "--experiment", experiment).splitlines()
    assert results[0].split() == [
        "ID", "EXPERIMENT", "TYPE", "VALUE", "QUALITY", "VERIFIED", "COMPONENTS", "CREATED"
    ]  # fmt: skip
    assert "41.2 ± 0.3 us  good     yes" in "\n".join(results)
    assert len(results) == 3
    result_id = json.loads(qexp(capsys, "results", "list", "--type", "T1", "--json"))[0][
        "result_id"
    ]
    shown = qexp(capsys, "results", "show", result_id)
    assert 'data:        {"value": 41.2, "stderr": 0.3, "unit": "us"}' in shown
    assert (
        qexp(capsys, "results", "list", "--experiment", experiment, "--unverified", "--type", "T1")
        == "no analysis results\n"
    )


def test_figures_jobs_and_programs_for_people(
    capsys: pytest.CaptureFixture[str],
    token: str,
    url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def experiment_with_figure() -> str:
        async with Provider(token, url) as provider:
            experiment_id = await provider.experiment.create_experiment("T1", "ibmq_lima")
            await provider.experiment.upload_figure(experiment_id, b"<svg/>", "dir/plot.svg")
            return experiment_id

    experiment = asyncio.run(experiment_with_figure())
    assert qexp(capsys, "figures", "list", experiment) == "dir/plot.svg\n"
    monkeypatch.chdir(tmp_path)  # without -o, a figure goes to its name, here
    wrote = qexp(capsys, "figures", "get", experiment, "dir/plot.svg")
    assert wrote == "wrote 6 bytes to plot.svg\n"
    assert (tmp_path / "plot.svg").read_bytes() == b"<svg/>"

    assert qexp(capsys, "jobs", "list") == "no jobs\n"
    programs = qexp(capsys, "programs", "list").splitlines()
    assert programs[0].split() == ["ID", "NAME", "PUBLIC", "DESCRIPTION"]
    lines = qexp(
        capsys, "jobs", "run", "hello-world", "--backend", "emulator_simulator",
        "--inputs", '{"iterations": 2}', "--wait",
    ).splitlines()  # fmt: skip
    job_id = lines[0]
    assert lines[1:] == ["Hello, World!"]
    assert qexp(capsys, "jobs", "tail", job_id) == (
        'interim: {"iteration": 0}\ninterim: {"iteration": 1}\nresult: "Hello, World!"\n'
    )
    assert qexp(capsys, "jobs", "result", job_id) == "Hello, World!\n"
    shown = qexp(capsys, "jobs", "show", job_id)
    assert f"id:      {job_id}\n" in shown
    assert "status:  DONE\n" in shown
    table = qexp(capsys, "jobs", "list").splitlines()
    assert table[0].split() == ["ID", "PROGRAM", "BACKEND", "STATUS", "CREATED"]
    assert table[1].startswith(job_id[:8] + "  hello-world  emulator_simulator  DONE")


def test_login_and_logout_for_people(
    capsys: pytest.CaptureFixture[str], token: str, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QEXP_TOKEN")
    monkeypatch.delenv("QEXP_URL")
    said = qexp(capsys, "login", "--token", token, "--url", url)
    assert said.startswith(f"logged in to {url} as ")
    assert token not in said
    assert qexp(capsys, "experiments", "list") == "no experiments\n"
    assert qexp(capsys, "logout").startswith("removed ")
    assert qexp(capsys, "logout").startswith("not logged in")
