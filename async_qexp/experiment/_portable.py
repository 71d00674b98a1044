"""Pickle and JSON for ``ExperimentData``: the methods the container gets from
:class:`PortableContainer`, over the state and its JSON form in
:mod:`~async_qexp.experiment._state` (``docs/behaviour.md#json-and-pickle``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from .._logs import get_logger
from ._state import ContainerState, capture, restore, state_from_json, state_to_json
from ._sync import ExperimentDataError

if TYPE_CHECKING:
    from ._analysis import AnalysisQueue
    from ._jobs import JobTracker

__all__ = ["PortableContainer"]

logger = get_logger("async_qexp.experiment")

C = TypeVar("C", bound="PortableContainer")


class PortableContainer:
    """What makes a container pickle and round-trip through JSON."""

    _state_init: ClassVar[Callable[..., None]]
    """The ``__init__`` a restored container runs: the container class's own."""

    _jobs: JobTracker
    _analysis: AnalysisQueue
    _experiment: Any
    experiment_id: Any
    service: Any

    def _capture(self, *, for_json: bool) -> ContainerState:
        """This container's portable state (JSON refuses while work is pending, pickle
        warns and leaves it out)."""
        if self._jobs.pending() or self._analysis.pending():
            message = (
                f"experiment {self.experiment_id} has jobs or analysis callbacks still running"
            )
            if for_json:
                raise ExperimentDataError(
                    f"{message}: wait for them (block_for_results) or cancel them first"
                )
            logger.warning("%s: they are left out of the copy", message)
        if for_json and self._experiment is not None:
            logger.info("the experiment object is not written to JSON")
        return capture(self, for_json=for_json)

    def _restore(self, state: ContainerState) -> None:
        """Become the container ``state`` describes (on an object made without ``__init__``)."""
        restore(self, state, type(self)._state_init)

    def __getstate__(self) -> ContainerState:
        """What pickle keeps (jobs and callbacks still running are left out, with a warning)."""
        return self._capture(for_json=False)

    def __setstate__(self, state: ContainerState) -> None:
        """Restore from :meth:`__getstate__`: no service, no tasks (set ``service`` to save)."""
        self._restore(state)

    def __json_encode__(self) -> dict[str, Any]:
        """The container as a tree of JSON values (what :meth:`to_json` writes).

        Raises:
            ExperimentDataError: while jobs or analysis callbacks are still running.
            TypeError, ValueError: for raw data or an extra attribute with no JSON form.
        """
        return state_to_json(self._capture(for_json=True))

    @classmethod
    def __json_decode__(cls: type[C], value: dict[str, Any]) -> C:
        """A container from :meth:`__json_encode__`'s tree.

        Raises:
            TypeError, ValueError: for a value that is not such a tree.
        """
        container = cls.__new__(cls)
        container._restore(state_from_json(value))
        return container

    def to_json(self) -> str:
        """The container as JSON text: data, results, figures, artifacts, metadata, tags,
        children, job ids, and what the service already holds (so a restored container's next
        save sends only what changed). The service, experiment and backend objects are left
        out (the backend's name is kept).

        Raises:
            ExperimentDataError: while jobs or analysis callbacks are still running.
            TypeError, ValueError: for raw data or an extra attribute with no JSON form.
        """
        return json.dumps(self.__json_encode__(), separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls: type[C], text: str | bytes, service: Any = None) -> C:
        """A container from :meth:`to_json`'s text, with ``service`` (an experiment service
        or a provider; its children get it too).

        Raises:
            TypeError, ValueError: for text that is not such JSON.
        """
        if not isinstance(text, str | bytes):
            raise TypeError(f"text must be str or bytes, not {type(text).__name__}")
        container = cls.__json_decode__(json.loads(text))
        if service is not None:
            container.service = service
        return container
