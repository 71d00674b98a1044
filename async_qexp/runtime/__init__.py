"""The runtime service: programs, jobs, and interim results streamed over websockets."""

from .._config import StreamPolicy
from ..models import JobStatus, RuntimeProgram
from .codec import ResultDecoder, RuntimeDecoder, RuntimeEncoder
from .job import RuntimeJob
from .service import RuntimeOptions, RuntimeService
from .stream import ResultStream

__all__ = [
    "JobStatus",
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
