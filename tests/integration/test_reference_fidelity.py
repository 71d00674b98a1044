"""Behaviours pinned to the reference clients (where the seed differed and nobody chose it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from async_qexp import EntryExists, EntryNotFound, ExperimentData, Provider

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(30)]

SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="4" height="4"/></svg>'
OTHER_SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><circle r="2"/></svg>'


async def test_create_figure_refuses_an_existing_name(provider: Provider) -> None:
    service = provider.experiment
    exp = await service.create_experiment(experiment_type="T1", backend_name="ibmq_lima")
    assert await service.create_figure(exp, SVG, "fit") == ("fit.svg", len(SVG))
    with pytest.raises(EntryExists):
        await service.create_figure(exp, OTHER_SVG, "fit")
    assert await service.figure(exp, "fit.svg") == SVG, "the stored figure is untouched"


async def test_update_figure_refuses_a_missing_figure(provider: Provider) -> None:
    service = provider.experiment
    exp = await service.create_experiment(experiment_type="T1", backend_name="ibmq_lima")
    with pytest.raises(EntryNotFound):
        await service.update_figure(exp, SVG, "missing.svg")
    assert (await service.experiment(exp)).figure_names == []
    await service.create_figure(exp, SVG, "fit.svg")
    assert await service.update_figure(exp, OTHER_SVG, "fit.svg") == ("fit.svg", len(OTHER_SVG))
    assert await service.figure(exp, "fit.svg") == OTHER_SVG


async def test_save_lends_the_parents_service_to_children_without_one(provider: Provider) -> None:
    parent = ExperimentData(service=provider, experiment_type="Batch", backend="ibmq_lima")
    child = ExperimentData(experiment_type="T1", backend="ibmq_lima")
    grandchild = ExperimentData(experiment_type="T2", backend="ibmq_lima")
    grandchild.add_analysis_results(name="v", value=2)
    child.add_child_data(grandchild)
    parent.add_child_data(child)
    report = await parent.save(suppress_errors=False)
    assert report.ok
    loaded = await ExperimentData.load(parent.experiment_id, provider)
    (loaded_child,) = loaded.child_data()
    assert loaded_child.experiment_id == child.experiment_id
    (loaded_grandchild,) = loaded_child.child_data()
    assert [r.name for r in await loaded_grandchild.analysis_results()] == ["v"]
    await parent.aclose()


async def test_save_without_children_leaves_them_unsaved(provider: Provider) -> None:
    parent = ExperimentData(service=provider, experiment_type="Batch", backend="ibmq_lima")
    child = ExperimentData(experiment_type="T1", backend="ibmq_lima")
    parent.add_child_data(child)
    await parent.save(suppress_errors=False, save_children=False)
    assert child.service is None
    with pytest.raises(EntryNotFound):
        await provider.experiment.experiment(child.experiment_id)
    await parent.aclose()


async def test_a_figure_file_is_read_when_added(provider: Provider, tmp_path: Path) -> None:
    path = tmp_path / "plot.svg"
    path.write_bytes(SVG)
    exp = ExperimentData(service=provider, experiment_type="T1", backend="ibmq_lima")
    name = exp.add_figures(str(path))  # named by its path, as the reference names it
    path.write_bytes(OTHER_SVG)
    path.unlink()
    await exp.save(suppress_errors=False)
    assert await provider.experiment.figure(exp.experiment_id, name) == SVG
    await exp.aclose()


async def test_a_missing_figure_file_fails_at_add(tmp_path: Path) -> None:
    exp = ExperimentData(experiment_type="T1")
    with pytest.raises(FileNotFoundError):
        exp.add_figures(str(tmp_path / "absent.svg"))
    assert exp.figure_names == []
