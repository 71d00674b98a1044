"""Logging in one place: the library's loggers, the redaction of secrets, ``QEXP_LOG``.

The library logs under ``async_qexp`` and its children, so each part can be tuned alone:

===========================  ==================================================================
logger                       what it logs
===========================  ==================================================================
``async_qexp``               the provider (closing, the in-memory emulator warning), progress
``async_qexp.auth``          login and service discovery (INFO: who logged in where)
``async_qexp.http``          one DEBUG line per request (method, URL without a signed query,
                             status, milliseconds, attempt); retries at INFO; giving up at
                             WARNING; the network set-up (proxies, trust) at DEBUG
``async_qexp.experiment``    the experiment service and ``ExperimentData``
``async_qexp.runtime``       runtime jobs: submitted, status transitions (INFO)
``async_qexp.stream``        result streams: connect (DEBUG), reconnect and the fallback to
                             polling (INFO), failing for good (WARNING)
``async_qexp.emulator``      the emulator (its own requests at DEBUG)
===========================  ==================================================================

No record of ours holds a secret, and :class:`RedactingFilter` keeps the libraries the client
drives from logging one either: it is installed on their loggers (websockets logs every
handshake header at DEBUG, ``X-Access-Token`` included) and on ours, and replaces the values of
credential headers, the live tokens, signed-URL queries and proxy passwords with ``***``.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import weakref
from typing import Any, Protocol

__all__ = [
    "LOGGER_NAMES",
    "LOG_LEVELS",
    "RedactingFilter",
    "configure_logging",
    "get_logger",
    "install_redaction",
    "redact",
    "register_secret",
]

LOGGER_NAMES = (
    "async_qexp",
    "async_qexp.auth",
    "async_qexp.http",
    "async_qexp.experiment",
    "async_qexp.runtime",
    "async_qexp.stream",
    "async_qexp.emulator",
)
"""The library's loggers."""

LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
"""The values ``QEXP_LOG`` takes (any case)."""

_THIRD_PARTY = (
    "websockets",
    "websockets.client",
    "websockets.server",
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "hpack",
    "aiohttp",
    "aiohttp.client",
    "aiohttp.internal",
    "aiohttp.server",
    "aiohttp.access",
    "aiohttp.websocket",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "uvicorn.asgi",
    "asyncio",
)
"""Loggers of the libraries the client (and the embedded emulator) drive. A filter applies
only to records made by its own logger, not to those of its children, so each is named."""


class _HasValue(Protocol):
    def get(self) -> str: ...


_secrets: weakref.WeakSet[Any] = weakref.WeakSet()
_secrets_lock = threading.Lock()
_MIN_SECRET = 6  # shorter values are not replaced everywhere (a test token "t" would be)


def register_secret(secret: _HasValue) -> None:
    """Redact ``secret.get()`` from every log record while ``secret`` is alive."""
    with _secrets_lock:
        _secrets.add(secret)


_HEADER = re.compile(
    r"(?i)\b((?:x-access-token|proxy-authorization|authorization|cookie|set-cookie|apitoken)"
    r"""['"]?\s*(?:[:=]|,)\s*(?:b?['"])?)((?:basic|bearer|token)\s+)?[^\s'",;}\]]+"""
)
_QUERY = re.compile(
    r"(?i)([?&](?:sig|signature|token|access_token|apitoken|x-amz-signature|"
    r"x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential)=)[^&\s'\"#]+"
)
_BLOB_QUERY = re.compile(r"(/_blob/[^\s?'\"]*)\?[^\s'\"#]+")
_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/\s@:'\"]*:[^/\s@'\"]*@", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with every secret we know of replaced by ``***``: credential header values,
    the live tokens, signed-URL queries and passwords in URLs."""
    with _secrets_lock:
        values = [s.get() for s in _secrets]
    for value in values:
        if len(value) >= _MIN_SECRET and value in text:
            text = text.replace(value, "***")
    # (replacement functions, not templates: a template is compiled on first use, which fails
    # for a record logged while the interpreter shuts down)
    if "/_blob/" in text:
        text = _BLOB_QUERY.sub(lambda m: m.group(1) + "?***", text)
    if "=" in text:
        text = _QUERY.sub(lambda m: m.group(1) + "***", text)
    if "@" in text:
        text = _USERINFO.sub(lambda m: m.group(1) + "***@", text)
    return _HEADER.sub(lambda m: m.group(1) + (m.group(2) or "") + "***", text)


class RedactingFilter(logging.Filter):
    """Rewrites a record whose message holds a secret (see :func:`redact`); never drops one.

    The message is formatted once, redacted, and stored back with no arguments left, so every
    handler sees the redacted text. An exception attached to the record is formatted and
    redacted too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place; always keep it."""
        try:
            message = record.getMessage()
        except Exception:  # a broken record: logging reports it, not us
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            text = logging.Formatter().formatException(record.exc_info)
            cleaned = redact(text)
            if cleaned != text:
                record.exc_text = cleaned
        return True


_FILTER = RedactingFilter()
_installed = False


def install_redaction() -> None:
    """Install :class:`RedactingFilter` on our loggers and those of the libraries we drive
    (once per process)."""
    global _installed
    if _installed:
        return
    _installed = True
    for name in (*LOGGER_NAMES, *_THIRD_PARTY):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def get_logger(name: str) -> logging.Logger:
    """One of :data:`LOGGER_NAMES`."""
    assert name in LOGGER_NAMES, name
    return logging.getLogger(name)


_configured = False


def configure_logging(level: int) -> bool:
    """What ``QEXP_LOG`` does, once per process: set the ``async_qexp`` logger's level unless
    one was set, and give it a stderr handler if nobody configured logging (neither the root
    logger nor ``async_qexp`` has a handler). Returns whether a handler was added.
    """
    global _configured
    if _configured:
        return False
    _configured = True
    library = logging.getLogger("async_qexp")
    if library.level == logging.NOTSET:
        library.setLevel(level)
    if library.handlers or logging.getLogger().handlers:
        return False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_FILTER)
    library.addHandler(handler)
    return True
