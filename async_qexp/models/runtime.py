"""The records the runtime service speaks: programs, jobs, listings and the run request.

Every runtime response is read here and every run request is written here, so a field name of
the runtime wire appears in this module only (``docs/protocol.md#runtime-rest-api``,
``docs/protocol.md#runtime-jobs``). A malformed response (``{}`` for a job, a listing without
its items) raises ``ValueError``; the runtime client turns that into an
:class:`~async_qexp.errors.ApiError` naming the request. A program record is the exception: it
holds what users stored, so it is read as far as it goes and what could not be read is reported
(:mod:`async_qexp.models.program_spec`). Arguments of a run request are checked
when the request is made: a wrong type is a ``TypeError``, a bad value a ``ValueError``.
"""

from __future__ import annotations

import base64
import enum
import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import attrs

from ._checks import require_bool, require_ident, require_int, require_str
from .envelopes import loads_runtime
from .program_spec import (
    SPEC_PARTS,
    ProgramParameter,
    ProgramResult,
    parameter_items,
    read_spec,
    result_items,
    spec_for_upload,
)
from .timeutil import parse_datetime

__all__ = [
    "JobRecord",
    "JobStatus",
    "ProgramParameter",
    "ProgramResult",
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


@attrs.frozen(kw_only=True)
class RuntimeProgram:
    """A runtime program's metadata (and its source, for its author).

    ``parameters``, ``return_values`` and ``interim_results`` are JSON schemas
    (``docs/protocol.md#programs``); a program uploaded with lists of items has them as the
    schema of an object with one property per item, and :meth:`parameter_items`,
    :meth:`return_value_items` and :meth:`interim_result_items` give the items back.

    Attributes:
        program_id: the program's id.
        name: its name.
        description: what it does.
        max_execution_time: the seconds a run may take (``cost`` on the wire).
        is_public: whether every user may run it.
        creation_date: when it was uploaded (the server's UTC text).
        update_date: when it last changed (the server's UTC text).
        version: its version, if the server says.
        backend_requirements: what a backend needs to run it.
        parameters: the JSON schema of its inputs.
        return_values: the JSON schema of its final result.
        interim_results: the JSON schema of the messages it publishes.
        data: its source, for its author only (``""`` otherwise).
    """

    program_id: str
    name: str
    description: str = ""
    max_execution_time: int = 0
    is_public: bool = False
    creation_date: str = ""
    update_date: str = ""
    version: str | None = None
    backend_requirements: dict[str, Any] = attrs.field(factory=dict)
    parameters: dict[str, Any] = attrs.field(factory=dict)
    return_values: dict[str, Any] = attrs.field(factory=dict)
    interim_results: dict[str, Any] = attrs.field(factory=dict)
    data: str = ""

    @classmethod
    def from_wire(cls, record: Any, problems: list[str] | None = None) -> RuntimeProgram:
        """Read a program record, leniently: a field or spec part that cannot be read is left
        at its default and described in ``problems`` (when given), so one malformed program
        does not make the listing of every other one fail.

        Raises:
            ValueError: for a record that is not a JSON object or has no id.
        """
        if not isinstance(record, Mapping):
            raise ValueError(f"a program record is a JSON object, not {type(record).__name__}")
        program_id = _required_id(record, "program")
        unread: list[str] = []
        cost = record.get("cost")
        if cost is None:
            cost = 0
        elif isinstance(cost, bool) or not isinstance(cost, int):
            unread.append(f"cost: not a whole number of seconds, read as 0: {cost!r}")
            cost = 0
        version = record.get("version")
        if version is not None and not isinstance(version, str | int | float):
            unread.append(f"version: not a number or text, ignored: {version!r}")
            version = None
        spec = read_spec(record.get("spec"), unread)
        if problems is not None:
            problems.extend(f"program {program_id}: {problem}" for problem in unread)
        return cls(
            program_id=program_id,
            name=str(record.get("name") or program_id),
            description=str(record.get("description") or ""),
            max_execution_time=cost,
            is_public=bool(record.get("is_public")),
            creation_date=str(record.get("creation_date") or ""),
            update_date=str(record.get("update_date") or ""),
            version=None if version is None else str(version),
            backend_requirements=spec["backend_requirements"],
            parameters=spec["parameters"],
            return_values=spec["return_values"],
            interim_results=spec["interim_results"],
            data=str(record.get("data") or ""),
        )

    def parameter_items(self) -> list[ProgramParameter]:
        """The input parameters :attr:`parameters` describes, as the reference client listed
        them (``[]`` for a schema without ``properties``)."""
        return parameter_items(self.parameters)

    def return_value_items(self) -> list[ProgramResult]:
        """The values :attr:`return_values` describes (``[]`` for a schema of a single
        value)."""
        return result_items(self.return_values)

    def interim_result_items(self) -> list[ProgramResult]:
        """The values :attr:`interim_results` describes."""
        return result_items(self.interim_results)

    def __str__(self) -> str:
        lines = [
            f"{self.program_id}:",
            f"  Name: {self.name}",
            f"  Description: {self.description}",
        ]
        if self.version is not None:
            lines.append(f"  Version: {self.version}")
        if self.creation_date:
            lines.append(f"  Created: {self.creation_date}")
        lines += [
            f"  Max execution time: {self.max_execution_time} s",
            f"  Public: {self.is_public}",
        ]
        sections: list[tuple[str, Sequence[ProgramParameter | ProgramResult]]] = [
            ("Input parameters", self.parameter_items()),
            ("Interim results", self.interim_result_items()),
            ("Returns", self.return_value_items()),
        ]
        for title, items in sections:
            if not items:
                continue
            lines.append(f"  {title}:")
            for item in items:
                needed = (
                    ", required" if isinstance(item, ProgramParameter) and item.required else ""
                )
                lines.append(f"    - {item.name} ({item.type or 'any'}{needed})")
                if item.description:
                    lines.append(f"      {item.description}")
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


def program_listing(
    body: Any, problems: list[str] | None = None
) -> tuple[list[RuntimeProgram], int]:
    """The programs of a ``GET /programs`` answer, and how many there are in all.

    Each program is read leniently (:meth:`RuntimeProgram.from_wire`); what could not be read
    is appended to ``problems``.

    Raises:
        ValueError: for an answer without a ``programs`` list or a ``count``, or a record that
            is not a JSON object with an id.
    """
    return _listing(body, "programs", lambda record: RuntimeProgram.from_wire(record, problems))


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

_REQUIRED_METADATA = ("name", "max_execution_time", "description")
METADATA_KEYS = (*_REQUIRED_METADATA, "version", "is_public", "spec", *SPEC_PARTS)
"""The keys of a program's metadata: those of the reference's ``upload_program`` arguments
(the spec parts at the top level) and those of its later metadata files (``spec``,
``is_public``)."""


def program_source(source: str) -> str:
    """A program's source as the wire carries it: base64 of its UTF-8 text."""
    return base64.standard_b64encode(source.encode("utf-8")).decode("ascii")


def _spec_parts(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The spec parts of ``metadata``: those of its ``spec``, overridden by those given at its
    top level."""
    nested = metadata.get("spec")
    if nested is not None and not isinstance(nested, Mapping):
        raise TypeError(f"spec must be a dict, not {type(nested).__name__}")
    parts = dict(nested or {})
    parts.update({key: metadata[key] for key in SPEC_PARTS if metadata.get(key) is not None})
    return parts


def program_upload(metadata: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The body of ``POST /programs``.

    ``metadata`` holds ``name``, ``max_execution_time`` and ``description`` (all required),
    and may hold ``version``, ``is_public`` (``False`` if not given) and the parts of the spec
    (``backend_requirements``, ``parameters``, ``return_values``, ``interim_results``), at its
    top level or in a ``spec`` dict (the top level wins). A part may be a JSON schema or a
    list of :class:`ProgramParameter` / :class:`ProgramResult` items (or the reference's, or
    dicts with their keys), which is sent as its JSON schema; empty parts are not sent.

    Raises:
        ValueError: for missing metadata, an unknown key, a maximum execution time below 1,
            or a list item without a name or with unknown keys.
        TypeError: for metadata of the wrong type.
    """
    unknown = [key for key in metadata if key not in METADATA_KEYS]
    if unknown:
        raise ValueError(
            f"unknown program metadata {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(METADATA_KEYS)})"
        )
    # absent, or an empty text (a value of another type is a TypeError below)
    missing = [
        key
        for key in _REQUIRED_METADATA
        if metadata.get(key) is None or (key != "max_execution_time" and metadata[key] == "")
    ]
    if missing:
        raise ValueError(f"missing program metadata: {', '.join(missing)}")
    is_public = metadata.get("is_public")
    body: dict[str, Any] = {
        "name": require_str(metadata["name"], "name"),
        "data": program_source(source),
        "cost": require_int(metadata["max_execution_time"], "max_execution_time", minimum=1),
        "description": require_str(metadata["description"], "description"),
        "is_public": False if is_public is None else require_bool(is_public, "is_public"),
    }
    spec = spec_for_upload(_spec_parts(metadata))
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
    ``max_execution_time`` and the spec (empty values are not sent). The spec's parts may be
    given as for an upload (:func:`program_upload`): in ``spec`` or at the top level, as JSON
    schemas or lists of items.

    Raises:
        TypeError: for a value of the wrong type.
        ValueError: for a maximum execution time below 1, a spec part that an upload refuses,
            an unknown key, or ``version`` or ``is_public`` (which an update cannot change).
    """
    unknown = [key for key in metadata if key not in METADATA_KEYS]
    if unknown:
        raise ValueError(
            f"unknown program metadata {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(METADATA_KEYS)})"
        )
    fixed = [key for key in ("version", "is_public") if metadata.get(key) is not None]
    if fixed:
        raise ValueError(
            f"an update cannot change {' or '.join(fixed)} "
            "(set_program_visibility() makes a program public or private)"
        )
    patch: dict[str, Any] = {}
    for key in ("name", "description"):  # checked whatever they are; an empty one is not sent
        value = metadata.get(key)
        if value is not None and require_str(value, key):
            patch[key] = value
    if metadata.get("max_execution_time") is not None:
        patch["cost"] = require_int(metadata["max_execution_time"], "max_execution_time", minimum=1)
    spec = spec_for_upload(_spec_parts(metadata))
    if spec:
        patch["spec"] = spec
    return patch
