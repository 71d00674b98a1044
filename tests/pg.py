"""The PostgreSQL server of the tests, when there is one: ``QEXP_TEST_PG`` (``nox -s pg``
starts a throwaway server and sets it). Tests take a schema of their own on it, so that every
store starts empty and nothing outlives the test."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from urllib.parse import quote

import pytest

SERVER = os.environ.get("QEXP_TEST_PG", "")
"""The server's URL, or empty."""
NO_SERVER = "QEXP_TEST_PG is not set (nox -s pg sets it)"
"""Why a test that needs the server is skipped without it."""


def schema_url(schema: str) -> str:
    """:data:`SERVER`'s URL with ``schema`` as the search path (the emulator's tables go there)."""
    joiner = "&" if "?" in SERVER else "?"
    return f"{SERVER}{joiner}options={quote(f'-csearch_path={schema}', safe='')}"


def execute(sql: str) -> None:
    """Run one statement on :data:`SERVER` (autocommit)."""
    import psycopg

    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@contextlib.contextmanager
def fresh_schema(prefix: str) -> Iterator[str]:
    """A new, empty schema on :data:`SERVER` named ``<prefix>_<random>``, dropped afterwards;
    the test is skipped without a server."""
    if not SERVER:
        pytest.skip(NO_SERVER)
    pytest.importorskip("psycopg")
    name = f"{prefix}_{secrets.token_hex(6)}"
    execute(f'CREATE SCHEMA "{name}"')
    try:
        yield name
    finally:
        execute(f'DROP SCHEMA "{name}" CASCADE')
