"""The exceptions of qiskit-ibm-experiment, by name, as subclasses of ours.

Code written for the reference keeps its ``except IBMExperimentEntryNotFound:``; code written
for async_qexp keeps its ``except EntryNotFound:``; both catch what the drop-in raises::

    IBMError (QexpError)
      IBMApiError (+ ApiError): the service answered with an error status
        IBMNotAuthorizedError (+ AuthError): 401 / 403
        IBMApiRequestError (+ RequestError): no answer (connection refused, timeout, ...)
        IBMExperimentSaveFailed: a bulk save where some items failed
      IBMExperimentError
        IBMExperimentEntryNotFound (+ EntryNotFound): 404
        IBMExperimentEntryExists (+ EntryExists): 409
      IBMAccountError: no token, or a saved account that cannot be read
      IBMInputValueError (+ ValueError)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ..errors import (
    ApiError,
    AuthError,
    EntryExists,
    EntryNotFound,
    QexpError,
    RequestError,
    ResponseHeaders,
)

__all__ = [
    "IBMAccountError",
    "IBMApiError",
    "IBMApiRequestError",
    "IBMError",
    "IBMExperimentEntryExists",
    "IBMExperimentEntryNotFound",
    "IBMExperimentError",
    "IBMExperimentSaveFailed",
    "IBMInputValueError",
    "IBMNotAuthorizedError",
]


class IBMError(QexpError):
    """The base of the reference's errors (its ``IBMError``)."""


class IBMAccountError(IBMError):
    """No token was given or found, or a saved account could not be read."""


class IBMInputValueError(IBMError, ValueError):
    """An argument with a bad value (also a ``ValueError``)."""


class IBMApiError(IBMError, ApiError):
    """The service answered with an error status (an :class:`~async_qexp.errors.ApiError`)."""


class IBMNotAuthorizedError(IBMApiError, AuthError):
    """The service refused the token (401) or the request (403)."""


class IBMApiRequestError(IBMApiError, RequestError):
    """The request got no answer: an :class:`~async_qexp.errors.RequestError` that the
    reference's ``except IBMApiError`` catches too. ``status`` is 0."""

    def __init__(self, message: str, *, method: str = "", url: str = "", attempts: int = 1) -> None:
        self.status = 0
        self.code = None
        self.message = message
        self.headers = ResponseHeaders()
        self.request_id = None
        RequestError.__init__(self, message, method=method, url=url, attempts=attempts)

    def _describe(self) -> str:
        return RequestError._describe(self)


class IBMExperimentSaveFailed(IBMApiError):
    """Some items of a blocking bulk save (``create_analysis_results``,
    ``create_figures``) failed; the others were saved.

    Attributes:
        save_status: the status the reference would have returned:
            ``{"running": [], "done": [...], "fail": [{"data": ..., "exception": ...}]}``.
    """

    def __init__(self, message: str, *, save_status: dict[str, Any], **details: Any) -> None:
        self.save_status = save_status
        super().__init__(message, **{"status": 0, **details})

    def _describe(self) -> str:
        return self.message  # no HTTP status of its own: each item's error has its own


class IBMExperimentError(IBMError):
    """The base of the experiment service's entry errors (the reference's)."""


class IBMExperimentEntryNotFound(IBMExperimentError, EntryNotFound):
    """The entry does not exist, or is not visible to this account (404)."""


class IBMExperimentEntryExists(IBMExperimentError, EntryExists):
    """An entry with that id or name exists (409)."""


def recast(error: BaseException) -> BaseException:
    """Our error as the reference's class of the same kind (the same details kept); anything
    else as it is."""
    if isinstance(error, IBMError):
        return error
    if isinstance(error, EntryNotFound):
        return error.recast(IBMExperimentEntryNotFound)
    if isinstance(error, EntryExists):
        return error.recast(IBMExperimentEntryExists)
    if isinstance(error, AuthError):
        return error.recast(IBMNotAuthorizedError)
    if isinstance(error, ApiError):
        return error.recast(IBMApiError)
    if isinstance(error, RequestError):
        made = IBMApiRequestError(
            error.reason, method=error.method, url=error.url, attempts=error.attempts
        )
        made.__cause__ = error.__cause__
        return made
    return error


@contextlib.contextmanager
def reference_errors() -> Iterator[None]:
    """Raise our errors as the reference's classes (each still one of ours)."""
    try:
        yield
    except (ApiError, RequestError) as exc:
        made = recast(exc)
        if made is exc:
            raise
        raise made from exc
