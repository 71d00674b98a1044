"""A pytest plugin for ``nox -s pg`` (``pytest -p tests.pg_backend``): the run needs the
PostgreSQL server that ``tools/pg_cluster.py run`` names in ``QEXP_TEST_PG``.

For now it only checks, before any test runs, that the variable is set and that the server
answers ``SELECT 1``, and stops the run with a usage error otherwise (so a session that was
meant to test PostgreSQL never passes on SQLite alone by accident). Pointing the emulator at
the server is the PostgreSQL store's part, which replaces this module.
"""

from __future__ import annotations

import os

import pytest

ENV_VAR = "QEXP_TEST_PG"


def pytest_configure(config: pytest.Config) -> None:
    """Check the server named by ``QEXP_TEST_PG`` before the session starts."""
    url = os.environ.get(ENV_VAR, "").strip()
    if not url:
        raise pytest.UsageError(
            f"tests.pg_backend: {ENV_VAR} is not set; run the suite through "
            f"'python tools/pg_cluster.py run -- python -m pytest -p tests.pg_backend ...' "
            "(nox -s pg), or set it to a PostgreSQL URL"
        )
    try:
        import psycopg
    except ImportError as exc:
        raise pytest.UsageError(
            f"tests.pg_backend: psycopg is not installed ({exc}); pip install 'psycopg[binary]'"
        ) from exc
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            row = conn.execute("SELECT 1").fetchone()
    except psycopg.Error as exc:
        raise pytest.UsageError(
            f"tests.pg_backend: the PostgreSQL server at {url} does not answer: {exc}"
        ) from exc
    if row != (1,):
        raise pytest.UsageError(f"tests.pg_backend: SELECT 1 at {url} answered {row!r}")
