"""The runtime service: programs and jobs (PROTOCOL §5), every call of ``IBMRuntimeService``."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anyio
import attrs
import httpx

from .._auth import HubGroupProject
from .._config import StreamPolicy
from .._http import HttpSession, parse_json
from ..errors import (
    EntryExists,
    RuntimeDuplicateProgramError,
    RuntimeJobNotFound,
    RuntimeProgramNotFound,
    not_found_as,
)
from ..models import RuntimeProgram, parse_datetime
from .codec import ResultDecoder, dumps
from .job import RuntimeJob
from .stream import ResultStream, websocket_url

__all__ = ["RuntimeOptions", "RuntimeProgram", "RuntimeService"]

logger = logging.getLogger("async_qexp")

_IMAGE = re.compile(r"^[a-zA-Z0-9]+([/.\-_][a-zA-Z0-9]+)*:[a-zA-Z0-9]+([.\-_][a-zA-Z0-9]+)*$")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_PAGE = 20


@attrs.frozen(kw_only=True)
class RuntimeOptions:
    """Where and how a program runs.

    Attributes:
        backend_name: the backend to run on (required).
        image: the runtime image, ``name:tag``.
        log_level: the program's logging level (``DEBUG`` ... ``CRITICAL``).
    """

    backend_name: str
    image: str | None = None
    log_level: str | None = None

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.backend_name, str) or not self.backend_name:
            raise ValueError("options: backend_name is required")
        if self.image is not None and not _IMAGE.match(self.image):
            raise ValueError(f"options: image must look like 'name:tag', not {self.image!r}")
        if self.log_level is not None and self.log_level.upper() not in _LOG_LEVELS:
            raise ValueError(f"options: log_level must be one of {', '.join(_LOG_LEVELS)}")


def _program_source(data: str | bytes) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8")
    if "def main(" in data:
        return data
    with open(data, encoding="utf-8") as handle:  # a path (read in a worker thread)
        return handle.read()


def _b64(source: str) -> str:
    return base64.standard_b64encode(source.encode("utf-8")).decode("ascii")


class RuntimeService:
    """The runtime service of one provider: ``provider.runtime``.

    Every method is a coroutine, except :meth:`RuntimeJob.stream_results`, which returns the
    stream at once. Closing the provider closes every stream and callback task.
    """

    def __init__(
        self,
        session: HttpSession,
        base_url: str,
        *,
        tasks: Any = None,
        hgp: HubGroupProject | None = None,
        stream_policy: StreamPolicy | None = None,
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._ws = websocket_url(self._base)
        self._hgp = hgp
        self.stream_policy = stream_policy or StreamPolicy()
        """How result streams keep their connection (:class:`StreamPolicy`)."""
        self._programs: dict[str, RuntimeProgram] | None = None
        self._streams: set[ResultStream] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    def __repr__(self) -> str:
        return f"<RuntimeService {self._base} hgp={self._hgp}>"

    @property
    def base_url(self) -> str:
        """The runtime base URL this service talks to."""
        return self._base

    # -- plumbing ------------------------------------------------------------------------

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self._session.request(method, self._base + path, **kwargs)

    async def _job_record(self, job_id: str) -> dict[str, Any]:
        with not_found_as(RuntimeJobNotFound):
            response = await self._request("GET", f"/jobs/{job_id}")
        record = parse_json(response)
        if not isinstance(record, dict):
            raise RuntimeJobNotFound(f"malformed job record for {job_id}", status=200)
        return record

    def _open_stream(self, job: RuntimeJob, decoder: type[ResultDecoder]) -> ResultStream:
        def closed(stream: ResultStream) -> None:
            self._streams.discard(stream)
            job._stream_closed(stream)

        stream = ResultStream(
            job,
            url=self._ws,
            token=lambda: self._session.access_token_for(self._base),
            decoder=decoder,
            policy=self.stream_policy,
            on_close=closed,
        )
        self._streams.add(stream)
        return stream

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """Close every open stream and stop every callback task (the provider calls this)."""
        for stream in list(self._streams):
            await stream.aclose()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    # -- programs ------------------------------------------------------------------------

    async def programs(
        self, refresh: bool = False, limit: int | None = 20, skip: int = 0
    ) -> list[RuntimeProgram]:
        """The programs visible to this account (cached; ``refresh=True`` asks again).

        Raises:
            ValueError: for a negative ``skip`` or a non-positive ``limit``.
        """
        if limit is not None and (isinstance(limit, bool) or limit < 1):
            raise ValueError("limit must be None or a positive integer")
        if skip < 0:
            raise ValueError("skip must not be negative")
        if self._programs is None or refresh:
            found: dict[str, RuntimeProgram] = {}
            offset = 0
            while True:
                params = [("limit", str(_PAGE))] + ([("offset", str(offset))] if offset else [])
                body = parse_json(await self._request("GET", "/programs", params=params))
                page = body.get("programs", [])
                for record in page:
                    program = RuntimeProgram.from_wire(record)
                    found[program.program_id] = program
                offset += len(page)
                if not page or offset >= int(body.get("count", 0)):
                    break
            self._programs = found
        listed = list(self._programs.values())[skip:]
        return listed if limit is None else listed[:limit]

    async def program(self, program_id: str, refresh: bool = False) -> RuntimeProgram:
        """One program's metadata (and source, if you are its author).

        Raises:
            RuntimeProgramNotFound: if it does not exist.
        """
        if not refresh and self._programs and program_id in self._programs:
            cached = self._programs[program_id]
            if cached.data:
                return cached
        with not_found_as(RuntimeProgramNotFound):
            record = parse_json(await self._request("GET", f"/programs/{program_id}"))
        program = RuntimeProgram.from_wire(record)
        if self._programs is not None:
            self._programs[program.program_id] = program
        return program

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
        version: float | None = None,
        backend_requirements: Mapping[str, Any] | None = None,
        parameters: Mapping[str, Any] | Sequence[Any] | None = None,
        return_values: Mapping[str, Any] | Sequence[Any] | None = None,
        interim_results: Mapping[str, Any] | Sequence[Any] | None = None,
        is_public: bool = False,
    ) -> str:
        """Upload a program and return its id.

        ``data`` is the source (text containing ``def main(``, or bytes) or the path of a file;
        ``metadata`` a dict or the path of a JSON file. Explicit arguments win over metadata.

        Raises:
            ValueError: if name, max_execution_time or description is missing.
            RuntimeDuplicateProgramError: if a program of that name exists.
            AuthError: if you may not upload programs.
        """
        if isinstance(metadata, str):
            meta: dict[str, Any] = json.loads(await anyio.Path(metadata).read_text())
        else:
            meta = dict(metadata or {})
        given = {
            "name": name,
            "max_execution_time": max_execution_time,
            "description": description,
            "version": version,
            "backend_requirements": backend_requirements,
            "parameters": parameters,
            "return_values": return_values,
            "interim_results": interim_results,
        }
        meta.update({k: v for k, v in given.items() if v is not None})
        missing = [k for k in ("name", "max_execution_time", "description") if not meta.get(k)]
        if missing:
            raise ValueError(f"missing program metadata: {', '.join(missing)}")
        source = await anyio.to_thread.run_sync(_program_source, data)
        spec = {
            key: meta[key]
            for key in ("backend_requirements", "parameters", "return_values", "interim_results")
            if meta.get(key)
        }
        body: dict[str, Any] = {
            "name": meta["name"],
            "data": _b64(source),
            "cost": int(meta["max_execution_time"]),
            "description": meta["description"],
            "is_public": bool(is_public),
        }
        if spec:
            body["spec"] = spec
        if meta.get("version") is not None:
            body["version"] = str(meta["version"])
        try:
            response = await self._request("POST", "/programs", json_body=body, replay_safe=False)
        except EntryExists as exc:
            raise RuntimeDuplicateProgramError(exc.message, status=409, url=exc.url) from exc
        self._programs = None
        return str(parse_json(response)["id"])

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

        Raises:
            ValueError: if nothing to update is given.
            RuntimeProgramNotFound: if the program does not exist.
        """
        meta = dict(metadata or {})
        meta.update(
            {
                k: v
                for k, v in {
                    "name": name,
                    "description": description,
                    "max_execution_time": max_execution_time,
                    "spec": spec,
                }.items()
                if v is not None
            }
        )
        patch = {
            "name": meta.get("name"),
            "description": meta.get("description"),
            "cost": meta.get("max_execution_time"),
            "spec": meta.get("spec"),
        }
        patch = {k: v for k, v in patch.items() if v}
        if data is None and not patch:
            raise ValueError("nothing to update: give data and/or metadata")
        with not_found_as(RuntimeProgramNotFound):
            if data is not None:
                source = await anyio.to_thread.run_sync(_program_source, data)
                await self._request(
                    "PUT",
                    f"/programs/{program_id}/data",
                    content=_b64(source),
                    headers={"Content-Type": "application/octet-stream"},
                )
            if patch:
                await self._request("PATCH", f"/programs/{program_id}", json_body=patch)
        self._programs = None

    async def set_program_visibility(self, program_id: str, public: bool) -> None:
        """Make a program public or private (yours only).

        Raises:
            RuntimeProgramNotFound: if the program does not exist.
        """
        path = f"/programs/{program_id}/{'public' if public else 'private'}"
        with not_found_as(RuntimeProgramNotFound):
            await self._request("PUT", path)
        self._programs = None

    async def delete_program(self, program_id: str) -> None:
        """Delete a program.

        Raises:
            RuntimeProgramNotFound: if it does not exist.
        """
        with not_found_as(RuntimeProgramNotFound):
            await self._request("DELETE", f"/programs/{program_id}")
        if self._programs is not None:
            self._programs.pop(program_id, None)

    # -- jobs ----------------------------------------------------------------------------

    async def run(
        self,
        program_id: str,
        options: RuntimeOptions | Mapping[str, Any],
        inputs: Mapping[str, Any],
        callback: Callable[[str, Any], Any] | None = None,
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
            ValueError: for invalid options (before any request).
            EntryNotFound: for an unknown program or backend.
        """
        if not isinstance(options, RuntimeOptions):
            unknown = set(options) - {"backend_name", "image", "log_level"}
            if unknown:
                raise ValueError(f"unknown runtime options: {sorted(unknown)}")
            if not options.get("backend_name"):
                raise ValueError("options: backend_name is required")
            options = RuntimeOptions(**options)
        if not isinstance(program_id, str) or not program_id:
            raise ValueError("program_id must be a non-empty string")
        body: dict[str, Any] = {"program_id": program_id}
        if self._hgp is not None:
            body.update(hub=self._hgp.hub, group=self._hgp.group, project=self._hgp.project)
        body.update(backend=options.backend_name, params=dict(inputs or {}), runtime=options.image)
        if options.log_level:
            body["log_level"] = options.log_level.upper()
        payload = dumps(body)
        response = await self._request(
            "POST",
            "/jobs",
            content=payload,
            headers={"Content-Type": "application/json"},
            replay_safe=False,
        )
        record = parse_json(response)
        job = RuntimeJob(
            self,
            str(record["id"]),
            program_id=program_id,
            backend=options.backend_name,
            inputs=dict(inputs or {}),
            creation_date=parse_datetime(record["created"]) if record.get("created") else None,
            result_decoder=result_decoder or ResultDecoder,
        )
        if callback is not None:
            job.stream_results(callback)
        return job

    async def job(self, job_id: str) -> RuntimeJob:
        """Retrieve a job.

        Raises:
            RuntimeJobNotFound: if it does not exist.
        """
        return RuntimeJob.from_record(self, await self._job_record(job_id))

    async def jobs(
        self,
        limit: int | None = 10,
        skip: int = 0,
        pending: bool | None = None,
        program_id: str | None = None,
    ) -> list[RuntimeJob]:
        """Retrieve jobs, newest first (``limit=None`` for all).

        Args:
            limit: how many jobs at most.
            skip: how many of the newest to skip.
            pending: ``True`` for queued or running jobs only, ``False`` for finished ones.
            program_id: only jobs of this program.
        """
        if limit is not None and (isinstance(limit, bool) or limit < 1):
            raise ValueError("limit must be None or a positive integer")
        if skip < 0:
            raise ValueError("skip must not be negative")
        found: list[RuntimeJob] = []
        offset = skip
        while True:
            size = _PAGE if limit is None else min(_PAGE, limit - len(found))
            params = [("limit", str(size))]
            if offset:
                params.append(("offset", str(offset)))
            if pending is not None:
                params.append(("pending", "true" if pending else "false"))
            if program_id:
                params.append(("program", program_id))
            body = parse_json(await self._request("GET", "/jobs", params=params))
            page = body.get("jobs", [])
            found.extend(RuntimeJob.from_record(self, record) for record in page)
            offset += len(page)
            if not page or len(found) >= int(body.get("count", 0)) - skip:
                break
            if limit is not None and len(found) >= limit:
                break
        return found

    async def delete_job(self, job_id: str) -> None:
        """Delete a job (in any state).

        Raises:
            RuntimeJobNotFound: if it does not exist.
        """
        with not_found_as(RuntimeJobNotFound):
            await self._request("DELETE", f"/jobs/{job_id}")

    async def logout(self) -> None:
        """Ask the server to clear its cache of this account's authorisation."""
        await self._request("POST", "/logout", replay_safe=True)
