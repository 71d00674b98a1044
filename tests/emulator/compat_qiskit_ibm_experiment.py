"""Fidelity check: the real sync client ``qiskit-ibm-experiment`` against the emulator.

Not collected by pytest (no ``test_`` prefix). Run it with the interpreter of a separate
virtualenv that has ``qiskit-ibm-experiment`` installed::

    python3 -m venv /work/venv-compat && /work/venv-compat/bin/pip install qiskit-ibm-experiment
    /work/venv-compat/bin/python tests/emulator/compat_qiskit_ibm_experiment.py \
        [--url http://127.0.0.1:8765] [--emulator-python PYTHON]

Without ``--url`` it starts ``python -m async_qexp.emulator --port 0`` (with the interpreter
given by ``--emulator-python``), runs the checks, then stops it with SIGTERM. Exit code 0
when every check passed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import signal
import subprocess
import sys
import traceback
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS: list[tuple[str, bool, str]] = []


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


def run_checks(url: str, client: str = "reference") -> None:
    """Exercise the client against the emulator at ``url``: ``"reference"`` is
    qiskit-ibm-experiment itself, ``"dropin"`` async_qexp's drop-in for it (the same scenarios,
    so the drop-in is held to what the reference does)."""
    if client == "dropin":
        from async_qexp.compat import (
            AnalysisResultData,
            ExperimentData,
            IBMExperimentService,
            ResultQuality,
        )
        from async_qexp.compat.errors import (
            IBMExperimentEntryExists,
            IBMExperimentEntryNotFound,
        )
    else:
        from qiskit_ibm_experiment import (  # type: ignore[import-not-found,no-redef]
            AnalysisResultData,
            ExperimentData,
            IBMExperimentService,
            ResultQuality,
        )
        from qiskit_ibm_experiment.exceptions import (  # type: ignore[import-not-found,no-redef]
            IBMExperimentEntryExists,
            IBMExperimentEntryNotFound,
        )

    svc = IBMExperimentService(token="compat-token", url=url)
    svc.set_option(prompt_for_delete=False)
    svc_api = IBMExperimentService(token="compat-token", url=url + "/api")
    exp_id = str(uuid.uuid4())
    child_id = str(uuid.uuid4())
    start = datetime.now(timezone.utc) - timedelta(hours=1)
    extra = {"qubits": [0], "z": {"__type__": "complex", "__value__": [1.0, 2.0]}}

    @check("login at the root and at /api, discovery of resultsDB")
    def _() -> str:
        api = getattr(svc, "_api_client", None)  # the reference's; the drop-in has none
        return getattr(api, "base_url", None) or svc.get_db_url()

    @check("backends() and device_components()")
    def _() -> str:
        names = [b["name"] for b in svc.backends()]
        assert "ibmq_lima" in names, names
        comps = svc.device_components("ibmq_lima")
        assert "Q0" in [str(c) for c in comps], comps
        return f"{len(names)} backends, lima components {[str(c) for c in comps]}"

    @check("create_experiment (+ parent/child, metadata envelopes, hgp)")
    def _() -> str:
        data = ExperimentData(
            experiment_id=exp_id,
            experiment_type="T1",
            backend="ibmq_lima",
            tags=["compat", "calib"],
            job_ids=["job-1"],
            share_level="project",
            metadata=extra,
            notes="first",
            hub="ibm-q",
            group="open",
            project="main",
            start_datetime=start,
        )
        res = svc.create_experiment(data)
        child = ExperimentData(
            experiment_id=child_id,
            experiment_type="T1",
            backend="ibmq_lima",
            parent_id=exp_id,
            hub="ibm-q",
            group="open",
            project="main",
        )
        svc.create_experiment(child)
        return f"returned {type(res).__name__}"

    @check("duplicate create raises IBMExperimentEntryExists")
    def _() -> None:
        try:
            svc.create_experiment(
                ExperimentData(experiment_id=exp_id, experiment_type="T1", backend="ibmq_lima")
            )
        except IBMExperimentEntryExists:
            return
        raise AssertionError("no exception")

    @check("experiment() round trip")
    def _() -> str:
        got = svc.experiment(exp_id)
        assert got.experiment_type == "T1", got
        assert got.backend == "ibmq_lima", got
        assert got.metadata == extra, got.metadata
        assert sorted(got.tags) == ["calib", "compat"]
        assert got.job_ids == ["job-1"]
        assert str(got.share_level).lower().endswith("project"), got.share_level
        assert got.creation_datetime is not None
        assert abs((got.start_datetime - start).total_seconds()) < 1e-3
        return f"owner={got.owner!r} created={got.creation_datetime}"

    @check("experiment() of an unknown id raises IBMExperimentEntryNotFound")
    def _() -> None:
        try:
            svc.experiment(str(uuid.uuid4()))
        except IBMExperimentEntryNotFound:
            return
        raise AssertionError("no exception")

    @check("update_experiment (partial)")
    def _() -> None:
        got = svc.experiment(exp_id)
        got.notes = "updated"
        got.tags = ["compat", "calib", "more"]
        svc.update_experiment(got)
        again = svc_api.experiment(exp_id)
        assert again.notes == "updated", again
        assert "more" in again.tags, again
        assert again.metadata == extra

    @check("experiments() with filters, sorting and paging")
    def _() -> str:
        for i in range(12):
            svc.create_experiment(
                ExperimentData(
                    experiment_type=f"Bulk{i % 2}",
                    backend="ibmq_manila",
                    tags=["bulk"],
                    start_datetime=start + timedelta(minutes=i),
                    hub="ibm-q",
                    group="open",
                    project="main",
                )
            )
        page = svc.experiments(limit=5, tags=["bulk"])
        assert len(page) == 5, len(page)
        everything = svc.experiments(limit=None, backend_name="ibmq_manila")
        assert len(everything) == 12, len(everything)
        starts = [e.start_datetime for e in everything]
        assert starts == sorted(starts, reverse=True)
        like = svc.experiments(experiment_type="Bulk", experiment_type_operator="like", limit=None)
        assert len(like) == 12
        by_type = svc.experiments(
            limit=None, backend_name="ibmq_manila", sort_by=["experiment_type:asc"]
        )
        assert [e.experiment_type for e in by_type] == ["Bulk0"] * 6 + ["Bulk1"] * 6
        window = svc.experiments(
            start_datetime_after=start + timedelta(minutes=3),
            start_datetime_before=start + timedelta(minutes=5),
            limit=None,
        )
        assert len(window) == 3, len(window)
        mine = svc.experiments(mine_only=True, limit=None)
        assert len(mine) == 14, len(mine)
        children = svc.experiments(parent_id=exp_id, limit=None)
        assert [c.experiment_id for c in children] == [child_id]
        tagged = svc.experiments(tags=["compat", "more"], tags_operator="AND", limit=None)
        assert [e.experiment_id for e in tagged] == [exp_id]
        hgp = svc.experiments(hub="ibm-q", group="open", project="main", limit=None)
        assert len(hgp) == 14
        return "limit, limit=None paging, like, sort_by, start window, mine, parent, tags, hgp"

    res_id = str(uuid.uuid4())

    @check("create_analysis_result / analysis_result / update")
    def _() -> None:
        data = AnalysisResultData(
            result_id=res_id,
            experiment_id=exp_id,
            result_type="T1",
            result_data={"value": 41.4, "stderr": 4.0},
            device_components=["Q0"],
            quality=ResultQuality.GOOD,
            verified=False,
            tags=["fit"],
            chisq=1.32,
        )
        svc.create_analysis_result(data)
        got = svc.analysis_result(res_id)
        assert got.result_data == {"value": 41.4, "stderr": 4.0}, got.result_data
        assert got.backend_name == "ibmq_lima"
        assert got.quality == ResultQuality.GOOD, got.quality
        assert [str(c) for c in got.device_components] == ["Q0"]
        got.verified = True
        svc.update_analysis_result(got)
        assert svc.analysis_result(res_id).verified is True

    @check("analysis_results() filters")
    def _() -> str:
        for q in (ResultQuality.BAD, ResultQuality.UNKNOWN):
            svc.create_analysis_result(
                AnalysisResultData(
                    experiment_id=exp_id,
                    result_type="@Parameters_T1",
                    device_components=["Q0", "Q1"],
                    quality=q,
                )
            )
        allr = svc.analysis_results(experiment_id=exp_id, limit=None)
        assert len(allr) == 3
        good = svc.analysis_results(experiment_id=exp_id, quality=[ResultQuality.GOOD], limit=None)
        assert [r.result_id for r in good] == [res_id]
        q01 = svc.analysis_results(device_components=["Q1", "Q0"], limit=None)
        assert len(q01) == 2, len(q01)
        cont = svc.analysis_results(
            device_components=["Q0"], device_components_operator="contains", limit=None
        )
        assert len(cont) == 3
        verified = svc.analysis_results(verified=True, limit=None)
        assert [r.result_id for r in verified] == [res_id]
        like = svc.analysis_results(result_type="Param", result_type_operator="like", limit=None)
        assert len(like) == 2
        created = svc.analysis_result(res_id).creation_datetime
        exact = svc.analysis_results(
            creation_datetime_after=created, creation_datetime_before=created, limit=None
        )
        assert [r.result_id for r in exact] == [res_id], exact
        exps = svc.experiments(device_components=["Q0"], limit=None)
        assert [e.experiment_id for e in exps] == [exp_id]
        return "experiment, quality, components (exact/contains), verified, like, created_at"

    @check("bulk_update_analysis_result")
    def _() -> None:
        if not hasattr(svc, "bulk_update_analysis_result"):
            return
        got = svc.analysis_result(res_id)
        got.tags = ["bulk-updated"]
        svc.bulk_update_analysis_result([got])
        assert svc.analysis_result(res_id).tags == ["bulk-updated"]

    @check("create_figure / figure / plot_names / update / delete")
    def _() -> str:
        svg = b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="1" height="1"/></svg>'
        out = svc.create_figure(exp_id, svg, "T1_Q0.svg")
        assert out == ("T1_Q0.svg", len(svg)), out
        out2 = svc.create_figure(exp_id, svg, "dir/with slash and ü")
        assert out2 is not None
        assert out2[0] == "dir/with slash and ü.svg", out2
        assert svc.figure(exp_id, "T1_Q0.svg") == svg
        assert svc.figure(exp_id, "dir/with slash and ü.svg") == svg
        names = svc.experiment(exp_id).figure_names
        assert "T1_Q0.svg" in names, names
        assert "dir/with slash and ü.svg" in names, names
        assert svc.update_figure(exp_id, b"<svg/>", "T1_Q0.svg") is not None
        assert svc.figure(exp_id, "T1_Q0.svg") == b"<svg/>"
        svc.delete_figure(exp_id, "T1_Q0.svg")
        assert "T1_Q0.svg" not in svc.experiment(exp_id).figure_names
        return f"figure_names={svc.experiment(exp_id).figure_names}"

    @check("file_upload / files / file_download / file_delete")
    def _() -> str:
        svc.file_upload(exp_id, "data_file.json", {"a": [1, 2, 3]})
        svc.file_upload(exp_id, "data_file.json", {"a": [4]})
        files = svc.files(exp_id)
        keys = [f["Key"] for f in files["files"]]
        assert keys == ["data_file.json"], files
        assert svc.file_download(exp_id, "data_file.json") == {"a": [4]}
        assert svc.experiment_has_file(exp_id, "data_file.json")
        if importlib.util.find_spec("yaml") is None:  # optional for the drop-in, not the reference
            return json.dumps(files) + " (no PyYAML: .yaml files not tried)"
        svc.file_upload(exp_id, "conf.yaml", {"b": 2})
        assert svc.file_download(exp_id, "conf.yaml") == {"b": 2}
        if hasattr(svc, "file_delete"):
            svc.file_delete(exp_id, "conf.yaml")
            assert not svc.experiment_has_file(exp_id, "conf.yaml")
        return json.dumps(files)

    @check("delete_analysis_result / delete_experiment (cascade)")
    def _() -> None:
        other = svc.analysis_results(experiment_id=exp_id, limit=None)
        svc.delete_analysis_result(other[-1].result_id)
        assert len(svc.analysis_results(experiment_id=exp_id, limit=None)) == 2
        svc.delete_experiment(exp_id)
        try:
            svc.experiment(exp_id)
        except IBMExperimentEntryNotFound:
            pass
        else:
            raise AssertionError("experiment still there")
        try:
            svc.analysis_result(res_id)
        except IBMExperimentEntryNotFound:
            return
        raise AssertionError("analysis result survived the cascade")

    for service in (svc, svc_api):
        close = getattr(service, "close", None)  # the drop-in's; the reference has none
        if close is not None:
            close()


def emulator_args() -> list[str]:
    """More arguments for the emulator this script starts: ``EMULATOR_ARGS``, with environment
    variables expanded (``nox -s compat`` runs each script a second time with ``--workers 2
    --db $QEXP_TEST_PG``, on a throwaway PostgreSQL server)."""
    return shlex.split(os.path.expandvars(os.environ.get("EMULATOR_ARGS", "")))


def main() -> int:
    """Start the emulator if needed, run the checks, print a summary."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default=None)
    parser.add_argument("--client", choices=("reference", "dropin"), default="reference")
    parser.add_argument(
        "--emulator-python", default=os.environ.get("EMULATOR_PYTHON", sys.executable)
    )
    args = parser.parse_args()
    proc = None
    url = args.url
    try:
        if url is None:
            proc = subprocess.Popen(
                [
                    args.emulator_python,
                    "-m",
                    "async_qexp.emulator",
                    "--port",
                    "0",
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
        run_checks(url, args.client)
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
