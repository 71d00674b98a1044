"""The drop-in's work on the event loop: coroutines over the async
:class:`~async_qexp.ExperimentService`, returning the shapes the reference returns (the
service's answers as dicts).

Each is run by :class:`~async_qexp.compat.IBMExperimentService` on its provider's loop; the
bulk calls run many of them at once there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from .._http import parse_json
from ..errors import EntryExists, EntryNotFound
from ..experiment import ExperimentService
from ..experiment._rest import JSONDecoderType, JSONEncoderType, plain_json
from ..models import AnalysisResult, Experiment, create_body, update_body, wire_name

__all__ = [
    "create_experiment",
    "create_or_update",
    "create_result",
    "files",
    "put_figure",
    "update_experiment",
    "update_result",
]


def _answer(content: bytes) -> Any:
    if not content.strip():
        return {}
    try:
        return json.loads(content)
    except ValueError:
        return {}


async def create_experiment(svc: ExperimentService, record: Experiment) -> dict[str, Any]:
    """POST the experiment; the service's answer (a replay stored by its first attempt
    answers with the id only).

    Raises:
        EntryExists: if an experiment with this id exists.
    """
    answer = await svc._post_create("/experiments", create_body(record))
    return answer if isinstance(answer, dict) else {"uuid": record.experiment_id}


async def update_experiment(
    svc: ExperimentService,
    experiment_id: str,
    changes: dict[str, Any],
    json_encoder: JSONEncoderType,
) -> dict[str, Any]:
    """PUT the changed fields of an experiment; the service's answer.

    Raises:
        EntryNotFound: if the experiment does not exist.
    """
    if "metadata" in changes:
        changes = {**changes, "metadata": plain_json(changes["metadata"], json_encoder)}
    body = update_body(Experiment, changes)
    response = await svc._session.request(
        "PUT", svc._at("experiments", experiment_id), json_body=body
    )
    answer = _answer(response.content)
    return answer if isinstance(answer, dict) else {}


async def create_result(svc: ExperimentService, body: Mapping[str, Any]) -> str:
    """POST an analysis result (its body made before); its id.

    Raises:
        EntryExists: if a result with this id exists.
    """
    await svc.post_analysis_result(body)
    return str(body[_RESULT_ID])


async def update_result(
    svc: ExperimentService, result_id: str, changes: dict[str, Any], json_encoder: JSONEncoderType
) -> None:
    """PUT the changed fields of an analysis result.

    Raises:
        EntryNotFound: if the result does not exist.
    """
    await svc.put_analysis_result(
        result_id, ExperimentService._result_changes(changes, json_encoder)
    )


async def create_or_update(
    create: Callable[[], Any],
    update: Callable[[], Any],
    first_create: bool,
    max_attempts: int,
) -> Any:
    """Create, and update when it exists (or update, and create when it does not), switching
    at most ``max_attempts`` times, as the reference's ``create_or_update`` does.

    Raises:
        EntryExists, EntryNotFound: the last attempt's error, when every attempt met one.
    """
    creating = first_create
    error: Exception | None = None
    for _ in range(max(1, max_attempts)):
        try:
            return await (create() if creating else update())
        except EntryExists as exc:
            if not creating:
                raise
            error, creating = exc, False
        except EntryNotFound as exc:
            if creating:
                raise
            error, creating = exc, True
    assert error is not None
    raise error


async def put_figure(
    svc: ExperimentService, experiment_id: str, figure: Any, figure_name: str | None
) -> tuple[str, int]:
    """Store a figure under its name, whatever is there (one signed upload): a create or an
    update, as the caller asked for either."""
    name, data = await svc._figure_bytes(figure, figure_name)
    return await svc.upload_figure(experiment_id, data, name)


async def files(svc: ExperimentService, experiment_id: str) -> Any:
    """The service's file listing, as it answered (``{"files": [{"Key": ..., ...}]}``)."""
    response = await svc._session.request("GET", svc._at("experiments", experiment_id, "files"))
    return parse_json(response)


async def experiments(svc: ExperimentService, arguments: dict[str, Any]) -> list[Experiment]:
    """Every experiment the listing gives (up to its limit)."""
    return list(await svc.experiments(**arguments))


async def results(svc: ExperimentService, arguments: dict[str, Any]) -> list[AnalysisResult]:
    """Every analysis result the listing gives (up to its limit)."""
    return list(await svc.analysis_results(**arguments))


async def file_download(
    svc: ExperimentService, experiment_id: str, file_name: str, json_decoder: JSONDecoderType
) -> Any:
    """A file: ``.json`` decoded with ``json_decoder``, ``.yaml`` parsed, else its bytes."""
    return await svc.file_download(experiment_id, file_name, json_decoder)


_RESULT_ID = wire_name(AnalysisResult, "result_id")
