"""Artifacts: named JSON payloads saved as zip files with the experiment
(``docs/behaviour.md#artifacts``)."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs

from ..errors import EntryNotFound
from ..models import decode_envelopes, encode_envelopes, parse_iso

__all__ = ["ArtifactData", "ArtifactStore", "artifacts_from_zip", "artifacts_to_zip"]


@attrs.define(eq=True)
class ArtifactData:
    """One artifact.

    Attributes:
        name: the artifact's name; also the name of the zip file it is saved into.
        data: any JSON-encodable payload (complex numbers, arrays... via the envelopes).
        artifact_id: unique within one container (a uuid4 by default).
        experiment_id: the experiment it belongs to.
        experiment: the experiment type.
        device_components: the device components it concerns.
        created_time: when it was made (timezone-aware).
    """

    name: str
    data: Any
    artifact_id: str = attrs.field(factory=lambda: str(uuid.uuid4()))
    experiment_id: str | None = None
    experiment: str | None = None
    device_components: list[str] = attrs.field(factory=list)
    created_time: datetime = attrs.field(factory=lambda: datetime.now().astimezone())

    @property
    def dtype(self) -> str:
        """The class name of the payload."""
        return type(self.data).__name__

    def to_json(self) -> dict[str, Any]:
        """The JSON form stored in the zip file."""
        return {
            "name": self.name,
            "data": encode_envelopes(self.data),
            "artifact_id": self.artifact_id,
            "experiment_id": self.experiment_id,
            "experiment": self.experiment,
            "device_components": list(self.device_components),
            "created_time": self.created_time.isoformat(),
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> ArtifactData:
        """Rebuild an artifact from :meth:`to_json`."""
        return cls(
            name=value["name"],
            data=decode_envelopes(value.get("data")),
            artifact_id=value["artifact_id"],
            experiment_id=value.get("experiment_id"),
            experiment=value.get("experiment"),
            device_components=list(value.get("device_components") or []),
            created_time=parse_iso(value["created_time"])
            if value.get("created_time")
            else datetime.now().astimezone(),
        )


def artifacts_to_zip(artifacts: list[ArtifactData]) -> bytes:
    """One zip holding ``<artifact_id>.json`` per artifact."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for artifact in artifacts:
            archive.writestr(f"{artifact.artifact_id}.json", json.dumps(artifact.to_json()))
    return buffer.getvalue()


def artifacts_from_zip(data: bytes) -> list[ArtifactData]:
    """The artifacts of a zip made by :func:`artifacts_to_zip` (an empty blob holds none)."""
    if not data:
        return []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [ArtifactData.from_json(json.loads(archive.read(n))) for n in archive.namelist()]


class ArtifactStore:
    """The artifacts of one container, by id, in the order they were added."""

    def __init__(self) -> None:
        self._items: dict[str, ArtifactData] = {}

    def __len__(self) -> int:
        return len(self._items)

    def values(self) -> list[ArtifactData]:
        """Every artifact."""
        return list(self._items.values())

    def groups(self) -> dict[str, list[ArtifactData]]:
        """The artifacts by name (each name is saved as one zip file)."""
        groups: dict[str, list[ArtifactData]] = {}
        for artifact in self._items.values():
            groups.setdefault(artifact.name, []).append(artifact)
        return groups

    def add(
        self,
        artifacts: ArtifactData | Sequence[ArtifactData],
        *,
        overwrite: bool,
        experiment_id: str,
        experiment_type: str,
    ) -> None:
        """Add artifacts (their data checked now); a duplicate id needs ``overwrite``.

        Raises:
            TypeError: for something that is not an artifact, or whose data cannot be stored.
            ValueError: for a duplicate artifact id without ``overwrite``.
        """
        items = [artifacts] if isinstance(artifacts, ArtifactData) else list(artifacts)
        for artifact in items:
            if not isinstance(artifact, ArtifactData):
                raise TypeError(f"an artifact is an ArtifactData, not {type(artifact).__name__}")
            artifact.to_json()  # its data must be storable: refused now, not at save
            if artifact.artifact_id in self._items and not overwrite:
                raise ValueError(
                    f"an artifact with id {artifact.artifact_id} exists; use overwrite=True"
                )
        for artifact in items:
            artifact.experiment_id = artifact.experiment_id or experiment_id
            artifact.experiment = artifact.experiment or experiment_type
            self._items[artifact.artifact_id] = artifact

    def select(self, key: str | int) -> list[ArtifactData]:
        """The artifacts with this id, or position, or name.

        Raises:
            EntryNotFound: when none matches.
        """
        values = list(self._items.values())
        if isinstance(key, int) and not isinstance(key, bool):
            if not -len(values) <= key < len(values):
                raise EntryNotFound(f"artifact index {key} out of range", status=404)
            return [values[key]]
        if key in self._items:
            return [self._items[key]]
        named = [a for a in values if a.name == key]
        if not named:
            raise EntryNotFound(f"artifact {key!r} not found", status=404)
        return named

    def delete(self, key: str | int) -> list[str]:
        """Delete the artifacts :meth:`select` finds; returns their ids."""
        found = self.select(key)
        for artifact in found:
            del self._items[artifact.artifact_id]
        return [a.artifact_id for a in found]
