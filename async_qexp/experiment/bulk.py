"""Many analysis results at once: what each item is, and what a bulk create did.

:meth:`ExperimentService.create_analysis_results
<async_qexp.ExperimentService.create_analysis_results>` takes its items in either form that
:func:`analysis_result_record` reads, checks every one of them before anything is sent, and
answers with a :class:`BulkCreateReport`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ..models import AnalysisResult, ResultQuality
from ..models._checks import require_str
from ._rest import JSONEncoderType, new_id, plain_json

__all__ = ["RESULT_FIELDS", "AnalysisResultItem", "BulkCreateReport", "analysis_result_record"]

RESULT_FIELDS = (
    "experiment_id",
    "result_data",
    "result_type",
    "device_components",
    "tags",
    "quality",
    "verified",
    "result_id",
    "chisq",
)
"""The keys an item of a bulk create may have: the arguments of ``create_analysis_result``."""

AnalysisResultItem = Mapping[str, Any] | AnalysisResult
"""One item of a bulk create: a mapping of :data:`RESULT_FIELDS`, or a record."""


def analysis_result_record(
    item: AnalysisResultItem, json_encoder: JSONEncoderType = None
) -> AnalysisResult:
    """The record a create of ``item`` sends, checked as ``create_analysis_result`` checks it.

    ``item`` is a mapping of ``create_analysis_result``'s arguments (:data:`RESULT_FIELDS`:
    ``experiment_id`` and ``result_type`` are required; a missing ``result_id`` is generated,
    the others take ``create_analysis_result``'s defaults), or an
    :class:`~async_qexp.models.AnalysisResult` record (its service-set fields are not sent).
    ``json_encoder`` encodes ``result_data`` as in ``create_analysis_result``.

    Raises:
        TypeError: for an item or a field of the wrong type.
        ValueError: for an unknown or missing key, or a bad value.
    """
    if isinstance(item, AnalysisResult):
        require_str(item.result_type, "result_type", empty=False)
        if json_encoder is None:
            return attrs.evolve(item)
        return attrs.evolve(item, result_data=plain_json(item.result_data, json_encoder))
    if not isinstance(item, Mapping):
        raise TypeError(
            f"an analysis result is a mapping or an AnalysisResult, not {type(item).__name__}"
        )
    unknown = [str(key) for key in item if key not in RESULT_FIELDS]
    if unknown:
        raise ValueError(
            f"unknown fields {sorted(unknown)}; expected some of {list(RESULT_FIELDS)}"
        )
    for required in ("experiment_id", "result_type"):
        if required not in item:
            raise ValueError(f"an analysis result needs {required}")
    require_str(item["result_type"], "result_type", empty=False)
    result_data = item.get("result_data")
    result_id = item.get("result_id")
    quality = item.get("quality")
    tags = item.get("tags")
    return AnalysisResult(
        result_id=result_id if result_id is not None else new_id(),
        experiment_id=item["experiment_id"],
        result_type=item["result_type"],
        result_data=plain_json(result_data, json_encoder) if result_data is not None else {},
        device_components=item.get("device_components"),
        tags=tags if tags is not None else [],
        quality=quality if quality is not None else ResultQuality.UNKNOWN,
        verified=item.get("verified", False),
        chisq=item.get("chisq"),
    )


@attrs.frozen(repr=False)
class BulkCreateReport:
    """What a bulk create did with each item; every list keeps the order of the items.

    Attributes:
        created: the ids of the results this call stored (a replayed create that met
            ``409`` because its first attempt was stored counts here).
        existing: the ids the service already held before this call (their ``409`` on a
            first attempt); their stored content is left as it is, and not compared.
        failed: ``(result_id, error)`` for every create that failed (an
            :class:`~async_qexp.errors.ApiError` or :class:`~async_qexp.errors.RequestError`).
    """

    created: tuple[str, ...] = ()
    existing: tuple[str, ...] = ()
    failed: tuple[tuple[str, Exception], ...] = ()

    def __repr__(self) -> str:
        return (
            f"<BulkCreateReport created={len(self.created)} existing={len(self.existing)} "
            f"failed={len(self.failed)}>"
        )

    @property
    def ok(self) -> bool:
        """Whether every item is now stored (created or existing)."""
        return not self.failed

    @property
    def total(self) -> int:
        """How many items the call was given."""
        return len(self.created) + len(self.existing) + len(self.failed)
