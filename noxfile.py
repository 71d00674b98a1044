"""Sessions: ``nox`` runs tests, lint and typecheck; ``nox -s bench`` runs the benchmarks."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "optional_deps", "compat", "lint", "typecheck"]
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
def optional_deps(session: nox.Session) -> None:
    """The code paths that light up when numpy, pandas, matplotlib, PyYAML, cryptography, tqdm
    or Qiskit (the ``qiskit`` extra) are installed (the notebook's ``to_dataframe()`` among
    them); the ``tests`` session covers their absence."""
    session.install(
        "-e", ".[test,qiskit]", "numpy", "pandas", "matplotlib", "pyyaml", "cryptography", "tqdm"
    )
    session.run(
        "python",
        "-m",
        "pytest",
        *PYTEST_WARNINGS,
        "-q",
        "tests/unit",
        "tests/integration/test_experiment_data.py",
        "tests/integration/test_serialisation.py",
        "tests/integration/test_qiskit.py",
        "tests/integration/test_examples.py",
        "tests/emulator/test_tls.py",
        "tests/integration/test_notebook.py",
        *session.posargs,
    )


IBMQ_PROVIDER = [
    "qiskit-ibmq-provider==0.20.2",
    "qiskit-terra==0.46.3",  # the last 0.x; the provider also pins numpy<1.24 (Python <= 3.11)
    "websocket-client==1.8.0",  # 1.9 makes this provider reconnect forever
    "setuptools<81",  # the provider imports pkg_resources
]
COMPAT_CLIENTS = {
    "qiskit-ibm-experiment": (["qiskit-ibm-experiment"], "compat_qiskit_ibm_experiment.py"),
    "qiskit-ibmq-provider": (IBMQ_PROVIDER, "compat_qiskit_ibmq_provider.py"),
}


@nox.session
@nox.parametrize(
    ("python", "client"),
    [(None, "qiskit-ibm-experiment"), ("3.11", "qiskit-ibmq-provider")],
    ids=["qiskit-ibm-experiment", "qiskit-ibmq-provider"],
)
def compat(session: nox.Session, client: str) -> None:
    """Unmodified Qiskit clients against the emulator, each in a virtualenv of its own.

    qiskit-ibm-experiment: the experiment service. qiskit-ibmq-provider 0.20.2: IBMQ login,
    backends, runtime programs and jobs, the result stream (the emulator serves TLS for it).
    The emulator runs as a process of its own, started and stopped by the script.
    """
    packages, script = COMPAT_CLIENTS[client]
    session.install("-e", ".[emulator]", *packages)
    session.run("python", f"tests/emulator/{script}", "--emulator-python", "python")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and formatting), and the import contracts of docs/architecture.md."""
    session.install("ruff>=0.5", "import-linter>=2.1")
    session.install("--no-deps", "-e", ".")  # import-linter finds the package; nothing runs
    session.run("ruff", "check", "async_qexp", "tests", "examples", "bench", "tools", "noxfile.py")
    session.run("ruff", "format", "--check", "async_qexp", "tests", "examples", "bench", "tools")
    session.run("lint-imports")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the library, and on a module that uses the blocking facade (so its
    generated signatures are checked from the caller's side)."""
    session.install("-e", ".[test]", "mypy>=1.10")
    session.run("mypy", "--strict", "async_qexp", "tests/typecheck")


@nox.session
def examples(session: nox.Session) -> None:
    """Run every example against the embedded emulator."""
    session.install("-e", ".[emulator]")
    for example in ("quickstart.py", "stream_runtime.py", "t1_experiment.py"):
        session.run("python", f"examples/{example}")


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmarks (``bench/README.md``); ``-- --quick`` for a one-minute smoke run.

    ``nox -s bench`` runs every scenario at full size (about 8 minutes on 2 cores);
    ``nox -s bench -- bulk_save`` (or ``paging``, ``stream``) runs one.
    """
    session.install("-e", ".[emulator,bench]")
    session.run("python", "-m", "bench", *session.posargs)
