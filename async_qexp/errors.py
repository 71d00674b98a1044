"""The exception tree of async_qexp.

Everything the library raises on purpose derives from :class:`QexpError`, except
``ValueError``/``TypeError`` for bad arguments, which are raised before any request is sent.

* :class:`ApiError` — the server answered with an error status. It carries ``status``,
  ``code`` and ``message`` (from the ``{"error": {...}}`` body when there is one), the
  response's ``headers`` (credentials removed) and the server's ``request_id`` when it sent
  one (``X-Request-Id``, as the emulator does), to quote to the service's support.

  * :class:`EntryNotFound` (404), :class:`EntryExists` (409), :class:`AuthError` (401/403),
    :class:`RateLimited` (429 after the retry budget).

* :class:`RequestError` — the request never got an HTTP answer (connection refused or reset,
  a dropped connection, a timeout, a proxy that refused, a certificate that could not be
  verified). It carries the number of ``attempts``, and its ``__cause__`` is the last
  failure. :class:`RequestTimeout` is the timeout case.

* :class:`ClosedError` — the object (or the provider it belongs to) has been closed.

* :class:`NotStartedError` — a provider used before it was started or connected (also an
  ``AttributeError``, so ``hasattr`` and ``getattr`` with a default keep working).

* ``ExperimentDataError`` — misuse of an ExperimentData, and its ``ExperimentDataSaveFailed``
  when ``save(suppress_errors=False)`` could not save everything (in
  :mod:`async_qexp.experiment`, beside the save report they carry).

Runtime errors keep the reference names, and every one of them is a
:class:`RuntimeServiceError` (the reference's ``QiskitRuntimeError``). Those that answer an HTTP
status are also the matching :class:`ApiError`: :class:`RuntimeJobNotFound` and
:class:`RuntimeProgramNotFound` are :class:`EntryNotFound`, :class:`RuntimeDuplicateProgramError`
is :class:`EntryExists`, so ``except RuntimeServiceError`` and ``except EntryNotFound`` both
catch a missing job. :class:`RuntimeJobFailureError`, :class:`RuntimeInvalidStateError`,
:class:`JobTimeoutError` and :class:`StreamingError` are runtime errors only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

__all__ = [
    "ApiError",
    "AuthError",
    "ClosedError",
    "EntryExists",
    "EntryNotFound",
    "JobTimeoutError",
    "NotStartedError",
    "QexpError",
    "RateLimited",
    "RequestError",
    "RequestTimeout",
    "ResponseHeaders",
    "RuntimeDuplicateProgramError",
    "RuntimeInvalidStateError",
    "RuntimeJobFailureError",
    "RuntimeJobNotFound",
    "RuntimeProgramNotFound",
    "RuntimeServiceError",
    "StreamingError",
]


class QexpError(Exception):
    """Base class of every error raised by async_qexp."""


REQUEST_ID_HEADERS = ("x-request-id", "x-correlation-id", "x-global-transaction-id")
"""Where a server puts the id of a request (the first one present is taken)."""

_CREDENTIAL_HEADERS = frozenset(
    {"x-access-token", "authorization", "proxy-authorization", "cookie", "set-cookie"}
)


class ResponseHeaders(Mapping[str, str]):
    """The headers of an error response: read-only, case-insensitive (``headers["Retry-After"]``
    and ``headers["retry-after"]`` are the same), and without any credential header
    (``X-Access-Token``, ``Authorization``, ``Cookie``, ``Set-Cookie``, ...)."""

    __slots__ = ("_items",)

    def __init__(self, headers: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        """Copy ``headers`` (repeated names are joined with ``", "``), credentials left out."""
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        items: dict[str, str] = {}
        for name, value in pairs:
            key = name.lower()
            if key in _CREDENTIAL_HEADERS:
                continue
            items[key] = f"{items[key]}, {value}" if key in items else value
        self._items = items

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"ResponseHeaders({self._items!r})"

    def request_id(self) -> str | None:
        """The request id the server sent (:data:`REQUEST_ID_HEADERS`), if any."""
        for name in REQUEST_ID_HEADERS:
            if self._items.get(name):
                return self._items[name]
        return None


E = TypeVar("E", bound="ApiError")


class ApiError(QexpError):
    """The service answered with an HTTP error status.

    Attributes:
        status: the HTTP status code.
        code: the service's error code from the ``{"error": {"code": ...}}`` body, if any.
        message: the service's error message (or the raw body when it was not JSON).
        method: the HTTP method of the failed request.
        url: the URL of the failed request (never carries the access token or a query).
        attempts: how many times the request was sent (more than 1 after retries).
        headers: the response's headers (:class:`ResponseHeaders`: read-only,
            case-insensitive, credentials removed); empty for an error made without a
            response.
        request_id: the id the server gave the request (``X-Request-Id`` or the like), if it
            sent one: what the service's support asks for.
        maybe_applied: whether an earlier attempt may have been processed by the server
            (its response was a 5xx other than 503, or the connection dropped after sending).
    """

    maybe_applied: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | int | None = None,
        method: str = "",
        url: str = "",
        attempts: int = 1,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        request_id: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.method = method
        self.url = url
        self.attempts = attempts
        self.headers = (
            headers if isinstance(headers, ResponseHeaders) else ResponseHeaders(headers or ())
        )
        self.request_id = request_id if request_id is not None else self.headers.request_id()
        super().__init__(self._describe())

    def _describe(self) -> str:
        target = " ".join(part for part in (self.method, self.url) if part)
        where = f" for {target}" if target else ""
        code = f" (code {self.code})" if self.code not in (None, "") else ""
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        request = f" (request id {self.request_id})" if self.request_id else ""
        return f"{self.status}{where}: {self.message}{code}{tries}{request}"

    def details(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this error (as another class, say)."""
        return {
            "status": self.status,
            "code": self.code,
            "method": self.method,
            "url": self.url,
            "attempts": self.attempts,
            "headers": self.headers,
            "request_id": self.request_id,
        }

    def recast(self, cls: type[E], message: str | None = None) -> E:
        """The same error as ``cls`` (with ``message`` instead of this one's, if given),
        everything else kept, ``maybe_applied`` included."""
        error = cls(self.message if message is None else message, **self.details())
        error.maybe_applied = self.maybe_applied
        return error


class EntryNotFound(ApiError):
    """The entry does not exist, or is not visible to this account (HTTP 404)."""


class EntryExists(ApiError):
    """An entry with the same id or name already exists (HTTP 409)."""


class AuthError(ApiError):
    """The credentials were refused (HTTP 401) or the action is not allowed (HTTP 403)."""


class RateLimited(ApiError):
    """The service kept answering 429 until the retry budget ran out.

    Attributes:
        retry_after: the last ``Retry-After`` the server asked for, in seconds, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 429,
        code: str | int | None = None,
        method: str = "",
        url: str = "",
        attempts: int = 1,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(
            message,
            status=status,
            code=code,
            method=method,
            url=url,
            attempts=attempts,
            headers=headers,
            request_id=request_id,
        )


class RequestError(QexpError):
    """The request did not get an HTTP response: connection refused, reset or dropped, a
    timeout, a proxy that refused, or a TLS certificate that could not be verified.

    Its ``__cause__`` is the last failure (the transport's exception).

    Attributes:
        method: the HTTP method of the failed request.
        url: the URL of the failed request (without its query).
        attempts: how many times the request was tried (more than 1 after retries).
        reason: what went wrong, without the method, URL and attempts.
    """

    def __init__(self, message: str, *, method: str = "", url: str = "", attempts: int = 1) -> None:
        self.method = method
        self.url = url
        self.reason = message
        self.attempts = attempts
        super().__init__(self._describe())

    def _describe(self) -> str:
        text = f"{self.method} {self.url}: {self.reason}" if self.url else self.reason
        return text + (f" (after {self.attempts} attempts)" if self.attempts > 1 else "")

    def after_attempts(self, attempts: int) -> None:
        """Record that the request was tried ``attempts`` times (and say so in the message)."""
        self.attempts = attempts
        self.args = (self._describe(),)


class RequestTimeout(RequestError):
    """The request timed out (connecting, writing, reading or waiting for a connection)."""


class ClosedError(QexpError):
    """The object was used after it, or the provider it belongs to, was closed."""


class NotStartedError(QexpError, AttributeError):
    """A provider used before it was started: ``Provider.local()`` and ``Provider.auto()``
    start when awaited (``provider = await Provider.local()``) or entered (``async with``),
    and ``Provider(...)`` when connected (``await provider.connect()``). The message says how.

    It is an ``AttributeError`` too, so ``hasattr()`` and ``getattr(obj, name, default)``
    answer as for any missing attribute.
    """


class RuntimeServiceError(QexpError):
    """Base class of every runtime error, as the reference's ``QiskitRuntimeError`` is.

    Other HTTP failures of runtime calls (a 500, a refused token) are the plain
    :class:`ApiError` subclasses; ``except QexpError`` catches everything.
    """


class RuntimeJobNotFound(EntryNotFound, RuntimeServiceError):
    """The runtime job does not exist (HTTP 404): an :class:`EntryNotFound` and a
    :class:`RuntimeServiceError`."""


class RuntimeProgramNotFound(EntryNotFound, RuntimeServiceError):
    """The runtime program does not exist (HTTP 404, also from ``run()``): an
    :class:`EntryNotFound` and a :class:`RuntimeServiceError`."""


class RuntimeDuplicateProgramError(EntryExists, RuntimeServiceError):
    """A program with the same name already exists (HTTP 409): an :class:`EntryExists` and a
    :class:`RuntimeServiceError`."""


class RuntimeJobFailureError(RuntimeServiceError):
    """The job failed, so it has no result; the message holds the job's error text."""


class RuntimeInvalidStateError(RuntimeServiceError):
    """The job is in a state that does not allow this (e.g. cancelling a finished job)."""


class JobTimeoutError(RuntimeServiceError, TimeoutError):
    """Waiting for the job took longer than the timeout (the job itself goes on)."""


class StreamingError(RuntimeServiceError):
    """The result stream broke and could not be re-established, even by polling."""


@contextlib.contextmanager
def not_found_as(cls: type[EntryNotFound]) -> Iterator[None]:
    """Re-raise an :class:`EntryNotFound` from the block as the more specific ``cls``."""
    try:
        yield
    except EntryNotFound as exc:
        if isinstance(exc, cls):
            raise
        raise exc.recast(cls) from exc
