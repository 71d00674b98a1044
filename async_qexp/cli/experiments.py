"""``qexp experiments``: list, show and create experiments."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from .options import (
    Settings,
    all_option,
    json_object,
    json_option,
    limit_option,
    pass_settings,
    wide_option,
)
from .output import echo_json, echo_table, local_time, record_json, short_id

if TYPE_CHECKING:
    from .._client import Provider
    from ..models import Experiment

__all__ = ["experiments"]

SHARE_LEVELS = ("private", "project", "group", "hub", "public")


@click.group()
def experiments() -> None:
    """Experiments: list, show, create."""


@experiments.command("list")
@click.option("--backend", help="Only experiments on this backend.")
@click.option("--type", "experiment_type", help="Only experiments of this type.")
@click.option("--tag", "tags", multiple=True, help="Only experiments with this tag (repeatable).")
@click.option(
    "--tags-operator",
    type=click.Choice(["OR", "AND"], case_sensitive=False),
    default="OR",
    show_default=True,
    help="Whether any (OR) or every (AND) --tag must match.",
)
@click.option("--parent", "parent_id", help="Only the children of this experiment.")
@limit_option(10, "experiments")
@all_option("experiment")
@json_option
@wide_option
@pass_settings
def list_experiments(
    settings: Settings,
    backend: str | None,
    experiment_type: str | None,
    tags: tuple[str, ...],
    tags_operator: str,
    parent_id: str | None,
    limit: int,
    every: bool,
    as_json: bool,
    wide: bool,
) -> None:
    """List experiments, newest first."""

    async def fetch(provider: Provider) -> list[Experiment]:
        return await provider.experiment.experiments(
            limit=None if every else limit,
            backend_name=backend,
            experiment_type=experiment_type,
            tags=list(tags) or None,
            tags_operator=tags_operator.upper(),
            parent_id=parent_id,
        )

    found = settings.run(fetch)
    if as_json:
        echo_json([record_json(e) for e in found])
        return
    echo_table(
        ["ID", "TYPE", "BACKEND", "TAGS", "CREATED"],
        (
            [
                short_id(e.experiment_id, wide),
                e.experiment_type,
                e.backend_name,
                ",".join(e.tags) or "-",
                local_time(e.creation_datetime),
            ]
            for e in found
        ),
        empty="no experiments",
    )


@experiments.command("show")
@click.argument("experiment_id")
@json_option
@pass_settings
def show_experiment(settings: Settings, experiment_id: str, as_json: bool) -> None:
    """Show one experiment."""

    async def fetch(provider: Provider) -> Experiment:
        return await provider.experiment.experiment(experiment_id)

    experiment = settings.run(fetch)
    if as_json:
        echo_json(record_json(experiment))
        return
    e = experiment
    hgp = "/".join(part for part in (e.hub, e.group, e.project) if part) or "-"
    rows = [
        ("id", e.experiment_id),
        ("type", e.experiment_type),
        ("backend", e.backend_name),
        ("owner", e.owner or "-"),
        ("instance", hgp),
        ("share level", e.share_level.value if e.share_level else "-"),
        ("parent", e.parent_id or "-"),
        ("tags", ", ".join(e.tags) or "-"),
        ("jobs", ", ".join(e.job_ids) or "-"),
        ("figures", ", ".join(e.figure_names) or "-"),
        ("started", local_time(e.start_datetime)),
        ("ended", local_time(e.end_datetime)),
        ("created", local_time(e.creation_datetime)),
        ("updated", local_time(e.updated_datetime)),
        ("notes", e.notes or "-"),
        ("metadata", json.dumps(record_json(e)["metadata"]) if e.metadata else "-"),
    ]
    for name, value in rows:
        click.echo(f"{name + ':':<13}{value}")


@experiments.command("create")
@click.option("--type", "experiment_type", required=True, help="The experiment type, e.g. T1.")
@click.option("--backend", required=True, help="The backend it ran on.")
@click.option("--tag", "tags", multiple=True, help="A tag (repeatable).")
@click.option("--notes", help="Free-form notes.")
@click.option("--metadata", help="The metadata: a JSON object, or @FILE holding one.")
@click.option("--share-level", type=click.Choice(SHARE_LEVELS), help="Who can see it.")
@click.option("--parent", "parent_id", help="The parent experiment's id.")
@click.option("--id", "experiment_id", help="The id to give it (default: a new uuid4).")
@json_option
@pass_settings
def create_experiment(
    settings: Settings,
    experiment_type: str,
    backend: str,
    tags: tuple[str, ...],
    notes: str | None,
    metadata: str | None,
    share_level: str | None,
    parent_id: str | None,
    experiment_id: str | None,
    as_json: bool,
) -> None:
    """Create an experiment and print its id."""
    meta = json_object(metadata, "--metadata") if metadata is not None else None

    async def create(provider: Provider) -> str:
        return await provider.experiment.create_experiment(
            experiment_type,
            backend,
            metadata=meta,
            experiment_id=experiment_id,
            parent_id=parent_id,
            tags=list(tags),
            notes=notes,
            share_level=share_level,
        )

    created = settings.run(create)
    if as_json:
        echo_json({"experiment_id": created})
    else:
        click.echo(created)
