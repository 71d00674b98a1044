"""Device components (``"Q0"``, ``"R1"``, ...) as parsed objects that are still strings.

A :class:`DeviceComponent` is a ``str`` subclass: it compares, hashes, sorts and travels as
its text (``Qubit(0) == "Q0"``), so records hold components and the wire carries the same
strings as before. Only canonical forms are parsed (``"Q01"`` stays an
:class:`UnknownComponent`, never silently becomes ``"Q1"``).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["DeviceComponent", "Qubit", "Resonator", "UnknownComponent", "to_component"]

_INDEXED = re.compile(r"^([QR])(0|[1-9][0-9]*)$")


class DeviceComponent(str):
    """A device component: its text is its identity (``str(component)``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<{type(self).__name__}({str.__str__(self)})>"

    def __str__(self) -> str:
        return str.__str__(self)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return to_component, (str.__str__(self),)

    def __json_encode__(self) -> str:
        """The component's text (what every JSON form of it holds)."""
        return str.__str__(self)


def _index(value: Any, kind: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"a {kind} index is an int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"a {kind} index is not negative, not {value}")
    return value


class Qubit(DeviceComponent):
    """A qubit, ``Q<index>``."""

    __slots__ = ()

    def __new__(cls, index: int) -> Qubit:
        """Raises ``TypeError`` for an index that is not an int, ``ValueError`` below 0."""
        return super().__new__(cls, f"Q{_index(index, 'qubit')}")

    @property
    def index(self) -> int:  # type: ignore[override]
        """The qubit's index (as the reference names it; it shadows ``str.index``)."""
        return int(self[1:])


class Resonator(DeviceComponent):
    """A resonator, ``R<index>``."""

    __slots__ = ()

    def __new__(cls, index: int) -> Resonator:
        """Raises ``TypeError`` for an index that is not an int, ``ValueError`` below 0."""
        return super().__new__(cls, f"R{_index(index, 'resonator')}")

    @property
    def index(self) -> int:  # type: ignore[override]
        """The resonator's index (as the reference names it; it shadows ``str.index``)."""
        return int(self[1:])


class UnknownComponent(DeviceComponent):
    """Any other component, kept as its text."""

    __slots__ = ()

    def __new__(cls, component: str) -> UnknownComponent:
        """Raises ``TypeError`` for a component that is not a string."""
        if not isinstance(component, str):
            raise TypeError(f"a device component is a string, not {type(component).__name__}")
        return super().__new__(cls, component)

    @property
    def component(self) -> str:
        """The component's text."""
        return str.__str__(self)


def to_component(string: str) -> DeviceComponent:
    """Parse a component's text: ``"Q0"`` is ``Qubit(0)``, ``"R1"`` is ``Resonator(1)``,
    anything else an :class:`UnknownComponent`. A component is returned as it is.

    Raises:
        TypeError: for a value that is not a string.
    """
    if isinstance(string, DeviceComponent):
        return string
    if not isinstance(string, str):
        raise TypeError(f"a device component is a string, not {type(string).__name__}")
    match = _INDEXED.match(string)
    if match is None:
        return UnknownComponent(string)
    kind, index = match.groups()
    return Qubit(int(index)) if kind == "Q" else Resonator(int(index))
