"""Every ``qexp`` command, run in a subprocess against an emulator on an ephemeral loopback
port, its ``--json`` output parsed and checked.

The emulator runs on a thread of its own for the whole module (each test works as its own
user, or in experiments of its own). The commands run from the repository's root, so
``python -m async_qexp.cli`` imports this checkout.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from async_qexp import Provider, __version__
from async_qexp.emulator import serve_in_thread

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    """The URL of an emulator shared by the module's tests."""
    with serve_in_thread() as emulator:
        yield emulator.url


@pytest.fixture
def token() -> str:
    """A token of this test's own (each token is a user of its own)."""
    return f"cli-test-{uuid.uuid4().hex}"


@pytest.fixture
def env(url: str, token: str, tmp_path: Path) -> dict[str, str]:
    """The environment of the commands: the emulator, the test's token, its own config dir."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QEXP_")}
    return {
        **clean,
        "QEXP_URL": url,
        "QEXP_TOKEN": token,
        "QEXP_CONFIG_DIR": str(tmp_path / "config"),
        "COLUMNS": "120",
    }


def qexp(env: dict[str, str], *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run ``qexp ARGS`` (as ``python -m async_qexp.cli``) to completion."""
    return subprocess.run(
        [sys.executable, "-m", "async_qexp.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
        check=False,
    )


def qexp_all(*commands: tuple[dict[str, str], list[str]]) -> list[subprocess.CompletedProcess[str]]:
    """Run several ``qexp`` commands at once, ``(env, args)`` each; their outcomes in order."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "async_qexp.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for env, args in commands
    ]
    try:
        done = []
        for process, (_, args) in zip(processes, commands, strict=True):
            out, err = process.communicate(timeout=30)
            done.append(subprocess.CompletedProcess(args, process.returncode, out, err))
        return done
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()


def parsed(done: subprocess.CompletedProcess[str]) -> Any:
    """The JSON document of a command that succeeded and wrote nothing on stderr."""
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return json.loads(done.stdout)


def qexp_json(env: dict[str, str], *args: str, timeout: float = 30) -> Any:
    """Run ``qexp ARGS --json``: it succeeds, writes nothing on stderr, and one JSON document."""
    return parsed(qexp(env, *args, "--json", timeout=timeout))


def failed(done: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The one line of a command that failed with ``code``, without a traceback."""
    assert done.returncode == code, (done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("qexp: error: ")
    assert "Traceback" not in done.stderr
    return lines[0]


def js(*args: str) -> list[str]:
    """The arguments of a command with ``--json``."""
    return [*args, "--json"]


def library_experiment(env: dict[str, str], figure: bytes | None = None) -> str:
    """An experiment made through the library (fewer subprocesses), with a figure if given."""

    async def make() -> str:
        async with Provider(env["QEXP_TOKEN"], env["QEXP_URL"]) as provider:
            experiment_id = await provider.experiment.create_experiment("T1", "ibmq_lima")
            if figure is not None:
                await provider.experiment.upload_figure(experiment_id, figure, "T1_Q0.svg")
            return experiment_id

    return asyncio.run(make())


def test_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "async_qexp.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout == f"qexp {__version__}\n"


def test_experiments_create_list_and_show(env: dict[str, str]) -> None:
    tag = uuid.uuid4().hex
    metadata = {"qubits": [0, 1], "z": {"__type__": "complex", "__value__": [1, 2]}}
    created = parsed(
        qexp(env, *js("experiments", "create", "--type", "T1", "--backend", "ibmq_lima",
                      "--tag", tag, "--metadata", json.dumps(metadata)))
    )  # fmt: skip
    experiment_id = created["experiment_id"]
    listed, shown, missing = qexp_all(
        (env, js("experiments", "list", "--tag", tag, "--type", "T1", "--backend", "ibmq_lima")),
        (env, js("experiments", "show", experiment_id)),
        (env, js("experiments", "list", "--tag", "no-such-tag", "--all")),
    )
    assert [e["experiment_id"] for e in parsed(listed)] == [experiment_id]
    assert parsed(missing) == []
    record = parsed(shown)
    assert record == parsed(listed)[0]
    assert record["experiment_type"] == "T1"
    assert record["backend_name"] == "ibmq_lima"
    # user data keeps the envelopes of the wire
    assert record["metadata"] == {
        "qubits": [0, 1],
        "z": {"__type__": "complex", "__value__": [1.0, 2.0]},
    }
    assert record["tags"] == [tag]
    assert record["share_level"] == "private"
    assert record["creation_datetime"].endswith("Z")


def test_errors_are_one_line_and_debug_shows_the_traceback(env: dict[str, str]) -> None:
    unconfigured = {k: v for k, v in env.items() if k not in ("QEXP_TOKEN", "QEXP_URL")}
    unknown, debug, usage, no_token = qexp_all(
        (env, ["experiments", "show", "no-such-experiment"]),
        (env, ["--debug", "experiments", "show", "no-such-experiment"]),
        (env, ["experiments", "list", "--limit", "0"]),
        (unconfigured, ["experiments", "list"]),
    )
    line = failed(unknown)
    assert "experiment 'no-such-experiment' not found" in line
    assert env["QEXP_TOKEN"] not in line
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr
    assert "EntryNotFound" in debug.stderr
    assert "--limit" in failed(usage, code=2)
    line = failed(no_token)
    assert "no API token" in line
    assert "qexp login" in line


CSV = """result_type,value,stderr,unit,device_components,tags,quality,verified,chisq
T1,41.2,0.3,us,Q0,calib;good,good,true,1.1
T1,39.0,0.4,us,Q1,,bad,no,
T2,"{""a"": [1, 2]}",,,Q0;Q1,,,,
"""

JSONL_KEYS = {"result_type", "result_data", "device_components", "tags", "quality", "verified"}


def test_upload_is_resumable_and_its_results_list(env: dict[str, str], tmp_path: Path) -> None:
    experiment = library_experiment(env)
    rows = tmp_path / "rows.csv"
    rows.write_text(CSV)
    upload = js("upload", str(rows), "--experiment", experiment)
    assert parsed(qexp(env, *upload)) == {
        "experiment_id": experiment,
        "file": str(rows),
        "rows": 3,
        "created": 3,
        "skipped": 0,
        "failed": [],
    }
    again, listed = qexp_all(
        (env, upload),
        (env, js("results", "list", "--experiment", experiment, "--all")),
    )
    assert (parsed(again)["created"], parsed(again)["skipped"], parsed(again)["failed"]) == (
        0,
        3,
        [],
    )
    stored = parsed(listed)
    by_value = {json.dumps(r["result_data"].get("value")): r for r in stored}
    assert set(by_value) == {"41.2", "39.0", '{"a": [1, 2]}'}
    good = by_value["41.2"]
    assert good["experiment_id"] == experiment
    assert good["result_data"] == {"value": 41.2, "stderr": 0.3, "unit": "us"}
    assert (good["quality"], good["verified"], good["chisq"]) == ("GOOD", True, 1.1)
    assert (good["device_components"], good["tags"]) == (["Q0"], ["calib", "good"])
    assert by_value["39.0"]["quality"] == "BAD"
    assert by_value['{"a": [1, 2]}']["device_components"] == ["Q0", "Q1"]
    assert by_value['{"a": [1, 2]}']["result_type"] == "T2"

    # The same rows as JSON lines have the same ids (the id is a digest of what a row
    # stores), so there is nothing new to store.
    lines = tmp_path / "rows.jsonl"
    keep = JSONL_KEYS | {"chisq"}
    lines.write_text(
        "\n".join(json.dumps({k: v for k, v in r.items() if k in keep}) for r in stored) + "\n\n"
    )
    as_lines, shown, human = qexp_all(
        (env, js("upload", str(lines), "--experiment", experiment)),
        (env, js("results", "show", good["result_id"])),
        (env, ["upload", str(rows), "--experiment", experiment]),
    )
    assert (parsed(as_lines)["created"], parsed(as_lines)["skipped"]) == (0, 3)
    assert parsed(shown) == good
    assert human.returncode == 0
    assert human.stdout == f"created 0, skipped 3 already stored, failed 0 (of 3 rows in {rows})\n"
    assert human.stderr == ""  # no progress bar: stderr is not a terminal


def test_upload_reports_bad_rows_by_line_and_sends_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    experiment = library_experiment(env)
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        '{"result_type": "T1", "result_data": {"value": 1}}\n'
        "\n"
        "not json\n"
        '{"result_type": "T1", "tags": "abc"}\n'
        '{"result_type": "T1", "result_data": {"value": 1}}\n'
    )
    good = tmp_path / "good.jsonl"
    good.write_text('{"result_type": "T1"}\n')
    bad, missing = qexp_all(
        (env, ["upload", str(rows), "--experiment", experiment]),
        (env, ["upload", str(good), "--experiment", "no-such-experiment"]),
    )
    assert bad.returncode == 1
    assert "Traceback" not in bad.stderr
    assert bad.stderr.splitlines() == [
        f"qexp: error: {rows}:3: not valid JSON: Expecting value: line 1 column 1 (char 0)",
        f"qexp: error: {rows}:4: tags must be a list of strings, not str",
        f"qexp: error: {rows}:5: stores the same as line 1 (so it has the same result id); "
        "give each a result_id to store both",
        f"qexp: error: 3 bad row(s) in {rows}; nothing was sent",
    ]
    assert "experiment 'no-such-experiment' not found" in failed(missing)
    assert qexp_json(env, "results", "list", "--experiment", experiment) == []


def test_figures_list_and_get(env: dict[str, str], tmp_path: Path) -> None:
    svg = b"<svg xmlns='http://www.w3.org/2000/svg'/>"
    experiment = library_experiment(env, figure=svg)
    target = tmp_path / "figure.svg"
    listed, got, missing = qexp_all(
        (env, js("figures", "list", experiment)),
        (env, js("figures", "get", experiment, "T1_Q0.svg", "-o", str(target))),
        (env, ["figures", "get", experiment, "nope.svg", "-o", "-"]),
    )
    assert parsed(listed) == ["T1_Q0.svg"]
    assert parsed(got) == {
        "experiment_id": experiment,
        "name": "T1_Q0.svg",
        "file": str(target),
        "bytes": len(svg),
    }
    assert target.read_bytes() == svg
    assert "not found" in failed(missing)
    to_stdout = subprocess.run(
        [sys.executable, "-m", "async_qexp.cli", "figures", "get", experiment, "T1_Q0.svg",
         "-o", "-"],
        capture_output=True, timeout=30, env=env, cwd=ROOT, check=False,
    )  # fmt: skip
    assert (to_stdout.returncode, to_stdout.stdout) == (0, svg)


def json_lines(text: str) -> list[Any]:
    return [json.loads(line) for line in text.splitlines()]


def test_jobs_run_tail_result_show_and_list(env: dict[str, str]) -> None:
    inputs = json.dumps({"iterations": 3, "interim_delay": 0.2, "seed": 7})
    run, programs = qexp_all(
        (env, js("jobs", "run", "sample-program", "--backend", "emulator_simulator",
                 "--inputs", inputs)),
        (env, js("programs", "list")),
    )  # fmt: skip
    assert {"sample-program", "hello-world"} <= {p["program_id"] for p in parsed(programs)}
    job = parsed(run)
    job_id = job["job_id"]
    assert (job["program_id"], job["backend"]) == ("sample-program", "emulator_simulator")
    # tail a running job: each interim message, then the result (which the stream also
    # sends as its last message: it is printed once, as the result)
    tail = qexp(env, "jobs", "tail", job_id, "--json")
    assert tail.returncode == 0, tail.stderr
    messages = json_lines(tail.stdout)
    assert [m["type"] for m in messages] == ["interim"] * 3 + ["result"]
    assert [m["message"]["iteration"] for m in messages[:3]] == [0, 1, 2]
    assert all(m["job_id"] == job_id for m in messages)
    final = {"iterations": 3, "message": "All done!"}
    assert (messages[3]["status"], messages[3]["result"]) == ("DONE", final)
    result, shown, listed, waited, human = qexp_all(
        (env, js("jobs", "result", job_id)),
        (env, js("jobs", "show", job_id)),
        (env, js("jobs", "list", "--finished", "--program", "sample-program")),
        (env, js("jobs", "run", "hello-world", "--backend", "emulator_simulator", "--wait")),
        (env, ["jobs", "tail", job_id]),
    )
    assert parsed(result) == {"job_id": job_id, "type": "result", "status": "DONE", "result": final}
    assert parsed(shown) == {**job, "status": "DONE"}
    assert [j["job_id"] for j in parsed(listed)] == [job_id]
    assert (parsed(waited)["status"], parsed(waited)["result"]) == ("DONE", "Hello, World!")
    assert human.stdout.splitlines()[0].startswith('interim: {"iteration": 0, "counts": {')
    assert human.stdout.splitlines()[3:] == ['result: {"iterations": 3, "message": "All done!"}']


def test_jobs_cancel(env: dict[str, str]) -> None:
    inputs = json.dumps({"iterations": 1000, "interim_delay": 0.05})
    job_id = qexp_json(
        env, "jobs", "run", "sample-program", "--backend", "emulator_simulator", "--inputs", inputs
    )["job_id"]
    cancelled = qexp_json(env, "jobs", "cancel", job_id)
    assert (cancelled["job_id"], cancelled["status"]) == (job_id, "CANCELLED")
    again, result, unknown = qexp_all(
        (env, ["jobs", "cancel", job_id]),
        (env, ["jobs", "result", job_id]),
        (env, ["jobs", "show", "nosuchjob"]),
    )
    assert "already final" in failed(again)
    assert failed(result) == f"qexp: error: job {job_id} was cancelled; it has no result"
    assert "not found" in failed(unknown)


def test_login_saves_an_owner_only_account_and_logout_removes_it(
    env: dict[str, str], tmp_path: Path
) -> None:
    experiment = library_experiment(env)
    token, url = env.pop("QEXP_TOKEN"), env.pop("QEXP_URL")
    login = qexp(env, "login", "--token", token, "--url", url, "--json")
    assert login.returncode == 0, login.stderr
    assert token not in login.stdout + login.stderr
    saved = json.loads(login.stdout)
    account = Path(saved["file"])
    assert account == tmp_path / "config" / "account.json"
    assert stat.S_IMODE(account.stat().st_mode) == 0o600
    assert json.loads(account.read_text()) == {"token": token, "url": url}
    assert saved["url"] == url
    assert saved["user_id"]
    other = f"cli-test-{uuid.uuid4().hex}"
    from_file, by_flag, by_env = qexp_all(
        (env, js("experiments", "list")),  # the account file, when nothing else says
        (env, js("--token", other, "experiments", "list")),  # --token beats the file
        ({**env, "QEXP_TOKEN": other}, js("experiments", "list")),  # so does QEXP_TOKEN
    )
    assert [e["experiment_id"] for e in parsed(from_file)] == [experiment]
    assert parsed(by_flag) == []  # another token is another user
    assert parsed(by_env) == []
    assert qexp_json(env, "logout") == {"file": str(account), "removed": True}
    assert not account.exists()
    gone, refused = qexp_all(
        (env, ["experiments", "list"]),
        (env, ["login", "--token", token, "--url", url + "/no-such-path"]),
    )
    assert "no API token" in failed(gone)
    assert refused.returncode == 1
    assert not account.exists()  # an account that cannot log in is not saved


def test_emulator_runs_the_emulators_own_command_line() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "async_qexp.cli", "emulator", "--port", "0", "--no-runtime"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("QEXP_")}
        helped = qexp(env, "emulator", "--help")
        assert helped.returncode == 0
        assert helped.stdout.startswith("usage: qexp emulator")
        assert "--latency-ms" in helped.stdout
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:"), line
        env.update(QEXP_URL=line.split()[-1], QEXP_TOKEN="cli-test-emulator")
        assert qexp_json(env, "experiments", "list") == []
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
