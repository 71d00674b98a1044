"""The experiment service ("resultsDB"), mounted at ``/resultsdb``, and the signed uploads.

:mod:`.parse` turns requests into record values and query objects, :mod:`.routes` serves
devices, experiments and analysis results, :mod:`.blobs` figures and files.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from . import blobs, routes
from .blobs import blob_routes

__all__ = ["blob_routes", "resultsdb_routes"]


def resultsdb_routes() -> list[BaseRoute]:
    """Routes relative to the resultsDB base URL (mounted at ``/resultsdb``)."""
    return [*routes.routes(), *blobs.routes()]
