"""``IBMExperimentService`` with the interface of qiskit-ibm-experiment (0.4.x), on async_qexp.

Switching is one import::

    # from qiskit_ibm_experiment import IBMExperimentService
    from async_qexp.compat import IBMExperimentService

Every call blocks as the reference's does, and runs on the async client underneath: one event
loop and one connection pool per service (a :class:`~async_qexp.SyncProvider`), with its
retries, its in-flight bound and its token handling. The bulk calls run their items as
coroutines on that loop instead of a thread each (``docs/drop-in.md``).
"""

from __future__ import annotations

import enum
import json
import logging
import os
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from .._config import env_token
from ..experiment import ExperimentService
from ..experiment.bulk import analysis_result_record
from ..models import create_body
from ..models._checks import require_bool, require_ident, require_int, require_str
from ..sync import SyncProvider
from . import _accounts, _core
from ._base import _decoder, _encoder
from ._blobs import FigureAndFileCalls
from ._bulk import SaveHandler
from ._frames import dataframe_to_results, results_to_dataframe
from ._records import (
    AnalysisResultData,
    ExperimentData,
    experiment_changes,
    experiment_out,
    experiment_record,
    quality_in,
    require_data,
    result_changes,
    result_item,
    result_out,
)
from .errors import (
    IBMAccountError,
    reference_errors,
)

__all__ = ["IBMExperimentService"]

logger = logging.getLogger("async_qexp.compat")

_PROVIDER_OPTIONS = (
    "max_in_flight",
    "retry",
    "transport",
    "timeout",
    "trust_env",
    "preferences_path",
    "stream_policy",
)
"""Keywords of the constructor passed on to :class:`~async_qexp.SyncProvider`."""

_EXPERIMENT_FIELDS = ("experiment_id", "experiment_type", "backend", "metadata")


def _proxy(proxies: Any) -> str | None:
    """The proxy URL of the reference's ``proxies`` (``{"urls": {"https": URL}}``)."""
    if proxies is None:
        return None
    if not isinstance(proxies, Mapping):
        raise TypeError(f"proxies must be a dict, not {type(proxies).__name__}")
    if proxies.get("username_ntlm") or proxies.get("password_ntlm"):
        raise ValueError("NTLM proxy credentials are not supported; put them in the proxy URL")
    urls = proxies.get("urls") or {}
    if not isinstance(urls, Mapping):
        raise TypeError(f"proxies['urls'] must be a dict, not {type(urls).__name__}")
    for key in ("https", "http", "all"):
        if urls.get(key):
            return str(urls[key])
    return str(next(iter(urls.values()))) if urls else None


class IBMExperimentService(FigureAndFileCalls):
    """The experiment service with qiskit-ibm-experiment's interface, on async_qexp.

    A drop-in for ``qiskit_ibm_experiment.IBMExperimentService``: the same constructor,
    methods, arguments and return values (dicts, and :class:`ExperimentData` /
    :class:`AnalysisResultData` with the reference's fields), and the reference's exception
    names (:mod:`async_qexp.compat.errors`, each a subclass of ours). It works as the service
    of qiskit-experiments' ``ExperimentData`` (0.13 and 0.14)::

        from async_qexp.compat import IBMExperimentService

        service = IBMExperimentService(token=TOKEN)
        exp_data = ExperimentData(experiment=exp, service=service)
        exp_data.save()

    Args:
        token: the API token; without it, the saved account ``name``, then ``QEXP_TOKEN``,
            then the default saved account (``save_account``).
        url: the authentication URL (default: ``QEXP_URL``, else IBM Quantum's).
        name: a saved account to use (``save_account(name=...)``).
        hgp: ``"hub/group/project"`` for new experiments.
        proxies: the reference's proxy configuration (``{"urls": {"https": URL}}``).
        verify: whether to verify the server's TLS certificate.
        local: use the embedded emulator instead of a server (as the reference's local mode,
            nothing leaves the machine).
        local_save: with ``local``, keep the data in ``~/.qiskit/resultdb`` between runs.
        kwargs: options (``prompt_for_delete``, ``requests_timeout``,
            ``raise_on_failed_save``: see :attr:`options`); ``result_quality``, the enum class
            qualities are returned as (see :meth:`analysis_result`); and the
            :class:`~async_qexp.SyncProvider` keywords ``max_in_flight``, ``retry``,
            ``transport``, ``timeout``, ``trust_env``, ``preferences_path``. Others are
            ignored with a warning.

    Raises:
        IBMAccountError: if no token is given or found.
        IBMNotAuthorizedError: if the service refuses the token.
        IBMApiRequestError: if the service cannot be reached.
    """

    _default_preferences = {"auto_save": False}
    _default_options = {
        "prompt_for_delete": True,
        "requests_timeout": 100,
        "raise_on_failed_save": True,
    }
    _DEFAULT_LOCAL_DB_DIR = os.path.join(os.path.expanduser("~"), ".qiskit", "resultdb")

    def __init__(
        self,
        token: str | None = None,
        url: str | None = None,
        name: str | None = None,
        hgp: str | None = None,
        proxies: dict[str, Any] | None = None,
        verify: bool | None = True,
        local: bool | None = False,
        local_save: bool | None = True,
        **kwargs: Any,
    ) -> None:
        self.options: dict[str, Any] = dict(self._default_options)
        self._result_quality: type[enum.Enum] | None = kwargs.pop("result_quality", None)
        if self._result_quality is not None and not (
            isinstance(self._result_quality, type) and issubclass(self._result_quality, enum.Enum)
        ):
            raise TypeError("result_quality must be an Enum class")
        provider_options = {k: kwargs.pop(k) for k in _PROVIDER_OPTIONS if k in kwargs}
        unknown = [k for k in kwargs if k not in self.options]
        if unknown:
            logger.warning("IBMExperimentService ignores the unknown keywords %s", unknown)
        self.set_option(**kwargs)
        if hgp is not None:
            require_str(hgp, "hgp")
            if hgp.count("/") != 2 or not all(hgp.split("/")):
                raise ValueError(f"hgp must be 'hub/group/project', not {hgp!r}")
        self.hgp = hgp
        self._local = bool(local)
        if "timeout" not in provider_options and "requests_timeout" in kwargs:
            # the reference's timeout, when given; else the client's (10 s to connect)
            provider_options["timeout"] = self.options["requests_timeout"]
        if self._local:
            self._provider = self._local_provider(bool(local_save), provider_options)
        else:
            self._provider = self._remote_provider(
                token, url, name, proxies, verify, provider_options
            )
        self._loop = self._provider._loop
        self._svc: ExperimentService = self._provider._async.experiment
        prefs = self._svc.preferences
        self._preferences = {**self._default_preferences, **prefs}

    @staticmethod
    def _local_provider(local_save: bool, options: dict[str, Any]) -> SyncProvider:
        from ..emulator import EmulatorConfig

        db = None
        if local_save:
            Path(IBMExperimentService._DEFAULT_LOCAL_DB_DIR).mkdir(parents=True, exist_ok=True)
            db = os.path.join(IBMExperimentService._DEFAULT_LOCAL_DB_DIR, "async_qexp.sqlite3")
        with reference_errors():
            return SyncProvider.local(emulator=EmulatorConfig(db=db), **options)

    @staticmethod
    def _remote_provider(
        token: str | None,
        url: str | None,
        name: str | None,
        proxies: Any,
        verify: Any,
        options: dict[str, Any],
    ) -> SyncProvider:
        saved: dict[str, Any] | None = None
        if name is not None:
            require_str(name, "name")
            saved = _accounts.read_account(name)
            if saved is None:
                raise IBMAccountError(f"no saved account named {name!r}")
        elif token is None and env_token() is None:
            saved = _accounts.read_account(None)
        if saved is not None:
            token = saved.get("token")
            url = url or saved.get("url")
            proxies = proxies or saved.get("proxies")
            if saved.get("verify") is not None and verify is True:
                verify = saved["verify"]
        if token is None:
            token = env_token()
        if not token:
            raise IBMAccountError(
                "no API token: pass token=..., set QEXP_TOKEN, or save an account "
                "(IBMExperimentService.save_account)"
            )
        with reference_errors():
            return SyncProvider(
                token,
                url,
                proxy=_proxy(proxies),
                verify=True if verify is None else verify,
                **options,
            )

    # -- accounts ------------------------------------------------------------------------

    @classmethod
    def save_account(
        cls,
        token: str | None = None,
        url: str | None = None,
        name: str | None = None,
        proxies: dict[str, Any] | None = None,
        verify: bool | None = None,
        overwrite: bool | None = False,
    ) -> None:
        """Save an account in ``~/.qiskit/qiskit-ibm.json`` (the reference's file, readable by
        its owner only) for later ``IBMExperimentService()`` / ``(name=...)``.

        Raises:
            IBMAccountError: if the name is taken and ``overwrite`` is false.
        """
        require_str(token, "token", empty=False)
        if url is not None:
            require_str(url, "url")
        _proxy(proxies)
        _accounts.save_account(
            name,
            {"token": token, "url": url, "proxies": proxies, "verify": verify},
            bool(overwrite),
        )

    @staticmethod
    def delete_account(name: str | None = None) -> bool:
        """Delete a saved account; whether there was one."""
        return _accounts.delete_account(name)

    def get_db_url(self) -> str:
        """The URL of the experiment database API."""
        return self._svc._base

    # -- devices -------------------------------------------------------------------------

    def backends(self) -> list[dict[str, Any]]:
        """The backends experiments can be stored for: ``[{"name": ..., ...}]``."""
        devices = self._call(self._svc.backends)
        return [{"name": device.name, **device.details} for device in devices]

    def device_components(
        self, backend_name: str | None = None
    ) -> dict[str, list[str]] | list[str]:
        """The device components (``"Q0"``, ``"R1"``, ...) of ``backend_name``, or a dict of
        every backend's."""
        found = self._call(self._svc.device_components, backend_name)
        if isinstance(found, dict):
            return {name: [str(c) for c in comps] for name, comps in found.items()}
        return [str(c) for c in found]

    # -- experiments ---------------------------------------------------------------------

    def create_experiment(
        self,
        data: ExperimentData,
        provider: Any | None = None,
        json_encoder: type[json.JSONEncoder] | None = json.JSONEncoder,
    ) -> dict[str, Any]:
        """Create an experiment from ``data`` (an :class:`ExperimentData`, or any object with
        its fields); the service's answer.

        The hub/group/project are ``hgp`` when the service was given one, else ``provider``'s
        first (a qiskit-ibmq-provider ``AccountProvider``), else ``data``'s, else the
        account's. ``json_encoder`` encodes the metadata (``None``: async_qexp's envelopes,
        which also carry complex numbers, sets, bytes and numpy arrays).

        Raises:
            IBMExperimentEntryExists: if an experiment with this id exists.
            IBMApiError: if the service refused the request.
        """
        require_data(data, _EXPERIMENT_FIELDS, "an ExperimentData")
        encoder = _encoder(json_encoder)
        if self.hgp is not None:
            data.hub, data.group, data.project = self.hgp.split("/")
        if provider is not None and getattr(provider, "_hgps", None):
            data.hub, data.group, data.project = str(next(iter(provider._hgps))).split("/")
        own = self._svc.hgp
        record = experiment_record(data, (own.hub, own.group, own.project) if own else None)
        if encoder is not None and record.metadata:
            from ..experiment._rest import plain_json

            record = _evolve(record, metadata=plain_json(record.metadata, encoder))
        if not record.hub:
            logger.warning("create_experiment() called without hub/group/project data")
        answer: dict[str, Any] = self._call(_core.create_experiment, self._svc, record)
        return answer

    def update_experiment(
        self,
        data: ExperimentData,
        json_encoder: type[json.JSONEncoder] | None = json.JSONEncoder,
    ) -> dict[str, Any] | None:
        """Update an experiment from ``data``: the metadata, job ids, tags, notes, share level
        and end time that are set; the service's answer.

        Raises:
            IBMExperimentEntryNotFound: if the experiment does not exist.
        """
        require_data(data, ("experiment_id",), "an ExperimentData")
        experiment_id = require_ident(data.experiment_id, "experiment_id")
        changes = experiment_changes(data)
        if not changes:
            logger.warning("update_experiment() called with nothing to update.")
            return None
        answer: dict[str, Any] = self._call(
            _core.update_experiment, self._svc, experiment_id, changes, _encoder(json_encoder)
        )
        return answer

    def create_or_update_experiment(
        self,
        data: ExperimentData,
        json_encoder: type[json.JSONEncoder] | None = json.JSONEncoder,
        create: bool = True,
        max_attempts: int = 3,
        **kwargs: Any,
    ) -> Any:
        """Create the experiment, or update it when it exists (``create=False``: update
        first, and create when it does not exist); the answer of the call that succeeded.
        ``kwargs`` go to :meth:`create_experiment` (``provider``)."""
        params: dict[str, Any] = {**kwargs, "data": data, "json_encoder": json_encoder}

        def update(**_: Any) -> Any:
            return self.update_experiment(data, json_encoder)

        return self.create_or_update(self.create_experiment, update, params, create, max_attempts)

    def create_or_update(
        self,
        create_func: Callable[..., Any],
        update_func: Callable[..., Any],
        params: dict[str, Any],
        create: bool = True,
        max_attempts: int = 3,
    ) -> Any:
        """Call ``create_func(**params)``, switching to ``update_func(**params)`` when the
        entry exists (and back when it does not), at most ``max_attempts`` times."""
        require_int(max_attempts, "max_attempts", minimum=1)
        error: Exception | None = None
        for _ in range(max_attempts):
            try:
                return (create_func if create else update_func)(**params)
            except Exception as exc:
                from ..errors import EntryExists, EntryNotFound

                if create and isinstance(exc, EntryExists):
                    error, create = exc, False
                elif not create and isinstance(exc, EntryNotFound):
                    error, create = exc, True
                else:
                    raise
        assert error is not None
        raise error

    def experiment(
        self,
        experiment_id: str,
        json_decoder: type[json.JSONDecoder] | None = json.JSONDecoder,
    ) -> ExperimentData:
        """Retrieve an experiment. ``json_decoder`` decodes its metadata (``None``:
        async_qexp's envelopes).

        Raises:
            IBMExperimentEntryNotFound: if it does not exist.
        """
        record = self._call(self._svc.experiment, experiment_id, _decoder(json_decoder))
        return experiment_out(record)

    def experiments(
        self,
        limit: int | None = 10,
        json_decoder: type[json.JSONDecoder] | None = json.JSONDecoder,
        device_components: list[Any] | None = None,
        device_components_operator: str | None = None,
        experiment_type: str | None = None,
        experiment_type_operator: str | None = None,
        backend_name: str | None = None,
        tags: list[str] | None = None,
        tags_operator: str | None = "OR",
        start_datetime_after: datetime | None = None,
        start_datetime_before: datetime | None = None,
        hub: str | None = None,
        group: str | None = None,
        project: str | None = None,
        exclude_public: bool | None = False,
        public_only: bool | None = False,
        exclude_mine: bool | None = False,
        mine_only: bool | None = False,
        parent_id: str | None = None,
        sort_by: str | list[str] | None = None,
        **filters: Any,
    ) -> list[ExperimentData]:
        """Experiments, with optional filtering (the reference's filters; ``limit=None``:
        every match). Other keywords are ignored, as the reference ignores them.

        Raises:
            ValueError: for a bad filter value, before any request.
        """
        if filters:
            logger.info("Keywords %s are not supported and will be ignored.", list(filters))
        arguments = {k: v for k, v in locals().items() if k not in ("self", "filters")}
        arguments["json_decoder"] = _decoder(json_decoder)
        arguments["exclude_public"] = bool(exclude_public)
        arguments["public_only"] = bool(public_only)
        arguments["exclude_mine"] = bool(exclude_mine)
        arguments["mine_only"] = bool(mine_only)
        arguments["sort_by"] = _sort_keys(sort_by, {"start_time": "start_datetime"})
        records = self._call(_core.experiments, self._svc, arguments)
        return [experiment_out(record) for record in records]

    def delete_experiment(self, experiment_id: str) -> None:
        """Delete an experiment, with its results, figures and files. Asks first on a
        terminal when ``prompt_for_delete`` is set; a missing experiment is logged."""
        require_ident(experiment_id, "experiment_id")
        if self._confirm_delete(
            "Are you sure you want to delete the experiment? "
            "Results and plots for the experiment will also be deleted. [y/N]: "
        ):
            self._call(self._svc.delete_experiment, experiment_id)

    # -- analysis results ----------------------------------------------------------------

    def _result_body(self, data: Any, json_encoder: Any) -> dict[str, Any]:
        record = analysis_result_record(result_item(data), _encoder(json_encoder))
        return create_body(record)

    def create_analysis_result(
        self,
        data: AnalysisResultData,
        json_encoder: type[json.JSONEncoder] | None = json.JSONEncoder,
    ) -> str:
        """Create an analysis result from ``data`` (an :class:`AnalysisResultData`, or any
        object with its fields, such as qiskit-experiments' ``DbAnalysisResultData``); its id.

        ``quality`` may be either library's ``ResultQuality`` member or a string in any case;
        ``device_components`` strings or component objects.

        Raises:
            IBMExperimentEntryExists: if a result with this id exists.
        """
        body = self._result_body(data, json_encoder)
        result_id: str = self._call(_core.create_result, self._svc, body)
        return result_id

    def update_analysis_result(
        self,
        data: AnalysisResultData,
        json_encoder: type[json.JSONEncoder] | None = json.JSONEncoder,
    ) -> None:
        """Update an analysis result from ``data``: its result data, tags, quality and
        chi-squared when set, and ``verified``.

        Raises:
            IBMExperimentEntryNotFound: if the result does not exist.
        """
        changes = result_changes(data)
        result_id = require_ident(data.result_id, "result_id")
        self._call(_core.update_result, self._svc, result_id, changes, _encoder(json_encoder))

    def create_or_update_analysis_result(
        self,
        data: AnalysisResultData,
        json_encoder: type[json.JSONEncoder] | None = json.JSONEncoder,
        create: bool = True,
        max_attempts: int = 3,
    ) -> str | None:
        """Create the result, or update it when it exists (``create=False``: the other way
        round); its id after a create, ``None`` after an update."""
        call = self._result_save(data, json_encoder, create, max_attempts)
        result: str | None = self._call(call)
        return result

    def _result_save(
        self, data: Any, json_encoder: Any, create: bool, max_attempts: int
    ) -> Callable[[], Any]:
        """The coroutine function of one result's create-or-update (arguments checked now)."""
        require_int(max_attempts, "max_attempts", minimum=1)
        encoder = _encoder(json_encoder)
        body = self._result_body(data, encoder)
        changes = result_changes(data)
        svc = self._svc
        result_id = str(body[_core._RESULT_ID])

        async def save() -> Any:
            return await _core.create_or_update(
                lambda: _core.create_result(svc, body),
                lambda: _core.update_result(svc, result_id, changes, encoder),
                create,
                max_attempts,
            )

        return save

    def bulk_update_analysis_result(
        self,
        data: list[AnalysisResultData],
        json_encoder: type[json.JSONEncoder] | None = json.JSONEncoder,
    ) -> None:
        """Update many analysis results in one request."""
        if not isinstance(data, list | tuple):
            raise TypeError(f"data must be a list of AnalysisResultData, not {type(data).__name__}")
        updates = [{"result_id": item.result_id, **result_changes(item)} for item in data]
        self._call(self._svc.bulk_update_analysis_results, updates, _encoder(json_encoder))

    def create_analysis_results(
        self,
        data: list[AnalysisResultData] | Any,
        blocking: bool = True,
        max_workers: int = 100,
        json_encoder: type[json.JSONEncoder] | None = json.JSONEncoder,
    ) -> dict[str, list[Any]] | SaveHandler:
        """Create (or update) many analysis results at once, as coroutines on the service's
        event loop, at most ``max_workers`` at a time.

        ``data`` is a list of :class:`AnalysisResultData` (or objects with its fields), or a
        pandas ``DataFrame`` of qiskit-experiments' analysis results table. An item that
        cannot be stored is reported as failed, with its ``TypeError`` / ``ValueError``; the
        others are still saved. Each item is read when its turn comes, as the reference's
        threads read theirs: with ``blocking=False``, leave the items as they are until the
        handler is done.

        Returns:
            with ``blocking`` (the default), the status once every item is done:
            ``{"running": [], "done": [(result,), ...], "fail": [{"data": (result,),
            "exception": error}, ...]}``; otherwise a :class:`SaveHandler` at once.

        Raises:
            IBMExperimentSaveFailed: with ``blocking``, when an item failed and the
                ``raise_on_failed_save`` option is set (the default; the reference returned the
                failures in the status only). The status is its ``save_status``.
        """
        if hasattr(data, "to_dict") and hasattr(data, "columns"):
            data = self.dataframe_to_analysis_result_list(data)
        if not isinstance(data, list | tuple):
            raise TypeError(f"data must be a list of AnalysisResultData, not {type(data).__name__}")
        require_int(max_workers, "max_workers", minimum=1)
        require_bool(blocking, "blocking")
        items = [((item,), self._result_save_later(item, json_encoder)) for item in data]
        return self._bulk(items, blocking, max_workers, "analysis result")

    def _result_save_later(self, data: Any, json_encoder: Any) -> Callable[[], Any]:
        """The coroutine function of one result's create-or-update in a bulk call, the item
        checked and encoded when its turn comes, on the loop (as the reference's threads
        took their items): the first requests leave at once, not after every item of a long
        list is encoded (~30 µs each). A bad item fails alone, with its ``TypeError`` or
        ``ValueError``, before any request of its own."""

        async def save() -> Any:
            return await self._result_save(data, json_encoder, True, 3)()

        return save

    def analysis_result(
        self,
        result_id: str,
        json_decoder: type[json.JSONDecoder] | None = json.JSONDecoder,
    ) -> AnalysisResultData:
        """Retrieve an analysis result.

        Its ``quality`` is a ``ResultQuality`` member of qiskit-experiments when that (0.14
        or later) is loaded, else of qiskit-ibm-experiment when that is loaded, else of
        :class:`~async_qexp.compat.ResultQuality`, so qiskit-experiments' ``load()`` reads
        it; the constructor's ``result_quality=`` picks the class instead.

        Raises:
            IBMExperimentEntryNotFound: if it does not exist.
        """
        record = self._call(self._svc.analysis_result, result_id, _decoder(json_decoder))
        return result_out(record, self._result_quality)

    def analysis_results(
        self,
        limit: int | None = 10,
        json_decoder: type[json.JSONDecoder] | None = json.JSONDecoder,
        device_components: list[Any] | None = None,
        device_components_operator: str | None = None,
        experiment_id: str | None = None,
        result_type: str | None = None,
        result_type_operator: str | None = None,
        backend_name: str | None = None,
        quality: Any = None,
        verified: bool | None = None,
        tags: list[str] | None = None,
        tags_operator: str | None = "OR",
        creation_datetime_after: datetime | None = None,
        creation_datetime_before: datetime | None = None,
        sort_by: str | list[str] | None = None,
        **filters: Any,
    ) -> list[AnalysisResultData]:
        """Analysis results, with optional filtering (the reference's filters; ``limit=None``:
        every match). ``quality`` takes members of either library's enum or strings, one or
        a list. Other keywords are ignored, as the reference ignores them.

        Raises:
            ValueError: for a bad filter value, before any request.
        """
        if filters:
            logger.info("Keywords %s are not supported and will be ignored.", list(filters))
        arguments = {k: v for k, v in locals().items() if k not in ("self", "filters")}
        arguments["json_decoder"] = _decoder(json_decoder)
        if quality is not None:
            qualities = quality if isinstance(quality, list | tuple) else [quality]
            arguments["quality"] = [quality_in(q) for q in qualities] or None
        arguments["sort_by"] = _sort_keys(sort_by, {})
        records = self._call(_core.results, self._svc, arguments)
        return [result_out(record, self._result_quality) for record in records]

    def delete_analysis_result(self, result_id: str) -> None:
        """Delete an analysis result. Asks first on a terminal when ``prompt_for_delete`` is
        set; a missing result is logged."""
        require_ident(result_id, "result_id")
        if self._confirm_delete("Are you sure you want to delete the analysis result? [y/N]: "):
            self._call(self._svc.delete_analysis_result, result_id)

    # -- dataframes ----------------------------------------------------------------------

    @staticmethod
    def dataframe_to_analysis_result_list(df: Any) -> list[AnalysisResultData]:
        """The analysis results of a pandas ``DataFrame`` in the reference's columns
        (``name``, ``components``, ``value``, ``quality``, ``_result_id``, ...)."""
        return dataframe_to_results(df)

    @staticmethod
    def analysis_result_list_to_dataframe(result_list: list[AnalysisResultData]) -> Any:
        """A pandas ``DataFrame`` of analysis results, in the reference's columns."""
        return results_to_dataframe(result_list)


def _evolve(record: Any, **changes: Any) -> Any:
    import attrs

    return attrs.evolve(record, **changes)


def _sort_keys(sort_by: Any, aliases: dict[str, str]) -> Any:
    """The reference's sort keys in our spelling (``"start_time:asc"`` is
    ``"start_datetime:asc"``)."""
    if not sort_by or not aliases:
        return sort_by
    many = isinstance(sort_by, list | tuple)
    keys = list(sort_by) if many else [sort_by]
    renamed = []
    for key in keys:
        if isinstance(key, str) and ":" in key:
            name, direction = key.split(":", 1)
            key = f"{aliases.get(name.strip().lower(), name)}:{direction}"
        renamed.append(key)
    return renamed if many else renamed[0]
