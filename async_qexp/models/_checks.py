"""Argument checks shared by the models: a wrong type is a ``TypeError``, a bad value a
``ValueError``, and nothing is coerced silently.

The attrs validators here take ``(instance, attribute, value)`` and name the attribute in their
message; the ``require_*`` functions check a plain argument and name it.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import math
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ParamSpec, TypeVar

import attrs

from .components import to_component

__all__ = [
    "as_list",
    "boolean",
    "component_list",
    "ident",
    "mapping",
    "number",
    "optional",
    "reject_unknown_keywords",
    "require_bool",
    "require_ident",
    "require_int",
    "require_seconds",
    "require_str",
    "str_list",
    "text",
    "unknown_keywords",
    "warn_unknown_keywords",
]

P = ParamSpec("P")
R = TypeVar("R")

Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]

MAX_ID_LENGTH = 512


def _kind(value: Any) -> str:
    return type(value).__name__


def require_str(value: Any, name: str, *, empty: bool = True) -> str:
    """``value`` if it is a string (non-empty unless ``empty``)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, not {_kind(value)}")
    if not empty and not value:
        raise ValueError(f"{name} must not be empty")
    return value


def require_ident(value: Any, name: str) -> str:
    """``value`` if it can be an id in a URL path: a non-empty string without ``/``."""
    text = require_str(value, name, empty=False)
    if "/" in text or len(text) > MAX_ID_LENGTH or text in (".", ".."):
        raise ValueError(
            f"{name} must be an id (at most {MAX_ID_LENGTH} characters, no '/'), not {text!r}"
        )
    return text


def require_bool(value: Any, name: str) -> bool:
    """``value`` if it is a bool (``1`` and ``"no"`` are not)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {_kind(value)}")
    return value


def require_int(value: Any, name: str, *, minimum: int | None = None) -> int:
    """``value`` if it is an int (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {_kind(value)}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value!r}")
    return value


def require_seconds(value: Any, name: str, *, optional: bool = False, zero: bool = False) -> Any:
    """``value`` if it is a finite number of seconds (an int or float, not a bool) above 0, or
    at least 0 with ``zero``; ``None`` passes with ``optional``."""
    if value is None and optional:
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, not {_kind(value)}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        bound = "at least 0" if zero else "above 0"
        raise ValueError(f"{name} must be a finite number of seconds {bound}, not {value!r}")
    return value


def require_strings(value: Any, name: str) -> list[str]:
    """``value`` as a list if it is a list or tuple of strings (a lone string is not)."""
    if not isinstance(value, list | tuple):
        raise TypeError(f"{name} must be a list of strings, not {_kind(value)}")
    for item in value:
        if not isinstance(item, str):
            raise TypeError(f"{name} must hold strings only, not {_kind(item)} ({item!r})")
    return list(value)


# -- keywords --------------------------------------------------------------------------------


def unknown_keywords(call: str, unknown: Iterable[str], accepted: Iterable[str]) -> str:
    """A message naming each unknown keyword of ``call``, with the accepted ones closest to
    it (``difflib``), for a ``TypeError`` or a warning."""
    names = sorted(accepted)
    parts = []
    for keyword in sorted(unknown):
        close = difflib.get_close_matches(keyword, names, n=3, cutoff=0.6)
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        parts.append(f"{keyword!r}{hint}")
    plural = "s" if len(parts) > 1 else ""
    return f"{call}() got unexpected keyword argument{plural} {', '.join(parts)}"


def reject_unknown_keywords(function: Callable[P, R]) -> Callable[P, R]:
    """Make an unknown keyword argument of ``function`` a ``TypeError`` that names it and the
    accepted keywords closest to it: ``experiments(backend=...)`` says "did you mean
    'backend_name'?", where Python's own message names the keyword only. The signature, and
    so what mypy checks, is ``function``'s own."""
    parameters = inspect.signature(function).parameters
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    accepted = frozenset(n for n, p in parameters.items() if p.kind in kinds and n != "self")
    call = function.__name__

    @functools.wraps(function)
    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        if not accepted.issuperset(kwargs):
            unknown = [k for k in kwargs if k not in accepted]
            message = unknown_keywords(call, unknown, accepted)
            if "did you mean" not in message:
                message += "; it takes " + ", ".join(sorted(accepted))
            raise TypeError(message)
        return function(*args, **kwargs)

    checked.__rejects_unknown_keywords__ = True  # type: ignore[attr-defined]
    return checked


def warn_unknown_keywords(
    call: str, kwargs: Mapping[str, Any], accepted: Iterable[str], *, stacklevel: int = 3
) -> None:
    """Warn (``UserWarning``) that ``call`` ignores ``kwargs``, naming each with the accepted
    keywords closest to it: for the reference calls that take unsupported attributes and
    ignore them."""
    if kwargs:
        warnings.warn(
            unknown_keywords(call, kwargs, accepted) + ": ignored, as the reference client "
            "ignores them",
            UserWarning,
            stacklevel=stacklevel,
        )


# -- attrs validators and converters ------------------------------------------------------------


def text(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A string (possibly empty)."""
    require_str(value, attribute.name)


def ident(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """An id: a non-empty string without ``/``."""
    require_ident(value, attribute.name)


def boolean(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A bool."""
    require_bool(value, attribute.name)


def number(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A finite int or float (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{attribute.name} must be a number, not {_kind(value)}")
    if not math.isfinite(value):
        raise ValueError(f"{attribute.name} must be finite, not {value!r}")


def mapping(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A dict (its keys are checked when it is encoded)."""
    if not isinstance(value, dict):
        raise TypeError(f"{attribute.name} must be a dict, not {_kind(value)}")


def str_list(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A list of strings."""
    require_strings(value, attribute.name)


def optional(validator: Validator) -> Validator:
    """``validator``, or ``None``."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None:
            validator(instance, attribute, value)

    return check


def as_list(value: Any) -> Any:
    """A tuple as a list (other values are left for the validator to judge)."""
    return list(value) if isinstance(value, tuple) else value


def as_dict(value: Any) -> Any:
    """A read-only mapping as a dict (other values are left for the validator to judge)."""
    return dict(value) if isinstance(value, Mapping) and not isinstance(value, dict) else value


def _is_component(value: Any) -> bool:
    """A device component: a string, or an object with a string form of its own (such as
    qiskit-experiments' ``Qubit(0)``, whose ``str()`` is ``"Q0"``); not a number."""
    if isinstance(value, str):
        return True
    if isinstance(value, int | float | complex | bytes | bytearray) or value is None:
        return False
    own_str: Any = type(value).__str__
    return own_str is not object.__str__


def component_list(value: Any) -> list[str]:
    """Device components as a list of parsed components (``str`` subclasses, see
    :mod:`async_qexp.models.components`); a single component is wrapped in a list.

    Raises:
        TypeError: for anything that is not a component or a list or tuple of them.
    """
    if value is None:
        return []
    if isinstance(value, list | tuple):
        for item in value:
            if not _is_component(item):
                raise TypeError(
                    f"a device component is a string such as 'Q0', not {_kind(item)} ({item!r})"
                )
        return [to_component(str(item)) for item in value]
    if _is_component(value):
        return [to_component(str(value))]
    raise TypeError(f"device_components must be a list of components, not {_kind(value)}")
