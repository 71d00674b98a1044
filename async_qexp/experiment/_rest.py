"""The REST plumbing of the experiment service: URLs, names in paths, JSON, records, paging.

:class:`ServiceBase` holds what every call of :class:`~async_qexp.ExperimentService` shares;
it is not used on its own.
"""

from __future__ import annotations

import inspect
import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import httpx

from .._http import loggable, parse_json, quote_path
from .._logs import get_logger
from .._paging import Page, Pager
from .._service import Service
from ..errors import ApiError, EntryExists, EntryNotFound
from ..models import AnalysisResult, Experiment, ExperimentFilters, ResultFilters, from_wire
from ..models._checks import require_int, require_str, warn_unknown_keywords
from ..progress import check_progress

__all__ = ["JSONDecoderType", "JSONEncoderType", "ServiceBase"]

logger = get_logger("async_qexp.experiment")

JSONEncoderType = type[json.JSONEncoder] | None
JSONDecoderType = type[json.JSONDecoder] | None
T = TypeVar("T")

_LISTINGS: dict[type[Any], tuple[str, Any]] = {
    Experiment: ("experiments", ExperimentFilters),
    AnalysisResult: ("analysis_results", ResultFilters),
}
"""The path (also the key of the listed items) and the filter class of each listing."""


def check_limit(limit: Any, name: str = "limit") -> None:
    if limit is not None:
        require_int(limit, name, minimum=1)


def ignore_unknown(kwargs: Mapping[str, Any], method: Callable[..., Any]) -> None:
    """Warn that ``method`` ignores the unsupported attributes ``kwargs`` (a ``UserWarning``
    naming each, with the parameters closest to it), as the reference ignores them."""
    if kwargs:
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        parameters = inspect.signature(method).parameters
        accepted = [n for n, p in parameters.items() if p.kind in kinds]
        warn_unknown_keywords(method.__name__, kwargs, accepted, stacklevel=4)


def require_name(value: Any, what: str) -> str:
    """A figure or file name: a non-empty string (it may hold ``/``)."""
    return require_str(value, what, empty=False)


def plain_json(value: Any, json_encoder: JSONEncoderType) -> Any:
    """User data as a plain JSON tree through the caller's encoder, or as it is (the models
    encode it with the envelopes)."""
    if json_encoder is None or value is None:
        return value
    return json.loads(json.dumps(value, cls=json_encoder))


def new_id() -> str:
    return str(uuid.uuid4())


class ServiceBase(Service):
    """The plumbing shared by every call of the experiment service."""

    def _url(self, path: str) -> str:
        return self._base + path

    def _at(self, *segments: str) -> str:
        """The URL of a resource: each segment percent-encoded (a name's ``/`` kept)."""
        return self._base + "".join("/" + quote_path(segment) for segment in segments)

    def _loads(self, response: httpx.Response, json_decoder: JSONDecoderType) -> Any:
        try:
            return json.loads(response.content, cls=json_decoder)
        except ValueError as exc:
            raise self._malformed(response, "is not valid JSON") from exc

    def _malformed(self, response: httpx.Response, what: str) -> ApiError:
        return ApiError(
            f"malformed response from the service: it {what}",
            status=response.status_code,
            method=response.request.method,
            url=loggable(str(response.request.url)),
            headers=response.headers.multi_items(),
        )

    def _record(
        self, cls: type[T], data: Any, json_decoder: JSONDecoderType, response: httpx.Response
    ) -> T:
        """A record from a wire dict; a malformed one is an :class:`ApiError`."""
        if not isinstance(data, dict):
            raise self._malformed(response, f"is not a {cls.__name__} record")
        try:
            return from_wire(cls, data, decode_user_data=json_decoder is None)
        except (ValueError, TypeError, KeyError) as exc:
            raise self._malformed(response, f"holds a malformed {cls.__name__}: {exc}") from exc

    def _stored(self, cls: type[T], answer: Any) -> T | None:
        """The record a create or update answered with, if it sent a whole one."""
        if not isinstance(answer, dict):
            return None
        try:
            return from_wire(cls, answer)
        except (ValueError, TypeError, KeyError):
            return None

    async def _post_create(self, path: str, body: Mapping[str, Any] | bytes) -> Any:
        """POST a create that carries its own id: a replay that meets 409 is our own success.

        ``body`` is a wire dict, or its JSON already encoded. Returns the service's answer
        (``None`` after such a replay).
        """
        if isinstance(body, bytes):
            options: dict[str, Any] = {
                "content": body,
                "headers": {"Content-Type": "application/json"},
            }
        else:
            options = {"json_body": body}
        try:
            response = await self._session.request(
                "POST", self._url(path), replay_safe=True, **options
            )
        except EntryExists as exc:
            if exc.maybe_applied:
                logger.info("a replayed create at %s was stored by an earlier attempt", path)
                return None
            raise
        return parse_json(response)

    async def _delete(self, url: str, what: str) -> bool:
        try:
            await self._session.request("DELETE", url)
        except EntryNotFound:
            logger.warning("%s not found; nothing deleted", what)
            return False
        return True

    def _listing(self, cls: type[T], arguments: Mapping[str, Any]) -> Pager[T]:
        """The pager of a list call, from the call's own arguments (its ``locals()``).

        ``limit``, ``page_size``, ``progress`` and ``json_decoder`` are read there; the rest
        are the filters of ``cls``
        (:class:`~async_qexp.models.ExperimentFilters` or
        :class:`~async_qexp.models.ResultFilters`), checked before anything is sent.
        """
        limit, page_size = arguments["limit"], arguments["page_size"]
        check_limit(limit)
        check_limit(page_size, "page_size")
        key, filters = _LISTINGS[cls]
        params = filters.of(arguments).to_params()
        json_decoder = arguments["json_decoder"]
        url = self._at(key)
        self._session.check_open()

        async def fetch(marker: str | None, size: int | None) -> Page[T]:
            query = list(params)
            if size is not None:
                query.append(("limit", str(size)))
            if marker:
                query.append(("marker", marker))
            response = await self._session.request("GET", url, params=query)
            body = self._loads(response, json_decoder)
            items = body.get(key) if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise self._malformed(response, f"has no '{key}' list")
            records = [self._record(cls, item, json_decoder, response) for item in items]
            return records, body.get("marker") or None

        progress = check_progress(arguments["progress"])
        return Pager(fetch, owner=self._tasks, limit=limit, page_size=page_size, progress=progress)
