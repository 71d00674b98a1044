"""The provider: the one object a user holds."""

from __future__ import annotations

import os
import ssl
import weakref
from collections.abc import Awaitable, Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio
import httpx

from ._auth import Account, HubGroupProject, login
from ._config import (
    DEFAULT_AUTH_URL,
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_TIMEOUT,
    RetryPolicy,
    StreamPolicy,
    configure_logging_from_env,
    env_token,
    env_url,
    load_preferences,
)
from ._config import preferences_path as default_preferences_path
from ._http import HttpSession, Secret, TransportName, check_transport
from ._lifetime import Held, watch
from ._limit import MAX_CEILING, ConcurrencySnapshot
from ._logs import get_logger, install_redaction
from ._network import Network
from ._service import ServiceContext
from ._tasks import TaskOwner
from ._version import __version__
from .errors import ClosedError, NotStartedError, QexpError
from .experiment.service import ExperimentService
from .models._checks import require_int, require_str
from .runtime.service import RuntimeService

if TYPE_CHECKING:
    from .emulator import EmulatorConfig

__all__ = [
    "DEFAULT_AUTH_URL",
    "DEFAULT_LOCAL_TOKEN",
    "DEFAULT_TIMEOUT",
    "PendingProvider",
    "Provider",
]

logger = get_logger("async_qexp")

DEFAULT_LOCAL_TOKEN = "local-user"
"""The token :meth:`Provider.local` logs in with (any token is a user of the emulator)."""

IN_MEMORY_WARNING = (
    "Provider.auto(): QEXP_TOKEN is not set, so this provider runs on the embedded emulator "
    "with an in-memory database: whatever is saved there is lost when the process exits. To "
    "keep it, give the emulator a database file: "
    "Provider.auto(emulator=EmulatorConfig(db='qexp.sqlite')) "
    "(from async_qexp.emulator import EmulatorConfig), or serve one with "
    "'python -m async_qexp.emulator --db qexp.sqlite' and set QEXP_URL=http://127.0.0.1:8765 "
    "and QEXP_TOKEN (any value). Set QEXP_TOKEN (and QEXP_URL) to use IBM Quantum."
)
"""What :meth:`Provider.auto` logs at WARNING, once per process, when it falls back to an
in-memory emulator."""

_in_memory_warned = False


def _warn_in_memory(config: EmulatorConfig | None) -> None:
    global _in_memory_warned
    if (config is None or config.db is None) and not _in_memory_warned:
        _in_memory_warned = True
        logger.warning(IN_MEMORY_WARNING)


def _check_timeout(timeout: Any) -> None:
    if isinstance(timeout, httpx.Timeout):
        return
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(
            f"timeout must be seconds or an httpx.Timeout, not {type(timeout).__name__}"
        )
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")


def _check_max_in_flight(max_in_flight: Any, ceiling: Any) -> None:
    if isinstance(max_in_flight, str):
        if max_in_flight != "auto":
            raise ValueError(f"max_in_flight must be 'auto' or an int, not {max_in_flight!r}")
    elif isinstance(max_in_flight, bool) or not isinstance(max_in_flight, int):
        raise TypeError(
            f"max_in_flight must be 'auto' or an int, not {type(max_in_flight).__name__}"
        )
    elif not 1 <= max_in_flight <= MAX_CEILING:
        raise ValueError(f"max_in_flight must be from 1 to {MAX_CEILING}, not {max_in_flight}")
    if ceiling is None:
        return
    require_int(ceiling, "max_in_flight_ceiling")
    if not 1 <= ceiling <= MAX_CEILING:
        raise ValueError(f"max_in_flight_ceiling must be from 1 to {MAX_CEILING}, not {ceiling}")
    if max_in_flight != "auto":
        raise ValueError(
            "max_in_flight_ceiling bounds max_in_flight='auto'; with a fixed max_in_flight, "
            "leave it out"
        )


class Provider:
    """An account on the IBM Quantum services, and the one connection pool its services share.

    Use it as an async context manager; leaving the block closes every connection::

        async with async_qexp.Provider(token=TOKEN) as provider:
            exp_id = await provider.experiment.create_experiment("T1", "ibmq_lima")

    or connect it, keep it (across notebook cells), and close it with one call::

        provider = await async_qexp.Provider(token=TOKEN).connect()
        ...
        await provider.aclose()

    A provider dropped without :meth:`aclose` (collected, or still open when the interpreter
    exits) has its connections, tasks and emulator released then, quietly; closing it is
    still the way to know when that happens.

    Args:
        token: the API token; defaults to the ``QEXP_TOKEN`` environment variable.
        url: the auth URL; defaults to ``QEXP_URL``, then to IBM's (:data:`DEFAULT_AUTH_URL`).
        hub, group, project: the hub/group/project to work in (``group`` needs ``hub``,
            ``project`` needs both); by default the account's default one.
        instance: the same as ``"hub/group/project"``, in one string.
        timeout: seconds, or an ``httpx.Timeout``, for every request.
        retry: the retry policy (:class:`RetryPolicy`); ``RetryPolicy.none()`` disables retries.
        max_in_flight: the most requests in flight at once, across every service:
            ``"auto"`` (the default) lets the bound find the server's pace by itself, from 64
            up to ``max_in_flight_ceiling``: it grows while latency stays flat and nothing is
            refused, backs off on 429, 503 and timeouts, and a ``Retry-After`` pauses every
            request, not only the one that got it; an int from 1 to 1024 fixes the bound
            (``Retry-After`` still pauses every request). :attr:`concurrency` shows it.
        max_in_flight_ceiling: with ``max_in_flight="auto"``, the most the bound may grow
            to, from 1 to 1024 (default 1024); the connection pool holds that many.
        transport: ``"aiohttp"`` (default, fastest), ``"httpx"`` (httpx's own pool), or any
            ``httpx.AsyncBaseTransport`` (tests pass a respx router wrapped in
            ``httpx.MockTransport``).
        preferences_path: where experiment preferences are saved (default
            ``~/.async_qexp/preferences.json``, or ``$QEXP_CONFIG_DIR/preferences.json``).
        stream_policy: how runtime result streams reconnect and keep alive.
        trust_env: read the proxies (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, and
            ``NO_PROXY`` for the hosts to reach directly) and the TLS trust (``SSL_CERT_FILE``,
            ``SSL_CERT_DIR``) from the environment, as httpx and requests do. Loopback hosts
            (a local emulator) never go through a proxy from the environment.
        proxy: a proxy for every request and result stream, instead of the environment's:
            ``"http://user:password@proxy.example:3128"`` or an ``httpx.Proxy``. Requests to
            ``http://`` URLs are forwarded by it, everything else is tunnelled (``CONNECT``).
        verify: how servers' TLS certificates are checked: ``True`` (certifi's CA bundle, or
            ``SSL_CERT_FILE``/``SSL_CERT_DIR`` with ``trust_env``), the path of a CA bundle
            (or of a directory of hashed certificates) to trust instead, an
            ``ssl.SSLContext``, or ``False`` (not at all; logged at WARNING). A certificate
            that does not verify fails the request at once with a
            :class:`~async_qexp.errors.RequestError` saying so, without retries. With a
            ``transport`` instance, ``proxy`` and ``verify`` apply to result streams only.

    Raises:
        TypeError: for an argument of the wrong type.
        ValueError: for a missing token, a bad value or an inconsistent hub/group/project,
            a proxy that is not an ``http://`` or ``https://`` URL (one from the environment
            too), or a ``verify`` path that does not exist.
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
        max_in_flight: int | Literal["auto"] = DEFAULT_MAX_IN_FLIGHT,
        max_in_flight_ceiling: int | None = None,
        transport: TransportName | httpx.AsyncBaseTransport | None = None,
        preferences_path: str | os.PathLike[str] | None = None,
        stream_policy: StreamPolicy | None = None,
        trust_env: bool = True,
        proxy: str | httpx.Proxy | None = None,
        verify: bool | str | os.PathLike[str] | ssl.SSLContext = True,
    ) -> None:
        configure_logging_from_env()
        install_redaction()
        if token is None:
            token = env_token()
        if token is not None and not isinstance(token, str):
            raise TypeError(f"token must be a string, not {type(token).__name__}")
        if not token:
            raise ValueError("no API token: pass token=... or set QEXP_TOKEN")
        if url is not None and not isinstance(url, str):
            raise TypeError(f"url must be a string, not {type(url).__name__}")
        _check_max_in_flight(max_in_flight, max_in_flight_ceiling)
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
        network = Network(trust_env=trust_env, proxy=proxy, verify=verify)
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
        self._max_in_flight_ceiling = max_in_flight_ceiling
        self._transport = transport
        self._network = network
        self._preferences_path = (
            Path(preferences_path) if preferences_path else default_preferences_path()
        )
        self._held = Held()
        self._finalizer: weakref.finalize[Any, Any] | None = None
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
        where = " (embedded emulator)" if self.emulator is not None else ""
        return f"<Provider {self._auth_url}{where} hgp={self._hgp} token=*** {state}>"

    @property
    def _session(self) -> HttpSession | None:
        return self._held.session

    @property
    def _tasks(self) -> TaskOwner | None:
        return self._held.tasks

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
            max_in_flight_ceiling=self._max_in_flight_ceiling,
            user_agent=f"async_qexp/{__version__}",
            network=self._network,
        )
        tasks = TaskOwner("provider")
        await self._held.hold(session, tasks)
        if self._finalizer is None:
            self._finalizer = watch(self, self._held)
        session.add_secret(self._token)
        http_logger = get_logger("async_qexp.http")
        http_logger.debug("network of the provider for %s: %s", self._auth_url, self._network)
        if self._network.verify is False:
            http_logger.warning(
                "TLS certificates are not verified (verify=False): anyone on the network "
                "path to %s can read and change this provider's traffic",
                self._auth_url,
            )
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
        context = ServiceContext(session, tasks, self._hgp)
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
        attached to this provider are cancelled and awaited, and the embedded emulator of a
        provider from :meth:`local` (or :meth:`auto`) is stopped; anything used afterwards
        raises :class:`~async_qexp.errors.ClosedError`. Safe to call more than once.
        """
        self._closed = True
        await self._held.aclose()

    async def _shutdown(self) -> None:
        """After a failed connect: close the session and tasks (the emulator, if any, stays
        until :meth:`aclose`)."""
        thread, self._held.emulator_thread = self._held.emulator_thread, None
        try:
            await self._held.aclose()
        finally:
            self._held.emulator_thread = thread

    async def __aenter__(self) -> Provider:
        return await self.connect()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- what the user works with --------------------------------------------------------

    def _check_connected(self) -> None:
        if self._closed:
            raise ClosedError("the provider is closed")
        if self._account is None:
            raise NotStartedError(
                "the provider is not connected: 'await provider.connect()' (then "
                "'await provider.aclose()'), or 'async with Provider(...) as provider:'"
            )

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
    def concurrency(self) -> ConcurrencySnapshot:
        """The bound on requests in flight now, read-only: its limit, the requests in flight
        and waiting, the refusals (429, 503) and timeouts so far, and any ``Retry-After``
        pause under way (:class:`~async_qexp.ConcurrencySnapshot`)."""
        return self.http.concurrency

    @property
    def tasks(self) -> TaskOwner:
        """The owner of every background task this provider started (closed with it)."""
        self._check_connected()
        assert self._tasks is not None
        return self._tasks

    # -- the embedded emulator -----------------------------------------------------------

    @classmethod
    def local(
        cls,
        token: str = DEFAULT_LOCAL_TOKEN,
        *,
        emulator: EmulatorConfig | None = None,
        **options: Any,
    ) -> PendingProvider:
        """A provider connected to the embedded emulator, started on a loopback port.

        Await it to start it and keep it (a notebook keeps it across cells), and close it with
        one call, which stops the emulator too; or use it as an async context manager::

            provider = await async_qexp.Provider.local()
            print(await provider.experiment.backends())
            await provider.aclose()

            async with async_qexp.Provider.local() as provider:
                ...

        The emulator runs on a thread and event loop of its own, so its work never stalls the
        caller's loop, until the provider is closed. Its database is in memory unless
        ``emulator`` names a file (``EmulatorConfig(db="qexp.sqlite")``). Needs the
        ``emulator`` extra (``pip install 'async_qexp[emulator]'``).

        Args:
            token: the API token to log in with (each token is its own user).
            emulator: the emulator's configuration (default: in-memory, no latency or faults).
            options: passed on to :class:`Provider` (timeout, retry, transport, proxy,
                verify, trust_env, ...).
        """

        def start() -> Awaitable[Provider]:
            return cls._start_local(token, emulator, options)

        return PendingProvider(start, "Provider.local()")

    @classmethod
    async def _start_local(
        cls, token: str, config: EmulatorConfig | None, options: dict[str, Any]
    ) -> Provider:
        try:
            from .emulator import serve_in_thread
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise ImportError(
                "the embedded emulator needs the 'emulator' extra: "
                "pip install 'async_qexp[emulator]'"
            ) from exc
        thread = serve_in_thread(config)
        try:
            running = await anyio.to_thread.run_sync(thread.start)
            provider = cls(token, running.url, **options)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(thread.stop)
            raise
        provider.emulator = running
        provider._held.emulator_thread = thread
        try:
            await provider.connect()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await provider.aclose()
            raise
        return provider

    @classmethod
    def auto(cls, *, emulator: EmulatorConfig | None = None, **options: Any) -> PendingProvider:
        """The service named by ``QEXP_TOKEN``/``QEXP_URL`` if set, else the embedded emulator.

        What examples and notebooks want: the same code runs against IBM Quantum with a token
        in the environment, and locally without one. Started and closed as :meth:`local`
        (``provider = await Provider.auto()``, or ``async with``). Without a token, and
        without a database file in ``emulator``, it logs at WARNING (once per process) that
        what is saved is lost at exit, and how to keep it (:data:`IN_MEMORY_WARNING`).

        Args:
            emulator: the emulator's configuration, used only without ``QEXP_TOKEN``.
            options: passed on to :class:`Provider`.
        """

        async def start() -> Provider:
            if env_token():
                return await cls(**options).connect()
            _warn_in_memory(emulator)
            local = dict(options)
            token = local.pop("token", DEFAULT_LOCAL_TOKEN)
            return await cls._start_local(token, emulator, local)

        return PendingProvider(start, "Provider.auto()")


_PROVIDER_NAMES = frozenset(
    {name for name in dir(Provider) if not name.startswith("_")} | {"emulator"}
)


class PendingProvider:
    """A provider that starts when it is awaited or entered: what :meth:`Provider.local` and
    :meth:`Provider.auto` return.

    ::

        provider = await Provider.local()          # started; kept (across notebook cells)
        await provider.aclose()                    # closed, emulator stopped: one call

        provider = await Provider.local().start()  # the same, by name

        async with Provider.local() as provider:   # closed when the block ends
            ...

    It starts once. Before it is started it has none of the provider's attributes: using one
    raises :class:`~async_qexp.errors.NotStartedError`, which says how to start it.
    """

    def __init__(self, start: Callable[[], Awaitable[Provider]], name: str) -> None:
        """Wrap ``start`` (which makes and connects the provider); ``name`` is how the user
        made it, for messages (``"Provider.local()"``)."""
        self._start = start
        self._name = name
        self._state = "not started"
        self._entered: Provider | None = None

    def __repr__(self) -> str:
        return f"<PendingProvider {self._name}: {self._state}>"

    async def start(self) -> Provider:
        """Start the provider (and its emulator, if any) and return it, connected.

        Raises:
            RuntimeError: when this was started before (call ``Provider.local()`` again for
                another provider).
            AuthError, RequestError: as :meth:`Provider.connect`.
        """
        if self._state != "not started":
            raise RuntimeError(
                f"{self._name} was {self._state} already; call {self._name} again "
                "for another provider"
            )
        self._state = "starting"
        try:
            provider = await self._start()
        except BaseException:
            self._state = "not started"
            raise
        self._state = "started"
        return provider

    def __await__(self) -> Generator[Any, None, Provider]:
        return self.start().__await__()

    async def __aenter__(self) -> Provider:
        self._entered = await self.start()
        return self._entered

    async def __aexit__(self, *exc_info: object) -> None:
        provider, self._entered = self._entered, None
        if provider is not None:
            await provider.aclose()

    def __getattr__(self, name: str) -> Any:
        if name in _PROVIDER_NAMES:
            if self._state == "started":
                raise NotStartedError(
                    f"{self._name} was started: use the Provider it gave "
                    f"('provider = await {self._name}'), not {self._name} itself "
                    f"(so 'provider.{name}')"
                )
            raise NotStartedError(
                f"{self._name} is not started yet, so it has no {name!r}: start it with "
                f"'provider = await {self._name}' (and 'await provider.aclose()' when done), "
                f"or use 'async with {self._name} as provider:'"
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
