"""progress= on long work: counts never go down and end at the total (docs: progress.py)."""

from __future__ import annotations

import pytest

from async_qexp import ExperimentData, Provider

from ..helpers import ScriptedJob

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(30)]

Calls = list[tuple[int, "int | None"]]


def _recorder() -> tuple[Calls, object]:
    calls: Calls = []
    return calls, lambda done, total: calls.append((done, total))


def _monotone_to_the_end(calls: Calls, expected_total: int) -> None:
    assert calls, "progress was reported"
    done = [d for d, _ in calls]
    totals = [t for _, t in calls if t is not None]
    assert done == sorted(done), f"done went down: {calls}"
    assert totals == sorted(totals), f"the total shrank: {calls}"
    assert calls[-1] == (expected_total, expected_total), calls


async def test_paging_reports_items_so_far(provider: Provider) -> None:
    service = provider.experiment
    exp = await service.create_experiment("T1", "ibmq_lima")
    await service.create_analysis_results(
        [{"experiment_id": exp, "result_data": {"i": i}, "result_type": "T1"} for i in range(7)]
    )
    calls, progress = _recorder()
    rows = await service.analysis_results(
        experiment_id=exp, limit=None, page_size=3, progress=progress
    )
    assert len(rows) == 7
    _monotone_to_the_end(calls, 7)
    assert calls[:2] == [(3, None), (6, None)], "pages arrive, the total unknown until the end"


async def test_bulk_creation_reports_each_result(provider: Provider) -> None:
    exp = await provider.experiment.create_experiment("T1", "ibmq_lima")
    calls, progress = _recorder()
    report = await provider.experiment.create_analysis_results(
        [{"experiment_id": exp, "result_data": {}, "result_type": "T1"} for _ in range(20)],
        progress=progress,
    )
    assert len(report.created) == 20
    _monotone_to_the_end(calls, 20)


async def test_load_reports_containers(provider: Provider) -> None:
    parent = ExperimentData(service=provider, experiment_type="Batch", backend="ibmq_lima")
    for i in range(3):
        child = ExperimentData(experiment_type=f"T{i}", backend="ibmq_lima")
        child.add_child_data(ExperimentData(experiment_type="leaf", backend="ibmq_lima"))
        parent.add_child_data(child)
    await parent.save(suppress_errors=False)
    calls, progress = _recorder()
    loaded = await ExperimentData.load(parent.experiment_id, provider, progress=progress)
    assert len(loaded.child_data()) == 3
    _monotone_to_the_end(calls, 7)  # the parent, three children, three grandchildren
    assert calls[0] == (0, 1)
    await loaded.aclose()
    await parent.aclose()


async def test_block_for_results_reports_jobs_and_callbacks() -> None:
    async with ExperimentData(experiment_type="T1") as exp:
        jobs = [ScriptedJob(f"j{i}") for i in range(3)]
        exp.add_jobs(jobs)
        exp.add_analysis_callback(lambda e: None)
        calls, progress = _recorder()
        for job in jobs:
            job.release.set()
        await exp.block_for_results(progress=progress)
        _monotone_to_the_end(calls, 4)


async def test_save_counts_every_request_of_parent_and_children(provider: Provider) -> None:
    parent = ExperimentData(service=provider, experiment_type="Batch", backend="ibmq_lima")
    parent.add_analysis_results(name="a", value=1)
    child = ExperimentData(experiment_type="T1", backend="ibmq_lima")
    child.add_analysis_results(name="b", value=2)
    parent.add_child_data(child)
    calls, progress = _recorder()
    report = await parent.save(suppress_errors=False, progress=progress)
    _monotone_to_the_end(calls, report.total_sent)
    assert report.total_sent == 4  # two records, two results
    calls.clear()
    await parent.save(progress=progress)
    assert calls[-1] == (0, 0), "nothing to send still ends at the total"
    await parent.aclose()
