"""Scenario 6 (the drop-in), the client side: the same bulk work through
``async_qexp.compat.IBMExperimentService`` and through qiskit-ibm-experiment's own
``IBMExperimentService``, each in a fresh process.

The work is scenario 1's: 1 ``POST /experiments``, ``results`` x ``POST /analysis_results``,
``figures`` x (``GET`` a signed upload URL, ``PUT`` 20 KB of SVG), made by the clients' bulk
calls: ``create_analysis_results(data, max_workers=W)`` then
``create_figures(exp_id, figures, max_workers=W)``. The reference runs W threads; the drop-in
runs W coroutines on its one loop (and W in flight: ``max_in_flight=W``). Login, imports and
building the data classes are outside the timed phase.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from ._bulk_client import Timed, figure_name, make_svg, wire_fit
from ._common import TOKEN


def _status_failures(status: Any) -> int:
    if isinstance(status, dict):
        return len(status.get("fail", [])) + len(status.get("running", []))
    return 0


def run_dropin(url: str, n_results: int, n_figures: int, workers: int) -> dict[str, Any]:
    """The drop-in's bulk calls, ``max_workers=workers``."""
    from async_qexp.compat import AnalysisResultData, ExperimentData, IBMExperimentService

    service = IBMExperimentService(token=TOKEN, url=url, max_in_flight=workers)
    return _run(service, ExperimentData, AnalysisResultData, n_results, n_figures, workers)


def run_reference(url: str, n_results: int, n_figures: int, workers: int) -> dict[str, Any]:
    """qiskit-ibm-experiment's bulk calls, ``max_workers=workers`` (threads)."""
    from qiskit_ibm_experiment import (  # type: ignore[import-not-found]
        AnalysisResultData,
        ExperimentData,
        IBMExperimentService,
    )

    logging.getLogger("qiskit_ibm_experiment").setLevel(logging.ERROR)
    service = IBMExperimentService(token=TOKEN, url=url)
    return _run(service, ExperimentData, AnalysisResultData, n_results, n_figures, workers)


def _run(
    service: Any,
    experiment_cls: Any,
    result_cls: Any,
    n_results: int,
    n_figures: int,
    workers: int,
) -> dict[str, Any]:
    exp_id = str(uuid.uuid4())
    experiment = experiment_cls(
        experiment_id=exp_id,
        experiment_type="T1",
        backend="ibmq_lima",
        metadata={"_source": {"class": "bench"}},
        hub="ibm-q",
        group="open",
        project="main",
    )
    results = [
        result_cls(
            experiment_id=exp_id,
            result_type="T1",
            result_data=wire_fit(i),
            device_components=[f"Q{i % 5}"],
            quality="good",
            verified=False,
        )
        for i in range(n_results)
    ]
    figures = [(make_svg(i), figure_name(i)) for i in range(n_figures)]
    with Timed() as t:
        service.create_experiment(experiment)
        failures = _status_failures(service.create_analysis_results(results, max_workers=workers))
        failures += _status_failures(service.create_figures(exp_id, figures, max_workers=workers))
    close = getattr(service, "close", None)
    if close is not None:
        close()
    return t.result(1 + n_results + 2 * n_figures, failures=failures)
