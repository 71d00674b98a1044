"""``qexp login`` and ``qexp logout``: the saved account."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .._config import DEFAULT_AUTH_URL, env_url
from .account import account_path, remove_account, write_account
from .options import Settings, json_option, pass_settings, run_connected
from .output import echo_json

if TYPE_CHECKING:
    from .._client import Provider

__all__ = ["login", "logout"]


@click.command()
@click.option(
    "--token",
    prompt="API token",
    hide_input=True,
    help="The API token (asked for, unechoed, when not given).",
)
@click.option("--url", help="The auth URL (default: --url or QEXP_URL, else IBM Quantum's).")
@click.option("--instance", help="The hub/group/project to work in (default: the account's).")
@click.option(
    "--verify/--no-verify",
    default=True,
    show_default=True,
    help="Log in first, and save only a token that works.",
)
@json_option
@pass_settings
def login(
    settings: Settings,
    token: str,
    url: str | None,
    instance: str | None,
    verify: bool,
    as_json: bool,
) -> None:
    """Save an account (token, URL, instance) for later commands, readable by you only."""
    if not token:
        raise click.UsageError("the token must not be empty")
    url = url or settings.url or env_url()
    user_id: str | None = None
    if verify:

        async def whoami(provider: Provider) -> str | None:
            return provider.account.user_id

        user_id = run_connected(token, url, instance, whoami, **settings.network())
    path = account_path()
    write_account(path, {"token": token, "url": url or "", "instance": instance or ""})
    if as_json:
        echo_json(
            {
                "url": url or DEFAULT_AUTH_URL,
                "instance": instance,
                "user_id": user_id,
                "verified": verify,
                "file": str(path),
            }
        )
        return
    who = f" as {user_id}" if user_id else ""
    click.echo(f"logged in to {url or DEFAULT_AUTH_URL}{who}; account saved to {path}")


@click.command()
@json_option
def logout(as_json: bool) -> None:
    """Remove the saved account."""
    path = account_path()
    removed = remove_account(path)
    if as_json:
        echo_json({"file": str(path), "removed": removed})
    elif removed:
        click.echo(f"removed {path}")
    else:
        click.echo(f"not logged in (no {path})")
