"""Configuration in one place: environment variables, defaults, policies and preferences.

Every environment variable the client reads is read here, every default is defined here, and
the two policies that shape traffic (:class:`RetryPolicy` for requests, :class:`StreamPolicy`
for result streams) share one backoff formula (:func:`backoff_delay`).

==================================  ==========================================================
environment variable                meaning
==================================  ==========================================================
``QEXP_TOKEN``                      the API token when none is passed
``QEXP_URL``                        the auth URL when none is passed
``QEXP_CONFIG_DIR``                 where preferences are kept (default ``~/.async_qexp``)
``QEXP_CUSTOM_CLIENT_APP_HEADER``   a suffix for the ``X-Qx-Client-Application`` header
``QEXP_LOG``                        ``debug``, ``info`` or ``warning``: log the library at that
                                    level on stderr, for programs that configure no logging
                                    (:func:`configure_logging_from_env`)
==================================  ==========================================================

With ``trust_env=True`` (the default) a provider also reads the standard variables of proxies
(``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``) and of TLS trust
(``SSL_CERT_FILE``, ``SSL_CERT_DIR``); see :mod:`async_qexp._network`.
"""

from __future__ import annotations

import json
import os
import random
import warnings
from pathlib import Path
from typing import Any, Literal

import attrs
import httpx

from ._logs import LOG_LEVELS, configure_logging
from ._version import __version__

__all__ = [
    "DEFAULT_AUTH_URL",
    "DEFAULT_MAX_IN_FLIGHT",
    "DEFAULT_TIMEOUT",
    "ENV_CLIENT_APP_SUFFIX",
    "ENV_CONFIG_DIR",
    "ENV_LOG",
    "ENV_TOKEN",
    "ENV_URL",
    "RetryPolicy",
    "StreamPolicy",
    "backoff_delay",
    "client_application",
    "configure_logging_from_env",
    "env_log_level",
    "env_token",
    "env_url",
    "load_preferences",
    "preferences_path",
    "save_preferences",
]

ENV_TOKEN = "QEXP_TOKEN"
ENV_URL = "QEXP_URL"
ENV_CONFIG_DIR = "QEXP_CONFIG_DIR"
ENV_CLIENT_APP_SUFFIX = "QEXP_CUSTOM_CLIENT_APP_HEADER"
ENV_LOG = "QEXP_LOG"

DEFAULT_AUTH_URL = "https://auth.quantum-computing.ibm.com/api"
"""The IBM Quantum auth URL (see ``docs/protocol.md``)."""

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
"""10 s to connect, 60 s for each read, write and wait for a connection."""

DEFAULT_MAX_IN_FLIGHT: Literal["auto"] = "auto"
"""Requests in flight at once, client-wide: ``"auto"`` finds the server's pace (from 64, up
to ``max_in_flight_ceiling``; ``async_qexp._limit``). An int fixes it.

Measured in ``bench/README.md``: no fixed number is right for every latency (64 at 20 ms
leaves a third of the emulator's throughput unused; at 100 ms it cannot pass 640 requests/s).
"""


def env_token() -> str | None:
    """The API token from the environment, if set and not empty."""
    return os.environ.get(ENV_TOKEN) or None


def env_url() -> str | None:
    """The auth URL from the environment, if set and not empty."""
    return os.environ.get(ENV_URL) or None


def env_log_level() -> int | None:
    """The logging level ``QEXP_LOG`` asks for: ``debug``, ``info`` or ``warning`` (any case).

    Unset or empty is ``None``. Any other value is ignored with a ``RuntimeWarning`` naming
    the values it takes: a typo in an environment variable must not stop a program.
    """
    value = os.environ.get(ENV_LOG, "").strip()
    if not value:
        return None
    level = LOG_LEVELS.get(value.lower())
    if level is None:
        warnings.warn(
            f"{ENV_LOG}={value!r} is ignored: it takes {', '.join(LOG_LEVELS)}",
            RuntimeWarning,
            stacklevel=3,
        )
    return level


def configure_logging_from_env() -> None:
    """Apply ``QEXP_LOG`` (a provider does, when it is made): the ``async_qexp`` logger gets
    that level unless it has one, and a stderr handler if nobody configured logging (no
    handler on the root logger or on ``async_qexp``). Once per process."""
    level = env_log_level()
    if level is not None:
        configure_logging(level)


def client_application() -> str:
    """The ``X-Qx-Client-Application`` value: ``async_qexp/<version>[/<custom suffix>]``."""
    value = f"async_qexp/{__version__}"
    suffix = os.environ.get(ENV_CLIENT_APP_SUFFIX)
    return f"{value}/{suffix}" if suffix else value


def backoff_delay(attempt: int, *, initial: float, maximum: float, jitter: float) -> float:
    """The pause before retry number ``attempt`` (1 for the first one).

    Exponential (``initial`` doubled on every retry, capped at ``maximum``), with the
    fraction ``jitter`` of it randomised downwards ("full jitter" at 1, none at 0).
    """
    base = min(maximum, initial * 2.0 ** (attempt - 1))
    return base * (1 - jitter * random.random())


def _non_negative(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{attribute.name} must be a number, not {type(value).__name__}")
    if not value >= 0:  # NaN fails too
        raise ValueError(f"{attribute.name} must be >= 0, not {value!r}")


def _fraction(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    _non_negative(_, attribute, value)
    if value > 1:
        raise ValueError(f"{attribute.name} must be between 0 and 1, not {value!r}")


def _count(minimum: int) -> Any:
    def check(_: Any, attribute: attrs.Attribute[Any], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{attribute.name} must be an int, not {type(value).__name__}")
        if value < minimum:
            raise ValueError(f"{attribute.name} must be >= {minimum}, not {value!r}")

    return check


class _Backoff:
    """The backoff of a policy with ``backoff_initial``, ``backoff_max`` and ``jitter``."""

    __slots__ = ()
    backoff_initial: float
    backoff_max: float
    jitter: float

    def backoff(self, attempt: int) -> float:
        """The pause before retry (or reconnect) number ``attempt`` (1 for the first)."""
        return backoff_delay(
            attempt, initial=self.backoff_initial, maximum=self.backoff_max, jitter=self.jitter
        )


@attrs.frozen(kw_only=True)
class RetryPolicy(_Backoff):
    """When and how long to retry a failed request.

    Attributes:
        max_attempts: attempts in all, the first one included (1 disables retries).
        backoff_initial: the first backoff, in seconds; it doubles on every retry.
        backoff_max: the cap on a single backoff, in seconds.
        jitter: the fraction of each backoff that is randomised (0 = none, 1 = "full jitter").
        total_budget: seconds from the first attempt after which no retry starts.
        max_retry_after: the longest ``Retry-After`` honoured; a longer one ends the retries.
        retry_statuses: the HTTP statuses that are retried.
        retry_connection_errors: retry when no response arrived (refused, reset, dropped).
    """

    max_attempts: int = attrs.field(default=6, validator=_count(1))
    backoff_initial: float = attrs.field(default=0.25, validator=_non_negative)
    backoff_max: float = attrs.field(default=8.0, validator=_non_negative)
    jitter: float = attrs.field(default=0.5, validator=_fraction)
    total_budget: float = attrs.field(default=60.0, validator=_non_negative)
    max_retry_after: float = attrs.field(default=60.0, validator=_non_negative)
    retry_statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504, 520, 522, 524})
    retry_connection_errors: bool = True

    @classmethod
    def none(cls) -> RetryPolicy:
        """A policy that never retries."""
        return cls(max_attempts=1)


@attrs.frozen(kw_only=True)
class StreamPolicy(_Backoff):
    """How a runtime result stream keeps its connection.

    Attributes:
        max_retries: reconnect attempts after a broken connection (the count resets on
            every message received), before falling back to polling.
        backoff_initial: the first pause before reconnecting, in seconds; it doubles.
        backoff_max: the cap on one pause.
        jitter: the randomised fraction of each pause.
        ping_interval: seconds between keepalive pings.
        ping_timeout: seconds to wait for a pong before the connection counts as broken (and
            for the server's answer to a closing handshake).
        open_timeout: seconds allowed for the opening handshake.
        poll_interval: seconds between polls once streaming fell back to polling.
    """

    max_retries: int = attrs.field(default=5, validator=_count(0))
    backoff_initial: float = attrs.field(default=0.5, validator=_non_negative)
    backoff_max: float = attrs.field(default=8.0, validator=_non_negative)
    jitter: float = attrs.field(default=0.5, validator=_fraction)
    ping_interval: float = attrs.field(default=20.0, validator=_non_negative)
    ping_timeout: float = attrs.field(default=10.0, validator=_non_negative)
    open_timeout: float = attrs.field(default=10.0, validator=_non_negative)
    poll_interval: float = attrs.field(default=1.0, validator=_non_negative)


# -- preferences --------------------------------------------------------------------------------


def preferences_path() -> Path:
    """Where preferences are kept: ``$QEXP_CONFIG_DIR/preferences.json`` or
    ``~/.async_qexp/preferences.json``."""
    home = os.environ.get(ENV_CONFIG_DIR)
    return (Path(home) if home else Path.home() / ".async_qexp") / "preferences.json"


def load_preferences(path: Path | None, section: str) -> dict[str, Any]:
    """One section of the saved preferences (a missing or unreadable file holds none)."""
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    found = data.get(section) if isinstance(data, dict) else None
    return dict(found) if isinstance(found, dict) else {}


def save_preferences(path: Path, section: str, values: dict[str, Any]) -> None:
    """Replace one section of the preferences file, atomically (other sections are kept)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    data[section] = values
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)
