"""The drop-in against the emulator: the scenarios qiskit-ibm-experiment itself is checked
with (``tests/emulator/compat_qiskit_ibm_experiment.py``) pass on it, and its bulk calls,
local mode, threads and closing work end to end."""

from __future__ import annotations

import concurrent.futures
import enum
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from async_qexp import ClosedError
from async_qexp.compat import (
    AnalysisResultData,
    ExperimentData,
    IBMExperimentEntryNotFound,
    IBMExperimentService,
    ResultQuality,
    SaveHandler,
)
from async_qexp.emulator import serve_in_thread
from tests.emulator import compat_qiskit_ibm_experiment as reference_scenarios

pytestmark = pytest.mark.timeout(60)

SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="2" height="2"/></svg>'


class Quality(enum.Enum):
    """A caller's own quality enum (qiskit-experiments 0.14 has one like it)."""

    BAD = "bad"
    GOOD = "good"
    UNKNOWN = "unknown"


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[IBMExperimentService]:
    monkeypatch.setenv("QEXP_CONFIG_DIR", str(tmp_path / "config"))
    with IBMExperimentService(local=True, local_save=False, prompt_for_delete=False) as service:
        yield service


def test_the_reference_clients_scenarios_pass_on_the_drop_in() -> None:
    reference_scenarios.RESULTS.clear()
    with serve_in_thread() as emulator:
        reference_scenarios.run_checks(emulator.url, "dropin")
    failed = [(name, detail) for name, ok, detail in reference_scenarios.RESULTS if not ok]
    assert failed == []
    assert len(reference_scenarios.RESULTS) >= 13


def test_bulk_results_and_figures_round_trip_in_local_mode(local: IBMExperimentService) -> None:
    assert local.local is True
    exp_id = str(uuid.uuid4())
    local.create_experiment(
        ExperimentData(experiment_id=exp_id, experiment_type="T1", backend="ibmq_lima")
    )
    qualities = [Quality.GOOD, Quality.BAD, "unknown"]
    data = [
        AnalysisResultData(
            experiment_id=exp_id,
            result_type=f"r{i}",
            result_data={"_value": i, "_extra": {"i": [i]}},
            device_components=["Q0"],
            quality=qualities[i % 3],
            chisq=0.5 + i,
        )
        for i in range(150)
    ]
    status = local.create_analysis_results(data, max_workers=16)
    assert isinstance(status, dict)
    assert len(status["done"]) == 150
    assert status["fail"] == []
    stored = {r.result_id: r for r in local.analysis_results(experiment_id=exp_id, limit=None)}
    assert len(stored) == 150
    for sent in data:
        got = stored[sent.result_id]  # type: ignore[index]
        assert got.result_data == sent.result_data
        assert got.chisq == sent.chisq
        assert got.quality.name == (  # type: ignore[union-attr]
            sent.quality.name if isinstance(sent.quality, enum.Enum) else "UNKNOWN"
        )
        assert isinstance(got.quality, ResultQuality)

    figures = [(SVG + str(i).encode(), f"fig{i}") for i in range(8)]
    handler = local.create_figures(exp_id, figures, blocking=False, max_workers=3)
    assert isinstance(handler, SaveHandler)
    assert handler.block_for_save(timeout=30)
    assert len(handler.save_status()["done"]) == 8
    assert sorted(local.experiment(exp_id).figure_names) == sorted(f"fig{i}.svg" for i in range(8))
    assert local.figure(exp_id, "fig3.svg") == SVG + b"3"

    again = local.create_analysis_results(data[:5])  # create meets 409, then updates
    assert isinstance(again, dict)
    assert len(again["done"]) == 5
    assert len(local.analysis_results(experiment_id=exp_id, limit=None)) == 150


def test_calls_from_many_threads_share_the_one_loop(local: IBMExperimentService) -> None:
    exp_ids = [str(uuid.uuid4()) for _ in range(12)]

    def make(exp_id: str) -> str:
        local.create_experiment(
            ExperimentData(experiment_id=exp_id, experiment_type="T", backend="b")
        )
        return local.experiment(exp_id).experiment_id

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        assert sorted(pool.map(make, exp_ids)) == sorted(exp_ids)
    assert len(local.experiments(limit=None, experiment_type="T")) == 12


def test_preferences_files_and_delete(local: IBMExperimentService) -> None:
    assert local.preferences == {"auto_save": False}
    local.save_preferences(auto_save=True)
    assert local.preferences["auto_save"] is True
    exp_id = str(uuid.uuid4())
    local.create_experiment(ExperimentData(experiment_id=exp_id, experiment_type="T1", backend="b"))
    local.file_upload(exp_id, "meta", {"a": 1})
    assert local.experiment_has_file(exp_id, "meta.json")
    assert local.file_download(exp_id, "meta.json") == {"a": 1}
    assert [f["Key"] for f in local.files(exp_id)["files"]] == ["meta.json"]
    local.delete_experiment(exp_id)
    with pytest.raises(IBMExperimentEntryNotFound):
        local.experiment(exp_id)


def test_a_closed_service_refuses_calls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QEXP_CONFIG_DIR", str(tmp_path))
    service = IBMExperimentService(local=True, local_save=False)
    service.close()
    with pytest.raises(ClosedError):
        service.backends()
    with pytest.raises(ClosedError):
        service.create_analysis_results([AnalysisResultData(experiment_id="e", result_type="T")])
