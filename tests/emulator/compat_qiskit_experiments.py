"""Fidelity check: unmodified qiskit-experiments saving and loading through the drop-in
(``async_qexp.compat.IBMExperimentService``) against the emulator.

Not collected by pytest (no ``test_`` prefix). Run it with the interpreter of a virtualenv
that has qiskit-experiments (0.13 or 0.14) and async_qexp installed::

    python tests/emulator/compat_qiskit_experiments.py [--url URL] [--emulator-python PYTHON]

Without ``--url`` it starts ``python -m async_qexp.emulator --port 0`` (bodies capped at
2 MB, so that one oversized result can fail on purpose), runs the checks, then stops it.
With ``--reference`` it also runs the save and load through qiskit-ibm-experiment itself,
and reports (without failing) what that client loses. Exit code 0 when every check passed.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import signal
import subprocess
import sys
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS: list[tuple[str, bool, str]] = []
MAX_BODY = 2_000_000


def check(name: str, informational: bool = False) -> Callable[[Callable[[], Any]], Any]:
    """Run the decorated function at once and record its outcome (an informational check
    is reported and never fails the run)."""

    def wrap(fn: Callable[[], Any]) -> Any:
        try:
            detail = fn()
            RESULTS.append((name, True, "" if detail is None else str(detail)))
        except Exception as exc:
            if informational:
                RESULTS.append((name, True, f"(informational) {type(exc).__name__}: {exc}"))
            else:
                RESULTS.append((name, False, f"{type(exc).__name__}: {exc}"))
                traceback.print_exc()
        return fn

    return wrap


def lima() -> Any:
    """A backend named ``ibmq_lima`` (only its name is used: the counts are made up), of a
    module-level class so that a container holding it pickles."""
    global Lima
    if "Lima" not in globals():
        from qiskit.providers import BackendV2, Options
        from qiskit.transpiler import Target

        class Lima(BackendV2):  # type: ignore[misc,no-redef]
            def __init__(self) -> None:
                super().__init__(name="ibmq_lima")
                self._lima_target = Target(num_qubits=1)

            @property
            def target(self) -> Target:
                return self._lima_target

            @property
            def max_circuits(self) -> None:
                return None

            @classmethod
            def _default_options(cls) -> Options:
                return Options()

            def run(self, run_input: Any, **options: Any) -> Any:
                raise NotImplementedError

        Lima.__qualname__ = "Lima"
        globals()["Lima"] = Lima
    return globals()["Lima"]()


def t1_data(service: Any) -> Any:
    """A T1 experiment's data with its analysis run (a real curve fit, a figure and the fit's
    artifacts), plus results of the two other qualities, a custom artifact, tags and notes."""
    import numpy as np
    from qiskit_experiments.framework import ArtifactData, ExperimentData
    from qiskit_experiments.library import T1

    delays = np.linspace(0, 300e-6, 16)
    backend = lima()
    exp = T1([0], delays)
    data = ExperimentData(experiment=exp, backend=backend, service=service)
    rng = np.random.default_rng(7)
    shots = 1000
    for delay in delays:
        ones = int(rng.binomial(shots, 0.95 * np.exp(-delay / 80e-6) + 0.02))
        data.add_data(
            {
                "counts": {"1": ones, "0": shots - ones},
                "metadata": {"xval": float(delay), "physical_qubits": [0], "unit": "s"},
                "shots": shots,
                "meas_level": 2,
            }
        )
    exp.analysis.run(data).block_for_results()
    data.add_analysis_result(name="drift", value=0.25, quality="bad", components=["Q0"])
    data.add_analysis_result(
        name="note", value={"x": [1, 2], "z": 1 + 2j}, quality="unknown", components=["Q0", "Q1"]
    )
    data.add_artifacts(ArtifactData(name="calibration", data={"amp": 0.5, "phases": [0.1, 0.2]}))
    data.tags = ["compat", "t1"]
    data.notes = "saved by qiskit-experiments through the drop-in"
    return data


def _results(data: Any) -> dict[str, dict[str, Any]]:
    frame = data.analysis_results(dataframe=True, columns="all")
    out = {}
    for result_id, row in frame.iterrows():
        value = row["value"]
        out[str(result_id)] = {
            "name": row["name"],
            "value": (value.nominal_value, value.std_dev) if hasattr(value, "std_dev") else value,
            "quality": row["quality"],
            "components": [str(c) for c in row["components"]],
            "chisq": None if row.get("chisq") != row.get("chisq") else row.get("chisq"),
        }
    return out


def _figures(data: Any) -> dict[str, bytes]:
    """Every figure as the SVG bytes a save stores (rendered reproducibly: a fixed date and
    fixed element ids, so the same figure gives the same bytes)."""
    import matplotlib
    from qiskit_experiments.database_service.utils import plot_to_svg_bytes

    os.environ["SOURCE_DATE_EPOCH"] = "0"
    matplotlib.rcParams["svg.hashsalt"] = "compat"

    out = {}
    for name in data.figure_names:
        figure = data.figure(name).figure
        out[name] = figure if isinstance(figure, bytes) else plot_to_svg_bytes(figure)
    return out


def round_trip(service: Any, ExperimentData: Any) -> str:
    """Save a T1 experiment's data, load it back, and compare everything."""
    data = t1_data(service)
    _figures(data)  # the reproducible rendering set up before the save renders them
    data.save(suppress_errors=False)
    saved_results, saved_figures = _results(data), _figures(data)
    saved_artifacts = {a.name for a in data.artifacts()}
    qualities = sorted(r["quality"] for r in saved_results.values())
    assert qualities == ["bad", "good", "unknown"], qualities

    loaded = ExperimentData.load(data.experiment_id, service)
    loaded_results = _results(loaded)
    assert loaded_results.keys() == saved_results.keys(), (loaded_results, saved_results)
    for result_id, saved in saved_results.items():
        assert loaded_results[result_id] == saved, (loaded_results[result_id], saved)
    assert _figures(loaded) == saved_figures, sorted(_figures(loaded))
    assert {a.name for a in loaded.artifacts()} == saved_artifacts, loaded.artifacts()
    custom = loaded.artifacts("calibration")
    assert custom.data == {"amp": 0.5, "phases": [0.1, 0.2]}, custom.data
    assert sorted(loaded.tags) == ["compat", "t1"], loaded.tags
    assert loaded.notes == data.notes, loaded.notes
    assert loaded.experiment_type == "T1", loaded.experiment_type
    assert loaded.backend_name == "ibmq_lima", loaded.backend_name
    return (
        f"{len(saved_results)} results ({', '.join(qualities)}), "
        f"{len(saved_figures)} figure(s), artifacts {sorted(saved_artifacts)}"
    )


def run_checks(url: str, reference: bool) -> None:
    """Exercise qiskit-experiments through the drop-in against the emulator at ``url``."""
    import qiskit_experiments
    from qiskit_experiments.database_service.exceptions import ExperimentDataSaveFailed
    from qiskit_experiments.framework import ExperimentData

    from async_qexp.compat import IBMExperimentService

    service = IBMExperimentService(token="compat-token", url=url, prompt_for_delete=False)
    version = qiskit_experiments.__version__

    @check(f"qiskit-experiments {version}: save() then load(), nothing lost")
    def _() -> str:
        return round_trip(service, ExperimentData)

    @check(f"qiskit-experiments {version}: save() twice updates, adds nothing")
    def _() -> str:
        data = t1_data(service)
        data.save(suppress_errors=False)
        data.notes = "second save"
        data.save(suppress_errors=False)
        stored = service.analysis_results(experiment_id=data.experiment_id, limit=None)
        assert len(stored) == 3, len(stored)
        assert service.experiment(data.experiment_id).notes == "second save"
        return "3 results after two saves"

    @check(f"qiskit-experiments {version}: auto_save stores each result and figure as added")
    def _() -> str:
        data = t1_data(service)
        data.auto_save = True  # saves what is there, then every change
        data.add_analysis_result(name="later", value=3.5, quality="good", components=["Q0"])
        svg = b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="1" height="1"/></svg>'
        data.add_figures(svg, figure_names="extra")
        stored = service.analysis_results(experiment_id=data.experiment_id, limit=None)
        names = sorted(r.result_type for r in stored)
        assert names == ["T1", "drift", "later", "note"], names
        assert service.figure(data.experiment_id, "extra.svg") == svg
        return f"results {names}, figure extra.svg"

    @check(f"qiskit-experiments {version}: copy() keeps the service, a pickle drops it")
    def _() -> str:
        import pickle

        data = t1_data(service)
        assert data.copy().service is service
        restored = pickle.loads(pickle.dumps(data))
        assert restored.service is None, restored.service
        assert len(restored.analysis_results(dataframe=True)) == 3
        return "copy shares the service; unpickled without one (no token in the pickle)"

    def with_oversized_result() -> Any:
        data = t1_data(service)
        data.add_analysis_result(name="huge", value="x" * (MAX_BODY + 1000), quality="good")
        return data

    @check(f"qiskit-experiments {version}: save(suppress_errors=False) surfaces a failed result")
    def _() -> str:
        data = with_oversized_result()
        try:
            data.save(suppress_errors=False)
        except ExperimentDataSaveFailed as exc:
            message = str(exc)
        else:
            raise AssertionError("save() did not raise")
        assert "1 of 4 analysis results could not be saved" in message, message
        stored = service.analysis_results(experiment_id=data.experiment_id, limit=None)
        names = sorted(r.result_type for r in stored)
        assert names == ["T1", "drift", "note"], names
        return f"ExperimentDataSaveFailed; the other results stored: {names}"

    @check(f"qiskit-experiments {version}: save(suppress_errors=True) logs it and goes on")
    def _() -> str:
        data = with_oversized_result()
        records: list[logging.LogRecord] = []
        handler = logging.Handler()
        handler.emit = records.append  # type: ignore[method-assign]
        logging.getLogger("qiskit_experiments").addHandler(handler)
        try:
            data.save(suppress_errors=True)
        finally:
            logging.getLogger("qiskit_experiments").removeHandler(handler)
        errors = [r for r in records if r.levelno >= logging.ERROR]
        assert errors, "nothing logged"
        assert service.experiment(data.experiment_id).figure_names, "figures not saved"
        return f"{len(errors)} error(s) logged, figures saved"

    @check(f"qiskit-experiments {version}: a failed figure raises out of save() (documented)")
    def _() -> str:
        from async_qexp.compat import IBMExperimentSaveFailed

        data = t1_data(service)
        huge = b'<svg xmlns="http://www.w3.org/2000/svg">' + b" " * MAX_BODY + b"</svg>"
        data.add_figures(huge, figure_names="huge")
        try:
            data.save(suppress_errors=True)  # qiskit-experiments does not guard create_figures
        except IBMExperimentSaveFailed as exc:
            status = exc.save_status
        else:
            raise AssertionError("save() did not raise")
        assert [f["data"][2] for f in status["fail"]] == ["huge.svg"], status["fail"]
        stored = service.experiment(data.experiment_id).figure_names
        assert len(stored) == 1, stored  # the analysis figure
        return f"IBMExperimentSaveFailed; stored {stored}"

    @check(f"qiskit-experiments {version}: load() of a missing experiment")
    def _() -> str:
        from async_qexp import EntryNotFound

        try:
            ExperimentData.load(str(uuid.uuid4()), service)
        except EntryNotFound as exc:
            return type(exc).__name__
        raise AssertionError("no exception")

    if reference:

        @check("the drop-in has every method of the reference, with its parameters")
        def _() -> str:
            import inspect

            from qiskit_ibm_experiment import IBMExperimentService as Reference

            left_out = {"get_access_token"}  # the access token never leaves the session
            names = [
                n
                for n, v in vars(Reference).items()
                if not n.startswith("_")
                and (callable(v) or isinstance(v, staticmethod | classmethod))
            ]
            for name in ["__init__", *names]:
                if name in left_out:
                    continue
                theirs = inspect.signature(getattr(Reference, name))
                ours = inspect.signature(getattr(IBMExperimentService, name))
                expected = [(p.name, p.kind, p.default) for p in theirs.parameters.values()]
                got = [(p.name, p.kind, p.default) for p in ours.parameters.values()]
                assert got == expected, (name, got, expected)
            for prop in ("local", "preferences"):
                assert isinstance(vars(Reference)[prop], property), prop
                assert isinstance(getattr(IBMExperimentService, prop), property), prop
            return f"{len(names) - len(left_out)} methods, the same parameters and defaults"

        @check("the reference client, same round trip", informational=True)
        def _() -> str:
            from qiskit_ibm_experiment import IBMExperimentService as Reference

            ref = Reference(token="compat-token", url=url)
            return round_trip(ref, ExperimentData)

    service.close()


def emulator_args() -> list[str]:
    """More arguments for the emulator this script starts: ``EMULATOR_ARGS``, with environment
    variables expanded (``nox -s compat`` runs each script a second time with ``--workers 2
    --db $QEXP_TEST_PG``, on a throwaway PostgreSQL server)."""
    return shlex.split(os.path.expandvars(os.environ.get("EMULATOR_ARGS", "")))


def main() -> int:
    """Start the emulator if needed, run the checks, print a summary."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default=None)
    parser.add_argument(
        "--emulator-python", default=os.environ.get("EMULATOR_PYTHON", sys.executable)
    )
    parser.add_argument("--reference", action="store_true")
    args = parser.parse_args()
    proc = None
    url = args.url
    try:
        if url is None:
            proc = subprocess.Popen(
                [
                    *(args.emulator_python, "-m", "async_qexp.emulator", "--port", "0"),
                    *("--max-body-bytes", str(MAX_BODY)),
                    *emulator_args(),
                ],
                stdout=subprocess.PIPE,
                text=True,
                cwd=ROOT,
            )
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.startswith("listening on "), line
            url = line.split()[-1]
        run_checks(url, args.reference)
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(20)
            RESULTS.append(("emulator exits 0 on SIGTERM", code == 0, f"exit code {code}"))
    width = max(len(n) for n, _, _ in RESULTS)
    for name, ok, detail in RESULTS:
        print(f"{'PASS' if ok else 'FAIL'}  {name:<{width}}  {detail}")
    failed = sum(not ok for _, ok, _ in RESULTS)
    print(f"{len(RESULTS) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
