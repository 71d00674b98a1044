"""The users kept in the database: their API tokens (hashed) and hub/group/project memberships.

Each public function is one store operation, run on a database thread (see :mod:`._sql`).

An API token is made here, shown once (returned by :func:`add_user`) and stored only as its
SHA-256 digest. The tokens are 256-bit random strings, so a plain digest cannot be reversed
by guessing, and a database that leaks gives away no token; a keyed hash (HMAC) would add
nothing, since its key would sit in the same database. A login looks the digest up through its
unique index and compares it again in constant time (:func:`hmac.compare_digest`).

A revoked user stays in the table (with the time of revocation): its id is never given out
again, and a database that once had users never falls back to letting any token log in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

from ._sql import Db, fetch_all, transaction
from .interface import HGP, Conflict, NotFound, Row

__all__ = [
    "SCHEMA",
    "TOKEN_PREFIX",
    "add_user",
    "grant",
    "hash_token",
    "list_users",
    "revoke_user",
    "ungrant",
    "user_by_id",
    "user_by_token",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL,
    revoked TEXT
);
CREATE TABLE IF NOT EXISTS user_hgps (
    user_id TEXT NOT NULL REFERENCES users (id),
    seq INTEGER NOT NULL,
    hub TEXT NOT NULL,
    grp TEXT NOT NULL,
    project TEXT NOT NULL,
    PRIMARY KEY (user_id, hub, grp, project)
)
"""
"""The tables (schema version 4): ``user_hgps.seq`` orders a user's memberships (the first is
their default hub/group/project)."""

TOKEN_PREFIX = "qexp_"
"""What every API token made here starts with (so that one is recognised in a config file)."""


def hash_token(token: str) -> str:
    """The stored form of an API token: its SHA-256 digest in hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _hgps(db: Db, user_id: str) -> list[str]:
    rows = db.execute(
        "SELECT hub, grp, project FROM user_hgps WHERE user_id = ? ORDER BY seq", (user_id,)
    ).fetchall()
    return ["/".join(row) for row in rows]


def _user(db: Db, user_id: str) -> Row:
    row = db.execute("SELECT created, revoked FROM users WHERE id = ?", (user_id,)).fetchone()
    if row is None:
        raise NotFound(f"no user {user_id!r}")
    return {"id": user_id, "created": row[0], "revoked": row[1], "hgps": _hgps(db, user_id)}


def _active(db: Db, user_id: str) -> Row:
    user = _user(db, user_id)
    if user["revoked"] is not None:
        raise Conflict(f"user {user_id!r} was revoked at {user['revoked']}")
    return user


def add_user(db: Db, user_id: str, hgps: Sequence[HGP], now: str) -> str:
    """Add a user with these memberships (the first is their default); their new API token.

    Raises:
        Conflict: the id is taken (by a user, revoked or not).
    """
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction(db):
        if db.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is not None:
            raise Conflict(f"user {user_id!r} exists (a revoked id is not given out again)")
        db.execute(
            "INSERT INTO users (id, token_hash, created) VALUES (?, ?, ?)",
            (user_id, hash_token(token), now),
        )
        db.executemany(
            "INSERT INTO user_hgps (user_id, seq, hub, grp, project) VALUES (?, ?, ?, ?, ?)",
            [(user_id, seq, *hgp) for seq, hgp in enumerate(dict.fromkeys(hgps))],
        )
    return token


def list_users(db: Db) -> list[Row]:
    """Every user (``id``, ``created``, ``revoked``, ``hgps``), by id; never a token."""
    users = fetch_all(db, "SELECT id, created, revoked FROM users ORDER BY id")
    members: dict[str, list[str]] = {}
    for user_id, hub, grp, project in db.execute(
        "SELECT user_id, hub, grp, project FROM user_hgps ORDER BY user_id, seq"
    ):
        members.setdefault(user_id, []).append(f"{hub}/{grp}/{project}")
    for user in users:
        user["hgps"] = members.get(user["id"], [])
    return users


def revoke_user(db: Db, user_id: str, now: str) -> Row:
    """Revoke a user: their API token and every access token of theirs stop working; the
    user as it is now.

    Raises:
        NotFound: no such user.
        Conflict: revoked already.
    """
    with transaction(db):
        _active(db, user_id)
        db.execute("UPDATE users SET revoked = ? WHERE id = ?", (now, user_id))
        return _user(db, user_id)


def grant(db: Db, user_id: str, hgp: HGP) -> Row:
    """Make a user a member of ``hgp`` (after their other memberships); the user.

    Raises:
        NotFound: no such user.
        Conflict: revoked, or a member already.
    """
    with transaction(db):
        _active(db, user_id)
        found = db.execute(
            "SELECT 1 FROM user_hgps WHERE user_id = ? AND hub = ? AND grp = ? AND project = ?",
            (user_id, *hgp),
        ).fetchone()
        if found is not None:
            raise Conflict(f"user {user_id!r} is a member of {'/'.join(hgp)} already")
        db.execute(
            "INSERT INTO user_hgps (user_id, seq, hub, grp, project) VALUES "
            "(?, (SELECT COALESCE(MAX(seq) + 1, 0) FROM user_hgps WHERE user_id = ?), ?, ?, ?)",
            (user_id, user_id, *hgp),
        )
        return _user(db, user_id)


def ungrant(db: Db, user_id: str, hgp: HGP) -> Row:
    """End a user's membership of ``hgp``; the user.

    Raises:
        NotFound: no such user, or not a member of ``hgp``.
        Conflict: revoked, or ``hgp`` is their last membership (a user has at least one).
    """
    with transaction(db):
        user = _active(db, user_id)
        name = "/".join(hgp)
        if name not in user["hgps"]:
            raise NotFound(f"user {user_id!r} is not a member of {name}")
        if len(user["hgps"]) == 1:
            raise Conflict(
                f"{name} is the last hub/group/project of user {user_id!r}: grant another "
                "first, or revoke the user"
            )
        db.execute(
            "DELETE FROM user_hgps WHERE user_id = ? AND hub = ? AND grp = ? AND project = ?",
            (user_id, *hgp),
        )
        return _user(db, user_id)


def _has_users(db: Db) -> bool:
    return db.execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None


def _lookup(db: Db, user_id: str) -> tuple[bool, Row | None]:
    # One statement, whatever the answer: it runs on every request that carries a token.
    rows = db.execute(
        "SELECT EXISTS (SELECT 1 FROM users), u.id, u.revoked, h.hub, h.grp, h.project "
        "FROM (SELECT 1 AS one) AS one "
        "LEFT JOIN users u ON u.id = ? "
        "LEFT JOIN user_hgps h ON h.user_id = u.id ORDER BY h.seq",
        (user_id,),
    ).fetchall()
    has_users, found, revoked = bool(rows[0][0]), rows[0][1], rows[0][2]
    if found is None or revoked is not None:
        return has_users, None
    return True, {"id": user_id, "hgps": [f"{h}/{g}/{p}" for *_, h, g, p in rows if h is not None]}


def user_by_id(db: Db, user_id: str) -> tuple[bool, Row | None]:
    """Whether the database has users (revoked ones count), and the user ``user_id`` (``id``,
    ``hgps``) unless unknown or revoked."""
    return _lookup(db, user_id)


def user_by_token(db: Db, token: str) -> tuple[bool, Row | None]:
    """Whether the database has users, and the user whose API token is ``token`` (``id``,
    ``hgps``) unless there is none or they are revoked."""
    digest = hash_token(token)
    row = db.execute("SELECT id, token_hash FROM users WHERE token_hash = ?", (digest,)).fetchone()
    if row is None or not hmac.compare_digest(str(row[1]), digest):
        return _has_users(db), None
    return _lookup(db, str(row[0]))
