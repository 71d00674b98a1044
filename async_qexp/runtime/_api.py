"""The runtime's REST calls, stateless: one method per endpoint, records in and out.

:class:`JobsApi` is what a :class:`~async_qexp.runtime.RuntimeJob` and a
:class:`~async_qexp.runtime.ResultStream` talk to (and what a stream needs for its websocket:
the URL and the access token of the handshake); :class:`ProgramsApi` serves the program calls
of the service. Neither keeps state beyond the session and the base URL.

Every answer is read with :mod:`async_qexp.models.runtime`; an answer that cannot be read
raises :class:`~async_qexp.errors.ApiError` naming the request, and error statuses map onto
the runtime's exceptions as ``docs/protocol.md#runtime-errors`` lists.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import httpx

from .._http import HttpSession, QueryParams, loggable, parse_json, quote_path
from .._logs import get_logger
from .._paging import Fetch, Page
from ..errors import (
    ApiError,
    EntryExists,
    EntryNotFound,
    RuntimeDuplicateProgramError,
    RuntimeInvalidStateError,
    RuntimeJobNotFound,
    RuntimeProgramNotFound,
    not_found_as,
)
from ..models.runtime import (
    JobRecord,
    JobStatus,
    RuntimeProgram,
    created_id,
    created_job,
    interim_texts,
    job_listing,
    program_listing,
)

__all__ = [
    "JobsApi",
    "ProgramsApi",
    "RuntimeApi",
    "known_status",
    "offset_pages",
    "websocket_url",
]

T = TypeVar("T")

logger = get_logger("async_qexp.runtime")

PAGE_SIZE = 20
"""Items per page of a runtime listing (the reference clients' page size)."""


def websocket_url(runtime_url: str) -> str:
    """The websocket base URL of a runtime URL: ``https`` → ``wss``, ``http`` → ``ws``."""
    url = runtime_url.rstrip("/")
    if url.startswith("https://"):
        return "wss://" + url[len("https://") :]
    if url.startswith("http://"):
        return "ws://" + url[len("http://") :]
    return url


def known_status(record: JobRecord) -> JobStatus:
    """The status of a job record.

    Raises:
        RuntimeInvalidStateError: for a status this client does not know
            (``docs/protocol.md#job-records-and-status``).
    """
    if record.status is None:
        raise RuntimeInvalidStateError(
            f"unknown job status from the server: {record.status_name!r}"
        )
    return record.status


def offset_pages(
    read: Callable[[int, int | None], Awaitable[tuple[list[T], int]]], *, start: int = 0
) -> Fetch[T]:
    """A :class:`~async_qexp._paging.Pager` fetch over an offset-paged listing.

    ``read(offset, size)`` returns a page's items and the listing's total ``count``; the
    pages start at ``start`` and end at ``count`` items or at an empty page, whichever comes
    first (a ``count`` that disagrees with the pages never makes the loop spin).
    """

    async def fetch(cursor: Any, size: int | None) -> Page[T]:
        offset = start if cursor is None else int(cursor)
        items, count = await read(offset, size)
        following = offset + len(items)
        return items, following if items and following < count else None

    return fetch


def _log_unread(problems: list[str]) -> None:
    for problem in problems:
        logger.warning("%s", problem)


def _page_query(offset: int, size: int | None) -> list[tuple[str, str]]:
    query = [("limit", str(PAGE_SIZE if size is None else size))]
    if offset:
        query.append(("offset", str(offset)))
    return query


class RuntimeApi:
    """The REST plumbing shared by :class:`JobsApi` and :class:`ProgramsApi`.

    Args:
        session: the provider's HTTP session.
        base_url: the runtime URL (a trailing ``/`` is dropped).
    """

    def __init__(self, session: HttpSession, base_url: str) -> None:
        self._session = session
        self._base = base_url.rstrip("/")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._base}>"

    @property
    def base_url(self) -> str:
        """The runtime URL the calls go to."""
        return self._base

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: QueryParams = None,
        json_body: Any = None,
        content: str | None = None,
        headers: Mapping[str, str] | None = None,
        replay_safe: bool | None = None,
        not_found: type[EntryNotFound] = EntryNotFound,
    ) -> httpx.Response:
        """Send a request to ``path`` under the runtime URL (see ``HttpSession.request``);
        a 404 raises ``not_found``."""
        with not_found_as(not_found):
            return await self._session.request(
                method,
                self._base + path,
                params=params,
                json_body=json_body,
                content=content,
                headers=headers,
                replay_safe=replay_safe,
            )

    @staticmethod
    def read(
        response: httpx.Response, reader: Callable[[Any], T], what: str, *, text: bool = False
    ) -> T:
        """Read ``response`` with ``reader``: its parsed JSON, or its ``text`` as it is.

        Raises:
            ApiError: naming the request, for a body that is not JSON or that ``reader``
                refuses.
        """
        try:
            return reader(response.text if text else parse_json(response))
        except (TypeError, ValueError) as exc:
            request = response.request
            raise ApiError(
                f"malformed {what}: {exc}",
                status=response.status_code,
                method=request.method,
                url=loggable(str(request.url)),
                headers=response.headers.multi_items(),
            ) from exc

    async def logout(self) -> None:
        """``POST /logout``: clear the server's cache of this account's authorisation."""
        await self.request("POST", "/logout", replay_safe=True)


class JobsApi(RuntimeApi):
    """The REST calls of runtime jobs (``docs/protocol.md#runtime-jobs``), and what a result
    stream needs for its websocket."""

    @property
    def websocket_url(self) -> str:
        """The websocket base URL of result streams."""
        return websocket_url(self._base)

    def stream_url(self, job_id: str) -> str:
        """The websocket URL of a job's result stream."""
        return f"{self.websocket_url}/stream/jobs/{quote_path(job_id)}"

    def access_token(self) -> str | None:
        """The access token for the stream's handshake (``None`` off the service origins)."""
        return self._session.access_token_for(self._base)

    def websocket_options(self, url: str) -> dict[str, Any]:
        """The TLS context and proxy of the stream's websocket to ``url``: the provider's,
        as its HTTP requests use them (keyword arguments of ``websockets``' ``connect``)."""
        return self._session.websocket_options(url)

    async def create(self, body_text: str) -> tuple[str, datetime | None]:
        """``POST /jobs`` with a serialised run request; the new job's id and creation time.

        Never replayed after a failure that may have reached the server (a replay would run
        the program twice).

        Raises:
            RuntimeProgramNotFound: if the program does not exist (404, as R reads it).
        """
        response = await self.request(
            "POST",
            "/jobs",
            content=body_text,
            headers={"Content-Type": "application/json"},
            replay_safe=False,
            not_found=RuntimeProgramNotFound,
        )
        return self.read(response, created_job, "answer to a job creation")

    async def page(
        self,
        offset: int,
        size: int | None,
        *,
        pending: bool | None = None,
        program_id: str | None = None,
    ) -> tuple[list[JobRecord], int]:
        """One page of ``GET /jobs``, newest first, and how many jobs match in all."""
        query = _page_query(offset, size)
        if pending is not None:
            query.append(("pending", "true" if pending else "false"))
        if program_id is not None:
            query.append(("program", program_id))
        response = await self.request("GET", "/jobs", params=query)
        return self.read(response, job_listing, "job listing")

    async def record(self, job_id: str) -> JobRecord:
        """``GET /jobs/{id}``: the job's record.

        Raises:
            RuntimeJobNotFound: if it does not exist.
        """
        response = await self.request(
            "GET", f"/jobs/{quote_path(job_id)}", not_found=RuntimeJobNotFound
        )
        return self.read(response, JobRecord.from_wire, "job record")

    async def result_text(self, job_id: str) -> str:
        """``GET /jobs/{id}/results``: the final result, or the error text of a failed job.

        Raises:
            RuntimeJobNotFound: if the job does not exist.
        """
        path = f"/jobs/{quote_path(job_id)}/results"
        return (await self.request("GET", path, not_found=RuntimeJobNotFound)).text

    async def interim_texts(self, job_id: str) -> list[str]:
        """``GET /jobs/{id}/interim_results``: every interim message so far, as JSON text.

        Raises:
            RuntimeJobNotFound: if the job does not exist.
        """
        path = f"/jobs/{quote_path(job_id)}/interim_results"
        response = await self.request("GET", path, not_found=RuntimeJobNotFound)
        return self.read(response, interim_texts, "interim results", text=True)

    async def logs(self, job_id: str) -> str:
        """``GET /jobs/{id}/logs``: the program's output; ``""`` when there is none (404)."""
        try:
            response = await self.request("GET", f"/jobs/{quote_path(job_id)}/logs")
        except EntryNotFound:
            return ""
        return response.text

    async def cancel(self, job_id: str) -> None:
        """``POST /jobs/{id}/cancel``.

        Raises:
            RuntimeJobNotFound: if the job does not exist.
            RuntimeInvalidStateError: if the job is already final (409).
        """
        path = f"/jobs/{quote_path(job_id)}/cancel"
        try:
            await self.request("POST", path, not_found=RuntimeJobNotFound)
        except EntryExists as exc:
            raise RuntimeInvalidStateError(f"Job cannot be cancelled: {exc.message}") from exc

    async def delete(self, job_id: str) -> None:
        """``DELETE /jobs/{id}`` (a job in any state).

        Raises:
            RuntimeJobNotFound: if the job does not exist.
        """
        await self.request("DELETE", f"/jobs/{quote_path(job_id)}", not_found=RuntimeJobNotFound)


class ProgramsApi(RuntimeApi):
    """The REST calls of runtime programs (``docs/protocol.md#programs``)."""

    async def page(self, offset: int, size: int | None) -> tuple[list[RuntimeProgram], int]:
        """One page of ``GET /programs``, and how many programs there are in all.

        A program whose stored fields or spec cannot be read is read as far as it can be, and
        what could not be read is logged as a warning: it never fails the listing.
        """
        response = await self.request("GET", "/programs", params=_page_query(offset, size))
        problems: list[str] = []
        page = self.read(response, lambda body: program_listing(body, problems), "program listing")
        _log_unread(problems)
        return page

    async def get(self, program_id: str) -> RuntimeProgram:
        """``GET /programs/{id}``: the program's record (with its source, for its author),
        read leniently as :meth:`page` reads it.

        Raises:
            RuntimeProgramNotFound: if it does not exist.
        """
        path = f"/programs/{quote_path(program_id)}"
        response = await self.request("GET", path, not_found=RuntimeProgramNotFound)
        problems: list[str] = []
        program = self.read(
            response, lambda body: RuntimeProgram.from_wire(body, problems), "program record"
        )
        _log_unread(problems)
        return program

    async def create(self, body: dict[str, Any]) -> str:
        """``POST /programs``: upload a program; its id.

        Raises:
            RuntimeDuplicateProgramError: if a program of that name exists (409).
        """
        try:
            response = await self.request("POST", "/programs", json_body=body, replay_safe=False)
        except EntryExists as exc:
            raise exc.recast(RuntimeDuplicateProgramError) from exc
        return self.read(response, lambda answer: created_id(answer, "program"), "answer")

    async def replace_data(self, program_id: str, encoded_source: str) -> None:
        """``PUT /programs/{id}/data`` with the base64 source.

        Raises:
            RuntimeProgramNotFound: if the program does not exist.
        """
        await self.request(
            "PUT",
            f"/programs/{quote_path(program_id)}/data",
            content=encoded_source,
            headers={"Content-Type": "application/octet-stream"},
            not_found=RuntimeProgramNotFound,
        )

    async def update(self, program_id: str, patch: dict[str, Any]) -> None:
        """``PATCH /programs/{id}`` with the fields to change.

        Raises:
            RuntimeProgramNotFound: if the program does not exist.
        """
        path = f"/programs/{quote_path(program_id)}"
        await self.request("PATCH", path, json_body=patch, not_found=RuntimeProgramNotFound)

    async def set_visibility(self, program_id: str, public: bool) -> None:
        """``PUT /programs/{id}/public`` or ``.../private``.

        Raises:
            RuntimeProgramNotFound: if the program does not exist.
        """
        path = f"/programs/{quote_path(program_id)}/{'public' if public else 'private'}"
        await self.request("PUT", path, not_found=RuntimeProgramNotFound)

    async def delete(self, program_id: str) -> None:
        """``DELETE /programs/{id}``.

        Raises:
            RuntimeProgramNotFound: if the program does not exist.
        """
        path = f"/programs/{quote_path(program_id)}"
        await self.request("DELETE", path, not_found=RuntimeProgramNotFound)
