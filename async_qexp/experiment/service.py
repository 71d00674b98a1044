"""The experiment service (resultsDB): every call of the reference ``IBMExperimentService``.

Each method is a coroutine on the provider's shared HTTP session, except the list calls, which
return a :class:`~async_qexp.Pager` at once (await it for the list, or iterate it). Arguments
are checked before any request; request bodies and queries are made by
:mod:`async_qexp.models` from its records and filter objects (``docs/protocol.md``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio

from .._config import save_preferences
from .._http import parse_json
from .._logs import get_logger
from .._paging import Pager
from .._service import ServiceContext
from .._tasks import drain
from ..errors import ApiError, ClosedError, EntryExists
from ..models import (
    AnalysisResult,
    Device,
    DeviceComponent,
    Experiment,
    ExperimentShareLevel,
    ResultQuality,
    create_body,
    from_wire,
    to_component,
    update_body,
    wire_name,
)
from ..models._checks import (
    reject_unknown_keywords,
    require_bool,
    require_ident,
    require_str,
)
from ..progress import Progress, ProgressReporter
from ._blobs import FigureAndFileCalls
from ._rest import (
    JSONDecoderType,
    JSONEncoderType,
    ignore_unknown,
    new_id,
    plain_json,
)
from .bulk import AnalysisResultItem, BulkCreateReport, analysis_result_record

__all__ = ["ExperimentService"]

logger = get_logger("async_qexp.experiment")

_RESULT_UPDATES = ("result_data", "tags", "quality", "verified", "chisq")


class ExperimentService(FigureAndFileCalls):
    """The experiment service of one provider: ``provider.experiment``.

    Every method raises :class:`~async_qexp.errors.ApiError` (or a subclass) when the service
    refuses a request, :class:`~async_qexp.errors.RequestError` when it cannot be reached,
    :class:`~async_qexp.errors.ClosedError` once the provider is closed, and ``TypeError`` /
    ``ValueError`` for bad arguments, before any request is sent.
    """

    def __init__(
        self,
        context: ServiceContext,
        base_url: str,
        *,
        preferences_path: Path | None = None,
        preferences: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(context, base_url)
        self._preferences_path = preferences_path
        self._preferences: dict[str, Any] = dict(preferences or {})

    def _upload_width(self) -> int:
        """Uploads a bulk operation (a ``save()``) runs now to keep the provider's bound on
        requests in flight busy."""
        return self._session.workers()

    # -- devices -------------------------------------------------------------------------

    async def backends(self) -> list[Device]:
        """The backends experiments can be stored for (``GET /devices``)."""
        body = await self._session.get_json(self._url("/devices"))
        devices = body.get("devices", []) if isinstance(body, dict) else body
        if not isinstance(devices, list):
            devices = []
        return [
            Device(name=str(d.get("name")), details={k: v for k, v in d.items() if k != "name"})
            for d in devices
            if isinstance(d, dict)
        ]

    async def device_components(
        self, backend_name: str | None = None
    ) -> list[DeviceComponent] | dict[str, list[DeviceComponent]]:
        """The device components (``Qubit(0)``, ``Resonator(1)``, ...: strings such as ``"Q0"``,
        parsed).

        Returns:
            the components of ``backend_name`` when it is given, otherwise a mapping from every
            backend name to its components.
        """
        if backend_name is not None:
            require_str(backend_name, "backend_name")
        params = [("device_name", backend_name)] if backend_name else None
        body = await self._session.get_json(self._url("/device_components"), params=params)
        grouped: dict[str, list[DeviceComponent]] = {}
        listed = body.get("device_components") if isinstance(body, dict) else None
        for component in listed if isinstance(listed, list) else []:
            if isinstance(component, dict) and "device_name" in component and "type" in component:
                parsed = to_component(str(component["type"]))
                grouped.setdefault(str(component["device_name"]), []).append(parsed)
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
            metadata: the experiment's metadata (JSON values, plus the values the envelopes
                carry: complex numbers, sets, bytes, datetimes, numpy arrays).
            experiment_id: the id to use (uuid4 form); one is generated when omitted.
            parent_id: the parent experiment's id.
            job_ids: ids of the experiment's jobs.
            tags: tags for the experiment.
            notes: free-form notes.
            share_level: who can see it (default private).
            start_datetime: when it started (naive = local time).
            json_encoder: a custom encoder for ``metadata`` instead of the built-in envelopes.
            end_datetime: when it ended.
            kwargs: unsupported attributes, ignored as the reference ignores them, with a
                ``UserWarning`` naming each (and the parameters closest to it).

        Raises:
            EntryExists: if an experiment with this id exists.
        """
        ignore_unknown(kwargs, self.create_experiment)
        require_str(experiment_type, "experiment_type", empty=False)
        require_str(backend_name, "backend_name", empty=False)
        hgp = self._hgp
        if hgp is None:
            logger.warning("no hub/group/project selected: the experiment is stored without one")
        record = Experiment(
            experiment_id=experiment_id if experiment_id is not None else new_id(),
            experiment_type=experiment_type,
            backend_name=backend_name,
            metadata=plain_json(metadata, json_encoder) if metadata is not None else {},
            parent_id=parent_id,
            job_ids=job_ids if job_ids is not None else [],
            tags=tags if tags is not None else [],
            notes=notes if notes is not None else "",
            share_level=share_level,
            hub=hgp.hub if hgp else "",
            group=hgp.group if hgp else "",
            project=hgp.project if hgp else "",
            start_datetime=start_datetime,
            end_datetime=end_datetime,
        )
        stored = await self.post_experiment(create_body(record))
        return stored.experiment_id

    async def post_experiment(self, body: dict[str, Any]) -> Experiment:
        """Create an experiment from a wire body (made by :func:`async_qexp.models.create_body`).

        Returns the experiment as stored: the body, updated with whatever the service answered
        (its id, owner and timestamps). A replay whose first attempt was stored counts as
        success.

        Raises:
            ApiError: if the body and the answer together are no experiment.
        """
        answer = await self._post_create("/experiments", body)
        merged = {**body, **answer} if isinstance(answer, dict) else body
        try:
            return from_wire(Experiment, merged)
        except (ValueError, TypeError, KeyError) as exc:
            raise ApiError(
                f"the service answered an experiment create with a malformed record: {exc}",
                status=200,
                method="POST",
                url=self._url("/experiments"),
            ) from exc

    async def put_experiment(self, experiment_id: str, body: dict[str, Any]) -> Experiment | None:
        """Partially update an experiment from a wire body (made by
        :func:`async_qexp.models.update_body`); returns the updated record if the service
        answered with one."""
        require_ident(experiment_id, "experiment_id")
        response = await self._session.request(
            "PUT", self._at("experiments", experiment_id), json_body=body
        )
        return self._stored(Experiment, parse_json(response))

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
        """Update the given fields of an experiment; the others are left as they are.

        Exactly the fields given are sent, empty values included (``tags=[]`` clears the
        tags).

        Raises:
            EntryNotFound: if the experiment does not exist.
        """
        require_ident(experiment_id, "experiment_id")
        ignore_unknown(kwargs, self.update_experiment)
        changes = {
            name: value
            for name, value in (
                ("metadata", plain_json(metadata, json_encoder)),
                ("job_ids", job_ids),
                ("notes", notes),
                ("tags", tags),
                ("share_level", share_level),
                ("end_datetime", end_datetime),
            )
            if value is not None
        }
        await self.put_experiment(experiment_id, update_body(Experiment, changes))

    async def experiment(
        self, experiment_id: str, json_decoder: JSONDecoderType = None
    ) -> Experiment:
        """Retrieve one experiment.

        Raises:
            EntryNotFound: if it does not exist or is not visible to this account.
        """
        require_ident(experiment_id, "experiment_id")
        response = await self._session.request("GET", self._at("experiments", experiment_id))
        return self._record(Experiment, self._loads(response, json_decoder), json_decoder, response)

    @reject_unknown_keywords
    def experiments(
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
        *,
        page_size: int | None = None,
        progress: Progress | None = None,
    ) -> Pager[Experiment]:
        """Experiments, with optional filtering: ``await`` it for a list, or iterate it.

        The filters mean what they mean in the reference ``IBMExperimentService.experiments``.
        ``limit`` caps the total (``None``: every match); ``page_size`` the items per request
        (default: the server's page size, or ``limit`` when smaller); ``progress(items,
        total)`` is told the items received as each page arrives (:mod:`async_qexp.progress`).
        Iterating holds one page in memory and fetches the next while you consume this one::

            recent = await service.experiments(backend_name="ibmq_lima")
            async for experiment in service.experiments(limit=None, page_size=500):
                ...

        The filters are the parameters above: an unknown keyword is a ``TypeError`` naming it
        and the filters closest to it (``backend=`` asks "did you mean 'backend_name'?"),
        where the reference ignored it, so a typo can no longer list everything.

        Raises:
            TypeError: for an argument of the wrong type or an unknown keyword, at once (before
                any request).
            ValueError: for a bad value or combination, at once.
        """
        return self._listing(Experiment, locals())

    iter_experiments = functools.partialmethod(experiments, limit=None)
    """:meth:`experiments` with ``limit=None``: iterate every match."""

    async def delete_experiment(self, experiment_id: str) -> bool:
        """Delete an experiment with its analysis results, figures and files. Never prompts.

        Returns:
            ``True`` if it was deleted, ``False`` if it did not exist (a warning is logged).
        """
        require_ident(experiment_id, "experiment_id")
        return await self._delete(
            self._at("experiments", experiment_id), f"experiment {experiment_id}"
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
        ignore_unknown(kwargs, self.create_analysis_result)
        record = analysis_result_record(
            {
                "experiment_id": experiment_id,
                "result_data": result_data,
                "result_type": result_type,
                "device_components": device_components,
                "tags": tags,
                "quality": quality,
                "verified": verified,
                "result_id": result_id,
                "chisq": chisq,
            },
            json_encoder,
        )
        await self.post_analysis_result(create_body(record))
        return record.result_id

    async def create_analysis_results(
        self,
        results: Iterable[AnalysisResultItem],
        *,
        progress: Progress | None = None,
        json_encoder: JSONEncoderType = None,
    ) -> BulkCreateReport:
        """Create many analysis results concurrently, and report what became of each.

        Every item is checked and encoded before anything is sent, so a bad one raises and
        nothing is stored. Then the creates run concurrently, as many at once as the
        provider's in-flight bound (``max_in_flight``) allows. A failed create does not stop
        the others: it is reported, with its error, in the answer.

        Every result carries its id (given, or generated now), so a create whose answer was
        lost is replayed safely, and an id the service already holds is reported as
        ``existing`` rather than failed: give deterministic ids and a rerun of the same batch
        skips what an earlier run stored (``qexp upload`` does this:
        ``docs/cli.md#qexp-upload``)::

            report = await service.create_analysis_results(
                [{"experiment_id": exp_id, "result_type": "T1", "result_data": {"value": v}}
                 for v in values],
                progress=lambda done, total: print(f"{done}/{total}"),
            )
            assert report.ok, report.failed

        Args:
            results: the results, each a mapping of :meth:`create_analysis_result`'s
                arguments (``experiment_id`` and ``result_type`` required; no other keys) or
                an :class:`~async_qexp.models.AnalysisResult` record.
            progress: called as ``progress(done, total)`` (:mod:`async_qexp.progress`): first
                with 0 done, then after every item created, found existing or failed; ``done``
                ends at ``total``, the number of items.
            json_encoder: a custom encoder for every ``result_data``, as in
                :meth:`create_analysis_result`.

        Returns:
            a :class:`~async_qexp.experiment.bulk.BulkCreateReport`: the ids created, the ids
            that already existed, and the failures with their errors, in the order given.

        Raises:
            TypeError: for an item or field of the wrong type (the message names the item,
                ``results[3]: ...``), before any request.
            ValueError: for a bad value, an unknown or missing key, or two items with the same
                ``result_id``, before any request.
            ClosedError: if the provider is closed (then nothing more is sent).
        """
        if isinstance(results, str | bytes | Mapping) or not isinstance(results, Iterable):
            raise TypeError(
                f"results must be an iterable of analysis results, not {type(results).__name__}"
            )
        reporter = ProgressReporter(progress)
        bodies: list[tuple[str, dict[str, Any]]] = []
        seen: dict[str, int] = {}
        for index, item in enumerate(results):
            try:
                record = analysis_result_record(item, json_encoder)
                body = create_body(record)
            except (TypeError, ValueError) as exc:
                kind = TypeError if isinstance(exc, TypeError) else ValueError
                raise kind(f"results[{index}]: {exc}") from exc
            if record.result_id in seen:
                raise ValueError(
                    f"results[{index}] has the result_id of results[{seen[record.result_id]}]: "
                    f"{record.result_id!r}"
                )
            seen[record.result_id] = index
            bodies.append((record.result_id, body))
        self._session.check_open()
        reporter.add_total(len(bodies))
        outcomes: list[Exception | bool | None] = [None] * len(bodies)  # True: created

        async def create(index: int) -> None:
            body = bodies[index][1]
            try:
                await self.post_analysis_result(body)
                outcomes[index] = True
            except EntryExists:  # a first attempt's 409: stored before this call
                outcomes[index] = False
            except ClosedError:
                raise
            except Exception as exc:
                logger.info("could not create analysis result %s: %s", bodies[index][0], exc)
                outcomes[index] = exc
            reporter.advance()

        owner = self._tasks.child("create_analysis_results")
        try:
            # A pool of creators, as wide as the provider's bound keeps busy (it follows an
            # adaptive bound as it moves): no task per item.
            await drain(
                range(len(bodies)),
                create,
                width=self._session.workers,
                spawn=lambda coro: owner.spawn(coro, name="create analysis results"),
            )
        finally:
            await owner.aclose()
        done = list(zip(bodies, outcomes, strict=True))
        return BulkCreateReport(
            created=tuple(rid for (rid, _), outcome in done if outcome is True),
            existing=tuple(rid for (rid, _), outcome in done if outcome is False),
            failed=tuple(
                (rid, outcome) for (rid, _), outcome in done if isinstance(outcome, Exception)
            ),
        )

    async def post_analysis_result(self, body: Mapping[str, Any] | bytes) -> None:
        """Create an analysis result from a wire body (made by
        :func:`async_qexp.models.create_body`, or that body's JSON already encoded); a replayed
        create that was stored counts as success."""
        await self._post_create("/analysis_results", body)

    async def put_analysis_result(self, result_id: str, body: dict[str, Any]) -> None:
        """Partially update an analysis result from a wire body (made by
        :func:`async_qexp.models.update_body`); the body carries the id, as the service wants."""
        require_ident(result_id, "result_id")
        body = {**body, wire_name(AnalysisResult, "result_id"): result_id}
        await self._session.request("PUT", self._at("analysis_results", result_id), json_body=body)

    @staticmethod
    def _result_changes(
        updates: Mapping[str, Any], json_encoder: JSONEncoderType
    ) -> dict[str, Any]:
        """The update body of the given (non-``None``) fields of an analysis result."""
        changes = {k: v for k, v in updates.items() if v is not None}
        if "result_data" in changes:
            changes["result_data"] = plain_json(changes["result_data"], json_encoder)
        return update_body(AnalysisResult, changes)

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
        """Update the given fields of an analysis result; the others are left as they are.

        Exactly the fields given are sent, empty and zero values included.

        Raises:
            EntryNotFound: if the analysis result does not exist.
        """
        require_ident(result_id, "result_id")
        ignore_unknown(kwargs, self.update_analysis_result)
        body = self._result_changes(
            {
                "result_data": result_data,
                "tags": tags,
                "quality": quality,
                "verified": verified,
                "chisq": chisq,
            },
            json_encoder,
        )
        await self.put_analysis_result(result_id, body)

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
        if not isinstance(updates, list | tuple):
            raise TypeError(f"updates must be a list of mappings, not {type(updates).__name__}")
        key = wire_name(AnalysisResult, "result_id")
        items = []
        for update in updates:
            if not isinstance(update, Mapping):
                raise TypeError(f"each update must be a mapping, not {type(update).__name__}")
            unknown = set(update) - {"result_id", *_RESULT_UPDATES}
            if unknown:
                raise ValueError(f"unknown fields in a bulk update: {sorted(unknown)}")
            if update.get("result_id") is None:
                raise ValueError("every bulk update needs a result_id")
            result_id = require_ident(update["result_id"], "result_id")
            body = self._result_changes(
                {name: update.get(name) for name in _RESULT_UPDATES}, json_encoder
            )
            items.append({**body, key: result_id})
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
        require_ident(result_id, "result_id")
        response = await self._session.request("GET", self._at("analysis_results", result_id))
        return self._record(
            AnalysisResult, self._loads(response, json_decoder), json_decoder, response
        )

    @reject_unknown_keywords
    def analysis_results(
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
        *,
        page_size: int | None = None,
        progress: Progress | None = None,
    ) -> Pager[AnalysisResult]:
        """Analysis results, with optional filtering: ``await`` it for a list, or iterate it.

        ``limit`` and ``page_size`` work as in :meth:`experiments`, and an unknown keyword
        is a ``TypeError`` as there.

        Raises:
            TypeError: for an argument of the wrong type or an unknown keyword, at once (before
                any request).
            ValueError: for a bad value, at once.
        """
        return self._listing(AnalysisResult, locals())

    iter_analysis_results = functools.partialmethod(analysis_results, limit=None)
    """:meth:`analysis_results` with ``limit=None``: iterate every match."""

    async def delete_analysis_result(self, result_id: str) -> bool:
        """Delete an analysis result. Never prompts.

        Returns:
            ``True`` if it was deleted, ``False`` if it did not exist (a warning is logged).
        """
        require_ident(result_id, "result_id")
        return await self._delete(
            self._at("analysis_results", result_id), f"analysis result {result_id}"
        )

    # -- preferences ---------------------------------------------------------------------

    @property
    def preferences(self) -> dict[str, Any]:
        """The saved experiment preferences (``{"auto_save": bool}``); a copy."""
        return dict(self._preferences)

    async def save_preferences(self, auto_save: bool | None = None) -> None:
        """Store experiment preferences on disk (for applications; the service ignores them)."""
        if auto_save is not None:
            self._preferences["auto_save"] = require_bool(auto_save, "auto_save")
        path = self._preferences_path
        if path is None:
            return
        await anyio.to_thread.run_sync(
            save_preferences, path, "experiment", dict(self._preferences)
        )
