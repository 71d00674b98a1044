"""What every ``qexp`` command shares: the global settings, the options repeated on many
commands, and running a command's coroutine on a connected :class:`~async_qexp.Provider`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import click

from .._config import env_token, env_url
from .account import account_path, read_account

if TYPE_CHECKING:
    from .._client import Provider

__all__ = [
    "Settings",
    "all_option",
    "json_object",
    "json_option",
    "limit_option",
    "pass_settings",
    "run_connected",
    "wide_option",
]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

NO_TOKEN = (
    "no API token: run 'qexp login --token TOKEN [--url URL]', set QEXP_TOKEN, or pass "
    "--token (for a local emulator: start 'qexp emulator' and pass --url http://127.0.0.1:8765)"
)


@attrs.define
class Settings:
    """The root command's options, shared by every command (``click``'s context object).

    Attributes:
        token: ``--token`` (never printed).
        url: ``--url``.
        instance: ``--instance`` (``hub/group/project``).
        debug: ``--debug``: errors show their traceback, and the library logs at DEBUG.
        quiet: ``--quiet``: no progress bars, and no warnings.
        proxy: ``--proxy``: the proxy of every request (else the environment's).
        ca_file: ``--ca-file``: the CA bundle to trust (else certifi's, or ``SSL_CERT_FILE``).
    """

    token: str | None = attrs.field(default=None, repr=False)
    url: str | None = None
    instance: str | None = None
    debug: bool = False
    quiet: bool = False
    proxy: str | None = attrs.field(default=None, repr=False)
    ca_file: str | None = None

    def network(self) -> dict[str, Any]:
        """The provider's ``proxy`` and ``verify`` options from ``--proxy`` and
        ``--ca-file`` (only those given)."""
        options: dict[str, Any] = {}
        if self.proxy:
            options["proxy"] = self.proxy
        if self.ca_file:
            options["verify"] = self.ca_file
        return options

    def credentials(self) -> tuple[str, str | None, str | None]:
        """``(token, url, instance)``: the token and the URL each from its flag, else its
        environment variable, else the account file of ``qexp login``; the instance from
        ``--instance``, else the account file's when its token is the one used. ``url=None``
        means IBM's auth URL.

        Raises:
            click.ClickException: when no token is configured anywhere.
            ValueError: for an account file that cannot be read.
        """
        token = self.token or env_token()
        url = self.url or env_url()
        account: dict[str, str] = {}
        if not token or not url:
            account = read_account(account_path())
        instance = self.instance
        if not token:
            token = account.get("token")
            instance = instance or account.get("instance")
        if not token:
            raise click.ClickException(NO_TOKEN)
        return token, url or account.get("url"), instance

    def run(self, command: Callable[[Provider], Awaitable[T]]) -> T:
        """Connect a provider with :meth:`credentials`, run ``command(provider)`` on it, and
        close it: one ``asyncio.run``."""
        return run_connected(*self.credentials(), command, **self.network())


def run_connected(
    token: str,
    url: str | None,
    instance: str | None,
    command: Callable[[Provider], Awaitable[T]],
    **network: Any,
) -> T:
    """Connect a provider, run ``command(provider)`` on it, and close it: one
    ``asyncio.run``. ``network`` holds the provider's ``proxy`` and ``verify``, if given."""

    async def main() -> T:
        from .._client import Provider

        async with Provider(token, url, instance=instance, **network) as provider:
            return await command(provider)

    return asyncio.run(main())


def json_object(text: str, what: str) -> dict[str, Any]:
    """``text`` parsed as a JSON object, or the contents of the file ``@path``.

    Raises:
        click.BadParameter: for anything else.
    """
    if text.startswith("@"):
        try:
            with open(text[1:], encoding="utf-8") as file:
                text = file.read()
        except OSError as exc:
            raise click.BadParameter(f"cannot read {text[1:]}: {exc.strerror}") from None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise click.BadParameter(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise click.BadParameter(f"{what} must be a JSON object, not {type(value).__name__}")
    return value


pass_settings = click.make_pass_decorator(Settings, ensure=True)
"""Pass the :class:`Settings` as a command's first argument."""


def json_option(function: F) -> F:
    """``--json``: write JSON (one document, or JSON lines for streams) instead of text."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Write JSON (one document; JSON lines for streams) for jq and scripts.",
    )(function)


def wide_option(function: F) -> F:
    """``--wide``: whole ids in tables."""
    return click.option("--wide", "-w", is_flag=True, help="Show whole ids in tables.")(function)


def limit_option(default: int, what: str) -> Callable[[F], F]:
    """``--limit N`` (at least 1)."""
    return click.option(
        "--limit",
        "-n",
        type=click.IntRange(min=1),
        default=default,
        show_default=True,
        help=f"The most {what} to list.",
    )


def all_option(what: str) -> Callable[[F], F]:
    """``--all``: every match, page by page (``--limit`` is ignored)."""
    return click.option("--all", "every", is_flag=True, help=f"List every {what} (no limit).")
