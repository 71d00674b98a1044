"""The command ``python -m async_qexp.emulator users ...`` (and ``qexp emulator users ...``):
each subcommand, its output and exit codes, on SQLite and (where ``QEXP_TEST_PG`` is set)
PostgreSQL; and a running emulator that obeys it at once."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import httpx
import pytest

from async_qexp.cli.main import main as qexp_main
from async_qexp.emulator.__main__ import main
from async_qexp.emulator.store import open_store
from async_qexp.emulator.users import EXIT_CONFLICT, EXIT_FAILED, EXIT_NOT_FOUND, EXIT_USAGE

from .test_cli import ROOT, run_cli


def users(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``users ARGS``: its exit code, standard output and standard error."""
    capsys.readouterr()
    try:
        code = main(["users", *args])
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_add_prints_the_token_once_and_it_logs_in(
    users_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = users(
        capsys, "add", "alice", "--hgp", "h/g/p", "--hgp", "x/y/z", "--db", users_db
    )
    assert code == 0, err
    token = out.strip()
    assert token.startswith("qexp_")
    assert out == token + "\n"  # the token alone on stdout, for a script to keep
    assert "shown once only" in err
    assert token not in err

    async def login() -> tuple[bool, object]:
        store = await open_store(users_db)
        try:
            return await store.user_by_token(token)
        finally:
            await store.aclose()

    assert asyncio.run(login()) == (True, {"id": "alice", "hgps": ["h/g/p", "x/y/z"]})
    code, out, err = users(capsys, "list", "--json", "--db", users_db)
    assert code == 0, err
    assert token not in out
    [alice] = json.loads(out)
    assert alice["id"] == "alice"
    assert alice["hgps"] == ["h/g/p", "x/y/z"]
    assert alice["revoked"] is None


def test_list_revoke_grant_ungrant(users_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = users(capsys, "add", "bob", "--hgp", "h/g/p", "--db", users_db)
    assert code == 0
    code, out, _ = users(capsys, "list", "--db", users_db)
    assert code == 0
    header, row = out.splitlines()
    assert header.split() == ["ID", "CREATED", "REVOKED", "HUB/GROUP/PROJECT"]
    assert row.split()[0] == "bob"
    assert row.split()[2:] == ["-", "h/g/p"]
    code, out, _ = users(capsys, "grant", "bob", "--hgp", "a/b/c", "--db", users_db)
    assert (code, out) == (0, "user 'bob': h/g/p a/b/c\n")
    code, out, _ = users(capsys, "ungrant", "bob", "--hgp", "h/g/p", "--db", users_db)
    assert (code, out) == (0, "user 'bob': a/b/c\n")
    code, out, _ = users(capsys, "revoke", "bob", "--db", users_db)
    assert code == 0
    assert out.startswith("revoked user 'bob' at 20")
    [bob] = json.loads(users(capsys, "list", "--json", "--db", users_db)[1])
    assert bob["revoked"] is not None
    assert bob["hgps"] == ["a/b/c"]


def test_errors_have_their_exit_codes(users_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert users(capsys, "add", "carol", "--hgp", "h/g/p", "--db", users_db)[0] == 0
    cases = [
        (["add", "carol", "--hgp", "x/y/z"], EXIT_CONFLICT, "user 'carol' exists"),
        (["add", "dan", "--hgp", "h/g"], EXIT_USAGE, "invalid hub/group/project 'h/g'"),
        (["add", "dan", "--hgp", "h//p"], EXIT_USAGE, "invalid hub/group/project"),
        (["add", "dan"], EXIT_USAGE, "--hgp"),
        (["add", " dan", "--hgp", "h/g/p"], EXIT_USAGE, "invalid user id"),
        (["revoke", "nobody"], EXIT_NOT_FOUND, "no user 'nobody'"),
        (["grant", "nobody", "--hgp", "h/g/p"], EXIT_NOT_FOUND, "no user 'nobody'"),
        (["grant", "carol", "--hgp", "h/g/p"], EXIT_CONFLICT, "member of h/g/p already"),
        (["ungrant", "carol", "--hgp", "q/r/s"], EXIT_NOT_FOUND, "not a member of q/r/s"),
        (["ungrant", "carol", "--hgp", "h/g/p"], EXIT_CONFLICT, "last hub/group/project"),
        (["grant", "carol", "--hgp", "bad"], EXIT_USAGE, "invalid hub/group/project 'bad'"),
    ]
    for args, expected, message in cases:
        code, out, err = users(capsys, *args, "--db", users_db)
        assert (code, out) == (expected, ""), (args, err)
        assert message in err, (args, err)
    assert users(capsys, "revoke", "carol", "--db", users_db)[0] == 0
    code, _, err = users(capsys, "revoke", "carol", "--db", users_db)
    assert code == EXIT_CONFLICT
    assert "revoked at" in err
    code, _, err = users(capsys, "grant", "carol", "--hgp", "a/b/c", "--db", users_db)
    assert code == EXIT_CONFLICT
    assert "revoked at" in err
    code, _, err = users(capsys, "list", "--db", users_db, "--bogus")
    assert code == EXIT_USAGE


def test_a_missing_file_or_server_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "missing.sqlite")
    for args in (["list"], ["revoke", "a"], ["grant", "a", "--hgp", "h/g/p"]):
        code, _, err = users(capsys, *args, "--db", missing)
        assert code == EXIT_USAGE
        assert "no database file" in err
    assert not Path(missing).exists()
    code, _, err = users(capsys, "list", "--db", "postgresql://nobody@127.0.0.1:1/none")
    assert code == EXIT_FAILED
    assert err.startswith("error: cannot open the database: ")
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is no database" * 100)
    code, _, err = users(capsys, "list", "--db", str(garbage))
    assert code == EXIT_FAILED
    assert err.startswith("error: cannot open the database: ")


def test_an_empty_database_says_anyone_logs_in(
    users_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async def create() -> None:
        await (await open_store(users_db)).aclose()

    asyncio.run(create())
    code, out, _ = users(capsys, "list", "--db", users_db)
    assert (code, out) == (0, "no users: an emulator on this database lets any API token log in\n")
    code, out, _ = users(capsys, "list", "--json", "--db", users_db)
    assert (code, json.loads(out)) == (0, [])


def test_help_names_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = users(capsys, "--help")
    assert code == 0
    for name in ("add", "list", "revoke", "grant", "ungrant", "Exit codes"):
        assert name in out
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "users --help" in capsys.readouterr().out


def test_qexp_emulator_users_is_the_same_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "q.sqlite")
    assert qexp_main(["emulator", "users", "add", "fay", "--hgp", "h/g/p", "--db", db]) == 0
    assert capsys.readouterr().out.startswith("qexp_")
    assert qexp_main(["emulator", "users", "list", "--json", "--db", db]) == 0
    assert [u["id"] for u in json.loads(capsys.readouterr().out)] == ["fay"]
    assert qexp_main(["emulator", "users", "revoke", "gus", "--db", db]) == EXIT_NOT_FOUND
    assert "no user 'gus'" in capsys.readouterr().err


async def _cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "async_qexp.emulator", "users", *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_a_running_emulator_obeys_the_command_at_once(users_db: str) -> None:
    code, token, err = await _cli("add", "alice", "--hgp", "h/g/p", "--db", users_db)
    assert code == 0, err
    token = token.strip()
    async with run_cli("--db", users_db) as url, httpx.AsyncClient(base_url=url) as c:
        r = await c.post("/api/users/loginWithToken", json={"apiToken": "not-a-user"})
        assert r.status_code == 401
        r = await c.post("/api/users/loginWithToken", json={"apiToken": token})
        assert r.status_code == 200, r.text
        headers = {"X-Access-Token": r.json()["id"]}
        network = (await c.get("/api/Network", headers=headers)).json()
        assert [hub["name"] for hub in network] == ["h"]
        code, _, text = await _cli("grant", "alice", "--hgp", "k/g/p", "--db", users_db)
        assert code == 0, text
        network = (await c.get("/api/Network", headers=headers)).json()
        assert [hub["name"] for hub in network] == ["h", "k"]
        code, _, text = await _cli("revoke", "alice", "--db", users_db)
        assert code == 0, text
        r = await c.get("/resultsdb/experiments", headers=headers)
        assert r.status_code == 401, r.text
        r = await c.post("/api/users/loginWithToken", json={"apiToken": token})
        assert r.status_code == 401
