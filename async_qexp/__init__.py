"""async_qexp: an asyncio-native client for the IBM Quantum experiment and runtime services.

Start with :class:`Provider`::

    import async_qexp

    async with async_qexp.Provider.local() as provider:      # the embedded emulator
        exp_id = await provider.experiment.create_experiment("T1", "ibmq_lima")

The public names are imported on first use, so ``import async_qexp.models`` (what the
emulator and its job workers need) does not load the HTTP client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from ._auth import Account, HubGroupProject
    from ._client import PendingProvider, Provider
    from ._config import DEFAULT_AUTH_URL, DEFAULT_TIMEOUT, RetryPolicy, StreamPolicy
    from ._limit import ConcurrencySnapshot
    from ._paging import Pager
    from .errors import (
        ApiError,
        AuthError,
        ClosedError,
        EntryExists,
        EntryNotFound,
        JobTimeoutError,
        NotStartedError,
        QexpError,
        RateLimited,
        RequestError,
        RequestTimeout,
        RuntimeDuplicateProgramError,
        RuntimeInvalidStateError,
        RuntimeJobFailureError,
        RuntimeJobNotFound,
        RuntimeProgramNotFound,
        RuntimeServiceError,
        StreamingError,
    )
    from .experiment import (
        AnalysisResultData,
        AnalysisStatus,
        ArtifactData,
        BulkCreateReport,
        ExperimentData,
        ExperimentDataError,
        ExperimentDataSaveFailed,
        ExperimentService,
        ExperimentStatus,
        FigureData,
        SaveReport,
    )
    from .models import (
        AnalysisResult,
        Device,
        DeviceComponent,
        Experiment,
        ExperimentShareLevel,
        FileInfo,
        JobStatus,
        ProgramParameter,
        ProgramResult,
        Qubit,
        Resonator,
        ResultQuality,
        RuntimeProgram,
        UnknownComponent,
        to_component,
    )
    from .models._display import RecordList
    from .progress import Progress, tqdm_progress
    from .runtime import (
        ResultDecoder,
        ResultStream,
        RuntimeJob,
        RuntimeOptions,
        RuntimeService,
    )
    from .sync import SyncExperimentData, SyncProvider

_WHERE = {
    "._auth": ("Account", "HubGroupProject"),
    "._client": ("PendingProvider", "Provider"),
    "._config": ("DEFAULT_AUTH_URL", "DEFAULT_TIMEOUT", "RetryPolicy", "StreamPolicy"),
    "._limit": ("ConcurrencySnapshot",),
    "._paging": ("Pager",),
    ".models._display": ("RecordList",),
    ".progress": ("Progress", "tqdm_progress"),
    ".errors": (
        "ApiError",
        "AuthError",
        "ClosedError",
        "EntryExists",
        "EntryNotFound",
        "JobTimeoutError",
        "NotStartedError",
        "QexpError",
        "RateLimited",
        "RequestError",
        "RequestTimeout",
        "RuntimeDuplicateProgramError",
        "RuntimeInvalidStateError",
        "RuntimeJobFailureError",
        "RuntimeJobNotFound",
        "RuntimeProgramNotFound",
        "RuntimeServiceError",
        "StreamingError",
    ),
    ".experiment": (
        "AnalysisResultData",
        "AnalysisStatus",
        "ArtifactData",
        "BulkCreateReport",
        "ExperimentData",
        "ExperimentDataError",
        "ExperimentDataSaveFailed",
        "ExperimentService",
        "ExperimentStatus",
        "FigureData",
        "SaveReport",
    ),
    ".models": (
        "AnalysisResult",
        "Device",
        "DeviceComponent",
        "Experiment",
        "ExperimentShareLevel",
        "FileInfo",
        "JobStatus",
        "ProgramParameter",
        "ProgramResult",
        "Qubit",
        "Resonator",
        "ResultQuality",
        "RuntimeProgram",
        "UnknownComponent",
        "to_component",
    ),
    ".sync": ("SyncExperimentData", "SyncProvider"),
    ".runtime": (
        "ResultDecoder",
        "ResultStream",
        "RuntimeJob",
        "RuntimeOptions",
        "RuntimeService",
    ),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = [
    "DEFAULT_AUTH_URL",
    "DEFAULT_TIMEOUT",
    "Account",
    "AnalysisResult",
    "AnalysisResultData",
    "AnalysisStatus",
    "ApiError",
    "ArtifactData",
    "AuthError",
    "BulkCreateReport",
    "ClosedError",
    "ConcurrencySnapshot",
    "Device",
    "DeviceComponent",
    "EntryExists",
    "EntryNotFound",
    "Experiment",
    "ExperimentData",
    "ExperimentDataError",
    "ExperimentDataSaveFailed",
    "ExperimentService",
    "ExperimentShareLevel",
    "ExperimentStatus",
    "FigureData",
    "FileInfo",
    "HubGroupProject",
    "JobStatus",
    "JobTimeoutError",
    "NotStartedError",
    "Pager",
    "PendingProvider",
    "ProgramParameter",
    "ProgramResult",
    "Progress",
    "Provider",
    "QexpError",
    "Qubit",
    "RateLimited",
    "RecordList",
    "RequestError",
    "RequestTimeout",
    "Resonator",
    "ResultDecoder",
    "ResultQuality",
    "ResultStream",
    "RetryPolicy",
    "RuntimeDuplicateProgramError",
    "RuntimeInvalidStateError",
    "RuntimeJob",
    "RuntimeJobFailureError",
    "RuntimeJobNotFound",
    "RuntimeOptions",
    "RuntimeProgram",
    "RuntimeProgramNotFound",
    "RuntimeService",
    "RuntimeServiceError",
    "SaveReport",
    "StreamPolicy",
    "StreamingError",
    "SyncExperimentData",
    "SyncProvider",
    "UnknownComponent",
    "__version__",
    "to_component",
    "tqdm_progress",
]


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562)."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'async_qexp' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULE_OF})
