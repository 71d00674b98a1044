"""The blocking twins of the async classes (generated: do not edit).

Written by ``tools/generate_sync.py``; regenerate after changing a public method of
ExperimentService, RuntimeService, RuntimeJob or ExperimentData (a test fails until you do).
"""

# ruff: noqa: E501

from __future__ import annotations

import functools
import os
import ssl
from typing import TYPE_CHECKING, Any

import httpx

from async_qexp._client import Provider
from async_qexp._config import DEFAULT_MAX_IN_FLIGHT, DEFAULT_TIMEOUT
from async_qexp._paging import Pager
from async_qexp.experiment.data import ExperimentData
from async_qexp.experiment.service import ExperimentService
from async_qexp.models._checks import reject_unknown_keywords
from async_qexp.models.records import ResultQuality
from async_qexp.runtime.job import RuntimeJob
from async_qexp.runtime.service import RuntimeService
from async_qexp.runtime.stream import ResultStream
from async_qexp.sync._bases import ExperimentDataBase, ProviderBase, RuntimeJobBase, ServiceBase
from async_qexp.sync._loop import SyncPager, SyncResultStream, register

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from datetime import datetime
    from typing import Literal

    from async_qexp._auth import Account, HubGroupProject
    from async_qexp._config import RetryPolicy, StreamPolicy
    from async_qexp._http import TransportName
    from async_qexp._limit import ConcurrencySnapshot
    from async_qexp.experiment._rest import JSONDecoderType, JSONEncoderType
    from async_qexp.experiment._sync import SaveReport
    from async_qexp.experiment.artifacts import ArtifactData
    from async_qexp.experiment.bulk import AnalysisResultItem, BulkCreateReport
    from async_qexp.experiment.results import AnalysisResultData
    from async_qexp.experiment.status import AnalysisStatus, ExperimentStatus
    from async_qexp.models.components import DeviceComponent
    from async_qexp.models.program_spec import ProgramParameter, ProgramResult
    from async_qexp.models.records import (
        AnalysisResult,
        Device,
        Experiment,
        ExperimentShareLevel,
        FileInfo,
    )
    from async_qexp.models.runtime import JobStatus, RuntimeOptions, RuntimeProgram
    from async_qexp.progress import Progress
    from async_qexp.runtime.decoder import ResultDecoder
    from async_qexp.runtime.stream import MessageCallback

__all__ = [
    "SyncExperimentData",
    "SyncExperimentService",
    "SyncProvider",
    "SyncRuntimeJob",
    "SyncRuntimeService",
]


@register
class SyncProvider(ProviderBase):
    """The blocking twin of :class:`~async_qexp.Provider`: the same constructor, and
    ``.experiment`` / ``.runtime`` whose every method blocks until the answer is there::

        with SyncProvider(token=TOKEN) as provider:
            exp_id = provider.experiment.create_experiment("T1", "ibmq_lima")
            for experiment in provider.experiment.experiments(limit=None):
                ...

    It runs the async client on an event loop of its own, in a daemon thread, so it works in
    a plain script, from many threads at once, and inside a running event loop (a Jupyter
    cell). :meth:`close` (or leaving ``with``) closes the connections and stops the loop; a
    provider that is never closed is closed when it is garbage-collected or at exit.
    ``SyncProvider.local()`` and ``SyncProvider.auto()`` start one as their async forms do.

    Raises:
        TypeError, ValueError: as :class:`~async_qexp.Provider` does, before any thread starts.
    """

    _async_type = Provider
    _async: Provider

    def __init__(
        self,
        token: str | None = None,
        url: str | None = None,
        *,
        hub: str | None = None,
        group: str | None = None,
        project: str | None = None,
        instance: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        max_in_flight: int | Literal["auto"] = DEFAULT_MAX_IN_FLIGHT,
        max_in_flight_ceiling: int | None = None,
        transport: TransportName | httpx.AsyncBaseTransport | None = None,
        preferences_path: str | os.PathLike[str] | None = None,
        stream_policy: StreamPolicy | None = None,
        trust_env: bool = True,
        proxy: str | httpx.Proxy | None = None,
        verify: bool | str | os.PathLike[str] | ssl.SSLContext = True,
    ) -> None:
        self._start(
            {
                "token": token,
                "url": url,
                "hub": hub,
                "group": group,
                "project": project,
                "instance": instance,
                "timeout": timeout,
                "retry": retry,
                "max_in_flight": max_in_flight,
                "max_in_flight_ceiling": max_in_flight_ceiling,
                "transport": transport,
                "preferences_path": preferences_path,
                "stream_policy": stream_policy,
                "trust_env": trust_env,
                "proxy": proxy,
                "verify": verify,
            }
        )

    @property
    def account(self) -> Account:
        """What login and discovery found (service URLs, user id, hub/group/projects).

        Blocking: see :meth:`async_qexp.Provider.account`.
        """
        value: Account = self._loop.wrap(self._async.account)
        return value

    @property
    def concurrency(self) -> ConcurrencySnapshot:
        """The bound on requests in flight now, read-only: its limit, the requests in flight and waiting, the refusals (429, 503) and timeouts so far, and any ``Retry-After`` pause under way (:class:`~async_qexp.ConcurrencySnapshot`).

        Blocking: see :meth:`async_qexp.Provider.concurrency`.
        """
        value: ConcurrencySnapshot = self._loop.wrap(self._async.concurrency)
        return value

    @property
    def experiment(self) -> SyncExperimentService:
        """The experiment service (resultsDB).

        Blocking: see :meth:`async_qexp.Provider.experiment`.
        """
        value: SyncExperimentService = self._loop.wrap(self._async.experiment)
        return value

    @property
    def hgp(self) -> HubGroupProject | None:
        """The hub/group/project in use (new experiments are stored there).

        Blocking: see :meth:`async_qexp.Provider.hgp`.
        """
        value: HubGroupProject | None = self._loop.wrap(self._async.hgp)
        return value

    @property
    def runtime(self) -> SyncRuntimeService:
        """The runtime service (programs and jobs).

        Blocking: see :meth:`async_qexp.Provider.runtime`.
        """
        value: SyncRuntimeService = self._loop.wrap(self._async.runtime)
        return value


@register
class SyncExperimentService(ServiceBase):
    """The blocking twin of :class:`async_qexp.ExperimentService`: each of its methods, blocking until the answer is there.

    Each method's full description is the async one's (``async_qexp.ExperimentService``).
    """

    _async_type = ExperimentService
    _async: ExperimentService

    def analysis_result(
        self, result_id: str, json_decoder: JSONDecoderType = None
    ) -> AnalysisResult:
        """Retrieve one analysis result.

        Blocking: see :meth:`async_qexp.ExperimentService.analysis_result`.
        """
        result: AnalysisResult = self._call(self._async.analysis_result, result_id, json_decoder)
        return result

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
    ) -> SyncPager[AnalysisResult]:
        """Analysis results, with optional filtering: ``await`` it for a list, or iterate it.

        Blocking: see :meth:`async_qexp.ExperimentService.analysis_results`.
        """
        result: SyncPager[AnalysisResult] = self._call(
            self._async.analysis_results,
            limit,
            json_decoder,
            device_components,
            device_components_operator,
            experiment_id,
            result_type,
            result_type_operator,
            backend_name,
            quality,
            verified,
            tags,
            tags_operator,
            creation_datetime_after,
            creation_datetime_before,
            sort_by,
            page_size=page_size,
            progress=progress,
        )
        return result

    def backends(self) -> list[Device]:
        """The backends experiments can be stored for (``GET /devices``).

        Blocking: see :meth:`async_qexp.ExperimentService.backends`.
        """
        result: list[Device] = self._call(self._async.backends)
        return result

    @property
    def base_url(self) -> str:
        """The base URL this service talks to.

        Blocking: see :meth:`async_qexp.ExperimentService.base_url`.
        """
        value: str = self._loop.wrap(self._async.base_url)
        return value

    def bulk_update_analysis_results(
        self, updates: Sequence[Mapping[str, Any]], json_encoder: JSONEncoderType = None
    ) -> None:
        """Update many analysis results in one request (``PUT /analysis_results/bulkupdate``).

        Blocking: see :meth:`async_qexp.ExperimentService.bulk_update_analysis_results`.
        """
        self._call(self._async.bulk_update_analysis_results, updates, json_encoder)

    def create_analysis_result(
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

        Blocking: see :meth:`async_qexp.ExperimentService.create_analysis_result`.
        """
        result: str = self._call(
            self._async.create_analysis_result,
            experiment_id,
            result_data,
            result_type,
            device_components,
            tags,
            quality,
            verified,
            result_id,
            chisq,
            json_encoder,
            **kwargs,
        )
        return result

    def create_analysis_results(
        self,
        results: Iterable[AnalysisResultItem],
        *,
        progress: Progress | None = None,
        json_encoder: JSONEncoderType = None,
    ) -> BulkCreateReport:
        """Create many analysis results concurrently, and report what became of each.

        Blocking: see :meth:`async_qexp.ExperimentService.create_analysis_results`.
        """
        result: BulkCreateReport = self._call(
            self._async.create_analysis_results,
            results,
            progress=progress,
            json_encoder=json_encoder,
        )
        return result

    def create_experiment(
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

        Blocking: see :meth:`async_qexp.ExperimentService.create_experiment`.
        """
        result: str = self._call(
            self._async.create_experiment,
            experiment_type,
            backend_name,
            metadata,
            experiment_id,
            parent_id,
            job_ids,
            tags,
            notes,
            share_level,
            start_datetime,
            json_encoder,
            end_datetime=end_datetime,
            **kwargs,
        )
        return result

    def create_figure(
        self,
        experiment_id: str,
        figure: str | os.PathLike[str] | bytes,
        figure_name: str | None = None,
        sync_upload: bool = True,
    ) -> tuple[str, int]:
        """Store a new figure (SVG bytes, or the path of a file) and return ``(name, size)``.

        Blocking: see :meth:`async_qexp.ExperimentService.create_figure`.
        """
        result: tuple[str, int] = self._call(
            self._async.create_figure, experiment_id, figure, figure_name, sync_upload
        )
        return result

    def delete_analysis_result(self, result_id: str) -> bool:
        """Delete an analysis result. Never prompts.

        Blocking: see :meth:`async_qexp.ExperimentService.delete_analysis_result`.
        """
        result: bool = self._call(self._async.delete_analysis_result, result_id)
        return result

    def delete_experiment(self, experiment_id: str) -> bool:
        """Delete an experiment with its analysis results, figures and files. Never prompts.

        Blocking: see :meth:`async_qexp.ExperimentService.delete_experiment`.
        """
        result: bool = self._call(self._async.delete_experiment, experiment_id)
        return result

    def delete_figure(self, experiment_id: str, figure_name: str) -> bool:
        """Delete a figure. Never prompts.

        Blocking: see :meth:`async_qexp.ExperimentService.delete_figure`.
        """
        result: bool = self._call(self._async.delete_figure, experiment_id, figure_name)
        return result

    def device_components(
        self, backend_name: str | None = None
    ) -> list[DeviceComponent] | dict[str, list[DeviceComponent]]:
        """The device components (``Qubit(0)``, ``Resonator(1)``, ...: strings such as ``"Q0"``, parsed).

        Blocking: see :meth:`async_qexp.ExperimentService.device_components`.
        """
        result: list[DeviceComponent] | dict[str, list[DeviceComponent]] = self._call(
            self._async.device_components, backend_name
        )
        return result

    def experiment(self, experiment_id: str, json_decoder: JSONDecoderType = None) -> Experiment:
        """Retrieve one experiment.

        Blocking: see :meth:`async_qexp.ExperimentService.experiment`.
        """
        result: Experiment = self._call(self._async.experiment, experiment_id, json_decoder)
        return result

    def experiment_has_file(self, experiment_id: str, file_name: str) -> bool:
        """Whether the experiment has a file of this name (the naming rule applied).

        Blocking: see :meth:`async_qexp.ExperimentService.experiment_has_file`.
        """
        result: bool = self._call(self._async.experiment_has_file, experiment_id, file_name)
        return result

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
    ) -> SyncPager[Experiment]:
        """Experiments, with optional filtering: ``await`` it for a list, or iterate it.

        Blocking: see :meth:`async_qexp.ExperimentService.experiments`.
        """
        result: SyncPager[Experiment] = self._call(
            self._async.experiments,
            limit,
            json_decoder,
            device_components,
            device_components_operator,
            experiment_type,
            experiment_type_operator,
            backend_name,
            tags,
            tags_operator,
            start_datetime_after,
            start_datetime_before,
            hub,
            group,
            project,
            exclude_public,
            public_only,
            exclude_mine,
            mine_only,
            parent_id,
            sort_by,
            page_size=page_size,
            progress=progress,
        )
        return result

    def figure(
        self, experiment_id: str, figure_name: str, file_name: str | os.PathLike[str] | None = None
    ) -> bytes | int:
        """Download a figure.

        Blocking: see :meth:`async_qexp.ExperimentService.figure`.
        """
        result: bytes | int = self._call(self._async.figure, experiment_id, figure_name, file_name)
        return result

    def file_delete(self, experiment_id: str, file_name: str) -> bool:
        """Delete a file. Returns ``False`` (and logs a warning) if it did not exist.

        Blocking: see :meth:`async_qexp.ExperimentService.file_delete`.
        """
        result: bool = self._call(self._async.file_delete, experiment_id, file_name)
        return result

    def file_download(
        self, experiment_id: str, file_name: str, json_decoder: JSONDecoderType = None
    ) -> Any:
        """Download a file: ``.json`` decoded (envelopes too), ``.yaml`` parsed, else bytes.

        Blocking: see :meth:`async_qexp.ExperimentService.file_download`.
        """
        result: Any = self._call(self._async.file_download, experiment_id, file_name, json_decoder)
        return result

    def file_upload(
        self,
        experiment_id: str,
        file_name: str,
        data: Mapping[str, Any] | list[Any] | str | bytes,
        json_encoder: JSONEncoderType = None,
    ) -> str:
        """Store a file with an experiment and return its stored name.

        Blocking: see :meth:`async_qexp.ExperimentService.file_upload`.
        """
        result: str = self._call(
            self._async.file_upload, experiment_id, file_name, data, json_encoder
        )
        return result

    def files(self, experiment_id: str) -> list[FileInfo]:
        """List an experiment's files.

        Blocking: see :meth:`async_qexp.ExperimentService.files`.
        """
        result: list[FileInfo] = self._call(self._async.files, experiment_id)
        return result

    @property
    def hgp(self) -> HubGroupProject | None:
        """The hub/group/project the service works in (new experiments and jobs go there).

        Blocking: see :meth:`async_qexp.ExperimentService.hgp`.
        """
        value: HubGroupProject | None = self._loop.wrap(self._async.hgp)
        return value

    iter_analysis_results = functools.partialmethod(analysis_results, limit=None)
    """:meth:`analysis_results` with limit=None."""

    iter_experiments = functools.partialmethod(experiments, limit=None)
    """:meth:`experiments` with limit=None."""

    def post_analysis_result(self, body: Mapping[str, Any] | bytes) -> None:
        """Create an analysis result from a wire body (made by :func:`async_qexp.models.create_body`, or that body's JSON already encoded); a replayed create that was stored counts as success.

        Blocking: see :meth:`async_qexp.ExperimentService.post_analysis_result`.
        """
        self._call(self._async.post_analysis_result, body)

    def post_experiment(self, body: dict[str, Any]) -> Experiment:
        """Create an experiment from a wire body (made by :func:`async_qexp.models.create_body`).

        Blocking: see :meth:`async_qexp.ExperimentService.post_experiment`.
        """
        result: Experiment = self._call(self._async.post_experiment, body)
        return result

    @property
    def preferences(self) -> dict[str, Any]:
        """The saved experiment preferences (``{"auto_save": bool}``); a copy.

        Blocking: see :meth:`async_qexp.ExperimentService.preferences`.
        """
        value: dict[str, Any] = self._loop.wrap(self._async.preferences)
        return value

    def put_analysis_result(self, result_id: str, body: dict[str, Any]) -> None:
        """Partially update an analysis result from a wire body (made by :func:`async_qexp.models.update_body`); the body carries the id, as the service wants.

        Blocking: see :meth:`async_qexp.ExperimentService.put_analysis_result`.
        """
        self._call(self._async.put_analysis_result, result_id, body)

    def put_experiment(self, experiment_id: str, body: dict[str, Any]) -> Experiment | None:
        """Partially update an experiment from a wire body (made by :func:`async_qexp.models.update_body`); returns the updated record if the service answered with one.

        Blocking: see :meth:`async_qexp.ExperimentService.put_experiment`.
        """
        result: Experiment | None = self._call(self._async.put_experiment, experiment_id, body)
        return result

    def save_preferences(self, auto_save: bool | None = None) -> None:
        """Store experiment preferences on disk (for applications; the service ignores them).

        Blocking: see :meth:`async_qexp.ExperimentService.save_preferences`.
        """
        self._call(self._async.save_preferences, auto_save)

    def update_analysis_result(
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

        Blocking: see :meth:`async_qexp.ExperimentService.update_analysis_result`.
        """
        self._call(
            self._async.update_analysis_result,
            result_id,
            result_data,
            tags,
            quality,
            verified,
            chisq,
            json_encoder,
            **kwargs,
        )

    def update_experiment(
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

        Blocking: see :meth:`async_qexp.ExperimentService.update_experiment`.
        """
        self._call(
            self._async.update_experiment,
            experiment_id,
            metadata,
            job_ids,
            notes,
            tags,
            share_level,
            end_datetime,
            json_encoder,
            **kwargs,
        )

    def update_figure(
        self,
        experiment_id: str,
        figure: str | os.PathLike[str] | bytes,
        figure_name: str,
        sync_upload: bool = True,
    ) -> tuple[str, int]:
        """Replace an existing figure's content and return ``(name, size)``.

        Blocking: see :meth:`async_qexp.ExperimentService.update_figure`.
        """
        result: tuple[str, int] = self._call(
            self._async.update_figure, experiment_id, figure, figure_name, sync_upload
        )
        return result

    def upload_figure(self, experiment_id: str, data: bytes, figure_name: str) -> tuple[str, int]:
        """Store SVG bytes under a figure name, replacing a figure of that name; returns ``(name, size)``. (What ``ExperimentData.save()`` uses: it knows what it replaces.)

        Blocking: see :meth:`async_qexp.ExperimentService.upload_figure`.
        """
        result: tuple[str, int] = self._call(
            self._async.upload_figure, experiment_id, data, figure_name
        )
        return result


@register
class SyncRuntimeService(ServiceBase):
    """The blocking twin of :class:`async_qexp.RuntimeService`: each of its methods, blocking until the answer is there.

    Each method's full description is the async one's (``async_qexp.RuntimeService``).
    """

    _async_type = RuntimeService
    _async: RuntimeService

    @property
    def base_url(self) -> str:
        """The base URL this service talks to.

        Blocking: see :meth:`async_qexp.RuntimeService.base_url`.
        """
        value: str = self._loop.wrap(self._async.base_url)
        return value

    def delete_job(self, job_id: str) -> None:
        """Delete a job (in any state).

        Blocking: see :meth:`async_qexp.RuntimeService.delete_job`.
        """
        self._call(self._async.delete_job, job_id)

    def delete_program(self, program_id: str) -> None:
        """Delete a program.

        Blocking: see :meth:`async_qexp.RuntimeService.delete_program`.
        """
        self._call(self._async.delete_program, program_id)

    @property
    def hgp(self) -> HubGroupProject | None:
        """The hub/group/project the service works in (new experiments and jobs go there).

        Blocking: see :meth:`async_qexp.RuntimeService.hgp`.
        """
        value: HubGroupProject | None = self._loop.wrap(self._async.hgp)
        return value

    def job(self, job_id: str) -> SyncRuntimeJob:
        """Retrieve a job.

        Blocking: see :meth:`async_qexp.RuntimeService.job`.
        """
        result: SyncRuntimeJob = self._call(self._async.job, job_id)
        return result

    def jobs(
        self,
        limit: int | None = 10,
        skip: int = 0,
        pending: bool | None = None,
        program_id: str | None = None,
        *,
        progress: Progress | None = None,
    ) -> SyncPager[SyncRuntimeJob]:
        """Jobs, newest first: ``await`` it for a list, or ``async for`` it page by page.

        Blocking: see :meth:`async_qexp.RuntimeService.jobs`.
        """
        result: SyncPager[SyncRuntimeJob] = self._call(
            self._async.jobs, limit, skip, pending, program_id, progress=progress
        )
        return result

    def logout(self) -> None:
        """Ask the server to clear its cache of this account's authorisation.

        Blocking: see :meth:`async_qexp.RuntimeService.logout`.
        """
        self._call(self._async.logout)

    def pprint_programs(self, refresh: bool = False) -> None:
        """Print every available program's metadata.

        Blocking: see :meth:`async_qexp.RuntimeService.pprint_programs`.
        """
        self._call(self._async.pprint_programs, refresh)

    def program(self, program_id: str, refresh: bool = False) -> RuntimeProgram:
        """One program's metadata (and source, if you are its author).

        Blocking: see :meth:`async_qexp.RuntimeService.program`.
        """
        result: RuntimeProgram = self._call(self._async.program, program_id, refresh)
        return result

    def programs(
        self, refresh: bool = False, limit: int | None = 20, skip: int = 0
    ) -> list[RuntimeProgram]:
        """The programs visible to this account (cached; ``refresh=True`` asks again).

        Blocking: see :meth:`async_qexp.RuntimeService.programs`.
        """
        result: list[RuntimeProgram] = self._call(self._async.programs, refresh, limit, skip)
        return result

    def run(
        self,
        program_id: str,
        options: RuntimeOptions | Mapping[str, Any],
        inputs: Mapping[str, Any],
        callback: MessageCallback | None = None,
        result_decoder: type[ResultDecoder] | None = None,
    ) -> SyncRuntimeJob:
        """Run a program and return its job.

        Blocking: see :meth:`async_qexp.RuntimeService.run`.
        """
        result: SyncRuntimeJob = self._call(
            self._async.run, program_id, options, inputs, callback, result_decoder
        )
        return result

    def set_program_visibility(self, program_id: str, public: bool) -> None:
        """Make a program public or private (yours only).

        Blocking: see :meth:`async_qexp.RuntimeService.set_program_visibility`.
        """
        self._call(self._async.set_program_visibility, program_id, public)

    def update_program(
        self,
        program_id: str,
        data: str | bytes | None = None,
        metadata: Mapping[str, Any] | None = None,
        name: str | None = None,
        description: str | None = None,
        max_execution_time: int | None = None,
        spec: Mapping[str, Any] | None = None,
    ) -> None:
        """Update a program's source and/or metadata.

        Blocking: see :meth:`async_qexp.RuntimeService.update_program`.
        """
        self._call(
            self._async.update_program,
            program_id,
            data,
            metadata,
            name,
            description,
            max_execution_time,
            spec,
        )

    def upload_program(
        self,
        data: str | bytes,
        metadata: Mapping[str, Any] | str | None = None,
        name: str | None = None,
        max_execution_time: int | None = None,
        description: str | None = None,
        version: float | str | None = None,
        backend_requirements: Mapping[str, Any] | None = None,
        parameters: Mapping[str, Any]
        | Sequence[ProgramParameter | Mapping[str, Any]]
        | None = None,
        return_values: Mapping[str, Any]
        | Sequence[ProgramResult | Mapping[str, Any]]
        | None = None,
        interim_results: Mapping[str, Any]
        | Sequence[ProgramResult | Mapping[str, Any]]
        | None = None,
        is_public: bool | None = None,
    ) -> str:
        """Upload a program and return its id.

        Blocking: see :meth:`async_qexp.RuntimeService.upload_program`.
        """
        result: str = self._call(
            self._async.upload_program,
            data,
            metadata,
            name,
            max_execution_time,
            description,
            version,
            backend_requirements,
            parameters,
            return_values,
            interim_results,
            is_public,
        )
        return result


@register
class SyncRuntimeJob(RuntimeJobBase):
    """The blocking twin of :class:`async_qexp.RuntimeJob`: each of its methods, blocking until the answer is there.

    Each method's full description is the async one's (``async_qexp.RuntimeJob``).
    """

    _async_type = RuntimeJob
    _async: RuntimeJob

    @property
    def cached_status(self) -> JobStatus:
        """The last status seen, without asking the server.

        Blocking: see :meth:`async_qexp.RuntimeJob.cached_status`.
        """
        value: JobStatus = self._loop.wrap(self._async.cached_status)
        return value

    def cancel(self) -> None:
        """Cancel the job, stop streaming its results, and mark it CANCELLED.

        Blocking: see :meth:`async_qexp.RuntimeJob.cancel`.
        """
        self._call(self._async.cancel)

    def cancel_result_streaming(self) -> None:
        """Stop streaming results (a no-op when not streaming); a callback is fed the messages already received before this returns.

        Blocking: see :meth:`async_qexp.RuntimeJob.cancel_result_streaming`.
        """
        self._call(self._async.cancel_result_streaming)

    @property
    def creation_date(self) -> datetime | None:
        """When the job was created (local time zone); known once the job was fetched.

        Blocking: see :meth:`async_qexp.RuntimeJob.creation_date`.
        """
        value: datetime | None = self._loop.wrap(self._async.creation_date)
        return value

    def error_message(self) -> str | None:
        """Why the job failed (its error text), or ``None`` unless its status is ERROR.

        Blocking: see :meth:`async_qexp.RuntimeJob.error_message`.
        """
        result: str | None = self._call(self._async.error_message)
        return result

    def interim_results(self, decoder: type[ResultDecoder] | None = None) -> list[Any]:
        """Every interim result published so far, fetched over REST (not streamed).

        Blocking: see :meth:`async_qexp.RuntimeJob.interim_results`.
        """
        result: list[Any] = self._call(self._async.interim_results, decoder)
        return result

    def logs(self) -> str:
        """The program's output (stdout, stderr and logging); ``""`` if there is none.

        Blocking: see :meth:`async_qexp.RuntimeJob.logs`.
        """
        result: str = self._call(self._async.logs)
        return result

    def result(
        self,
        timeout: float | None = None,
        wait: float = 1.0,
        decoder: type[ResultDecoder] | None = None,
    ) -> Any:
        """Wait for the job to finish and return its decoded final result.

        Blocking: see :meth:`async_qexp.RuntimeJob.result`.
        """
        result: Any = self._call(self._async.result, timeout, wait, decoder)
        return result

    def status(self) -> JobStatus:
        """The job's status; asks the server only until the status is final (``docs/behaviour.md#status-caching``).

        Blocking: see :meth:`async_qexp.RuntimeJob.status`.
        """
        result: JobStatus = self._call(self._async.status)
        return result

    def stream_results(
        self, callback: MessageCallback | None = None, decoder: type[ResultDecoder] | None = None
    ) -> SyncResultStream:
        """Stream the messages the program publishes, over the websocket.

        Blocking: see :meth:`async_qexp.RuntimeJob.stream_results`.
        """
        result: SyncResultStream = self._call(self._async.stream_results, callback, decoder)
        return result

    @property
    def streaming(self) -> bool:
        """Whether a result stream of this job is open.

        Blocking: see :meth:`async_qexp.RuntimeJob.streaming`.
        """
        value: bool = self._loop.wrap(self._async.streaming)
        return value

    def wait_for_final_state(self, timeout: float | None = None, wait: float = 1.0) -> JobStatus:
        """Wait until the job is final and return its status.

        Blocking: see :meth:`async_qexp.RuntimeJob.wait_for_final_state`.
        """
        result: JobStatus = self._call(self._async.wait_for_final_state, timeout, wait)
        return result


@register
class SyncExperimentData(ExperimentDataBase):
    """The blocking twin of :class:`~async_qexp.ExperimentData`: the same constructor and
    methods, the coroutines blocking until they are done::

        with SyncExperimentData(service=provider, experiment_type="T1") as exp:
            exp.add_jobs(job)
            exp.add_analysis_callback(fit)   # called with this blocking container
            exp.block_for_results()
            exp.save()

    Its jobs, callbacks and saves run on the loop of its provider. A container made without a
    service runs on a loop shared by such containers, and moves to its provider's loop when it
    gets a service (``exp.service = provider``), while none of its work is pending.
    """

    _async_type = ExperimentData
    _async: ExperimentData

    def __init__(
        self,
        experiment: Any = None,
        backend: Any = None,
        service: SyncExperimentService | SyncProvider | None = None,
        provider: SyncProvider | None = None,
        parent_id: str | None = None,
        job_ids: Sequence[str] | None = None,
        child_data: Sequence[SyncExperimentData] | None = None,
        verbose: bool = True,
        db_data: Experiment | None = None,
        start_datetime: datetime | None = None,
        *,
        experiment_type: str | None = None,
        experiment_id: str | None = None,
        tags: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        share_level: ExperimentShareLevel | str | None = None,
        notes: str | None = None,
        hub: str | None = None,
        group: str | None = None,
        project: str | None = None,
        **kwargs: Any,
    ) -> None:
        self._start(
            {
                "experiment": experiment,
                "backend": backend,
                "service": service,
                "provider": provider,
                "parent_id": parent_id,
                "job_ids": job_ids,
                "child_data": child_data,
                "verbose": verbose,
                "db_data": db_data,
                "start_datetime": start_datetime,
                "experiment_type": experiment_type,
                "experiment_id": experiment_id,
                "tags": tags,
                "metadata": metadata,
                "share_level": share_level,
                "notes": notes,
                "hub": hub,
                "group": group,
                "project": project,
                **kwargs,
            }
        )

    def aclose(self) -> None:
        """Cancel every job wait, callback and pending save this container (and its children) owns, and wait until they have stopped. A sync callback already running in a thread finishes on its own. The jobs themselves are not cancelled (see :meth:`cancel_jobs`).

        Blocking: see :meth:`async_qexp.ExperimentData.aclose`.
        """
        self._call(self._async.aclose)

    def add_analysis_result(
        self,
        results: AnalysisResultData | Sequence[AnalysisResultData] | None = None,
        *,
        name: str | None = None,
        value: Any = None,
        quality: Any = None,
        components: Sequence[Any] | None = None,
        experiment: str | None = None,
        experiment_id: str | None = None,
        result_id: str | None = None,
        tags: Sequence[str] | None = None,
        backend: str | None = None,
        run_time: datetime | None = None,
        created_time: datetime | None = None,
        chisq: float | None = None,
        verified: bool = False,
        **extra_values: Any,
    ) -> str | list[str]:
        """Add analysis results: as keywords (one result) or as result objects.

        Blocking: see :meth:`async_qexp.ExperimentData.add_analysis_result`.
        """
        result: str | list[str] = self._call(
            self._async.add_analysis_result,
            results,
            name=name,
            value=value,
            quality=quality,
            components=components,
            experiment=experiment,
            experiment_id=experiment_id,
            result_id=result_id,
            tags=tags,
            backend=backend,
            run_time=run_time,
            created_time=created_time,
            chisq=chisq,
            verified=verified,
            **extra_values,
        )
        return result

    def add_analysis_results(
        self,
        results: AnalysisResultData | Sequence[AnalysisResultData] | None = None,
        *,
        name: str | None = None,
        value: Any = None,
        quality: Any = None,
        components: Sequence[Any] | None = None,
        experiment: str | None = None,
        experiment_id: str | None = None,
        result_id: str | None = None,
        tags: Sequence[str] | None = None,
        backend: str | None = None,
        run_time: datetime | None = None,
        created_time: datetime | None = None,
        chisq: float | None = None,
        verified: bool = False,
        **extra_values: Any,
    ) -> str | list[str]:
        """Add analysis results: as keywords (one result) or as result objects.

        Blocking: see :meth:`async_qexp.ExperimentData.add_analysis_results`.
        """
        result: str | list[str] = self._call(
            self._async.add_analysis_results,
            results,
            name=name,
            value=value,
            quality=quality,
            components=components,
            experiment=experiment,
            experiment_id=experiment_id,
            result_id=result_id,
            tags=tags,
            backend=backend,
            run_time=run_time,
            created_time=created_time,
            chisq=chisq,
            verified=verified,
            **extra_values,
        )
        return result

    def add_artifacts(
        self, artifacts: ArtifactData | Sequence[ArtifactData], overwrite: bool = False
    ) -> None:
        """Add artifacts; a duplicate id needs ``overwrite=True``.

        Blocking: see :meth:`async_qexp.ExperimentData.add_artifacts`.
        """
        self._call(self._async.add_artifacts, artifacts, overwrite)

    def add_data(self, data: Any) -> None:
        """Add raw data: a dict (Qiskit's ``Counts`` is one), or, with Qiskit, a backend ``Result``, a ``PrimitiveResult`` or a pub result; or a list of these.

        Blocking: see :meth:`async_qexp.ExperimentData.add_data`.
        """
        self._call(self._async.add_data, data)

    def add_figures(
        self,
        figures: Any,
        figure_names: str | Sequence[str] | None = None,
        overwrite: bool = False,
        save_figure: bool | None = None,
    ) -> str | list[str]:
        """Add figures: SVG bytes or text, file paths, matplotlib Figures or FigureData.

        Blocking: see :meth:`async_qexp.ExperimentData.add_figures`.
        """
        result: str | list[str] = self._call(
            self._async.add_figures, figures, figure_names, overwrite, save_figure
        )
        return result

    def add_jobs(self, jobs: Any, timeout: float | None = None) -> None:
        """Wait for jobs in the background and add their data as they finish.

        Blocking: see :meth:`async_qexp.ExperimentData.add_jobs`.
        """
        self._call(self._async.add_jobs, jobs, timeout)

    def add_tags_recursive(self, tags2add: Sequence[str]) -> None:
        """Add tags here and in every descendant.

        Blocking: see :meth:`async_qexp.ExperimentData.add_tags_recursive`.
        """
        self._call(self._async.add_tags_recursive, tags2add)

    def analysis_errors(self) -> str:
        """The errors of failed callbacks.

        Blocking: see :meth:`async_qexp.ExperimentData.analysis_errors`.
        """
        result: str = self._call(self._async.analysis_errors)
        return result

    def analysis_results(
        self,
        index: int | slice | str | None = None,
        refresh: bool = False,
        block: bool = True,
        timeout: float | None = None,
        columns: str | Sequence[str] = "default",
        dataframe: bool = False,
    ) -> Any:
        """The analysis results: all, or by position, slice, id, short id or name.

        Blocking: see :meth:`async_qexp.ExperimentData.analysis_results`.
        """
        result: Any = self._call(
            self._async.analysis_results, index, refresh, block, timeout, columns, dataframe
        )
        return result

    def analysis_results_nowait(
        self,
        index: int | slice | str | None = None,
        *,
        columns: str | Sequence[str] = "default",
        dataframe: bool = False,
    ) -> Any:
        """:meth:`analysis_results` without waiting or fetching (safe inside callbacks).

        Blocking: see :meth:`async_qexp.ExperimentData.analysis_results_nowait`.
        """
        result: Any = self._call(
            self._async.analysis_results_nowait, index, columns=columns, dataframe=dataframe
        )
        return result

    def analysis_status(self) -> AnalysisStatus:
        """The callbacks' overall status: ERROR > CANCELLED > RUNNING > QUEUED > DONE.

        Blocking: see :meth:`async_qexp.ExperimentData.analysis_status`.
        """
        result: AnalysisStatus = self._call(self._async.analysis_status)
        return result

    def artifacts(self, artifact_key: str | int | None = None) -> ArtifactData | list[ArtifactData]:
        """All artifacts, or those matching an id or a name (one object when one matches).

        Blocking: see :meth:`async_qexp.ExperimentData.artifacts`.
        """
        result: ArtifactData | list[ArtifactData] = self._call(self._async.artifacts, artifact_key)
        return result

    @property
    def auto_save(self) -> bool:
        """Whether every change is saved in the background (on one serial saver).

        Blocking: see :meth:`async_qexp.ExperimentData.auto_save`.
        """
        value: bool = self._loop.wrap(self._async.auto_save)
        return value

    @auto_save.setter
    def auto_save(self, value: bool) -> None:
        self._call(setattr, self._async, "auto_save", value)

    @property
    def backend(self) -> Any:
        """The backend (as given: a name or a backend object).

        Blocking: see :meth:`async_qexp.ExperimentData.backend`.
        """
        value: Any = self._loop.wrap(self._async.backend)
        return value

    @backend.setter
    def backend(self, value: Any) -> None:
        self._call(setattr, self._async, "backend", value)

    @property
    def backend_name(self) -> str:
        """The backend's name."""
        value: str = self._loop.wrap(self._async.backend_name)
        return value

    def block_for_results(
        self, timeout: float | None = None, *, progress: Progress | None = None
    ) -> SyncExperimentData:
        """Wait for every job and callback (children's too); returns ``self``.

        Blocking: see :meth:`async_qexp.ExperimentData.block_for_results`.
        """
        result: SyncExperimentData = self._call(
            self._async.block_for_results, timeout, progress=progress
        )
        return result

    @property
    def cached_status(self) -> ExperimentStatus:
        """The overall status as last known, without asking any job's service (what a notebook shows; :meth:`status` asks).

        Blocking: see :meth:`async_qexp.ExperimentData.cached_status`.
        """
        value: ExperimentStatus = self._loop.wrap(self._async.cached_status)
        return value

    def cancel(self) -> bool:
        """Cancel queued analysis, then the jobs. ``True`` if everything was cancelled.

        Blocking: see :meth:`async_qexp.ExperimentData.cancel`.
        """
        result: bool = self._call(self._async.cancel)
        return result

    def cancel_analysis(self, ids: str | Sequence[str] | None = None) -> bool:
        """Cancel queued callbacks (all by default); a running one cannot be cancelled.

        Blocking: see :meth:`async_qexp.ExperimentData.cancel_analysis`.
        """
        result: bool = self._call(self._async.cancel_analysis, ids)
        return result

    def cancel_jobs(self, ids: str | Sequence[str] | None = None) -> bool:
        """Cancel jobs that are not final (all by default) and stop waiting for them.

        Blocking: see :meth:`async_qexp.ExperimentData.cancel_jobs`.
        """
        result: bool = self._call(self._async.cancel_jobs, ids)
        return result

    def child_data(self, index: int | slice | str | None = None) -> Any:
        """The children: all, by position, slice, or experiment id.

        Blocking: see :meth:`async_qexp.ExperimentData.child_data`.
        """
        result: Any = self._call(self._async.child_data, index)
        return result

    @property
    def completion_times(self) -> dict[str, datetime]:
        """When each job's data arrived, by job id.

        Blocking: see :meth:`async_qexp.ExperimentData.completion_times`.
        """
        value: dict[str, datetime] = self._loop.wrap(self._async.completion_times)
        return value

    def copy(self, copy_results: bool = True) -> SyncExperimentData:
        """A copy with a new experiment id (and new result ids).

        Blocking: see :meth:`async_qexp.ExperimentData.copy`.
        """
        result: SyncExperimentData = self._call(self._async.copy, copy_results)
        return result

    @property
    def creation_datetime(self) -> datetime | None:
        """When the service stored the experiment."""
        value: datetime | None = self._loop.wrap(self._async.creation_datetime)
        return value

    def data(self, index: int | slice | str | None = None) -> Any:
        """The raw data: all of it, one item, a slice, or every item of one job id.

        Blocking: see :meth:`async_qexp.ExperimentData.data`.
        """
        result: Any = self._call(self._async.data, index)
        return result

    @property
    def db_data(self) -> Experiment:
        """The experiment record: every field the service stores. It is the container's own record: a change made through it is saved by the next :meth:`save` (auto-save does not see it).

        Blocking: see :meth:`async_qexp.ExperimentData.db_data`.
        """
        value: Experiment = self._loop.wrap(self._async.db_data)
        return value

    def delete_analysis_result(self, result_key: int | slice | str) -> list[str]:
        """Delete results (by position, id, short id or name); returns their full ids.

        Blocking: see :meth:`async_qexp.ExperimentData.delete_analysis_result`.
        """
        result: list[str] = self._call(self._async.delete_analysis_result, result_key)
        return result

    def delete_artifact(self, artifact_key: str | int) -> str | list[str]:
        """Delete artifacts by id or name; returns the deleted id(s).

        Blocking: see :meth:`async_qexp.ExperimentData.delete_artifact`.
        """
        result: str | list[str] = self._call(self._async.delete_artifact, artifact_key)
        return result

    def delete_figure(self, figure_key: str | int) -> str:
        """Delete a figure; it is deleted from the service on the next save.

        Blocking: see :meth:`async_qexp.ExperimentData.delete_figure`.
        """
        result: str = self._call(self._async.delete_figure, figure_key)
        return result

    @property
    def end_datetime(self) -> datetime | None:
        """When the last job's data was added successfully."""
        value: datetime | None = self._loop.wrap(self._async.end_datetime)
        return value

    @end_datetime.setter
    def end_datetime(self, value: datetime | None) -> None:
        self._call(setattr, self._async, "end_datetime", value)

    def errors(self) -> str:
        """Job errors, then analysis errors.

        Blocking: see :meth:`async_qexp.ExperimentData.errors`.
        """
        result: str = self._call(self._async.errors)
        return result

    @property
    def experiment(self) -> Any:
        """The experiment object that produced the data, if any.

        Blocking: see :meth:`async_qexp.ExperimentData.experiment`.
        """
        value: Any = self._loop.wrap(self._async.experiment)
        return value

    @property
    def experiment_id(self) -> str:
        """The experiment's id."""
        value: str = self._loop.wrap(self._async.experiment_id)
        return value

    @property
    def experiment_type(self) -> str:
        """The experiment type."""
        value: str = self._loop.wrap(self._async.experiment_type)
        return value

    @experiment_type.setter
    def experiment_type(self, value: str) -> None:
        self._call(setattr, self._async, "experiment_type", value)

    def figure(self, figure_key: str | int, file_name: str | os.PathLike[str] | None = None) -> Any:
        """A figure (downloaded on first use after ``load``).

        Blocking: see :meth:`async_qexp.ExperimentData.figure`.
        """
        result: Any = self._call(self._async.figure, figure_key, file_name)
        return result

    @property
    def figure_names(self) -> list[str]:
        """Names of the experiment's figures."""
        value: list[str] = self._loop.wrap(self._async.figure_names)
        return value

    def flush(self) -> None:
        """Wait until every pending auto-save has run.

        Blocking: see :meth:`async_qexp.ExperimentData.flush`.
        """
        self._call(self._async.flush)

    @property
    def group(self) -> str:
        """The group the experiment is stored in."""
        value: str = self._loop.wrap(self._async.group)
        return value

    @property
    def hgp(self) -> str:
        """``"hub/group/project"``.

        Blocking: see :meth:`async_qexp.ExperimentData.hgp`.
        """
        value: str = self._loop.wrap(self._async.hgp)
        return value

    @hgp.setter
    def hgp(self, value: str) -> None:
        self._call(setattr, self._async, "hgp", value)

    @property
    def hub(self) -> str:
        """The hub the experiment is stored in."""
        value: str = self._loop.wrap(self._async.hub)
        return value

    def job_errors(self) -> str:
        """Errors of failed jobs and of job waits that raised, one block per job.

        Blocking: see :meth:`async_qexp.ExperimentData.job_errors`.
        """
        result: str = self._call(self._async.job_errors)
        return result

    @property
    def job_ids(self) -> list[str]:
        """Ids of the experiment's jobs (the live list)."""
        value: list[str] = self._loop.wrap(self._async.job_ids)
        return value

    def job_status(self) -> JobStatus:
        """The jobs' overall status: ERROR > CANCELLED > RUNNING > QUEUED > ... > DONE.

        Blocking: see :meth:`async_qexp.ExperimentData.job_status`.
        """
        result: JobStatus = self._call(self._async.job_status)
        return result

    def jobs(self) -> list[Any]:
        """The job objects (``None`` for ids whose object is not known).

        Blocking: see :meth:`async_qexp.ExperimentData.jobs`.
        """
        result: list[Any] = self._call(self._async.jobs)
        return result

    @property
    def metadata(self) -> dict[str, Any]:
        """The experiment metadata (the live dict)."""
        value: dict[str, Any] = self._loop.wrap(self._async.metadata)
        return value

    @property
    def notes(self) -> str:
        """Free-form notes.

        Blocking: see :meth:`async_qexp.ExperimentData.notes`.
        """
        value: str = self._loop.wrap(self._async.notes)
        return value

    @notes.setter
    def notes(self, value: str) -> None:
        self._call(setattr, self._async, "notes", value)

    @property
    def owner(self) -> str:
        """The owner's user id (set by the service)."""
        value: str = self._loop.wrap(self._async.owner)
        return value

    @property
    def parent_id(self) -> str | None:
        """The parent experiment's id."""
        value: str | None = self._loop.wrap(self._async.parent_id)
        return value

    @parent_id.setter
    def parent_id(self, value: str | None) -> None:
        self._call(setattr, self._async, "parent_id", value)

    @property
    def project(self) -> str:
        """The project the experiment is stored in."""
        value: str = self._loop.wrap(self._async.project)
        return value

    @property
    def provider(self) -> SyncProvider | None:
        """The provider, if one was given.

        Blocking: see :meth:`async_qexp.ExperimentData.provider`.
        """
        value: SyncProvider | None = self._loop.wrap(self._async.provider)
        return value

    def remove_tags_recursive(self, tags2remove: Sequence[str]) -> None:
        """Remove tags here and in every descendant.

        Blocking: see :meth:`async_qexp.ExperimentData.remove_tags_recursive`.
        """
        self._call(self._async.remove_tags_recursive, tags2remove)

    @property
    def running_time(self) -> datetime | None:
        """When the latest successful job started running (not set automatically).

        Blocking: see :meth:`async_qexp.ExperimentData.running_time`.
        """
        value: datetime | None = self._loop.wrap(self._async.running_time)
        return value

    def save(
        self,
        suppress_errors: bool = True,
        max_workers: int | None = None,
        save_figures: bool = True,
        save_artifacts: bool = True,
        save_children: bool = True,
        *,
        progress: Progress | None = None,
    ) -> SaveReport:
        """Save what changed since the last save: the experiment, then (concurrently) its results, figures, artifacts and deletions, then the children.

        Blocking: see :meth:`async_qexp.ExperimentData.save`.
        """
        result: SaveReport = self._call(
            self._async.save,
            suppress_errors,
            max_workers,
            save_figures,
            save_artifacts,
            save_children,
            progress=progress,
        )
        return result

    def save_metadata(self) -> None:
        """Save only the experiment record (here and in every child).

        Blocking: see :meth:`async_qexp.ExperimentData.save_metadata`.
        """
        self._call(self._async.save_metadata)

    @property
    def share_level(self) -> ExperimentShareLevel | None:
        """Who can see the experiment (set on the children too).

        Blocking: see :meth:`async_qexp.ExperimentData.share_level`.
        """
        value: ExperimentShareLevel | None = self._loop.wrap(self._async.share_level)
        return value

    @share_level.setter
    def share_level(self, value: ExperimentShareLevel | str) -> None:
        self._call(setattr, self._async, "share_level", value)

    @property
    def source(self) -> dict[str, Any]:
        """The class and version that made the metadata.

        Blocking: see :meth:`async_qexp.ExperimentData.source`.
        """
        value: dict[str, Any] = self._loop.wrap(self._async.source)
        return value

    @property
    def start_datetime(self) -> datetime | None:
        """When the experiment started."""
        value: datetime | None = self._loop.wrap(self._async.start_datetime)
        return value

    @start_datetime.setter
    def start_datetime(self, value: datetime | None) -> None:
        self._call(setattr, self._async, "start_datetime", value)

    def status(self) -> ExperimentStatus:
        """The overall status: job state first, then analysis.

        Blocking: see :meth:`async_qexp.ExperimentData.status`.
        """
        result: ExperimentStatus = self._call(self._async.status)
        return result

    @property
    def tags(self) -> list[str]:
        """Tags, sorted and without duplicates.

        Blocking: see :meth:`async_qexp.ExperimentData.tags`.
        """
        value: list[str] = self._loop.wrap(self._async.tags)
        return value

    @tags.setter
    def tags(self, value: list[str]) -> None:
        self._call(setattr, self._async, "tags", value)

    def to_json(self) -> str:
        """The container as JSON text: data, results, figures, artifacts, metadata, tags, children, job ids, and what the service already holds (so a restored container's next save sends only what changed). The service, experiment and backend objects are left out (the backend's name is kept).

        Blocking: see :meth:`async_qexp.ExperimentData.to_json`.
        """
        result: str = self._call(self._async.to_json)
        return result

    @property
    def updated_datetime(self) -> datetime | None:
        """When the service last updated the experiment."""
        value: datetime | None = self._loop.wrap(self._async.updated_datetime)
        return value


SyncPager._async_type = Pager
SyncResultStream._async_type = ResultStream
register(SyncPager)
register(SyncResultStream)
