"""The provider: the one object a user holds."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import httpx

from ._auth import Account, HubGroupProject, login
from ._config import (
    DEFAULT_AUTH_URL,
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_TIMEOUT,
    RetryPolicy,
    StreamPolicy,
    env_token,
    env_url,
    load_preferences,
)
from ._config import preferences_path as default_preferences_path
from ._http import HttpSession, Secret, TransportName, check_transport
from ._service import ServiceContext
from ._tasks import TaskOwner
from ._version import __version__
from .errors import ClosedError, QexpError
from .experiment.service import ExperimentService
from .models._checks import require_int, require_str
from .runtime.service import RuntimeService

if TYPE_CHECKING:
    from .emulator import EmulatorConfig

__all__ = ["DEFAULT_AUTH_URL", "DEFAULT_TIMEOUT", "Provider"]


def _check_timeout(timeout: Any) -> None:
    if isinstance(timeout, httpx.Timeout):
        return
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(
            f"timeout must be seconds or an httpx.Timeout, not {type(timeout).__name__}"
        )
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")


class Provider:
    """An account on the IBM Quantum services, and the one connection pool its services share.

    Use it as an async context manager; leaving the block closes every connection::

        async with async_qexp.Provider(token=TOKEN) as provider:
            exp_id = await provider.experiment.create_experiment("T1", "ibmq_lima")

    Args:
        token: the API token; defaults to the ``QEXP_TOKEN`` environment variable.
        url: the auth URL; defaults to ``QEXP_URL``, then to IBM's (:data:`DEFAULT_AUTH_URL`).
        hub, group, project: the hub/group/project to work in (``group`` needs ``hub``,
            ``project`` needs both); by default the account's default one.
        instance: the same as ``"hub/group/project"``, in one string.
        timeout: seconds, or an ``httpx.Timeout``, for every request.
        retry: the retry policy (:class:`RetryPolicy`); ``RetryPolicy.none()`` disables retries.
        max_in_flight: the most requests in flight at once, across every service.
        transport: ``"aiohttp"`` (default, fastest), ``"httpx"`` (httpx's own pool), or any
            ``httpx.AsyncBaseTransport`` (tests pass a respx router wrapped in
            ``httpx.MockTransport``).
        preferences_path: where experiment preferences are saved (default
            ``~/.async_qexp/preferences.json``, or ``$QEXP_CONFIG_DIR/preferences.json``).
        stream_policy: how runtime result streams reconnect and keep alive.

    Raises:
        TypeError: for an argument of the wrong type.
        ValueError: for a missing token, a bad value or an inconsistent hub/group/project.
    """

    def __init__(
        self,
        token: str | None = None,
        url: str | None = None,
        *,
        hub: str | None = None,
        group: str | None = None,
        project: str | None = None,
        instance: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        transport: TransportName | httpx.AsyncBaseTransport | None = None,
        preferences_path: str | os.PathLike[str] | None = None,
        stream_policy: StreamPolicy | None = None,
    ) -> None:
        if token is None:
            token = env_token()
        if token is not None and not isinstance(token, str):
            raise TypeError(f"token must be a string, not {type(token).__name__}")
        if not token:
            raise ValueError("no API token: pass token=... or set QEXP_TOKEN")
        if url is not None and not isinstance(url, str):
            raise TypeError(f"url must be a string, not {type(url).__name__}")
        require_int(max_in_flight, "max_in_flight", minimum=1)
        for name, value in (("hub", hub), ("group", group), ("project", project)):
            if value is not None:
                require_str(value, name)
        _check_timeout(timeout)
        check_transport(transport)
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError(f"retry must be a RetryPolicy, not {type(retry).__name__}")
        if stream_policy is not None and not isinstance(stream_policy, StreamPolicy):
            raise TypeError(
                f"stream_policy must be a StreamPolicy, not {type(stream_policy).__name__}"
            )
        if instance is not None:
            if hub or group or project:
                raise ValueError("pass either instance or hub/group/project, not both")
            parsed = HubGroupProject.parse(instance)
            hub, group, project = parsed.hub, parsed.group, parsed.project
        if project and not (group and hub):
            raise ValueError("If project is specified, group and hub must also be specified.")
        if group and not hub:
            raise ValueError("If group is specified, hub must also be specified.")
        self._token = Secret(token)
        self._auth_url = (url or env_url() or DEFAULT_AUTH_URL).rstrip("/")
        self._wanted = (hub, group, project)
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        self._max_in_flight = max_in_flight
        self._transport = transport
        self._preferences_path = (
            Path(preferences_path) if preferences_path else default_preferences_path()
        )
        self._session: HttpSession | None = None
        self._tasks: TaskOwner | None = None
        self._account: Account | None = None
        self._hgp: HubGroupProject | None = None
        self._experiment: ExperimentService | None = None
        self._runtime: RuntimeService | None = None
        self._stream_policy = stream_policy or StreamPolicy()
        self._closed = False
        self.emulator: Any = None
        """The running emulator when the provider came from :meth:`local`, else ``None``."""

    def __repr__(self) -> str:
        state = "closed" if self._closed else "connected" if self._account else "not connected"
        return f"<Provider {self._auth_url} hgp={self._hgp} token=*** {state}>"

    # -- lifecycle -----------------------------------------------------------------------

    async def connect(self) -> Provider:
        """Log in and discover the services (``async with`` does this for you).

        Raises:
            AuthError: when the token is refused.
            RequestError: when the auth service cannot be reached.
            ClosedError: when the provider was closed.
        """
        if self._closed:
            raise ClosedError("the provider is closed; make a new one")
        if self._account is not None:
            return self
        session = HttpSession(
            transport=self._transport,
            timeout=self._timeout,
            retry=self._retry,
            max_in_flight=self._max_in_flight,
            user_agent=f"async_qexp/{__version__}",
        )
        self._session = session
        self._tasks = TaskOwner("provider")
        session.add_secret(self._token)
        try:
            _, account = await login(session, self._auth_url, self._token)
            self._hgp = self._select_hgp(account)
            preferences = await anyio.to_thread.run_sync(
                load_preferences, self._preferences_path, "experiment"
            )
        except BaseException:
            await self._shutdown()
            raise
        self._account = account
        context = ServiceContext(session, self._tasks, self._hgp)
        if account.resultsdb_url:
            self._experiment = ExperimentService(
                context,
                account.resultsdb_url,
                preferences_path=self._preferences_path,
                preferences=preferences,
            )
        if account.runtime_url:
            self._runtime = RuntimeService(
                context, account.runtime_url, stream_policy=self._stream_policy
            )
        return self

    def _select_hgp(self, account: Account) -> HubGroupProject | None:
        hub, group, project = self._wanted
        if not hub:
            return account.hgps[0] if account.hgps else None
        matches = [
            h
            for h in account.hgps
            if h.hub == hub
            and (not group or h.group == group)
            and (not project or h.project == project)
        ]
        if matches:
            return matches[0]
        if account.hgps:
            available = ", ".join(str(h) for h in account.hgps)
            raise ValueError(
                f"{hub}/{group or '*'}/{project or '*'} is not available; have: {available}"
            )
        if hub and group and project:
            return HubGroupProject(hub, group, project)
        return None

    async def aclose(self) -> None:
        """End everything the provider started, then close every connection.

        Pagers, result streams, runtime callbacks and the tasks of every ExperimentData
        attached to this provider are cancelled and awaited; anything used afterwards raises
        :class:`~async_qexp.errors.ClosedError`. Safe to call more than once.
        """
        self._closed = True
        await self._shutdown()

    async def _shutdown(self) -> None:
        tasks, self._tasks = self._tasks, None
        session, self._session = self._session, None
        try:
            if tasks is not None:
                await tasks.aclose()
        finally:
            if session is not None:
                await session.aclose()

    async def __aenter__(self) -> Provider:
        return await self.connect()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- what the user works with --------------------------------------------------------

    def _check_connected(self) -> None:
        if self._closed:
            raise ClosedError("the provider is closed")
        if self._account is None:
            raise QexpError("the provider is not connected: use 'async with Provider(...)'")

    @property
    def account(self) -> Account:
        """What login and discovery found (service URLs, user id, hub/group/projects)."""
        self._check_connected()
        assert self._account is not None
        return self._account

    @property
    def hgp(self) -> HubGroupProject | None:
        """The hub/group/project in use (new experiments are stored there)."""
        return self._hgp

    @property
    def experiment(self) -> ExperimentService:
        """The experiment service (resultsDB)."""
        account = self.account
        if self._experiment is None:
            raise QexpError(f"the account at {account.auth_url} has no experiment service")
        return self._experiment

    @property
    def runtime(self) -> RuntimeService:
        """The runtime service (programs and jobs)."""
        account = self.account
        if self._runtime is None:
            raise QexpError(f"the account at {account.auth_url} has no runtime service")
        return self._runtime

    @property
    def http(self) -> HttpSession:
        """The shared HTTP session (for advanced use: one pool, one retry policy, one bound)."""
        self._check_connected()
        assert self._session is not None
        return self._session

    @property
    def tasks(self) -> TaskOwner:
        """The owner of every background task this provider started (closed with it)."""
        self._check_connected()
        assert self._tasks is not None
        return self._tasks

    # -- the embedded emulator -----------------------------------------------------------

    @classmethod
    @contextlib.asynccontextmanager
    async def local(
        cls,
        token: str = "local-user",
        *,
        emulator: EmulatorConfig | None = None,
        **options: Any,
    ) -> AsyncIterator[Provider]:
        """Start the embedded emulator on a loopback port and connect a provider to it.

        ::

            async with async_qexp.Provider.local() as provider:
                print(await provider.experiment.backends())

        The emulator lives as long as the block, on a thread and event loop of its own, so
        its work never stalls the caller's loop. Needs the ``emulator`` extra
        (``pip install 'async_qexp[emulator]'``).

        Args:
            token: the API token to log in with (each token is its own user).
            emulator: the emulator's configuration (default: in-memory, no latency or faults).
            options: passed on to :class:`Provider` (timeout, retry, transport, ...).
        """
        try:
            from .emulator import serve_in_thread
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise ImportError(
                "the embedded emulator needs the 'emulator' extra: "
                "pip install 'async_qexp[emulator]'"
            ) from exc
        async with (
            serve_in_thread(emulator) as running,
            cls(token, running.url, **options) as provider,
        ):
            provider.emulator = running
            yield provider

    @classmethod
    @contextlib.asynccontextmanager
    async def auto(cls, **options: Any) -> AsyncIterator[Provider]:
        """The service named by ``QEXP_TOKEN``/``QEXP_URL`` if set, else the embedded emulator.

        What examples and notebooks want: the same code runs against IBM Quantum with a token
        in the environment, and locally without one. ``options`` go to :class:`Provider`.
        """
        if env_token():
            async with cls(**options) as provider:
                yield provider
        else:
            async with cls.local(**options) as provider:
                yield provider
