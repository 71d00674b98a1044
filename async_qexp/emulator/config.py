"""Configuration of the emulator: users, devices, limits, faults.

Users file (``--users FILE``)::

    {"users": [{"token": "<API token>", "id": "<user id>",
                "hgps": ["hub/group/project", ...]}]}

The first hub/group/project of a user is their default. Without a users file any API token
logs in; each distinct token is its own user (id ``user-<hash>``) in ``ibm-q/open/main``.

Devices file (``--devices FILE``)::

    {"devices": [{"name": "ibmq_lima", "components": ["Q0", "Q1", "R0"]}, ...]}

A bare list of such objects is accepted too. Extra keys of a device object (other than
``components``) are returned as-is by ``GET /devices``.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from .faults import FaultSettings

__all__ = [
    "ACCEPT_FLAG",
    "DEFAULT_DEVICES",
    "DEFAULT_HGP",
    "DEFAULT_RUNTIME_BACKENDS",
    "SYNCHRONOUS_LEVELS",
    "DeviceSpec",
    "EmulatorConfig",
    "UserSpec",
    "exposure_problem",
    "is_loopback",
    "load_devices",
    "load_users",
]

DEFAULT_HGP = "ibm-q/open/main"
"""The hub/group/project of every user when no users file is given."""


def _check_hgp(value: str) -> str:
    parts = value.split("/")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"invalid hub/group/project {value!r} (expected 'hub/group/project')")
    return value


def _to_hgps(value: Iterable[Any]) -> tuple[str, ...]:
    return tuple(_check_hgp(str(x)) for x in value)


def _to_strs(value: Iterable[Any]) -> tuple[str, ...]:
    return tuple(str(x) for x in value)


@attrs.frozen
class UserSpec:
    """One user of the emulator: API token, user id and hub/group/projects (first = default)."""

    token: str
    id: str
    hgps: tuple[str, ...] = attrs.field(default=(DEFAULT_HGP,), converter=_to_hgps)

    def __attrs_post_init__(self) -> None:
        if not self.token or not self.id:
            raise ValueError("a user needs a non-empty token and id")
        if not self.hgps:
            raise ValueError(f"user {self.id!r} needs at least one hub/group/project")


@attrs.frozen
class DeviceSpec:
    """A device (backend) and its component identifiers (``Q0``, ``R0`` …)."""

    name: str
    components: tuple[str, ...] = attrs.field(default=(), converter=_to_strs)
    extra: Mapping[str, Any] = attrs.field(factory=dict)


def _five(name: str) -> DeviceSpec:
    return DeviceSpec(name, [f"Q{i}" for i in range(5)] + [f"R{i}" for i in range(5)])


DEFAULT_DEVICES: tuple[DeviceSpec, ...] = (
    _five("emulator_simulator"),
    _five("ibmq_athens"),
    _five("ibmq_lima"),
    _five("ibmq_manila"),
    _five("ibmq_qasm_simulator"),
)
"""Devices seeded when no devices file is given."""

DEFAULT_RUNTIME_BACKENDS: tuple[str, ...] = ("emulator_simulator", "ibmq_qasm_simulator")
"""Backends of the runtime service by default."""


def _load_json(path: str | os.PathLike[str]) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def users_from_json(data: Any) -> list[UserSpec]:
    """Build user specs from the parsed users-file JSON."""
    items = data.get("users") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError('users file: expected {"users": [...]}')
    users: list[UserSpec] = []
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, dict):
            raise ValueError("users file: each user must be an object")
        hgps = item.get("hgps") or [DEFAULT_HGP]
        if not isinstance(hgps, list):
            raise ValueError("users file: 'hgps' must be a list of 'hub/group/project'")
        user = UserSpec(token=str(item["token"]), id=str(item["id"]), hgps=hgps)
        if user.token in seen:
            raise ValueError(f"users file: duplicate token for user {user.id!r}")
        seen.add(user.token)
        users.append(user)
    return users


def load_users(path: str | os.PathLike[str]) -> list[UserSpec]:
    """Load a users file (see the module docstring for the format)."""
    return users_from_json(_load_json(path))


def devices_from_json(data: Any) -> list[DeviceSpec]:
    """Build device specs from the parsed devices-file JSON."""
    items = data.get("devices") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError('devices file: expected {"devices": [...]}')
    devices: list[DeviceSpec] = []
    for item in items:
        if isinstance(item, str):
            devices.append(DeviceSpec(item))
            continue
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ValueError("devices file: each device must be an object with a 'name'")
        comps = item.get("components", [])
        if not isinstance(comps, list):
            raise ValueError("devices file: 'components' must be a list of strings")
        extra = {k: v for k, v in item.items() if k not in ("name", "components")}
        devices.append(DeviceSpec(item["name"], comps, extra))
    return devices


def load_devices(path: str | os.PathLike[str]) -> list[DeviceSpec]:
    """Load a devices file (see the module docstring for the format)."""
    return devices_from_json(_load_json(path))


def _users_converter(value: Any) -> tuple[UserSpec, ...] | None:
    if value is None:
        return None
    if isinstance(value, (str, Path, os.PathLike)):
        return tuple(load_users(value))
    return tuple(v if isinstance(v, UserSpec) else users_from_json([v])[0] for v in value)


def _devices_converter(value: Any) -> tuple[DeviceSpec, ...]:
    if value is None:
        return DEFAULT_DEVICES
    if isinstance(value, (str, Path, os.PathLike)):
        return tuple(load_devices(value))
    if isinstance(value, Sequence):
        return tuple(v if isinstance(v, DeviceSpec) else devices_from_json([v])[0] for v in value)
    raise TypeError("devices: expected a path or a list of DeviceSpec")


def _optional_path(value: Any) -> str | None:
    return None if value is None else os.fspath(value)


def _directory(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"blobs: a directory path or None, not {type(value).__name__}")
    path = os.fspath(value)
    if not isinstance(path, str):
        raise TypeError("blobs: a directory path as text, not bytes")
    return path


def _faults_converter(value: Any) -> FaultSettings:
    if value is None:
        return FaultSettings()
    if isinstance(value, FaultSettings):
        return value
    if isinstance(value, Mapping):
        return FaultSettings(**value)
    raise TypeError("faults: expected FaultSettings or a mapping")


@attrs.frozen
class EmulatorConfig:
    """Settings of one emulator instance.

    ``users`` and ``devices`` accept a list of specs or a path to a JSON file (see the module
    docstring). ``faults`` is copied into the live controller when the server starts.
    """

    db: str | None = None
    """SQLite file path, or ``None`` for an in-memory database."""
    users: tuple[UserSpec, ...] | None = attrs.field(default=None, converter=_users_converter)
    """Allowed users; ``None`` lets any API token log in as its own user."""
    devices: tuple[DeviceSpec, ...] = attrs.field(default=None, converter=_devices_converter)
    """Devices and components served by ``/devices`` and ``/device_components``."""
    latency_ms: float = 0
    """Delay added before every response."""
    capacity: int | None = None
    """Requests served at once (``None``: no limit). Beyond it, up to ``capacity_queue`` more
    wait their turn (so latency grows with load), and the rest are answered 429 at once,
    with ``Retry-After: capacity_retry_after``: a server that pushes back. The emulated
    latency is part of a request's service time."""
    capacity_queue: int | None = None
    """Requests that may wait for a free place beyond ``capacity`` (default: ``capacity``)."""
    capacity_retry_after: float = 1.0
    """Seconds in the ``Retry-After`` of a 429 for lack of capacity (fractions allowed)."""
    max_body_bytes: int = 32 * 1024 * 1024
    """Request bodies larger than this get 413."""
    host: str = "127.0.0.1"
    port: int = 0
    faults: FaultSettings = attrs.field(factory=FaultSettings, converter=_faults_converter)
    """Initial fault-injection settings."""
    signed_url_ttl_s: float = 900.0
    """Lifetime of signed upload URLs."""
    default_page_size: int = 100
    """Page size of list endpoints when ``limit`` is absent."""
    max_page_size: int = 10_000
    """Largest page returned for any ``limit`` (a marker continues beyond it)."""
    request_log_size: int = 10_000
    """Capacity of :attr:`Emulator.request_log`."""
    http_impl: str = "auto"
    """uvicorn HTTP implementation: ``"auto"`` (httptools if installed), ``"h11"``,
    ``"httptools"``."""
    runtime: bool = True
    """Serve the runtime service at ``/runtime`` (``False``: every runtime call is 404)."""
    runtime_backends: tuple[str, ...] = attrs.field(
        default=DEFAULT_RUNTIME_BACKENDS, converter=_to_strs
    )
    """Backends runtime jobs may run on (a job on another one is refused with 400)."""
    runtime_concurrency: int = 5
    """Jobs running at once per backend; more wait QUEUED, in submission order."""
    runtime_program_dirs: tuple[str, ...] = attrs.field(default=(), converter=_to_strs)
    """Directories whose ``*.py`` files are seeded as public programs (besides the built-ins)."""
    runtime_log_limit: int = 1024 * 1024
    """Bytes of a job's output kept as its log."""
    tls_certfile: str | None = attrs.field(default=None, converter=_optional_path)
    """PEM file of the server's certificate (chain): serve ``https``/``wss`` instead of
    ``http``/``ws`` (see :func:`~async_qexp.emulator.tls.self_signed` for a test certificate)."""
    tls_keyfile: str | None = attrs.field(default=None, converter=_optional_path)
    """PEM file of the certificate's private key (with ``tls_certfile``)."""
    runtime_program_upload: bool = True
    """Let users upload programs (``POST /programs``, ``PUT /programs/{id}/data``; 403 when
    off): an uploaded program is Python that runs on this host, unsandboxed."""
    accept_remote_risk: bool = False
    """Listen on a non-loopback ``host`` even though anyone reaching the port could log in
    (no ``users``) or run code (program upload on): see :func:`exposure_problem`."""
    synchronous: str = "normal"
    """SQLite's ``PRAGMA synchronous`` of a file database: ``"normal"`` (the default: WAL,
    a commit may be lost in a power failure, never corrupted) or ``"full"`` (every commit is
    on disk when it is answered: for an emulator used as a record store)."""
    shutdown_timeout: float = 10.0
    """Seconds a stopping server lets the requests in flight finish (new connections are
    refused at once and ``/ready`` answers 503); whatever still runs then is cancelled."""
    worker_index: int | None = None
    """The number (1, 2 ...) of this process among the workers of ``--workers N``: every
    response then carries it in ``X-Emulator-Worker``. ``None`` (the default): no header."""

    blobs: str | None = attrs.field(default=None, converter=_directory)
    """A directory for the bytes of figures and files (``--blobs DIR``), each written to a file
    named by its SHA-256 and synced before the database row that points at it commits; the
    database keeps their names and sizes. ``None`` (the default): the bytes are in the
    database. It must exist and be writable when the emulator starts, and needs a database
    that outlives the process (``db``)."""

    def __attrs_post_init__(self) -> None:
        if self.blobs is not None:
            if not self.blobs:
                raise ValueError("blobs: an empty directory path")
            if self.db is None:
                raise ValueError(
                    "blobs: a blob directory needs a database that outlives the process "
                    "(--db); an in-memory one would forget the files it points at"
                )
        if self.latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        for name in ("capacity", "capacity_queue"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise TypeError(f"{name} must be an int or None")
        if self.capacity is not None and self.capacity < 1:
            raise ValueError("capacity must be >= 1")
        if self.capacity_queue is not None and self.capacity_queue < 0:
            raise ValueError("capacity_queue must be >= 0")
        if not self.capacity_retry_after >= 0:
            raise ValueError("capacity_retry_after must be >= 0")
        if self.max_body_bytes <= 0:
            raise ValueError("max_body_bytes must be > 0")
        if self.default_page_size <= 0 or self.max_page_size <= 0:
            raise ValueError("page sizes must be > 0")
        if self.runtime_concurrency < 1:
            raise ValueError("runtime_concurrency must be >= 1")
        if self.runtime and not self.runtime_backends:
            raise ValueError("runtime_backends: at least one backend is needed")
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("tls_certfile and tls_keyfile go together")
        if isinstance(self.shutdown_timeout, bool) or not isinstance(
            self.shutdown_timeout, (int, float)
        ):
            raise TypeError("shutdown_timeout must be a number of seconds")
        if not 0 <= self.shutdown_timeout < float("inf"):
            raise ValueError("shutdown_timeout must be >= 0 and finite")
        if self.worker_index is not None:
            if isinstance(self.worker_index, bool) or not isinstance(self.worker_index, int):
                raise TypeError("worker_index must be an int or None")
            if self.worker_index < 1:
                raise ValueError("worker_index must be >= 1")
        if self.synchronous not in SYNCHRONOUS_LEVELS:
            raise ValueError(f"synchronous: one of {', '.join(SYNCHRONOUS_LEVELS)}")
        problem = exposure_problem(self)
        if problem is not None and not self.accept_remote_risk:
            raise ValueError(problem)


SYNCHRONOUS_LEVELS = ("normal", "full")
"""The ``PRAGMA synchronous`` levels :attr:`EmulatorConfig.synchronous` accepts."""

ACCEPT_FLAG = "--accept-remote-code-risk"
"""The command-line flag by which an operator accepts an exposed emulator."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (``127.0.0.0/8``, ``::1``) or ``localhost``; an
    empty host (every interface) and any other name are not."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_problem(config: EmulatorConfig, *, users_in_db: bool | None = None) -> str | None:
    """Why serving ``config`` beyond loopback is dangerous, or ``None`` when it is not (a
    loopback host, or known users who cannot upload programs).

    Known users are those of ``config.users`` or, without them, those kept in the database
    (``users_in_db``: whether it has any; ``None``, not known yet, gives a ``config.db`` the
    benefit of the doubt: the emulator checks again once the database is open).
    """
    if is_loopback(config.host):
        return None
    risks = []
    if users_in_db is None:
        users_in_db = config.db is not None
    if config.users is None and not users_in_db:
        risks.append(
            "without --users, and with no users in --db, any token logs in, so anyone who "
            "reaches the port reads and writes every shared record"
        )
    if config.runtime and config.runtime_program_upload:
        who = "anyone who reaches the port" if config.users is None else "every user"
        risks.append(
            f"with program upload on (the runtime service without --no-program-upload), {who} "
            "can run Python on this host, unsandboxed, as the user running the emulator"
        )
    if not risks:
        return None
    where = config.host or "every interface"
    return (
        f"refusing to listen on {where}, which is not a loopback address: "
        + "; and ".join(risks)
        + ". Serve 127.0.0.1 (and tunnel to it), or give --users (or add users to --db) and "
        "--no-program-upload "
        f"(or --no-runtime), or pass {ACCEPT_FLAG} if you accept that risk."
    )
