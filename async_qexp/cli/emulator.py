"""``qexp emulator ...``: the emulator's own command line (``python -m async_qexp.emulator``),
its arguments passed on as they are."""

from __future__ import annotations

import click

__all__ = ["emulator"]


@click.command(
    context_settings={
        "ignore_unknown_options": True,
        "allow_extra_args": True,
        "help_option_names": [],
    },
    add_help_option=False,
)
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def emulator(context: click.Context, arguments: tuple[str, ...]) -> None:
    """Run the local emulator of both services (arguments: see 'qexp emulator --help').

    It prints 'listening on http://HOST:PORT' once it accepts connections and stops on
    SIGINT or SIGTERM. Needs the 'emulator' extra.
    """
    try:
        from ..emulator.__main__ import main as emulator_main
    except ImportError as exc:
        raise click.ClickException(
            f"the emulator needs the 'emulator' extra (pip install 'async_qexp[emulator]'): {exc}"
        ) from exc
    context.exit(emulator_main(list(arguments), prog="qexp emulator"))
