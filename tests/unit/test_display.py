"""How objects show themselves: short reprs, ``_repr_pretty_``, ``_repr_html_``, RecordList.

The rendering is ``async_qexp/models/_display.py``; these tests pin what a person sees for
the records, lists of them (what awaiting a pager gives), ``ExperimentData`` and
``RuntimeJob``, and that no value can put markup of its own into a notebook.
"""

from __future__ import annotations

import asyncio
import pickle
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest

from async_qexp import (
    AnalysisResult,
    AnalysisResultData,
    ExperimentData,
    ExperimentStatus,
    JobStatus,
    RecordList,
    RuntimeJob,
)
from async_qexp._paging import Pager
from async_qexp._tasks import TaskOwner
from async_qexp.models import Experiment

from ..helpers import ScriptedJob

EXP_ID = "3c5d2f4e-1111-2222-3333-444455556666"
RESULT_ID = "1a2b3c4d-aaaa-bbbb-cccc-ddddeeeeffff"
CREATED = datetime(2026, 11, 29, 10, 2, 31, tzinfo=timezone.utc)
SCRIPT = "<script>alert('x')</script>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="4" height="4"/></svg>'


@pytest.fixture(autouse=True)
def _utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is UTC here, so the short date-times are the same on every machine."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def experiment(**fields: Any) -> Experiment:
    values: dict[str, Any] = {
        "experiment_id": EXP_ID,
        "experiment_type": "T1",
        "backend_name": "ibmq_lima",
        "tags": ["a", "b", "c"],
        "creation_datetime": CREATED,
    }
    values.update(fields)
    return Experiment(**values)


def result(**fields: Any) -> AnalysisResult:
    values: dict[str, Any] = {
        "result_id": RESULT_ID,
        "experiment_id": EXP_ID,
        "result_type": "T1",
        "result_data": {"value": 62.123, "stderr": 3.1, "unit": "us"},
        "device_components": ["Q0"],
        "quality": "good",
    }
    values.update(fields)
    return AnalysisResult(**values)


def field_row(label: str, value: str) -> str:
    """One row of an object's HTML view."""
    return f'<tr><th style="text-align:left">{label}</th><td style="text-align:left">{value}</td>'


class FakePrinter:
    """IPython's ``RepresentationPrinter``, as far as ``_repr_pretty_`` uses it."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.indentation = 0

    def text(self, obj: str) -> None:
        self.out.append(obj)

    def break_(self) -> None:
        self.out.append("\n")


def pretty(obj: Any) -> str:
    """IPython's pretty printing when IPython is installed, else the fake printer."""
    try:
        from IPython.lib.pretty import pretty as ipython_pretty
    except ImportError:
        printer = FakePrinter()
        obj._repr_pretty_(printer, False)
        return "".join(printer.out)
    return str(ipython_pretty(obj))


# -- reprs ------------------------------------------------------------------------------------


def test_experiment_repr_is_short_and_stable() -> None:
    assert repr(experiment()) == "<Experiment 3c5d2f4e T1 on ibmq_lima, 2026-11-29 10:02, 3 tags>"
    bare = experiment(tags=[], creation_datetime=None)
    assert repr(bare) == "<Experiment 3c5d2f4e T1 on ibmq_lima>"
    assert repr(experiment(tags=["x"])).endswith(", 1 tag>")
    assert str(experiment()) == repr(experiment())


def test_datetimes_show_in_local_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # UTC+05:30, no daylight saving
    time.tzset()
    assert "2026-11-29 15:32" in repr(experiment())


def test_analysis_result_repr_shows_value_error_unit_and_quality() -> None:
    assert repr(result()) == "<AnalysisResult 1a2b3c4d T1 on Q0 = 62.123 ± 3.1 us, GOOD>"
    variance = result(result_data={"value": 2.0, "variance": 0.25}, quality=None)
    assert repr(variance) == "<AnalysisResult 1a2b3c4d T1 on Q0 = 2 ± 0.5>"
    bare = result(result_data={}, device_components=[], quality=None)
    assert repr(bare) == "<AnalysisResult 1a2b3c4d T1>"


def test_records_keep_fields_equality_and_wire() -> None:
    """Only the display changed: equality, copies and the wire are the attrs records' own."""
    from async_qexp.models import from_wire, to_wire

    exp = experiment(metadata={"qubits": [0, 1]})
    assert exp == experiment(metadata={"qubits": [0, 1]})
    assert exp != experiment(notes="different")
    assert from_wire(Experiment, to_wire(exp)) == exp
    assert pickle.loads(pickle.dumps(exp)) == exp
    with pytest.raises(AttributeError):
        exp.not_a_field = 1  # type: ignore[attr-defined]  # still slotted


def test_analysis_result_data_repr() -> None:
    row = AnalysisResultData(name="T1", value=62.5, quality="Good", components=["Q0"])
    row_id = row.result_id[:8]
    assert repr(row) == f"<AnalysisResultData {row_id} T1 on Q0 = 62.5, good>"


# -- _repr_pretty_ ------------------------------------------------------------------------------


def test_repr_pretty_shows_one_field_per_line() -> None:
    text = pretty(experiment(notes="a note"))
    lines = text.splitlines()
    assert lines[0] == "Experiment 3c5d2f4e T1 on ibmq_lima, 2026-11-29 10:02, 3 tags"
    assert f"  id       {EXP_ID}" in lines
    assert "  notes    a note" in lines
    assert not any("metadata" in line for line in lines), "empty fields are left out"


def test_repr_pretty_inside_a_list_is_the_repr() -> None:
    pytest.importorskip("IPython")
    from IPython.lib.pretty import pretty as ipython_pretty

    text = ipython_pretty([experiment(), result()])
    assert text == (
        "[<Experiment 3c5d2f4e T1 on ibmq_lima, 2026-11-29 10:02, 3 tags>,\n"
        " <AnalysisResult 1a2b3c4d T1 on Q0 = 62.123 ± 3.1 us, GOOD>]"
    )
    nested = ipython_pretty({"found": RecordList([experiment()])})
    assert nested == "{'found': [<Experiment 3c5d2f4e T1 on ibmq_lima, 2026-11-29 10:02, 3 tags>]}"


def test_repr_pretty_with_the_fake_printer() -> None:
    """Without IPython, the protocol is the same: text() and break_()."""
    printer = FakePrinter()
    RecordList([result(), result(result_id=EXP_ID)])._repr_pretty_(printer, False)
    lines = "".join(printer.out).splitlines()
    assert lines[0] == "2 analysis results"
    assert lines[1].split() == ["id", "type", "components", "value", "quality", "experiment"]
    assert lines[2].split() == [
        *("1a2b3c4d", "T1", "Q0", "62.123", "±", "3.1", "us", "GOOD", "3c5d2f4e")
    ]
    cycle = FakePrinter()
    RecordList([result()])._repr_pretty_(cycle, True)
    assert cycle.out == ["[...]"]


def test_record_list_pretty_is_an_aligned_table() -> None:
    text = pretty(RecordList([experiment(), experiment(experiment_type="Rabi", tags=[])]))
    assert text.splitlines() == [
        "2 experiments",
        "id        type  backend    created           tags",
        "3c5d2f4e  T1    ibmq_lima  2026-11-29 10:02  a, b, c",
        "3c5d2f4e  Rabi  ibmq_lima  2026-11-29 10:02",
    ]
    assert pretty(RecordList()) == "[]"


def test_long_lists_are_cut() -> None:
    many = RecordList([result()] * 60)
    text = pretty(many)
    assert text.splitlines()[0] == "60 analysis results"
    assert text.splitlines()[-1] == "… 10 more (to_dataframe() has every row)"
    assert "10 more" in (many._repr_html_() or "")


# -- _repr_html_ --------------------------------------------------------------------------------


def test_html_escapes_every_value() -> None:
    exp = experiment(tags=["ok", SCRIPT], notes=f"see {SCRIPT} & <b>bold</b>")
    rows = [exp, experiment(experiment_type=SCRIPT)]
    htmls = [exp._repr_html_(), RecordList(rows)._repr_html_() or ""]
    htmls.append(result(result_type=SCRIPT, tags=[SCRIPT])._repr_html_())
    for text in htmls:
        assert "<script" not in text
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text
        assert "<b>" not in text
    assert htmls[0].startswith("<table")
    assert htmls[0].endswith("</table>")


def test_html_table_has_a_header_and_full_values_as_tooltips() -> None:
    text = RecordList([result()])._repr_html_() or ""
    assert "1 analysis result</caption>" in text
    assert '<th style="text-align:left">value</th>' in text
    assert f'title="{RESULT_ID}">1a2b3c4d</td>' in text
    assert "62.123 ± 3.1 us" in text
    assert RecordList()._repr_html_() is None, "an empty list shows as []"


def test_record_list_of_other_things_shows_their_reprs() -> None:
    text = pretty(RecordList([1, "<x>"]))
    assert text.splitlines() == ["2 items", "item", "1", "'<x>'"]
    assert "&lt;x&gt;" in (RecordList([1, "<x>"])._repr_html_() or "")


# -- RecordList is a list -----------------------------------------------------------------------


def test_record_list_is_a_list() -> None:
    items = [experiment(), experiment(experiment_type="Rabi")]
    records = RecordList(items)
    assert isinstance(records, list)
    assert records == items
    assert items == records
    assert records[0] is items[0]
    assert isinstance(records[:1], RecordList)
    assert records[:1] == items[:1]
    assert records[::-1] == items[::-1]
    assert records + [1] == [*items, 1]  # noqa: RUF005 - list concatenation is the point
    assert pickle.loads(pickle.dumps(records)) == items
    assert repr(records) == repr(items)


@pytest.mark.asyncio
async def test_awaiting_a_pager_gives_a_record_list() -> None:
    pages = {None: ([experiment()], "next"), "next": ([experiment(notes="2")], None)}

    async def fetch(cursor: Any, size: int | None) -> tuple[list[Experiment], Any]:
        return pages[cursor]

    owner = TaskOwner("test")
    try:
        listed = await Pager(fetch, owner=owner)
        assert isinstance(listed, RecordList)
        assert listed == [experiment(), experiment(notes="2")]
    finally:
        await owner.aclose()


# -- to_dataframe -------------------------------------------------------------------------------


def test_to_dataframe_with_pandas() -> None:
    pd = pytest.importorskip("pandas")
    frame = RecordList([experiment(), experiment(share_level="project")]).to_dataframe()
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == 2
    assert list(frame.columns)[:3] == ["experiment_id", "experiment_type", "backend_name"]
    assert frame["experiment_id"][0] == EXP_ID, "the full id"
    assert frame["share_level"][1] == "project", "enums as their values"
    assert frame["creation_datetime"][0] == CREATED


def test_to_dataframe_without_pandas_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas raises ImportError
    with pytest.raises(ImportError, match=r"to_dataframe\(\) needs pandas.*pip install pandas"):
        RecordList([experiment()]).to_dataframe()


def test_pandas_is_imported_only_by_to_dataframe() -> None:
    import subprocess

    code = (
        "import sys, async_qexp\n"
        "from async_qexp import RecordList, Experiment\n"
        "r = RecordList([Experiment(experiment_id='x', experiment_type='T1', backend_name='b')])\n"
        "r._repr_html_(); repr(r); r[0]._repr_html_()\n"
        "print('pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- ExperimentData -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_m_10_5_experiment_data_shows_status_counts_and_figures() -> None:
    async with ExperimentData(
        experiment_type="T1", backend="ibmq_lima", tags=[SCRIPT], experiment_id=EXP_ID
    ) as exp:
        assert exp.cached_status is ExperimentStatus.EMPTY
        job = ScriptedJob("job-1")
        exp.add_jobs(job)
        assert exp.cached_status is ExperimentStatus.RUNNING
        job.release.set()
        await exp.block_for_results()
        exp.add_analysis_results(name="T1", value=62.5, quality="good", components=["Q0"])
        exp.add_figures(SVG, "T1_Q0")
        exp.add_figures(b"<svg><script>alert(1)</script></svg>", "scripted")
        assert exp.cached_status is ExperimentStatus.DONE

        text = exp._repr_html_()
        assert "ExperimentData T1 3c5d2f4e</caption>" in text
        for label, value in [
            ("status", "DONE"),
            ("data", "1"),
            ("jobs", "1"),
            ("analysis results", "1"),
            ("figures", "2"),
            ("figure names", "T1_Q0.svg, scripted.svg"),
            ("artifacts", "0"),
            ("children", "0"),
        ]:
            assert field_row(label, value) in text
        assert text.count("data:image/svg+xml;base64,") == 2
        assert "<script" not in text, "figures are images (base64), tags are escaped"

        lines = pretty(exp).splitlines()
        assert lines[0] == "ExperimentData T1 3c5d2f4e"
        assert "  status            DONE" in lines
        assert "  figure names      T1_Q0.svg, scripted.svg" in lines
        assert repr(exp).startswith("<ExperimentData[T1], id=3c5d2f4e"), "the reference's repr"


@pytest.mark.asyncio
async def test_experiment_data_analysis_results_are_a_record_list() -> None:
    async with ExperimentData(experiment_type="T1") as exp:
        exp.add_analysis_results(name="T1", value=1.0)
        exp.add_analysis_results(name="T2", value=2.0)
        rows = await exp.analysis_results()
        assert isinstance(rows, RecordList)
        assert [r.name for r in rows] == ["T1", "T2"]
        assert "2 analysis results" in (rows._repr_html_() or "")
        assert isinstance(await exp.analysis_results("T1"), AnalysisResultData)


@pytest.mark.asyncio
async def test_m_10_5_cached_status_reads_no_service() -> None:
    async with ExperimentData(experiment_type="T1") as exp:
        job = ScriptedJob("j", fail=True)
        exp.add_jobs(job)
        job.release.set()
        await exp.block_for_results()
        job._status = JobStatus.RUNNING  # what the job would say now is not asked
        assert exp.cached_status is ExperimentStatus.ERROR
        assert await exp.status() is ExperimentStatus.ERROR


# -- RuntimeJob ---------------------------------------------------------------------------------


def runtime_job(**fields: Any) -> RuntimeJob:
    runtime = SimpleNamespace(jobs_api=None, tasks=None, stream_policy=None)
    values: dict[str, Any] = {"program_id": "sample-program", "backend": "emulator_simulator"}
    values.update(fields)
    return RuntimeJob(runtime, "c2h3j4k5", **values)  # type: ignore[arg-type]


def test_runtime_job_shows_id_program_backend_status_and_creation() -> None:
    job = runtime_job(creation_date=CREATED - timedelta(minutes=2))
    assert repr(job) == (
        "<RuntimeJob c2h3j4k5 sample-program on emulator_simulator, INITIALIZING, "
        "created 2026-11-29 10:00>"
    )
    assert repr(runtime_job()) == (
        "<RuntimeJob c2h3j4k5 sample-program on emulator_simulator, INITIALIZING>"
    )
    text = job._repr_html_()
    assert field_row("status", "INITIALIZING") in text
    assert field_row("id", "c2h3j4k5") in text
    lines = pretty(RecordList([job, runtime_job(program_id=SCRIPT)])).splitlines()
    assert lines[0] == "2 jobs"
    assert lines[1].split() == ["id", "program", "backend", "status", "created"]
    assert "<script" not in (RecordList([runtime_job(program_id=SCRIPT)])._repr_html_() or "")


def test_repr_works_off_the_event_loop() -> None:
    """A display is synchronous: nothing in it awaits (a notebook cannot await a repr)."""
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
    assert pretty(runtime_job())
    assert experiment()._repr_html_()


def test_figure_data_repr_is_short() -> None:
    from async_qexp import FigureData

    assert repr(FigureData(SVG, "T1_Q0.svg")) == f"<FigureData T1_Q0.svg: SVG, {len(SVG)} bytes>"
    text = FigureData(SVG.decode(), "a.svg", {"qubit": 0})
    assert repr(text) == f"<FigureData a.svg: SVG, {len(SVG)} characters, metadata {{'qubit': 0}}>"
    assert FigureData(SVG, "x.svg")._repr_svg_() == SVG.decode()
