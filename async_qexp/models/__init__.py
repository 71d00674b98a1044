"""The wire models of both services: records, filter objects, runtime records, the envelope
codec and the one converter.

This package is the whole wire vocabulary of the project: the client builds every request from
it and reads every response with it, and the emulator imports it (and nothing else of the
client). It depends on attrs and cattrs only.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .codec import (
        converter,
        create_body,
        from_wire,
        to_wire,
        updatable,
        update_body,
        wire_name,
        wire_names,
    )
    from .components import DeviceComponent, Qubit, Resonator, UnknownComponent, to_component
    from .envelopes import (
        MAX_NESTING,
        RuntimeDecoder,
        RuntimeEncoder,
        decode_envelope,
        decode_envelopes,
        dumps_runtime,
        encode_envelopes,
        loads_runtime,
    )
    from .filters import ExperimentFilters, Params, ResultFilters
    from .records import (
        AnalysisResult,
        Device,
        Experiment,
        ExperimentShareLevel,
        FileInfo,
        ResultQuality,
    )
    from .runtime import JobRecord, JobStatus, ProgramParameter, ProgramResult, RuntimeProgram
    from .timeutil import format_datetime, parse_datetime, parse_iso

_WHERE = {
    ".codec": (
        "converter",
        "create_body",
        "from_wire",
        "to_wire",
        "update_body",
        "updatable",
        "wire_name",
        "wire_names",
    ),
    ".components": ("DeviceComponent", "Qubit", "Resonator", "UnknownComponent", "to_component"),
    ".envelopes": (
        "MAX_NESTING",
        "RuntimeDecoder",
        "RuntimeEncoder",
        "decode_envelope",
        "decode_envelopes",
        "dumps_runtime",
        "encode_envelopes",
        "loads_runtime",
    ),
    ".filters": ("ExperimentFilters", "Params", "ResultFilters"),
    ".records": (
        "AnalysisResult",
        "Device",
        "Experiment",
        "ExperimentShareLevel",
        "FileInfo",
        "ResultQuality",
    ),
    ".runtime": ("JobRecord", "JobStatus", "ProgramParameter", "ProgramResult", "RuntimeProgram"),
    ".timeutil": ("format_datetime", "parse_datetime", "parse_iso"),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = [
    "MAX_NESTING",
    "AnalysisResult",
    "Device",
    "DeviceComponent",
    "Experiment",
    "ExperimentFilters",
    "ExperimentShareLevel",
    "FileInfo",
    "JobRecord",
    "JobStatus",
    "Params",
    "ProgramParameter",
    "ProgramResult",
    "Qubit",
    "Resonator",
    "ResultFilters",
    "ResultQuality",
    "RuntimeDecoder",
    "RuntimeEncoder",
    "RuntimeProgram",
    "UnknownComponent",
    "converter",
    "create_body",
    "decode_envelope",
    "decode_envelopes",
    "dumps_runtime",
    "encode_envelopes",
    "format_datetime",
    "from_wire",
    "loads_runtime",
    "parse_datetime",
    "parse_iso",
    "to_component",
    "to_wire",
    "updatable",
    "update_body",
    "wire_name",
    "wire_names",
]


def __getattr__(name: str) -> Any:
    """Import a name on first use (PEP 562), so a process that needs only the envelopes (a
    runtime job's worker) does not load the converter."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'async_qexp.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULE_OF})
