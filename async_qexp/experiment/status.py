"""Statuses of an experiment container and of its analysis callbacks
(``docs/behaviour.md#status-and-waiting``)."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import TypeVar

import attrs

__all__ = [
    "AnalysisCallback",
    "AnalysisStatus",
    "ExperimentStatus",
    "first_by_precedence",
    "targets",
]


class ExperimentStatus(enum.Enum):
    """The overall status of an :class:`~async_qexp.ExperimentData`."""

    EMPTY = "experiment data is empty"
    INITIALIZING = "experiment jobs are being initialized"
    VALIDATING = "experiment jobs are validating"
    QUEUED = "experiment jobs are queued"
    RUNNING = "experiment jobs are actively running"
    CANCELLED = "experiment jobs or analysis has been cancelled"
    POST_PROCESSING = "experiment analysis is actively running"
    DONE = "experiment jobs and analysis have successfully run"
    ERROR = "experiment jobs or analysis incurred an error"


class AnalysisStatus(enum.Enum):
    """The status of one analysis callback, or of all of them."""

    QUEUED = "analysis callback is queued"
    RUNNING = "analysis callback is actively running"
    CANCELLED = "analysis callback has been cancelled"
    DONE = "analysis callback has successfully run"
    ERROR = "analysis callback incurred an error"


@attrs.define
class AnalysisCallback:
    """The record of one registered analysis callback."""

    name: str
    callback_id: str
    status: AnalysisStatus = AnalysisStatus.QUEUED
    error_msg: str | None = None


E = TypeVar("E", bound=enum.Enum)


def targets(ids: Iterable[str], wanted: Iterable[str] | None) -> list[str]:
    """The ids a cancel applies to, newest first: those ``wanted``, or all of them."""
    chosen = set(wanted or [])
    return [i for i in reversed(list(ids)) if not chosen or i in chosen]


def first_by_precedence(statuses: Iterable[E], order: Iterable[E], default: E) -> E:
    """The first member of ``order`` present in ``statuses``, else ``default``."""
    present = set(statuses)
    for status in order:
        if status in present:
            return status
    return default
