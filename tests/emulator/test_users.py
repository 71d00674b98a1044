"""Users kept in the database: the store's operations, logins and revocation through the
emulator (in one process and across two on one database), and the schema step that added them.

The store tests run on SQLite and, where ``QEXP_TEST_PG`` names a server, on PostgreSQL too.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from async_qexp.emulator import Emulator, EmulatorConfig, UserSpec, serve
from async_qexp.emulator.config import exposure_problem
from async_qexp.emulator.state import EmulatorState
from async_qexp.emulator.store import (
    SCHEMA_VERSION,
    Conflict,
    NotFound,
    SQLiteStore,
    Store,
    Unavailable,
    _base,
    _users,
    open_store,
)
from async_qexp.emulator.store._sql import SQLiteDb

NOW = "2026-01-01T00:00:00.000000Z"
LATER = "2026-01-02T00:00:00.000000Z"


@pytest_asyncio.fixture
async def store(users_db: str) -> AsyncIterator[Store]:
    opened = await open_store(users_db)
    try:
        yield opened
    finally:
        await opened.aclose()


# -- the store -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_new_user_gets_a_random_token_that_logs_in(store: Store) -> None:
    assert await store.user_by_token("anything") == (False, None)
    token = await store.add_user("alice", [("h", "g", "p"), ("h2", "g2", "p2")], NOW)
    other = await store.add_user("bob", [("h", "g", "p")], NOW)
    assert token.startswith("qexp_")
    assert len(token) >= 40
    assert token != other
    assert await store.user_by_token(token) == (
        True,
        {"id": "alice", "hgps": ["h/g/p", "h2/g2/p2"]},
    )
    assert await store.user_by_token(other) == (True, {"id": "bob", "hgps": ["h/g/p"]})
    assert await store.user_by_token(token + "x") == (True, None)
    assert await store.user_by_token("") == (True, None)
    assert await store.user_by_id("alice") == (True, {"id": "alice", "hgps": ["h/g/p", "h2/g2/p2"]})
    assert await store.user_by_id("nobody") == (True, None)


@pytest.mark.asyncio
async def test_the_list_has_every_user_and_no_token(store: Store) -> None:
    assert await store.list_users() == []
    token = await store.add_user("zed", [("h", "g", "p")], NOW)
    await store.add_user("amy", [("a", "b", "c"), ("a", "b", "c"), ("d", "e", "f")], LATER)
    users = await store.list_users()
    assert users == [
        {"id": "amy", "created": LATER, "revoked": None, "hgps": ["a/b/c", "d/e/f"]},
        {"id": "zed", "created": NOW, "revoked": None, "hgps": ["h/g/p"]},
    ]
    assert token not in repr(users)
    assert _users.hash_token(token) not in repr(users)


@pytest.mark.asyncio
@pytest.mark.sqlite_only
async def test_only_the_tokens_sha256_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "users.sqlite"
    store = await SQLiteStore.open(str(path))
    try:
        token = await store.add_user("alice", [("h", "g", "p")], NOW)
    finally:
        await store.aclose()
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT * FROM users").fetchall()
        dump = "\n".join(conn.iterdump())
    conn.close()
    assert rows == [("alice", hashlib.sha256(token.encode()).hexdigest(), NOW, None)]
    assert token not in dump
    assert token[5:] not in dump


@pytest.mark.asyncio
async def test_an_id_is_given_out_once_even_after_revocation(store: Store) -> None:
    await store.add_user("alice", [("h", "g", "p")], NOW)
    with pytest.raises(Conflict, match="user 'alice' exists"):
        await store.add_user("alice", [("x", "y", "z")], NOW)
    await store.revoke_user("alice", LATER)
    with pytest.raises(Conflict, match="user 'alice' exists"):
        await store.add_user("alice", [("x", "y", "z")], NOW)
    assert [u["hgps"] for u in await store.list_users()] == [["h/g/p"]]


@pytest.mark.asyncio
async def test_revocation_ends_the_token_and_keeps_the_database_closed(store: Store) -> None:
    token = await store.add_user("alice", [("h", "g", "p")], NOW)
    revoked = await store.revoke_user("alice", LATER)
    assert revoked == {"id": "alice", "created": NOW, "revoked": LATER, "hgps": ["h/g/p"]}
    # the only user is revoked: the database still has users, so no token logs in
    assert await store.user_by_token(token) == (True, None)
    assert await store.user_by_id("alice") == (True, None)
    with pytest.raises(Conflict, match="revoked at " + LATER):
        await store.revoke_user("alice", LATER)
    with pytest.raises(NotFound, match="no user 'bob'"):
        await store.revoke_user("bob", LATER)
    for change in (store.grant, store.ungrant):
        with pytest.raises(Conflict, match="revoked"):
            await change("alice", ("h", "g", "p"))


@pytest.mark.asyncio
async def test_memberships_are_granted_in_order_and_removed(store: Store) -> None:
    await store.add_user("alice", [("h", "g", "p")], NOW)
    assert (await store.grant("alice", ("x", "y", "z")))["hgps"] == ["h/g/p", "x/y/z"]
    assert (await store.grant("alice", ("a", "b", "c")))["hgps"] == ["h/g/p", "x/y/z", "a/b/c"]
    with pytest.raises(Conflict, match="member of x/y/z already"):
        await store.grant("alice", ("x", "y", "z"))
    assert (await store.ungrant("alice", ("h", "g", "p")))["hgps"] == ["x/y/z", "a/b/c"]
    assert (await store.user_by_id("alice"))[1] == {"id": "alice", "hgps": ["x/y/z", "a/b/c"]}
    # granted again, it goes last
    assert (await store.grant("alice", ("h", "g", "p")))["hgps"] == ["x/y/z", "a/b/c", "h/g/p"]
    with pytest.raises(NotFound, match="not a member of q/r/s"):
        await store.ungrant("alice", ("q", "r", "s"))
    with pytest.raises(NotFound, match="no user 'bob'"):
        await store.grant("bob", ("h", "g", "p"))
    with pytest.raises(NotFound, match="no user 'bob'"):
        await store.ungrant("bob", ("h", "g", "p"))
    await store.ungrant("alice", ("x", "y", "z"))
    await store.ungrant("alice", ("a", "b", "c"))
    with pytest.raises(Conflict, match="last hub/group/project"):
        await store.ungrant("alice", ("h", "g", "p"))


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda s: s.add_user(7, [("h", "g", "p")], NOW), TypeError),
        (lambda s: s.add_user("", [("h", "g", "p")], NOW), ValueError),
        (lambda s: s.add_user(" a", [("h", "g", "p")], NOW), ValueError),
        (lambda s: s.add_user("a\nb", [("h", "g", "p")], NOW), ValueError),
        (lambda s: s.add_user("a", [], NOW), ValueError),
        (lambda s: s.add_user("a", ["h/g/p"], NOW), TypeError),
        (lambda s: s.add_user("a", [("h", "g")], NOW), ValueError),
        (lambda s: s.add_user("a", [("h", "", "p")], NOW), ValueError),
        (lambda s: s.add_user("a", [("h", "g/x", "p")], NOW), ValueError),
        (lambda s: s.grant("a", ("h", "g", 3)), TypeError),
        (lambda s: s.ungrant(None, ("h", "g", "p")), TypeError),
        (lambda s: s.revoke_user("", NOW), ValueError),
        (lambda s: s.user_by_token(b"t"), TypeError),
        (lambda s: s.user_by_id(1), TypeError),
    ],
)
async def test_arguments_are_checked_before_the_database(
    store: Store, call: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await call(store)
    assert await store.list_users() == []


# -- the schema step -------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.sqlite_only
async def test_a_database_from_before_users_gets_the_tables_and_keeps_its_data(
    tmp_path: Path,
) -> None:
    step = _base._STEPS.index(_users.SCHEMA)  # the version this database has
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    db = SQLiteDb(conn)
    conn.execute(_base._META)
    for sql in _base._STEPS[:step]:
        conn.executescript(SQLiteDb.schema(sql))
    conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(step),))
    conn.execute(
        "INSERT INTO experiments (uuid, type, device_name, created_at, updated_at, owner) "
        f"VALUES ('old', 'T', 'd', '{NOW}', '{NOW}', 'u')"
    )
    assert not db.table_exists("users")
    conn.close()
    store = await SQLiteStore.open(str(path))
    try:
        assert await store.list_users() == []
        token = await store.add_user("alice", [("h", "g", "p")], NOW)
        assert (await store.user_by_token(token))[1] == {"id": "alice", "hgps": ["h/g/p"]}
        rows = await store.execute(lambda c: c.execute("SELECT uuid FROM experiments").fetchall())
    finally:
        await store.aclose()
    assert rows == [("old",)]
    with sqlite3.connect(path) as conn:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    conn.close()
    assert version == (str(SCHEMA_VERSION),)


# -- through the emulator --------------------------------------------------------------------


async def _login(c: httpx.AsyncClient, api_token: str) -> httpx.Response:
    return await c.post("/api/users/loginWithToken", json={"apiToken": api_token})


async def _access(c: httpx.AsyncClient, api_token: str) -> dict[str, str]:
    r = await _login(c, api_token)
    assert r.status_code == 200, r.text
    return {"X-Access-Token": r.json()["id"]}


async def _network(c: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await c.get("/api/Network", headers=headers)


def _projects(r: httpx.Response) -> list[str]:
    assert r.status_code == 200, r.text
    return [
        f"{hub['name']}/{group['name']}/{project['name']}"
        for hub in r.json()
        for group in hub["groups"].values()
        for project in group["projects"].values()
    ]


@pytest_asyncio.fixture
async def emu(tmp_path: Path) -> AsyncIterator[Emulator]:
    async with serve(EmulatorConfig(db=str(tmp_path / "emu.sqlite"))) as running:
        yield running


@pytest.mark.asyncio
async def test_once_the_database_has_users_only_their_tokens_log_in(emu: Emulator) -> None:
    store = emu.state.store
    async with httpx.AsyncClient(base_url=emu.url) as c:
        # open mode: any token is its own user in the default project
        open_headers = await _access(c, "some-token")
        assert _projects(await _network(c, open_headers)) == ["ibm-q/open/main"]
        token = await store.add_user("alice", [("hub-a", "g", "p"), ("hub-b", "g", "q")], NOW)
        r = await _login(c, "some-token")
        assert r.status_code == 401, r.text
        # an access token from open mode stops working too
        assert (await _network(c, open_headers)).status_code == 401
        r = await _login(c, token)
        assert r.status_code == 200
        assert r.json()["userId"] == "alice"
        headers = {"X-Access-Token": r.json()["id"]}
        assert _projects(await _network(c, headers)) == ["hub-a/g/p", "hub-b/g/q"]
        me = await c.get("/api/users/me", headers=headers)
        assert me.json()["id"] == "alice"
        # memberships change at once
        await store.grant("alice", ("hub-c", "g", "r"))
        await store.ungrant("alice", ("hub-a", "g", "p"))
        assert _projects(await _network(c, headers)) == ["hub-b/g/q", "hub-c/g/r"]
        r = await c.post(
            "/resultsdb/experiments",
            headers=headers,
            json={"uuid": "e1", "type": "T", "device_name": "ibmq_lima", "hub_id": "hub-a"},
        )
        assert r.status_code in (400, 403), r.text  # no longer a place of hers
        await store.revoke_user("alice", LATER)
        assert (await _network(c, headers)).status_code == 401
        assert (await c.get("/resultsdb/experiments", headers=headers)).status_code == 401
        assert (await _login(c, token)).status_code == 401


@pytest.mark.asyncio
async def test_an_access_token_of_a_database_user_cannot_be_forged_from_another(
    emu: Emulator,
) -> None:
    store = emu.state.store
    token = await store.add_user("alice", [("h", "g", "p")], NOW)
    async with httpx.AsyncClient(base_url=emu.url) as c:
        access = (await _access(c, token))["X-Access-Token"]
        kind, payload, mac = access.split(".")
        assert kind == "ad"
        wrong_mac = mac[:-1] + ("1" if mac.endswith("0") else "0")  # (one digit changed)
        for forged in (f"at.{payload}.{mac}", f"ad.{payload}.{wrong_mac}", "ad.YWxpY2U.x"):
            assert (await _network(c, {"X-Access-Token": forged})).status_code == 401


@pytest.mark.asyncio
async def test_a_users_file_decides_alone(tmp_path: Path) -> None:
    config = EmulatorConfig(
        db=str(tmp_path / "file.sqlite"), users=[UserSpec("file-token", "fred", ("f/g/h",))]
    )
    async with serve(config) as running, httpx.AsyncClient(base_url=running.url) as c:
        token = await running.state.store.add_user("alice", [("h", "g", "p")], NOW)
        assert (await _login(c, token)).status_code == 401
        headers = await _access(c, "file-token")
        assert _projects(await _network(c, headers)) == ["f/g/h"]


@pytest.mark.asyncio
async def test_two_emulators_on_one_database_see_a_revocation_at_once(tmp_path: Path) -> None:
    config = EmulatorConfig(db=str(tmp_path / "shared.sqlite"))
    async with (
        serve(config) as one,
        serve(config) as two,
        httpx.AsyncClient(base_url=one.url) as c1,
        httpx.AsyncClient(base_url=two.url) as c2,
    ):
        token = await one.state.store.add_user("alice", [("h", "g", "p")], NOW)
        other = await one.state.store.add_user("bob", [("h", "g", "p")], NOW)
        headers = await _access(c1, token)  # made by one, accepted by two
        assert _projects(await _network(c2, headers)) == ["h/g/p"]
        assert (await _login(c2, "any-token")).status_code == 401
        await two.state.store.revoke_user("alice", LATER)
        assert (await _network(c1, headers)).status_code == 401
        assert (await _login(c1, token)).status_code == 401
        assert _projects(await _network(c1, await _access(c1, other))) == ["h/g/p"]


# -- exposure --------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_beyond_loopback_the_database_must_have_users(store: Store, users_db: str) -> None:
    exposed = EmulatorConfig(host="0.0.0.0", db=users_db, runtime=False)
    # no users yet: anyone could log in
    assert "no users in --db" in (exposure_problem(exposed, users_in_db=False) or "")
    with pytest.raises(ValueError, match="no users in --db"):
        await EmulatorState.create(exposed, store)
    await store.add_user("alice", [("h", "g", "p")], NOW)
    assert exposure_problem(exposed, users_in_db=True) is None
    state = await EmulatorState.create(exposed, store)
    assert state.config.host == "0.0.0.0"
    # program upload stays a risk, users or not
    with pytest.raises(ValueError, match="run Python"):
        EmulatorConfig(host="0.0.0.0", db=users_db)


@pytest.mark.asyncio
async def test_an_exposed_emulator_on_a_database_without_users_does_not_start(
    tmp_path: Path,
) -> None:
    config = EmulatorConfig(host="0.0.0.0", db=str(tmp_path / "empty.sqlite"), runtime=False)
    with pytest.raises(ValueError, match=r"refusing to listen on 0\.0\.0\.0"):
        async with serve(config):
            pytest.fail("it started")


@pytest.mark.asyncio
async def test_a_database_that_cannot_answer_who_is_logged_in_is_a_503(emu: Emulator) -> None:
    async with httpx.AsyncClient(base_url=emu.url) as c:
        headers = await _access(c, "some-token")

        async def unavailable(*args: object) -> tuple[bool, None]:
            raise Unavailable("the emulator's database is unavailable (test)")

        emu.state.store.user_by_id = unavailable  # type: ignore[method-assign]
        r = await c.get("/resultsdb/experiments", headers=headers)
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "1"
        assert "unavailable (test)" in r.text
        # a request without a token needs no database to be refused
        assert (await c.get("/resultsdb/experiments")).status_code == 401
