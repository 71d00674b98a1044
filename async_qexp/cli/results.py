"""``qexp results``: list and show analysis results."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from .options import Settings, all_option, json_option, limit_option, pass_settings, wide_option
from .output import echo_json, echo_table, local_time, record_json, short_id

if TYPE_CHECKING:
    from .._client import Provider
    from ..models import AnalysisResult

__all__ = ["results"]

QUALITIES = ("good", "bad", "unknown")


def _value(result: AnalysisResult) -> str:
    """The result's ``value`` (with its ``stderr`` and ``unit`` when it has them), short."""
    data: dict[str, Any] = record_json(result)["result_data"]
    if "value" not in data:
        return "-"
    text = json.dumps(data["value"]) if not isinstance(data["value"], str) else data["value"]
    if data.get("stderr") is not None:
        text += f" ± {data['stderr']}"
    if data.get("unit"):
        text += f" {data['unit']}"
    return text if len(text) <= 40 else text[:39] + "…"


@click.group()
def results() -> None:
    """Analysis results: list, show."""


@results.command("list")
@click.option("--experiment", "experiment_id", help="Only the results of this experiment.")
@click.option("--type", "result_type", help="Only results of this type.")
@click.option(
    "--quality",
    type=click.Choice(QUALITIES, case_sensitive=False),
    multiple=True,
    help="Only results of this quality (repeatable).",
)
@click.option(
    "--verified/--unverified", default=None, help="Only verified (or unverified) results."
)
@click.option("--tag", "tags", multiple=True, help="Only results with this tag (repeatable).")
@click.option("--backend", help="Only results on this backend.")
@limit_option(10, "results")
@all_option("result")
@json_option
@wide_option
@pass_settings
def list_results(
    settings: Settings,
    experiment_id: str | None,
    result_type: str | None,
    quality: tuple[str, ...],
    verified: bool | None,
    tags: tuple[str, ...],
    backend: str | None,
    limit: int,
    every: bool,
    as_json: bool,
    wide: bool,
) -> None:
    """List analysis results, newest first."""

    async def fetch(provider: Provider) -> list[AnalysisResult]:
        return await provider.experiment.analysis_results(
            limit=None if every else limit,
            experiment_id=experiment_id,
            result_type=result_type,
            quality=list(quality) or None,
            verified=verified,
            tags=list(tags) or None,
            backend_name=backend,
        )

    found = settings.run(fetch)
    if as_json:
        echo_json([record_json(r) for r in found])
        return
    echo_table(
        ["ID", "EXPERIMENT", "TYPE", "VALUE", "QUALITY", "VERIFIED", "COMPONENTS", "CREATED"],
        (
            [
                short_id(r.result_id, wide),
                short_id(r.experiment_id, wide),
                r.result_type,
                _value(r),
                r.quality.value.lower() if r.quality else "-",
                "yes" if r.verified else "no",
                ",".join(r.device_components) or "-",
                local_time(r.creation_datetime),
            ]
            for r in found
        ),
        empty="no analysis results",
    )


@results.command("show")
@click.argument("result_id")
@json_option
@pass_settings
def show_result(settings: Settings, result_id: str, as_json: bool) -> None:
    """Show one analysis result."""

    async def fetch(provider: Provider) -> AnalysisResult:
        return await provider.experiment.analysis_result(result_id)

    result = settings.run(fetch)
    document = record_json(result)
    if as_json:
        echo_json(document)
        return
    rows = [
        ("id", result.result_id),
        ("experiment", result.experiment_id),
        ("type", result.result_type),
        ("backend", result.backend_name or "-"),
        ("quality", result.quality.value.lower() if result.quality else "-"),
        ("verified", "yes" if result.verified else "no"),
        ("chisq", "-" if result.chisq is None else str(result.chisq)),
        ("components", ", ".join(result.device_components) or "-"),
        ("tags", ", ".join(result.tags) or "-"),
        ("created", local_time(result.creation_datetime)),
        ("updated", local_time(result.updated_datetime)),
        ("data", json.dumps(document["result_data"])),
    ]
    for name, value in rows:
        click.echo(f"{name + ':':<13}{value}")
