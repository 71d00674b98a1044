"""``python -m async_qexp.emulator users ...`` (also ``qexp emulator users ...``): the users
kept in an emulator's database, their API tokens and hub/group/project memberships.

Once a database has users, an emulator started on it without ``--users`` lets only their API
tokens log in; a revocation or a membership change takes effect at once, in every emulator
process on that database. Exit codes: 0 done, 1 the database could not be opened or used,
2 a usage error (a bad hub/group/project or user id among them), 3 no such user (or
membership), 4 a conflict (the id is taken, the user is revoked, a membership exists, or it is
the user's last one).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from ._util import now_ts
from .store import Conflict, NotFound, SchemaError, Store, StoreError, is_postgres_url, open_store
from .store.interface import HGP

__all__ = ["EXIT_CONFLICT", "EXIT_FAILED", "EXIT_NOT_FOUND", "EXIT_USAGE", "main", "parse_args"]

T = TypeVar("T")

EXIT_FAILED = 1
"""The database could not be opened or used."""
EXIT_USAGE = 2
"""The command line is wrong (argparse's code)."""
EXIT_NOT_FOUND = 3
"""No such user, or no such membership."""
EXIT_CONFLICT = 4
"""The id is taken, the user is revoked, the membership exists or is the user's last."""


def _hgp(text: str) -> HGP:
    parts = text.split("/")
    if len(parts) != 3 or not all(parts) or not text.isprintable():
        raise argparse.ArgumentTypeError(
            f"invalid hub/group/project {text!r} (expected 'hub/group/project')"
        )
    return parts[0], parts[1], parts[2]


def _user_id(text: str) -> str:
    if not text or text != text.strip() or not text.isprintable():
        raise argparse.ArgumentTypeError(
            f"invalid user id {text!r}: printable, not empty, no space at either end"
        )
    return text


def parse_args(argv: Sequence[str], prog: str) -> argparse.Namespace:
    """Parse the arguments after ``users`` (``prog``: the command's name in help and errors)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db",
        required=True,
        help="the emulator's database: a SQLite file or a postgresql:// URL",
    )
    p = argparse.ArgumentParser(
        prog=prog,
        description="Manage the users kept in an emulator's database. Once it has users, an "
        "emulator on it (without --users) lets only their API tokens log in.",
        epilog="Exit codes: 0 done, 1 database error, 2 usage error, 3 no such user or "
        "membership, 4 conflict (id taken, user revoked, membership exists or is the last).",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add = sub.add_parser(
        "add",
        parents=[common],
        help="add a user and print their API token (shown once only)",
        description="Add a user and print their new API token on standard output: it is "
        "stored only hashed and cannot be shown again.",
    )
    add.add_argument("id", type=_user_id, help="the user's id")
    add.add_argument(
        "--hgp",
        type=_hgp,
        action="append",
        required=True,
        metavar="HUB/GROUP/PROJECT",
        help="a membership (repeatable; the first is the user's default)",
    )
    ls = sub.add_parser("list", parents=[common], help="list the users (never their tokens)")
    ls.add_argument("--json", action="store_true", help="a JSON array instead of a table")
    revoke = sub.add_parser(
        "revoke",
        parents=[common],
        help="revoke a user: their API and access tokens stop working at once",
    )
    revoke.add_argument("id", type=_user_id)
    for name, text in (("grant", "add a membership"), ("ungrant", "remove a membership")):
        cmd = sub.add_parser(name, parents=[common], help=text)
        cmd.add_argument("id", type=_user_id)
        cmd.add_argument("--hgp", type=_hgp, required=True, metavar="HUB/GROUP/PROJECT")
    args = p.parse_args(argv)
    if args.command != "add" and not is_postgres_url(args.db) and not os.path.exists(args.db):
        p.error(f"no database file {args.db!r} ('users add' creates one)")
    return args


class _OpenFailed(Exception):
    """The database could not be opened (the driver's error, whatever the driver)."""


async def _with_store(db: str, fn: Callable[[Store], Awaitable[T]]) -> T:
    try:
        store = await open_store(db)
    except (SchemaError, ImportError):
        raise
    except Exception as exc:  # the driver's own: a refused connection, a file that is no database
        raise _OpenFailed(f"cannot open the database: {exc}") from exc
    try:
        return await fn(store)
    finally:
        await store.aclose()


def _table(users: list[dict[str, Any]]) -> str:
    rows = [("ID", "CREATED", "REVOKED", "HUB/GROUP/PROJECT")]
    rows += [(u["id"], u["created"], u["revoked"] or "-", " ".join(u["hgps"])) for u in users]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        "  ".join([*(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)), row[3]])
        for row in rows
    )


async def _run(args: argparse.Namespace) -> int:
    command = args.command
    if command == "add":
        hgps: list[HGP] = args.hgp
        token = await _with_store(args.db, lambda s: s.add_user(args.id, hgps, now_ts()))
        print(f"added user {args.id!r}; their API token (shown once only):", file=sys.stderr)
        print(token, flush=True)
    elif command == "list":
        users = await _with_store(args.db, lambda s: s.list_users())
        if args.json:
            print(json.dumps(users, indent=2))
        elif users:
            print(_table(users))
        else:
            print("no users: an emulator on this database lets any API token log in")
    elif command == "revoke":
        user = await _with_store(args.db, lambda s: s.revoke_user(args.id, now_ts()))
        print(f"revoked user {user['id']!r} at {user['revoked']}")
    else:
        hgp: HGP = args.hgp
        if command == "grant":
            user = await _with_store(args.db, lambda s: s.grant(args.id, hgp))
        else:
            user = await _with_store(args.db, lambda s: s.ungrant(args.id, hgp))
        print(f"user {user['id']!r}: {' '.join(user['hgps'])}")
    return 0


def main(argv: Sequence[str], prog: str = "python -m async_qexp.emulator users") -> int:
    """Run ``users COMMAND ...`` (``argv``: the arguments after ``users``); the exit code."""
    args = parse_args(argv, prog)
    try:
        return asyncio.run(_run(args))
    except NotFound as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except Conflict as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return EXIT_CONFLICT
    except (StoreError, SchemaError, OSError, ImportError, _OpenFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
