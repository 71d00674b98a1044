"""What every call of the drop-in shares: the options, running a call on the provider's
loop with the reference's errors, the delete prompt, the bulk runner, closing."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from ..experiment import ExperimentService
from ..models._checks import require_bool
from ..sync import SyncProvider
from ..sync._loop import Loop
from ._bulk import SaveHandler
from .errors import IBMExperimentSaveFailed, reference_errors

__all__ = ["ServiceBase"]

logger = logging.getLogger("async_qexp.compat")

S = TypeVar("S", bound="ServiceBase")


def _encoder(json_encoder: Any) -> Any:
    if json_encoder is not None and not (
        isinstance(json_encoder, type) and issubclass(json_encoder, json.JSONEncoder)
    ):
        raise TypeError(f"json_encoder must be a JSONEncoder class, not {json_encoder!r}")
    return json_encoder


def _decoder(json_decoder: Any) -> Any:
    if json_decoder is not None and not (
        isinstance(json_decoder, type) and issubclass(json_decoder, json.JSONDecoder)
    ):
        raise TypeError(f"json_decoder must be a JSONDecoder class, not {json_decoder!r}")
    return json_decoder


class ServiceBase:
    """The plumbing of :class:`~async_qexp.compat.IBMExperimentService`."""

    options: dict[str, Any]
    """The reference's options (``prompt_for_delete``, ``requests_timeout``), and
    ``raise_on_failed_save``; change them with :meth:`set_option`."""
    _provider: SyncProvider
    _loop: Loop
    _svc: ExperimentService
    _local: bool
    _preferences: dict[str, Any]

    # -- the service object --------------------------------------------------------------

    @property
    def local(self) -> bool:
        """Whether the data stays on this machine (the embedded emulator)."""
        return self._local

    @property
    def provider(self) -> SyncProvider:
        """The blocking provider underneath (its ``.experiment`` and ``.runtime`` are
        async_qexp's own interface, records instead of dicts)."""
        return self._provider

    def set_option(self, **kwargs: Any) -> None:
        """Set options by name; names that are not options are ignored, as the reference
        ignores them. See :attr:`options`."""
        for key, value in kwargs.items():
            if key in self.options:
                self.options[key] = value

    @property
    def preferences(self) -> dict[str, Any]:
        """The saved experiment preferences (``{"auto_save": bool}``), for applications:
        qiskit-experiments turns auto-save on when ``auto_save`` is true."""
        return self._preferences

    def save_preferences(self, auto_save: bool | None = None) -> None:
        """Store experiment preferences on disk (read by applications, not by the service)."""
        if auto_save is not None:
            self._preferences["auto_save"] = require_bool(auto_save, "auto_save")
        self._call(self._svc.save_preferences, auto_save)

    def close(self) -> None:
        """Close the connections and stop the event loop (also done when the service is
        garbage-collected, and at exit). Idempotent; a call afterwards raises
        :class:`~async_qexp.ClosedError`."""
        self._provider.close()

    def __enter__(self: S) -> S:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<IBMExperimentService on {self._provider!r}>"

    def __copy__(self: S) -> S:
        return self  # a connection is shared, never copied

    def __deepcopy__(self: S, memo: dict[int, Any]) -> S:
        return self

    def __reduce__(self) -> tuple[Callable[[], None], tuple[()]]:
        # A pickle holds neither the connection nor the token: what held the service (a
        # qiskit-experiments ExperimentData, say) comes back without one.
        return _unpickled, ()

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        with reference_errors():
            return self._loop.call_raw(fn, *args)

    def _confirm_delete(self, message: str) -> bool:
        """Ask on the terminal when ``prompt_for_delete`` is set and one is attached; without
        a terminal (a script run by a scheduler, a notebook kernel) the delete goes ahead."""
        if not self.options["prompt_for_delete"]:
            return True
        stdin = sys.stdin
        if stdin is None or not stdin.isatty():
            return True
        return input("\n" + message) in ("y", "Y")

    def _bulk(
        self, items: list[tuple[tuple[Any, ...], Any]], blocking: bool, max_workers: int, what: str
    ) -> dict[str, list[Any]] | SaveHandler:
        handler = SaveHandler(self._loop, items, max_workers)
        if not blocking:
            return handler
        handler.block_for_save()
        status = handler.save_status()
        if status["fail"] and self.options["raise_on_failed_save"]:
            first = status["fail"][0]["exception"]
            raise IBMExperimentSaveFailed(
                f"{len(status['fail'])} of {len(items)} {what}s could not be saved "
                f"(the first: {type(first).__name__}: {first})",
                save_status=status,
            ) from first
        return status


def _unpickled() -> None:
    logger.warning(
        "an IBMExperimentService is not restored from a pickle (it holds a connection and "
        "the token): set the service again"
    )
