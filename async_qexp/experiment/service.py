"""The experiment service (resultsDB): every call of the reference ``IBMExperimentService``.

Each method is a coroutine on the provider's shared HTTP session. Arguments are validated
before any request (PROTOCOL §4.2); bodies follow §4.3; list calls page with the marker
(§3.7) and have lazy async-iterator twins.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import anyio
import cattrs
import httpx

from .._auth import HubGroupProject
from .._http import HttpSession, _loggable, parse_json
from .._paging import Page, Pager
from ..errors import ApiError, EntryExists, EntryNotFound
from ..models import (
    AnalysisResult,
    Device,
    Experiment,
    ExperimentShareLevel,
    FileInfo,
    ResultQuality,
    decode_envelopes,
    encode_envelopes,
    format_datetime,
    from_wire,
)

__all__ = ["ExperimentService"]

logger = logging.getLogger("async_qexp")

JSONEncoderType = type[json.JSONEncoder] | None
JSONDecoderType = type[json.JSONDecoder] | None
Params = list[tuple[str, str]]
T = TypeVar("T")

_EXPERIMENT_SORT_KEYS = {
    "start_datetime": "start_time",
    "start_time": "start_time",
    "experiment_type": "type",
}
_RESULT_SORT_KEYS = {
    "creation_datetime": "created_at",
    "device_components": "device_components",
    "result_type": "type",
}
_FILE_SUFFIXES = (".json", ".yaml", ".zip")
_PATH_SAFE = "/:@!$&'()*+,;=~"


# -- validation and query building (PROTOCOL §4.2, §3.8.3) ------------------------------------


def _check_limit(limit: int | None, name: str = "limit") -> None:
    if limit is None:
        return
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise ValueError(f"{name} must be None or a positive integer, not {limit!r}")


def _check_hgp(hub: str | None, group: str | None, project: str | None) -> None:
    if project and not (group and hub):
        raise ValueError("If project is specified, group and hub must also be specified.")
    if group and not hub:
        raise ValueError("If group is specified, hub must also be specified.")


def _type_filter(value: str | None, operator: str | None, name: str) -> str | None:
    if not value:
        return None
    if operator is None:
        return value
    if operator != "like":
        raise ValueError(f'{name}_operator must be None or "like", not {operator!r}')
    return f"like:{value}"


def _tags_filter(tags: Sequence[str] | None, operator: str | None) -> str | None:
    if not tags:
        return None
    if isinstance(tags, str):
        raise ValueError("tags must be a list of strings, not a string")
    op = (operator or "").upper()
    if op not in ("AND", "OR"):
        raise ValueError(f'tags_operator must be "AND" or "OR", not {operator!r}')
    return ("contains:" if op == "AND" else "any:") + ",".join(tags)


def _components_filter(components: Any, operator: str | None) -> Params:
    if not components:
        return []
    if operator not in (None, "contains"):
        raise ValueError(f'device_components_operator must be None or "contains", not {operator!r}')
    values = _component_list(components)
    if operator == "contains":
        return [("device_components", "contains:" + ",".join(values))]
    return [("device_components", v) for v in values]


def _component_list(components: Any) -> list[str]:
    """A component, or a list of them, as the list of strings the wire carries."""
    if components is None:
        return []
    if isinstance(components, str) or not isinstance(components, Iterable):
        return [str(components)]
    return [str(c) for c in components]


def _sort_filter(sort_by: str | Sequence[str] | None, keys: Mapping[str, str]) -> str | None:
    if not sort_by:
        return None
    items = [sort_by] if isinstance(sort_by, str) else list(sort_by)
    rendered = []
    for item in items:
        parts = item.split(":")
        if len(parts) != 2:
            raise ValueError(f"sort_by entry {item!r} must be '<key>:<asc|desc>'")
        key, direction = parts
        wire_key = keys.get(key.lower())
        if wire_key is None:
            raise ValueError(f"invalid sort key {key!r}; valid keys: {', '.join(keys)}")
        if direction not in ("asc", "desc"):
            raise ValueError(f"sort direction must be 'asc' or 'desc', not {direction!r}")
        rendered.append(f"{wire_key}:{direction}")
    return ",".join(rendered)


def _datetime_bounds(
    name: str, after: datetime | str | None, before: datetime | str | None
) -> Params:
    params = []
    if after:
        params.append((name, "ge:" + format_datetime(after)))
    if before:
        params.append((name, "le:" + format_datetime(before)))
    return params


def _ignore_unknown(filters: Mapping[str, Any], call: str) -> None:
    if filters:
        logger.info("%s: ignoring unsupported filters %s", call, sorted(filters))


def _compact(body: Mapping[str, Any]) -> dict[str, Any]:
    """Keep truthy values only, but always keep ``verified`` when set (PROTOCOL §4.3)."""
    return {k: v for k, v in body.items() if v or (k == "verified" and v is not None)}


def _path(segment: str) -> str:
    """Percent-encode a name for a path; ``/`` stays, and ``.``/``..`` segments survive."""
    if not isinstance(segment, str) or not segment:
        raise ValueError(f"a name must be a non-empty string, not {segment!r}")
    parts = []
    for part in segment.split("/"):
        if part in (".", ".."):
            parts.append("%2E" * len(part))
        else:
            parts.append(quote(part, safe=_PATH_SAFE.replace("/", "")))
    return "/".join(parts)


def _require_id(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, not {value!r}")
    return value


class ExperimentService:
    """The experiment service of one provider: ``provider.experiment``.

    Every method is a coroutine and raises :class:`~async_qexp.errors.ApiError` (or a subclass)
    when the service refuses a request, :class:`~async_qexp.errors.RequestError` when it cannot
    be reached, and ``ValueError`` for bad arguments before any request is sent.
    """

    def __init__(
        self,
        session: HttpSession,
        base_url: str,
        *,
        hgp: HubGroupProject | None = None,
        preferences_path: Path | None = None,
        preferences: Mapping[str, Any] | None = None,
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._hgp = hgp
        self._preferences_path = preferences_path
        self._preferences: dict[str, Any] = dict(preferences or {})

    def __repr__(self) -> str:
        return f"<ExperimentService {self._base} hgp={self._hgp}>"

    @property
    def base_url(self) -> str:
        """The resultsDB base URL this service talks to."""
        return self._base

    # -- helpers -------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return self._base + path

    @staticmethod
    def _dumps(value: Any, json_encoder: JSONEncoderType) -> Any:
        """User data made JSON-safe: our envelopes, or the caller's encoder when given."""
        if json_encoder is None:
            return encode_envelopes(value)
        return json.loads(json.dumps(value, cls=json_encoder))

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
            url=_loggable(str(response.request.url)),
        )

    def _record(
        self, cls: type[T], data: Any, json_decoder: JSONDecoderType, response: httpx.Response
    ) -> T:
        """A record from a wire dict; a malformed one is an :class:`ApiError`."""
        if not isinstance(data, dict):
            raise self._malformed(response, f"is not a {cls.__name__} record")
        try:
            return from_wire(cls, data, decode_user_data=json_decoder is None)
        except (ValueError, TypeError, KeyError, cattrs.BaseValidationError) as exc:
            raise self._malformed(response, f"holds a malformed {cls.__name__}: {exc}") from exc

    async def _post_create(self, path: str, body: dict[str, Any]) -> Any:
        """POST a create that carries its own id: a replay that meets 409 is our own success."""
        session = self._session
        try:
            response = await session.request(
                "POST", self._url(path), json_body=body, replay_safe=True
            )
        except EntryExists as exc:
            if exc.maybe_applied:
                logger.info("create of %s was replayed and already stored: %s", body["uuid"], exc)
                return {"uuid": body["uuid"]}
            raise
        return parse_json(response)

    async def _delete(self, path: str, what: str) -> bool:
        try:
            await self._session.request("DELETE", self._url(path))
        except EntryNotFound:
            logger.warning("%s not found; nothing deleted", what)
            return False
        return True

    # -- devices -------------------------------------------------------------------------

    async def backends(self) -> list[Device]:
        """The backends experiments can be stored for (``GET /devices``)."""
        body = await self._session.get_json(self._url("/devices"))
        devices = body.get("devices", []) if isinstance(body, dict) else body
        return [
            Device(name=str(d.get("name")), details={k: v for k, v in d.items() if k != "name"})
            for d in devices
            if isinstance(d, dict)
        ]

    async def device_components(
        self, backend_name: str | None = None
    ) -> list[str] | dict[str, list[str]]:
        """The device components (``Q0``, ``R1``, ...).

        Returns:
            the components of ``backend_name`` when it is given, otherwise a mapping from every
            backend name to its components.
        """
        params = [("device_name", backend_name)] if backend_name else None
        body = await self._session.get_json(self._url("/device_components"), params=params)
        grouped: dict[str, list[str]] = {}
        for component in body.get("device_components", []):
            grouped.setdefault(component["device_name"], []).append(component["type"])
        if backend_name:
            return grouped.get(backend_name, [])
        return grouped

    # -- experiments ---------------------------------------------------------------------

    async def create_experiment(
        self,
        experiment_type: str,
        backend_name: str,
        metadata: Mapping[str, Any] | None = None,
        experiment_id: str | None = None,
        parent_id: str | None = None,
        job_ids: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        notes: str | None = None,
        share_level: ExperimentShareLevel | str | None = None,
        start_datetime: datetime | str | None = None,
        json_encoder: JSONEncoderType = None,
        *,
        end_datetime: datetime | str | None = None,
        **kwargs: Any,
    ) -> str:
        """Create an experiment and return its id.

        Args:
            experiment_type: the experiment type, e.g. ``"T1"``.
            backend_name: the backend the experiment ran on.
            metadata: the experiment's metadata (any JSON, plus the envelopes of
                :mod:`async_qexp.models.envelopes`).
            experiment_id: the id to use (uuid4 form); one is generated when omitted.
            parent_id: the parent experiment's id.
            job_ids: ids of the experiment's jobs.
            tags: tags for the experiment.
            notes: free-form notes.
            share_level: who can see it (default private).
            start_datetime: when it started (naive = local time).
            json_encoder: a custom encoder for ``metadata`` instead of the built-in envelopes.
            end_datetime: when it ended.
            kwargs: unsupported attributes, ignored.

        Raises:
            EntryExists: if an experiment with this id exists.
        """
        _ignore_unknown(kwargs, "create_experiment")
        body = self.experiment_body(
            experiment_type=experiment_type,
            backend_name=backend_name,
            metadata=metadata,
            experiment_id=experiment_id,
            parent_id=parent_id,
            job_ids=job_ids,
            tags=tags,
            notes=notes,
            share_level=share_level,
            start_datetime=start_datetime,
            end_datetime=end_datetime,
            json_encoder=json_encoder,
        )
        created = await self.post_experiment(body)
        return str(created.get("uuid", body["uuid"]))

    def experiment_body(
        self,
        *,
        experiment_type: str,
        backend_name: str,
        metadata: Mapping[str, Any] | None = None,
        experiment_id: str | None = None,
        parent_id: str | None = None,
        job_ids: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        notes: str | None = None,
        share_level: ExperimentShareLevel | str | None = None,
        start_datetime: datetime | str | None = None,
        end_datetime: datetime | str | None = None,
        json_encoder: JSONEncoderType = None,
        hgp: HubGroupProject | None = None,
    ) -> dict[str, Any]:
        """The wire body of an experiment create (PROTOCOL §3.2, §4.3); validates first.

        ``hgp`` defaults to the provider's hub/group/project.
        """
        _require_id(experiment_type, "experiment_type")
        _require_id(backend_name, "backend_name")
        hgp = hgp or self._hgp
        if hgp is None:
            logger.warning("no hub/group/project selected: the experiment is stored without one")
        return _compact(
            {
                "uuid": experiment_id or str(uuid.uuid4()),
                "type": experiment_type,
                "device_name": backend_name,
                "extra": self._dumps(dict(metadata or {}), json_encoder),
                "parent_experiment_uuid": parent_id,
                "hub_id": hgp.hub if hgp else None,
                "group_id": hgp.group if hgp else None,
                "project_id": hgp.project if hgp else None,
                "visibility": ExperimentShareLevel.parse(share_level).value
                if share_level
                else None,
                "tags": list(tags or []),
                "jobs": list(job_ids or []),
                "notes": notes,
                "start_time": format_datetime(start_datetime) if start_datetime else None,
                "end_time": format_datetime(end_datetime) if end_datetime else None,
            }
        )

    async def post_experiment(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create an experiment from a wire body; returns the stored record as the service sent it.

        A replay whose first attempt was stored counts as success (the body's id is returned).
        """
        created = await self._post_create("/experiments", body)
        return created if isinstance(created, dict) else {"uuid": body["uuid"]}

    async def put_experiment(self, experiment_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Partially update an experiment from a wire body; returns the service's answer."""
        response = await self._session.request(
            "PUT", self._url(f"/experiments/{_path(experiment_id)}"), json_body=body
        )
        answer = parse_json(response)
        return answer if isinstance(answer, dict) else {}

    async def update_experiment(
        self,
        experiment_id: str,
        metadata: Mapping[str, Any] | None = None,
        job_ids: Sequence[str] | None = None,
        notes: str | None = None,
        tags: Sequence[str] | None = None,
        share_level: ExperimentShareLevel | str | None = None,
        end_datetime: datetime | str | None = None,
        json_encoder: JSONEncoderType = None,
        **kwargs: Any,
    ) -> None:
        """Update the given fields of an experiment (the others are left as they are).

        Raises:
            EntryNotFound: if the experiment does not exist.
        """
        _require_id(experiment_id, "experiment_id")
        _ignore_unknown(kwargs, "update_experiment")
        body = _compact(
            {
                "extra": self._dumps(dict(metadata), json_encoder) if metadata else None,
                "jobs": list(job_ids or []),
                "notes": notes,
                "tags": list(tags or []),
                "visibility": ExperimentShareLevel.parse(share_level).value
                if share_level
                else None,
                "end_time": format_datetime(end_datetime) if end_datetime else None,
            }
        )
        await self.put_experiment(experiment_id, body)

    async def experiment(
        self, experiment_id: str, json_decoder: JSONDecoderType = None
    ) -> Experiment:
        """Retrieve one experiment.

        Raises:
            EntryNotFound: if it does not exist or is not visible to this account.
        """
        _require_id(experiment_id, "experiment_id")
        response = await self._session.request(
            "GET", self._url(f"/experiments/{_path(experiment_id)}")
        )
        return self._record(Experiment, self._loads(response, json_decoder), json_decoder, response)

    def _experiment_params(
        self,
        *,
        device_components: Any,
        device_components_operator: str | None,
        experiment_type: str | None,
        experiment_type_operator: str | None,
        backend_name: str | None,
        tags: Sequence[str] | None,
        tags_operator: str | None,
        start_datetime_after: datetime | str | None,
        start_datetime_before: datetime | str | None,
        hub: str | None,
        group: str | None,
        project: str | None,
        exclude_public: bool,
        public_only: bool,
        exclude_mine: bool,
        mine_only: bool,
        parent_id: str | None,
        sort_by: str | Sequence[str] | None,
    ) -> Params:
        _check_hgp(hub, group, project)
        if exclude_public and public_only:
            raise ValueError("exclude_public and public_only cannot both be True")
        if exclude_mine and mine_only:
            raise ValueError("exclude_mine and mine_only cannot both be True")
        params: Params = []
        if backend_name:
            params.append(("device_name", backend_name))
        type_value = _type_filter(experiment_type, experiment_type_operator, "experiment_type")
        if type_value:
            params.append(("type", type_value))
        params += _datetime_bounds("start_time", start_datetime_after, start_datetime_before)
        params += _components_filter(device_components, device_components_operator)
        tags_value = _tags_filter(tags, tags_operator)
        if tags_value:
            params.append(("tags", tags_value))
        for name, value in (("hub_id", hub), ("group_id", group), ("project_id", project)):
            if value:
                params.append((name, value))
        if parent_id:
            params.append(("parent_experiment_uuid", parent_id))
        if exclude_public:
            params.append(("visibility", "!public"))
        if public_only:
            params.append(("visibility", "public"))
        if exclude_mine:
            params.append(("owner", "!me"))
        if mine_only:
            params.append(("owner", "me"))
        sort_value = _sort_filter(sort_by, _EXPERIMENT_SORT_KEYS)
        if sort_value:
            params.append(("sort", sort_value))
        return params

    def _pager(
        self,
        path: str,
        key: str,
        cls: type[Any],
        params: Params,
        json_decoder: JSONDecoderType,
        *,
        limit: int | None,
        page_size: int | None,
    ) -> Pager[Any]:
        url = self._url(path)

        async def fetch(marker: str | None, size: int | None) -> Page[Any]:
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

        return Pager(fetch, limit=limit, page_size=page_size)

    async def experiments(
        self,
        limit: int | None = 10,
        json_decoder: JSONDecoderType = None,
        device_components: Any = None,
        device_components_operator: str | None = None,
        experiment_type: str | None = None,
        experiment_type_operator: str | None = None,
        backend_name: str | None = None,
        tags: Sequence[str] | None = None,
        tags_operator: str | None = "OR",
        start_datetime_after: datetime | str | None = None,
        start_datetime_before: datetime | str | None = None,
        hub: str | None = None,
        group: str | None = None,
        project: str | None = None,
        exclude_public: bool = False,
        public_only: bool = False,
        exclude_mine: bool = False,
        mine_only: bool = False,
        parent_id: str | None = None,
        sort_by: str | Sequence[str] | None = None,
        **filters: Any,
    ) -> list[Experiment]:
        """Retrieve experiments, with optional filtering (``limit=None`` fetches them all).

        The filters mean what they mean in the reference ``IBMExperimentService.experiments``;
        for large listings prefer :meth:`iter_experiments`, which holds one page at a time.

        Raises:
            ValueError: for an invalid argument, before any request.
        """
        _check_limit(limit)
        _ignore_unknown(filters, "experiments")
        params = self._experiment_params(
            device_components=device_components,
            device_components_operator=device_components_operator,
            experiment_type=experiment_type,
            experiment_type_operator=experiment_type_operator,
            backend_name=backend_name,
            tags=tags,
            tags_operator=tags_operator,
            start_datetime_after=start_datetime_after,
            start_datetime_before=start_datetime_before,
            hub=hub,
            group=group,
            project=project,
            exclude_public=exclude_public,
            public_only=public_only,
            exclude_mine=exclude_mine,
            mine_only=mine_only,
            parent_id=parent_id,
            sort_by=sort_by,
        )
        pager = self._pager(
            "/experiments",
            "experiments",
            Experiment,
            params,
            json_decoder,
            limit=limit,
            page_size=None,
        )
        return await pager.collect()

    def iter_experiments(
        self,
        *,
        limit: int | None = None,
        page_size: int | None = None,
        json_decoder: JSONDecoderType = None,
        device_components: Any = None,
        device_components_operator: str | None = None,
        experiment_type: str | None = None,
        experiment_type_operator: str | None = None,
        backend_name: str | None = None,
        tags: Sequence[str] | None = None,
        tags_operator: str | None = "OR",
        start_datetime_after: datetime | str | None = None,
        start_datetime_before: datetime | str | None = None,
        hub: str | None = None,
        group: str | None = None,
        project: str | None = None,
        exclude_public: bool = False,
        public_only: bool = False,
        exclude_mine: bool = False,
        mine_only: bool = False,
        parent_id: str | None = None,
        sort_by: str | Sequence[str] | None = None,
    ) -> Pager[Experiment]:
        """Iterate experiments lazily, one page in memory, the next one prefetched.

        Takes the filters of :meth:`experiments`; ``limit`` caps the total (default: all),
        ``page_size`` the items per request (default: the server's page size).

        Raises:
            ValueError: for an invalid argument, at once (before any request).
        """
        _check_limit(limit)
        _check_limit(page_size, "page_size")
        params = self._experiment_params(
            device_components=device_components,
            device_components_operator=device_components_operator,
            experiment_type=experiment_type,
            experiment_type_operator=experiment_type_operator,
            backend_name=backend_name,
            tags=tags,
            tags_operator=tags_operator,
            start_datetime_after=start_datetime_after,
            start_datetime_before=start_datetime_before,
            hub=hub,
            group=group,
            project=project,
            exclude_public=exclude_public,
            public_only=public_only,
            exclude_mine=exclude_mine,
            mine_only=mine_only,
            parent_id=parent_id,
            sort_by=sort_by,
        )
        return self._pager(
            "/experiments",
            "experiments",
            Experiment,
            params,
            json_decoder,
            limit=limit,
            page_size=page_size,
        )

    async def delete_experiment(self, experiment_id: str) -> bool:
        """Delete an experiment with its analysis results, figures and files. Never prompts.

        Returns:
            ``True`` if it was deleted, ``False`` if it did not exist (a warning is logged).
        """
        _require_id(experiment_id, "experiment_id")
        return await self._delete(
            f"/experiments/{_path(experiment_id)}", f"experiment {experiment_id}"
        )

    # -- analysis results ----------------------------------------------------------------

    async def create_analysis_result(
        self,
        experiment_id: str,
        result_data: Mapping[str, Any],
        result_type: str,
        device_components: Any = None,
        tags: Sequence[str] | None = None,
        quality: ResultQuality | str = ResultQuality.UNKNOWN,
        verified: bool = False,
        result_id: str | None = None,
        chisq: float | None = None,
        json_encoder: JSONEncoderType = None,
        **kwargs: Any,
    ) -> str:
        """Create an analysis result for an experiment and return its id.

        Raises:
            EntryExists: if a result with this id exists.
            EntryNotFound: if the experiment does not exist.
        """
        _require_id(experiment_id, "experiment_id")
        _require_id(result_type, "result_type")
        _ignore_unknown(kwargs, "create_analysis_result")
        body = _compact(
            {
                "uuid": result_id or str(uuid.uuid4()),
                "experiment_uuid": experiment_id,
                "type": result_type,
                "fit": self._dumps(dict(result_data or {}), json_encoder),
                "device_components": _component_list(device_components),
                "tags": list(tags or []),
                "quality": ResultQuality.parse(quality).wire if quality else None,
                "verified": bool(verified),
                "chisq": chisq,
            }
        )
        created = await self._post_create("/analysis_results", body)
        return str(created.get("uuid", body["uuid"]))

    @staticmethod
    def _result_update_body(
        result_data: Mapping[str, Any] | None,
        tags: Sequence[str] | None,
        quality: ResultQuality | str | None,
        verified: bool | None,
        chisq: float | None,
        json_encoder: JSONEncoderType,
    ) -> dict[str, Any]:
        return _compact(
            {
                "fit": ExperimentService._dumps(dict(result_data), json_encoder)
                if result_data
                else None,
                "tags": list(tags or []),
                "quality": ResultQuality.parse(quality).wire if quality else None,
                "verified": verified,
                "chisq": chisq,
            }
        )

    async def update_analysis_result(
        self,
        result_id: str,
        result_data: Mapping[str, Any] | None = None,
        tags: Sequence[str] | None = None,
        quality: ResultQuality | str | None = None,
        verified: bool | None = None,
        chisq: float | None = None,
        json_encoder: JSONEncoderType = None,
        **kwargs: Any,
    ) -> None:
        """Update the given fields of an analysis result (the others are left as they are).

        Raises:
            EntryNotFound: if the analysis result does not exist.
        """
        _require_id(result_id, "result_id")
        _ignore_unknown(kwargs, "update_analysis_result")
        body = self._result_update_body(result_data, tags, quality, verified, chisq, json_encoder)
        body["uuid"] = result_id
        await self._session.request(
            "PUT", self._url(f"/analysis_results/{_path(result_id)}"), json_body=body
        )

    async def bulk_update_analysis_results(
        self,
        updates: Sequence[Mapping[str, Any]],
        json_encoder: JSONEncoderType = None,
    ) -> None:
        """Update many analysis results in one request (``PUT /analysis_results/bulkupdate``).

        Args:
            updates: one mapping per result, with ``result_id`` and any of ``result_data``,
                ``tags``, ``quality``, ``verified``, ``chisq``.

        Raises:
            ValueError: for an entry without ``result_id`` or with an unknown key.
        """
        allowed = {"result_id", "result_data", "tags", "quality", "verified", "chisq"}
        items = []
        for update in updates:
            unknown = set(update) - allowed
            if unknown:
                raise ValueError(f"unknown fields in a bulk update: {sorted(unknown)}")
            result_id = _require_id(update.get("result_id"), "result_id")
            body = self._result_update_body(
                update.get("result_data"),
                update.get("tags"),
                update.get("quality"),
                update.get("verified"),
                update.get("chisq"),
                json_encoder,
            )
            body["uuid"] = result_id
            items.append(body)
        if not items:
            return
        await self._session.request(
            "PUT", self._url("/analysis_results/bulkupdate"), json_body={"analysis_results": items}
        )

    async def analysis_result(
        self, result_id: str, json_decoder: JSONDecoderType = None
    ) -> AnalysisResult:
        """Retrieve one analysis result.

        Raises:
            EntryNotFound: if it does not exist or is not visible to this account.
        """
        _require_id(result_id, "result_id")
        response = await self._session.request(
            "GET", self._url(f"/analysis_results/{_path(result_id)}")
        )
        return self._record(
            AnalysisResult, self._loads(response, json_decoder), json_decoder, response
        )

    def _result_params(
        self,
        *,
        device_components: Any,
        device_components_operator: str | None,
        experiment_id: str | None,
        result_type: str | None,
        result_type_operator: str | None,
        backend_name: str | None,
        quality: Any,
        verified: bool | None,
        tags: Sequence[str] | None,
        tags_operator: str | None,
        creation_datetime_after: datetime | str | None,
        creation_datetime_before: datetime | str | None,
        sort_by: str | Sequence[str] | None,
    ) -> Params:
        params: Params = []
        if backend_name:
            params.append(("device_name", backend_name))
        params += _components_filter(device_components, device_components_operator)
        if experiment_id:
            params.append(("experiment_uuid", experiment_id))
        type_value = _type_filter(result_type, result_type_operator, "result_type")
        if type_value:
            params.append(("type", type_value))
        if quality:
            if isinstance(quality, str | ResultQuality):
                params.append(("quality", ResultQuality.parse(quality).wire))
            else:
                wires = [ResultQuality.parse(q).wire for q in quality]
                params.append(("quality", "in:" + ",".join(wires)))
        if verified is not None:
            params.append(("verified", "true" if verified else "false"))
        tags_value = _tags_filter(tags, tags_operator)
        if tags_value:
            params.append(("tags", tags_value))
        params += _datetime_bounds("created_at", creation_datetime_after, creation_datetime_before)
        sort_value = _sort_filter(sort_by, _RESULT_SORT_KEYS)
        if sort_value:
            params.append(("sort", sort_value))
        return params

    async def analysis_results(
        self,
        limit: int | None = 10,
        json_decoder: JSONDecoderType = None,
        device_components: Any = None,
        device_components_operator: str | None = None,
        experiment_id: str | None = None,
        result_type: str | None = None,
        result_type_operator: str | None = None,
        backend_name: str | None = None,
        quality: ResultQuality | str | Sequence[ResultQuality | str] | None = None,
        verified: bool | None = None,
        tags: Sequence[str] | None = None,
        tags_operator: str | None = "OR",
        creation_datetime_after: datetime | str | None = None,
        creation_datetime_before: datetime | str | None = None,
        sort_by: str | Sequence[str] | None = None,
        **filters: Any,
    ) -> list[AnalysisResult]:
        """Retrieve analysis results, with optional filtering (``limit=None`` fetches all).

        Raises:
            ValueError: for an invalid argument, before any request.
        """
        _check_limit(limit)
        _ignore_unknown(filters, "analysis_results")
        params = self._result_params(
            device_components=device_components,
            device_components_operator=device_components_operator,
            experiment_id=experiment_id,
            result_type=result_type,
            result_type_operator=result_type_operator,
            backend_name=backend_name,
            quality=quality,
            verified=verified,
            tags=tags,
            tags_operator=tags_operator,
            creation_datetime_after=creation_datetime_after,
            creation_datetime_before=creation_datetime_before,
            sort_by=sort_by,
        )
        pager = self._pager(
            "/analysis_results",
            "analysis_results",
            AnalysisResult,
            params,
            json_decoder,
            limit=limit,
            page_size=None,
        )
        return await pager.collect()

    def iter_analysis_results(
        self,
        *,
        limit: int | None = None,
        page_size: int | None = None,
        json_decoder: JSONDecoderType = None,
        device_components: Any = None,
        device_components_operator: str | None = None,
        experiment_id: str | None = None,
        result_type: str | None = None,
        result_type_operator: str | None = None,
        backend_name: str | None = None,
        quality: ResultQuality | str | Sequence[ResultQuality | str] | None = None,
        verified: bool | None = None,
        tags: Sequence[str] | None = None,
        tags_operator: str | None = "OR",
        creation_datetime_after: datetime | str | None = None,
        creation_datetime_before: datetime | str | None = None,
        sort_by: str | Sequence[str] | None = None,
    ) -> Pager[AnalysisResult]:
        """Iterate analysis results lazily; the filters of :meth:`analysis_results`.

        Raises:
            ValueError: for an invalid argument, at once (before any request).
        """
        _check_limit(limit)
        _check_limit(page_size, "page_size")
        params = self._result_params(
            device_components=device_components,
            device_components_operator=device_components_operator,
            experiment_id=experiment_id,
            result_type=result_type,
            result_type_operator=result_type_operator,
            backend_name=backend_name,
            quality=quality,
            verified=verified,
            tags=tags,
            tags_operator=tags_operator,
            creation_datetime_after=creation_datetime_after,
            creation_datetime_before=creation_datetime_before,
            sort_by=sort_by,
        )
        return self._pager(
            "/analysis_results",
            "analysis_results",
            AnalysisResult,
            params,
            json_decoder,
            limit=limit,
            page_size=page_size,
        )

    async def delete_analysis_result(self, result_id: str) -> bool:
        """Delete an analysis result. Never prompts.

        Returns:
            ``True`` if it was deleted, ``False`` if it did not exist (a warning is logged).
        """
        _require_id(result_id, "result_id")
        return await self._delete(
            f"/analysis_results/{_path(result_id)}", f"analysis result {result_id}"
        )

    # -- figures (PROTOCOL §3.10, §4.6) --------------------------------------------------

    async def _figure_bytes(
        self, figure: str | os.PathLike[str] | bytes, figure_name: str | None
    ) -> tuple[str, bytes]:
        if isinstance(figure, bytes | bytearray | memoryview):
            data = bytes(figure)
            name = figure_name or f"figure_{datetime.now().isoformat()}.svg"
        elif isinstance(figure, str | os.PathLike):
            data = await anyio.Path(figure).read_bytes()
            name = figure_name or os.fspath(figure)
        else:
            raise TypeError(f"figure must be bytes or a file path, not {type(figure).__name__}")
        if not name.endswith(".svg"):
            name += ".svg"
        return name, data

    async def _signed_upload(self, kind: str, experiment_id: str, name: str, data: bytes) -> int:
        """Ask for a signed URL, then PUT the bytes there; returns the PUT's status code."""
        body = await self._session.get_json(
            self._url(f"/experiments/{_path(experiment_id)}/{kind}/upload/{_path(name)}")
        )
        url = body.get("url") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url:
            raise ApiError("the service did not return an upload URL", status=200, url=self._base)
        # The session adds X-Access-Token only when the URL is on a service origin.
        response = await self._session.request(
            "PUT", url, content=data, headers={"Content-Type": "application/json"}
        )
        return response.status_code

    async def create_figure(
        self,
        experiment_id: str,
        figure: str | os.PathLike[str] | bytes,
        figure_name: str | None = None,
        sync_upload: bool = True,
    ) -> tuple[str, int]:
        """Store a figure (SVG bytes, or the path of a file) and return ``(name, size)``.

        Without ``figure_name`` the file path, or ``figure_<now>.svg``, names it; ``.svg`` is
        appended when missing. Storing under an existing name replaces that figure.
        ``sync_upload`` is accepted for compatibility: uploads always complete before return.

        Raises:
            EntryNotFound: if the experiment does not exist.
        """
        _require_id(experiment_id, "experiment_id")
        name, data = await self._figure_bytes(figure, figure_name)
        status = await self._signed_upload("plots", experiment_id, name, data)
        if status != 200:
            raise ApiError(
                f"figure upload answered {status} instead of 200", status=status, url=self._base
            )
        return name, len(data)

    async def update_figure(
        self,
        experiment_id: str,
        figure: str | os.PathLike[str] | bytes,
        figure_name: str,
        sync_upload: bool = True,
    ) -> tuple[str, int]:
        """Replace a figure's content and return ``(name, size)``."""
        _require_id(figure_name, "figure_name")
        return await self.create_figure(experiment_id, figure, figure_name, sync_upload)

    async def figure(
        self,
        experiment_id: str,
        figure_name: str,
        file_name: str | os.PathLike[str] | None = None,
    ) -> bytes | int:
        """Download a figure.

        Returns:
            its bytes, or, when ``file_name`` is given, the number of bytes written there.

        Raises:
            EntryNotFound: if the figure does not exist.
        """
        _require_id(experiment_id, "experiment_id")
        _require_id(figure_name, "figure_name")
        response = await self._session.request(
            "GET", self._url(f"/experiments/{_path(experiment_id)}/plots/{_path(figure_name)}")
        )
        data = response.content
        if file_name is None:
            return data
        await anyio.Path(file_name).write_bytes(data)
        return len(data)

    async def delete_figure(self, experiment_id: str, figure_name: str) -> bool:
        """Delete a figure. Never prompts.

        Returns:
            ``True`` if it was deleted, ``False`` if it did not exist (a warning is logged).
        """
        _require_id(experiment_id, "experiment_id")
        _require_id(figure_name, "figure_name")
        return await self._delete(
            f"/experiments/{_path(experiment_id)}/plots/{_path(figure_name)}",
            f"figure {figure_name!r} of experiment {experiment_id}",
        )

    # -- files (PROTOCOL §3.10.4, §4.7) --------------------------------------------------

    async def files(self, experiment_id: str) -> list[FileInfo]:
        """List an experiment's files."""
        _require_id(experiment_id, "experiment_id")
        body = await self._session.get_json(self._url(f"/experiments/{_path(experiment_id)}/files"))
        return [from_wire(FileInfo, f) for f in body.get("files", [])]

    async def experiment_has_file(self, experiment_id: str, file_name: str) -> bool:
        """Whether the experiment has a file of this name (the naming rule applied)."""
        name = _file_name(file_name)
        return any(f.name == name for f in await self.files(experiment_id))

    async def file_upload(
        self,
        experiment_id: str,
        file_name: str,
        data: Mapping[str, Any] | list[Any] | str | bytes,
        json_encoder: JSONEncoderType = None,
    ) -> str:
        """Store a file with an experiment and return its stored name.

        Names must end in ``.json``, ``.yaml`` or ``.zip`` (``.json`` is appended otherwise).
        A mapping or list is written as JSON (as YAML for ``.yaml``, which needs PyYAML);
        ``str`` and ``bytes`` are stored as they are. An existing file of that name is replaced.
        """
        _require_id(experiment_id, "experiment_id")
        name = _file_name(file_name)
        if isinstance(data, bytes | bytearray):
            payload = bytes(data)
        elif isinstance(data, str):
            payload = data.encode()
        elif name.endswith(".yaml"):
            payload = _yaml().safe_dump(data).encode()
        elif name.endswith(".zip"):
            raise TypeError("a .zip file takes bytes")
        else:
            payload = json.dumps(self._dumps(data, json_encoder)).encode()
        await self._signed_upload("files", experiment_id, name, payload)
        return name

    async def file_download(
        self, experiment_id: str, file_name: str, json_decoder: JSONDecoderType = None
    ) -> Any:
        """Download a file: ``.json`` decoded (envelopes too), ``.yaml`` parsed, else bytes.

        Raises:
            EntryNotFound: if the file does not exist.
        """
        _require_id(experiment_id, "experiment_id")
        name = _file_name(file_name)
        response = await self._session.request(
            "GET", self._url(f"/experiments/{_path(experiment_id)}/files/{_path(name)}")
        )
        if name.endswith(".json"):
            data = self._loads(response, json_decoder)
            return data if json_decoder is not None else decode_envelopes(data)
        if name.endswith(".yaml"):
            return _yaml().safe_load(response.content)
        return response.content

    async def file_delete(self, experiment_id: str, file_name: str) -> bool:
        """Delete a file. Returns ``False`` (and logs a warning) if it did not exist."""
        _require_id(experiment_id, "experiment_id")
        name = _file_name(file_name)
        return await self._delete(
            f"/experiments/{_path(experiment_id)}/files/{_path(name)}",
            f"file {name!r} of experiment {experiment_id}",
        )

    # -- preferences ---------------------------------------------------------------------

    @property
    def preferences(self) -> dict[str, Any]:
        """The saved experiment preferences (``{"auto_save": bool}``); a copy."""
        return dict(self._preferences)

    async def save_preferences(self, auto_save: bool | None = None) -> None:
        """Store experiment preferences on disk (for applications; the service ignores them)."""
        if auto_save is not None:
            if not isinstance(auto_save, bool):
                raise ValueError("auto_save must be a bool")
            self._preferences["auto_save"] = auto_save
        path = self._preferences_path
        if path is None:
            return
        text = json.dumps({"experiment": self._preferences}, indent=2)
        await anyio.to_thread.run_sync(_atomic_write, path, text)


def _file_name(file_name: str) -> str:
    _require_id(file_name, "file_name")
    return file_name if file_name.endswith(_FILE_SUFFIXES) else file_name + ".json"


def _yaml() -> Any:
    try:
        import yaml
    except ImportError:
        raise ValueError(".yaml files need PyYAML (pip install pyyaml)") from None
    return yaml


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def load_preferences(path: Path | None) -> dict[str, Any]:
    """Read saved experiment preferences (missing or unreadable file: none)."""
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    prefs = data.get("experiment") if isinstance(data, dict) else None
    return dict(prefs) if isinstance(prefs, dict) else {}
