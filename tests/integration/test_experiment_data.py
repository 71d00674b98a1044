"""ExperimentData rule by rule (BEHAVIOUR §1-§12), against the in-process emulator.

Jobs are small scripted objects (an async ``result()`` released by the test), so ordering and
failure cases are exact; the runtime-backed path is covered by the T1 example test.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
import pytest_asyncio

from async_qexp import (
    AnalysisResultData,
    AnalysisStatus,
    ArtifactData,
    EntryNotFound,
    ExperimentData,
    ExperimentDataSaveFailed,
    ExperimentStatus,
    FigureData,
    JobStatus,
    Provider,
    QexpError,
)
from async_qexp.emulator import Emulator

from ..helpers import ScriptedJob, client_tasks, wait_until
from .conftest import FAST_RETRY

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(30)]

SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="4" height="4"/></svg>'


@pytest_asyncio.fixture
async def provider(emulator: Emulator) -> AsyncIterator[Provider]:
    async with Provider("alice", emulator.url, retry=FAST_RETRY) as connected:
        yield connected


# -- jobs and data (§2) -------------------------------------------------------------------


async def test_m_2_2_4_data_is_appended_in_job_submission_order() -> None:
    async with ExperimentData(experiment_type="T1") as exp:
        first, second = ScriptedJob("a", [{"n": 1}]), ScriptedJob("b", [{"n": 2}, {"n": 3}])
        exp.add_jobs([first, second])
        second.release.set()
        await asyncio.sleep(0.02)
        assert exp.data() == [], "job b's data waits for job a"
        first.release.set()
        await exp.block_for_results()
        assert [d["n"] for d in exp.data()] == [1, 2, 3]
        assert exp.data("b") == [{"n": 2, "job_id": "b"}, {"n": 3, "job_id": "b"}]
        assert exp.job_ids == ["a", "b"]
        assert set(exp.completion_times) == {"a", "b"}
        assert await exp.job_status() is JobStatus.DONE


async def test_m_2_1_4_add_jobs_timeout_cancels_the_jobs() -> None:
    async with ExperimentData() as exp:
        slow = ScriptedJob("slow")
        exp.add_jobs(slow, timeout=0.05)
        await exp.block_for_results()
        assert slow.cancelled
        assert await exp.job_status() is JobStatus.CANCELLED
        assert await exp.status() is ExperimentStatus.CANCELLED


async def test_m_2_2_2_failed_and_cancelled_jobs_are_reported() -> None:
    async with ExperimentData() as exp:
        ok = ScriptedJob("ok")
        broken = ScriptedJob("5678", fail=True)
        exp.add_jobs([ok, broken])
        cid = exp.add_analysis_callback(lambda e: None)
        ok.release.set()
        broken.release.set()
        await exp.block_for_results()
        assert await exp.job_status() is JobStatus.ERROR
        assert await exp.status() is ExperimentStatus.ERROR
        assert "[Job ID: 5678]: the job 5678 broke" in exp.job_errors()
        assert exp._analysis.records[cid].status is AnalysisStatus.CANCELLED


async def test_duplicate_job_ids_are_skipped() -> None:
    async with ExperimentData() as exp:
        job = ScriptedJob("dup")
        exp.add_jobs(job)
        exp.add_jobs(ScriptedJob("dup"))
        assert exp.jobs() == [job]


async def test_add_data_rejects_other_types() -> None:
    exp = ExperimentData()
    with pytest.raises(TypeError):
        exp.add_data("not data")  # type: ignore[arg-type]
    exp.add_data([{"a": 1}, {"a": 2}])
    assert exp.data(1) == {"a": 2}
    assert exp.data(slice(0, 1)) == [{"a": 1}]


# -- analysis callbacks (§3) ---------------------------------------------------------------


async def test_m_3_1_2_callbacks_run_after_all_jobs_and_in_order() -> None:
    async with ExperimentData() as exp:
        jobs = [ScriptedJob(f"j{i}") for i in range(3)]
        exp.add_jobs(jobs)
        seen: list[tuple[str, int]] = []

        def first(e: ExperimentData) -> None:
            seen.append(("first", len(e.data())))

        async def second(e: ExperimentData) -> None:
            seen.append(("second", len(e.data())))

        exp.add_analysis_callback(first)
        exp.add_analysis_callback(second)
        for job in reversed(jobs):
            await asyncio.sleep(0.01)
            assert seen == []
            job.release.set()
        await exp.block_for_results()
        assert seen == [("first", 3), ("second", 3)]
        assert exp.analysis_status() is AnalysisStatus.DONE


async def test_m_3_1_2_jobs_added_after_a_callback_are_not_waited_for() -> None:
    async with ExperimentData() as exp:
        ran = asyncio.Event()
        exp.add_analysis_callback(lambda e: ran.set())
        exp.add_jobs(ScriptedJob("later"))
        with anyio.fail_after(5):
            await ran.wait()


async def test_m_3_1_3_a_failed_job_cancels_the_callbacks_after_it() -> None:
    async with ExperimentData() as exp:
        before = exp.add_analysis_callback(lambda e: None)
        job = ScriptedJob("bad", fail=True)
        exp.add_jobs(job)
        after = [exp.add_analysis_callback(lambda e: None) for _ in range(2)]
        job.release.set()
        await exp.block_for_results()
        assert exp._analysis.records[before].status is AnalysisStatus.DONE
        assert [exp._analysis.records[c].status for c in after] == [AnalysisStatus.CANCELLED] * 2


async def test_m_3_1_5_callback_errors_cascade_and_never_propagate() -> None:
    async with ExperimentData() as exp:
        inner_ids: list[str] = []

        def boom(e: ExperimentData) -> None:
            inner_ids.append(e.add_analysis_callback(lambda e: None))  # from inside, in a thread
            raise ValueError("Kaboom!")

        cid = exp.add_analysis_callback(boom)
        await exp.block_for_results()
        assert exp._analysis.records[cid].status is AnalysisStatus.ERROR
        assert exp._analysis.records[inner_ids[0]].status is AnalysisStatus.CANCELLED
        assert exp.analysis_status() is AnalysisStatus.ERROR, "ERROR outranks CANCELLED"
        assert "Kaboom!" in exp.analysis_errors()
        assert f"[Analysis Callback ID: {cid}]" in exp.errors()


async def test_m_3_4_cancel_analysis_cancels_queued_not_running() -> None:
    async with ExperimentData() as exp:
        started, release = asyncio.Event(), asyncio.Event()

        async def running(e: ExperimentData) -> None:
            started.set()
            await release.wait()

        first = exp.add_analysis_callback(running)
        second = exp.add_analysis_callback(lambda e: None)
        third = exp.add_analysis_callback(lambda e: None)
        await started.wait()
        assert exp.cancel_analysis(second) is True
        assert exp._analysis.records[second].status is AnalysisStatus.CANCELLED, (
            "at once (M-3.4.4 fixed)"
        )
        assert exp.cancel_analysis() is False, "the running one cannot be cancelled"
        release.set()
        await exp.block_for_results()
        assert exp._analysis.records[first].status is AnalysisStatus.DONE
        assert exp._analysis.records[third].status is AnalysisStatus.CANCELLED
        assert await exp.status() is ExperimentStatus.CANCELLED


async def test_m_4_2_status_precedence() -> None:
    async with ExperimentData() as exp:
        assert await exp.status() is ExperimentStatus.EMPTY
        job = ScriptedJob("j")
        exp.add_jobs(job)
        release = asyncio.Event()

        async def slow(e: ExperimentData) -> None:
            await release.wait()

        exp.add_analysis_callback(slow)
        assert await exp.status() is ExperimentStatus.RUNNING
        job.release.set()
        await wait_until(lambda: exp.analysis_status() is AnalysisStatus.RUNNING)
        assert await exp.status() is ExperimentStatus.POST_PROCESSING
        release.set()
        await exp.block_for_results()
        assert await exp.status() is ExperimentStatus.DONE


async def test_m_4_4_3_block_for_results_timeout_cancels_nothing() -> None:
    async with ExperimentData() as exp:
        job = ScriptedJob("slow")
        exp.add_jobs(job)
        cid = exp.add_analysis_callback(lambda e: None)
        assert await exp.block_for_results(timeout=0.05) is exp
        assert not job.cancelled
        assert exp._analysis.records[cid].status is AnalysisStatus.QUEUED
        job.release.set()
        await exp
        assert exp._analysis.records[cid].status is AnalysisStatus.DONE


async def test_cancelling_the_caller_leaves_the_container_tasks_running() -> None:
    async with ExperimentData() as exp:
        job = ScriptedJob("j")
        exp.add_jobs(job)
        cid = exp.add_analysis_callback(lambda e: None)
        waiter = asyncio.ensure_future(exp.block_for_results())
        await asyncio.sleep(0.01)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert not exp._jobs._tasks["j"].done()
        job.release.set()
        await exp.block_for_results()
        assert exp._analysis.records[cid].status is AnalysisStatus.DONE


async def test_closing_the_container_cancels_its_tasks() -> None:
    exp = ExperimentData()
    started = asyncio.Event()

    async def forever(e: ExperimentData) -> None:
        started.set()
        await asyncio.Event().wait()

    cid_running = exp.add_analysis_callback(forever)  # nothing before it: it runs at once
    job = ScriptedJob("j")
    exp.add_jobs(job)
    cid_queued = exp.add_analysis_callback(lambda e: None)  # waits for the job
    await started.wait()
    tasks = [*exp._jobs.tasks(), *exp._analysis.tasks()]
    await exp.aclose()
    assert all(t.done() for t in tasks)
    assert exp._analysis.records[cid_running].status is AnalysisStatus.CANCELLED
    assert exp._analysis.records[cid_queued].status is AnalysisStatus.CANCELLED
    assert not job.cancelled, "closing stops waiting; it does not cancel the remote job"


async def test_block_for_results_inside_a_callback_raises_instead_of_deadlocking() -> None:
    async with ExperimentData() as exp:
        errors: list[BaseException] = []

        async def nested(e: ExperimentData) -> None:
            try:
                await e.block_for_results()
            except RuntimeError as exc:
                errors.append(exc)

        exp.add_analysis_callback(nested)
        with anyio.fail_after(5):
            await exp.block_for_results()
        assert len(errors) == 1


async def test_sync_callback_runs_in_a_worker_thread() -> None:
    async with ExperimentData() as exp:
        threads: list[int] = []

        def fit(e: ExperimentData) -> None:
            threads.append(threading.get_ident())
            e.add_analysis_results(name="T1", value=1.0)
            e.add_figures(SVG, "from-thread")

        exp.add_analysis_callback(fit)
        await exp.block_for_results()
        assert threads
        assert threads[0] != threading.get_ident()
        assert exp.figure_names == ["from-thread.svg"]
        assert len(exp.analysis_results_nowait()) == 1


# -- results, figures, artifacts, children (§5-§8) ------------------------------------------


async def test_m_5_results_table_keys_and_columns() -> None:
    exp = ExperimentData(experiment_type="T1", backend="ibmq_lima")
    rid = exp.add_analysis_results(
        name="T1", value=41.5, quality="Good", components=["Q0"], unit="us"
    )
    exp.add_analysis_results(name="T2", value=12.0, components=["Q1"])
    assert isinstance(rid, str)
    row = await exp.analysis_results(rid)
    assert row.experiment == "T1"
    assert row.backend == "ibmq_lima"
    assert row.quality == "good"
    assert (await exp.analysis_results(rid[:8])).value == 41.5
    assert (await exp.analysis_results("T2")).value == 12.0
    assert [r.name for r in await exp.analysis_results()] == ["T1", "T2"]
    with pytest.raises(EntryNotFound):
        await exp.analysis_results("nope")
    assert exp.delete_analysis_result("T2") != []
    assert len(exp.analysis_results_nowait()) == 1
    pandas = pytest.importorskip("pandas")
    frame = await exp.analysis_results(dataframe=True, columns="minimal")
    assert isinstance(frame, pandas.DataFrame)
    assert list(frame.columns) == ["name", "components", "value", "quality", "unit"]


async def test_m_6_1_figure_names_and_collisions(tmp_path: Any) -> None:
    exp = ExperimentData(
        experiment_type="qiskit_test", metadata={"device_components": ["Q0", "Q1", "Q2"]}
    )
    generated = exp.add_figures(SVG)
    assert isinstance(generated, str)
    assert generated.startswith("qiskit_test_Q0_Q1_Q2_")
    assert exp.add_figures(SVG, "X") == "X.svg"
    assert exp.add_figures(SVG, "X") == "X-1.svg"
    assert exp.add_figures([SVG, SVG], ["X", "X"]) == ["X-2.svg", "X-3.svg"]
    assert exp.add_figures(SVG, "X", overwrite=True) == "X.svg"
    assert exp.add_figures(SVG, "fig-2") == "fig-2.svg"
    assert exp.add_figures(SVG, "fig-2") == "fig-3.svg"
    path = tmp_path / "plot.svg"
    path.write_bytes(SVG)
    assert exp.add_figures(str(path)) == str(path)
    assert exp.add_figures('<svg xmlns="http://www.w3.org/2000/svg"/>', "text") == "text.svg"
    with pytest.raises(ValueError, match="same length"):
        exp.add_figures([SVG, SVG], ["only-one"])
    assert exp.figure_names.count("X.svg") == 1, "no duplicate on overwrite (quirk fixed)"
    assert exp.delete_figure("X") == "X.svg"
    with pytest.raises(EntryNotFound):
        exp.delete_figure("X")


async def test_m_6_figure_keys_and_file_output(tmp_path: Any) -> None:
    exp = ExperimentData()
    exp.add_figures(FigureData(SVG, "a.svg", {"kind": "decay"}))
    figure = await exp.figure("a")
    assert figure.metadata == {"kind": "decay"}
    assert await exp.figure(0, file_name=tmp_path / "out.svg") == len(SVG)
    with pytest.raises(EntryNotFound):
        await exp.figure(5)


async def test_m_7_artifacts() -> None:
    exp = ExperimentData(experiment_type="T1")
    first = ArtifactData("fit", {"a": 1})
    exp.add_artifacts([first, ArtifactData("fit", {"a": 2}), ArtifactData("raw", [1, 2])])
    with pytest.raises(ValueError, match="overwrite"):
        exp.add_artifacts(first)
    assert len(exp.artifacts("fit")) == 2  # type: ignore[arg-type]
    assert exp.artifacts(first.artifact_id) == first
    assert exp.delete_artifact("raw")
    assert {a.name for a in exp.artifacts()} == {"fit"}  # type: ignore[union-attr]


async def test_m_8_children_and_recursive_tags() -> None:
    parent = ExperimentData(experiment_type="Batch")
    child = ExperimentData(experiment_type="T1")
    parent.add_child_data(child)
    assert child.parent_id == parent.experiment_id
    assert parent.metadata["child_data_ids"] == [child.experiment_id]
    assert parent.child_data(0) is child
    assert parent.child_data(child.experiment_id) is child
    parent.add_tags_recursive(["b", "a", "b"])
    assert child.tags == ["a", "b"]
    parent.remove_tags_recursive(["a"])
    assert parent.tags == ["b"]
    assert child.tags == ["b"]
    parent.share_level = "Project"
    assert child.share_level is not None
    assert child.share_level.value == "project"


# -- save and load (§9) -----------------------------------------------------------------------


def _count(emulator: Emulator, method: str, fragment: str) -> int:
    return sum(1 for r in emulator.request_log if r.method == method and fragment in r.path)


async def test_m_9_save_sends_only_what_changed(provider: Provider, emulator: Emulator) -> None:
    async with ExperimentData(service=provider, experiment_type="T1", backend="ibmq_lima") as exp:
        exp.add_analysis_results(name="T1", value=1.0)
        exp.add_figures(SVG, "f")
        first = await exp.save()
        assert first.sent == 3
        assert (await exp.save()).sent == 0, "a second save sends nothing new"
        exp.add_analysis_results(name="T2", value=2.0)
        exp.notes = "changed"
        second = await exp.save()
        assert second.sent == 2
        exp.delete_figure("f")
        exp.delete_analysis_result("T1")
        assert (await exp.save()).sent == 2
        stored = await provider.experiment.experiment(exp.experiment_id)
        assert stored.notes == "changed"
        assert stored.figure_names == []
        assert exp.creation_datetime is not None
        assert [
            r.result_type
            for r in await provider.experiment.analysis_results(experiment_id=exp.experiment_id)
        ] == ["T2"]


async def test_m_9_2_parent_before_children(provider: Provider) -> None:
    parent = ExperimentData(service=provider, experiment_type="Batch", backend="ibmq_lima")
    for i in range(3):
        child = ExperimentData(service=provider, experiment_type=f"T{i}", backend="ibmq_lima")
        child.add_analysis_results(name="v", value=i)
        parent.add_child_data(child)
    report = await parent.save(suppress_errors=False)
    assert report.ok
    children = await provider.experiment.experiments(parent_id=parent.experiment_id, limit=None)
    assert len(children) == 3
    loaded = await ExperimentData.load(parent.experiment_id, provider)
    assert sorted(c.experiment_type for c in loaded.child_data()) == ["T0", "T1", "T2"]


@pytest.mark.parametrize("suppress_errors", [True, False])
async def test_save_under_faults_loses_nothing_a_second_save_cannot_finish(
    emulator: Emulator, suppress_errors: bool
) -> None:
    from async_qexp import RetryPolicy

    async with Provider("alice", emulator.url, retry=RetryPolicy.none()) as provider:
        exp = ExperimentData(service=provider, experiment_type="T1", backend="ibmq_lima")
        await exp.save()
        for i in range(40):
            exp.add_analysis_results(name=f"r{i}", value=i)
        for i in range(10):
            exp.add_figures(SVG, f"fig{i}")
        emulator.faults.seed = 7
        emulator.faults.error_rate_500 = 0.3
        if suppress_errors:
            report = await exp.save(suppress_errors=True)
        else:
            with pytest.raises(ExperimentDataSaveFailed) as failed:
                await exp.save(suppress_errors=False)
            report = failed.value.report
        assert report.failed, "some requests failed"
        emulator.faults.clear()
        retry = await exp.save(suppress_errors=False)
        assert retry.sent == len(report.failed)
        results = await provider.experiment.analysis_results(
            experiment_id=exp.experiment_id, limit=None
        )
        assert sorted(r.result_type for r in results) == sorted(f"r{i}" for i in range(40))
        stored = await provider.experiment.experiment(exp.experiment_id)
        assert sorted(stored.figure_names) == sorted(f"fig{i}.svg" for i in range(10))
        await exp.aclose()


async def test_m_9_7_load_round_trips_everything_saved(provider: Provider) -> None:
    big = {"calibration": list(range(3000))}  # over 10 kB: goes to metadata.json
    async with ExperimentData(
        service=provider,
        experiment_type="T1",
        backend="ibmq_lima",
        tags=["x"],
        metadata=big,
        notes="n",
        share_level="project",
    ) as exp:
        exp.add_analysis_results(
            name="T1", value=41.5 + 0.5j, quality="good", components=["Q0"], chisq=1.3, unit="us"
        )
        exp.add_figures(SVG, "fit")
        exp.add_artifacts(ArtifactData("curve", {"x": [1, 2], "y": [0.5, 0.25]}))
        await exp.save(suppress_errors=False)
    loaded = await ExperimentData.load(exp.experiment_id, provider)
    assert loaded.experiment_type == "T1"
    assert loaded.backend_name == "ibmq_lima"
    assert loaded.tags == ["x"]
    assert loaded.notes == "n"
    assert loaded.metadata["calibration"] == big["calibration"]
    row = await loaded.analysis_results("T1")
    assert isinstance(row, AnalysisResultData)
    assert row.value == 41.5 + 0.5j
    assert row.quality == "good"
    assert row.components == ["Q0"]
    assert row.chisq == 1.3
    assert row.extra == {"unit": "us"}
    assert (await loaded.figure("fit")).figure == SVG
    artifact = loaded.artifacts("curve")
    assert isinstance(artifact, ArtifactData)
    assert artifact.data == {"x": [1, 2], "y": [0.5, 0.25]}
    assert (await loaded.save()).sent == 0, "nothing changed since the load"
    await loaded.aclose()


async def test_m_9_6_auto_save_saves_changes_in_the_background(
    provider: Provider, emulator: Emulator
) -> None:
    async with ExperimentData(service=provider, experiment_type="T1", backend="ibmq_lima") as exp:
        exp.auto_save = True
        await exp.flush()
        assert _count(emulator, "POST", "/resultsdb/experiments") == 1
        exp.tags = ["auto"]
        exp.add_analysis_results(name="T1", value=3.0)
        exp.add_figures(SVG, "auto")
        await exp.flush()
        stored = await provider.experiment.experiment(exp.experiment_id)
        assert stored.tags == ["auto"]
        assert stored.figure_names == ["auto.svg"]
        assert len(await provider.experiment.analysis_results(experiment_id=exp.experiment_id)) == 1


async def test_save_of_1000_results_and_100_figures(provider: Provider) -> None:
    async with ExperimentData(service=provider, experiment_type="Bulk", backend="ibmq_lima") as exp:
        for i in range(1000):
            exp.add_analysis_results(name="r", value=float(i), components=[f"Q{i % 5}"])
        for i in range(100):
            exp.add_figures(SVG, f"fig{i}")
        seen: list[tuple[int, int | None]] = []
        report = await exp.save(
            suppress_errors=False, progress=lambda done, total: seen.append((done, total))
        )
        assert report.sent == 1101
        assert seen[-1] == (1101, 1101), "progress ends at the total: every request sent"
        assert [d for d, _ in seen] == sorted(d for d, _ in seen), "monotone"
        results = await provider.experiment.analysis_results(
            experiment_id=exp.experiment_id, limit=None
        )
        assert len(results) == 1000
        assert len((await provider.experiment.experiment(exp.experiment_id)).figure_names) == 100


async def test_m_10_3_copy_gets_new_ids_and_shares_pending_jobs() -> None:
    async with ExperimentData(experiment_type="T1") as exp:
        job = ScriptedJob("j", [{"v": 1}])
        exp.add_jobs(job)
        exp.add_analysis_results(name="T1", value=1.0)
        exp.add_figures(SVG, "f")
        duplicate = await exp.copy()
        assert duplicate.experiment_id != exp.experiment_id
        copied = duplicate.analysis_results_nowait("T1")
        assert copied.experiment_id == duplicate.experiment_id
        assert copied.result_id != exp.analysis_results_nowait("T1").result_id
        assert duplicate.figure_names == ["f.svg"]
        job.release.set()
        await exp.block_for_results()
        await duplicate.block_for_results()
        assert exp.data() == duplicate.data() == [{"v": 1, "job_id": "j"}]
        await duplicate.aclose()


async def test_no_service_save_reports_instead_of_failing() -> None:
    exp = ExperimentData()
    report = await exp.save()
    assert report.sent == 0
    with pytest.raises(ExperimentDataSaveFailed):
        await exp.save(suppress_errors=False)


async def test_nothing_is_left_behind(emulator: Emulator) -> None:
    """After the container and the provider close: no task of ours, no busy thread, no socket."""
    threads_before = set(threading.enumerate())
    async with Provider("alice", emulator.url, retry=FAST_RETRY) as provider:
        async with ExperimentData(
            service=provider, experiment_type="T1", backend="ibmq_lima"
        ) as exp:
            exp.add_jobs([ScriptedJob("never-finishes")])
            exp.add_analysis_callback(lambda e: e.add_analysis_results(name="x", value=1))
            done_early = ExperimentData(service=provider, experiment_type="T2")
            done_early.add_analysis_callback(lambda e: e.add_figures(SVG, "f"))
            await done_early.block_for_results()
            await done_early.save()
            await done_early.aclose()
        transport = provider.http.transport
    assert client_tasks() == set()
    # Sync callbacks ran on anyio's worker threads, which stay idle in its pool, never busy.
    extra = [t for t in set(threading.enumerate()) - threads_before if t.is_alive()]
    assert all("AnyIO worker thread" in t.name for t in extra), extra
    session = getattr(transport, "client", None)
    assert session is None or session.closed, "the aiohttp session is closed"


async def test_m_6_6_matplotlib_figures_are_rendered_to_svg_in_a_thread(provider: Provider) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure()
    figure.add_subplot().plot([0, 1, 2], [1, 0.5, 0.25])
    async with ExperimentData(service=provider, experiment_type="T1", backend="ibmq_lima") as exp:
        name = exp.add_figures(figure, "decay")
        await exp.save(suppress_errors=False)
        stored = await provider.experiment.figure(exp.experiment_id, name)
        assert isinstance(stored, bytes)
        assert b"<svg" in stored[:400]


async def test_m_9_3_save_metadata_saves_only_the_record(provider: Provider) -> None:
    async with ExperimentData(service=provider, experiment_type="T1", backend="ibmq_lima") as exp:
        child = ExperimentData(service=provider, experiment_type="T1c", backend="ibmq_lima")
        exp.add_child_data(child)
        exp.add_analysis_results(name="not-yet", value=1)
        await exp.save_metadata()
        assert (
            await provider.experiment.experiment(child.experiment_id)
        ).parent_id == exp.experiment_id
        assert await provider.experiment.analysis_results(experiment_id=exp.experiment_id) == []
        exp.notes = "updated"
        await exp.save_metadata()
        assert (await provider.experiment.experiment(exp.experiment_id)).notes == "updated"
        await child.aclose()


async def test_m_9_7_load_reattaches_runtime_jobs_without_changing_anything(
    provider: Provider,
) -> None:
    job = await provider.runtime.run(
        "t1-sim", {"backend_name": "emulator_simulator"}, {"delays": [0, 10, 20], "seed": 3}
    )
    async with ExperimentData(service=provider, experiment_type="T1") as exp:
        exp.add_jobs(job)
        await exp.block_for_results(timeout=20)
        assert exp.backend_name == "emulator_simulator"
        assert exp.data()[0]["delays"] == [0.0, 10.0, 20.0]
        await exp.save(suppress_errors=False)
    loaded = await ExperimentData.load(exp.experiment_id, provider)
    await loaded.block_for_results(timeout=20)
    assert loaded.data() == exp.data()
    assert loaded.end_datetime == exp.end_datetime
    assert (await loaded.save()).sent == 0
    await loaded.aclose()


# -- issue 9: defects of the old shape, each pinned -------------------------------------------


async def test_a_delete_while_its_create_is_in_flight_is_not_undone(
    provider: Provider, emulator: Emulator
) -> None:
    """Defect 1: the create landed after the delete, and no delete was ever queued."""
    async with ExperimentData(service=provider, experiment_type="T1", backend="lima") as exp:
        keep = exp.add_analysis_results(name="keep", value=1)
        gone = exp.add_analysis_results(name="gone", value=2)
        exp.add_figures(SVG, "gone")
        emulator.latency_ms = 150
        save = asyncio.ensure_future(exp.save(suppress_errors=False))
        await wait_until(
            lambda: any(
                r.method == "POST" and r.path == "/resultsdb/experiments"
                for r in emulator.request_log
            )
        )
        await asyncio.sleep(0.05)  # the creates of the result and the figure are in flight
        assert exp.delete_analysis_result(gone) == [gone]
        exp.delete_figure("gone")
        await save
        emulator.latency_ms = 0
        stored = await provider.experiment.analysis_results(experiment_id=exp.experiment_id)
        assert [r.result_id for r in stored] == [keep]
        record = await provider.experiment.experiment(exp.experiment_id)
        assert record.figure_names == []
        assert (await exp.save()).sent == 0, "nothing is left pending"


async def test_a_value_that_cannot_be_stored_is_refused_when_added(provider: Provider) -> None:
    """Defect 2: one bad value made every save raise, and none of the others was saved."""
    async with ExperimentData(service=provider, experiment_type="T1", backend="lima") as exp:
        for i in range(20):
            exp.add_analysis_results(name=f"r{i}", value=i)
        with pytest.raises(TypeError, match="object"):
            exp.add_analysis_results(name="bad", value=object())
        with pytest.raises(TypeError, match="object"):
            exp.add_analysis_results(name="bad", value=1, colour=object())
        row = exp.analysis_results_nowait("r0")
        with pytest.raises(TypeError):
            row.value = object()
        assert row.value == 0, "a refused assignment changes nothing"
        with pytest.raises(TypeError):
            exp.add_artifacts(ArtifactData("bad", object()))
        report = await exp.save(suppress_errors=False)
        assert report.sent == 21
        stored = await provider.experiment.analysis_results(
            experiment_id=exp.experiment_id, limit=None
        )
        assert len(stored) == 20


async def test_metadata_that_stops_encoding_fails_only_the_record(provider: Provider) -> None:
    """Defect 2, metadata: the live dict can still be given a bad value after it was
    checked; then only the record fails, and the other items are saved."""
    async with ExperimentData(service=provider, experiment_type="T1", backend="lima") as exp:
        await exp.save(suppress_errors=False)
        exp.add_analysis_results(name="fine", value=1)
        exp.metadata["bad"] = object()
        report = await exp.save()
        failed = [what for what, _ in report.failed]
        assert "experiment" in failed, "the record, and the metadata file made from it"
        assert report.sent == 1
        del exp.metadata["bad"]
        exp.metadata["good"] = 1
        assert (await exp.save(suppress_errors=False)).sent == 1
        stored = await provider.experiment.experiment(exp.experiment_id)
        assert stored.metadata["good"] == 1


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"metadata": "x"}, TypeError),
        ({"metadata": {3: "x"}}, TypeError),
        ({"tags": "abc"}, TypeError),
        ({"job_ids": "xyz"}, TypeError),
        ({"experiment_type": 5}, TypeError),
        ({"share_level": "everyone"}, ValueError),
        ({"parent_id": "a/b"}, ValueError),
    ],
)
async def test_the_container_refuses_bad_fields_when_made(
    kwargs: dict[str, Any], error: type[Exception]
) -> None:
    """Defects 3 and 4: ``metadata="x"`` gave AttributeError; ``tags="abc"`` three tags."""
    with pytest.raises(error):
        ExperimentData(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"quality": "superb"}, ValueError),
        ({"quality": 3}, TypeError),
        ({"components": [object()]}, TypeError),
        ({"components": "Q0", "tags": "abc"}, TypeError),
        ({"verified": "no"}, TypeError),
        ({"chisq": "x"}, TypeError),
    ],
)
async def test_results_are_checked_as_the_service_checks_them(
    kwargs: dict[str, Any], error: type[Exception]
) -> None:
    """Defect 3: ``quality="superb"`` became UNKNOWN, components were ``str()``-ed."""
    async with ExperimentData(experiment_type="T1") as exp:
        with pytest.raises(error):
            exp.add_analysis_results(name="T1", value=1.0, **kwargs)
        assert exp.analysis_results_nowait() == []
        exp.add_analysis_results(name="T1", value=1.0, quality="GOOD", components="Q0")
        assert exp.analysis_results_nowait("T1").quality == "good"


async def test_a_container_and_its_tasks_end_with_the_provider(emulator: Emulator) -> None:
    """One task owner: closing the provider ends every container's jobs and callbacks."""
    async with Provider("alice", emulator.url, retry=FAST_RETRY) as provider:
        exp = ExperimentData(service=provider, experiment_type="T1", backend="lima")
        job = ScriptedJob("never")
        exp.add_jobs(job)
        cid = exp.add_analysis_callback(lambda e: None)
        tasks = [*exp._jobs.tasks(), *exp._analysis.tasks()]
    assert all(task.done() for task in tasks)
    assert exp._analysis.records[cid].status is AnalysisStatus.CANCELLED
    assert client_tasks() == set()
    with pytest.raises(QexpError):
        exp.add_jobs(ScriptedJob("late"))
    with pytest.raises(QexpError):
        await exp.save(suppress_errors=False)
