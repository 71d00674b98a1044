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
from pathlib import Path
from typing import Any

import anyio
import attrs

__all__ = ["FigureData", "figure_to_bytes", "free_name", "is_svg_text"]

_MATPLOTLIB_LOCK = threading.Lock()


def is_svg_text(value: str) -> bool:
    """Whether a string is SVG (or XML) markup rather than a file path."""
    head = value.lstrip()[:256].lower()
    return head.startswith("<") and ("<svg" in value[:4096].lower() or head.startswith("<?xml"))


@attrs.define(eq=True)
class FigureData:
    """A figure with its name and metadata (BEHAVIOUR §6.5).

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
    """The first free name by the ``-N`` suffix rule of BEHAVIOUR M-6.1.4.

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
