"""Analysis results to and from pandas ``DataFrame`` rows in the reference's columns."""

from __future__ import annotations

import copy
from typing import Any

from ._records import AnalysisResultData, quality_in

__all__ = ["dataframe_to_results", "results_to_dataframe"]


def dataframe_to_results(df: Any) -> list[AnalysisResultData]:
    """The analysis results of a ``DataFrame`` (NaN read as missing)."""
    import numpy as np

    records = df.replace({np.nan: None}).to_dict("records")
    return [_result_from_row(row) for row in records]


def results_to_dataframe(result_list: list[AnalysisResultData]) -> Any:
    """A ``DataFrame`` of analysis results (an empty one for none)."""
    import pandas as pd

    rows = [_row_of_result(result) for result in result_list]
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame.from_dict({key: [row[key] for row in rows] for key in rows[0]})


_ROW_TO_FIELD = {
    "name": "result_type",
    "components": "device_components",
    "_result_id": "result_id",
    "_experiment_id": "experiment_id",
    "_tags": "tags",
    "chisq": "chisq",
    "created_time": "creation_datetime",
    "backend": "backend_name",
}
_ROW_TO_DATA = {
    "value": "_value",
    "_source": "_source",
    "_extra": "_extra",
    "experiment": "_experiment",
}


def _result_from_row(row: dict[str, Any]) -> AnalysisResultData:
    row = copy.deepcopy(row)
    fields = {dest: row[src] for src, dest in _ROW_TO_FIELD.items() if src in row}
    fields["result_data"] = {dest: row[src] for src, dest in _ROW_TO_DATA.items() if src in row}
    fields["quality"] = quality_in(row.get("quality") or "unknown")
    return AnalysisResultData(**fields)


def _row_of_result(result: AnalysisResultData) -> dict[str, Any]:
    data = copy.deepcopy(result.result_data) or {}
    row = {src: copy.deepcopy(getattr(result, dest)) for src, dest in _ROW_TO_FIELD.items()}
    row.update({src: data.get(dest) for src, dest in _ROW_TO_DATA.items()})
    row["quality"] = quality_in(result.quality).value.lower()
    return row
