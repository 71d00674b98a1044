"""Login and service discovery (``docs/protocol.md#login-and-service-discovery``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import attrs
import httpx

from ._config import DEFAULT_AUTH_URL
from ._http import HttpSession, Secret, parse_json
from ._logs import get_logger
from .errors import ApiError, AuthError, EntryNotFound, QexpError

__all__ = ["Account", "HubGroupProject", "login", "not_an_auth_url"]

logger = get_logger("async_qexp.auth")

_NOT_THERE = (404, 405, 501)
"""Statuses that say there is no login endpoint at the URL (not that the token is wrong)."""


@attrs.frozen
class HubGroupProject:
    """A hub/group/project an account can work in."""

    hub: str
    group: str
    project: str

    @classmethod
    def parse(cls, text: str) -> HubGroupProject:
        """Parse ``"hub/group/project"``.

        Raises:
            ValueError: when the text does not have three non-empty parts.
        """
        parts = text.split("/")
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"expected 'hub/group/project', got {text!r}")
        return cls(*parts)

    def __str__(self) -> str:
        return f"{self.hub}/{self.group}/{self.project}"


@attrs.frozen(kw_only=True)
class Account:
    """What login and discovery found out about the account.

    Attributes:
        auth_url: the auth URL logged in to.
        user_id: the user's id (``id`` of ``/users/me``), when the service says it.
        resultsdb_url: base URL of the experiment service, if this account has it.
        runtime_url: base URL of the runtime service, if this account has it.
        http_url: base URL of the classic API.
        ws_url: base URL of the classic websocket API.
        hgps: the hub/group/projects available, the default first (empty when unknown).
    """

    auth_url: str
    user_id: str | None
    resultsdb_url: str | None
    runtime_url: str | None
    http_url: str | None
    ws_url: str | None
    hgps: tuple[HubGroupProject, ...]


def _base(url: Any) -> str | None:
    return url.rstrip("/") if isinstance(url, str) and url else None


def not_an_auth_url(auth_url: str, what: str) -> str:
    """The message of a login at a URL that does not look like an auth URL: what happened
    (``what``), and what an auth URL looks like."""
    parts = urlsplit(auth_url)
    guess = f"{parts.scheme}://{parts.netloc}/api"
    hint = f" (did you mean {guess}?)" if parts.netloc and guess != auth_url else ""
    return (
        f"{auth_url} does not look like an IBM Quantum auth URL{hint}: {what}. An auth URL is "
        f"where POST /users/loginWithToken logs in, such as {DEFAULT_AUTH_URL} (the default) "
        "or an emulator's base URL, http://127.0.0.1:8765 (with or without /api)"
    )


def _login_answer(response: httpx.Response, auth_url: str) -> str:
    """The access token of a login answer.

    Raises:
        AuthError: when the answer is no login answer (not JSON, or no ``id``).
    """
    login_url = f"{auth_url}/users/loginWithToken"
    try:
        body = parse_json(response)
    except ApiError as exc:
        kind = response.headers.get("Content-Type", "").split(";")[0] or "not JSON"
        raise exc.recast(
            AuthError,
            not_an_auth_url(auth_url, f"POST {login_url} answered {kind}, not a login answer"),
        ) from exc
    access = body.get("id") if isinstance(body, dict) else None
    if not isinstance(access, str) or not access:
        raise AuthError(
            "the auth service did not return an access token "
            f"({not_an_auth_url(auth_url, 'its login answer has no id')})",
            status=response.status_code,
            method="POST",
            url=login_url,
            headers=response.headers.multi_items(),
        )
    return access


async def login(session: HttpSession, auth_url: str, token: Secret) -> tuple[Secret, Account]:
    """Log in with an API token and discover the service URLs.

    Returns the access token and the account description.

    Raises:
        AuthError: when the token is refused, or when ``auth_url`` does not look like an auth
            URL (its login endpoint is not there, or answers something else than a login
            answer: the message says what an auth URL looks like).
        ApiError: when the auth service answers something unusable.
    """
    login_url = f"{auth_url}/users/loginWithToken"
    try:
        response = await session.request(
            "POST", login_url, json_body={"apiToken": token.get()}, replay_safe=True
        )
    except ApiError as exc:
        if exc.status not in _NOT_THERE:
            raise
        what = f"POST {login_url} answered {exc.status}"
        if isinstance(exc, EntryNotFound):
            what += " Not Found"
        raise exc.recast(AuthError, not_an_auth_url(auth_url, what)) from exc
    access_token = Secret(_login_answer(response, auth_url))
    session.set_access_token(access_token, [auth_url])

    me = await session.get_json(f"{auth_url}/users/me")
    urls = me.get("urls") if isinstance(me, dict) else None
    if not isinstance(me, dict) or not isinstance(urls, dict):
        raise ApiError("/users/me did not describe the service URLs", status=200, url=auth_url)
    services: dict[str, Any] = urls.get("services") or {}
    if not isinstance(services, dict):
        services = {}
    resultsdb = _base(services.get("resultsDB"))
    runtime = _base(services.get("runtime"))
    http_url = _base(urls.get("http"))
    for url in (resultsdb, runtime, http_url):
        if url:
            session.add_token_origin(url)

    hgps: tuple[HubGroupProject, ...] = ()
    if http_url:
        try:
            hgps = _flatten_network(await session.get_json(f"{http_url}/Network"))
        except QexpError as exc:
            logger.info("hub/group/project listing unavailable: %s", exc)
    user_id = me.get("id") if isinstance(me.get("id"), str) else None
    account = Account(
        auth_url=auth_url,
        user_id=user_id,
        resultsdb_url=resultsdb,
        runtime_url=runtime,
        http_url=http_url,
        ws_url=_base(urls.get("ws")),
        hgps=hgps,
    )
    logger.info(
        "logged in to %s as %s: experiment service %s, runtime %s, %d hub/group/project(s)",
        auth_url,
        user_id or "an unnamed user",
        resultsdb or "none",
        runtime or "none",
        len(hgps),
    )
    return access_token, account


def _flatten_network(tree: Any) -> tuple[HubGroupProject, ...]:
    """Flatten the ``/Network`` hub tree; the default hub/group/project goes first."""
    if not isinstance(tree, list):
        raise QexpError("unexpected /Network response")
    found: list[tuple[bool, HubGroupProject]] = []
    for hub in tree:
        if not isinstance(hub, dict):
            continue
        groups = hub.get("groups") or {}
        for group_name, group in groups.items():
            projects = (group or {}).get("projects") or {}
            for project_name, project in projects.items():
                is_default = bool((project or {}).get("isDefault"))
                found.append(
                    (is_default, HubGroupProject(str(hub.get("name")), group_name, project_name))
                )
    found.sort(key=lambda item: not item[0])  # stable: defaults first, order kept otherwise
    return tuple(hgp for _, hgp in found)
