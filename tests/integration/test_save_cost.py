"""A save costs what changed, not what is held: a save with nothing changed does not look at
the rows; a change of any kind (a field, a new row, a removed row, a failure left pending)
is still seen and saved; a stored row keeps its digest, not its encoded body."""

from __future__ import annotations

from collections.abc import AsyncIterator, Hashable

import anyio
import pytest
import pytest_asyncio

from async_qexp import Provider
from async_qexp.emulator import EmulatorConfig
from async_qexp.experiment import ExperimentData
from async_qexp.experiment._save import ResultSource

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def local() -> AsyncIterator[Provider]:
    async with Provider.local(emulator=EmulatorConfig()) as p:
        yield p


@pytest.fixture
def looks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many rows each call of ResultSource.versions read."""
    seen: list[int] = []
    original = ResultSource.versions

    def counting(self: ResultSource) -> dict[str, Hashable]:
        versions = original(self)
        seen.append(len(versions))
        return versions

    monkeypatch.setattr(ResultSource, "versions", counting)
    return seen


async def saved_container(local: Provider, n: int) -> ExperimentData:
    exp = ExperimentData(
        service=local.experiment, experiment_type="T1", backend="ibmq_qasm_simulator"
    )
    for i in range(n):
        exp.add_analysis_results(name="T1", value=float(i), components=["Q0"])
    with anyio.fail_after(30):
        report = await exp.save(suppress_errors=False)
    assert report.sent == n + 1
    return exp


async def test_a_save_with_nothing_changed_reads_no_row(local: Provider, looks: list[int]) -> None:
    exp = await saved_container(local, 200)
    looks.clear()
    for _ in range(3):
        report = await exp.save()
        assert report.sent == 0
    assert looks == []


async def test_every_kind_of_change_is_still_saved(local: Provider, looks: list[int]) -> None:
    exp = await saved_container(local, 50)
    service = local.experiment
    rows = await exp.analysis_results()
    assert isinstance(rows, list)

    rows[3].quality = "bad"  # a field assigned
    report = await exp.save(suppress_errors=False)
    assert report.sent == 1
    stored = await service.analysis_result(rows[3].result_id)
    assert stored.quality is not None
    assert stored.quality.value == "BAD"

    exp.add_analysis_results(name="T2", value=1.5)  # a row added
    assert (await exp.save(suppress_errors=False)).sent == 1

    exp.delete_analysis_result(rows[7].result_id)  # a row removed
    assert (await exp.save(suppress_errors=False)).sent == 1
    assert len(await service.analysis_results(experiment_id=exp.experiment_id, limit=None)) == 50

    looks.clear()
    assert (await exp.save()).sent == 0
    assert looks == []


async def test_a_failed_item_keeps_the_next_save_looking(local: Provider) -> None:
    exp = await saved_container(local, 20)
    rows = await exp.analysis_results()
    assert isinstance(rows, list)
    rows[0].tags = ["retry-me"]
    assert local.emulator is not None
    local.emulator.faults.fail_next(status=400, path_prefix="/resultsdb/analysis_results")
    report = await exp.save(suppress_errors=True)
    assert not report.ok
    report = await exp.save(suppress_errors=False)
    assert report.sent == 1
    stored = await local.experiment.analysis_result(rows[0].result_id)
    assert stored.tags == ["retry-me"]


async def test_a_stored_row_keeps_its_digest_not_its_body(local: Provider) -> None:
    exp = await saved_container(local, 5)
    rows = await exp.analysis_results()
    assert isinstance(rows, list)
    row = rows[0]
    assert row._wire is None
    digest = row.digest()
    assert row._wire is None  # the digest alone answers
    row.value = 99.0
    assert row.digest() != digest
    assert b"99.0" in row.wire()
