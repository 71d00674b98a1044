"""Fidelity check: the old sync client ``qiskit-ibmq-provider`` 0.20.2 against the emulator.

Not collected by pytest (no ``test_`` prefix). ``nox -s compat`` runs it (the session
``compat(qiskit-ibmq-provider)``); by hand, with the interpreter of a separate virtualenv
(Python 3.11 at most: the provider pins ``numpy<1.24``)::

    python3.11 -m venv /tmp/venv-ibmq && /tmp/venv-ibmq/bin/pip install -e '.[emulator]' \\
        qiskit-ibmq-provider==0.20.2 qiskit-terra==0.46.3 websocket-client==1.8.0 'setuptools<81'
    /tmp/venv-ibmq/bin/python tests/emulator/compat_qiskit_ibmq_provider.py \\
        [--emulator-python PYTHON] [--url https://127.0.0.1:8765 --ca CA.pem]

Without ``--url`` it starts ``python -m async_qexp.emulator --port 0 --tls-self-signed`` (with
the interpreter given by ``--emulator-python``) and a users file of one user in two projects,
runs the checks, then stops it with SIGTERM and checks that no process of it is left. Exit
code 0 when every check passed. ``--url`` names a fresh emulator of your own instead, started
with ``--tls-self-signed`` (``--ca``: the file it printed) and a users file giving the token
``compat-token`` the projects of ``HGPS``.

The client is used unmodified. It streams runtime results from the runtime URL with ``https``
replaced by ``wss`` and cannot stream from an ``http`` one, so the emulator serves TLS with a
throw-away certificate authority, which the client trusts through ``REQUESTS_CA_BUNDLE``
(``requests``) and ``SSL_CERT_FILE`` (``websocket-client``); nothing of the client is adapted.
``websocket-client`` 1.9 makes this client reconnect forever: the session pins 1.8.0.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS: list[tuple[str, bool, str]] = []
TOKEN = "compat-token"
HGPS = ["ibm-q/open/main", "hub-x/group-y/proj-z"]
RUNTIME_BACKENDS = ["emulator_simulator", "ibmq_qasm_simulator"]
BUILTINS = {"burst", "hello-world", "sample-program", "t1-sim"}

USER_PROGRAM = """
def main(backend, user_messenger, steps=2, fail=False):
    for i in range(steps):
        user_messenger.publish({"step": i, "backend": backend.name()})
    print("compat program on", backend.name())
    if fail:
        raise ValueError("asked to fail")
    return {"steps": steps}
"""


def check(name: str) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
    """Run the decorated function at once and record its outcome."""

    def wrap(fn: Callable[[], Any]) -> Callable[[], Any]:
        try:
            detail = fn()
            RESULTS.append((name, True, "" if detail is None else str(detail)))
        except Exception as exc:
            RESULTS.append((name, False, f"{type(exc).__name__}: {exc}"))
            traceback.print_exc()
        return fn

    return wrap


def wait_until(what: str, predicate: Callable[[], bool], timeout: float = 30) -> None:
    """Poll ``predicate`` every 0.1 s until it holds; AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def expect(exc_type: type[BaseException], fn: Callable[[], Any]) -> str:
    """Call ``fn``; it must raise ``exc_type``. Returns the error text."""
    try:
        fn()
    except exc_type as exc:
        return f"{type(exc).__name__}: {str(exc)[:80]}"
    raise AssertionError(f"no {exc_type.__name__}")


def run_checks(url: str) -> None:
    """Exercise the client against the emulator at ``url``."""
    from qiskit import IBMQ  # type: ignore[import-not-found]
    from qiskit.providers.ibmq.ibmqbackend import IBMQSimulator  # type: ignore[import-not-found]
    from qiskit.providers.ibmq.runtime.exceptions import (  # type: ignore[import-not-found]
        RuntimeInvalidStateError,
        RuntimeJobFailureError,
        RuntimeJobNotFound,
        RuntimeProgramNotFound,
    )
    from qiskit.providers.jobstatus import JobStatus  # type: ignore[import-not-found]

    provider: Any = None

    @check("IBMQ.enable_account(token, url): a provider per hub/group/project, default first")
    def _() -> str:
        nonlocal provider
        provider = IBMQ.enable_account(TOKEN, url=url)
        assert provider is not None, "enable_account returned None (no hub/group/project)"
        hgps = ["/".join(p.credentials.unique_id().to_tuple()) for p in IBMQ.providers()]
        assert hgps == HGPS, hgps
        other = IBMQ.get_provider(hub="hub-x", group="group-y", project="proj-z")
        assert other.runtime is not None
        assert provider.runtime is not None, "no runtime service"
        return f"providers {hgps}; runtime at {provider.credentials.runtime_url}"

    if provider is None:
        return
    runtime = provider.runtime

    @check("provider.backends(): every backend, the runtime ones as simulators")
    def _() -> str:
        names = [b.name() for b in provider.backends()]
        assert set(RUNTIME_BACKENDS) <= set(names), names
        assert "ibmq_lima" in names, names
        sim = provider.get_backend("emulator_simulator")
        assert isinstance(sim, IBMQSimulator), sim
        config = sim.configuration()
        assert config.n_qubits == 5, config.n_qubits
        assert "cx" in config.basis_gates, config.basis_gates
        on_runtime = [b.name() for b in provider.backends(input_allowed="runtime")]
        assert on_runtime == RUNTIME_BACKENDS, on_runtime
        status = sim.status()
        assert status.operational, status
        assert status.pending_jobs == 0, status
        lima = provider.get_backend("ibmq_lima")
        assert lima.configuration().coupling_map, lima.configuration().coupling_map
        assert lima.properties() is None
        assert lima.defaults() is None
        return f"{names}; status {status.status_msg!r}"

    @check("runtime.programs() and program(): the built-ins, with their metadata")
    def _() -> str:
        ids = {p.program_id for p in runtime.programs()}
        assert ids >= BUILTINS, ids
        prog = runtime.program("sample-program")
        assert prog.name == "sample-program", prog.name
        assert prog.max_execution_time == 300, prog.max_execution_time
        assert prog.is_public
        assert "iterations" in prog.parameters().metadata["properties"], prog.parameters()
        assert "Input parameters" in str(prog)
        return f"{sorted(ids)}"

    @check("runtime.program() of an unknown id raises RuntimeProgramNotFound")
    def _() -> str:
        return expect(RuntimeProgramNotFound, lambda: runtime.program("no-such-program"))

    got: list[tuple[str, Any]] = []
    done: list[Any] = []
    job: Any = None
    inputs = {"iterations": 4, "interim_delay": 0.2, "seed": 7}

    @check("runtime.run(..., callback=...): the interim results reach the callback in order")
    def _() -> str:
        nonlocal job
        job = runtime.run(
            "sample-program",
            options={"backend_name": "emulator_simulator"},
            inputs=inputs,
            callback=lambda job_id, message: got.append((job_id, message)),
        )
        wait_until("five messages on the callback", lambda: len(got) >= 5)
        assert {job_id for job_id, _ in got} == {job.job_id()}
        interim = [m for _, m in got[:4]]
        assert [m["iteration"] for m in interim] == [0, 1, 2, 3], interim
        assert all(sum(m["counts"].values()) == 1024 for m in interim), interim
        # The emulator sends the final result as the last frame (docs/protocol.md#message-flow);
        # this client hands every frame to the callback.
        assert got[4][1] == {"iterations": 4, "message": "All done!"}, got[4]
        assert len(got) == 5, got
        return f"{len(interim)} interim results in order, then the final one"

    if job is None:
        return

    @check("job.result() and job.status()")
    def _() -> str:
        result = job.result(timeout=60)
        assert result == {"iterations": 4, "message": "All done!"}, result
        assert job.status() == JobStatus.DONE, job.status()
        assert job.error_message() is None
        done.append(result)
        return f"{result}"

    @check("job.logs(): the program's output")
    def _() -> str:
        logs = job.logs()
        assert "sample-program ran 4 iterations on emulator_simulator" in logs, logs
        return logs.strip()

    @check("runtime.job(id): the job's program, inputs, backend, status and creation date")
    def _() -> None:
        again = runtime.job(job.job_id())
        assert again.job_id() == job.job_id()
        assert again.program_id == "sample-program", again.program_id
        assert again.inputs == inputs, again.inputs
        assert again.backend().name() == "emulator_simulator"
        assert again.status() == JobStatus.DONE
        assert again.creation_date is not None
        assert again.result() == done[0]

    @check("runtime.job() of an unknown id raises RuntimeJobNotFound")
    def _() -> str:
        return expect(RuntimeJobNotFound, lambda: runtime.job("no-such-job"))

    program_id: list[str] = []

    @check("upload_program(); run it: interim results, result; a failing run is an ERROR")
    def _() -> str:
        metadata = {
            "name": "compat-program",
            "description": "qiskit-ibmq-provider compat check",
            "max_execution_time": 60,
        }
        program_id.append(runtime.upload_program(data=USER_PROGRAM, metadata=metadata))
        seen: list[Any] = []
        ok = runtime.run(
            program_id[0],
            options={"backend_name": "ibmq_qasm_simulator"},
            inputs={"steps": 3},
            callback=lambda _id, message: seen.append(message),
        )
        assert ok.result(timeout=60, wait=0.2) == {"steps": 3}
        wait_until("four messages on the callback", lambda: len(seen) >= 4)
        assert [m["step"] for m in seen[:3]] == [0, 1, 2], seen
        assert ok.logs().strip() == "compat program on ibmq_qasm_simulator", ok.logs()
        bad = runtime.run(
            program_id[0],
            options={"backend_name": "ibmq_qasm_simulator"},
            inputs={"fail": True},
        )
        text = expect(RuntimeJobFailureError, lambda: bad.result(timeout=60, wait=0.2))
        assert bad.status() == JobStatus.ERROR, bad.status()
        assert "asked to fail" in (bad.error_message() or ""), bad.error_message()
        return f"{program_id[0]}: {text}"

    @check("runtime.jobs(): newest first, pending and program filters")
    def _() -> str:
        everything = [j.job_id() for j in runtime.jobs(limit=None)]
        assert len(everything) == 3, everything
        assert everything[-1] == job.job_id(), everything
        assert [j.job_id() for j in runtime.jobs(program_id="sample-program")] == [job.job_id()]
        assert len(runtime.jobs(pending=False)) == 3
        assert runtime.jobs(pending=True) == []
        assert len(runtime.jobs(limit=2)) == 2
        return f"{len(everything)} jobs"

    @check("job.cancel() of a running job; a second cancel raises RuntimeInvalidStateError")
    def _() -> str:
        long = runtime.run(
            "sample-program",
            options={"backend_name": "emulator_simulator"},
            inputs={"iterations": 1000, "interim_delay": 0.05},
        )
        wait_until("RUNNING", lambda: long.status() == JobStatus.RUNNING)
        long.cancel()
        assert long.status() == JobStatus.CANCELLED
        remote = runtime.job(long.job_id())
        assert remote.status() == JobStatus.CANCELLED, remote.status()
        text = expect(RuntimeInvalidStateError, long.cancel)
        assert runtime.jobs(pending=True) == []
        return text

    @check("delete_job(); the job is gone (RuntimeJobNotFound), a second delete raises too")
    def _() -> None:
        runtime.delete_job(job.job_id())
        expect(RuntimeJobNotFound, lambda: runtime.job(job.job_id()))
        expect(RuntimeJobNotFound, lambda: runtime.delete_job(job.job_id()))
        assert job.job_id() not in [j.job_id() for j in runtime.jobs(limit=None)]

    @check("delete_program(); program() raises RuntimeProgramNotFound")
    def _() -> None:
        runtime.delete_program(program_id[0])
        expect(RuntimeProgramNotFound, lambda: runtime.program(program_id[0], refresh=True))

    IBMQ.disable_account()


def _children(pid: int) -> set[int]:
    """Process ids whose parent is ``pid`` (Linux; empty elsewhere)."""
    found: set[int] = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def emulator_args() -> list[str]:
    """More arguments for the emulator this script starts: ``EMULATOR_ARGS``, with environment
    variables expanded (``nox -s compat`` runs each script a second time with ``--workers 2
    --db $QEXP_TEST_PG``, on a throwaway PostgreSQL server)."""
    return shlex.split(os.path.expandvars(os.environ.get("EMULATOR_ARGS", "")))


def main() -> int:
    """Start the emulator if needed, run the checks, print a summary."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default=None, help="a running emulator (https)")
    parser.add_argument("--ca", default=None, help="the certificate to trust for --url")
    parser.add_argument(
        "--emulator-python", default=os.environ.get("EMULATOR_PYTHON", sys.executable)
    )
    args = parser.parse_args()
    started = time.monotonic()
    proc = None
    url, ca = args.url, args.ca
    workdir = tempfile.TemporaryDirectory(prefix="compat-ibmq-")
    try:
        if url is None:
            users = Path(workdir.name) / "users.json"
            users.write_text(
                json.dumps({"users": [{"token": TOKEN, "id": "compat-user", "hgps": HGPS}]})
            )
            proc = subprocess.Popen(
                [
                    *(args.emulator_python, "-m", "async_qexp.emulator", "--port", "0"),
                    *("--users", str(users), "--tls-self-signed"),
                    *emulator_args(),
                ],
                stdout=subprocess.PIPE,
                text=True,
                cwd=ROOT,
            )
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("tls ca "):
                    ca = line[len("tls ca ") :].strip()
                if line.startswith("listening on "):
                    url = line.split()[-1]
                    break
            assert url is not None, "the emulator did not start"
            assert url.startswith("https://"), url
            # Drain the rest of its output so the emulator never blocks on a full pipe.
            threading.Thread(target=proc.stdout.read, daemon=True).start()
        if ca:
            for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "WEBSOCKET_CLIENT_CA_BUNDLE"):
                os.environ[name] = ca
        run_checks(url)
    except Exception as exc:
        RESULTS.append(("the checks ran to the end", False, f"{type(exc).__name__}: {exc}"))
        traceback.print_exc()
    finally:
        if proc is not None:
            workers = _children(proc.pid)
            stopping = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(20)
            took = time.monotonic() - stopping
            # Up to uvicorn's 5 s graceful-shutdown timeout: this client keeps the socket of a
            # finished result stream open and never answers the server's TLS close_notify.
            RESULTS.append(
                ("emulator exits 0 on SIGTERM", code == 0, f"exit code {code} after {took:.1f} s")
            )
            left = sorted(p for p in workers if _alive(p))
            RESULTS.append(("no process of the emulator is left", not left, f"left: {left}"))
            gone = ca is None or not os.path.exists(ca)
            RESULTS.append(("its certificate directory is removed", gone, f"{ca}"))
        workdir.cleanup()
    width = max(len(n) for n, _, _ in RESULTS)
    for name, ok, detail in RESULTS:
        print(f"{'PASS' if ok else 'FAIL'}  {name:<{width}}  {detail}")
    failed = sum(not ok for _, ok, _ in RESULTS)
    print(f"({time.monotonic() - started:.1f} s)")
    print(f"{len(RESULTS) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
