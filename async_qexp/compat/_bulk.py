"""Bulk saves on the provider's event loop: what the reference did with a thread per item.

:class:`SaveHandler` has the reference's ``ThreadSaveHandler`` interface (``block_for_save()``,
``save_status()``), but its items run as coroutines on the drop-in's one event loop, at most
``max_workers`` at once (and never more than the provider's in-flight bound). No thread is
started for them.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio

from ..errors import ClosedError
from ..sync._loop import Loop
from .errors import recast

__all__ = ["SaveHandler"]

SaveCall = Callable[[], Awaitable[Any]]
"""One item's save: a coroutine function of no arguments."""


class SaveHandler:
    """The saves of one bulk call, running (or done) on the drop-in's event loop.

    Made by :meth:`IBMExperimentService.create_analysis_results` and
    :meth:`~IBMExperimentService.create_figures` with ``blocking=False``::

        handler = service.create_analysis_results(results, blocking=False)
        ...                                   # the saves run meanwhile
        handler.block_for_save()
        status = handler.save_status()        # {"running": [], "done": [...], "fail": [...]}

    Every item's ``data`` is the tuple the reference's handler reports: ``(result,)`` for an
    analysis result, ``(experiment_id, figure, figure_name)`` for a figure.
    """

    def __init__(
        self,
        loop: Loop,
        items: Sequence[tuple[tuple[Any, ...], SaveCall | BaseException]],
        max_workers: int,
    ) -> None:
        """Start saving ``items`` (each its ``data`` tuple and its save, or the error that
        refused it before any request) on ``loop``, ``max_workers`` at a time.

        Raises:
            ClosedError: if the loop (the service) is closed.
        """
        if loop.closed:
            raise ClosedError("the service is closed")
        self._running_tasks: list[dict[str, Any]] = []
        self._successful_tasks: list[tuple[Any, ...]] = []
        self._failed_tasks: list[dict[str, Any]] = []
        calls: list[tuple[SaveCall, concurrent.futures.Future[Any]]] = []
        for data, save in items:
            future: concurrent.futures.Future[Any] = concurrent.futures.Future()
            if isinstance(save, BaseException):
                future.set_running_or_notify_cancel()
                future.set_exception(save)
            else:
                calls.append((save, future))
            self._running_tasks.append({"data": data, "future": future})
        self._driver: concurrent.futures.Future[None] | None = None
        if calls:
            self._driver = loop.portal.start_task_soon(_drive, calls, max_workers)

    def block_for_save(self, timeout: float | None = None) -> bool:
        """Wait until every item is saved or has failed (or ``timeout`` seconds have passed);
        returns whether all are done."""
        waited = [task["future"] for task in self._running_tasks]
        if self._driver is not None:
            waited.append(self._driver)
        _, pending = concurrent.futures.wait(waited, timeout=timeout)
        return not pending

    def save_status(self) -> dict[str, list[Any]]:
        """The items still running, those saved, and those that failed with their error:
        ``{"running": [data, ...], "done": [data, ...], "fail": [{"data": data, "exception":
        error}, ...]}`` (an item leaves ``running`` once, for ``done`` or ``fail``)."""
        still_running = []
        for task in self._running_tasks:
            future: concurrent.futures.Future[Any] = task["future"]
            if not future.done():
                still_running.append(task)
                continue
            error = (
                future.exception()
                if not future.cancelled()
                else concurrent.futures.CancelledError()
            )
            if error is None:
                self._successful_tasks.append(task["data"])
            else:
                self._failed_tasks.append({"data": task["data"], "exception": error})
        self._running_tasks = still_running
        return {
            "running": [task["data"] for task in self._running_tasks],
            "done": list(self._successful_tasks),
            "fail": list(self._failed_tasks),
        }

    def __repr__(self) -> str:
        running = sum(not task["future"].done() for task in self._running_tasks)
        return (
            f"<SaveHandler running={running} done={len(self._successful_tasks)} "
            f"failed={len(self._failed_tasks)}>"
        )


async def _drive(
    calls: list[tuple[SaveCall, concurrent.futures.Future[Any]]], max_workers: int
) -> None:
    """Run the saves, ``max_workers`` at a time; each sets its future. Cancelled (the
    provider closing), the items not started are cancelled too."""
    queue = iter(calls)

    async def worker() -> None:
        for save, future in queue:
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = await save()
            except Exception as exc:
                future.set_exception(recast(exc))
            except BaseException as exc:  # cancelled: the item's outcome is that
                future.set_exception(exc)
                raise
            else:
                future.set_result(result)

    try:
        async with anyio.create_task_group() as group:
            for _ in range(min(max_workers, len(calls))):
                group.start_soon(worker)
    finally:
        for _, future in calls:
            future.cancel()  # only those never started; a done future stays as it is
