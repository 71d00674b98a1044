"""Sessions: ``nox`` runs tests, lint and typecheck; ``nox -s bench`` runs the benchmarks."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

PYTEST_WARNINGS = [
    "-W",
    "error::ResourceWarning",
    "-W",
    "error::pytest.PytestUnraisableExceptionWarning",
]


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite: unit (respx), emulator, and integration tests."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *PYTEST_WARNINGS, *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting of the library, tests, examples and benchmarks."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", "async_qexp", "tests", "examples", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the library."""
    session.install("-e", ".[test]", "mypy>=1.10")
    session.run("mypy", "--strict", "async_qexp")


@nox.session
def examples(session: nox.Session) -> None:
    """Run every example against the embedded emulator."""
    session.install("-e", ".[emulator]")
    for example in ("quickstart.py", "stream_runtime.py", "t1_experiment.py"):
        session.run("python", f"examples/{example}")
