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
    # The busiest first (Starlette tries routes in order): creating a result and asking for
    # a figure's upload URL; neither shadows another route.
    hot = [routes.create_result_route(), blobs.plot_upload_route()]
    return [*hot, *routes.routes(), *blobs.routes()]
