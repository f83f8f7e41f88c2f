"""``ScanResult``: the one shape of ``lesions.json`` (CONTRACT §3), written by ``brainmets scan``
and read by the service, the demo, ``brainmets response DIR ...`` and the case composer.

Every field CONTRACT §3 names is here, plus what the pipeline writes beside it. Unknown keys are
kept (``extra="allow"``) so a newer writer's additions survive a read-modify-write; nothing is
dropped. World coordinates are NIfTI RAS+ millimetres.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from brainmets.model import InputError, format_errors

RECORD_LOCATIONS = ("supratentorial", "cerebellum", "brainstem")  # CONTRACT §1 lesion.location


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class DetectorInfo(_Open):
    name: str
    version: str


class ScanLesion(_Open):
    """One detected lesion (CONTRACT §3); ``id`` is its value in ``lesions.nii.gz``."""

    id: int = Field(ge=1)
    centroid_mm: tuple[float, float, float]
    volume_ml: float | None = Field(default=None, ge=0)
    longest_axial_diameter_mm: float = Field(ge=0, description="RANO-BM longest axial diameter")
    perpendicular_diameter_mm: float | None = Field(default=None, ge=0)
    max_diameter_mm: float | None = Field(default=None, ge=0, description="maximum 3-D diameter")
    location: str | None = Field(default=None, description="supratentorial | cerebellum | ...")
    confidence: float | None = Field(default=None, description="detector score, not calibrated")
    enhancement: str | None = Field(default=None, description="solid | ring")
    found_by: list[str] = Field(
        default_factory=list, description="which detector(s) found it (imaging engineers fill it)"
    )

    def to_record_lesion(self) -> dict[str, Any]:
        """This lesion as a CONTRACT §1 record lesion: ``diameter_mm`` is the longest axial
        diameter (the RANO-BM convention); volume, perpendicular and 3-D maximum diameters,
        centroid, location and enhancement are kept. The one scan -> record mapping."""
        item = {
            "diameter_mm": self.longest_axial_diameter_mm,
            "volume_ml": self.volume_ml,
            "location": self.location if self.location in RECORD_LOCATIONS else None,
            "max_diameter_mm": self.max_diameter_mm,
            "perpendicular_diameter_mm": self.perpendicular_diameter_mm,
            "centroid_mm": list(self.centroid_mm),
            "enhancement": self.enhancement if self.enhancement in ("solid", "ring") else None,
        }
        return {k: v for k, v in item.items() if v is not None}


class LargestLesion(_Open):
    id: int
    volume_ml: float | None = None
    longest_axial_diameter_mm: float | None = None


class ScanFinding(_Open):
    """A scan-level finding (not a lesion): e.g. 'abnormal region not segmented'."""

    kind: str = Field(default="finding", description="short machine name of the finding")
    text: str = ""
    centroid_mm: tuple[float, float, float] | None = None
    volume_ml: float | None = None


class ScanResult(_Open):
    """The content of ``DIR/lesions.json``."""

    input: str | None = Field(default=None, description="input path (dropped by the service)")
    input_kind: str | None = Field(default=None, description="nifti | dicom")
    date: str | None = Field(default=None, description="scan date YYYY-MM-DD, when known")
    shape: list[int] = Field(default_factory=list)
    voxel_size_mm: list[float] = Field(default_factory=list)
    coordinates: str = "world RAS+ millimetres (NIfTI convention)"
    brain_volume_ml: float | None = None
    skull_stripped_input: bool | None = None
    detector: DetectorInfo | None = None
    count: int | None = Field(default=None, ge=0)
    total_lesion_volume_ml: float | None = None
    largest_lesion: LargestLesion | None = None
    lesions: list[ScanLesion] = Field(default_factory=list)
    rejected_candidates: dict[str, int] = Field(
        default_factory=dict, description="number of rejected candidates per reason"
    )
    low_confidence_candidates: list[dict[str, Any]] = Field(default_factory=list)
    findings: list[ScanFinding] = Field(
        default_factory=list, description="scan-level findings (imaging engineers fill it)"
    )
    measurement_notes: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    seconds: float | None = None
    disclaimer: str | None = None
    dicom_seg: Any = None

    @classmethod
    def parse(cls, data: Any, where: str = "lesions.json") -> ScanResult:
        """Validate ``data``; :class:`~brainmets.model.InputError` names ``where`` and the field."""
        if not isinstance(data, dict):
            raise InputError([f"{where}: expected a JSON object, got {type(data).__name__}"])
        try:
            res = cls.model_validate(data)
        except ValidationError as exc:
            raise InputError(format_errors(exc, prefix=f"{where}: ")) from None
        ids = [les.id for les in res.lesions]
        if len(set(ids)) != len(ids):
            raise InputError([f"{where}: lesions: duplicate lesion ids {sorted(ids)}"])
        return res

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ScanResult:
        """Read ``lesions.json`` (or the folder holding it)."""
        p = Path(path)
        if p.is_dir():
            p = p / "lesions.json"
        if not p.is_file():
            raise InputError([f"{p}: missing (is it a 'brainmets scan' output?)"])
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError([f"{p}: invalid JSON: {exc}"]) from None
        return cls.parse(data, str(p))

    def to_json(self) -> dict[str, Any]:
        """The JSON object written to ``lesions.json`` (every field, extras included)."""
        return self.model_dump(mode="json")

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write ``lesions.json`` atomically (``path`` may be the file or its folder)."""
        from brainmets._atomic import atomic_write_text

        p = Path(path)
        if p.is_dir():
            p = p / "lesions.json"
        return atomic_write_text(p, json.dumps(self.to_json(), indent=2) + "\n")
