"""``qexp upload``: analysis results from a JSON lines or CSV file, concurrently, resumably.

Every row becomes one analysis result of the experiment given with ``--experiment``
(``docs/cli.md#qexp-upload`` has the formats). Rows are read and checked first; if any is
bad, each is reported with its line number and nothing is sent. Then the rows are created with
:meth:`ExperimentService.create_analysis_results
<async_qexp.ExperimentService.create_analysis_results>`.

A row's result id is its ``result_id`` if it has one, else a uuid5 (in
:data:`UPLOAD_NAMESPACE`) of what the row stores: its create body (experiment id included)
as canonical JSON. So the same row always gets the same id, a rerun of an upload meets
"already exists" for every row an earlier run stored and skips it, and rows may be added,
removed or reordered between runs. Two rows that would store the same thing are refused.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import click

from ..experiment.bulk import analysis_result_record
from ..models import create_body
from ..models._checks import require_ident
from .options import Settings, json_option, pass_settings
from .output import ProgressBar, echo_json

if TYPE_CHECKING:
    from .._client import Provider
    from ..experiment.bulk import BulkCreateReport
    from ..models import AnalysisResult

__all__ = [
    "UPLOAD_NAMESPACE",
    "BadRow",
    "Row",
    "read_csv",
    "read_json_lines",
    "read_rows",
    "upload",
]

UPLOAD_NAMESPACE = uuid.UUID("8d6f6a4e-2b1c-5e57-9a43-6f0e3c1d7b25")
"""The uuid5 namespace of the result ids ``qexp upload`` derives from a row's content."""

LIST_COLUMNS = ("tags", "device_components")
TRUE = frozenset({"true", "yes", "1"})
FALSE = frozenset({"false", "no", "0", ""})
MAX_REPORTED = 20
"""Bad rows reported one by one; the rest are counted."""


@attrs.frozen
class Row:
    """One row read from the file: its first line, and the record it creates."""

    line: int
    record: AnalysisResult


@attrs.frozen
class BadRow:
    """A row that cannot be uploaded: its first line, and why."""

    line: int
    message: str


def _list_cell(text: str, column: str) -> list[Any]:
    if text.startswith("["):
        value = json.loads(text)
        if not isinstance(value, list):  # pragma: no cover - '[' starts a list or nothing
            raise ValueError(f"{column} must be a JSON list")
        return value
    return [part.strip() for part in text.split(";") if part.strip()]


def _value_cell(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def csv_item(cells: Mapping[str, str]) -> dict[str, Any]:
    """The item (``create_analysis_result``'s arguments) of one CSV row.

    Raises:
        ValueError: for a cell that cannot be read.
    """
    item: dict[str, Any] = {}
    data: dict[str, Any] = {}
    for column, raw in cells.items():
        text = raw.strip()
        if column in ("result_id", "experiment_id", "result_type", "quality"):
            if text:
                item[column] = text
        elif column == "result_data":
            if text:
                try:
                    parsed = json.loads(text)
                except ValueError:
                    raise ValueError("result_data is not a JSON object") from None
                if not isinstance(parsed, dict):
                    raise ValueError("result_data is not a JSON object")
                item["result_data"] = parsed
        elif column in LIST_COLUMNS:
            try:
                item[column] = _list_cell(text, column)
            except ValueError:
                raise ValueError(f"{column} is not a JSON list") from None
        elif column == "verified":
            if text.lower() not in TRUE | FALSE:
                raise ValueError(f"verified must be true or false, not {text!r}")
            item["verified"] = text.lower() in TRUE
        elif column == "chisq":
            if text:
                try:
                    item["chisq"] = float(text)
                except ValueError:
                    raise ValueError(f"chisq must be a number, not {text!r}") from None
        elif text:
            data[column] = _value_cell(text)
    if data:
        overlap = sorted(set(data) & set(item.get("result_data", {})))
        if overlap:
            raise ValueError(f"{overlap} given both as columns and in result_data")
        item["result_data"] = {**item.get("result_data", {}), **data}
    return item


def read_csv(text: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """``(line, item)`` for every row of a CSV text with a header row, or ``(line, why)`` for
    a row that cannot be read. The known columns are the fields of an item
    (:data:`~async_qexp.experiment.bulk.RESULT_FIELDS`); every other column is a value of
    ``result_data``."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        yield reader.line_num, f"not CSV: {exc}"
        return
    header = [name.strip() for name in header]
    if any(not name for name in header) or len(set(header)) != len(header):
        yield reader.line_num, "the header needs a distinct, non-empty name for every column"
        return
    end = reader.line_num
    while True:
        start = end + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, f"not CSV: {exc}"
            return
        end = reader.line_num
        if not cells:
            continue
        if len(cells) > len(header):
            yield start, f"{len(cells)} cells, but the header has {len(header)} columns"
            continue
        row = dict(zip(header, [*cells, *[""] * (len(header) - len(cells))], strict=True))
        try:
            yield start, csv_item(row)
        except ValueError as exc:
            yield start, str(exc)


def read_json_lines(text: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """``(line, item)`` for every non-blank line of JSON lines text (one object per line, its
    keys those of :data:`~async_qexp.experiment.bulk.RESULT_FIELDS`), or ``(line, why)`` for a
    line that cannot be read."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            yield number, f"not valid JSON: {exc}"
            continue
        if not isinstance(value, dict):
            yield number, f"a row is a JSON object, not {type(value).__name__}"
            continue
        yield number, value


def _canonical_id(body: dict[str, Any]) -> str:
    content = {k: v for k, v in body.items() if k != "uuid"}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return str(uuid.uuid5(UPLOAD_NAMESPACE, text))


def read_rows(
    text: str, file_format: str, experiment_id: str, result_type: str | None
) -> tuple[list[Row], list[BadRow]]:
    """Every row of the file as the record it creates, and every bad row; nothing is sent.

    Each row goes to ``experiment_id`` (a row naming another experiment is bad); a row
    without a ``result_type`` takes ``result_type`` (without one, it is bad). A row without a
    ``result_id`` gets one derived from its content (see the module's documentation).
    """
    rows: list[Row] = []
    bad: list[BadRow] = []
    seen: dict[str, tuple[int, bool]] = {}  # result id -> (line, derived from the content)
    items = read_csv(text) if file_format == "csv" else read_json_lines(text)
    for line, item in items:
        if isinstance(item, str):
            bad.append(BadRow(line, item))
            continue
        other = item.get("experiment_id", experiment_id)
        if other != experiment_id:
            bad.append(BadRow(line, f"experiment_id {other!r} is not --experiment"))
            continue
        fields = {**item, "experiment_id": experiment_id}
        if fields.get("result_type") is None and result_type is not None:
            fields["result_type"] = result_type
        if "result_type" not in fields:
            bad.append(BadRow(line, "no result_type (add the field, or pass --result-type)"))
            continue
        derived = fields.get("result_id") is None
        if derived:
            fields["result_id"] = "to-be-derived"
        try:
            record = analysis_result_record(fields)
            body = create_body(record)
        except (TypeError, ValueError) as exc:
            bad.append(BadRow(line, str(exc)))
            continue
        if derived:
            record = attrs.evolve(record, result_id=_canonical_id(body))
        if record.result_id in seen:
            first, first_derived = seen[record.result_id]
            why = (
                f"stores the same as line {first} (so it has the same result id); "
                "give each a result_id to store both"
                if derived and first_derived
                else f"has the result_id of line {first}"
            )
            bad.append(BadRow(line, why))
            continue
        seen[record.result_id] = (line, derived)
        rows.append(Row(line, record))
    return rows, bad


def _format_of(path: str, given: str | None) -> str:
    if given:
        return given
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if path == "-" or suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise click.UsageError(f"cannot tell the format of {path} from its name; pass --format")


def _read_text(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    with open(path, encoding="utf-8-sig", newline="") as file:
        return file.read()


@click.command()
@click.argument("file", metavar="FILE")
@click.option("--experiment", "experiment_id", required=True, help="The experiment's id.")
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["jsonl", "csv"]),
    help="The file's format (default: csv for *.csv, JSON lines for *.jsonl, *.ndjson, *.json).",
)
@click.option("--result-type", help="The result_type of rows that have none.")
@click.option("--dry-run", is_flag=True, help="Read and check the file; send nothing.")
@json_option
@pass_settings
def upload(
    settings: Settings,
    file: str,
    experiment_id: str,
    file_format: str | None,
    result_type: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Create an experiment's analysis results from FILE (JSON lines or CSV; '-': stdin).

    Rows are checked before anything is sent, and created concurrently. A rerun skips the rows
    already stored.
    """
    try:
        require_ident(experiment_id, "--experiment")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--experiment") from None
    fmt = _format_of(file, file_format)
    rows, bad = read_rows(_read_text(file), fmt, experiment_id, result_type)
    if bad:
        for row in bad[:MAX_REPORTED]:
            click.echo(f"qexp: error: {file}:{row.line}: {row.message}", err=True)
        if len(bad) > MAX_REPORTED:
            click.echo(f"qexp: error: ... and {len(bad) - MAX_REPORTED} more", err=True)
        raise click.ClickException(f"{len(bad)} bad row(s) in {file}; nothing was sent")
    if dry_run:
        if as_json:
            echo_json({"experiment_id": experiment_id, "file": file, "rows": len(rows)})
        else:
            click.echo(f"{len(rows)} row(s) of {file} can be uploaded; nothing was sent")
        return

    async def send(provider: Provider) -> BulkCreateReport:
        await provider.experiment.experiment(experiment_id)  # a missing one fails once
        bar = ProgressBar("uploading", enabled=not settings.quiet)
        try:
            return await provider.experiment.create_analysis_results(
                [row.record for row in rows], progress=bar
            )
        finally:
            bar.close()

    report = settings.run(send)
    lines = {row.record.result_id: row.line for row in rows}
    failed = [
        {"line": lines[result_id], "result_id": result_id, "error": " ".join(str(exc).split())}
        for result_id, exc in report.failed
    ]
    if as_json:
        echo_json(
            {
                "experiment_id": experiment_id,
                "file": file,
                "rows": len(rows),
                "created": len(report.created),
                "skipped": len(report.existing),
                "failed": failed,
            }
        )
    else:
        click.echo(
            f"created {len(report.created)}, skipped {len(report.existing)} already stored, "
            f"failed {len(failed)} (of {len(rows)} rows in {file})"
        )
    if failed:
        for failure in failed[:MAX_REPORTED]:
            click.echo(f"qexp: error: {file}:{failure['line']}: {failure['error']}", err=True)
        raise click.ClickException(
            f"{len(failed)} row(s) could not be stored; run the same upload again to retry them"
        )
