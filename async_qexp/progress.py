"""Progress of long work: one convention for every call that takes ``progress=``.

A progress callback is any callable taking ``(done, total)``:

* ``done`` counts finished units (uploads, downloads, jobs, items read), never goes down, and
  ends equal to ``total`` when the work completes;
* ``total`` is the number of units expected, or ``None`` while it is not known (a listing read
  page by page without a limit). It may grow while the work runs (a save that finds more to
  send), never shrink.

It is called on the event loop, so it should be quick; an exception it raises is logged once
and the work goes on without it. :func:`tqdm_progress` adapts a tqdm bar::

    await exp.save(progress=tqdm_progress(desc="saving"))
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

__all__ = ["Progress", "ProgressReporter", "check_progress", "tqdm_progress"]

logger = logging.getLogger("async_qexp")

Progress = Callable[[int, "int | None"], object]
"""The type of a progress callback: ``progress(done, total)``."""


def check_progress(progress: Any) -> Progress | None:
    """``progress`` if it is ``None`` or callable.

    Raises:
        TypeError: for anything else.
    """
    if progress is None:
        return None
    if not callable(progress):
        raise TypeError(f"progress must be callable, not {type(progress).__name__}")
    checked: Progress = progress
    return checked


class ProgressReporter:
    """Reports to one progress callback: counts up, keeps ``done`` monotone and within the
    total, and stops calling a callback that raised (after logging it once)."""

    def __init__(self, progress: Progress | None, total: int | None = None) -> None:
        self._progress = check_progress(progress)
        self.done = 0
        self.total = total

    def add_total(self, more: int) -> None:
        """More units are expected (the total was known, or starts at 0)."""
        self.total = (self.total or 0) + more
        self._report()

    def advance(self, units: int = 1) -> None:
        """``units`` more are done."""
        self.done += units
        self._report()

    def start(self) -> None:
        """Report the starting point (``0`` done)."""
        self._report()

    def update(self, done: int, total: int | None) -> None:
        """Report absolute counts (neither goes down); reports only a change."""
        done = max(done, self.done)
        if total is not None and self.total is not None:
            total = max(total, self.total)
        if (done, total) != (self.done, self.total):
            self.done, self.total = done, total
            self._report()

    def finish(self) -> None:
        """The work is complete: an unknown total becomes the count done (reported once)."""
        if self.total is None or self.total < self.done:
            self.total = self.done
            self._report()

    def _report(self) -> None:
        if self._progress is None:
            return
        done = self.done if self.total is None else min(self.done, self.total)
        try:
            self._progress(done, self.total)
        except Exception:
            logger.warning("a progress callback raised; it is not called again", exc_info=True)
            self._progress = None


class tqdm_progress:
    """A progress callback drawing a tqdm bar (``pip install tqdm``).

    The bar is made on the first call and closed when ``done`` reaches a known ``total``
    (or by :meth:`close`). Keyword arguments go to ``tqdm.tqdm`` (``desc``, ``unit``,
    ``disable``, ``file``...).

    Raises:
        ModuleNotFoundError: when tqdm is not installed.
    """

    def __init__(self, **kwargs: Any) -> None:
        from tqdm.auto import tqdm  # imported now: a missing tqdm fails at once

        self._tqdm = tqdm
        self._kwargs = kwargs
        self._bar: Any = None
        self._closed = False

    def __call__(self, done: int, total: int | None) -> None:
        """Move the bar to ``done`` of ``total``."""
        if self._closed:
            return
        if self._bar is None:
            self._bar = self._tqdm(total=total, **self._kwargs)
        if total != self._bar.total:
            self._bar.total = total
        self._bar.update(done - self._bar.n)
        if total is not None and done >= total:
            self.close()

    def close(self) -> None:
        """Close the bar (it stays on screen); later calls do nothing."""
        self._closed = True
        if self._bar is not None:
            self._bar.close()
