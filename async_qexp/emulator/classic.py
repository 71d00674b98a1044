"""The part of the classic API a provider needs to log in (``docs/protocol.md#classic-backends``),
served at ``/`` and ``/api`` beside ``/Network``.

The old ``qiskit-ibmq-provider`` builds one provider per hub/group/project of ``/Network`` and
lists that project's backends while it does; a project whose listing fails has no provider,
so ``IBMQ.enable_account()`` finds none. Every project of a user sees the same backends: the
emulator's devices (``EmulatorConfig.devices``) and the backends of its runtime service, each
with a configuration a provider can build its backend objects from.

* ``GET /Network/{hub}/Groups/{group}/Projects/{project}/devices/v/1``: the configurations;
* ``GET …/devices/{name}/queue/status``: always operational; ``lengthQueue`` is the number of
  runtime jobs waiting for that backend;
* ``GET …/devices/{name}/properties`` and ``…/defaults``: ``{}`` (no calibration data and no
  pulse defaults; the provider reads that as "none").

A project that is not the caller's, or a backend it does not have, is 404.
"""

from __future__ import annotations

import re
from typing import Any

import attrs
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ._util import HTTPProblem, json_response
from .config import EmulatorConfig
from .state import state_of

__all__ = ["BASIS_GATES", "ClassicBackend", "classic_backends", "classic_routes"]

BASIS_GATES = ("id", "rz", "sx", "x", "cx", "reset")
"""The basis gates of every backend (those of IBM's devices)."""

_GATES: dict[str, tuple[tuple[str, ...], str]] = {
    "id": ((), "gate id q { U(0, 0, 0) q; }"),
    "rz": (("theta",), "gate rz(theta) q { U(0, 0, theta) q; }"),
    "sx": ((), "gate sx q { U(pi/2, 3*pi/2, pi/2) q; }"),
    "x": ((), "gate x q { U(pi, 0, pi) q; }"),
    "cx": ((), "gate cx q0, q1 { CX q0, q1; }"),
}
DEFAULT_QUBITS = 5
"""Qubits of a backend whose device lists no ``Q<n>`` component."""
_QUBIT = re.compile(r"Q\d+")
_ONLINE_DATE = "2021-01-01T00:00:00Z"
_VERSION = "1.0.0"


@attrs.frozen
class ClassicBackend:
    """A backend of the classic listing: its name, size, kind and whether runtime jobs run on it."""

    name: str
    n_qubits: int
    simulator: bool
    runtime: bool

    def configuration(self) -> dict[str, Any]:
        """The backend configuration (the fields of a Qiskit ``QasmBackendConfiguration``)."""
        coupling: list[list[int]] | None = None
        if not self.simulator:
            coupling = [[i, i + 1] for i in range(self.n_qubits - 1)]
            coupling += [[b, a] for a, b in coupling]
        gates = [
            {
                "name": name,
                "parameters": list(params),
                "qasm_def": qasm,
                **({"coupling_map": coupling} if name == "cx" and coupling else {}),
            }
            for name, (params, qasm) in _GATES.items()
        ]
        kind = "simulator" if self.simulator else "device"
        return {
            "backend_name": self.name,
            "backend_version": _VERSION,
            "n_qubits": self.n_qubits,
            "basis_gates": list(BASIS_GATES),
            "gates": gates,
            "local": False,
            "simulator": self.simulator,
            "conditional": False,
            "open_pulse": False,
            "memory": True,
            "max_shots": 100_000,
            "max_experiments": 300,
            "coupling_map": coupling,
            "online_date": _ONLINE_DATE,
            "credits_required": False,
            "description": f"async_qexp emulator {kind}",
            "input_allowed": ["job", "runtime"] if self.runtime else ["job"],
        }

    def status(self, queued: int) -> dict[str, Any]:
        """The ``queue/status`` answer with ``queued`` jobs waiting."""
        return {
            "state": True,
            "status": "active",
            "message": "",
            "lengthQueue": queued,
            "backend_version": _VERSION,
        }


def classic_backends(config: EmulatorConfig) -> tuple[ClassicBackend, ...]:
    """The backends of every project: the devices, then the runtime backends that are not one.

    A device's qubits are its ``Q<n>`` components (:data:`DEFAULT_QUBITS` if it has none); a
    backend whose name contains ``simulator`` is a simulator.
    """
    runtime = set(config.runtime_backends) if config.runtime else set()
    sizes: dict[str, int] = {}
    for device in config.devices:
        qubits = sum(1 for c in device.components if _QUBIT.fullmatch(c))
        sizes.setdefault(device.name, qubits or DEFAULT_QUBITS)
    for name in sorted(runtime - set(sizes), key=config.runtime_backends.index):
        sizes[name] = DEFAULT_QUBITS
    return tuple(
        ClassicBackend(name, n, "simulator" in name, name in runtime) for name, n in sizes.items()
    )


def _project(request: Request) -> tuple[ClassicBackend, ...]:
    """The backends of the path's hub/group/project (401 without a token, 404 if not the
    caller's)."""
    state = state_of(request)
    user = state.authenticate(request)
    p = request.path_params
    hgp = (p["hub"], p["group"], p["project"])
    if hgp not in user.hgps:
        raise HTTPProblem(404, f"hub/group/project {'/'.join(hgp)} not found")
    return classic_backends(state.config)


def _backend(request: Request) -> ClassicBackend:
    name = request.path_params["name"]
    for backend in _project(request):
        if backend.name == name:
            return backend
    raise HTTPProblem(404, f"backend {name} not found")


async def list_backends(request: Request) -> Response:
    """``GET /Network/{hub}/Groups/{group}/Projects/{project}/devices/v/1``."""
    return json_response([b.configuration() for b in _project(request)])


async def backend_status(request: Request) -> Response:
    """``GET …/devices/{name}/queue/status``."""
    backend = _backend(request)
    manager = state_of(request).runtime
    queued = 0
    if manager is not None and backend.runtime:
        from .runtime.manager import RuntimeManager

        if isinstance(manager, RuntimeManager):
            queued = await manager.queued(backend.name)
    return json_response(backend.status(queued))


async def backend_empty(request: Request) -> Response:
    """``GET …/devices/{name}/properties`` and ``…/defaults``: none (``{}``)."""
    _backend(request)
    return json_response({})


def classic_routes() -> list[BaseRoute]:
    """The classic routes, at the root and under ``/api``."""
    routes: list[BaseRoute] = []
    for prefix in ("", "/api"):
        project = prefix + "/Network/{hub}/Groups/{group}/Projects/{project}/devices"
        routes += [
            Route(project + "/v/1", list_backends, methods=["GET"]),
            Route(project + "/{name}/queue/status", backend_status, methods=["GET"]),
            Route(project + "/{name}/properties", backend_empty, methods=["GET"]),
            Route(project + "/{name}/defaults", backend_empty, methods=["GET"]),
        ]
    return routes
