"""The records the runtime service speaks: programs, jobs, listings and the run request.

Every runtime response is read here and every run request is written here, so a field name of
the runtime wire appears in this module only (``docs/protocol.md#runtime-rest-api``,
``docs/protocol.md#runtime-jobs``). A malformed response (``{}`` for a job, a listing without
its items) raises ``ValueError``; the runtime client turns that into an
:class:`~async_qexp.errors.ApiError` naming the request. Arguments of a run request are checked
when the request is made: a wrong type is a ``TypeError``, a bad value a ``ValueError``.
"""

from __future__ import annotations

import base64
import enum
import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import attrs

from ._checks import require_bool, require_ident, require_int, require_str
from .envelopes import loads_runtime
from .timeutil import parse_datetime

__all__ = [
    "JobRecord",
    "JobStatus",
    "RuntimeOptions",
    "RuntimeProgram",
    "created_id",
    "interim_texts",
    "job_listing",
    "program_listing",
    "program_source",
    "program_update",
    "program_upload",
    "run_request",
]

T = TypeVar("T")


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


# -- listings and creations ---------------------------------------------------------------------


def _listing(body: Any, key: str, read: Callable[[Any], T]) -> tuple[list[T], int]:
    """The items of a ``{key: [...], "count": <total>}`` listing, and its count."""
    if not isinstance(body, Mapping):
        raise ValueError(f"a listing is a JSON object, not {type(body).__name__}")
    items = body.get(key)
    if not isinstance(items, list):
        raise ValueError(f"the listing has no {key!r} list")
    count = body.get("count")
    if isinstance(count, bool) or not isinstance(count, int):
        raise ValueError(f"the listing has no integer 'count', but {count!r}")
    return [read(item) for item in items], count


def job_listing(body: Any) -> tuple[list[JobRecord], int]:
    """The job records of a ``GET /jobs`` answer, and how many jobs match in all.

    Raises:
        ValueError: for an answer without a ``jobs`` list or a ``count``, or a malformed record.
    """
    return _listing(body, "jobs", JobRecord.from_wire)


def program_listing(body: Any) -> tuple[list[RuntimeProgram], int]:
    """The programs of a ``GET /programs`` answer, and how many there are in all.

    Raises:
        ValueError: for an answer without a ``programs`` list or a ``count``, or a malformed
            record.
    """
    return _listing(body, "programs", RuntimeProgram.from_wire)


def created_id(body: Any, what: str) -> str:
    """The id of what a ``POST`` created (``{"id": ...}``).

    Raises:
        ValueError: for an answer without an id.
    """
    if not isinstance(body, Mapping):
        raise ValueError(f"the answer is a JSON object, not {type(body).__name__}")
    return _required_id(body, what)


def created_job(body: Any) -> tuple[str, datetime | None]:
    """The id of the job a ``POST /jobs`` created, and when, if the server said.

    Raises:
        ValueError: for an answer without an id.
    """
    job_id = created_id(body, "job")
    try:
        return job_id, parse_datetime(str(body["created"])) if body.get("created") else None
    except ValueError:
        return job_id, None


def interim_texts(text: str) -> list[str]:
    """The interim messages in a ``GET /jobs/{id}/interim_results`` body, each as JSON text.

    The body is a JSON array of the messages (one value is read as a list of one); an empty
    body holds none.

    Raises:
        ValueError: for a body that is not JSON.
    """
    if not text:
        return []
    parsed = json.loads(text)
    items = parsed if isinstance(parsed, list) else [parsed]
    return [item if isinstance(item, str) else json.dumps(item) for item in items]


# -- the run request ----------------------------------------------------------------------------

_IMAGE = re.compile(r"^[a-zA-Z0-9]+([/.\-_][a-zA-Z0-9]+)*:[a-zA-Z0-9]+([.\-_][a-zA-Z0-9]+)*$")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_OPTION_NAMES = ("backend_name", "image", "log_level")


def _backend_name(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None or value == "":
        raise ValueError("options: backend_name is required")
    require_str(value, "options: backend_name")


def _image(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not _IMAGE.match(require_str(value, "options: image")):
        raise ValueError(f"options: image must look like 'name:tag', not {value!r}")


def _log_level(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and require_str(value, "options: log_level").upper() not in _LOG_LEVELS:
        raise ValueError(f"options: log_level must be one of {', '.join(_LOG_LEVELS)}")


@attrs.frozen(kw_only=True)
class RuntimeOptions:
    """Where and how a program runs.

    Attributes:
        backend_name: the backend to run on (required).
        image: the runtime image, ``name:tag``.
        log_level: the program's logging level (``DEBUG`` ... ``CRITICAL``, any case).

    Raises:
        TypeError: for a value that is not a string.
        ValueError: for a missing backend name, an image that is not ``name:tag`` or an
            unknown logging level.
    """

    backend_name: str = attrs.field(validator=_backend_name)
    image: str | None = attrs.field(default=None, validator=_image)
    log_level: str | None = attrs.field(default=None, validator=_log_level)

    @classmethod
    def of(cls, options: Any) -> RuntimeOptions:
        """``options`` as a :class:`RuntimeOptions`: one already, or a mapping of its fields.

        Raises:
            TypeError: for anything else, or a field of the wrong type.
            ValueError: for an unknown key or a bad value.
        """
        if isinstance(options, RuntimeOptions):
            return options
        if not isinstance(options, Mapping):
            raise TypeError(
                f"options must be a RuntimeOptions or a dict, not {type(options).__name__}"
            )
        unknown = [key for key in options if key not in _OPTION_NAMES]
        if unknown:
            raise ValueError(f"unknown runtime options: {', '.join(map(repr, unknown))}")
        if "backend_name" not in options:
            raise ValueError("options: backend_name is required")
        return cls(**options)


def run_request(
    program_id: Any,
    options: RuntimeOptions,
    inputs: Any,
    *,
    hub: str | None = None,
    group: str | None = None,
    project: str | None = None,
) -> dict[str, Any]:
    """The body of ``POST /jobs``: run ``program_id`` with ``inputs`` as ``options`` say.

    ``hub``, ``group`` and ``project`` are sent when ``hub`` is given. The inputs are left
    as they are; the body is serialised with the runtime envelopes
    (:func:`~async_qexp.models.envelopes.dumps_runtime`).

    Raises:
        TypeError: for a program id that is not a string, or inputs that are not a mapping
            with string keys.
        ValueError: for a program id that cannot be an id.
    """
    body: dict[str, Any] = {"program_id": require_ident(program_id, "program_id")}
    if not isinstance(inputs, Mapping):
        raise TypeError(f"inputs must be a dict, not {type(inputs).__name__}")
    for name in inputs:
        if not isinstance(name, str):
            raise TypeError(f"input names must be strings, not {type(name).__name__} ({name!r})")
    if hub is not None:
        body.update(hub=hub, group=group, project=project)
    body.update(backend=options.backend_name, params=dict(inputs), runtime=options.image)
    if options.log_level:
        body["log_level"] = options.log_level.upper()
    return body


# -- program uploads and updates ----------------------------------------------------------------

_SPEC_PARTS = ("backend_requirements", "parameters", "return_values", "interim_results")
_REQUIRED_METADATA = ("name", "max_execution_time", "description")


def program_source(source: str) -> str:
    """A program's source as the wire carries it: base64 of its UTF-8 text."""
    return base64.standard_b64encode(source.encode("utf-8")).decode("ascii")


def _schema(value: Any, name: str) -> Any:
    """A JSON schema (or the older list form of parameters): a mapping or a list."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, list | tuple):
        return list(value)
    raise TypeError(f"{name} must be a dict, not {type(value).__name__}")


def program_upload(metadata: Mapping[str, Any], source: str, *, is_public: bool) -> dict[str, Any]:
    """The body of ``POST /programs``.

    ``metadata`` holds ``name``, ``max_execution_time`` and ``description`` (all required),
    and may hold ``version`` and the parts of the spec (``backend_requirements``,
    ``parameters``, ``return_values``, ``interim_results``; empty ones are not sent).

    Raises:
        ValueError: for missing metadata, or a maximum execution time below 1.
        TypeError: for metadata of the wrong type.
    """
    missing = [key for key in _REQUIRED_METADATA if not metadata.get(key)]
    if missing:
        raise ValueError(f"missing program metadata: {', '.join(missing)}")
    body: dict[str, Any] = {
        "name": require_str(metadata["name"], "name"),
        "data": program_source(source),
        "cost": require_int(metadata["max_execution_time"], "max_execution_time", minimum=1),
        "description": require_str(metadata["description"], "description"),
        "is_public": require_bool(is_public, "is_public"),
    }
    spec = {key: _schema(metadata[key], key) for key in _SPEC_PARTS if metadata.get(key)}
    if spec:
        body["spec"] = spec
    version = metadata.get("version")
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, str | int | float):
            raise TypeError(f"version must be a number or a string, not {type(version).__name__}")
        body["version"] = str(version)
    return body


def program_update(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The body of ``PATCH /programs/{id}``: the given ones of ``name``, ``description``,
    ``max_execution_time`` and ``spec`` (empty values are not sent).

    Raises:
        TypeError: for a value of the wrong type.
        ValueError: for a maximum execution time below 1.
    """
    patch: dict[str, Any] = {}
    if metadata.get("name"):
        patch["name"] = require_str(metadata["name"], "name")
    if metadata.get("description"):
        patch["description"] = require_str(metadata["description"], "description")
    if metadata.get("max_execution_time"):
        patch["cost"] = require_int(metadata["max_execution_time"], "max_execution_time", minimum=1)
    spec = metadata.get("spec")
    if spec:
        if not isinstance(spec, Mapping):
            raise TypeError(f"spec must be a dict, not {type(spec).__name__}")
        patch["spec"] = dict(spec)
    return patch
