"""The runtime service: programs, jobs, and interim results streamed over websockets."""

from .codec import ResultDecoder, RuntimeDecoder, RuntimeEncoder
from .job import JobStatus, RuntimeJob
from .service import RuntimeOptions, RuntimeProgram, RuntimeService
from .stream import ResultStream, StreamPolicy

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
