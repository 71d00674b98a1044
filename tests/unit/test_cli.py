"""The pieces of ``qexp`` that need no service: reading upload files, result ids, the account
file, where credentials come from, output helpers, exit codes, and the CLI's place on top."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import click
import pytest

from async_qexp import AnalysisResult, ResultQuality, __version__
from async_qexp.cli import main
from async_qexp.cli.account import account_path, read_account, remove_account, write_account
from async_qexp.cli.options import Settings
from async_qexp.cli.output import ProgressBar, echo_table, one_line, record_json
from async_qexp.cli.upload import UPLOAD_NAMESPACE, read_rows

ROOT = Path(__file__).resolve().parents[2]
EXP = "3f1d7e4a-0000-4000-8000-000000000001"


def rows_of(text: str, fmt: str, result_type: str | None = None) -> list[tuple[int, Any]]:
    rows, bad = read_rows(text, fmt, EXP, result_type)
    assert bad == [], bad
    return [(row.line, row.record) for row in rows]


def bad_of(text: str, fmt: str, result_type: str | None = None) -> list[tuple[int, str]]:
    _, bad = read_rows(text, fmt, EXP, result_type)
    return [(row.line, row.message) for row in bad]


# -- reading upload files ----------------------------------------------------------------------


def test_csv_columns_are_read_as_documented() -> None:
    text = (
        "result_type,result_id,value,stderr,unit,label,device_components,tags,quality,"
        "verified,chisq,result_data\n"
        'T1,r1,41.2,0.3,us,"""q0""",Q0;Q1, a ; b ,Good,YES,1.5,"{""fit"": [1, 2]}"\n'
        'T1,r2,001,,,text,["Q2"],[],,,,\n'
    )
    (line1, first), (line2, second) = rows_of(text, "csv")
    assert (line1, line2) == (2, 3)
    assert first == AnalysisResult(
        result_id="r1",
        experiment_id=EXP,
        result_type="T1",
        result_data={"value": 41.2, "stderr": 0.3, "unit": "us", "label": "q0", "fit": [1, 2]},
        device_components=["Q0", "Q1"],
        tags=["a", "b"],
        quality=ResultQuality.GOOD,
        verified=True,
        chisq=1.5,
    )
    # "001" is no JSON number: it stays text; an empty cell is left out
    assert second.result_data == {"value": "001", "label": "text"}
    assert second.device_components == ["Q2"]
    assert (second.tags, second.quality, second.verified, second.chisq) == (
        [],
        ResultQuality.UNKNOWN,
        False,
        None,
    )


def test_csv_line_numbers_count_blank_lines_and_quoted_newlines() -> None:
    text = 'result_type,note\nT1,"two\nlines"\n\nT1,x\nT1,y,extra\n'
    rows, bad = read_rows(text, "csv", EXP, None)
    assert [row.line for row in rows] == [2, 5]
    assert rows[0].record.result_data == {"note": "two\nlines"}
    assert [(b.line, b.message) for b in bad] == [(6, "3 cells, but the header has 2 columns")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("result_type,verified\nT1,maybe\n", [(2, "verified must be true or false, not 'maybe'")]),
        ("result_type,chisq\nT1,big\n", [(2, "chisq must be a number, not 'big'")]),
        ("result_type,chisq\nT1,nan\n", [(2, "chisq must be finite, not nan")]),
        ("result_type,result_data\nT1,[1]\n", [(2, "result_data is not a JSON object")]),
        ("result_type,tags\nT1,[1\n", [(2, "tags is not a JSON list")]),
        (
            "result_type,quality\nT1,great\n",
            [(2, "invalid quality 'great'; expected one of: GOOD, BAD, UNKNOWN")],
        ),
        (
            'result_type,value,result_data\nT1,1,"{""value"": 2}"\n',
            [(2, "['value'] given both as columns and in result_data")],
        ),
        (
            "result_type,,x\nT1,1,2\n",
            [(1, "the header needs a distinct, non-empty name for every column")],
        ),
        ("value\n1\n", [(2, "no result_type (add the field, or pass --result-type)")]),
        (
            "result_type,experiment_id\nT1,other\n",
            [(2, "experiment_id 'other' is not --experiment")],
        ),
        (
            "result_type,result_id\nT1,a\nT2,b\nT3,a\n",
            [(4, "has the result_id of line 2")],
        ),
    ],
)
def test_bad_csv_rows_are_reported_by_line(text: str, expected: list[tuple[int, str]]) -> None:
    assert bad_of(text, "csv") == expected


def test_json_lines_are_objects_of_the_create_arguments() -> None:
    text = (
        '{"result_type": "T1", "result_data": {"value": 1}, "quality": "bad", "verified": true}\n'
        "\n"
        '{"result_id": "r9", "result_type": "T2", "experiment_id": "' + EXP + '"}\n'
    )
    (line1, first), (line2, second) = rows_of(text, "jsonl")
    assert (line1, line2) == (1, 3)
    assert (first.result_data, first.quality, first.verified) == (
        {"value": 1},
        ResultQuality.BAD,
        True,
    )
    assert (second.result_id, second.result_type) == ("r9", "T2")


def test_bad_json_lines_are_reported_by_line() -> None:
    text = '[1]\n{"result_type": "T1", "value": 1}\n{"result_type": "T1", "verified": "yes"}\n{\n'
    assert [line for line, _ in bad_of(text, "jsonl")] == [1, 2, 3, 4]
    messages = dict(bad_of(text, "jsonl"))
    assert messages[1] == "a row is a JSON object, not list"
    assert messages[2].startswith("unknown fields ['value']")
    assert messages[3] == "verified must be a bool, not str"
    assert messages[4].startswith("not valid JSON")


def test_result_type_option_fills_rows_without_one() -> None:
    [(_, record)] = rows_of('{"result_data": {"value": 1}}\n', "jsonl", result_type="T1")
    assert record.result_type == "T1"
    [(_, record)] = rows_of('{"result_type": "T2"}\n', "jsonl", result_type="T1")
    assert record.result_type == "T2"


def test_result_ids_are_a_digest_of_what_a_row_stores() -> None:
    csv_rows = rows_of("result_type,value,tags\nT1,1.50,a;b\nT1,2,\n", "csv")
    lines = '{"result_type": "T1", "tags": ["a", "b"], "result_data": {"value": 1.5}}\n'
    [(_, from_jsonl)] = rows_of(lines, "jsonl")
    first = csv_rows[0][1]
    assert first.result_id == from_jsonl.result_id  # same content, same id, either format
    assert csv_rows[1][1].result_id != first.result_id
    assert first.result_id == rows_of("result_type,value,tags\nT1,1.5,a;b\n", "csv")[0][1].result_id
    rows, _ = read_rows("result_type,value\nT1,1\n", "csv", "another-experiment", None)
    assert rows[0].record.result_id != rows_of("result_type,value\nT1,1\n", "csv")[0][1].result_id
    assert uuid.UUID(first.result_id).version == 5
    # pinned: a change here would make every earlier upload's rows look new
    [(_, pinned)] = rows_of('{"result_type": "T1", "result_data": {"value": 1}}\n', "jsonl")
    body = {
        "experiment_uuid": EXP,
        "type": "T1",
        "fit": {"value": 1},
        "quality": "No Information",
        "verified": False,
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    assert pinned.result_id == str(uuid.uuid5(UPLOAD_NAMESPACE, text))
    assert str(UPLOAD_NAMESPACE) == "8d6f6a4e-2b1c-5e57-9a43-6f0e3c1d7b25"
    # rows that would store the same thing cannot both be uploaded without ids
    assert bad_of("result_type,value\nT1,1\nT1,1\n", "csv") == [
        (3, "stores the same as line 2 (so it has the same result id); give each a result_id "
            "to store both")
    ]  # fmt: skip


# -- the account file and credentials ----------------------------------------------------------


def test_the_account_file_is_created_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "config" / "account.json"
    path.parent.mkdir(mode=0o755)
    path.write_text("{}")
    path.chmod(0o644)  # an old file readable by others is replaced, not reused
    write_account(path, {"token": "secret-token", "url": "http://x", "instance": ""})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"token": "secret-token", "url": "http://x"}
    assert read_account(path) == {"token": "secret-token", "url": "http://x"}
    assert [p.name for p in path.parent.iterdir()] == ["account.json"]  # no temporary left
    fresh = tmp_path / "new" / "account.json"
    write_account(fresh, {"token": "t"})
    assert stat.S_IMODE(fresh.parent.stat().st_mode) == 0o700
    assert remove_account(fresh) is True
    assert remove_account(fresh) is False
    assert read_account(fresh) == {}


@pytest.mark.parametrize("content", ["not json", "[]", '{"token": 5}'])
def test_a_broken_account_file_is_an_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "account.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=str(path)):
        read_account(path)


def test_the_account_file_lives_in_the_config_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QEXP_CONFIG_DIR", str(tmp_path / "here"))
    assert account_path() == tmp_path / "here" / "account.json"


def test_credentials_come_from_flags_then_the_environment_then_the_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_account(account_path(), {"token": "file-t", "url": "http://file", "instance": "a/b/c"})
    assert Settings().credentials() == ("file-t", "http://file", "a/b/c")
    monkeypatch.setenv("QEXP_URL", "http://env")
    assert Settings().credentials() == ("file-t", "http://env", "a/b/c")
    monkeypatch.setenv("QEXP_TOKEN", "env-t")
    # the saved instance belongs to the saved token: another token does not get it
    assert Settings().credentials() == ("env-t", "http://env", None)
    monkeypatch.delenv("QEXP_URL")
    assert Settings().credentials() == ("env-t", "http://file", None)
    flags = Settings(token="flag-t", url="http://flag", instance="x/y/z")
    assert flags.credentials() == ("flag-t", "http://flag", "x/y/z")
    assert "flag-t" not in repr(flags)


def test_no_token_anywhere_says_how_to_configure_one() -> None:
    with pytest.raises(click.ClickException, match="no API token: run 'qexp login"):
        Settings().credentials()
    write_account(account_path(), {"url": "http://only-a-url"})
    with pytest.raises(click.ClickException, match="no API token"):
        Settings().credentials()


# -- output ----------------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_draws_on_a_terminal_only() -> None:
    piped = io.StringIO()
    bar = ProgressBar("uploading", piped)
    for done in range(4):
        bar(done, 3)
    bar.close()
    assert piped.getvalue() == ""
    terminal = Terminal()
    bar = ProgressBar("uploading", terminal)
    for done in range(4):
        bar(done, 3)
    bar.close()
    drawn = terminal.getvalue()
    assert drawn.startswith("\ruploading [")
    assert drawn.endswith("] 3/3\n")
    quiet = Terminal()
    ProgressBar("uploading", quiet, enabled=False)(1, 1)
    assert quiet.getvalue() == ""


def test_one_line_keeps_the_first_and_last_lines() -> None:
    assert one_line(ValueError("plain")) == "plain"
    failure = RuntimeError(
        "Job j has failed:\nTraceback (most recent call last):\n  ...\nKeyError: 'x'\n"
    )
    assert one_line(failure) == "Job j has failed: ... KeyError: 'x'"
    assert one_line(KeyError()) == "KeyError"


def test_tables_are_aligned(capsys: pytest.CaptureFixture[str]) -> None:
    echo_table(["ID", "NAME"], [["a", "first"], ["bbbb", "x"]], empty="none")
    echo_table(["ID"], [], empty="nothing here")
    assert capsys.readouterr().out == "ID    NAME\na     first\nbbbb  x\nnothing here\n"


def test_records_in_json_keep_envelopes_and_write_utc_times() -> None:
    from datetime import datetime, timezone

    record = AnalysisResult(
        result_id="r",
        experiment_id="e",
        result_type="T1",
        result_data={"z": 1j},
        device_components=["Q0"],
        quality="good",
        creation_datetime=datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
    )
    document = record_json(record)
    assert document["result_data"] == {"z": {"__type__": "complex", "__value__": [0.0, 1.0]}}
    assert document["quality"] == "GOOD"
    assert document["creation_datetime"] == "2024-01-02T03:04:05Z"
    assert type(document["device_components"][0]) is str
    json.dumps(document)


# -- exit codes ------------------------------------------------------------------------------


def test_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"qexp {__version__}\n"
    assert main(["experiments", "list", "--limit", "x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("qexp: error: Invalid value for '--limit'")
    assert err.rstrip().endswith("(see 'qexp experiments list --help')")
    assert main(["experiments", "list"]) == 1
    assert capsys.readouterr().err.startswith("qexp: error: no API token")
    assert main([]) == 2
    assert "Commands:" in capsys.readouterr().out
    assert main(["upload", "/no/such/file.jsonl", "--experiment", "e"]) == 1
    assert (
        capsys.readouterr().err == "qexp: error: /no/such/file.jsonl: No such file or directory\n"
    )
    assert main(["upload", "rows.txt", "--experiment", "e"]) == 2
    assert "pass --format" in capsys.readouterr().err
    assert main(["upload", "rows.csv", "--experiment", "a/b"]) == 2
    assert "Invalid value for --experiment" in capsys.readouterr().err


def test_debug_raises_with_the_traceback() -> None:
    with pytest.raises(click.ClickException, match="no API token"):
        main(["--debug", "experiments", "list"])


def test_upload_dry_run_sends_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("result_type,value\nT1,1\nT1,2\n")
    # no token is configured: a dry run never connects
    assert main(["upload", str(rows), "--experiment", EXP, "--dry-run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "experiment_id": EXP,
        "file": str(rows),
        "rows": 2,
    }


# -- the CLI sits on top ---------------------------------------------------------------------


def test_the_library_never_loads_the_cli() -> None:
    script = (
        "import sys, async_qexp\n"
        "async_qexp.Provider, async_qexp.ExperimentData, async_qexp.BulkCreateReport\n"
        "import async_qexp.experiment, async_qexp.runtime, async_qexp.models\n"
        "print('\\n'.join(sorted(sys.modules)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    assert not [name for name in loaded if name.startswith("async_qexp.cli")]


def test_the_console_script_is_registered() -> None:
    assert '\nqexp = "async_qexp.cli:main"\n' in (ROOT / "pyproject.toml").read_text()
    assert os.path.exists(ROOT / "async_qexp" / "cli" / "__main__.py")
