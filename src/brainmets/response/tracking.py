"""From ``brainmets scan`` folders to a CONTRACT §4 record: rigid registration of every
follow-up to the baseline, lesion matching with stable ids (new / persisting / vanished).

World coordinates are NIfTI RAS+ mm (lesions.json); SimpleITK works in LPS, so points are
flipped in x and y on the way in and out. Heavy imports (SimpleITK, scipy) stay inside functions.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from brainmets.imaging.result import ScanLesion, ScanResult
from brainmets.model import InputError
from brainmets.response.config import ResponseConfig, get_config


@dataclass
class ScanDir:
    folder: Path
    scan: ScanResult
    image: Path | None
    labels: Path | None
    date: dt.date | None = None
    problems: list[str] = field(default_factory=list)


def _resolve_image(folder: Path, raw: str | None) -> Path | None:
    if not raw:
        return None
    p = Path(raw)
    for cand in ([p] if p.is_absolute() else [p, folder / p, folder / p.name]):
        if cand.exists():
            return cand
    return None


def load_scan_dir(folder: Path) -> ScanDir:
    """Read ``folder/lesions.json`` (CONTRACT §3); errors name the folder and field."""
    folder = Path(folder)
    where = f"{folder}/lesions.json"
    if not folder.is_dir():
        raise InputError([f"{folder}: not a folder (expected a 'brainmets scan' output folder)"])
    path = folder / "lesions.json"
    if not path.is_file():
        raise InputError([f"{where}: missing (is {folder} a 'brainmets scan' output folder?)"])
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError([f"{where}: invalid JSON: {exc}"]) from None
    if isinstance(data, dict) and "lesions" not in data:
        raise InputError([f"{where}: lesions: required"])
    scan = ScanResult.parse(data, where)  # the one shape of lesions.json (CONTRACT §3)
    labels = folder / "lesions.nii.gz"
    sd = ScanDir(
        folder, scan, _resolve_image(folder, scan.input), labels if labels.is_file() else None
    )
    if scan.date is not None:
        try:
            sd.date = dt.date.fromisoformat(scan.date)
        except ValueError:
            raise InputError([f"{where}: date: expected YYYY-MM-DD, got {scan.date!r}"]) from None
    elif sd.image is not None and sd.image.is_dir():
        sd.date = dicom_date(sd.image)
    return sd


def dicom_date(folder: Path) -> dt.date | None:
    """AcquisitionDate, SeriesDate or StudyDate of the first readable DICOM file, if any."""
    import pydicom

    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - not a DICOM file; try the next one
            continue
        for tag in ("AcquisitionDate", "SeriesDate", "StudyDate"):
            value = str(ds.get(tag, "") or "")
            if len(value) == 8 and value.isdigit():
                try:
                    return dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
                except ValueError:
                    continue
        return None
    return None


# ------------------------------------------------------------------ registration

_LEVELS_MM = (8.0, 4.0, 2.0)  # engineering: effective voxel size per pyramid level
_SAMPLES = 20000  # engineering: metric samples per level


def _ras_to_lps(p: np.ndarray) -> np.ndarray:
    return p * np.array([-1.0, -1.0, 1.0])


def _read_image(path: Path) -> Any:
    import SimpleITK as sitk

    if path.is_dir():
        reader = sitk.ImageSeriesReader()
        files = reader.GetGDCMSeriesFileNames(str(path))
        if not files:
            raise RuntimeError("no DICOM series in folder")
        reader.SetFileNames(files)
        img = reader.Execute()
    else:
        img = sitk.ReadImage(str(path))
    if img.GetDimension() != 3:
        raise RuntimeError(f"expected a 3-D image, got {img.GetDimension()}-D")
    return sitk.Cast(img, sitk.sitkFloat32)


def register_rigid(fixed_path: Path, moving_path: Path, seed: int = 7) -> tuple[Any, float]:
    """Euler3D rigid registration, Mattes MI, 3-level pyramid (about 8, 4 and 2 mm).

    Returns the SimpleITK transform mapping fixed (baseline) LPS points to moving (follow-up)
    LPS points, and the final metric value. The metric is sampled at a fixed number of random
    points per level (seeded), so run time does not grow with the image size.
    """
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(2)
    fixed = _read_image(fixed_path)
    moving = _read_image(moving_path)
    init = sitk.CenteredTransformInitializer(
        fixed, moving, sitk.Euler3DTransform(),
        sitk.CenteredTransformInitializerFilter.MOMENTS,
    )
    spacing = min(fixed.GetSpacing())
    shrink = [max(1, int(round(level_mm / spacing))) for level_mm in _LEVELS_MM]
    n_vox = float(np.prod(fixed.GetSize()))
    pct = [min(0.5, _SAMPLES / (n_vox / f**3)) for f in shrink]
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentagePerLevel(pct, seed)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=2.0, minStep=1e-3, numberOfIterations=100, relaxationFactor=0.6,
        gradientMagnitudeTolerance=1e-6,
    )
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel(shrink)
    reg.SetSmoothingSigmasPerLevel([level_mm / 2 for level_mm in _LEVELS_MM])
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    reg.SetInitialTransform(init, inPlace=False)
    tx = reg.Execute(fixed, moving)
    return tx, float(reg.GetMetricValue())


def _kabsch(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rigid R, t minimising |R src + t - dst| (rows are points)."""
    cs, cd = src.mean(0), dst.mean(0)
    if len(src) < 3:
        return np.eye(3), cd - cs
    h = (src - cs).T @ (dst - cd)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    r = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return r, cd - r @ cs


# ------------------------------------------------------------------ matching


def _overlap(fixed_labels: Path, moving_labels: Path, tx: Any) -> dict[tuple[int, int], int]:
    """Voxel overlap counts {(baseline label, follow-up label): n} after resampling."""
    import SimpleITK as sitk

    fixed = sitk.ReadImage(str(fixed_labels))
    moving = sitk.ReadImage(str(moving_labels))
    res = sitk.Resample(moving, fixed, tx, sitk.sitkNearestNeighbor, 0, moving.GetPixelID())
    a = sitk.GetArrayViewFromImage(fixed).astype(np.int64).ravel()
    b = sitk.GetArrayViewFromImage(res).astype(np.int64).ravel()
    both = (a > 0) & (b > 0)
    if not both.any():
        return {}
    pairs, counts = np.unique(np.stack([a[both], b[both]]), axis=1, return_counts=True)
    return {(int(p), int(q)): int(n) for (p, q), n in zip(pairs.T, counts, strict=True)}


@dataclass
class _Track:
    id: str
    pos: np.ndarray
    baseline_label: int | None
    first: int
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)


def _assign(
    tracks: list[_Track], pts: np.ndarray, ids: list[int], ov: dict[tuple[int, int], int],
    gate: float,
) -> tuple[list[tuple[int, int]], np.ndarray]:
    from scipy.optimize import linear_sum_assignment

    if not tracks or not len(pts):
        return [], np.zeros((len(tracks), len(pts)))
    tpos = np.stack([t.pos for t in tracks])
    dist = np.linalg.norm(tpos[:, None, :] - pts[None, :, :], axis=2)
    olap = np.array(
        [[ov.get((t.baseline_label, f), 0) if t.baseline_label else 0 for f in ids]
         for t in tracks]
    )
    allowed = (dist <= gate) | (olap > 0)
    big = 1e6
    cost = np.where(allowed, dist - 1e-3 * olap, big)
    r, c = linear_sum_assignment(cost)
    return [(i, j) for i, j in zip(r, c, strict=True) if allowed[i, j]], dist


def build_record(
    folders: list[Path],
    dates: list[dt.date] | None = None,
    steroids: list[float | None] | None = None,
    clinical: list[str | None] | None = None,
    on_immunotherapy: bool = False,
    immunotherapy_start: dt.date | None = None,
    config: ResponseConfig | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Register, match and measure: returns (CONTRACT §4 record, tracking report)."""
    cfg = get_config(config)
    if len(folders) < 2:
        raise InputError(["DIRS: give the baseline scan folder and at least one follow-up"])
    scans = [load_scan_dir(f) for f in folders]
    n = len(scans)
    dates = _scan_dates(folders, scans, dates, steroids, clinical)
    gate = cfg.match_max_distance_mm
    base = scans[0]
    base_lesions = sorted(base.scan.lesions, key=lambda x: x.id)
    tracks = [_Track(f"L{les.id}", np.array(les.centroid_mm, float), les.id, 0)
              for les in base_lesions]
    for t, les in zip(tracks, base_lesions, strict=True):
        t.rows[0] = {"scan_lesion_id": les.id, "lesion": les, "distance_mm": 0.0, "overlap": None}
    registrations: list[dict[str, Any]] = []
    flags: list[str] = []
    for k in range(1, n):
        les_list = sorted(scans[k].scan.lesions, key=lambda x: x.id)
        raw = np.array([les.centroid_mm for les in les_list], float).reshape(-1, 3)
        ids = [les.id for les in les_list]
        mapped, reg, ov = _to_baseline_space(base, scans[k], raw)
        reg = {"date": dates[k].isoformat(), "folder": str(scans[k].folder), **reg}
        if mapped is None:
            mapped = _centroid_fallback(tracks, raw, ids, gate)
            reg.update(method="centroid alignment (fallback)", metric=None)
            flags.append(
                f"{dates[k]}: registration fell back to lesion-centroid alignment "
                f"({reg['error']}); lesion matching is less reliable - manual review"
            )
        registrations.append(reg)
        _match_followup(tracks, k, les_list, mapped, ov, gate, dates[k], flags)
    record = _record(tracks, dates, steroids, clinical, on_immunotherapy, immunotherapy_start, n)
    tracking = {
        "tracks": [_track_summary(t, n, dates) for t in tracks],
        "registrations": registrations,
        "flags_for_review": flags,
        "match_max_distance_mm": gate,
    }
    return record, tracking


def _scan_dates(
    folders: list[Path], scans: list[Any], dates: list[dt.date] | None,
    steroids: list[float | None] | None, clinical: list[str | None] | None,
) -> list[dt.date]:
    """One date per folder (given, or from lesions.json), strictly increasing."""
    n = len(scans)
    for name, vals in (("--dates", dates), ("--steroids", steroids), ("--clinical", clinical)):
        if vals is not None and len(vals) != n:
            raise InputError([f"{name}: {len(vals)} values for {n} scan folders"])
    if dates is None:
        missing = [str(s.folder) for s in scans if s.date is None]
        if missing:
            raise InputError(
                [f"{m}/lesions.json: no 'date'; pass --dates YYYY-MM-DD,... (one per folder, "
                 "oldest first)" for m in missing]
            )
        dates = [s.date for s in scans]
    bad = [
        f"{folders[k]}: date {dates[k]} is not after {folders[k - 1]} ({dates[k - 1]}); give the "
        "folders oldest first, one scan per date"
        for k in range(1, n) if dates[k] <= dates[k - 1]
    ]
    if bad:
        raise InputError(bad)
    return dates


def _to_baseline_space(
    base: Any, sc: Any, raw: np.ndarray
) -> tuple[np.ndarray | None, dict[str, Any], dict[tuple[int, int], int]]:
    """Follow-up centroids mapped into the baseline by rigid registration (None on failure)."""
    reg: dict[str, Any] = {}
    ov: dict[tuple[int, int], int] = {}
    if base.image is None or sc.image is None:
        missing = [str(s.folder) for s in (base, sc) if s.image is None]
        reg["error"] = "input image not found for " + ", ".join(missing)
        return None, reg, ov
    try:
        tx, metric = register_rigid(base.image, sc.image)
        inv = tx.GetInverse()
        mapped = np.array(
            [_ras_to_lps(np.array(inv.TransformPoint(tuple(_ras_to_lps(p))))) for p in raw]
        ).reshape(-1, 3)
        reg.update(method="rigid Euler3D, Mattes MI (SimpleITK)", metric=metric)
        reg["parameters"] = [float(x) for x in _euler_params(tx)]
        if base.labels is not None and sc.labels is not None:
            ov = _overlap(base.labels, sc.labels, tx)
    # SimpleITK raises RuntimeError and others: any failure falls back to centroids (reported)
    except Exception as exc:  # noqa: BLE001 - registration failure -> centroid fallback
        reg["error"] = f"{type(exc).__name__}: {exc}"
        return None, reg, {}
    return mapped, reg, ov


def _centroid_fallback(
    tracks: list[_Track], raw: np.ndarray, ids: list[int], gate: float
) -> np.ndarray:
    """Centroid alignment: identity, then a rigid fit on the pairs matched by distance."""
    pairs, _ = _assign(tracks, raw, ids, {}, gate)
    if not pairs:
        return raw
    src = np.stack([raw[j] for _, j in pairs])
    dst = np.stack([tracks[i].pos for i, _ in pairs])
    r, tvec = _kabsch(src, dst)
    return raw @ r.T + tvec


def _match_followup(
    tracks: list[_Track], k: int, les_list: list[Any], mapped: np.ndarray,
    ov: dict[tuple[int, int], int], gate: float, date: dt.date, flags: list[str],
) -> None:
    """Assign the follow-up's lesions to tracks; the unmatched ones start new tracks."""
    ids = [les.id for les in les_list]
    pairs, dist = _assign(tracks, mapped, ids, ov, gate)
    matched_f = {j for _, j in pairs}
    for i, j in pairs:
        label = tracks[i].baseline_label
        tracks[i].rows[k] = {
            "scan_lesion_id": ids[j], "lesion": les_list[j],
            "distance_mm": round(float(dist[i, j]), 2),
            "overlap": ov.get((label, ids[j])) if label else None,
        }
        if tracks[i].baseline_label is None:
            tracks[i].pos = mapped[j]
    n_new = sum(1 for t in tracks if t.baseline_label is None)
    for j in range(len(ids)):
        if j in matched_f:
            continue
        if tracks and float(dist[:, j].min()) <= gate:
            flags.append(
                f"{date}: lesion {ids[j]} lies within {gate:.0f} mm of an already matched "
                "lesion (possible split or merge) and is tracked as new - manual review"
            )
        n_new += 1
        flags.append(
            f"{date}: new lesion N{n_new} ({les_list[j].longest_axial_diameter_mm:.1f} "
            "mm) comes from automated detection; confirm it is a metastasis visible in >= 2 "
            "projections before accepting PD"
        )
        t = _Track(f"N{n_new}", mapped[j], None, k)
        t.rows[k] = {"scan_lesion_id": ids[j], "lesion": les_list[j], "distance_mm": None,
                     "overlap": None}
        tracks.append(t)


def _euler_params(tx: Any) -> list[float]:
    import SimpleITK as sitk

    t = tx
    while isinstance(t, sitk.CompositeTransform) and t.GetNumberOfTransforms():
        t = t.GetNthTransform(t.GetNumberOfTransforms() - 1)
    return list(t.GetParameters())


def _record(tracks, dates, steroids, clinical, on_io, io_start, n) -> dict[str, Any]:
    tps = []
    for k in range(n):
        lesions = []
        for t in tracks:
            if t.first > k:
                continue
            row = t.rows.get(k)
            if row is None:
                lesions.append({"id": t.id, "longest_diameter_mm": 0.0, "perpendicular_mm": 0.0,
                                "volume_ml": 0.0})
                continue
            les: ScanLesion = row["lesion"]
            d: dict[str, Any] = {
                "id": t.id,
                "longest_diameter_mm": round(les.longest_axial_diameter_mm, 2),
                "perpendicular_mm": (
                    None if les.perpendicular_diameter_mm is None
                    else round(min(les.perpendicular_diameter_mm,
                                   les.longest_axial_diameter_mm), 2)
                ),
                "volume_ml": les.volume_ml,
                "centroid_mm": list(les.centroid_mm),
            }
            if k > 0 and t.first == k:
                d["new"] = True
            lesions.append(d)
        tps.append({
            "date": dates[k].isoformat(),
            "steroid_mg_day": steroids[k] if steroids else None,
            "clinical_status": clinical[k] if clinical else None,
            "lesions": lesions,
        })
    return {
        "on_immunotherapy": on_io,
        "immunotherapy_start": io_start.isoformat() if io_start else None,
        "timepoints": tps,
    }


def _track_summary(t: _Track, n: int, dates: list[dt.date]) -> dict[str, Any]:
    present_last = (n - 1) in t.rows
    if t.first == 0:
        status = "persisting" if present_last else "vanished"
    else:
        status = "new" if present_last else "new, vanished"
    steps = []
    for k in range(t.first, n):
        row = t.rows.get(k)
        steps.append({
            "date": dates[k].isoformat(),
            "scan_lesion_id": row["scan_lesion_id"] if row else None,
            "longest_diameter_mm": row["lesion"].longest_axial_diameter_mm if row else 0.0,
            "volume_ml": row["lesion"].volume_ml if row else 0.0,
            "distance_mm": row["distance_mm"] if row else None,
            "overlap_voxels": row["overlap"] if row else None,
        })
    summary = " -> ".join(
        f"{s['longest_diameter_mm']:.1f}" if s["scan_lesion_id"] is not None else "gone"
        for s in steps
    ) + " mm"
    return {"id": t.id, "status": status, "first_seen": dates[t.first].isoformat(),
            "summary": summary, "steps": steps}
