"""The shared state of one emulator instance."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from urllib.parse import quote

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.types import Scope

from ._util import HTTPProblem
from .config import DEFAULT_HGP, EmulatorConfig, UserSpec, exposure_problem, is_loopback
from .faults import FaultSettings, RequestLog
from .queries import Principal
from .store import Row, Store

__all__ = ["Capacity", "EmulatorState", "state_of"]


_LOCAL_USER = "at"
"""The prefix of an access token of a users-file user or of open mode (a database without
users)."""
_DB_USER = "ad"
"""The prefix of an access token of a user kept in the database."""
_VERIFIED_TOKENS = 4096
"""How many checked access tokens :class:`EmulatorState` remembers (then it starts over)."""
_PRINCIPAL = "async_qexp.principal"
"""The scope key under which :meth:`EmulatorState.identify` keeps the caller."""


def _split_hgp(hgp: str) -> tuple[str, str, str]:
    h, g, p = hgp.split("/")
    return h, g, p


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def state_of(conn: HTTPConnection) -> EmulatorState:
    """The emulator state of the app serving a request or websocket."""
    state: EmulatorState = conn.app.state.emu
    return state


class Capacity:
    """A finite capacity (``EmulatorConfig.capacity``): ``size`` requests served at once,
    ``queue`` more waiting, the rest refused (429 with ``Retry-After: retry_after``)."""

    def __init__(self, size: int, queue: int, retry_after: float) -> None:
        self.size = size
        self.queue = queue
        self.retry_after = retry_after
        self.load = 0
        """Requests being served or waiting now."""
        self.peak = 0
        """The most requests served or waiting at once so far."""
        self.refused = 0
        """Requests answered 429 for lack of capacity so far."""
        self._slots: asyncio.Semaphore | None = None

    def admit(self) -> bool:
        """Whether a new request may be served or wait (it then counts in :attr:`load`)."""
        if self.load >= self.size + self.queue:
            self.refused += 1
            return False
        self.load += 1
        self.peak = max(self.peak, self.load)
        return True

    @property
    def slots(self) -> asyncio.Semaphore:
        """The places where requests are served (made on the server's loop)."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.size)
        return self._slots


class EmulatorState:
    """Config, store, secrets, live faults and the request log of one emulator.

    Create it with :meth:`create`, which reads the secrets from the store.
    """

    def __init__(
        self, config: EmulatorConfig, store: Store, token_key: bytes, upload_key: bytes
    ) -> None:
        """Use :meth:`create`."""
        self.config = config
        self.store = store
        self.faults: FaultSettings = config.faults.copy()
        self.request_log = RequestLog(config.request_log_size)
        self.token_key = token_key
        self.upload_key = upload_key
        # Access tokens whose MAC was checked, with their kind and user: a MAC is checked
        # once per token, while the user behind it is still looked up on every request.
        self._verified: dict[str, tuple[str, str]] = {}
        self._lookups: dict[str, asyncio.Future[tuple[bool, Row | None]]] = {}
        self.users_by_token: dict[str, UserSpec] | None = (
            None if config.users is None else {u.token: u for u in config.users}
        )
        self.users_by_id: dict[str, UserSpec] | None = (
            None if config.users is None else {u.id: u for u in config.users}
        )
        self.devices = config.devices
        self.latency_ms: float = config.latency_ms
        self.capacity: Capacity | None = (
            None
            if config.capacity is None
            else Capacity(
                config.capacity,
                config.capacity if config.capacity_queue is None else config.capacity_queue,
                config.capacity_retry_after,
            )
        )
        self.runtime: object | None = None
        """The runtime service's ``RuntimeManager`` while it is served, else ``None`` (typed
        loosely: the runtime package depends on this module, not the other way round)."""
        self.shutting_down = False
        """Set when the server begins to stop: ``/ready`` then answers 503."""

    @classmethod
    async def create(cls, config: EmulatorConfig, store: Store) -> EmulatorState:
        """The state of an emulator on ``store`` (its secrets are created on first use).

        Raises:
            ValueError: ``config`` listens beyond loopback without a users file, on a database
                without users, and without ``accept_remote_risk`` (see
                :func:`~.config.exposure_problem`).
        """
        if config.users is None and not is_loopback(config.host):
            # Without a users file the database decides who logs in: exposed, it needs users.
            problem = exposure_problem(config, users_in_db=bool(await store.list_users()))
            if problem is not None and not config.accept_remote_risk:
                raise ValueError(problem)
        token_key = await store.secret("access-token")
        upload_key = await store.secret("signed-upload")
        return cls(config, store, token_key, upload_key)

    # -- users and tokens ----------------------------------------------------------------
    #
    # Who may log in: with a users file (``config.users``), its users, as written; without
    # one, the database decides on every login and every request: once it has users (revoked
    # ones count), only their API tokens log in, and an access token works while its user is
    # neither revoked nor (for one made before the database had users) outnumbered by them;
    # while it has none, any API token logs in as its own user (open mode).

    async def login(self, api_token: str) -> tuple[str, str] | None:
        """``(access token, user id)`` for an API token, or ``None`` if it may not log in.

        Raises:
            Unavailable: the database cannot be reached.
        """
        if self.users_by_token is not None:
            spec = self.users_by_token.get(api_token)
            return None if spec is None else (self._access_token(spec.id), spec.id)
        has_users, user = await self.store.user_by_token(api_token)
        if user is not None:
            user_id: str = user["id"]
            return self._access_token(user_id, _DB_USER), user_id
        if has_users:
            return None
        digest = hashlib.sha256(api_token.encode("utf-8", "surrogatepass")).hexdigest()
        user_id = "user-" + digest[:16]
        return self._access_token(user_id), user_id

    def _access_token(self, user_id: str, kind: str = _LOCAL_USER) -> str:
        payload = _b64(user_id.encode())
        domain = b"access\0" if kind == _LOCAL_USER else b"access-db\0"
        mac = hmac.new(self.token_key, domain + user_id.encode(), hashlib.sha256)
        return f"{kind}.{payload}.{mac.hexdigest()[:40]}"

    async def principal_for(self, access_token: str | None) -> Principal | None:
        """The user of a valid access token, else ``None``.

        Raises:
            Unavailable: the database cannot be reached.
        """
        if not access_token:
            return None
        verified = self._verified.get(access_token)
        if verified is not None:
            kind, user_id = verified
        else:
            kind, _, rest = access_token.partition(".")
            if kind not in (_LOCAL_USER, _DB_USER):
                return None
            try:
                payload, _mac = rest.split(".")
                user_id = _unb64(payload).decode()
            except (ValueError, UnicodeDecodeError):
                return None
            if not hmac.compare_digest(self._access_token(user_id, kind), access_token):
                return None
            if len(self._verified) >= _VERIFIED_TOKENS:
                self._verified.clear()
            self._verified[access_token] = (kind, user_id)
        if self.users_by_id is not None:
            spec = self.users_by_id.get(user_id) if kind == _LOCAL_USER else None
            if spec is None:
                return None
            return Principal(user_id, tuple(_split_hgp(h) for h in spec.hgps))
        has_users, user = await self._user_by_id(user_id)
        if kind == _LOCAL_USER:
            if has_users:
                return None  # an open-mode token, from before the database had users
            return Principal(user_id, (_split_hgp(DEFAULT_HGP),), open_projects=True)
        if user is None or not user["hgps"]:
            return None
        return Principal(user_id, tuple(_split_hgp(h) for h in user["hgps"]))

    async def _user_by_id(self, user_id: str) -> tuple[bool, Row | None]:
        """The store's answer about ``user_id``, shared by the requests that ask while a
        lookup of the same user is under way (a bulk upload sends dozens at once)."""
        lookup = self._lookups.get(user_id)
        if lookup is None:
            lookup = asyncio.ensure_future(self.store.user_by_id(user_id))
            self._lookups[user_id] = lookup
            lookup.add_done_callback(lambda _: self._lookups.pop(user_id, None))
        return await asyncio.shield(lookup)

    async def identify(self, scope: Scope) -> None:
        """Find the caller of an HTTP request from its ``X-Access-Token`` and keep it in the
        request's scope for :meth:`authenticate` (the app calls this before any route).

        Raises:
            Unavailable: the database cannot be reached.
        """
        token = Headers(scope=scope).get("x-access-token")
        scope[_PRINCIPAL] = None if not token else await self.principal_for(token)

    def authenticate(self, conn: HTTPConnection) -> Principal:
        """The caller's user, from ``X-Access-Token`` (found by :meth:`identify`); 401
        otherwise."""
        token = conn.headers.get("x-access-token")
        if not token:
            raise HTTPProblem(401, "missing X-Access-Token header")
        user = conn.scope.get(_PRINCIPAL)
        if not isinstance(user, Principal):
            raise HTTPProblem(401, "invalid or unknown access token")
        return user

    # -- signed upload URLs --------------------------------------------------------------

    def _upload_sig(self, kind: str, exp_uuid: str, name: str, expires: str) -> str:
        msg = "\0".join((kind, exp_uuid, name, expires)).encode()
        return hmac.new(self.upload_key, msg, hashlib.sha256).hexdigest()

    def signed_upload_path(self, kind: str, exp_uuid: str, name: str) -> str:
        """The path and query of a signed upload URL (relative to the server root)."""
        expires = f"{time.time() + self.config.signed_url_ttl_s:.3f}"
        sig = self._upload_sig(kind, exp_uuid, name, expires)
        return (
            f"/_blob/{kind}/{quote(exp_uuid, safe='')}/{quote(name, safe='')}"
            f"?expires={expires}&sig={sig}"
        )

    def check_upload_sig(
        self, kind: str, exp_uuid: str, name: str, expires: str | None, sig: str | None
    ) -> None:
        """403 unless the signature matches and has not expired."""
        try:
            deadline = float(expires or "")
        except ValueError:
            deadline = float("nan")
        if not sig or deadline != deadline:
            raise HTTPProblem(403, "missing or malformed signature")
        good = self._upload_sig(kind, exp_uuid, name, expires or "")
        if not hmac.compare_digest(good, sig):
            raise HTTPProblem(403, "invalid signature")
        if deadline < time.time():
            raise HTTPProblem(403, "signed URL expired")
