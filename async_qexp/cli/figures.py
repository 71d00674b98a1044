"""``qexp figures``: list and download an experiment's figures."""

from __future__ import annotations

import sys
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import click

from .options import Settings, json_option, pass_settings
from .output import echo_json

if TYPE_CHECKING:
    from .._client import Provider

__all__ = ["figures"]


@click.group()
def figures() -> None:
    """An experiment's figures: list, get."""


@figures.command("list")
@click.argument("experiment_id")
@json_option
@pass_settings
def list_figures(settings: Settings, experiment_id: str, as_json: bool) -> None:
    """List the names of an experiment's figures."""

    async def fetch(provider: Provider) -> list[str]:
        return list((await provider.experiment.experiment(experiment_id)).figure_names)

    names = settings.run(fetch)
    if as_json:
        echo_json(names)
    elif names:
        for name in names:
            click.echo(name)
    else:
        click.echo("no figures")


@figures.command("get")
@click.argument("experiment_id")
@click.argument("name")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Where to write it ('-' for stdout; default: the figure's name, in this directory).",
)
@json_option
@pass_settings
def get_figure(
    settings: Settings, experiment_id: str, name: str, output: str | None, as_json: bool
) -> None:
    """Download a figure (an existing file is overwritten)."""
    target = output or PurePosixPath(name).name
    if not target or target in (".", ".."):
        raise click.UsageError(f"cannot make a file name of {name!r}; pass --output")

    async def fetch(provider: Provider) -> bytes:
        data = await provider.experiment.figure(experiment_id, name)
        assert isinstance(data, bytes)
        return data

    data = settings.run(fetch)
    if target == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    Path(target).write_bytes(data)
    if as_json:
        echo_json(
            {"experiment_id": experiment_id, "name": name, "file": target, "bytes": len(data)}
        )
    else:
        click.echo(f"wrote {len(data)} bytes to {target}")
