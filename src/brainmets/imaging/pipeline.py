"""``scan``: one scan in, lesions found and measured, outputs written atomically.

Used by the CLI (``brainmets scan``), batch runs, the service and the benchmark.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from brainmets.imaging import measure as ms
from brainmets.imaging import preprocess as pp
from brainmets.imaging.anomaly import Combined, second_signal
from brainmets.imaging.detect import ClassicalDetector, Detector
from brainmets.imaging.io import load_volume
from brainmets.imaging.merge import merge_fragments
from brainmets.imaging.result import ScanResult
from brainmets.imaging.volume import ImagingInputError, Volume

OUTPUT_FILES = ("lesions.json", "lesions.nii.gz", "overlay.png", "seg.dcm", "patient.json")
DISCLAIMER = (
    "Research software, not a medical device: automated detections and measurements must be "
    "reviewed by a radiologist."
)


def analyse(vol: Volume, detector: Detector | None = None) -> tuple[dict, dict]:
    """Detect and measure on a loaded volume. Returns (lesions.json content, arrays)."""
    t0 = time.perf_counter()
    det = detector or ClassicalDetector()
    can = pp.canonical(vol)
    warnings = list(vol.warnings)
    can.data, shift_note = pp.to_nonnegative(can.data)
    if shift_note:
        warnings.append(shift_note)
    mask, minfo = pp.brain_mask(can.data, can.spacing)
    if mask.sum() < 100:
        raise ImagingInputError(f"{vol.source}: no brain tissue found in the image")
    brain_ml = minfo["brain_ml"]
    if not 300.0 <= brain_ml <= 2500.0:
        warnings.append(
            f"brain mask volume {brain_ml:.0f} ml is outside the adult range; check the "
            "voxel size / field of view (results may be unreliable)"
        )
    d = det.detect(Volume(data=can.data, affine=can.affine, source=vol.source), mask)
    warnings.extend(d.info.get("assumptions", []))
    vox_ml = float(abs(np.linalg.det(can.affine[:3, :3]))) / 1000.0
    final, _ = ms.relabel(d.labels, vox_ml)
    frame = ms.location_frame(mask, can.affine)
    # second, independent signal (asymmetry / reference / mass effect): issue 16 item 2
    comb = second_signal(final, d, det, can.data, mask, can.affine, frame)
    # pieces of one lesion hypothesis become one lesion (issue 16 item 1), then measured afresh
    final, found_by, attrs, joined = _join_fragments(comb, can.data, mask, can.affine)
    lesions = ms.measure_lesions(final, can.affine, frame, d.labels, d.features)
    for les in lesions:
        for key, val in attrs.get(les["id"], {}).items():  # found by the 2nd signal only
            les.setdefault(key, val)
        les.setdefault("confidence", None)
        les.setdefault("enhancement", None)
        les["found_by"] = found_by.get(les["id"], [])
        les.update(joined.get(les["id"], {"merged_from": 1}))
    total = float(sum(les["volume_ml"] for les in lesions))
    largest = lesions[0] if lesions else None
    reasons: dict[str, int] = {}
    for r in d.rejected:
        reasons[r["reason"]] = reasons.get(r["reason"], 0) + 1
    sp = vol.spacing
    result: dict[str, Any] = {
        "input": vol.source,
        "input_kind": vol.kind,
        "shape": list(vol.shape),
        "voxel_size_mm": [round(float(s), 4) for s in sp],
        "coordinates": "world RAS+ millimetres (NIfTI convention)",
        "brain_volume_ml": round(brain_ml, 1),
        "skull_stripped_input": bool(minfo.get("skull_stripped", False)),
        "detector": {"name": det.name, "version": det.version},
        "count": len(lesions),
        "total_lesion_volume_ml": round(total, 4),
        "largest_lesion": (
            {"id": largest["id"], "volume_ml": largest["volume_ml"],
             "longest_axial_diameter_mm": largest["longest_axial_diameter_mm"]}
            if largest else None
        ),
        "lesions": lesions,
        "rejected_candidates": reasons,
        "low_confidence_candidates": [r for r in d.rejected if r["reason"] == "low_confidence"],
        "findings": list(getattr(d, "findings", None) or []),
        "measurement_notes": [
            "longest_axial_diameter_mm / perpendicular_diameter_mm: RANO-BM style, in the axial "
            "voxel slice closest to the world axial plane (convex hull of voxel centres + one "
            "voxel width); perpendicular = extent perpendicular to the longest diameter",
            "location: " + ms.LOCATION_METHOD + "; lesions near the tentorium may be misassigned",
            "confidence: detector score in [0, 1], not a calibrated probability",
            "merged_from: number of detected pieces joined into this lesion (1 = none); pieces "
            "are joined when the tissue between them is enhancing or an enclosed dark core "
            "(merge_evidence 'bridge') or lies on one asymmetry region ('anomaly')",
        ],
        "warnings": warnings,
        "seconds": None,
        "disclaimer": DISCLAIMER,
    }
    result.setdefault("findings", []).extend(comb.findings)
    result["anomaly"] = comb.summary
    result["seconds"] = round(time.perf_counter() - t0, 2)
    arrays = {"labels_input": can.to_input(final), "labels_canonical": final,
              "image_canonical": can.data, "affine_canonical": can.affine}
    return result, arrays


def _join_fragments(comb: Combined, data: np.ndarray, mask: np.ndarray, affine: np.ndarray
                    ) -> tuple[np.ndarray, dict[int, list[str]], dict[int, dict], dict[int, dict]]:
    """Join reported pieces of one lesion (:mod:`brainmets.imaging.merge`). Returns labels,
    ``found_by`` (union over the pieces), second-signal attributes and, per joined lesion,
    ``merged_from`` (number of pieces) and ``merge_evidence``."""
    mg = merge_fragments(comb.labels, data, mask, affine, comb.regions)
    found: dict[int, list[str]] = {}
    attrs: dict[int, dict] = {}
    joined: dict[int, dict] = {}
    for new, olds in mg.members.items():
        names: list[str] = []
        for old in olds:
            names += [e for e in comb.found_by.get(old, []) if e not in names]
        found[new] = names
        if len(olds) == 1 and olds[0] in comb.attrs:
            attrs[new] = comb.attrs[olds[0]]
        if len(olds) > 1:
            joined[new] = {"merged_from": len(olds), "merge_evidence": mg.rules.get(new, [])}
    return mg.labels, found, attrs, joined


def patient_with_lesions(record: dict, result: dict) -> dict:
    """The patient record with ``brain_metastases.lesions`` replaced by the scan's lesions."""
    from brainmets.model import parse_patient

    merged = json.loads(json.dumps(record))
    bm = dict(merged.get("brain_metastases") or {})
    # the one scan -> record mapping (imaging.result.ScanLesion.to_record_lesion)
    bm["lesions"] = [les.to_record_lesion() for les in ScanResult.parse(result).lesions]
    if bm.get("count") is None:
        bm["count"] = len(bm["lesions"])
    merged["brain_metastases"] = bm
    parse_patient(merged)  # raises InputError naming the field if anything is off
    return merged


def scan(
    input_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    detector: Detector | None = None,
    patient: dict | None = None,
    overlay: bool = True,
) -> dict:
    """Analyse one scan and write DIR/lesions.json, lesions.nii.gz, overlay.png (+ seg.dcm for
    DICOM input, + patient.json when ``patient`` is given). Returns the lesions.json content.

    Writes go to a temporary folder first; nothing is left half-written on failure.
    """
    from brainmets.imaging import export

    if patient is not None:
        from brainmets.model import parse_patient

        parse_patient(patient)  # fail fast, before the heavy work
    vol = load_volume(input_path)
    result, arrays = analyse(vol, detector)
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=str(out.parent)))
    try:
        export.write_labels(tmp / "lesions.nii.gz", arrays["labels_input"], vol.affine)
        if overlay:
            export.write_overlay(
                tmp / "overlay.png", arrays["image_canonical"], arrays["labels_canonical"],
                arrays["affine_canonical"], result["lesions"],
                title=f"{Path(vol.source).name}: {result['count']} lesion(s)"
                + (f"; {len(result['findings'])} finding(s): possible lesion not characterised:"
                   " review" if result.get("findings") else ""),
            )
        if vol.kind == "dicom" and vol.dicom:
            if result["lesions"]:
                result["dicom_seg"] = export.write_dicom_seg(
                    tmp / "seg.dcm", vol.dicom, arrays["labels_input"], result["lesions"],
                    (result["detector"]["name"], result["detector"]["version"]),
                )
            else:
                result["dicom_seg"] = None
                result["warnings"].append("no lesion detected: no DICOM SEG written")
        if patient is not None:
            merged = patient_with_lesions(patient, result)
            (tmp / "patient.json").write_text(json.dumps(merged, indent=2) + "\n")
        ScanResult.parse(result).write(tmp / "lesions.json")  # the one lesions.json shape
        _commit(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def _commit(tmp: Path, out: Path) -> None:
    """Move the finished outputs into place (a rename of the folder when it is new)."""
    if not out.exists():
        os.replace(tmp, out)
        return
    if not out.is_dir():
        raise ImagingInputError(f"--out: {out} exists and is not a folder")
    produced = {p.name for p in tmp.iterdir()}
    for name in OUTPUT_FILES:  # stale outputs of an earlier run would mislead
        if name not in produced and (out / name).exists():
            (out / name).unlink()
    for name in sorted(produced - {"lesions.json"}) + ["lesions.json"]:
        os.replace(tmp / name, out / name)
