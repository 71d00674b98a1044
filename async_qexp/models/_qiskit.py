"""Qiskit objects in the JSON envelopes, written with Qiskit's own serialisation.

Only used when Qiskit is there: values are looked at only if ``qiskit`` is imported already
(a Qiskit object cannot exist otherwise), and an envelope of these tags imports Qiskit only
when it is installed (without it the envelope stays as it is, like any unknown envelope).

========================= ============================================================
tag                       payload
========================= ============================================================
``QuantumCircuit``        QPY bytes (``qiskit.qpy.dump``) as a binary payload
``Instruction``           a one-instruction circuit, the same way
``ParameterExpression``   a circuit whose global phase is the expression, the same way
                          (QPY's own expression bytes, as older clients wrote them, are
                          read too)
``qiskit.quantum_info``   ``{"class": <name>, "settings": <the object's settings>}``
========================= ============================================================

These are the forms qiskit-experiments writes, so what either client saves the other reads.
A ``qiskit.quantum_info`` envelope is rebuilt only for a class of that module that has
``settings``: nothing else is ever imported or called from a message.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["TAGS", "qiskit_envelope", "qiskit_value"]

_QPY_MAGIC = b"QISKIT"


def qiskit_envelope(
    value: Any, binary: Callable[[bytes, bool], Any], *, quantum_info: bool = True
) -> dict[str, Any] | None:
    """The envelope of a Qiskit object, or ``None`` when ``value`` is none (or Qiskit is not
    imported). ``binary(data, compress)`` writes a binary payload in the caller's dialect;
    without ``quantum_info`` those objects are left to the caller (the runtime dialect writes
    them as ``settings`` envelopes, as the runtime's own clients do)."""
    if "qiskit" not in sys.modules or not type(value).__module__.startswith("qiskit"):
        return None
    from qiskit import QuantumCircuit, qpy
    from qiskit.circuit import Instruction, ParameterExpression

    if isinstance(value, QuantumCircuit):
        return _envelope("QuantumCircuit", binary(_qpy_bytes(qpy, value), True))
    if isinstance(value, Instruction):
        circuit = QuantumCircuit(value.num_qubits, value.num_clbits)
        circuit.append(value, range(value.num_qubits), range(value.num_clbits))
        return _envelope("Instruction", binary(_qpy_bytes(qpy, circuit), True))
    if isinstance(value, ParameterExpression):
        carrier = QuantumCircuit(global_phase=value)  # QPY's public API writes circuits only
        return _envelope("ParameterExpression", binary(_qpy_bytes(qpy, carrier), True))
    cls = _quantum_info_class(type(value).__name__) if quantum_info else None
    if cls is not None and cls is type(value):
        return _envelope("qiskit.quantum_info", {"class": cls.__name__, "settings": value.settings})
    return None


def _envelope(tag: str, payload: Any) -> dict[str, Any]:
    return {"__type__": tag, "__value__": payload}


def _qpy_bytes(qpy: Any, circuit: Any) -> bytes:
    buffer = io.BytesIO()
    qpy.dump(circuit, buffer)
    return buffer.getvalue()


def _quantum_info_class(name: Any) -> Any:
    """The ``qiskit.quantum_info`` class of that name with ``settings``, else ``None``."""
    if not isinstance(name, str) or not name.isidentifier():
        return None
    module = importlib.import_module("qiskit.quantum_info")
    cls = getattr(module, name, None)
    if isinstance(cls, type) and isinstance(getattr(cls, "settings", None), property):
        return cls
    return None


def _installed() -> bool:
    return "qiskit" in sys.modules or importlib.util.find_spec("qiskit") is not None


def qiskit_value(tag: str, payload: Any, bytes_of: Callable[[Any], bytes]) -> Any:
    """The Qiskit object of one of the envelopes above (``payload`` decoded already).

    Raises:
        LookupError: when Qiskit is not installed (the envelope is then kept as it is).
        ValueError: for a payload Qiskit cannot read, or a class that is not allowed.
    """
    if not _installed():
        raise LookupError("Qiskit is not installed")
    if tag == "qiskit.quantum_info":
        cls = _quantum_info_class(payload["class"])
        if cls is None:
            raise ValueError(f"not a qiskit.quantum_info class: {payload['class']!r}")
        return cls(**payload["settings"])
    from qiskit import qpy

    raw = bytes_of(payload)
    try:
        if tag == "ParameterExpression" and not raw.startswith(_QPY_MAGIC):
            return qpy._read_parameter_expression(io.BytesIO(raw))  # older clients' form
        (circuit,) = qpy.load(io.BytesIO(raw))
    except Exception as exc:  # QPY raises its own errors for malformed bytes
        raise ValueError(f"not a {tag} in QPY: {exc}") from exc
    if tag == "ParameterExpression":
        return circuit.global_phase
    return circuit.data[0].operation if tag == "Instruction" else circuit


TAGS = ("QuantumCircuit", "Instruction", "ParameterExpression", "qiskit.quantum_info")
"""The envelope tags of this module."""
