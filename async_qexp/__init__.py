"""async_qexp: an asyncio-native client for the IBM Quantum experiment and runtime services.

Start with :class:`Provider`::

    import async_qexp

    async with async_qexp.Provider.local() as provider:      # the embedded emulator
        exp_id = await provider.experiment.create_experiment("T1", "ibmq_lima")
"""

from ._auth import Account, HubGroupProject
from ._client import DEFAULT_AUTH_URL, DEFAULT_TIMEOUT, Provider
from ._http import RetryPolicy
from ._paging import Pager
from ._version import __version__
from .errors import (
    ApiError,
    AuthError,
    EntryExists,
    EntryNotFound,
    JobTimeoutError,
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
    Experiment,
    ExperimentShareLevel,
    FileInfo,
    ResultQuality,
)
from .runtime import (
    JobStatus,
    ResultDecoder,
    ResultStream,
    RuntimeOptions,
    RuntimeProgram,
    RuntimeService,
    StreamPolicy,
)
from .runtime.job import RuntimeJob

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
    "Device",
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
    "Pager",
    "Provider",
    "QexpError",
    "RateLimited",
    "RequestError",
    "RequestTimeout",
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
    "__version__",
]
