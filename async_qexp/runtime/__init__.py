"""The runtime service: programs, jobs, and interim results streamed over websockets.

The modules depend on each other one way only: ``service`` → ``job`` → ``stream`` → ``_api``
(the stateless REST calls) → the HTTP session; records are read with
:mod:`async_qexp.models.runtime`. :class:`RuntimeEncoder` and :class:`RuntimeDecoder` are the
runtime envelopes of :mod:`async_qexp.models.envelopes`, re-exported here.
"""

from .._config import StreamPolicy
from ..models.envelopes import RuntimeDecoder, RuntimeEncoder
from ..models.runtime import (
    JobStatus,
    ProgramParameter,
    ProgramResult,
    RuntimeOptions,
    RuntimeProgram,
)
from .decoder import ResultDecoder
from .job import RuntimeJob
from .service import RuntimeService
from .stream import ResultStream

__all__ = [
    "JobStatus",
    "ProgramParameter",
    "ProgramResult",
    "ResultDecoder",
    "ResultStream",
    "RuntimeDecoder",
    "RuntimeEncoder",
    "RuntimeJob",
    "RuntimeOptions",
    "RuntimeProgram",
    "RuntimeService",
    "StreamPolicy",
]
