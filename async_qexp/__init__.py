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
    QexpError,
    RateLimited,
    RequestError,
    RequestTimeout,
)
from .experiment import ExperimentService
from .models import (
    AnalysisResult,
    Device,
    Experiment,
    ExperimentShareLevel,
    FileInfo,
    ResultQuality,
)

__all__ = [
    "DEFAULT_AUTH_URL",
    "DEFAULT_TIMEOUT",
    "Account",
    "AnalysisResult",
    "ApiError",
    "AuthError",
    "Device",
    "EntryExists",
    "EntryNotFound",
    "Experiment",
    "ExperimentService",
    "ExperimentShareLevel",
    "FileInfo",
    "HubGroupProject",
    "Pager",
    "Provider",
    "QexpError",
    "RateLimited",
    "RequestError",
    "RequestTimeout",
    "ResultQuality",
    "RetryPolicy",
    "__version__",
]
