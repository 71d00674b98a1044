"""The experiment service and the ExperimentData container."""

from .artifacts import ArtifactData
from .bulk import BulkCreateReport
from .data import (
    DEFAULT_SAVE_CONCURRENCY,
    ExperimentData,
    ExperimentDataError,
    ExperimentDataSaveFailed,
    SaveReport,
)
from .figures import FigureData
from .results import AnalysisResultData
from .service import ExperimentService
from .status import AnalysisCallback, AnalysisStatus, ExperimentStatus

__all__ = [
    "DEFAULT_SAVE_CONCURRENCY",
    "AnalysisCallback",
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
]
