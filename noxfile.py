"""Sessions: ``nox`` runs the tests on every Python from 3.10 to 3.13 that is present (in New
York's and Kolkata's time zones on two of them), on the lowest versions the project allows,
with the optional dependencies, against the reference clients, then lint and typecheck, builds
the documentation site strictly (``nox -s docs``, under a minute; it needs only the package
index), fuzzes the emulator's HTTP API for about two minutes (``nox -s fuzz``), runs the
chaos suite (``nox -s chaos``, a few minutes) and runs the emulator, integration and chaos suites
against PostgreSQL (``nox -s pg``, on a throwaway server it starts on a free loopback port and
stops afterwards; it needs the PostgreSQL server binaries); ``nox -s bench`` runs the
benchmarks and ``nox -s mutation`` the mutation tests (neither by default)."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import nox

nox.options.sessions = [
    "tests",
    "lowest",
    "wheel",
    "optional_deps",
    "compat",
    "lint",
    "typecheck",
    "docs",
    "fuzz",
    "chaos",
    "pg",
]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False  # an absent Python is skipped, not a failure

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
ROOT = Path(__file__).resolve().parent


def _pyenv_on_path() -> None:
    """Put pyenv's interpreters first on PATH: its shims fail for a version that is not
    selected, where nox should find the interpreter (a machine without pyenv is unchanged)."""
    versions = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = []
    for version in PYTHONS:
        patches = [p for p in versions.glob(f"{version}.*/bin") if (p / "python3").exists()]
        patches.sort(key=lambda p: [int(n) for n in re.findall(r"\d+", p.parent.name)])
        if patches:
            found.append(str(patches[-1]))
    if found:
        os.environ["PATH"] = os.pathsep.join([*found, os.environ.get("PATH", "")])


_pyenv_on_path()

PYTEST_WARNINGS = [
    "-W",
    "error::ResourceWarning",
    "-W",
    "error::pytest.PytestUnraisableExceptionWarning",
]


TIME_ZONES = {"3.10": "America/New_York", "3.11": "Asia/Kolkata"}
"""The local zone of the ``tests`` session on these Pythons (UTC on the others, and in the
``lowest`` session), so the suite runs west and east of UTC as well as in it."""

CHECK_ZONE = (
    "import os, time; zone = os.environ['TZ']; "
    "assert zone == 'UTC' or time.strftime('%z') != '+0000', "
    "f'{zone} is not known on this machine (install tzdata)'"
)


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The whole test suite (unit, emulator, integration), on each Python that is present,
    in the local time zone of :data:`TIME_ZONES` (the chaos suite has its own session)."""
    session.install("-e", ".[test]")
    env = {"TZ": TIME_ZONES.get(str(session.python), "UTC")}
    session.run("python", "-c", CHECK_ZONE, env=env)
    session.run("python", "-m", "pytest", *PYTEST_WARNINGS, *session.posargs, env=env)


def lowest_constraints() -> list[str]:
    """``name==floor`` for every dependency of the package, the emulator and the tests: the
    lowest versions ``pyproject.toml`` allows (``name[extra]>=floor`` pins ``name``)."""
    text = (ROOT / "pyproject.toml").read_text()
    sections = re.findall(
        r"^(?:dependencies|emulator|test) = \[(.*?)^\]", text, flags=re.MULTILINE | re.DOTALL
    )
    pins = []
    for section in sections:
        pattern = r'"([A-Za-z0-9_.\-]+)(?:\[[^\]"]*\])?>=([0-9][^",;\s]*)'
        for name, floor in re.findall(pattern, section):
            pins.append(f"{name}=={floor}")
    return pins


@nox.session(python=PYTHONS[0])
def lowest(session: nox.Session) -> None:
    """The whole suite on the lowest Python with the lowest version of every dependency (each
    floor in ``pyproject.toml`` must be one that passes)."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as constraints:
        constraints.write("\n".join(lowest_constraints()) + "\n")
    try:
        session.install("-c", constraints.name, "-e", ".[test]")
    finally:
        os.unlink(constraints.name)
    session.run("python", "-m", "pip", "freeze", silent=False)
    session.run(
        "python", "-m", "pytest", *PYTEST_WARNINGS, "-q", *session.posargs, env={"TZ": "UTC"}
    )


@nox.session(python=[PYTHONS[0], PYTHONS[-1]])
def wheel(session: nox.Session) -> None:
    """The built wheel, installed in a clean virtualenv (not the checkout), runs the
    quickstart against the embedded emulator and the ``qexp`` command."""
    with tempfile.TemporaryDirectory() as out:
        session.run("python", "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, str(ROOT))
        (built,) = Path(out).glob("async_qexp-*.whl")
        session.install(f"{built}[emulator]")
        with tempfile.TemporaryDirectory() as elsewhere:  # the checkout is not importable here
            session.chdir(elsewhere)
            session.run("python", str(ROOT / "examples" / "quickstart.py"))
            session.run("qexp", "--version")
            session.run(
                "python",
                "-c",
                "import async_qexp, sys; assert 'site-packages' in async_qexp.__file__",
            )


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
COMPAT_CLIENTS: dict[str, tuple[list[str], str, list[str]]] = {
    "qiskit-ibm-experiment": (["qiskit-ibm-experiment"], "compat_qiskit_ibm_experiment.py", []),
    "qiskit-ibmq-provider": (IBMQ_PROVIDER, "compat_qiskit_ibmq_provider.py", []),
    # qiskit-experiments through the drop-in (async_qexp.compat); 0.13 depends on
    # qiskit-ibm-experiment, 0.14 does not (it is installed to show what that client loses).
    "qiskit-experiments-0.13": (
        ["qiskit-experiments==0.13.*"],
        "compat_qiskit_experiments.py",
        [],
    ),
    "qiskit-experiments-0.14": (
        ["qiskit-experiments==0.14.*", "qiskit-ibm-experiment==0.4.8"],
        "compat_qiskit_experiments.py",
        ["--reference"],
    ),
}


@nox.session
@nox.parametrize(
    ("python", "client"),
    [
        (None, "qiskit-ibm-experiment"),
        ("3.11", "qiskit-ibmq-provider"),
        (None, "qiskit-experiments-0.13"),
        (None, "qiskit-experiments-0.14"),
    ],
    ids=[
        "qiskit-ibm-experiment",
        "qiskit-ibmq-provider",
        "qiskit-experiments-0.13",
        "qiskit-experiments-0.14",
    ],
)
def compat(session: nox.Session, client: str) -> None:
    """Unmodified Qiskit clients against the emulator, each in a virtualenv of its own.

    qiskit-ibm-experiment: the experiment service. qiskit-ibmq-provider 0.20.2: IBMQ login,
    backends, runtime programs and jobs, the result stream (the emulator serves TLS for it).
    qiskit-experiments 0.13 and 0.14: a T1 experiment's analysis, figures and artifacts saved
    and loaded back through the drop-in (``async_qexp.compat``), and a failed save surfacing.
    The emulator runs as a process of its own, started and stopped by the script: once on
    SQLite, then with two worker processes on a throwaway PostgreSQL server.
    """
    packages, script, options = COMPAT_CLIENTS[client]
    session.install("-e", ".[postgresql]", *packages)
    session.run("python", f"tests/emulator/{script}", "--emulator-python", "python", *options)
    # again against the shared service: two worker processes on a throwaway PostgreSQL server
    session.run(
        *("python", "tools/pg_cluster.py", "run", "--"),
        *("python", f"tests/emulator/{script}", "--emulator-python", "python", *options),
        env={"EMULATOR_ARGS": "--workers 2 --db $QEXP_TEST_PG"},
    )


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
    session.install("-e", ".[test,postgresql]", "mypy>=1.10")
    session.run("mypy", "--strict", "async_qexp", "tests/typecheck")


@nox.session
def fuzz(session: nox.Session) -> None:
    """schemathesis against the emulator (``tests/emulator/fuzz_emulator.py``): every operation
    of its ``/openapi.json`` and the links between them, failing on any 5xx, answer outside the
    schema, hang or traceback in the emulator's log, then on a database that fails ``PRAGMA
    integrity_check``. Two runs of 60 s: any token a user, then with a users file (foreign
    hub/group/projects refused). ``-- --max-time 600 --seed N`` explores longer or replays."""
    session.install("-e", ".[emulator]", "schemathesis>=4.0")
    script = "tests/emulator/fuzz_emulator.py"
    session.run("python", script, "--max-time", "60", *session.posargs)
    session.run("python", script, "--team", "--max-time", "60", *session.posargs)


@nox.session
def examples(session: nox.Session) -> None:
    """Run every example against the embedded emulator."""
    session.install("-e", ".[emulator]")
    for example in ("quickstart.py", "stream_runtime.py", "t1_experiment.py"):
        session.run("python", f"examples/{example}")


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site (``mkdocs.yml``) built into ``site/``, strictly: a link to a
    missing page or heading, a reference to an object the API reference lacks, a docstring
    griffe cannot parse, or any other warning fails the build."""
    session.install("-e", ".[docs]")
    session.run(
        "mkdocs",
        "build",
        "--strict",
        "--site-dir",
        "site",
        *session.posargs,
        env={"NO_MKDOCS_2_WARNING": "1"},  # mkdocs-material's notice about its successor
    )


QISKIT_CONTENDER = "qiskit-ibm-experiment==0.4.8"
"""The real sync client the ``contest`` benchmark runs beside ours, in an environment of its
own."""


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmarks (``bench/README.md``); ``-- --quick`` for a smoke run.

    ``nox -s bench`` runs every scenario at full size (about 25 minutes on 2 cores);
    ``nox -s bench -- bulk_save`` (or ``paging``, ``stream``, ``contest``, ``dropin``,
    ``blobs``, ``auth``, ``shared``) runs one. The ``contest`` scenario's sync contender,
    ``qiskit-ibm-experiment`` 0.4.8, gets a virtualenv of its own (made once, in the session's
    ``tmp`` directory); the ``dropin`` scenario runs the same client in the session's own,
    beside the drop-in that replaces it. The ``shared`` scenario starts a throwaway PostgreSQL
    cluster (``tools/pg_cluster.py``): it needs the PostgreSQL server binaries.
    """
    session.install("-e", ".[emulator,bench,postgresql]", QISKIT_CONTENDER)
    qiskit_env = Path(session.create_tmp()) / "qiskit-ibm-experiment"
    python = qiskit_env / "bin" / "python"
    if not python.exists():
        session.run("python", "-m", "venv", str(qiskit_env))
        session.run(str(python), "-m", "pip", "install", "-q", QISKIT_CONTENDER, external=True)
    session.run("python", "-m", "bench", "--qiskit-python", str(python), *session.posargs)


@nox.session
def chaos(session: nox.Session) -> None:
    """The chaos suite (``tests/chaos``, about 4 minutes on 2 busy cores): bulk saves of
    1,000 results and 50 figures and concurrent calls under every fault mix of the emulator
    and across a kill -9 of it, result streams through broken and cut connections, and 1,000
    random cancellations with no task, socket, thread or file left behind."""
    session.install("-e", ".[test]")
    session.run(
        "python",
        "-m",
        "pytest",
        *PYTEST_WARNINGS,
        "-q",
        "-m",
        "chaos",
        "--durations=10",
        "tests/chaos",
        *session.posargs,
    )


@nox.session(python="3.11")
def pg(session: nox.Session) -> None:
    """The emulator, integration and chaos suites against a real PostgreSQL server: ``python
    tools/pg_cluster.py run`` starts a throwaway cluster (a temporary directory, a free port
    on 127.0.0.1), runs pytest with ``QEXP_TEST_PG`` set to its URL and the
    ``tests.pg_backend`` plugin, then stops the server and deletes the directory. It needs the
    PostgreSQL server binaries (``initdb``, ``pg_ctl``, ``postgres``) and fails without them;
    a run where pytest collects no test fails too (exit code 5)."""
    session.install("-e", ".[test,postgresql]")
    session.run(
        "python",
        "tools/pg_cluster.py",
        "run",
        "--",
        "python",
        "-m",
        "pytest",
        *PYTEST_WARNINGS,
        "-q",
        "-p",
        "tests.pg_backend",
        "tests/emulator",
        "tests/integration",
        *session.posargs,
    )
    if not session.posargs:  # and the chaos suite (faults, cut streams, cancellations)
        session.run(
            *("python", "tools/pg_cluster.py", "run", "--"),
            *("python", "-m", "pytest", *PYTEST_WARNINGS, "-q", "-p", "tests.pg_backend"),
            *("-m", "chaos", "tests/chaos"),
        )


@nox.session
def mutation(session: nox.Session) -> None:
    """Mutation testing (not a default session): mutmut's mutants of each core module, a
    sample of 60, run against that module's own tests, and the kill rate of each
    (``tools/mutation.py``; about 15 minutes on 2 cores). ``-- --sample 20`` for a quicker
    look, ``-- async_qexp/_paging.py`` for one module, ``-- --min-rate 0.85`` to fail under."""
    session.install("-e", ".[test]", "mutmut==3.8.1")
    session.run("python", "tools/mutation.py", *session.posargs)
