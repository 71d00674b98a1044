"""Figures of an experiment: the container, naming rules, and conversion to SVG bytes.

A figure can be SVG ``bytes``, SVG text, the path of a file, or a matplotlib ``Figure``
(when matplotlib is installed). Reading files and rendering matplotlib figures happen in a
worker thread, so they never block the event loop; matplotlib rendering is serialised by one
lock because matplotlib is not thread-safe.
"""

from __future__ import annotations

import copy
import io
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
import attrs

from ..errors import EntryNotFound

__all__ = ["FigureData", "FigureStore", "figure_to_bytes", "free_name", "is_svg_text"]

_MATPLOTLIB_LOCK = threading.Lock()


def is_svg_text(value: str) -> bool:
    """Whether a string is SVG (or XML) markup rather than a file path."""
    head = value.lstrip()[:256].lower()
    return head.startswith("<") and ("<svg" in value[:4096].lower() or head.startswith("<?xml"))


@attrs.define(eq=True, repr=False)
class FigureData:
    """A figure with its name and metadata (``docs/behaviour.md#figures``).

    Its ``repr`` is short (``<FigureData T1_Q0.svg: SVG, 612 bytes>``); a notebook draws it.

    Attributes:
        figure: SVG bytes or text, a file path, or a matplotlib Figure.
        name: the figure's name (ends in ``.svg``).
        metadata: free-form metadata (kept locally; the service stores only the bytes).
    """

    figure: Any
    name: str
    metadata: dict[str, Any] = attrs.field(factory=dict)

    @metadata.validator
    def _check_metadata(self, _: Any, value: Any) -> None:
        if not isinstance(value, dict):
            raise ValueError("figure metadata must be a dict")

    def copy(self, new_name: str | None = None) -> FigureData:
        """A copy under ``new_name`` (the figure object is shared, the metadata deep-copied)."""
        return FigureData(self.figure, new_name or self.name, copy.deepcopy(self.metadata))

    def __repr__(self) -> str:
        figure = self.figure
        if isinstance(figure, bytes | bytearray | memoryview):
            what = f"SVG, {len(figure)} bytes"
        elif isinstance(figure, str) and is_svg_text(figure):
            what = f"SVG, {len(figure)} characters"
        elif isinstance(figure, str | os.PathLike):
            what = f"file {os.fspath(figure)}"
        else:
            what = type(figure).__name__
        extra = f", metadata {self.metadata}" if self.metadata else ""
        return f"<FigureData {self.name}: {what}{extra}>"

    def _repr_svg_(self) -> str | None:
        """SVG for Jupyter, when the figure is already SVG."""
        if isinstance(self.figure, bytes):
            return self.figure.decode("utf-8", errors="replace")
        if isinstance(self.figure, str) and is_svg_text(self.figure):
            return self.figure
        return None


def _render_matplotlib(figure: Any) -> bytes:
    buffer = io.BytesIO()
    with _MATPLOTLIB_LOCK:
        original = figure.get_facecolor()
        figure.set_facecolor((*original[:3], 1.0))
        try:
            figure.savefig(buffer, format="svg", bbox_inches="tight", edgecolor="none")
        finally:
            figure.set_facecolor(original)
    return buffer.getvalue()


def _is_matplotlib_figure(value: Any) -> bool:
    return type(value).__module__.startswith("matplotlib") and hasattr(value, "savefig")


def _to_bytes_sync(figure: Any) -> bytes:
    if isinstance(figure, FigureData):
        figure = figure.figure
    if isinstance(figure, bytes | bytearray | memoryview):
        return bytes(figure)
    if isinstance(figure, str):
        if is_svg_text(figure):
            return figure.encode("utf-8")
        return Path(figure).read_bytes()
    if isinstance(figure, os.PathLike):
        return Path(figure).read_bytes()
    if _is_matplotlib_figure(figure):
        return _render_matplotlib(figure)
    raise TypeError(f"unsupported figure type: {type(figure).__name__}")


async def figure_to_bytes(figure: Any) -> bytes:
    """The bytes to upload for a figure; file reads and rendering run in a worker thread."""
    raw = figure.figure if isinstance(figure, FigureData) else figure
    if isinstance(raw, bytes | bytearray | memoryview):
        return bytes(raw)
    if isinstance(raw, str) and is_svg_text(raw):
        return raw.encode("utf-8")
    return await anyio.to_thread.run_sync(_to_bytes_sync, raw)


def free_name(name: str, taken: set[str] | dict[str, Any]) -> str:
    """The first free name by the ``-N`` suffix rule of ``docs/behaviour.md#figures``.

    ``X.svg`` taken → ``X-1.svg``; ``fig-2.svg`` taken → ``fig-3.svg``.
    """
    if name not in taken:
        return name
    stem = name[: -len(".svg")] if name.endswith(".svg") else name
    prefix, _, suffix = stem.rpartition("-")
    if prefix and suffix.isdigit():
        number = int(suffix)
    else:
        prefix, number = stem, 0
    while True:
        number += 1
        candidate = f"{prefix}-{number}.svg"
        if candidate not in taken:
            return candidate


def _read_now(figure: Any) -> Any:
    """A figure given as a file path is read when it is added, as the reference does (so
    the file may change or go away afterwards); other figures are kept as they are."""
    if isinstance(figure, os.PathLike) or (isinstance(figure, str) and not is_svg_text(figure)):
        return Path(figure).read_bytes()
    return figure


def _figure_name(figure: Any, given: Any, default_name: Callable[[], str]) -> str:
    if given is not None:
        if not isinstance(given, str) or not given:
            raise TypeError(f"a figure name is a non-empty string, not {given!r}")
        return given
    if isinstance(figure, str) and not is_svg_text(figure):
        return figure
    if isinstance(figure, os.PathLike):
        return str(os.fspath(figure))
    if isinstance(figure, FigureData):
        return figure.name
    return default_name()


class FigureStore:
    """The figures of one container, by name, in the order they were added.

    An entry is ``None`` when the figure is known to be stored on the service but its content
    has not been downloaded yet (after a load). Every put gives the figure a new version, so a
    save knows which figures changed since they were stored.
    """

    def __init__(self) -> None:
        self._entries: dict[str, FigureData | None] = {}
        self._versions: dict[str, int] = {}
        self._counter = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        """The names, in the order the figures were added."""
        return list(self._entries)

    def put(self, name: str, entry: FigureData | None) -> None:
        """Add or replace a figure (``None``: stored remotely, not downloaded)."""
        self._entries[name] = entry
        self._counter += 1
        self._versions[name] = 0 if entry is None else self._counter

    def add(
        self,
        figures: Sequence[Any],
        names: Sequence[str | None],
        *,
        overwrite: bool,
        default_name: Callable[[], str],
        metadata: dict[str, Any],
    ) -> list[str]:
        """Add figures and return their names.

        A figure is named by its entry in ``names``, else by its own file path or
        :class:`FigureData` name, else by ``default_name()``; ``.svg`` is appended when
        missing, and a taken name gets a ``-N`` suffix unless ``overwrite``. Figures that are
        not :class:`FigureData` get ``metadata``. A file is read now.

        Raises:
            TypeError: for a name that is not a non-empty string.
            OSError: for a file that cannot be read.
        """
        added = []
        for figure, given in zip(figures, names, strict=True):
            name = _figure_name(figure, given, default_name)
            if not name.endswith(".svg"):
                name += ".svg"
            if not overwrite:
                name = free_name(name, self._entries)
            if isinstance(figure, FigureData):
                entry = figure.copy(name)
            else:
                entry = FigureData(_read_now(figure), name, copy.deepcopy(metadata))
            self.put(name, entry)
            added.append(name)
        return added

    def fill(self, name: str, entry: FigureData) -> None:
        """Set the downloaded content of a figure without changing its version."""
        if self._entries.get(name, entry) is None:
            self._entries[name] = entry

    def get(self, name: str) -> FigureData | None:
        """The figure's content (``None`` if not downloaded yet)."""
        return self._entries[name]

    def remove(self, name: str) -> None:
        """Forget a figure."""
        del self._entries[name]
        del self._versions[name]

    def versions(self) -> dict[str, int]:
        """The version of every figure, by name (0 for those not downloaded)."""
        return dict(self._versions)

    def snapshot(self) -> list[tuple[str, FigureData | None, int]]:
        """``(name, figure, version)`` of every figure, each figure as SVG bytes (matplotlib
        figures rendered, files read): what pickle and JSON keep of the store."""
        return [
            (
                name,
                None if entry is None else attrs.evolve(entry, figure=_to_bytes_sync(entry)),
                self._versions[name],
            )
            for name, entry in self._entries.items()
        ]

    def restore(self, figures: Sequence[tuple[str, FigureData | None, int]]) -> None:
        """Refill an empty store from :meth:`snapshot`, versions included."""
        for name, entry, version in figures:
            self._entries[name] = entry
            self._versions[name] = version
            self._counter = max(self._counter, version)

    def resolve(self, key: str | int) -> str:
        """A figure's name from its name (``.svg`` optional) or its position.

        Raises:
            EntryNotFound: for an unknown name or a position out of range.
            TypeError: for another kind of key.
        """
        names = list(self._entries)
        if isinstance(key, int) and not isinstance(key, bool):
            if not 0 <= key < len(names):
                raise EntryNotFound(f"Figure index {key} out of range.", status=404)
            return names[key]
        if isinstance(key, str):
            name = key if key.endswith(".svg") else key + ".svg"
            if name in self._entries:
                return name
            raise EntryNotFound(f"Figure key {key} not found.", status=404)
        raise TypeError("a figure key is a name or an index")
