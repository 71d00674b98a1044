"""The experiment service's routes for devices, experiments and analysis results
(``docs/protocol.md#experiment-service-endpoints``).

Each handler authenticates, parses the request (:mod:`.parse`), awaits one store operation and
answers the records it returns (their fields are the wire's). A refusal of the store becomes
404/403/409/400 in the app.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .._req import read_json_object
from .._util import json_response, now_ts
from ..queries import Page, Principal
from ..state import EmulatorState, state_of
from . import parse

__all__ = ["authenticated", "path_uuid", "routes"]


def authenticated(request: Request) -> tuple[EmulatorState, Principal]:
    """The emulator state and the caller (401 without a valid access token)."""
    state = state_of(request)
    return state, state.authenticate(request)


def path_uuid(request: Request) -> str:
    """The ``{uuid}`` of the path."""
    value: str = request.path_params["uuid"]
    return value


def _page_response(key: str, page: Page) -> Response:
    body: dict[str, Any] = {key: page.rows}
    if page.marker:
        body["marker"] = page.marker
    return json_response(body)


# -- devices -----------------------------------------------------------------------------------


async def list_devices(request: Request) -> Response:
    """``GET /devices``."""
    state, _ = authenticated(request)
    return json_response({"devices": [{"name": d.name, **d.extra} for d in state.devices]})


async def list_device_components(request: Request) -> Response:
    """``GET /device_components[?device_name=]``."""
    state, _ = authenticated(request)
    name = parse.last(request, "device_name")
    comps = [
        {"device_name": d.name, "type": c}
        for d in state.devices
        if not name or d.name == name
        for c in d.components
    ]
    return json_response({"device_components": comps})


# -- experiments -------------------------------------------------------------------------------


async def list_experiments(request: Request) -> Response:
    """``GET /experiments`` with every filter (``docs/protocol.md#list-filters``)."""
    state, user = authenticated(request)
    query = parse.experiment_query(request, user, state.config)
    page = await state.store.list_experiments(user, query)
    return _page_response("experiments", page)


async def create_experiment(request: Request) -> Response:
    """``POST /experiments``."""
    state, user = authenticated(request)
    values = parse.experiment_values(await read_json_object(request), user, now_ts())
    record = await state.store.create_experiment(user, values)
    return json_response(record, status=201)


async def get_experiment(request: Request) -> Response:
    """``GET /experiments/{uuid}``."""
    state, user = authenticated(request)
    return json_response(await state.store.get_experiment(user, path_uuid(request)))


async def update_experiment(request: Request) -> Response:
    """``PUT /experiments/{uuid}``: partial update of the fields present."""
    state, user = authenticated(request)
    changes = parse.experiment_changes(await read_json_object(request), now_ts())
    record = await state.store.update_experiment(user, path_uuid(request), changes)
    return json_response(record)


async def delete_experiment(request: Request) -> Response:
    """``DELETE /experiments/{uuid}``: cascades to results, figures and files."""
    state, user = authenticated(request)
    record = await state.store.delete_experiment(user, path_uuid(request))
    return json_response(record)


# -- analysis results --------------------------------------------------------------------------


async def list_results(request: Request) -> Response:
    """``GET /analysis_results`` with every filter (``docs/protocol.md#list-filters``)."""
    state, user = authenticated(request)
    page = await state.store.list_results(user, parse.result_query(request, state.config))
    return _page_response("analysis_results", page)


async def create_result(request: Request) -> Response:
    """``POST /analysis_results``."""
    state, user = authenticated(request)
    values = parse.result_values(await read_json_object(request), now_ts())
    record = await state.store.create_result(user, values)
    return json_response(record, status=201)


async def get_result(request: Request) -> Response:
    """``GET /analysis_results/{uuid}``."""
    state, user = authenticated(request)
    return json_response(await state.store.get_result(user, path_uuid(request)))


async def update_result(request: Request) -> Response:
    """``PUT /analysis_results/{uuid}``: partial update."""
    state, user = authenticated(request)
    changes = parse.result_changes(await read_json_object(request), now_ts())
    [record] = await state.store.update_results(user, [(path_uuid(request), changes)])
    return json_response(record)


async def bulk_update_results(request: Request) -> Response:
    """``PUT /analysis_results/bulkupdate``: all-or-nothing partial updates."""
    state, user = authenticated(request)
    updates = parse.bulk_updates(await read_json_object(request), now_ts())
    records = await state.store.update_results(user, updates)
    return json_response({"analysis_results": records})


async def delete_result(request: Request) -> Response:
    """``DELETE /analysis_results/{uuid}``."""
    state, user = authenticated(request)
    return json_response(await state.store.delete_result(user, path_uuid(request)))


def create_result_route() -> BaseRoute:
    """``POST /analysis_results`` (the busiest route: mounted first as well)."""
    return Route("/analysis_results", create_result, methods=["POST"])


def routes() -> list[BaseRoute]:
    """The device, experiment and analysis-result routes (relative to ``/resultsdb``)."""
    return [
        Route("/devices", list_devices, methods=["GET"]),
        Route("/device_components", list_device_components, methods=["GET"]),
        Route("/experiments", list_experiments, methods=["GET"]),
        Route("/experiments", create_experiment, methods=["POST"]),
        Route("/experiments/{uuid}", get_experiment, methods=["GET"]),
        Route("/experiments/{uuid}", update_experiment, methods=["PUT"]),
        Route("/experiments/{uuid}", delete_experiment, methods=["DELETE"]),
        Route("/analysis_results", list_results, methods=["GET"]),
        Route("/analysis_results", create_result, methods=["POST"]),
        Route("/analysis_results/bulkupdate", bulk_update_results, methods=["PUT"]),
        Route("/analysis_results/{uuid}", get_result, methods=["GET"]),
        Route("/analysis_results/{uuid}", update_result, methods=["PUT"]),
        Route("/analysis_results/{uuid}", delete_result, methods=["DELETE"]),
    ]
