"""The blocking facade: :class:`SyncProvider` and the twins of the async classes.

Every call blocks until its answer is there; underneath, the async client runs on an event loop
of the provider's own (``docs/architecture.md#the-blocking-facade``)::

    from async_qexp import SyncProvider

    with SyncProvider.local() as provider:
        exp_id = provider.experiment.create_experiment("T1", "ibmq_lima")
        print(provider.experiment.experiment(exp_id))

The twins (:class:`SyncExperimentService`, :class:`SyncRuntimeService`,
:class:`SyncRuntimeJob`, :class:`SyncExperimentData`) have the same methods, parameters and
return values as their async classes, generated from them; pagers become :class:`SyncPager`
(a plain iterator) and result streams :class:`SyncResultStream`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._generated import (
        SyncExperimentData,
        SyncExperimentService,
        SyncProvider,
        SyncRuntimeJob,
        SyncRuntimeService,
    )
    from ._loop import SyncPager, SyncResultStream

_WHERE = {
    "._generated": (
        "SyncExperimentData",
        "SyncExperimentService",
        "SyncProvider",
        "SyncRuntimeJob",
        "SyncRuntimeService",
    ),
    "._loop": ("SyncPager", "SyncResultStream"),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = [
    "SyncExperimentData",
    "SyncExperimentService",
    "SyncPager",
    "SyncProvider",
    "SyncResultStream",
    "SyncRuntimeJob",
    "SyncRuntimeService",
]


def __getattr__(name: str) -> Any:
    """Import a name on first use (PEP 562)."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'async_qexp.sync' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULE_OF})
