"""Artifacts: named JSON payloads saved as zip files with the experiment (BEHAVIOUR §7)."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from datetime import datetime
from typing import Any

import attrs

from ..models import decode_envelopes, encode_envelopes

__all__ = ["ArtifactData", "artifacts_from_zip", "artifacts_to_zip"]


@attrs.define(eq=True)
class ArtifactData:
    """One artifact (BEHAVIOUR M-7.1).

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
            created_time=datetime.fromisoformat(value["created_time"])
            if value.get("created_time")
            else datetime.now().astimezone(),
        )


def artifacts_to_zip(artifacts: list[ArtifactData]) -> bytes:
    """One zip holding ``<artifact_id>.json`` per artifact (BEHAVIOUR M-7.5)."""
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
