"""Checked by mypy (``nox -s typecheck``), never run: the drop-in's signatures as a caller
written for qiskit-ibm-experiment sees them.

Each ``type: ignore`` marks a line mypy must refuse (``warn_unused_ignores`` makes a needless
one an error).
"""

from __future__ import annotations

from typing import Any

from async_qexp.compat import (
    AnalysisResultData,
    ExperimentData,
    IBMExperimentService,
    SaveHandler,
)


def reference_style_use(service: IBMExperimentService) -> None:
    """The reference's calls, typed."""
    answer: dict[str, Any] = service.create_experiment(
        ExperimentData(experiment_type="T1", backend="ibmq_lima")
    )
    loaded: ExperimentData = service.experiment("id")
    listed: list[ExperimentData] = service.experiments(limit=None, backend_name="ibmq_lima")
    result_id: str = service.create_analysis_result(AnalysisResultData(result_type="T1"))
    results: list[AnalysisResultData] = service.analysis_results(experiment_id="id", limit=None)
    status = service.create_analysis_results([AnalysisResultData()], blocking=False)
    if isinstance(status, SaveHandler):
        done: bool = status.block_for_save(timeout=1.0)
        print(done, status.save_status()["done"])
    named: tuple[str, int] = service.create_figure("id", b"<svg/>", "fig")
    figure: int | bytes = service.figure("id", "fig.svg")
    has: bool = service.experiment_has_file("id", "a.json")
    service.delete_experiment("id")
    print(answer, loaded, listed, result_id, results, named, figure, has)


def refused(service: IBMExperimentService) -> None:
    """What mypy must refuse."""
    service.create_analysis_results([], blocking="yes")  # type: ignore[arg-type]
    service.experiment(42)  # type: ignore[arg-type]
