"""The runtime service: programs and jobs, every call of ``IBMRuntimeService``.

Arguments are checked here, before any request (a wrong type is a ``TypeError``, a bad value
a ``ValueError``); the requests themselves are made by :mod:`._api` and their answers read by
:mod:`async_qexp.models.runtime` (``docs/protocol.md#runtime-rest-api``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import anyio

from .._config import StreamPolicy
from .._logs import get_logger
from .._paging import Pager
from .._service import Service, ServiceContext
from ..models._checks import require_bool, require_ident, require_int
from ..models.envelopes import dumps_runtime
from ..models.program_spec import SPEC_PARTS
from ..models.runtime import (
    ProgramParameter,
    ProgramResult,
    RuntimeOptions,
    RuntimeProgram,
    program_source,
    program_update,
    program_upload,
    run_request,
)
from ..progress import Progress, check_progress
from ._api import PAGE_SIZE, JobsApi, ProgramsApi, offset_pages
from .decoder import ResultDecoder, check_decoder
from .job import RuntimeJob
from .stream import MessageCallback

logger = get_logger("async_qexp.runtime")

__all__ = [
    "ProgramParameter",
    "ProgramResult",
    "RuntimeOptions",
    "RuntimeProgram",
    "RuntimeService",
]


def _read_source(data: str | bytes) -> str:
    """A program's source: the text itself (it has ``def main(``), bytes, or a file's path."""
    if isinstance(data, bytes):
        return data.decode("utf-8")
    if "def main(" in data:
        return data
    with open(data, encoding="utf-8") as handle:  # a path (read in a worker thread)
        return handle.read()


async def _source(data: Any) -> str:
    if not isinstance(data, str | bytes):
        raise TypeError(f"data must be source text, bytes or a path, not {type(data).__name__}")
    return await anyio.to_thread.run_sync(_read_source, data)


def _listing_window(limit: Any, skip: Any) -> None:
    if limit is not None:
        require_int(limit, "limit", minimum=1)
    require_int(skip, "skip", minimum=0)


class RuntimeService(Service):
    """The runtime service of one provider: ``provider.runtime``.

    Every method is a coroutine, except :meth:`jobs` (it returns a :class:`Pager` at once)
    and :meth:`RuntimeJob.stream_results`, which returns the stream at once. Every task the
    service and its jobs start belongs to the provider: closing the provider closes every
    stream and callback task.

    Args:
        context: the provider's session, task owner and hub/group/project (jobs run there).
        base_url: the runtime URL.
        stream_policy: how result streams keep their connection.
    """

    def __init__(
        self,
        context: ServiceContext,
        base_url: str,
        *,
        stream_policy: StreamPolicy | None = None,
    ) -> None:
        super().__init__(context, base_url)
        self._jobs_api = JobsApi(context.session, self.base_url)
        self._programs_api = ProgramsApi(context.session, self.base_url)
        self.stream_policy = stream_policy or StreamPolicy()
        """How result streams keep their connection (:class:`StreamPolicy`); a change applies
        to the streams opened afterwards."""
        self._programs: dict[str, RuntimeProgram] | None = None  # the listing
        self._fetched: dict[str, RuntimeProgram] = {}  # read one by one (with their source)

    @property
    def jobs_api(self) -> JobsApi:
        """The REST calls of jobs, shared by every :class:`RuntimeJob` of this service."""
        return self._jobs_api

    # -- programs ------------------------------------------------------------------------

    async def programs(
        self, refresh: bool = False, limit: int | None = 20, skip: int = 0
    ) -> list[RuntimeProgram]:
        """The programs visible to this account (cached; ``refresh=True`` asks again).

        The whole list is fetched once, 20 programs a page; ``limit`` and ``skip`` choose from
        the cached list.

        Raises:
            TypeError: for a ``limit`` or ``skip`` that is not an int, or a non-bool
                ``refresh``.
            ValueError: for a negative ``skip`` or a non-positive ``limit``.
        """
        require_bool(refresh, "refresh")
        _listing_window(limit, skip)
        if self._programs is None or refresh:
            self._fetched.clear()
            pager = Pager(
                offset_pages(self._programs_api.page), owner=self._tasks, page_size=PAGE_SIZE
            )
            self._programs = {program.program_id: program for program in await pager}
        listed = list(self._programs.values())[skip:]
        return listed if limit is None else listed[:limit]

    async def program(self, program_id: str, refresh: bool = False) -> RuntimeProgram:
        """One program's metadata (and source, if you are its author).

        Read with ``GET /programs/{id}`` once (a listing lacks the source), then cached like the
        listing; ``refresh=True`` asks again.

        Raises:
            TypeError: for a program id that is not a string.
            ValueError: for a program id that cannot be an id.
            RuntimeProgramNotFound: if it does not exist.
        """
        require_ident(program_id, "program_id")
        require_bool(refresh, "refresh")
        if not refresh and program_id in self._fetched:
            return self._fetched[program_id]
        program = await self._programs_api.get(program_id)
        self._fetched[program_id] = program
        if self._programs is not None:
            self._programs[program.program_id] = program
        return program

    def _forget_programs(self) -> None:
        """Drop every cached program (after a change the server made)."""
        self._programs = None
        self._fetched.clear()

    async def pprint_programs(self, refresh: bool = False) -> None:
        """Print every available program's metadata."""
        for program in await self.programs(refresh=refresh, limit=None):
            print("=" * 50)
            print(program)

    async def upload_program(
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

        ``data`` is the source (text containing ``def main(``, or bytes) or the path of a file;
        ``metadata`` a dict or the path of a JSON file, in the form of either reference client
        (the spec parts at its top level, or in a ``spec`` dict with ``is_public``). Explicit
        arguments win over metadata.

        ``parameters``, ``return_values`` and ``interim_results`` are each a JSON schema, or a
        list of :class:`ProgramParameter` (``ProgramResult``) items, the reference client's
        items, or dicts with their keys (``name``, ``description``, ``type``, ``required``);
        a list is sent as the JSON schema it stands for, and :meth:`RuntimeProgram.parameter_items`
        reads it back.

        Raises:
            TypeError: for an argument of the wrong type.
            ValueError: if name, max_execution_time or description is missing, for an unknown
                metadata key, or a list item without a name or with unknown keys.
            RuntimeDuplicateProgramError: if a program of that name exists.
            AuthError: if you may not upload programs.
        """
        if isinstance(metadata, str):
            meta: dict[str, Any] = dict(await _json_file(metadata))
        elif metadata is None or isinstance(metadata, Mapping):
            meta = dict(metadata or {})
        else:
            raise TypeError(f"metadata must be a dict or a path, not {type(metadata).__name__}")
        given = {
            "name": name,
            "max_execution_time": max_execution_time,
            "description": description,
            "version": version,
            "backend_requirements": backend_requirements,
            "parameters": parameters,
            "return_values": return_values,
            "interim_results": interim_results,
            "is_public": is_public,
        }
        meta.update({k: v for k, v in given.items() if v is not None})
        program_upload(meta, "")  # check everything before reading data
        body = program_upload(meta, await _source(data))
        program_id = await self._programs_api.create(body)
        self._forget_programs()
        return program_id

    async def update_program(
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

        ``metadata`` and ``spec`` take what :meth:`upload_program` takes for them: the spec
        parts in ``spec`` or at the top level of ``metadata``, each a JSON schema or a list of
        items. Explicit arguments win over metadata.

        Raises:
            TypeError: for an argument of the wrong type.
            ValueError: if nothing to update is given, for an unknown metadata key, or for
                ``version`` or ``is_public`` (an update cannot change them).
            RuntimeProgramNotFound: if the program does not exist.
        """
        require_ident(program_id, "program_id")
        if metadata is not None and not isinstance(metadata, Mapping):
            raise TypeError(f"metadata must be a dict, not {type(metadata).__name__}")
        meta = dict(metadata or {})
        given = {
            "name": name,
            "description": description,
            "max_execution_time": max_execution_time,
            "spec": spec,
        }
        if spec is not None:  # the given spec replaces the metadata's, parts included
            for part in SPEC_PARTS:
                meta.pop(part, None)
        meta.update({k: v for k, v in given.items() if v is not None})
        patch = program_update(meta)
        if data is None and not patch:
            raise ValueError("nothing to update: give data and/or metadata")
        source = None if data is None else await _source(data)
        try:
            if source is not None:
                await self._programs_api.replace_data(program_id, program_source(source))
            if patch:
                await self._programs_api.update(program_id, patch)
        finally:  # the source may have changed even if the metadata did not
            self._forget_programs()

    async def set_program_visibility(self, program_id: str, public: bool) -> None:
        """Make a program public or private (yours only).

        Raises:
            TypeError: for a program id that is not a string or a non-bool ``public``.
            RuntimeProgramNotFound: if the program does not exist.
        """
        require_ident(program_id, "program_id")
        require_bool(public, "public")
        await self._programs_api.set_visibility(program_id, public)
        self._forget_programs()

    async def delete_program(self, program_id: str) -> None:
        """Delete a program.

        Raises:
            TypeError: for a program id that is not a string.
            RuntimeProgramNotFound: if it does not exist.
        """
        require_ident(program_id, "program_id")
        await self._programs_api.delete(program_id)
        self._fetched.pop(program_id, None)
        if self._programs is not None:
            self._programs.pop(program_id, None)

    # -- jobs ----------------------------------------------------------------------------

    async def run(
        self,
        program_id: str,
        options: RuntimeOptions | Mapping[str, Any],
        inputs: Mapping[str, Any],
        callback: MessageCallback | None = None,
        result_decoder: type[ResultDecoder] | None = None,
    ) -> RuntimeJob:
        """Run a program and return its job.

        Args:
            program_id: the program to run.
            options: a :class:`RuntimeOptions` or a dict of its fields (``backend_name``
                is required).
            inputs: the program's inputs (runtime envelopes for complex numbers, arrays, ...).
            callback: called as ``callback(job_id, message)`` for every message the program
                publishes (sync or async); streaming starts at once.
            result_decoder: the :class:`ResultDecoder` subclass for results and messages.

        Raises:
            TypeError: for an argument of the wrong type, or inputs that cannot be sent as
                JSON (before any request).
            ValueError: for invalid options or ids (before any request).
            RuntimeProgramNotFound: for an unknown program (an ``EntryNotFound`` too).
            ApiError: for a backend the service refuses (``400`` in the emulator).
        """
        runtime_options = RuntimeOptions.of(options)
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        decoder = check_decoder(result_decoder, "result_decoder") or ResultDecoder
        hgp = self._hgp
        body = run_request(
            program_id,
            runtime_options,
            inputs,
            hub=hgp.hub if hgp else None,
            group=hgp.group if hgp else None,
            project=hgp.project if hgp else None,
        )
        job_id, created = await self._jobs_api.create(dumps_runtime(body))
        job = RuntimeJob(
            self,
            job_id,
            program_id=program_id,
            backend=runtime_options.backend_name,
            inputs=inputs,
            creation_date=created,
            result_decoder=decoder,
            image=runtime_options.image or "",
        )
        logger.info(
            "job %s submitted: program %s on %s", job_id, program_id, runtime_options.backend_name
        )
        if callback is not None:
            job.stream_results(callback)
        return job

    async def job(self, job_id: str) -> RuntimeJob:
        """Retrieve a job.

        Raises:
            TypeError: for a job id that is not a string.
            ValueError: for a job id that cannot be an id.
            RuntimeJobNotFound: if it does not exist.
        """
        require_ident(job_id, "job_id")
        return RuntimeJob.from_record(self, await self._jobs_api.record(job_id))

    def jobs(
        self,
        limit: int | None = 10,
        skip: int = 0,
        pending: bool | None = None,
        program_id: str | None = None,
        *,
        progress: Progress | None = None,
    ) -> Pager[RuntimeJob]:
        """Jobs, newest first: ``await`` it for a list, or ``async for`` it page by page.

        Pages of 20 are fetched from ``skip`` on, until ``limit`` jobs (``None`` for all);
        iterating prefetches the next page while you read the current one.

        Args:
            limit: how many jobs at most.
            skip: how many of the newest to skip.
            pending: ``True`` for queued or running jobs only, ``False`` for finished ones.
            program_id: only jobs of this program.
            progress: told the jobs received as each page arrives (:mod:`async_qexp.progress`).

        Raises:
            TypeError: for an argument of the wrong type (at once, not when awaited).
            ValueError: for a non-positive ``limit``, a negative ``skip`` or a bad program id.
        """
        _listing_window(limit, skip)
        if pending is not None:
            require_bool(pending, "pending")
        if program_id is not None:
            require_ident(program_id, "program_id")

        async def read(offset: int, size: int | None) -> tuple[list[RuntimeJob], int]:
            records, count = await self._jobs_api.page(
                offset, size, pending=pending, program_id=program_id
            )
            return [RuntimeJob.from_record(self, record) for record in records], count

        return Pager(
            offset_pages(read, start=skip),
            owner=self._tasks,
            limit=limit,
            page_size=PAGE_SIZE,
            progress=check_progress(progress),
        )

    async def delete_job(self, job_id: str) -> None:
        """Delete a job (in any state).

        Raises:
            TypeError: for a job id that is not a string.
            RuntimeJobNotFound: if it does not exist.
        """
        require_ident(job_id, "job_id")
        await self._jobs_api.delete(job_id)

    async def logout(self) -> None:
        """Ask the server to clear its cache of this account's authorisation."""
        await self._jobs_api.logout()


async def _json_file(path: str) -> Mapping[str, Any]:
    """The JSON object in the file at ``path``."""
    loaded = json.loads(await anyio.Path(path).read_text())
    if not isinstance(loaded, Mapping):
        raise ValueError(f"the metadata file {path} must hold a JSON object")
    return loaded
