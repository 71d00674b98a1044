"""What the generated twins cannot say by themselves: how a container is made and on which
loop, callbacks that receive the twin, the job's plain attributes, closing.

The generated classes (``_generated.py``) derive from these and add every other method.
"""

from __future__ import annotations

import inspect
import itertools
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar

from .._client import Provider
from ..experiment.data import ExperimentData
from ..runtime.job import RuntimeJob
from ._loop import Loop, Twin, default_loop, unwrap

if TYPE_CHECKING:
    from ..emulator import EmulatorConfig

__all__ = ["ExperimentDataBase", "ProviderBase", "RuntimeJobBase", "ServiceBase", "loop_of"]

P = TypeVar("P", bound="ProviderBase")
E = TypeVar("E", bound="ExperimentDataBase")

_NUMBERS = itertools.count(1)


class ProviderBase(Twin):
    """The base of the blocking provider: its own loop, starting, closing."""

    _async_type = Provider
    _async: Provider

    def _start(self, arguments: dict[str, Any]) -> None:
        """Check the arguments as :class:`~async_qexp.Provider` does (before any thread
        starts), then connect on a new loop."""
        provider = Provider(**arguments)
        self._enter(lambda: provider)

    def _enter(self, manager: Callable[[], Any]) -> None:
        """Enter ``manager()`` (an async context manager yielding a provider) on a new loop."""
        self._loop = loop = Loop(f"async_qexp-sync-provider-{next(_NUMBERS)}")
        try:
            cm: AbstractContextManager[Provider] = loop.portal.wrap_async_context_manager(manager())
            self._async = cm.__enter__()
        except BaseException:
            loop.close()
            raise
        loop.adopt(self._async, self)
        self._finalizer = weakref.finalize(self, _close, cm, loop)

    @classmethod
    def local(
        cls: type[P],
        token: str = "local-user",
        *,
        emulator: EmulatorConfig | None = None,
        **options: Any,
    ) -> P:
        """A blocking provider on the embedded emulator (started now, stopped by
        :meth:`close`); the arguments are those of :meth:`Provider.local`."""
        made = cls.__new__(cls)
        made._enter(lambda: Provider.local(token, emulator=emulator, **options))
        return made

    @classmethod
    def auto(cls: type[P], **options: Any) -> P:
        """The service named by ``QEXP_TOKEN``/``QEXP_URL`` if set, else the embedded emulator
        (see :meth:`Provider.auto`)."""
        made = cls.__new__(cls)
        made._enter(lambda: Provider.auto(**options))
        return made

    @property
    def provider(self) -> Provider:
        """The async provider behind this one (use it only on this provider's loop)."""
        return self._async

    @property
    def emulator(self) -> Any:
        """The embedded emulator, for a provider made by :meth:`local` (else ``None``)."""
        return self._async.emulator

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return not self._finalizer.alive

    def close(self) -> None:
        """Close every connection, stop what the provider started, then stop its loop.
        Safe to call more than once."""
        self._finalizer()

    def __enter__(self: P) -> P:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<{type(self).__name__} {self._async._auth_url} ({state})>"


def _close(cm: AbstractContextManager[Provider], loop: Loop) -> None:
    try:
        cm.__exit__(None, None, None)
    finally:
        loop.close()


class ServiceBase(Twin):
    """The base of the blocking services."""


class RuntimeJobBase(Twin):
    """The base of the blocking runtime job: its plain attributes."""

    _async: RuntimeJob

    @property
    def job_id(self) -> str:
        """The job's id."""
        return self._async.job_id

    @property
    def program_id(self) -> str:
        """The program the job runs."""
        return self._async.program_id

    @property
    def backend(self) -> str:
        """The backend's name."""
        return self._async.backend

    @property
    def image(self) -> str:
        """The runtime image the job was run with (``""``: the default, or not known)."""
        return self._async.image

    @property
    def inputs(self) -> dict[str, Any]:
        """The program's inputs."""
        return self._async.inputs


def loop_of(*sources: Any) -> Loop | None:
    """The loop of the first twin (or blocking provider) among ``sources``."""
    for source in sources:
        if isinstance(source, Twin):
            return source._loop
        if isinstance(source, list | tuple):
            found = loop_of(*source)
            if found is not None:
                return found
    return None


class ExperimentDataBase(Twin):
    """The base of the blocking container: construction on the right loop, moving between
    loops, callbacks that receive the blocking container, and closing."""

    _async_type = ExperimentData
    _async: ExperimentData

    def _start(self, arguments: dict[str, Any]) -> None:
        """Make the async container on the loop of its service (or provider, or children), or
        on the default loop when it has none."""
        sources = (arguments.get("service"), arguments.get("provider"), arguments.get("backend"))
        loop = loop_of(*sources) or default_loop()
        children = list(arguments.pop("child_data", None) or [])
        for child in children:
            if isinstance(child, ExperimentDataBase):
                child._move_to(loop)
        self._loop = loop
        self._async = loop.call_raw(ExperimentData, **{k: unwrap(v) for k, v in arguments.items()})
        loop.adopt(self._async, self)
        for child in children:
            self.add_child_data(child)

    def _move_to(self, loop: Loop) -> None:
        """Move the container to another loop (when it gets a service of another provider).

        Raises:
            ExperimentDataError: while jobs, callbacks or saves are pending.
        """
        if loop is self._loop:
            return
        old, old_loop = self._async, self._loop
        state = old_loop.call_raw(_idle_state, old)

        def rebuild() -> ExperimentData:
            moved = ExperimentData.__new__(ExperimentData)
            moved._restore(state)
            return moved

        new = loop.call_raw(rebuild)
        old_loop.call_raw(old.aclose)
        self._async, self._loop = new, loop
        loop.adopt(new, self)
        new_children = {c.experiment_id: c for c in new._all_children()}
        for child in old._all_children():
            twin = old_loop.wrap(child)
            replacement = new_children.get(child.experiment_id)
            if isinstance(twin, ExperimentDataBase) and replacement is not None:
                twin._async, twin._loop = replacement, loop
                loop.adopt(replacement, twin)

    # -- what needs the twin -------------------------------------------------------------

    @property
    def service(self) -> Any:
        """The experiment service saves and loads go to (its blocking face)."""
        return self._loop.wrap(self._async.service)

    @service.setter
    def service(self, value: Any) -> None:
        loop = loop_of(value)
        if loop is not None:
            self._move_to(loop)
        self._call(setattr, self._async, "service", value)

    def add_child_data(self, experiment_data: ExperimentDataBase) -> None:
        """Add a child container (its parent id becomes this experiment's id); a child on
        another provider's loop is moved to this one."""
        if isinstance(experiment_data, ExperimentDataBase):
            experiment_data._move_to(self._loop)
        self._call(self._async.add_child_data, experiment_data)

    def add_analysis_callback(self, callback: Callable[..., Any], **kwargs: Any) -> str:
        """Run ``callback(self, **kwargs)`` after every job and callback added before it.

        A plain function receives this blocking container and runs in a worker thread, so it
        may call any of its methods; an ``async def`` callback receives the async container.
        """
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        if inspect.iscoroutinefunction(callback):
            target = callback
        else:
            twin = self

            def target(_: ExperimentData, **given: Any) -> Any:
                return callback(twin, **given)

            target.__name__ = getattr(callback, "__name__", type(callback).__name__)
        callback_id: str = self._call(self._async.add_analysis_callback, target, **kwargs)
        return callback_id

    @classmethod
    def load(
        cls: type[E],
        experiment_id: str,
        service: Any = None,
        provider: ProviderBase | None = None,
    ) -> E:
        """Load a saved experiment (the blocking form of :meth:`ExperimentData.load`)."""
        loop = loop_of(service, provider)
        if loop is None:
            from ..experiment import ExperimentDataError

            raise ExperimentDataError(
                "Loading an experiment requires a valid provider or experiment service."
            )
        loaded: E = loop.call(ExperimentData.load, experiment_id, service, provider)
        return loaded

    @classmethod
    def from_json(cls: type[E], text: str | bytes, service: Any = None) -> E:
        """A container from :meth:`to_json`'s text (the blocking form of
        :meth:`ExperimentData.from_json`)."""
        loop = loop_of(service) or default_loop()
        made: E = loop.call(ExperimentData.from_json, text, service)
        return made

    @staticmethod
    def get_service_from_provider(provider: Any) -> Any:
        """The blocking experiment service of a blocking provider, else ``None``."""
        if not isinstance(provider, ProviderBase):
            return None
        twin: Any = provider  # a SyncProvider, whose services are generated
        return twin.experiment

    @staticmethod
    def get_service_from_backend(backend: Any) -> Any:
        """The blocking experiment service of a backend's blocking provider, else ``None``."""
        provider = getattr(backend, "provider", None)
        if callable(provider):
            provider = provider()
        return ExperimentDataBase.get_service_from_provider(provider)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._async, name)  # the extra attributes given to the constructor

    def close(self) -> None:
        """Cancel every job wait, callback and pending save of this container (the blocking
        form of :meth:`ExperimentData.aclose`)."""
        self._call(self._async.aclose)

    def __enter__(self: E) -> E:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is None:
            self._call(self._async.flush)
        self.close()

    def __repr__(self) -> str:
        return repr(self._async)

    def __str__(self) -> str:
        return str(self._async)


def _idle_state(container: ExperimentData) -> Any:
    if container._jobs.pending() or container._analysis.pending():
        from ..experiment import ExperimentDataError

        raise ExperimentDataError(
            "cannot move an ExperimentData to another provider while its jobs or callbacks "
            "run: give it the service when you make it"
        )
    return container._capture(for_json=False)
