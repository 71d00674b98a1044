"""Figures and files of the experiment service: signed uploads, downloads and deletes
(``docs/protocol.md#figures`` and ``#files``)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import anyio

from .._http import parse_json
from ..errors import ApiError, EntryExists, EntryNotFound
from ..models import Experiment, FileInfo, decode_envelopes, encode_envelopes
from ..models._checks import require_ident
from ._rest import (
    JSONDecoderType,
    JSONEncoderType,
    ServiceBase,
    plain_json,
    require_name,
)

__all__ = ["FigureAndFileCalls"]

_FILE_SUFFIXES = (".json", ".yaml", ".zip")


class FigureAndFileCalls(ServiceBase):
    """The figure and file calls of :class:`~async_qexp.ExperimentService`."""

    async def _figure_bytes(self, figure: Any, figure_name: Any) -> tuple[str, bytes]:
        if figure_name is not None:
            require_name(figure_name, "figure_name")
        if isinstance(figure, bytes | bytearray | memoryview):
            data = bytes(figure)
            name = figure_name or f"figure_{datetime.now().isoformat()}.svg"
        elif isinstance(figure, str | os.PathLike):
            data = await anyio.Path(figure).read_bytes()
            name = figure_name or os.fspath(figure)
        else:
            raise TypeError(f"figure must be bytes or a file path, not {type(figure).__name__}")
        if not name.endswith(".svg"):
            name += ".svg"
        return name, data

    async def _signed_upload(self, kind: str, experiment_id: str, name: str, data: bytes) -> int:
        """Ask for a signed URL, then PUT the bytes there; returns the PUT's status code."""
        body = await self._session.get_json(
            self._at("experiments", experiment_id, kind, "upload", name)
        )
        url = body.get("url") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url:
            raise ApiError("the service did not return an upload URL", status=200, url=self._base)
        # The session adds X-Access-Token only when the URL is on a service origin.
        response = await self._session.request(
            "PUT", url, content=data, headers={"Content-Type": "application/json"}
        )
        return response.status_code

    async def _figure_names(self, experiment_id: str) -> list[str]:
        """The names of an experiment's figures, as its record lists them."""
        response = await self._session.request("GET", self._at("experiments", experiment_id))
        record = self._record(Experiment, self._loads(response, None), None, response)
        return record.figure_names

    async def create_figure(
        self,
        experiment_id: str,
        figure: str | os.PathLike[str] | bytes,
        figure_name: str | None = None,
        sync_upload: bool = True,
    ) -> tuple[str, int]:
        """Store a new figure (SVG bytes, or the path of a file) and return ``(name, size)``.

        Without ``figure_name`` the file path, or ``figure_<now>.svg``, names it; ``.svg`` is
        appended when missing. ``sync_upload`` is accepted for compatibility: uploads always
        complete before return. (The upload protocol itself replaces a figure of the same
        name, so the experiment's figure names are read first: one request more than
        :meth:`upload_figure`, which replaces without asking.)

        Raises:
            EntryExists: if the experiment has a figure of that name.
            EntryNotFound: if the experiment does not exist.
        """
        require_ident(experiment_id, "experiment_id")
        name, data = await self._figure_bytes(figure, figure_name)
        if name in await self._figure_names(experiment_id):
            raise EntryExists(
                f"figure {name!r} of experiment {experiment_id} already exists",
                status=409,
                url=self._at("experiments", experiment_id, "plots", name),
            )
        return await self.upload_figure(experiment_id, data, name)

    async def update_figure(
        self,
        experiment_id: str,
        figure: str | os.PathLike[str] | bytes,
        figure_name: str,
        sync_upload: bool = True,
    ) -> tuple[str, int]:
        """Replace an existing figure's content and return ``(name, size)``.

        Raises:
            EntryNotFound: if the experiment, or a figure of that name, does not exist.
        """
        require_ident(experiment_id, "experiment_id")
        require_name(figure_name, "figure_name")
        name, data = await self._figure_bytes(figure, figure_name)
        if name not in await self._figure_names(experiment_id):
            raise EntryNotFound(
                f"figure {name!r} of experiment {experiment_id} does not exist",
                status=404,
                url=self._at("experiments", experiment_id, "plots", name),
            )
        return await self.upload_figure(experiment_id, data, name)

    async def upload_figure(
        self, experiment_id: str, data: bytes, figure_name: str
    ) -> tuple[str, int]:
        """Store SVG bytes under a figure name, replacing a figure of that name; returns
        ``(name, size)``. (What ``ExperimentData.save()`` uses: it knows what it replaces.)

        Raises:
            EntryNotFound: if the experiment does not exist.
        """
        require_ident(experiment_id, "experiment_id")
        require_name(figure_name, "figure_name")
        if not isinstance(data, bytes):
            raise TypeError(f"figure data must be bytes, not {type(data).__name__}")
        status = await self._signed_upload("plots", experiment_id, figure_name, data)
        if status != 200:
            raise ApiError(
                f"figure upload answered {status} instead of 200", status=status, url=self._base
            )
        return figure_name, len(data)

    async def figure(
        self,
        experiment_id: str,
        figure_name: str,
        file_name: str | os.PathLike[str] | None = None,
    ) -> bytes | int:
        """Download a figure.

        Returns:
            its bytes, or, when ``file_name`` is given, the number of bytes written there.

        Raises:
            EntryNotFound: if the figure does not exist.
        """
        require_ident(experiment_id, "experiment_id")
        require_name(figure_name, "figure_name")
        response = await self._session.request(
            "GET",
            self._at("experiments", experiment_id, "plots", figure_name),
        )
        data = response.content
        if file_name is None:
            return data
        await anyio.Path(file_name).write_bytes(data)
        return len(data)

    async def delete_figure(self, experiment_id: str, figure_name: str) -> bool:
        """Delete a figure. Never prompts.

        Returns:
            ``True`` if it was deleted, ``False`` if it did not exist (a warning is logged).
        """
        require_ident(experiment_id, "experiment_id")
        require_name(figure_name, "figure_name")
        return await self._delete(
            self._at("experiments", experiment_id, "plots", figure_name),
            f"figure {figure_name!r} of experiment {experiment_id}",
        )

    # -- files ---------------------------------------------------------------------------

    async def files(self, experiment_id: str) -> list[FileInfo]:
        """List an experiment's files."""
        require_ident(experiment_id, "experiment_id")
        response = await self._session.request(
            "GET", self._at("experiments", experiment_id, "files")
        )
        body = parse_json(response)
        listed = body.get("files") if isinstance(body, dict) else None
        if not isinstance(listed, list):
            raise self._malformed(response, "has no 'files' list")
        return [self._record(FileInfo, item, None, response) for item in listed]

    async def experiment_has_file(self, experiment_id: str, file_name: str) -> bool:
        """Whether the experiment has a file of this name (the naming rule applied)."""
        name = _file_name(file_name)
        return any(f.name == name for f in await self.files(experiment_id))

    async def file_upload(
        self,
        experiment_id: str,
        file_name: str,
        data: Mapping[str, Any] | list[Any] | str | bytes,
        json_encoder: JSONEncoderType = None,
    ) -> str:
        """Store a file with an experiment and return its stored name.

        Names must end in ``.json``, ``.yaml`` or ``.zip`` (``.json`` is appended otherwise).
        A mapping or list is written as JSON (as YAML for ``.yaml``, which needs PyYAML);
        ``str`` and ``bytes`` are stored as they are. An existing file of that name is replaced.
        """
        require_ident(experiment_id, "experiment_id")
        name = _file_name(file_name)
        if isinstance(data, bytes | bytearray):
            payload = bytes(data)
        elif isinstance(data, str):
            payload = data.encode()
        elif not isinstance(data, Mapping | list | tuple):
            raise TypeError(
                f"file data must be bytes, str, a mapping or a list, not {type(data).__name__}"
            )
        elif name.endswith(".yaml"):
            payload = _yaml().safe_dump(data).encode()
        elif name.endswith(".zip"):
            raise TypeError("a .zip file takes bytes")
        else:
            payload = json.dumps(
                encode_envelopes(plain_json(data, json_encoder)), allow_nan=False
            ).encode()
        await self._signed_upload("files", experiment_id, name, payload)
        return name

    async def file_download(
        self, experiment_id: str, file_name: str, json_decoder: JSONDecoderType = None
    ) -> Any:
        """Download a file: ``.json`` decoded (envelopes too), ``.yaml`` parsed, else bytes.

        Raises:
            EntryNotFound: if the file does not exist.
        """
        require_ident(experiment_id, "experiment_id")
        name = _file_name(file_name)
        response = await self._session.request(
            "GET", self._at("experiments", experiment_id, "files", name)
        )
        if name.endswith(".json"):
            data = self._loads(response, json_decoder)
            return data if json_decoder is not None else decode_envelopes(data)
        if name.endswith(".yaml"):
            return _yaml().safe_load(response.content)
        return response.content

    async def file_delete(self, experiment_id: str, file_name: str) -> bool:
        """Delete a file. Returns ``False`` (and logs a warning) if it did not exist."""
        require_ident(experiment_id, "experiment_id")
        name = _file_name(file_name)
        return await self._delete(
            self._at("experiments", experiment_id, "files", name),
            f"file {name!r} of experiment {experiment_id}",
        )


def _file_name(file_name: Any) -> str:
    require_name(file_name, "file_name")
    return str(file_name if file_name.endswith(_FILE_SUFFIXES) else file_name + ".json")


def _yaml() -> Any:
    try:
        import yaml
    except ImportError:
        raise ValueError(".yaml files need PyYAML (pip install pyyaml)") from None
    return yaml
