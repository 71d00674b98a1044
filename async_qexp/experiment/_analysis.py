"""The analysis-callback queue of an experiment container.

Each callback runs in its own task after every job and every callback added before it; if one
of those failed or was cancelled, it is cancelled (``docs/behaviour.md#analysis-callbacks``).
Sync callbacks run in a worker thread, async ones on the loop. A callback that raises is
recorded (status ERROR, with its traceback) and never propagates.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import traceback
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .._logs import get_logger
from .._tasks import TaskOwner
from ._jobs import call
from .status import AnalysisCallback, AnalysisStatus, first_by_precedence, targets

__all__ = ["AnalysisQueue", "running_callback_of"]

logger = get_logger("async_qexp.experiment")

_PRECEDENCE = (
    AnalysisStatus.ERROR,
    AnalysisStatus.CANCELLED,
    AnalysisStatus.RUNNING,
    AnalysisStatus.QUEUED,
)

running_callback_of: contextvars.ContextVar[object | None] = contextvars.ContextVar(
    "async_qexp_running_callback_of", default=None
)
"""The container whose analysis callback runs in this context (a deadlock guard: a callback
that waits for its own container's analysis would wait for itself)."""


def _mark_cancelled(task: asyncio.Task[bool], record: AnalysisCallback) -> None:
    """A callback task cancelled before it could say so itself (before it ever ran)."""
    if task.cancelled() and record.status in (AnalysisStatus.QUEUED, AnalysisStatus.RUNNING):
        record.status = AnalysisStatus.CANCELLED


class AnalysisQueue:
    """The callbacks of one container.

    Args:
        owner: the task owner the callbacks run in.
        container: what each callback is called with (first positional argument).
        describe: the experiment id, for error messages.
    """

    def __init__(self, owner: TaskOwner, container: object, describe: Callable[[], str]) -> None:
        self._owner = owner
        self._container = container
        self._describe = describe
        self.records: dict[str, AnalysisCallback] = {}
        """The callbacks by id, in the order they were added."""
        self._tasks: dict[str, asyncio.Task[bool]] = {}

    def tasks(self) -> list[asyncio.Task[bool]]:
        """Every callback's task, finished or not."""
        return list(self._tasks.values())

    def pending(self) -> list[asyncio.Task[bool]]:
        """The callbacks queued or running."""
        return [task for task in self._tasks.values() if not task.done()]

    def add(
        self,
        callback: Callable[..., Any],
        kwargs: dict[str, Any],
        after: Sequence[asyncio.Task[bool]],
    ) -> str:
        """Queue ``callback(container, **kwargs)`` to run once every task of ``after`` is done.

        Returns:
            the callback's id.
        """
        record = AnalysisCallback(
            name=getattr(callback, "__name__", type(callback).__name__),
            callback_id=uuid.uuid4().hex,
        )
        dependencies = [*after, *self._tasks.values()]
        self.records[record.callback_id] = record
        task = self._owner.spawn(self._run(record, callback, kwargs, dependencies))
        task.add_done_callback(lambda done: _mark_cancelled(done, record))
        self._tasks[record.callback_id] = task
        return record.callback_id

    async def _run(
        self,
        record: AnalysisCallback,
        callback: Callable[..., Any],
        kwargs: dict[str, Any],
        dependencies: list[asyncio.Task[bool]],
    ) -> bool:
        try:
            if dependencies:
                await asyncio.wait(dependencies)
        except asyncio.CancelledError:
            record.status = AnalysisStatus.CANCELLED
            raise
        clean = all(
            not t.cancelled() and t.exception() is None and t.result() is True for t in dependencies
        )
        if not clean or record.status is AnalysisStatus.CANCELLED:
            record.status = AnalysisStatus.CANCELLED
            logger.info("Cancelled analysis callback [Analysis ID: %s]", record.callback_id)
            return False
        record.status = AnalysisStatus.RUNNING
        token = running_callback_of.set(self._container)
        try:
            await call(functools.partial(callback, self._container, **kwargs))
        except asyncio.CancelledError:
            record.status = AnalysisStatus.CANCELLED
            raise
        except Exception:
            record.status = AnalysisStatus.ERROR
            record.error_msg = (
                f"Analysis callback failed [Experiment ID: {self._describe()}]"
                f"[Analysis Callback ID: {record.callback_id}]:\n{traceback.format_exc()}"
            )
            logger.warning("%s", record.error_msg)
            return False
        finally:
            running_callback_of.reset(token)
        record.status = AnalysisStatus.DONE
        return True

    def status(self) -> AnalysisStatus:
        """The overall status: ERROR > CANCELLED > RUNNING > QUEUED > DONE."""
        statuses = [r.status for r in self.records.values()]
        return first_by_precedence(statuses, _PRECEDENCE, AnalysisStatus.DONE)

    def errors(self) -> str:
        """The errors of failed callbacks."""
        return "".join(
            f"\n[Analysis Callback ID: {cid}]: {r.error_msg}"
            for cid, r in self.records.items()
            if r.status is AnalysisStatus.ERROR
        )

    def cancel(self, ids: Iterable[str] | None = None) -> bool:
        """Cancel queued callbacks (all by default); a running one cannot be cancelled.

        The status of every cancelled callback is CANCELLED at once.

        Returns:
            ``True`` if no targeted callback was running.
        """
        ok = True
        for cid in targets(self.records, ids):
            record = self.records[cid]
            if record.status is AnalysisStatus.RUNNING:
                logger.warning("Unable to cancel running analysis callback [Analysis ID: %s]", cid)
                ok = False
            elif record.status is AnalysisStatus.QUEUED:
                record.status = AnalysisStatus.CANCELLED
                self._tasks[cid].cancel()
        return ok

    def mark_closed(self) -> None:
        """Mark every queued or running callback CANCELLED (the container is closing)."""
        for record in self.records.values():
            if record.status in (AnalysisStatus.QUEUED, AnalysisStatus.RUNNING):
                record.status = AnalysisStatus.CANCELLED
