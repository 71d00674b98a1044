"""Every ExperimentService method against the emulator, over real loopback sockets."""

from __future__ import annotations

import asyncio
import math
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from async_qexp import (
    ClosedError,
    DeviceComponent,
    EntryExists,
    EntryNotFound,
    ExperimentShareLevel,
    Provider,
    Qubit,
    ResultQuality,
)
from async_qexp.emulator import Emulator

from ..helpers import client_tasks

pytestmark = pytest.mark.asyncio

SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><circle r="4"/></svg>'


async def test_login_discovers_the_services(provider: Provider) -> None:
    account = provider.account
    assert account.resultsdb_url == account.auth_url + "/resultsdb"
    assert account.runtime_url == account.auth_url + "/runtime"
    assert str(provider.hgp) == "ibm-q/open/main"
    assert account.user_id


async def test_backends_and_device_components(provider: Provider) -> None:
    service = provider.experiment
    names = {d.name for d in await service.backends()}
    assert {"ibmq_lima", "ibmq_athens"} <= names
    lima = await service.device_components("ibmq_lima")
    assert "Q0" in lima
    assert Qubit(0) in lima
    assert all(isinstance(c, DeviceComponent) for c in lima), "parsed components"
    everything = await service.device_components()
    assert isinstance(everything, dict)
    assert everything["ibmq_lima"] == lima
    assert await service.device_components("no_such_backend") == []


async def test_create_get_update_delete_experiment(provider: Provider) -> None:
    service = provider.experiment
    start = datetime(2024, 3, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    exp_id = await service.create_experiment(
        "T1",
        "ibmq_lima",
        metadata={"qubits": [0, 1], "amp": 0.5 + 0.25j, "bad": math.inf},
        tags=["a", "b"],
        job_ids=["job-1"],
        notes="first",
        share_level="Project",
        start_datetime=start,
    )
    got = await service.experiment(exp_id)
    assert got.experiment_id == exp_id
    assert got.experiment_type == "T1"
    assert got.backend_name == "ibmq_lima"
    assert got.metadata == {"qubits": [0, 1], "amp": 0.5 + 0.25j, "bad": math.inf}
    assert got.tags == ["a", "b"]
    assert got.job_ids == ["job-1"]
    assert got.notes == "first"
    assert got.share_level is ExperimentShareLevel.PROJECT
    assert got.start_datetime == start
    assert (got.hub, got.group, got.project) == ("ibm-q", "open", "main")
    assert got.owner == provider.account.user_id
    assert got.creation_datetime is not None

    end = datetime.now(timezone.utc).replace(microsecond=0)
    await service.update_experiment(exp_id, notes="second", end_datetime=end, share_level="public")
    updated = await service.experiment(exp_id)
    assert updated.notes == "second"
    assert updated.end_datetime == end
    assert updated.share_level is ExperimentShareLevel.PUBLIC
    assert updated.tags == ["a", "b"], "a partial update keeps the other fields"
    await service.update_experiment(exp_id)  # an empty update is accepted

    assert await service.delete_experiment(exp_id) is True
    with pytest.raises(EntryNotFound):
        await service.experiment(exp_id)
    assert await service.delete_experiment(exp_id) is False


async def test_duplicate_and_unknown_ids(provider: Provider) -> None:
    service = provider.experiment
    exp_id = await service.create_experiment("T1", "ibmq_lima", experiment_id=str(uuid.uuid4()))
    with pytest.raises(EntryExists) as excinfo:
        await service.create_experiment("T1", "ibmq_lima", experiment_id=exp_id)
    assert excinfo.value.status == 409
    with pytest.raises(EntryNotFound):
        await service.update_experiment(str(uuid.uuid4()), notes="x")
    with pytest.raises(EntryNotFound):
        await service.analysis_result(str(uuid.uuid4()))
    with pytest.raises(EntryNotFound):
        await service.create_analysis_result(str(uuid.uuid4()), {}, "T1")


async def test_experiment_filters_and_sorting(provider: Provider) -> None:
    service = provider.experiment
    base = datetime(2023, 1, 1, tzinfo=timezone.utc)
    ids = {}
    for i, (kind, backend, tags) in enumerate(
        [
            ("T1", "ibmq_lima", ["x"]),
            ("T2Ramsey", "ibmq_lima", ["x", "y"]),
            ("T1", "ibmq_athens", ["y"]),
            ("RB", "ibmq_lima", []),
        ]
    ):
        ids[i] = await service.create_experiment(
            kind, backend, tags=tags, start_datetime=base + timedelta(days=i)
        )
    lima = await service.experiments(backend_name="ibmq_lima", limit=None)
    assert [e.experiment_id for e in lima] == [ids[3], ids[1], ids[0]], "start_time desc"
    t1 = await service.experiments(experiment_type="T1", limit=None)
    assert {e.experiment_id for e in t1} == {ids[0], ids[2]}
    like = await service.experiments(
        experiment_type="T", experiment_type_operator="like", limit=None
    )
    assert {e.experiment_id for e in like} == {ids[0], ids[1], ids[2]}
    any_tag = await service.experiments(tags=["x", "y"], limit=None)
    assert len(any_tag) == 3
    all_tags = await service.experiments(tags=["x", "y"], tags_operator="AND", limit=None)
    assert [e.experiment_id for e in all_tags] == [ids[1]]
    window = await service.experiments(
        start_datetime_after=base + timedelta(days=1),
        start_datetime_before=base + timedelta(days=2),
        limit=None,
    )
    assert {e.experiment_id for e in window} == {ids[1], ids[2]}
    by_type = await service.experiments(
        sort_by=["experiment_type:asc", "start_datetime:asc"], limit=None
    )
    assert [e.experiment_type for e in by_type] == ["RB", "T1", "T1", "T2Ramsey"]
    assert [e.experiment_id for e in by_type][1:3] == [ids[0], ids[2]]
    mine = await service.experiments(mine_only=True, limit=None)
    assert len(mine) == 4
    assert await service.experiments(exclude_mine=True, limit=None) == []
    assert await service.experiments(public_only=True, limit=None) == []
    hgp = await service.experiments(hub="ibm-q", group="open", project="main", limit=None)
    assert len(hgp) == 4


async def test_parent_and_device_component_filters(provider: Provider) -> None:
    service = provider.experiment
    parent = await service.create_experiment("Batch", "ibmq_lima")
    child = await service.create_experiment("T1", "ibmq_lima", parent_id=parent)
    other = await service.create_experiment("T1", "ibmq_lima")
    await service.create_analysis_result(child, {"v": 1}, "T1", device_components=["Q0"])
    await service.create_analysis_result(other, {"v": 2}, "CR", device_components=["Q0", "Q1"])
    children = await service.experiments(parent_id=parent, limit=None)
    assert [e.experiment_id for e in children] == [child]
    assert (await service.experiment(child)).parent_id == parent
    exact = await service.experiments(device_components=["Q0"], limit=None)
    assert [e.experiment_id for e in exact] == [child]
    contains = await service.experiments(
        device_components=["Q0"], device_components_operator="contains", limit=None
    )
    assert {e.experiment_id for e in contains} == {child, other}


async def test_paging_with_limit_none_and_iterators(provider: Provider) -> None:
    service = provider.experiment
    created = set(
        await asyncio.gather(*(service.create_experiment("P", "ibmq_lima") for _ in range(230)))
    )
    assert len(await service.experiments()) == 10, "the reference default limit is 10"
    everything = await service.experiments(limit=None)
    assert {e.experiment_id for e in everything} == created
    assert len(everything) == 230
    some = await service.experiments(limit=150)
    assert len(some) == 150
    pager = service.iter_experiments(page_size=40)
    seen = [e.experiment_id async for e in pager]
    assert len(seen) == 230
    assert set(seen) == created
    assert pager.pages_fetched == 6
    async with service.iter_experiments(page_size=7, limit=20) as first:
        assert len([e async for e in first]) == 20


async def test_iterator_stopped_early_cancels_its_prefetch(provider: Provider) -> None:
    service = provider.experiment
    await asyncio.gather(*(service.create_experiment("P", "ibmq_lima") for _ in range(12)))
    pager = service.iter_experiments(page_size=5)
    async for _ in pager:
        break
    await pager.aclose()
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not [t for t in others if "fetch" in repr(t.get_coro())]


async def test_analysis_results_roundtrip_filters_and_updates(provider: Provider) -> None:
    service = provider.experiment
    exp_id = await service.create_experiment("T1", "ibmq_lima")
    r_good = await service.create_analysis_result(
        exp_id,
        {"value": 41.5, "z": 1 - 2j},
        "T1",
        device_components="Q0",
        quality="good",
        verified=True,
        chisq=1.2,
        tags=["t1"],
    )
    r_bad = await service.create_analysis_result(
        exp_id, {"value": 3.0}, "T2", device_components=["Q1"], quality=ResultQuality.BAD
    )
    r_unknown = await service.create_analysis_result(
        exp_id, {"value": 7.0}, "T1", device_components=["Q0", "Q1"]
    )
    got = await service.analysis_result(r_good)
    assert got.result_data == {"value": 41.5, "z": 1 - 2j}
    assert got.device_components == ["Q0"]
    assert got.quality is ResultQuality.GOOD
    assert got.verified is True
    assert got.chisq == 1.2
    assert got.backend_name == "ibmq_lima"
    assert got.experiment_id == exp_id

    def ids(results: list) -> set[str]:  # type: ignore[type-arg]
        return {r.result_id for r in results}

    assert ids(await service.analysis_results(experiment_id=exp_id, limit=None)) == {
        r_good,
        r_bad,
        r_unknown,
    }
    assert ids(await service.analysis_results(quality="Good", limit=None)) == {r_good}
    assert ids(await service.analysis_results(quality=["good", "bad"], limit=None)) == {
        r_good,
        r_bad,
    }
    assert ids(await service.analysis_results(verified=False, limit=None)) == {r_bad, r_unknown}
    assert ids(
        await service.analysis_results(result_type="T", result_type_operator="like", limit=None)
    ) == {r_good, r_bad, r_unknown}
    assert ids(await service.analysis_results(device_components=["Q1", "Q0"], limit=None)) == {
        r_unknown
    }
    assert ids(
        await service.analysis_results(
            device_components=["Q1"], device_components_operator="contains", limit=None
        )
    ) == {r_bad, r_unknown}
    assert ids(await service.analysis_results(tags=["t1"], limit=None)) == {r_good}
    assert ids(await service.analysis_results(backend_name="ibmq_lima", limit=None)) == {
        r_good,
        r_bad,
        r_unknown,
    }
    created = got.creation_datetime
    assert created is not None
    exact = await service.analysis_results(
        creation_datetime_after=created, creation_datetime_before=created, limit=None
    )
    assert ids(exact) == {r_good}, "PROTOCOL §3.6.2: full-precision inclusive bounds"
    by_type = await service.analysis_results(sort_by="result_type:desc", limit=None)
    assert by_type[0].result_id == r_bad

    await service.update_analysis_result(r_bad, result_data={"value": 4.0}, quality="good")
    assert (await service.analysis_result(r_bad)).result_data == {"value": 4.0}
    await service.bulk_update_analysis_results(
        [
            {"result_id": r_bad, "tags": ["bulk"], "verified": True},
            {"result_id": r_unknown, "chisq": 2.5},
        ]
    )
    assert (await service.analysis_result(r_bad)).tags == ["bulk"]
    assert (await service.analysis_result(r_unknown)).chisq == 2.5
    pages = [r async for r in service.iter_analysis_results(experiment_id=exp_id, page_size=1)]
    assert len(pages) == 3

    assert await service.delete_analysis_result(r_unknown) is True
    assert await service.delete_analysis_result(r_unknown) is False
    await service.delete_experiment(exp_id)
    with pytest.raises(EntryNotFound):
        await service.analysis_result(r_good)  # the delete cascaded


async def test_figures(provider: Provider, tmp_path: Path) -> None:
    service = provider.experiment
    exp_id = await service.create_experiment("T1", "ibmq_lima")
    assert await service.create_figure(exp_id, SVG, "plot") == ("plot.svg", len(SVG))
    path = tmp_path / "decay.svg"
    path.write_bytes(SVG * 2)
    name, size = await service.create_figure(exp_id, str(path))
    assert name == str(path)
    assert size == 2 * len(SVG)
    generated, _ = await service.create_figure(exp_id, SVG)
    assert generated.startswith("figure_")
    assert generated.endswith(".svg")
    assert set((await service.experiment(exp_id)).figure_names) == {"plot.svg", name, generated}
    assert await service.figure(exp_id, "plot.svg") == SVG
    out = tmp_path / "out.svg"
    assert await service.figure(exp_id, name, file_name=out) == 2 * len(SVG)
    assert out.read_bytes() == SVG * 2
    await service.update_figure(exp_id, b"<svg/>", "plot.svg")
    assert await service.figure(exp_id, "plot.svg") == b"<svg/>"
    assert await service.delete_figure(exp_id, "plot.svg") is True
    assert await service.delete_figure(exp_id, "plot.svg") is False
    with pytest.raises(EntryNotFound):
        await service.figure(exp_id, "plot.svg")
    with pytest.raises(EntryNotFound):
        await service.create_figure(str(uuid.uuid4()), SVG, "x.svg")


@pytest.mark.parametrize(
    "name",
    [
        "a/b/c.svg",
        "../../etc/passwd.svg",
        "x%2Fy.svg",
        "ünï cødé ✓.svg",
        "q?x=1#frag.svg",
        "./dot.svg",
    ],
)
async def test_odd_figure_names_are_just_names(provider: Provider, name: str) -> None:
    service = provider.experiment
    exp_id = await service.create_experiment("T1", "ibmq_lima")
    assert (await service.create_figure(exp_id, SVG, name))[0] == name
    assert await service.figure(exp_id, name) == SVG
    assert name in (await service.experiment(exp_id)).figure_names
    assert await service.delete_figure(exp_id, name)


async def test_files(provider: Provider) -> None:
    service = provider.experiment
    exp_id = await service.create_experiment("T1", "ibmq_lima")
    stored = await service.file_upload(exp_id, "data", {"counts": [1, 2], "z": 1j})
    assert stored == "data.json"
    await service.file_upload(exp_id, "blob.zip", b"PK\x03\x04 not really a zip")
    assert await service.file_download(exp_id, "data") == {"counts": [1, 2], "z": 1j}
    assert await service.file_download(exp_id, "blob.zip") == b"PK\x03\x04 not really a zip"
    assert await service.experiment_has_file(exp_id, "data.json")
    await service.file_upload(exp_id, "data.json", {"counts": [3]})  # replaces
    listing = await service.files(exp_id)
    assert sorted(f.name for f in listing) == ["blob.zip", "data.json"]
    assert await service.file_download(exp_id, "data.json") == {"counts": [3]}
    assert await service.file_delete(exp_id, "data.json") is True
    assert not await service.experiment_has_file(exp_id, "data.json")
    assert await service.file_delete(exp_id, "data.json") is False


async def test_preferences_are_saved_and_read_back(emulator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    prefs = tmp_path / "prefs.json"
    async with Provider("alice-token", emulator.url, preferences_path=prefs) as provider:
        assert provider.experiment.preferences == {}
        await provider.experiment.save_preferences(auto_save=True)
    async with Provider("alice-token", emulator.url, preferences_path=prefs) as provider:
        assert provider.experiment.preferences == {"auto_save": True}


async def test_a_service_used_after_its_provider_closed_raises_closed_error(
    emulator: Emulator, transport: str
) -> None:
    """Issue 9, defect 6: aiohttp raised a raw ``RuntimeError``; httpx sent the request and
    leaked a socket."""
    async with Provider(
        "alice",
        emulator.url,
        transport=transport,  # type: ignore[arg-type]
    ) as provider:
        service = provider.experiment
        for _ in range(3):
            await service.create_experiment("T1", "ibmq_lima")
        pager = service.experiments(limit=None, page_size=1)
        await pager.__anext__()  # the next page is being prefetched
    before = len(emulator.request_log)
    with pytest.raises(ClosedError):
        await service.experiments()
    with pytest.raises(ClosedError):
        await service.create_experiment("T1", "ibmq_lima")
    with pytest.raises(ClosedError):
        _ = provider.experiment
    with pytest.raises(ClosedError):
        await pager.collect()
    assert len(emulator.request_log) == before, "nothing reached the server"
    assert client_tasks() == set()
