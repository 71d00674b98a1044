"""ExperimentData through pickle and JSON, db_data, where the service comes from, device
components: the reference container's behaviours."""

from __future__ import annotations

import json
import logging
import pickle
from typing import Any

import pytest

from async_qexp import (
    AnalysisStatus,
    ArtifactData,
    Experiment,
    ExperimentData,
    ExperimentDataError,
    FigureData,
    Provider,
    Qubit,
    Resonator,
    UnknownComponent,
    to_component,
)
from async_qexp.emulator import Emulator

from ..helpers import ScriptedJob

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(30)]

SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="4" height="4"/></svg>'


async def _filled(service: Any = None) -> ExperimentData:
    """A container with something of everything, its job and callback finished."""
    exp = ExperimentData(
        service=service,
        experiment_type="T1",
        backend="ibmq_lima",
        tags=["a"],
        metadata={"physical_qubits": [0], "cplx": 1 + 2j},
        notes="n",
        custom_option=3,
    )
    job = ScriptedJob("job-1", [{"counts": {"0": 10, "1": 2}}])
    exp.add_jobs(job)
    exp.add_analysis_callback(lambda e: e.add_analysis_results(name="T1", value=2.5e-5))
    job.release.set()
    await exp.block_for_results()
    exp.add_analysis_results(name="fit", value=[1.0, 2.0], components=["Q0"], chisq=1.2)
    exp.add_figures(SVG, "plot")
    exp.add_figures(FigureData(SVG.decode(), "text.svg", {"kind": "text"}))
    exp.add_artifacts(ArtifactData("fit_summary", {"a": 1j}))
    child = ExperimentData(experiment_type="T1-child", backend="ibmq_lima")
    child.add_data({"child": True})
    exp.add_child_data(child)
    return exp


async def _same(copy: ExperimentData, original: ExperimentData) -> None:
    assert copy.experiment_id == original.experiment_id
    assert copy.experiment_type == "T1"
    assert copy.backend_name == "ibmq_lima"
    assert copy.tags == ["a"]
    assert copy.notes == "n"
    assert copy.metadata == original.metadata
    assert copy.metadata["cplx"] == 1 + 2j
    assert copy.custom_option == 3
    assert copy.data() == original.data()
    assert copy.job_ids == ["job-1"]
    assert list(copy.completion_times) == ["job-1"]
    assert copy.analysis_status() is AnalysisStatus.DONE
    assert await copy.analysis_results() == await original.analysis_results()
    assert copy.figure_names == ["plot.svg", "text.svg"]
    assert bytes((await copy.figure("plot.svg")).figure) == SVG
    assert (await copy.figure("text.svg")).metadata == {"kind": "text"}
    assert copy.artifacts("fit_summary") == original.artifacts("fit_summary")
    (child,) = copy.child_data()
    assert child.data() == [{"child": True}]
    assert child.parent_id == copy.experiment_id
    assert copy.service is None


async def test_pickle_round_trips_a_container() -> None:
    async with await _filled() as exp:
        copy = pickle.loads(pickle.dumps(exp))
        await _same(copy, exp)
        copy.add_data({"more": 1})  # a working container: mutators, tasks, status
        assert len(copy.data()) == 2
        await copy.aclose()


async def test_json_round_trips_a_container() -> None:
    async with await _filled() as exp:
        text = exp.to_json()
        json.loads(text)  # plain JSON
        copy = ExperimentData.from_json(text)
        await _same(copy, exp)
        assert ExperimentData.__json_decode__(exp.__json_encode__()).data() == exp.data()
        await copy.aclose()


async def test_a_restored_container_saves_only_what_changed(
    provider: Provider, emulator: Emulator
) -> None:
    async with await _filled(provider) as exp:
        first = await exp.save(suppress_errors=False)
        assert first.ok
        pickled = pickle.loads(pickle.dumps(exp))
        pickled.service = provider  # pickle leaves the service out
        for copy in (ExperimentData.from_json(exp.to_json(), provider), pickled):
            assert copy.service is provider.experiment
            assert copy.child_data(0).service is provider.experiment
            assert (await copy.save(suppress_errors=False)).total_sent == 0
            copy.add_analysis_results(name="extra", value=1)
            assert (await copy.save(suppress_errors=False)).total_sent == 1
            await copy.aclose()
        loaded = await ExperimentData.load(exp.experiment_id, provider)
        names = sorted(r.name for r in await loaded.analysis_results())
        assert names == ["T1", "extra", "extra", "fit"], "one new result per copy, none twice"
        await loaded.aclose()


async def test_json_refuses_while_jobs_run_and_pickle_leaves_them_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with ExperimentData(experiment_type="T1") as exp:
        job = ScriptedJob("slow")
        exp.add_jobs(job)
        exp.add_analysis_callback(lambda e: None)
        with pytest.raises(ExperimentDataError, match="still running"):
            exp.to_json()
        with caplog.at_level(logging.WARNING, logger="async_qexp"):
            copy = pickle.loads(pickle.dumps(exp))
        assert "left out" in caplog.text
        assert copy.job_ids == ["slow"]
        assert copy.jobs() == [None]
        assert copy.analysis_status() is AnalysisStatus.CANCELLED
        await copy.aclose()
        job.release.set()


async def test_json_refuses_raw_data_it_cannot_write() -> None:
    async with ExperimentData(experiment_type="T1") as exp:
        exp.add_data({"thing": object()})
        with pytest.raises(TypeError, match="raw data"):
            exp.to_json()


async def test_from_json_refuses_what_is_not_a_container() -> None:
    with pytest.raises(TypeError):
        ExperimentData.from_json(b"[1, 2]")
    with pytest.raises(ValueError, match="format"):
        ExperimentData.from_json('{"format": "other"}')
    with pytest.raises(ValueError, match="version"):
        ExperimentData.from_json('{"format": "async_qexp.ExperimentData", "version": 99}')
    with pytest.raises(TypeError, match="malformed"):
        ExperimentData.from_json('{"format": "async_qexp.ExperimentData", "version": 1}')
    with pytest.raises(TypeError):
        ExperimentData.from_json(42)  # type: ignore[arg-type]


async def test_db_data_is_the_record_and_overrides_the_fields() -> None:
    record = Experiment(
        experiment_id="3c5d2f4e-0000-4000-8000-000000000001",
        experiment_type="Rabi",
        backend_name="ibmq_lima",
        tags=["x"],
        notes="from the record",
    )
    exp = ExperimentData(db_data=record, experiment_type="ignored", notes="ignored")
    assert exp.db_data.experiment_type == "Rabi"
    assert exp.experiment_id == record.experiment_id
    assert exp.notes == "from the record"
    assert exp.db_data is not record, "the container keeps its own copy"
    exp.db_data.notes = "changed"
    assert exp.notes == "changed"
    with pytest.raises(TypeError, match="db_data"):
        ExperimentData(db_data={"experiment_type": "Rabi"})  # type: ignore[arg-type]


class _Backend:
    def __init__(self, provider: Any) -> None:
        self.name = "ibmq_lima"
        self._provider = provider

    def provider(self) -> Any:
        return self._provider


async def test_service_from_provider_and_backend(
    provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    assert ExperimentData.get_service_from_provider(provider) is provider.experiment
    assert ExperimentData.get_service_from_backend(_Backend(provider)) is provider.experiment
    exp = ExperimentData(backend=_Backend(provider), experiment_type="T1")
    assert exp.service is provider.experiment
    assert exp.provider is provider
    with caplog.at_level(logging.WARNING, logger="async_qexp"):
        assert ExperimentData.get_service_from_provider(object()) is None
    assert "no async_qexp experiment service" in caplog.text
    assert ExperimentData.get_service_from_backend("ibmq_lima") is None
    await exp.aclose()


async def test_device_components_are_parsed_strings() -> None:
    assert to_component("Q0") == Qubit(0) == "Q0"
    assert to_component("R12").index == 12
    assert isinstance(to_component("R12"), Resonator)
    assert isinstance(to_component("Q01"), UnknownComponent), "only canonical forms parse"
    assert isinstance(to_component("cr0_1"), UnknownComponent)
    assert repr(Qubit(3)) == "<Qubit(Q3)>"
    assert pickle.loads(pickle.dumps(Qubit(3))) == Qubit(3)
    assert json.dumps([Qubit(1), Resonator(2)]) == '["Q1", "R2"]'
    with pytest.raises(TypeError):
        Qubit("0")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not negative"):
        Qubit(-1)
    with pytest.raises(TypeError):
        to_component(0)  # type: ignore[arg-type]


async def test_results_hold_parsed_components(provider: Provider) -> None:
    service = provider.experiment
    exp = await service.create_experiment(experiment_type="T1", backend_name="ibmq_lima")
    await service.create_analysis_result(exp, {"v": 1}, "T1", device_components=[Qubit(0), "R1"])
    (stored,) = await service.analysis_results(experiment_id=exp)
    assert stored.device_components == ["Q0", "R1"]
    assert [type(c) for c in stored.device_components] == [Qubit, Resonator]
