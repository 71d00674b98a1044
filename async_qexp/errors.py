"""The exception tree of async_qexp.

Everything the library raises on purpose derives from :class:`QexpError`, except
``ValueError``/``TypeError`` for bad arguments, which are raised before any request is sent.

* :class:`ApiError` — the server answered with an error status. It carries ``status``,
  ``code`` and ``message`` (from the ``{"error": {...}}`` body when there is one).

  * :class:`EntryNotFound` (404), :class:`EntryExists` (409), :class:`AuthError` (401/403),
    :class:`RateLimited` (429 after the retry budget).

* :class:`RequestError` — the request never got an HTTP answer (connection refused or reset,
  a dropped connection, a timeout). :class:`RequestTimeout` is the timeout case.

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
from collections.abc import Iterator

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


class ApiError(QexpError):
    """The service answered with an HTTP error status.

    Attributes:
        status: the HTTP status code.
        code: the service's error code from the ``{"error": {"code": ...}}`` body, if any.
        message: the service's error message (or the raw body when it was not JSON).
        method: the HTTP method of the failed request.
        url: the URL of the failed request (never carries the access token or a query).
        attempts: how many times the request was sent (more than 1 after retries).
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
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.method = method
        self.url = url
        self.attempts = attempts
        super().__init__(self._describe())

    def _describe(self) -> str:
        target = " ".join(part for part in (self.method, self.url) if part)
        where = f" for {target}" if target else ""
        code = f" (code {self.code})" if self.code not in (None, "") else ""
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        return f"{self.status}{where}: {self.message}{code}{tries}"


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
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(
            message, status=status, code=code, method=method, url=url, attempts=attempts
        )


class RequestError(QexpError):
    """The request did not get an HTTP response: connection refused, reset or dropped.

    Attributes:
        method: the HTTP method of the failed request.
        url: the URL of the failed request.
    """

    def __init__(self, message: str, *, method: str = "", url: str = "") -> None:
        self.method = method
        self.url = url
        super().__init__(f"{method} {url}: {message}" if url else message)


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
        raise cls(
            exc.message, status=exc.status, code=exc.code, method=exc.method, url=exc.url
        ) from exc
