"""The blocking facade: SyncProvider and the generated twins, from a script, from threads, and
from inside a running event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from async_qexp import ClosedError, EntryNotFound, SyncExperimentData, SyncProvider
from async_qexp.sync import SyncPager, SyncResultStream, SyncRuntimeJob

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="4" height="4"/></svg>'


@pytest.fixture(scope="module")
def provider() -> Iterator[SyncProvider]:
    with SyncProvider.local() as started:
        yield started


def test_the_experiment_service_blocks_and_pages(provider: SyncProvider) -> None:
    service = provider.experiment
    exp_id = service.create_experiment("T1", "ibmq_lima", tags=["sync"])
    for i in range(5):
        service.create_analysis_result(exp_id, {"v": i}, "T1")
    assert service.experiment(exp_id).tags == ["sync"]
    pager = service.analysis_results(experiment_id=exp_id, limit=None, page_size=2)
    assert isinstance(pager, SyncPager)
    assert sorted(r.result_data["v"] for r in pager) == [0, 1, 2, 3, 4]
    assert len(list(service.iter_analysis_results(experiment_id=exp_id))) == 5
    with pytest.raises(EntryNotFound):
        service.experiment("3c5d2f4e-0000-4000-8000-000000000000")
    with pytest.raises(TypeError):
        service.experiments(limit="ten")  # type: ignore[arg-type]
    assert service.delete_experiment(exp_id) is True


def test_a_runtime_job_streams_into_a_plain_iterator(provider: SyncProvider) -> None:
    job = provider.runtime.run(
        "hello-world", {"backend_name": "ibmq_qasm_simulator"}, {"iterations": 3}
    )
    assert isinstance(job, SyncRuntimeJob)
    with job.stream_results() as stream:
        assert isinstance(stream, SyncResultStream)
        messages = list(stream)
    assert messages == [{"iteration": 0}, {"iteration": 1}, {"iteration": 2}, "Hello, World!"]
    assert job.result() == "Hello, World!"
    assert job.status().name == "DONE"
    assert provider.runtime.job(job.job_id).job_id == job.job_id
    assert job.job_id in [j.job_id for j in provider.runtime.jobs(limit=None)]


def test_experiment_data_twin_runs_callbacks_saves_and_loads(provider: SyncProvider) -> None:
    seen = []

    def fit(exp: SyncExperimentData) -> None:
        seen.append(type(exp))
        exp.add_analysis_results(name="T1", value=2.5e-5, quality="good")
        exp.add_figures(SVG, "fit")

    with SyncExperimentData(service=provider, experiment_type="T1", backend="ibmq_lima") as exp:
        exp.add_data({"counts": {"0": 10}})
        exp.add_analysis_callback(fit)
        exp.block_for_results()
        assert seen == [SyncExperimentData], "a sync callback gets the blocking container"
        assert exp.status().name == "DONE"
        assert [r.name for r in exp.analysis_results()] == ["T1"]
        assert exp.save().ok
    loaded = SyncExperimentData.load(exp.experiment_id, provider)
    assert isinstance(loaded, SyncExperimentData)
    assert [r.name for r in loaded.analysis_results()] == ["T1"]
    assert bytes(loaded.figure("fit.svg").figure) == SVG
    loaded.close()


def test_a_container_made_without_a_service_moves_to_the_providers_loop(
    provider: SyncProvider,
) -> None:
    parent = SyncExperimentData(experiment_type="Batch", backend="ibmq_lima")
    child = SyncExperimentData(experiment_type="T1", backend="ibmq_lima")
    parent.add_child_data(child)
    child.add_analysis_results(name="v", value=1)
    parent.service = provider
    assert parent.save(suppress_errors=False).ok
    child.add_analysis_results(name="w", value=2)  # the child twin follows the move
    assert parent.save(suppress_errors=False).ok
    loaded = SyncExperimentData.load(parent.experiment_id, provider)
    (loaded_child,) = loaded.child_data()
    assert sorted(r.name for r in loaded_child.analysis_results()) == ["v", "w"]
    for made in (parent, loaded):
        made.close()


def test_many_threads_share_one_provider(provider: SyncProvider) -> None:
    service = provider.experiment

    def work(i: int) -> str:
        exp_id = service.create_experiment(f"T{i}", "ibmq_lima")
        return service.experiment(exp_id).experiment_type

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert sorted(pool.map(work, range(16))) == sorted(f"T{i}" for i in range(16))


def test_works_inside_a_running_event_loop(provider: SyncProvider) -> None:
    async def notebook_cell() -> str:
        exp_id = provider.experiment.create_experiment("T1", "ibmq_lima")  # blocks, no await
        return provider.experiment.experiment(exp_id).experiment_type

    assert asyncio.run(notebook_cell()) == "T1"


def test_arguments_are_checked_before_any_thread_starts() -> None:
    before = threading.active_count()
    with pytest.raises(TypeError):
        SyncProvider(token=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="token"):
        SyncProvider(token="")
    assert threading.active_count() == before


def test_a_closed_provider_refuses_and_stops_its_thread() -> None:
    provider = SyncProvider.local()
    service = provider.experiment
    name = provider._loop.name
    assert name in {t.name for t in threading.enumerate()}
    provider.close()
    provider.close()  # idempotent
    assert provider.closed
    with pytest.raises(ClosedError):
        service.backends()
    assert name not in {t.name for t in threading.enumerate()}, "its loop's thread stopped"


def test_a_script_that_never_closes_exits_cleanly() -> None:
    script = textwrap.dedent(
        """
        from async_qexp import SyncProvider, SyncExperimentData
        provider = SyncProvider.local()
        exp_id = provider.experiment.create_experiment("T1", "ibmq_lima")
        exp = SyncExperimentData(experiment_type="T1")
        exp.add_data({"n": 1})
        print(provider.experiment.experiment(exp_id).experiment_type)
        """
    )
    done = subprocess.run(
        [sys.executable, "-W", "error::ResourceWarning", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "T1"
    assert "Unclosed" not in done.stderr
    assert "Task was destroyed" not in done.stderr


def test_the_generated_twins_are_up_to_date() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "generate_sync.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
