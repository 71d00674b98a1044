"""Figures and files of experiments: signed upload URLs, downloads, deletes, the legacy
multipart figure endpoints, and the signed upload itself (``PUT /_blob/...``, no token needed).

See ``docs/protocol.md#figures``, ``#legacy-multipart-figures`` and ``#files``.
"""

from __future__ import annotations

import email.parser
import email.policy
import mimetypes
from functools import partial

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .._util import HTTPProblem, json_response, now_ts
from ..auth import base_urls
from ..state import state_of
from ..store import BlobKind
from .parse import last
from .routes import authenticated, path_uuid

__all__ = ["blob_routes", "routes"]


def _name(request: Request) -> str:
    name: str = request.path_params["name"]
    if not name:
        raise HTTPProblem(404, "missing name")
    return name


def _media_type(name: str, default: str) -> str:
    lower = name.lower()
    if lower.endswith(".svg"):
        return "image/svg+xml"
    if lower.endswith(".json"):
        return "application/json"
    if lower.endswith((".yaml", ".yml")):
        return "application/x-yaml"
    guessed, _ = mimetypes.guess_type("x" + lower[lower.rfind(".") :] if "." in lower else "x")
    return guessed or default


async def upload_url(request: Request, kind: BlobKind) -> Response:
    """``GET /experiments/{uuid}/{plots|files}/upload/{name}`` → ``{"url": <signed URL>}``."""
    state, user = authenticated(request)
    uuid = path_uuid(request)
    name = _name(request)
    await state.store.get_experiment(user, uuid, write=True)
    http, _ = base_urls(request)
    return json_response({"url": http + state.signed_upload_path(kind, uuid, name)})


async def get_blob(request: Request, kind: BlobKind) -> Response:
    """``GET /experiments/{uuid}/{plots|files}/{name}``: the raw bytes."""
    state, user = authenticated(request)
    name = _name(request)
    data = await state.store.get_blob(user, kind, path_uuid(request), name)
    return Response(data, media_type=_media_type(name, "application/octet-stream"))


async def delete_blob(request: Request, kind: BlobKind) -> Response:
    """``DELETE /experiments/{uuid}/{plots|files}/{name}``."""
    state, user = authenticated(request)
    await state.store.delete_blob(user, kind, path_uuid(request), _name(request), now_ts())
    return json_response({})


async def list_files(request: Request) -> Response:
    """``GET /experiments/{uuid}/files`` → ``{"files": [{"Key", "Size", "LastModified"}]}``."""
    state, user = authenticated(request)
    files = [
        {"Key": r["name"], "Size": r["size"], "LastModified": r["updated_at"]}
        for r in await state.store.list_blobs(user, "file", path_uuid(request))
    ]
    return json_response({"files": files})


async def blob_put(request: Request) -> Response:
    """``PUT /_blob/{kind}/{uuid}/{name}?expires=…&sig=…``: the signed upload (no auth)."""
    state = state_of(request)
    kind = request.path_params["kind"]
    if kind not in ("plot", "file"):
        raise HTTPProblem(404, "unknown upload kind")
    uuid = path_uuid(request)
    name = _name(request)
    q = request.query_params
    state.check_upload_sig(kind, uuid, name, q.get("expires"), q.get("sig"))
    data = await request.body()
    await state.store.put_blob(kind, uuid, name, data, now_ts())
    return json_response({"name": name, "size": len(data)})


def _multipart_plot(content_type: str, raw: bytes) -> tuple[str | None, bytes]:
    """``(filename, bytes)`` of the ``plot`` part of a multipart body; 400 if absent."""
    if not content_type.lower().startswith("multipart/"):
        raise HTTPProblem(400, "expected a multipart/form-data body with a 'plot' part")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    try:
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    except Exception:  # the stdlib parser is lenient; be safe anyway
        raise HTTPProblem(400, "malformed multipart body") from None
    if msg.is_multipart():
        for part in msg.iter_parts():
            if part.get_param("name", header="content-disposition") == "plot":
                payload = part.get_payload(decode=True)
                data = payload if isinstance(payload, bytes) else b""
                return part.get_filename(), data
    raise HTTPProblem(400, "expected a multipart/form-data body with a 'plot' part")


async def _legacy_plot(request: Request, name: str | None) -> Response:
    """Store the multipart figure as ``name`` (which must exist) or, without it, as a new one."""
    state, user = authenticated(request)
    filename, data = _multipart_plot(request.headers.get("content-type", ""), await request.body())
    now = now_ts()
    exists = name is not None
    if name is None:
        name = filename or last(request, "name") or f"figure_{now}.svg"
    await state.store.put_blob(
        "plot", path_uuid(request), name, data, now, user=user, exists=exists
    )
    return json_response({"name": name, "size": len(data)})


async def legacy_plot_create(request: Request) -> Response:
    """``POST /experiments/{uuid}/plots`` (legacy multipart upload); 409 if present."""
    return await _legacy_plot(request, None)


async def legacy_plot_update(request: Request) -> Response:
    """``PUT /experiments/{uuid}/plots/{name}`` (legacy multipart update); 404 if absent."""
    return await _legacy_plot(request, _name(request))


def plot_upload_route() -> BaseRoute:
    """``GET /experiments/{uuid}/plots/upload/{name}`` (busy: mounted first as well)."""
    return Route(
        "/experiments/{uuid}/plots/upload/{name:path}",
        partial(upload_url, kind="plot"),
        methods=["GET"],
    )


def routes() -> list[BaseRoute]:
    """The figure and file routes (relative to ``/resultsdb``)."""
    plot, file = "/experiments/{uuid}/plots", "/experiments/{uuid}/files"
    return [
        Route(plot + "/upload/{name:path}", partial(upload_url, kind="plot"), methods=["GET"]),
        Route(plot + "/{name:path}", partial(get_blob, kind="plot"), methods=["GET"]),
        Route(plot + "/{name:path}", partial(delete_blob, kind="plot"), methods=["DELETE"]),
        Route(plot + "/{name:path}", legacy_plot_update, methods=["PUT"]),
        Route(plot, legacy_plot_create, methods=["POST"]),
        Route(file, list_files, methods=["GET"]),
        Route(file + "/upload/{name:path}", partial(upload_url, kind="file"), methods=["GET"]),
        Route(file + "/{name:path}", partial(get_blob, kind="file"), methods=["GET"]),
        Route(file + "/{name:path}", partial(delete_blob, kind="file"), methods=["DELETE"]),
    ]


def blob_routes() -> list[BaseRoute]:
    """The signed-upload routes at the server root."""
    return [Route("/_blob/{kind}/{uuid}/{name:path}", blob_put, methods=["PUT"])]
