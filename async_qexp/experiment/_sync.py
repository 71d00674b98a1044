"""Saving an experiment container: a pure plan, and an executor that carries it out.

What a container holds locally is a set of items, each under a key (``result:<id>``,
``figure:<name>``, ...) with a *version* that changes whenever the item changes. What the
service holds is known as the versions it *confirmed* (stored by an earlier save, or read by a
load). :func:`plan` compares the two and says what to do: put what is new or changed, delete
what the service holds and the container no longer does. It is a pure function, so the hard
cases are plain data (``docs/behaviour.md#save-load-and-auto-save``):

* an item deleted while its create is in flight: the create lands, the service confirms it,
  the container no longer has it, so the next plan deletes it;
* an item changed while its upload is in flight: the upload confirms the version it sent, which
  is not the container's any more, so the next plan puts it again;
* an item that failed: nothing was confirmed, so the next plan tries it again.

:class:`Synchroniser` runs plans: the experiment record first (nothing else can be stored
without it), then every other item concurrently through a fixed pool of uploaders under one
bound shared with the children; it plans again after a round, for what changed meanwhile
(each version is attempted once per save). It also runs the auto-saver: one serial, coalescing
task in the container's task owner.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterator, Mapping, MutableMapping
from typing import Protocol

import attrs

from .._logs import get_logger
from .._tasks import TaskOwner, drain
from ..errors import EntryExists, EntryNotFound, QexpError
from ..progress import ProgressReporter

__all__ = [
    "Bound",
    "ExperimentDataError",
    "ExperimentDataSaveFailed",
    "Op",
    "SaveReport",
    "Source",
    "Synchroniser",
    "plan",
]

logger = get_logger("async_qexp.experiment")

FLIP_ATTEMPTS = 3
"""Create-or-update attempts of one item: a create that meets "exists" becomes an update, an
update that meets "not found" becomes a create."""

ROUNDS = 3
"""Plans carried out by one save: the first, and two for what changed while it ran."""


@attrs.frozen
class Op:
    """One step of a plan.

    Attributes:
        key: the item, ``"<source>:<name>"``.
        delete: whether the item is deleted (else it is put: created or updated).
        create: for a put, whether the service has never confirmed the item.
        version: for a put, the local version planned.
    """

    key: str
    delete: bool = False
    create: bool = False
    version: Hashable = None


def plan(
    local: Mapping[str, Hashable],
    confirmed: Mapping[str, Hashable],
    *,
    attempted: frozenset[tuple[str, Hashable]] = frozenset(),
) -> list[Op]:
    """What makes the service hold ``local``: the puts (in local order), then the deletes.

    Args:
        local: the version of every item the container holds, by key.
        confirmed: the version of every item the service holds, as far as it was confirmed.
        attempted: ``(key, version)`` pairs already tried in this save (``None`` as the version
            of a delete); they are left for the next save.
    """
    ops = []
    for key, version in local.items():
        if key in confirmed and confirmed[key] == version:
            continue
        if (key, version) not in attempted:
            ops.append(Op(key, create=key not in confirmed, version=version))
    for key in confirmed:
        if key not in local and (key, None) not in attempted:
            ops.append(Op(key, delete=True))
    return ops


class Source(Protocol):
    """One kind of item a container saves (results, figures, artifacts, ...)."""

    prefix: str
    """The key prefix of its items (``"result"`` makes keys ``"result:<name>"``)."""
    flips: bool
    """Whether a put may meet "exists"/"not found" and must switch between create and update."""

    def versions(self) -> dict[str, Hashable]:
        """The version of every item held locally, by name."""

    async def put(self, name: str, create: bool) -> Hashable:
        """Store the item; returns the version stored (``None``: nothing to store any more)."""

    async def delete(self, name: str) -> None:
        """Delete the item from the service (an item already gone counts as deleted)."""


class ExperimentDataError(QexpError):
    """Misuse of an :class:`~async_qexp.ExperimentData` (e.g. setting a second service)."""


class ExperimentDataSaveFailed(ExperimentDataError):
    """``save(suppress_errors=False)`` could not save everything.

    Attributes:
        report: what was saved and what failed; the failed items stay pending, so a later
            ``save()`` retries exactly them.
    """

    def __init__(self, message: str, report: SaveReport) -> None:
        super().__init__(message)
        self.report = report


@attrs.define
class SaveReport:
    """What one ``save()`` sent.

    Attributes:
        sent: how many requests succeeded (experiment, results, figures, files, deletes).
        failed: ``(what, exception)`` for every item that could not be saved.
        children: the reports of the child containers.
    """

    sent: int = 0
    failed: list[tuple[str, BaseException]] = attrs.field(factory=list)
    children: list[SaveReport] = attrs.field(factory=list)

    @property
    def ok(self) -> bool:
        """Whether everything was saved, children included."""
        return not self.failed and all(child.ok for child in self.children)

    @property
    def total_sent(self) -> int:
        """Requests sent, children included."""
        return self.sent + sum(child.total_sent for child in self.children)

    def all_failures(self) -> list[tuple[str, BaseException]]:
        """Every failure, children included."""
        failures = list(self.failed)
        for child in self.children:
            failures += child.all_failures()
        return failures


class Bound:
    """The upload bound of one ``save()``, shared by a container and its children: a fixed
    number of uploads in flight (``save(max_workers=N)``), or, with ``width``, as many as the
    provider's bound on requests in flight keeps busy (``width()`` is asked as uploads
    finish, so the uploaders follow an adaptive bound)."""

    def __init__(self, size: int | None = None, *, width: Callable[[], int] | None = None) -> None:
        if size is None and width is None:
            raise ValueError("a bound needs a size or a width")
        self.size = max(1, size) if size is not None else None
        self.slots = asyncio.Semaphore(self.size) if self.size is not None else None
        self._width = width

    def width(self) -> int:
        """How many uploaders to run now."""
        if self.size is not None:
            return self.size
        assert self._width is not None
        return self._width()


def _generation(source: Source) -> Hashable:
    """The source's generation, if it tells one (``None``: it must always be looked at)."""
    generation = getattr(source, "generation", None)
    return generation() if generation is not None else None


def _describe(key: str, op: Op) -> str:
    kind, _, name = key.partition(":")
    what = {"result": "analysis result", "file": "file"}.get(kind, kind)
    return f"deleting {what} {name}" if op.delete else f"{what} {name}".rstrip()


class Versions(MutableMapping[str, Hashable]):
    """The confirmed versions, by key (``"<source>:<name>"``), kept by source: a save reads
    the versions of the sources it looks at without a pass over the others', and the
    mapping counts its changes (:attr:`generation`), so a save can tell that nothing was
    confirmed or forgotten since it last looked."""

    def __init__(self) -> None:
        self._by_source: dict[str, dict[str, Hashable]] = {}
        self.generation = 0
        """Bumped by every change."""

    def of(self, prefix: str) -> Mapping[str, Hashable]:
        """The versions of one source's items, by name (read-only; empty if none)."""
        return self._by_source.get(prefix, {})

    def __getitem__(self, key: str) -> Hashable:
        prefix, _, name = key.partition(":")
        items = self._by_source.get(prefix)
        if items is None or name not in items:
            raise KeyError(key)
        return items[name]

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        prefix, _, name = key.partition(":")
        return name in self._by_source.get(prefix, {})

    def __setitem__(self, key: str, value: Hashable) -> None:
        prefix, _, name = key.partition(":")
        self.generation += 1
        self._by_source.setdefault(prefix, {})[name] = value

    def __delitem__(self, key: str) -> None:
        prefix, _, name = key.partition(":")
        items = self._by_source.get(prefix)
        if items is None or name not in items:
            raise KeyError(key)
        self.generation += 1
        del items[name]
        if not items:
            del self._by_source[prefix]

    def __iter__(self) -> Iterator[str]:
        for prefix, items in list(self._by_source.items()):
            for name in list(items):
                yield f"{prefix}:{name}"

    def __len__(self) -> int:
        return sum(len(items) for items in self._by_source.values())

    def __repr__(self) -> str:
        return f"Versions({dict(self)!r})"


class Synchroniser:
    """Saves one container: the confirmed versions, the save lock and the auto-saver.

    Args:
        owner: the container's task owner (the auto-saver runs in it).
    """

    def __init__(self, owner: TaskOwner) -> None:
        self.owner = owner
        self.confirmed: Versions = Versions()
        """The version of every item the service holds, as far as it confirmed, by key."""
        self._clean: dict[str, tuple[Hashable, int]] = {}
        """For a source that tells its generation: the generation, and the confirmed
        versions' generation, when the service last held all of its items as they were."""
        self._lock: asyncio.Lock | None = None
        self._saver: asyncio.Task[None] | None = None
        self._requested = False

    @property
    def lock(self) -> asyncio.Lock:
        """Held while a save runs: saves of one container never overlap."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    def confirm(self, prefix: str, name: str, version: Hashable) -> None:
        """Record that the service holds ``version`` of an item (after a load, say)."""
        self.confirmed[f"{prefix}:{name}"] = version

    def state(
        self, sources: list[Source], report: SaveReport | None
    ) -> tuple[dict[str, Hashable], dict[str, Hashable]]:
        """``(local, confirmed)`` of the sources whose versions can be read.

        A source that cannot say its versions (metadata that no longer encodes, say) is left
        out of both, so its items are neither put nor deleted; the failure is reported.
        """
        local: dict[str, Hashable] = {}
        readable = set()
        for source in sources:
            try:
                versions = source.versions()
            except Exception as exc:
                if report is not None:
                    logger.warning("could not save %s: %s", source.prefix, exc)
                    report.failed.append((source.prefix, exc))
                continue
            readable.add(source.prefix)
            local.update((f"{source.prefix}:{name}", v) for name, v in versions.items())
        confirmed = {
            f"{prefix}:{name}": version
            for prefix in readable
            for name, version in self.confirmed.of(prefix).items()
        }
        return local, confirmed

    # -- carrying out plans -----------------------------------------------------------------

    async def run(
        self,
        sources: list[Source],
        *,
        bound: Bound,
        report: SaveReport,
        progress: ProgressReporter | None = None,
    ) -> bool:
        """Save: the first source (the experiment record) alone, then the others concurrently.

        Failures are recorded in ``report`` and stay pending. Returns ``False`` if the service
        does not hold the first source's item (then nothing else was tried).
        """
        progress = progress or ProgressReporter(None)
        first, rest = sources[0], sources[1:]
        first_ops = plan(*self.state([first], report))
        progress.add_total(len(first_ops))
        for op in first_ops:
            await self._carry_out(op, {first.prefix: first}, report)
            progress.advance()
        if not self.confirmed.of(first.prefix):
            return False
        # A source whose items, and what the service confirmed, did not change since a
        # save found them all stored is left out: a save with nothing changed costs nothing
        # per item (O(changed), not O(held)).
        generations = {source.prefix: _generation(source) for source in rest}
        rest = [
            source
            for source in rest
            if generations[source.prefix] is None
            or self._clean.get(source.prefix)
            != (generations[source.prefix], self.confirmed.generation)
        ]
        by_prefix = {source.prefix: source for source in rest}
        attempted: set[tuple[str, Hashable]] = set()

        async def upload(op: Op) -> None:
            # A pool of uploaders drains the plan (no task per item, so thousands of results
            # cost no burst of task creation on the loop), as wide as the bound.
            if bound.slots is None:
                await self._carry_out(op, by_prefix, report)
            else:
                async with bound.slots:
                    await self._carry_out(op, by_prefix, report)
            progress.advance()

        for round_number in range(ROUNDS):
            generations = {source.prefix: _generation(source) for source in rest}
            local, confirmed = self.state(rest, report if round_number == 0 else None)
            ops = plan(local, confirmed, attempted=frozenset(attempted))
            if not ops:
                self._mark_clean(rest, generations, local, confirmed)
                break
            attempted.update((op.key, None if op.delete else op.version) for op in ops)
            progress.add_total(len(ops))
            await drain(ops, upload, width=bound.width)
        return True

    def _mark_clean(
        self,
        sources: list[Source],
        generations: Mapping[str, Hashable],
        local: Mapping[str, Hashable],
        confirmed: Mapping[str, Hashable],
    ) -> None:
        """Remember the sources whose every item the service holds as it is (read from
        ``local`` and ``confirmed``, taken at ``generations``, with nothing awaited since)."""
        pending = {op.key.partition(":")[0] for op in plan(local, confirmed)}
        for source in sources:
            generation = generations[source.prefix]
            if generation is None:
                continue
            if source.prefix in pending:
                self._clean.pop(source.prefix, None)
            else:
                self._clean[source.prefix] = (generation, self.confirmed.generation)

    async def _carry_out(self, op: Op, sources: Mapping[str, Source], report: SaveReport) -> None:
        prefix, _, name = op.key.partition(":")
        source = sources[prefix]
        try:
            if op.delete:
                await source.delete(name)
                self.confirmed.pop(op.key, None)
            else:
                stored = await self._put(source, name, op.create)
                if stored is None:
                    return
                self.confirmed[op.key] = stored
        except Exception as exc:
            what = _describe(op.key, op)
            logger.warning("could not save %s: %s", what, exc)
            report.failed.append((what, exc))
            return
        report.sent += 1

    @staticmethod
    async def _put(source: Source, name: str, create: bool) -> Hashable:
        if not source.flips:
            return await source.put(name, create)
        for _ in range(FLIP_ATTEMPTS):
            try:
                return await source.put(name, create)
            except EntryExists:
                create = False
            except EntryNotFound:
                create = True
        raise ExperimentDataError(f"could not create or update {source.prefix} {name}".rstrip())

    # -- the auto-saver ------------------------------------------------------------------------

    def request(self, save: Callable[[], Awaitable[SaveReport]]) -> None:
        """Ask the auto-saver to save soon; requests made while it runs coalesce into one."""
        self._requested = True
        if self._saver is None or self._saver.done():
            self._saver = self.owner.spawn(self._auto_save(save))

    async def _auto_save(self, save: Callable[[], Awaitable[SaveReport]]) -> None:
        while self._requested:
            self._requested = False
            try:
                report = await save()
                if not report.ok:
                    logger.warning("auto-save left %d item(s) unsaved", len(report.failed))
            except Exception as exc:
                logger.warning("auto-save failed: %s", exc)

    async def flush(self) -> None:
        """Wait until every requested auto-save has run."""
        while self._saver is not None and not self._saver.done():
            await asyncio.wait([self._saver])
