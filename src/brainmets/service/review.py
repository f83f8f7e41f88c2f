"""Clinician review of detected lesions (CONTRACT §5): state, corrections, lesions added by a
seed point (region growing on the stored scan) or by hand, and the lesions an assessment counts.

Every detected lesion is ``detected`` until a clinician confirms, rejects or corrects it.
Lesion ids: ``L<k>`` for lesion k of the scan's lesions.json, ``A<n>`` for lesions added by hand.
One diameter convention everywhere: ``diameter_mm`` is the RANO-BM longest axial diameter.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from brainmets.errors import BrainmetsError
from brainmets.store import repo
from brainmets.store.models import LesionReview, Patient, Scan, User, utcnow

DIAMETER_LABEL = "sum of longest axial diameters (RANO-BM convention)"
# measurement fields a clinician may correct (CONTRACT §1 lesion fields + scan measurements)
MEASURED = ("diameter_mm", "perpendicular_diameter_mm", "max_diameter_mm", "volume_ml",
            "centroid_mm", "location")
CLINICAL = ("eloquent", "mass_effect", "hippocampus_distance_mm", "resected",
            "cavity_volume_ml", "enhancement", "prior_srs", "enlarging_after_srs")
# seeded segmentation: technical parameters (not clinical cut-points)
SEED_WINDOW_MM = 30.0  # half-width of the search cube around the seed
SEED_SNAP_VOXELS = 1  # the seed moves to the brightest voxel this close (click imprecision)


class ReviewError(BrainmetsError, ValueError):
    """Bad review input: messages name the field (``field: why``)."""

    def __init__(self, messages: list[str], status: int = 422) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages
        self.status = status


class _Measurements(BaseModel):
    model_config = ConfigDict(extra="forbid")

    diameter_mm: float | None = Field(default=None, gt=0, le=300,
                                      description="longest axial diameter (RANO-BM), mm")
    perpendicular_diameter_mm: float | None = Field(default=None, ge=0, le=300)
    max_diameter_mm: float | None = Field(default=None, ge=0, le=300)
    volume_ml: float | None = Field(default=None, ge=0, le=2000)
    location: Literal["supratentorial", "cerebellum", "brainstem"] | None = None
    eloquent: bool | None = None
    mass_effect: bool | None = None
    hippocampus_distance_mm: float | None = Field(default=None, ge=0, le=300)
    resected: bool | None = None
    cavity_volume_ml: float | None = Field(default=None, ge=0, le=2000)
    enhancement: Literal["solid", "ring"] | None = None
    prior_srs: bool | None = None
    enlarging_after_srs: bool | None = None
    note: str | None = Field(default=None, max_length=500)


class LesionPatch(_Measurements):
    """PATCH body: a review decision and/or corrected measurements (a correction without a
    status confirms the lesion as corrected)."""

    status: Literal["confirmed", "rejected", "detected"] | None = None
    centroid_mm: tuple[float, float, float] | None = None


class LesionAdd(_Measurements):
    """POST body: a seed point (segmented on the current scan) or measurements by hand
    (``diameter_mm`` given)."""

    centroid_mm: tuple[float, float, float]


def _iso(t: dt.datetime | None) -> str | None:
    return t.isoformat(timespec="seconds") + "Z" if t else None


def _scan_date(scan: Scan | None) -> str | None:
    return scan.timepoint.date.isoformat() if scan is not None and scan.timepoint else None


def detected_view(les: dict[str, Any]) -> dict[str, Any]:
    """A CONTRACT §3 scan lesion in the review shape (diameter_mm = longest axial)."""
    return {
        "diameter_mm": les.get("longest_axial_diameter_mm"),
        "perpendicular_diameter_mm": les.get("perpendicular_diameter_mm"),
        "max_diameter_mm": les.get("max_diameter_mm"),
        "volume_ml": les.get("volume_ml"),
        "centroid_mm": les.get("centroid_mm"),
        "location": les.get("location"),
        "confidence": les.get("confidence"),
    }


def _row_state(row: LesionReview | None) -> dict[str, Any]:
    if row is None:
        return {"status": "detected", "reviewed_by": None, "reviewed_at": None}
    return {"status": row.status, "reviewed_by": row.reviewed_by,
            "reviewed_at": _iso(row.reviewed_at), "method": row.method}


def scan_lesions(scan: Scan, rows: list[LesionReview],
                 min_confidence: float | None = None) -> list[dict[str, Any]]:
    """The lesions of one completed scan with their review state (detected ones first, then
    lesions added by hand on that scan)."""
    by_id = {r.lesion_id: r for r in rows if r.scan_id == scan.id}
    out = []
    for les in (scan.result or {}).get("lesions", []) if scan.status == "done" else []:
        lid = f"L{les.get('id')}"
        row = by_id.get(lid)
        view = detected_view(les)
        corrected = dict(row.measurements or {}) if row is not None else {}
        item = {"id": lid, "scan_id": scan.id, "scan_date": _scan_date(scan),
                **view, **corrected, **_row_state(row), "source": "scan"}
        item.setdefault("method", "detector")
        item["method"] = item["method"] or "detector"
        item["corrected"] = bool(set(corrected) & set(MEASURED))
        if item["corrected"]:
            item["detected"] = {k: view[k] for k in MEASURED if view.get(k) is not None}
        conf = les.get("confidence")
        item["low_confidence"] = (conf is not None and min_confidence is not None
                                  and conf < min_confidence)
        out.append(item)
    for row in rows:
        if row.scan_id == scan.id and row.lesion_id.startswith("A"):
            out.append(added_view(row, scan))
    return out


def added_view(row: LesionReview, scan: Scan | None) -> dict[str, Any]:
    m = dict(row.measurements or {})
    return {"id": row.lesion_id, "scan_id": row.scan_id, "scan_date": _scan_date(scan),
            "diameter_mm": None, "volume_ml": None, "centroid_mm": None, "confidence": None,
            **m, **_row_state(row), "source": "hand" if row.method == "hand" else "seed",
            "corrected": False, "low_confidence": False}


def current_lesions(s: Session, p: Patient) -> tuple[Scan | None, list[dict[str, Any]]]:
    """CONTRACT §5 GET: the lesions of the patient's current scan (latest scan date) plus any
    added by hand (also those added while no scan existed)."""
    scan = repo.latest_done_scan(s, p.id)
    rows = repo.lesion_reviews(s, p.id)
    out = scan_lesions(scan, rows) if scan is not None else []
    out.extend(added_view(r, None) for r in rows
               if r.scan_id is None and r.lesion_id.startswith("A"))
    return scan, out


def counted(lesions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The lesions an assessment counts: confirmed, added and (until reviewed) detected; never
    rejected ones (CONTRACT §5)."""
    return [x for x in lesions if x["status"] != "rejected"]


def as_record_lesion(x: dict[str, Any]) -> dict[str, Any]:
    """A review lesion -> CONTRACT §1 lesion entry (diameter_mm = longest axial diameter)."""
    keys = ("diameter_mm", "perpendicular_diameter_mm", "max_diameter_mm", "volume_ml",
            "location", "centroid_mm", *CLINICAL)
    return {k: x[k] for k in keys if x.get(k) is not None}


def review_state(lesions: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts by status and whether the assessment is still provisional."""
    n = {k: 0 for k in ("detected", "confirmed", "rejected", "added")}
    for x in lesions:
        n[x["status"]] = n.get(x["status"], 0) + 1
    return {"counts": n, "provisional": n["detected"] > 0, "counted": len(counted(lesions))}


def _snapshot(x: dict[str, Any] | None) -> dict[str, Any] | None:
    if x is None:
        return None
    keep = ("id", "status", "scan_id", *MEASURED, *CLINICAL, "note", "method")
    return {k: x[k] for k in keep if x.get(k) is not None}


def _find(s: Session, p: Patient, lid: str) -> tuple[Scan | None, dict[str, Any]]:
    scan, lesions = current_lesions(s, p)
    for x in lesions:
        if x["id"] == lid:
            return scan, x
    raise ReviewError([f"lesion {lid!r}: not among the lesions of the current scan"], 404)


def patch_lesion(s: Session, p: Patient, lid: str, body: LesionPatch, user: User,
                 resource: str) -> dict[str, Any]:
    """Confirm, reject, reset or correct one lesion; audited with before and after."""
    scan, before = _find(s, p, lid)
    changes = body.model_dump(exclude_none=True, exclude={"status"})
    if "centroid_mm" in changes:
        changes["centroid_mm"] = list(changes["centroid_mm"])
    if body.status is None and not changes:
        raise ReviewError(["status: give confirmed | rejected | detected, or corrected "
                           "measurements"])
    row = repo.lesion_review(s, p.id, before["scan_id"], lid)
    if row is None:
        row = LesionReview(patient_id=p.id, scan_id=before["scan_id"], lesion_id=lid,
                           status="detected", measurements={}, method="detector")
        s.add(row)
    m = dict(row.measurements or {})
    m.update(changes)
    row.measurements = m
    if lid.startswith("A"):
        row.status = "rejected" if body.status == "rejected" else "added"
    elif body.status is not None:
        row.status = body.status
    elif row.status == "detected":
        row.status = "confirmed"  # a correction is a review
    if set(changes) & set(MEASURED) and not lid.startswith("A"):
        row.method = "corrected"
    row.reviewed_by, row.reviewed_at = user.name, utcnow()
    s.flush()
    _, after = _find(s, p, lid)
    repo.audit(s, user, "review", resource, "ok", 200, p.id, before=_snapshot(before),
               after=_snapshot(after))
    return after


def add_lesion(s: Session, p: Patient, body: LesionAdd, user: User, volume: Path | None,
               resource: str) -> dict[str, Any]:
    """Add a lesion: measured by hand when ``diameter_mm`` is given, else segmented on the
    current scan around the seed point. Audited (before: none)."""
    scan = repo.latest_done_scan(s, p.id)
    m = body.model_dump(exclude_none=True)
    m["centroid_mm"] = list(body.centroid_mm)
    if body.diameter_mm is not None:
        method = "hand"
    else:
        if scan is None or volume is None:
            raise ReviewError(["diameter_mm: no completed scan to segment on; give the "
                               "lesion's measurements by hand"])
        m.update(segment_seed(volume, body.centroid_mm))
        method = "seeded"
    n = sum(1 for r in repo.lesion_reviews(s, p.id) if r.lesion_id.startswith("A"))
    row = LesionReview(patient_id=p.id, scan_id=scan.id if scan is not None else None,
                       lesion_id=f"A{n + 1}", status="added", measurements=m, method=method,
                       reviewed_by=user.name, reviewed_at=utcnow())
    s.add(row)
    s.flush()
    after = added_view(row, scan)
    repo.audit(s, user, "review", resource, "ok", 201, p.id, before=None,
               after=_snapshot(after))
    return after


def segment_seed(volume: Path, seed_mm: tuple[float, float, float]) -> dict[str, Any]:
    """Region growing from a seed on the stored scan: voxels connected to the seed and at or
    above half way between the seed's intensity and the median of the surrounding cube
    (half-maximum), inside a cube of ``SEED_WINDOW_MM`` around the seed. Refused (with the
    reason) when the seed is not brighter than its surroundings or the region leaks out of
    the cube; the clinician then measures by hand."""
    import nibabel as nib
    import numpy as np
    from scipy import ndimage as ndi

    from brainmets.imaging.measure import diameters

    img: Any = nib.load(str(volume))
    data = np.asanyarray(img.dataobj).astype(np.float32)
    while data.ndim > 3:
        data = data[..., 0]
    ijk = np.rint(np.linalg.inv(img.affine) @ np.array([*seed_mm, 1.0]))[:3].astype(int)
    if np.any(ijk < 0) or np.any(ijk >= np.array(data.shape)):
        raise ReviewError(["centroid_mm: the seed point lies outside the scan"])
    zooms: np.ndarray = np.asarray(img.header.get_zooms()[:3], dtype=np.float64)
    half = np.maximum(np.ceil(SEED_WINDOW_MM / zooms).astype(int), 2)
    lo = np.maximum(ijk - half, 0)
    hi = np.minimum(ijk + half + 1, np.array(data.shape))
    crop = data[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    seed = ijk - lo
    r = SEED_SNAP_VOXELS
    nb = crop[max(seed[0] - r, 0):seed[0] + r + 1, max(seed[1] - r, 0):seed[1] + r + 1,
              max(seed[2] - r, 0):seed[2] + r + 1]
    off = np.array(np.unravel_index(int(np.argmax(nb)), nb.shape))
    seed = np.maximum(seed - r, 0) + off
    peak, bg = float(crop[tuple(seed)]), float(np.median(crop))
    if not peak > bg:
        raise ReviewError(["centroid_mm: no region brighter than its surroundings at the seed "
                           "point; give diameter_mm to measure by hand"])
    lab, _ = ndi.label(crop >= (peak + bg) / 2)
    region = lab == lab[tuple(seed)]
    edge = (region[0].any() or region[-1].any() or region[:, 0].any() or region[:, -1].any()
            or region[:, :, 0].any() or region[:, :, -1].any())
    if edge and crop.shape[0] > 2 * r + 1:
        raise ReviewError(["centroid_mm: the region grown from the seed leaks beyond "
                           f"{SEED_WINDOW_MM:g} mm; give diameter_mm to measure by hand"])
    pts = np.argwhere(region) + lo
    axial, perp, d3 = diameters(pts, img.affine)
    centre = img.affine @ np.array([*pts.mean(axis=0), 1.0])
    return {"diameter_mm": round(axial, 1), "perpendicular_diameter_mm": round(perp, 1),
            "max_diameter_mm": round(d3, 1),
            "volume_ml": round(len(pts) * float(np.prod(zooms)) / 1000.0, 3),
            "centroid_mm": [round(float(v), 1) for v in centre[:3]],
            "seed_mm": [float(v) for v in seed_mm]}
