"""The figure and file calls of the drop-in."""

from __future__ import annotations

import json
from typing import Any

from ..models._checks import require_bool, require_ident, require_int
from . import _core
from ._base import ServiceBase, _decoder, _encoder
from ._bulk import SaveHandler

__all__ = ["FigureAndFileCalls"]


class FigureAndFileCalls(ServiceBase):
    """The figure and file calls of :class:`~async_qexp.compat.IBMExperimentService`."""

    # -- figures -------------------------------------------------------------------------

    def create_figure(
        self, experiment_id: str, figure: str | bytes, figure_name: str | None = None
    ) -> tuple[str, int]:
        """Store a new figure (SVG bytes, or a file's path); ``(name, size)``. Without a
        name, the file's path or ``figure_<now>.svg``; ``.svg`` is appended when missing.

        Raises:
            IBMExperimentEntryExists: if the experiment has a figure of that name.
        """
        named: tuple[str, int] = self._call(
            self._svc.create_figure, experiment_id, figure, figure_name
        )
        return named

    def update_figure(
        self, experiment_id: str, figure: str | bytes, figure_name: str
    ) -> tuple[str, int]:
        """Replace a figure; ``(name, size)``.

        Raises:
            IBMExperimentEntryNotFound: if there is no figure of that name.
        """
        named: tuple[str, int] = self._call(
            self._svc.update_figure, experiment_id, figure, figure_name
        )
        return named

    def create_or_update_figure(
        self,
        experiment_id: str,
        figure: str | bytes,
        figure_name: str | None = None,
        create: bool = True,
        max_attempts: int = 3,
    ) -> tuple[str, int]:
        """Store a figure whether or not one of that name exists; ``(name, size)``. (One
        upload: the service's upload replaces, so there is nothing to switch between.)"""
        require_ident(experiment_id, "experiment_id")
        require_int(max_attempts, "max_attempts", minimum=1)
        named: tuple[str, int] = self._call(
            _core.put_figure, self._svc, experiment_id, figure, figure_name
        )
        return named

    def create_figures(
        self,
        experiment_id: str,
        figure_list: list[tuple[str | bytes, str]],
        blocking: bool = True,
        max_workers: int = 100,
    ) -> dict[str, list[Any]] | SaveHandler:
        """Store many figures at once (each ``(figure, name)``), as coroutines on the
        service's event loop, at most ``max_workers`` at a time; returns as
        :meth:`create_analysis_results` does (``data`` of an item:
        ``(experiment_id, figure, figure_name)``).

        Raises:
            IBMExperimentSaveFailed: as :meth:`create_analysis_results`.
        """
        require_ident(experiment_id, "experiment_id")
        require_int(max_workers, "max_workers", minimum=1)
        require_bool(blocking, "blocking")
        if not isinstance(figure_list, list | tuple):
            raise TypeError(f"figure_list must be a list, not {type(figure_list).__name__}")
        svc = self._svc
        items: list[tuple[tuple[Any, ...], Any]] = []
        for entry in figure_list:
            if not isinstance(entry, tuple | list) or len(entry) != 2:
                items.append(
                    (
                        (experiment_id, entry, None),
                        TypeError(f"a figure_list entry is (figure, name), not {entry!r:.60}"),
                    )
                )
                continue
            figure, name = entry

            async def save(figure: Any = figure, name: Any = name) -> Any:
                return await _core.put_figure(svc, experiment_id, figure, name)

            items.append(((experiment_id, figure, name), save))
        return self._bulk(items, blocking, max_workers, "figure")

    def figure(
        self, experiment_id: str, figure_name: str, file_name: str | None = None
    ) -> int | bytes:
        """A figure's bytes, or, with ``file_name``, the number of bytes written there.

        Raises:
            IBMExperimentEntryNotFound: if the figure does not exist.
        """
        found: int | bytes = self._call(self._svc.figure, experiment_id, figure_name, file_name)
        return found

    def delete_figure(self, experiment_id: str, figure_name: str) -> None:
        """Delete a figure. Asks first on a terminal when ``prompt_for_delete`` is set; a
        missing figure is logged."""
        require_ident(experiment_id, "experiment_id")
        if self._confirm_delete("Are you sure you want to delete the experiment plot? [y/N]: "):
            self._call(self._svc.delete_figure, experiment_id, figure_name)

    # -- files ---------------------------------------------------------------------------

    def files(self, experiment_id: str) -> dict[str, Any]:
        """The experiment's file listing, as the service gives it:
        ``{"files": [{"Key": name, "Size": bytes, "LastModified": ...}, ...]}``.

        Raises:
            IBMExperimentEntryNotFound: if the experiment does not exist.
        """
        require_ident(experiment_id, "experiment_id")
        listing: dict[str, Any] = self._call(_core.files, self._svc, experiment_id)
        return listing

    def file_upload(
        self,
        experiment_id: str,
        file_name: str,
        file_data: dict[str, Any] | str | bytes | None,
        json_encoder: type[json.JSONEncoder] | None = json.JSONEncoder,
    ) -> None:
        """Store a file with an experiment. Names end in ``.json``, ``.yaml`` or ``.zip``
        (``.json`` is appended otherwise); a dict is written as JSON (YAML for ``.yaml``),
        ``str``, ``bytes`` and a binary file object's content as they are, ``None`` as an
        empty file."""
        data: Any = b"" if file_data is None else file_data
        if hasattr(data, "getvalue"):  # io.BytesIO (qiskit-experiments 0.13's zipped artifacts)
            data = data.getvalue()
        elif hasattr(data, "read"):  # any other binary file object
            data = data.read()
        self._call(self._svc.file_upload, experiment_id, file_name, data, _encoder(json_encoder))

    def file_download(
        self,
        experiment_id: str,
        file_name: str,
        json_decoder: type[json.JSONDecoder] | None = json.JSONDecoder,
    ) -> Any:
        """A file: ``.json`` decoded (with ``json_decoder``), ``.yaml`` parsed, else bytes.

        Raises:
            IBMExperimentEntryNotFound: if the file does not exist.
        """
        return self._call(
            _core.file_download, self._svc, experiment_id, file_name, _decoder(json_decoder)
        )

    def file_delete(self, experiment_id: str, file_name: str) -> None:
        """Delete a file. Asks first on a terminal when ``prompt_for_delete`` is set; a
        missing file is logged."""
        require_ident(experiment_id, "experiment_id")
        if self._confirm_delete("Are you sure you want to delete the experiment file? [y/N]: "):
            self._call(self._svc.file_delete, experiment_id, file_name)

    def experiment_has_file(self, experiment_id: str, file_name: str) -> bool:
        """Whether the experiment has a file of this name."""
        found: bool = self._call(self._svc.experiment_has_file, experiment_id, file_name)
        return found
