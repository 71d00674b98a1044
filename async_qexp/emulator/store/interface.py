"""The storage interface of the emulator: what the route handlers and the runtime manager await.

Every method is a coroutine and does one request's database work in one go (for example
"check that the caller owns the experiment, insert the result, read it back"), so a store makes
one hop to a database thread per request. A refusal is a :class:`StoreError`; the HTTP layer
maps :class:`NotFound` to 404, :class:`Forbidden` to 403, :class:`Conflict` to 409,
:class:`Invalid` to 400 and :class:`Unavailable` to 503. Messages are written for the client.

Records are plain dicts of Python values, keyed by the wire field names (an experiment's and an
analysis result's are exactly :data:`~async_qexp.emulator.queries.EXPERIMENT_FIELDS` and
:data:`~async_qexp.emulator.queries.RESULT_FIELDS`, which come from the models):

* experiment: ``uuid``, ``type``, ``device_name``, ``extra`` (dict), ``parent_experiment_uuid``,
  ``hub_id``, ``group_id``, ``project_id``, ``visibility``, ``tags`` (list), ``jobs`` (list),
  ``notes``, ``start_time``, ``end_time``, ``created_at``, ``updated_at``, ``owner``, and, when
  read, ``plot_names`` (in upload order);
* analysis result: ``uuid``, ``experiment_uuid``, ``type``, ``fit`` (dict),
  ``device_components`` (list), ``tags`` (list), ``quality``, ``verified`` (bool), ``chisq``
  (number or ``None``), ``created_at``, ``updated_at``, and, when read, ``device_name`` (the
  experiment's);
* figure or file entry: ``name``, ``size``, ``updated_at``;
* program: ``id``, ``name``, ``description``, ``cost``, ``is_public`` (bool), ``spec`` (dict),
  ``data`` (the source), ``owner``, ``version``, ``creation_date``, ``update_date``;
* job: ``id``, ``owner``, ``program_id``, ``backend``, ``hub``, ``group``, ``project``,
  ``params`` (the inputs as JSON text, envelopes included), ``runtime``, ``log_level``,
  ``cost``, ``status``, ``reason``, ``created``, ``started``, ``ended``, ``result`` (text),
  ``logs``.

Timestamps are strings in the emulator's one form (``YYYY-MM-DDTHH:MM:SS.ffffffZ``), given by
the caller: a store never reads the clock.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, Literal, Protocol

from ..queries import ExperimentQuery, JobQuery, Page, Principal, ProgramQuery, ResultQuery

__all__ = [
    "FINAL_STATUSES",
    "HGP",
    "BlobKind",
    "Conflict",
    "ExperimentStore",
    "Forbidden",
    "Invalid",
    "NotFound",
    "Row",
    "RuntimeStore",
    "Store",
    "StoreError",
    "Unavailable",
    "UserStore",
]

Row = dict[str, Any]
"""One record (see the module docstring for the fields of each kind)."""

BlobKind = Literal["plot", "file"]
"""Figures are ``plot`` blobs (listed in ``plot_names``), files are ``file`` blobs."""

HGP = tuple[str, str, str]
"""A hub/group/project."""

FINAL_STATUSES = ("COMPLETED", "FAILED", "CANCELLED", "CANCELLED - RAN TOO LONG")
"""Job statuses after which nothing changes."""


class StoreError(Exception):
    """The store refused an operation; ``message`` is meant for the client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(StoreError):
    """The record does not exist, or the caller may not see it."""


class Forbidden(StoreError):
    """The caller may see the record but not change it."""


class Conflict(StoreError):
    """The record exists already (a duplicate id or name)."""


class Invalid(StoreError):
    """The request refers to something unusable (a bad marker, a missing parent ...)."""


class Unavailable(StoreError):
    """The database cannot be reached just now (the request may be sent again)."""


class ExperimentStore(Protocol):
    """Experiments, analysis results, figures and files, with the visibility rules."""

    async def list_experiments(self, user: Principal, query: ExperimentQuery) -> Page:
        """A page of the experiments ``user`` may see that match ``query``.

        Raises:
            Invalid: for a marker that is not one of this sort order.
        """

    async def create_experiment(self, user: Principal, values: Mapping[str, Any]) -> Row:
        """Insert an experiment (its parent, if any, must be visible and on the same device);
        return it as stored.

        Raises:
            Invalid: for a missing parent, one on another device, or the experiment itself.
            Conflict: when the uuid exists.
        """

    async def get_experiment(self, user: Principal, uuid: str, *, write: bool = False) -> Row:
        """One experiment ``user`` may see (and, with ``write``, change).

        Raises:
            NotFound: unknown or invisible.
            Forbidden: with ``write``, when ``user`` is not the owner.
        """

    async def update_experiment(
        self, user: Principal, uuid: str, changes: Mapping[str, Any]
    ) -> Row:
        """Apply ``changes`` (fields to set) to an experiment ``user`` owns; return the result.

        Raises:
            NotFound, Forbidden: as :meth:`get_experiment` with ``write``.
            Invalid: for a bad new parent (see :meth:`create_experiment`).
        """

    async def delete_experiment(self, user: Principal, uuid: str) -> Row:
        """Delete an experiment ``user`` owns, with its results, figures and files; return it.

        Raises:
            NotFound, Forbidden: as :meth:`get_experiment` with ``write``.
        """

    async def import_experiments(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert many experiments at once, unchecked, in one transaction (seeding); the count."""

    async def list_results(self, user: Principal, query: ResultQuery) -> Page:
        """A page of the analysis results ``user`` may see that match ``query``.

        Raises:
            Invalid: for a marker that is not one of this sort order.
        """

    async def create_result(self, user: Principal, values: Mapping[str, Any]) -> Row:
        """Insert an analysis result of an experiment ``user`` owns; return it as stored.

        Raises:
            NotFound, Forbidden: for the experiment, as :meth:`get_experiment` with ``write``.
            Conflict: when the uuid exists.
        """

    async def get_result(self, user: Principal, uuid: str) -> Row:
        """One analysis result whose experiment ``user`` may see.

        Raises:
            NotFound: unknown or invisible.
        """

    async def update_results(
        self, user: Principal, updates: Sequence[tuple[str, Mapping[str, Any]]]
    ) -> list[Row]:
        """Apply ``(uuid, changes)`` updates all-or-nothing, to results of experiments ``user``
        owns; return the results afterwards, in the order given.

        Raises:
            NotFound, Forbidden: for the first result that is unknown, invisible or not the
                caller's (nothing is changed).
        """

    async def delete_result(self, user: Principal, uuid: str) -> Row:
        """Delete an analysis result of an experiment ``user`` owns; return it.

        Raises:
            NotFound, Forbidden: as :meth:`update_results`.
        """

    async def put_blob(
        self,
        kind: BlobKind,
        exp_uuid: str,
        name: str,
        data: bytes,
        now: str,
        *,
        user: Principal | None = None,
        exists: bool | None = None,
    ) -> None:
        """Store a figure or file (a figure also sets the experiment's ``updated_at``).

        With ``user``, the experiment must be theirs. ``exists=True`` replaces only an existing
        blob, ``exists=False`` only adds a new one, ``None`` does either.

        Raises:
            NotFound: unknown experiment (or, with ``user``, invisible); with
                ``exists=True``, no such blob.
            Forbidden: with ``user``, not the owner.
            Conflict: with ``exists=False``, the blob exists.
        """

    async def get_blob(self, user: Principal, kind: BlobKind, exp_uuid: str, name: str) -> bytes:
        """The bytes of a figure or file of an experiment ``user`` may see.

        Raises:
            NotFound: unknown or invisible experiment, or no such blob.
        """

    async def delete_blob(
        self, user: Principal, kind: BlobKind, exp_uuid: str, name: str, now: str
    ) -> None:
        """Delete a figure or file of an experiment ``user`` owns (setting its ``updated_at``).

        Raises:
            NotFound: unknown or invisible experiment, or no such blob.
            Forbidden: not the owner.
        """

    async def list_blobs(self, user: Principal, kind: BlobKind, exp_uuid: str) -> list[Row]:
        """The figures or files of an experiment ``user`` may see, by name.

        Raises:
            NotFound: unknown or invisible experiment.
        """


class RuntimeStore(Protocol):
    """Runtime programs, jobs and the messages the jobs publish."""

    async def list_programs(self, query: ProgramQuery) -> tuple[list[Row], int]:
        """A window of the programs the user may see (public or their own), oldest first, and
        how many there are in all."""

    async def get_program(
        self, user: Principal | None, program_id: str, *, write: bool = False
    ) -> Row:
        """A program ``user`` may see (and, with ``write``, change); ``user=None`` skips checks.

        Raises:
            NotFound: unknown, or private to another user.
            Forbidden: with ``write``, when ``user`` is not its author.
        """

    async def create_program(self, values: Mapping[str, Any], fallback_id: str) -> Row:
        """Insert a program under ``values["id"]``, or ``fallback_id`` if that id is taken.

        Raises:
            Conflict: another program has that name.
        """

    async def update_program(
        self,
        user: Principal,
        program_id: str,
        changes: Mapping[str, Any],
        *,
        spec_update: Mapping[str, Any] | None = None,
    ) -> Row:
        """Apply ``changes`` to a program ``user`` wrote (``spec_update`` is merged into its
        ``spec``, key by key); return the result.

        Raises:
            NotFound, Forbidden: as :meth:`get_program` with ``write``.
            Conflict: a new ``name`` is another program's.
        """

    async def delete_program(self, user: Principal, program_id: str) -> None:
        """Delete a program ``user`` wrote (its jobs stay).

        Raises:
            NotFound, Forbidden: as :meth:`get_program` with ``write``.
        """

    async def upsert_system_programs(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        """Insert or refresh built-in programs; the names skipped because a user's program
        holds them."""

    async def insert_job(self, values: Mapping[str, Any], *, user: Principal | None = None) -> Row:
        """Insert a new job; return it as stored.

        With ``user``, ``values["program_id"]`` must name a program the user may see; the job
        takes that program's id and, unless ``values`` give one, its ``cost``.

        Raises:
            NotFound: with ``user``, the program is unknown or private to another user.
            Conflict: the id exists.
        """

    async def get_job(self, job_id: str, *, owner: str | None = None) -> Row:
        """One job (of ``owner``, if given).

        Raises:
            NotFound: unknown, or another user's.
        """

    async def update_job(self, job_id: str, changes: Mapping[str, Any]) -> None:
        """Set some fields of a job (nothing happens if it is gone)."""

    async def delete_job(self, job_id: str) -> None:
        """Delete a job and its messages."""

    async def list_jobs(self, query: JobQuery) -> tuple[list[Row], int]:
        """A window of the jobs matching ``query`` and how many there are in all."""

    async def claim_job(self, backend: str, runner: str, limit: int, now: str) -> Row | None:
        """Take the oldest queued job of ``backend`` for the emulator process ``runner`` (it
        becomes ``RUNNING``, started ``now``); ``None`` if there is none, or if ``limit`` jobs
        of that backend run already (in every process). Two processes never take one job."""

    async def stop_job(self, job_id: str, now: str, kind: str = "c") -> str | None:
        """Mark a job that is not final ``CANCELLED`` (a queued one is then final: no process
        will take it) and tell the process running it (``kind``: ``c`` to cancel, ``d`` to
        delete). The status it had (``QUEUED`` or ``RUNNING``), or ``None`` if it is final or
        unknown."""

    async def count_queued(self, backend: str) -> int:
        """How many jobs wait for ``backend``."""

    async def release_orphans(self, runner: str, now: str) -> list[str]:
        """Fail the jobs left ``RUNNING`` by emulator processes other than ``runner`` that are
        gone; their ids."""

    def job_events(
        self, runner: str
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[tuple[str, str]]]:
        """While open, mark the emulator process ``runner`` alive, and give the changes of
        jobs that other processes on this database make, as ``(job_id, kind)`` (the kinds of
        :meth:`stop_job`, ``m`` new messages, ``s`` a new status; ``("", "*")`` after a gap in
        which some may have been missed). Where one process is all there is, nothing comes."""

    async def add_messages(
        self, job_id: str, first_seq: int, items: Sequence[tuple[bool, str]]
    ) -> None:
        """Store published ``(final, text)`` messages, numbered from ``first_seq``, at once."""

    async def messages(
        self, job_id: str, after: int = -1, limit: int = 10_000
    ) -> list[tuple[int, str]]:
        """``(seq, text)`` of a job's messages with ``seq > after``, in order."""

    async def interim_results(self, job_id: str, *, owner: str | None = None) -> str:
        """The job's interim (not final) messages as one JSON array (the stored texts).

        Raises:
            NotFound: with ``owner``, the job is unknown or another user's.
        """


class UserStore(Protocol):
    """The users kept in the database: API tokens (only their hashes are stored) and
    hub/group/project memberships. A user record: ``id``, ``created``, ``revoked`` (the time,
    or ``None``), ``hgps`` (``"hub/group/project"`` strings, the default first).

    The methods check their arguments before any database work (``TypeError`` for a wrong
    type, ``ValueError`` for a bad id or hub/group/project).
    """

    async def add_user(self, user_id: str, hgps: Sequence[HGP], now: str) -> str:
        """Add a user with these memberships (the first is their default, duplicates count
        once); return their API token, which is stored only hashed and never shown again.

        Raises:
            Conflict: the id is taken (a revoked user's id too).
        """

    async def list_users(self) -> list[Row]:
        """Every user, by id (never a token)."""

    async def revoke_user(self, user_id: str, now: str) -> Row:
        """Revoke a user at once: their API token no longer logs in and their access tokens
        are refused by every emulator on this database; the user afterwards.

        Raises:
            NotFound: no such user.
            Conflict: revoked already.
        """

    async def grant(self, user_id: str, hgp: HGP) -> Row:
        """Add a membership (last in the user's order); the user afterwards.

        Raises:
            NotFound: no such user.
            Conflict: revoked, or a member already.
        """

    async def ungrant(self, user_id: str, hgp: HGP) -> Row:
        """Remove a membership; the user afterwards.

        Raises:
            NotFound: no such user, or not a member.
            Conflict: revoked, or the user's last membership.
        """

    async def user_by_token(self, token: str) -> tuple[bool, Row | None]:
        """Login: whether the database has any user (revoked ones count), and the user
        (``id``, ``hgps``) whose API token this is, unless none is or they are revoked."""

    async def user_by_id(self, user_id: str) -> tuple[bool, Row | None]:
        """Whether the database has any user, and the user ``user_id`` (``id``, ``hgps``)
        unless unknown or revoked (checked on every request that carries an access token)."""


class Store(ExperimentStore, RuntimeStore, UserStore, Protocol):
    """Everything one emulator stores: both services' records and its secrets."""

    async def secret(self, name: str) -> bytes:
        """A random secret kept with the data (created on first use), so that tokens and
        signed URLs outlive a restart on the same database."""

    async def ping(self) -> None:
        """Check that the database answers (a trivial query); raise if it does not."""

    async def aclose(self) -> None:
        """Finish pending work and close the database."""
