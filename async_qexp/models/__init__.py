"""The records of the experiment service and their wire mapping."""

from .codec import converter, from_wire, to_wire
from .envelopes import decode_envelopes, encode_envelopes
from .records import (
    AnalysisResult,
    Device,
    Experiment,
    ExperimentShareLevel,
    FileInfo,
    ResultQuality,
)
from .timeutil import format_datetime, parse_datetime

__all__ = [
    "AnalysisResult",
    "Device",
    "Experiment",
    "ExperimentShareLevel",
    "FileInfo",
    "ResultQuality",
    "converter",
    "decode_envelopes",
    "encode_envelopes",
    "format_datetime",
    "from_wire",
    "parse_datetime",
    "to_wire",
]
