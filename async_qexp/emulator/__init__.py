"""A local emulator of the IBM Quantum experiment service ("resultsDB") and runtime service.

An ASGI app (Starlette on uvicorn) with SQLite storage (a WAL file, or in-memory). Start it
in-process with :func:`serve` (an async context manager yielding an :class:`Emulator`, which
runs on the caller's event loop), with :func:`serve_in_thread` (the same server on a thread and
event loop of its own; ``with`` or ``async with``), or as a command::

    python -m async_qexp.emulator --host 127.0.0.1 --port 8765 --db qexp.sqlite \
        [--blobs DIR] [--users FILE] [--devices FILE] [--latency-ms N] [--max-body-bytes N] \
        [--capacity N [--capacity-queue N] [--capacity-retry-after S]] \
        [--error-rate-500 R] [--error-rate-503 R] [--error-rate-429 R] \
        [--retry-after S] [--drop-rate R] [--seed N] \
        [--runtime-backends A,B] [--runtime-concurrency N] [--program-dir DIR] [--no-runtime] \
        [--no-program-upload] [--synchronous normal|full] [--accept-remote-code-risk] \
        [--tls-cert FILE --tls-key FILE | --tls-self-signed]

It refuses a non-loopback ``--host`` while anyone reaching the port could log in (no
``--users``) or run code (program upload on), unless ``--accept-remote-code-risk`` is given
(README, "Security"). The command prints ``listening on http://HOST:PORT`` (``https://``
over TLS) once it accepts connections and exits 0 on SIGINT/SIGTERM. ``--tls-self-signed``
makes a throw-away certificate authority and a certificate for the loopback names
(:mod:`.tls`) and first prints ``tls ca FILE``, the certificate a client must trust.

URL layout (one port):

* authentication at ``/`` and ``/api``: ``GET /version``, ``POST /users/loginWithToken``,
  ``GET /users/me`` (service URLs built from the request's Host), ``GET /Network``;
* beside them, the classic backends listing of every hub/group/project and the backends'
  status, properties and defaults: what ``IBMQ.enable_account()`` of the old
  ``qiskit-ibmq-provider`` needs (see :mod:`.classic`);
* the experiment service under ``/resultsdb`` (every endpoint of
  ``docs/protocol.md#experiment-service-endpoints``, including
  ``PUT /analysis_results/bulkupdate`` and the legacy multipart figure endpoints);
* the runtime service under ``/runtime`` (programs, jobs run in worker processes, the
  result-stream websocket ``/runtime/stream/jobs/{id}``; see :mod:`.runtime`);
* signed uploads: ``PUT /_blob/{plot|file}/{uuid}/{name}?expires=…&sig=…`` (no auth header
  needed; HMAC over kind, uuid, name and expiry with a secret kept in the database; 403 when
  expired or tampered; answers exactly 200).

Behaviour worth knowing:

* Access tokens are an HMAC of the user id with a secret stored in the database: they never
  expire and survive restarts of a file database.
* Lists page with ``limit`` (default 100, at most ``max_page_size``) and an opaque keyset
  ``marker`` (base64url JSON of the sort order and the last row's sort key), present only
  when more items remain. A marker is only valid with the same ``sort``.
* Timestamps are stored and emitted as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC).
* A dropped connection (fault injection) closes the TCP connection without any response:
  httpx raises ``httpx.RemoteProtocolError`` ("Server disconnected without sending a
  response"), aiohttp ``ServerDisconnectedError``.
* Errors are ``{"error": {"code": <status>, "message": …}}`` with standard reason phrases.

See :mod:`async_qexp.emulator.config` for the users and devices file formats.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_names

if TYPE_CHECKING:
    from .config import (
        DEFAULT_DEVICES,
        DeviceSpec,
        EmulatorConfig,
        UserSpec,
        load_devices,
        load_users,
    )
    from .faults import FaultRule, FaultSettings, RequestRecord
    from .server import Emulator, serve
    from .state import Capacity
    from .thread import EmulatorThread, serve_in_thread

_WHERE = {
    ".config": (
        "DEFAULT_DEVICES",
        "DeviceSpec",
        "EmulatorConfig",
        "UserSpec",
        "load_devices",
        "load_users",
    ),
    ".faults": ("FaultRule", "FaultSettings", "RequestRecord"),
    ".server": ("Emulator", "serve"),
    ".state": ("Capacity",),
    ".thread": ("EmulatorThread", "serve_in_thread"),
}
__all__ = [
    "DEFAULT_DEVICES",
    "Capacity",
    "DeviceSpec",
    "Emulator",
    "EmulatorConfig",
    "EmulatorThread",
    "FaultRule",
    "FaultSettings",
    "RequestRecord",
    "UserSpec",
    "load_devices",
    "load_users",
    "serve",
    "serve_in_thread",
]


__getattr__, __dir__ = lazy_names(__name__, _WHERE)
