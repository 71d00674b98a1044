"""A drop-in for qiskit-ibm-experiment: its ``IBMExperimentService`` interface, on async_qexp.

Switch with one import::

    # from qiskit_ibm_experiment import IBMExperimentService
    from async_qexp.compat import IBMExperimentService

The data classes (:class:`ExperimentData`, :class:`AnalysisResultData`), the enums
(:class:`ResultQuality`, :class:`ExperimentShareLevel`) and the exceptions
(:mod:`async_qexp.compat.errors`) keep the reference's names too. Nothing here needs Qiskit:
qiskit-experiments' and qiskit-ibm-experiment's own values are accepted as they are
(``docs/drop-in.md``).
"""

from __future__ import annotations

from ._bulk import SaveHandler
from ._records import AnalysisResultData, ExperimentData, ExperimentShareLevel, ResultQuality
from .errors import (
    IBMAccountError,
    IBMApiError,
    IBMApiRequestError,
    IBMError,
    IBMExperimentEntryExists,
    IBMExperimentEntryNotFound,
    IBMExperimentError,
    IBMExperimentSaveFailed,
    IBMInputValueError,
    IBMNotAuthorizedError,
)
from .service import IBMExperimentService

__all__ = [
    "AnalysisResultData",
    "ExperimentData",
    "ExperimentShareLevel",
    "IBMAccountError",
    "IBMApiError",
    "IBMApiRequestError",
    "IBMError",
    "IBMExperimentEntryExists",
    "IBMExperimentEntryNotFound",
    "IBMExperimentError",
    "IBMExperimentSaveFailed",
    "IBMExperimentService",
    "IBMInputValueError",
    "IBMNotAuthorizedError",
    "ResultQuality",
    "SaveHandler",
]
