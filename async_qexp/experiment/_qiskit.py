"""Qiskit results as raw data: what ``add_data`` and a job's result turn into data items.

Looked at only when ``qiskit`` is imported already (a Qiskit result cannot exist otherwise);
nothing here imports Qiskit on its own. The items are those the reference container makes
(``docs/behaviour.md#jobs-and-raw-data``):

* a backend ``Result``: one item per experiment, ``result.data(i)`` with the counts as
  ``get_counts(i)`` (bit strings, not hex), ``metadata`` (the circuit's), ``shots``,
  ``meas_level`` and, when known, ``meas_return``; its ``job_id`` is the result's.
* a ``PrimitiveResult`` (or one pub result): one item per pub. A sampler pub's bits become
  ``counts``, ``memory`` (bit strings) and ``shots`` at ``meas_level`` 2; level-1 IQ data
  becomes ``memory`` as ``[..., 2]`` arrays of real and imaginary parts. Any other pub (an
  estimator's) keeps its data fields by name (``evs``, ``stds``). ``metadata`` is the
  circuit metadata the primitive reports, else that of the job's input circuit.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["is_qiskit_result", "qiskit_items"]

Data = list[dict[str, Any]]


def is_qiskit_result(value: Any) -> bool:
    """Whether ``value`` is a Qiskit backend result, primitive result or pub result."""
    if "qiskit" not in sys.modules or not type(value).__module__.startswith("qiskit"):
        return False
    from qiskit.primitives import PrimitiveResult, PubResult
    from qiskit.result import Result

    return isinstance(value, Result | PrimitiveResult | PubResult)


def qiskit_items(result: Any, job_id: str | None, job: Any = None) -> Data:
    """The data items of a Qiskit result (see the module docstring).

    Args:
        result: a ``Result``, ``PrimitiveResult`` or pub result.
        job_id: the job the result came from (a backend result says its own).
        job: the job object, if known (its input circuits give missing metadata).

    Raises:
        ValueError: for a parameterised sampler pub whose circuit does not ask for
            averaging (``average_params`` in its metadata), as the reference refuses it.
    """
    from qiskit.result import Result

    if isinstance(result, Result):
        return _backend_items(result, job_id or result.job_id)
    from qiskit.primitives import PubResult

    pubs = [result] if isinstance(result, PubResult) else list(result)
    return [_pub_item(pub, i, job_id, job) for i, pub in enumerate(pubs)]


def _backend_items(result: Any, job_id: str | None) -> Data:
    items = []
    for i, experiment in enumerate(result.results):
        item: dict[str, Any] = dict(result.data(i))
        if job_id is not None:
            item["job_id"] = job_id
        if "counts" in item:
            item["counts"] = dict(result.get_counts(i))
        header = getattr(experiment, "header", None)
        if header is not None:
            metadata = getattr(header, "metadata", None)
            if metadata is None and isinstance(header, dict):
                metadata = header.get("metadata")
            item["metadata"] = metadata or {}
        item["shots"] = experiment.shots
        item["meas_level"] = experiment.meas_level
        if getattr(experiment, "meas_return", None) is not None:
            item["meas_return"] = experiment.meas_return
        items.append(item)
    return items


def _pub_item(pub: Any, index: int, job_id: str | None, job: Any) -> dict[str, Any]:
    import numpy as np
    from qiskit.primitives import BitArray

    item: dict[str, Any] = {} if job_id is None else {"job_id": job_id}
    metadata = dict(pub.metadata or {})
    fields = dict(pub.data.items()) if pub.data else {}
    bits = {name: value for name, value in fields.items() if isinstance(value, BitArray)}
    sampled = bool(bits) and len(bits) == len(fields)
    iq = len(fields) == 1 and np.iscomplexobj(next(iter(fields.values())))
    if (sampled or iq) and pub.data.shape:
        average = bool(metadata.get("circuit_metadata", {}).get("average_params", False))
        if not (average and sampled):
            raise ValueError(
                f"pub {index} has outer dimensions {pub.data.shape}: only unparameterised pubs "
                "can be added, unless the circuit metadata asks to average them "
                "(average_params) and they were measured at level 2"
            )
    if sampled:
        joined = pub.join_data(list(bits))
        item["meas_level"] = 2
        item["meas_return"] = "single"
        item["counts"] = dict(joined.get_counts())
        item["memory"] = joined.get_bitstrings()
        item["shots"] = len(item["memory"])
    elif iq:
        values = np.asarray(next(iter(fields.values())))
        item["meas_level"] = 1
        item["meas_return"] = "avg" if values.ndim == 1 else "single"
        item["shots"] = 1 if values.ndim == 1 else values.shape[0]
        item["memory"] = np.stack([values.real, values.imag], axis=-1)
    else:
        item.update(fields)
    if "circuit_metadata" in metadata:
        item["metadata"] = metadata["circuit_metadata"]
    else:
        circuit = _input_circuit(job, index)
        if circuit is not None:
            item["metadata"] = circuit.metadata
    return item


def _input_circuit(job: Any, index: int) -> Any:
    """The circuit of the job's ``index``-th input pub, when the job says."""
    try:
        pub = job.inputs["pubs"][index]
    except (AttributeError, KeyError, IndexError, TypeError):
        return None
    circuit = pub[0] if isinstance(pub, tuple | list) else getattr(pub, "circuit", None)
    return circuit if hasattr(circuit, "metadata") else None
