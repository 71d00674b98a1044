"""Checked by mypy (``nox -s typecheck``), never run: mypy sees the blocking signatures.

Each ``type: ignore`` marks a line mypy must refuse; with ``warn_unused_ignores`` (strict), an
ignore that is not needed is itself an error, so a twin that lost its types fails the check.
"""

from __future__ import annotations

from async_qexp import Experiment, SyncExperimentData, SyncProvider
from async_qexp.models import AnalysisResult, JobStatus
from async_qexp.sync import SyncPager, SyncResultStream, SyncRuntimeJob


def blocking_use(provider: SyncProvider) -> None:
    """The blocking API, typed."""
    exp_id: str = provider.experiment.create_experiment("T1", "ibmq_lima")
    record: Experiment = provider.experiment.experiment(exp_id)
    pager: SyncPager[Experiment] = provider.experiment.experiments(limit=None)
    results: SyncPager[AnalysisResult] = provider.experiment.analysis_results(experiment_id=exp_id)
    job: SyncRuntimeJob = provider.runtime.run("hello-world", {"backend_name": "b"}, {})
    status: JobStatus = job.status()
    stream: SyncResultStream = job.stream_results()
    exp = SyncExperimentData(service=provider, experiment_type="T1")
    loaded: SyncExperimentData = SyncExperimentData.load(exp_id, provider)
    deleted: bool = provider.experiment.delete_experiment(exp_id)
    print(record, pager, results, status, stream, exp, loaded, deleted)


def refused(provider: SyncProvider) -> None:
    """What mypy must refuse."""
    wrong: int = provider.experiment.create_experiment("T1", "ibmq_lima")  # type: ignore[assignment]
    provider.experiment.experiment(42)  # type: ignore[arg-type]
    provider.runtime.job("id").result(wait="soon")  # type: ignore[arg-type]
    print(wrong)
