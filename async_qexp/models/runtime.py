"""The records the runtime service speaks: programs, job records and job statuses.

A malformed record from the server (``{}`` for a job, say) raises ``ValueError`` here; the
runtime client turns that into an :class:`~async_qexp.errors.ApiError` naming the request
(``docs/protocol.md#runtime-jobs``).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from .envelopes import loads_runtime
from .timeutil import parse_datetime

__all__ = ["JobRecord", "JobStatus", "RuntimeProgram"]


class JobStatus(str, enum.Enum):
    """The status of a runtime job."""

    INITIALIZING = "INITIALIZING"
    """Not polled yet."""
    VALIDATING = "VALIDATING"
    """Being validated (reported by some job types; never by the runtime service)."""
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    DONE = "DONE"
    """Completed: the result is available."""
    CANCELLED = "CANCELLED"
    ERROR = "ERROR"
    """Failed, or cancelled for running longer than its maximum execution time."""

    @property
    def is_final(self) -> bool:
        """Whether the job has finished (its status will not change again)."""
        return self in (JobStatus.DONE, JobStatus.CANCELLED, JobStatus.ERROR)


RAN_TOO_LONG = "RAN TOO LONG"
"""The server's status name of a job stopped at its maximum execution time."""

_STATUS_MAP = {
    "QUEUED": JobStatus.QUEUED,
    "RUNNING": JobStatus.RUNNING,
    "COMPLETED": JobStatus.DONE,
    "FAILED": JobStatus.ERROR,
    "CANCELLED": JobStatus.CANCELLED,
    RAN_TOO_LONG: JobStatus.ERROR,
}


def server_status_name(record: Mapping[str, Any]) -> str:
    """The server's status name: ``COMPLETED``, ``FAILED``, ``RAN TOO LONG``, ...

    Prefers the newer ``state: {status, reason}`` and falls back to the older ``status``.
    """
    state = record.get("state")
    if isinstance(state, dict) and state.get("status"):
        name = str(state["status"]).upper()
        reason = str(state.get("reason") or "").upper()
        if name == "CANCELLED" and reason == RAN_TOO_LONG:
            return RAN_TOO_LONG
        return name
    name = str(record.get("status") or "").upper()
    return RAN_TOO_LONG if name == "CANCELLED - RAN TOO LONG" else name


def decode_params(params: Any) -> dict[str, Any]:
    """A job's stored inputs: a dict, a one-element list of it, or a JSON string of it."""
    if isinstance(params, list):
        params = params[0] if params else {}
    if isinstance(params, str):
        params = json.loads(params) if params else {}
    decoded = loads_runtime(json.dumps(params)) if params else {}
    return decoded if isinstance(decoded, dict) else {"value": decoded}


def _required_id(record: Mapping[str, Any], what: str) -> str:
    value = record.get("id")
    if not isinstance(value, str) or not value:
        raise ValueError(f"the {what} record has no id")
    return value


@attrs.frozen(kw_only=True)
class JobRecord:
    """What ``GET /jobs/{id}`` (or a job listing) says about a job.

    Attributes:
        job_id: the job's id.
        program_id: the program it runs.
        backend: the backend name.
        status_name: the server's status name (``COMPLETED``, ``RAN TOO LONG``, ...).
        status: ``status_name`` as a :class:`JobStatus`; ``None`` for a name this client
            does not know.
        created: when the job was created, if the server said.
        inputs: the decoded program inputs.
    """

    job_id: str
    program_id: str
    backend: str
    status_name: str
    status: JobStatus | None
    created: datetime | None = None
    inputs: dict[str, Any] = attrs.field(factory=dict)

    @classmethod
    def from_wire(cls, record: Any) -> JobRecord:
        """Read a job record.

        Raises:
            ValueError: for a record without an id, or with unreadable inputs.
        """
        if not isinstance(record, Mapping):
            raise ValueError(f"a job record is a JSON object, not {type(record).__name__}")
        program = record.get("program") or {}
        program_id = program.get("id", "") if isinstance(program, Mapping) else program
        name = server_status_name(record)
        created: datetime | None = None
        if record.get("created"):
            try:
                created = parse_datetime(str(record["created"]))
            except ValueError:
                created = None
        try:
            inputs = decode_params(record.get("params"))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"the job's params cannot be read: {exc}") from None
        return cls(
            job_id=_required_id(record, "job"),
            program_id=str(program_id or ""),
            backend=str(record.get("backend") or ""),
            status_name=name,
            status=_STATUS_MAP.get(name),
            created=created,
            inputs=inputs,
        )


def _spec_part(spec: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = spec.get(key)
    return dict(value) if isinstance(value, Mapping) else {}


@attrs.frozen(kw_only=True)
class RuntimeProgram:
    """A runtime program's metadata (and its source, for its author)."""

    program_id: str
    name: str
    description: str = ""
    max_execution_time: int = 0
    is_public: bool = False
    creation_date: str = ""
    update_date: str = ""
    backend_requirements: dict[str, Any] = attrs.field(factory=dict)
    parameters: dict[str, Any] = attrs.field(factory=dict)
    return_values: dict[str, Any] = attrs.field(factory=dict)
    interim_results: dict[str, Any] = attrs.field(factory=dict)
    data: str = ""

    @classmethod
    def from_wire(cls, record: Any) -> RuntimeProgram:
        """Read a program record.

        Raises:
            ValueError: for a record without an id or with a malformed field.
        """
        if not isinstance(record, Mapping):
            raise ValueError(f"a program record is a JSON object, not {type(record).__name__}")
        program_id = _required_id(record, "program")
        spec: Mapping[str, Any] = record["spec"] if isinstance(record.get("spec"), Mapping) else {}
        try:
            cost = int(record.get("cost") or 0)
        except (TypeError, ValueError):
            raise ValueError(
                f"the program's cost is not a number: {record.get('cost')!r}"
            ) from None
        return cls(
            program_id=program_id,
            name=str(record.get("name") or program_id),
            description=str(record.get("description") or ""),
            max_execution_time=cost,
            is_public=bool(record.get("is_public")),
            creation_date=str(record.get("creation_date") or ""),
            update_date=str(record.get("update_date") or ""),
            backend_requirements=_spec_part(spec, "backend_requirements"),
            parameters=_spec_part(spec, "parameters"),
            return_values=_spec_part(spec, "return_values"),
            interim_results=_spec_part(spec, "interim_results"),
            data=str(record.get("data") or ""),
        )

    def __str__(self) -> str:
        lines = [
            f"{self.program_id}:",
            f"  Name: {self.name}",
            f"  Description: {self.description}",
            f"  Max execution time: {self.max_execution_time} s",
            f"  Public: {self.is_public}",
        ]
        if self.creation_date:
            lines.append(f"  Created: {self.creation_date}")
        properties = self.parameters.get("properties") or {}
        if isinstance(properties, Mapping) and properties:
            required = set(self.parameters.get("required") or [])
            lines.append("  Input parameters:")
            for name, schema in properties.items():
                kind = schema.get("type", "any") if isinstance(schema, Mapping) else "any"
                needed = ", required" if name in required else ""
                lines.append(f"    - {name} ({kind}{needed})")
        return "\n".join(lines)
