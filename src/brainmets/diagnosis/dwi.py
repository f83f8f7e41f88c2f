"""DWI -> ADC (diagnosis.md §1, §7.1): FSL bval/bvec or DICOM input, mono-exponential fit.

ADC maps are in 10^-3 mm^2/s (0 = not computed). The fit is log-linear least squares over
b-values (>= 2 distinct), weighted by the squared OLS-predicted signal (WLS; the weighting is a
standard choice that the spec could not source-check). When >= 2 distinct b-values >= 200 s/mm^2
exist, only those are fitted (perfusion suppression). With N directions at one b-value the
log-linear fit equals the trace (geometric-mean) ADC.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from brainmets.diagnosis.facts import settings
from brainmets.diagnosis.volumes import DiagnosisInputError, finite_or_none, load

# ----------------------------------------------------------------------------- bval / bvec


def _numbers(path: Path, what: str) -> list[list[float]]:
    if not path.exists():
        raise DiagnosisInputError(f"{what}: no such file: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as exc:
        raise DiagnosisInputError(f"{what}: cannot read {path} as text: {exc}") from None
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        tokens = line.replace(",", " ").split()
        if not tokens:
            continue
        try:
            row = [float(t) for t in tokens]
        except ValueError:
            bad = next(t for t in tokens if not _is_float(t))
            raise DiagnosisInputError(
                f"{what}: line {lineno}: not a number: {bad!r} ({path.name})"
            ) from None
        if not all(np.isfinite(row)):
            raise DiagnosisInputError(f"{what}: line {lineno}: non-finite value ({path.name})")
        rows.append(row)
    if not rows:
        raise DiagnosisInputError(f"{what}: file is empty: {path}")
    return rows


def _is_float(t: str) -> bool:
    try:
        float(t)
    except ValueError:
        return False
    return True


def read_bvals(path: str | Path, n_volumes: int | None = None) -> np.ndarray:
    """FSL .bval: one line of N values, or one value per line (HCP variant); s/mm^2."""
    rows = _numbers(Path(path), "--bval")
    if len(rows) > 1 and any(len(r) != 1 for r in rows):
        raise DiagnosisInputError(
            "--bval: expected one line of b-values or one value per line, got "
            f"{len(rows)} lines with {[len(r) for r in rows]} values"
        )
    b = np.array([v for r in rows for v in r], dtype=float)
    if (b < 0).any():
        raise DiagnosisInputError(f"--bval: b-values must be >= 0, got {b[b < 0][0]:g}")
    if n_volumes is not None and b.size != n_volumes:
        raise DiagnosisInputError(
            f"--bval: {b.size} b-values for {n_volumes} volumes in the DWI (must match)"
        )
    return b


def read_bvecs(path: str | Path, n_volumes: int, bvals: np.ndarray | None = None) -> np.ndarray:
    """FSL .bvec: 3 rows x N columns (N x 3 accepted); returns (N, 3) unit vectors."""
    rows = _numbers(Path(path), "--bvec")
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise DiagnosisInputError(f"--bvec: rows have different lengths {sorted(widths)}")
    arr = np.array(rows, dtype=float)
    if arr.shape == (3, n_volumes):
        vec = arr.T
    elif arr.shape == (n_volumes, 3):
        vec = arr
    else:
        raise DiagnosisInputError(
            f"--bvec: expected 3 rows x {n_volumes} columns (one per volume), got "
            f"{arr.shape[0]} x {arr.shape[1]}"
        )
    norms = np.linalg.norm(vec, axis=1)
    b0 = settings()["dwi"]["b0_threshold"]
    weighted = norms > 0 if bvals is None else bvals >= b0
    bad = weighted & (np.abs(norms - 1) > 0.1)
    if bad.any():
        i = int(np.argmax(bad))
        raise DiagnosisInputError(
            f"--bvec: volume {i} has a gradient vector of length {norms[i]:.3g}; "
            "diffusion-weighted volumes need unit vectors"
        )
    return vec


# ----------------------------------------------------------------------------- DICOM

_DERIVED_WORDS = {"DERIVED", "ADC", "EADC", "TRACEW", "TRACE", "ISOTROPIC", "FA", "CALC_BV"}


def _tag(ds: Any, group: int, elem: int) -> Any:
    el = ds.get((group, elem))
    return None if el is None else el.value


def _first(value: Any) -> float:
    if isinstance(value, bytes):
        value = value.decode("ascii", "ignore").strip("\x00 ").split("\\")[0]
    if isinstance(value, list | tuple) or hasattr(value, "__getitem__") and not isinstance(
            value, str):
        value = value[0]
    return float(value)


def _siemens_csa_bvalue(ds: Any) -> float | None:
    """B_value from the Siemens CSA image header (0029,xx10), read with nibabel.nicom."""
    if (0x0029, 0x0010) not in ds:
        return None
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from nibabel.nicom import csareader
        try:
            csa = csareader.get_csa_header(ds, "image")
            value = None if csa is None else csareader.get_scalar(csa, "B_value")
        except Exception:  # malformed or anonymised CSA: fall back on the other tags
            return None
    return None if value is None else float(value)


def dicom_bvalue(ds: Any) -> tuple[float | None, str]:
    """b-value (s/mm^2) and the tag it came from, per vendor (dcm2niix conventions)."""
    manuf = str(ds.get("Manufacturer", "")).lower()
    std = _tag(ds, 0x0018, 0x9087)
    if std is not None:
        return _first(std), "(0018,9087) DiffusionBValue"
    ge = _tag(ds, 0x0043, 0x1039)
    if ge is not None:
        return _first(ge) % 1_000_000_000, "(0043,1039) GE, mod 1e9"
    csa = _siemens_csa_bvalue(ds)
    if csa is not None:
        return csa, "Siemens CSA header B_value"
    sie = _tag(ds, 0x0019, 0x100C)
    if sie is not None:
        return _first(sie), "(0019,100C) Siemens"
    phi = _tag(ds, 0x2001, 0x1003)
    if phi is not None:
        return _first(phi), "(2001,1003) Philips"
    uih = _tag(ds, 0x0065, 0x1009)
    if uih is not None:
        return _first(uih), "(0065,1009) UIH"
    comments = str(ds.get("ImageComments", ""))
    m = re.search(r"b\s*=\s*(\d+(?:\.\d+)?)", comments)
    if m:
        return float(m.group(1)), "(0020,4000) ImageComments"
    if "canon" in manuf or "toshiba" in manuf:
        return 0.0, "Canon/Toshiba: no b-value tag means b = 0"
    return None, ""


def dicom_direction(ds: Any) -> tuple[float, float, float] | None:
    """Gradient direction as stored (vendor frame; used only to tell volumes apart)."""
    for tags in (((0x0018, 0x9089),), ((0x0019, 0x100E),),
                 ((0x0019, 0x10BB), (0x0019, 0x10BC), (0x0019, 0x10BD)),
                 ((0x2005, 0x10B0), (0x2005, 0x10B1), (0x2005, 0x10B2)),
                 ((0x0065, 0x1037),)):
        vals = [_tag(ds, *t) for t in tags]
        if any(v is None for v in vals):
            continue
        try:
            flat = [float(x) for v in vals for x in (v if isinstance(v, list | tuple) or (
                hasattr(v, "__len__") and not isinstance(v, str | bytes)) else [v])]
        except (TypeError, ValueError):
            continue
        if len(flat) == 3:
            return tuple(round(x, 3) for x in flat)  # type: ignore[return-value]
    return None


def _is_derived(ds: Any) -> str | None:
    image_type = {str(x).upper() for x in (ds.get("ImageType") or [])}
    hit = image_type & _DERIVED_WORDS
    if hit:
        return f"ImageType {sorted(hit)}"
    directionality = str(_tag(ds, 0x0018, 0x9075) or "").upper()
    if directionality == "ISOTROPIC":
        return "DiffusionDirectionality ISOTROPIC"
    return None


def load_dicom_dwi(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """(data X x Y x Z x N, affine RAS, bvals, info) from a folder with one DWI series."""
    import pydicom

    files = sorted(p for p in folder.rglob("*") if p.is_file())
    slices, excluded, skipped = [], [], 0
    for f in files:
        try:
            ds = pydicom.dcmread(str(f))
        except Exception:  # pydicom raises assorted errors on non-DICOM files: count, skip
            skipped += 1
            continue
        if "PixelData" not in ds:
            skipped += 1
            continue
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        image_type = {str(x).upper() for x in (ds.get("ImageType") or [])}
        if frames > 1 or "MOSAIC" in image_type:
            kind = "enhanced multi-frame" if frames > 1 else "Siemens mosaic"
            raise DiagnosisInputError(
                f"DWI: {f.name} is {kind} DICOM, which this reader does not unpack; convert the "
                "series with dcm2niix and pass the NIfTI with --bval/--bvec")
        why = _is_derived(ds)
        if why:
            excluded.append(f"{f.name}: {why}")
            continue
        b, src = dicom_bvalue(ds)
        if b is None:
            raise DiagnosisInputError(
                f"DWI: {f.name}: no b-value found (looked in (0018,9087), GE (0043,1039), "
                "Siemens (0019,100C), Philips (2001,1003), UIH (0065,1009), ImageComments); "
                "convert with dcm2niix and pass the NIfTI with --bval"
            )
        slices.append((ds, b, src, dicom_direction(ds)))
    if not slices:
        raise DiagnosisInputError(
            f"DWI: no usable diffusion images in {folder} ({len(excluded)} derived images "
            f"excluded, {skipped} non-image files)"
        )
    series = {str(s[0].get("SeriesInstanceUID", "")) for s in slices}
    if len(series) > 1:
        raise DiagnosisInputError(f"DWI: {folder} holds {len(series)} series; give one series")
    ds0 = slices[0][0]
    try:
        iop = np.array([float(v) for v in ds0.ImageOrientationPatient])
        spacing = [float(v) for v in ds0.PixelSpacing]
    except AttributeError as exc:
        raise DiagnosisInputError(f"DWI: missing geometry tag: {exc}") from None
    row, col = iop[:3], iop[3:]
    normal = np.cross(row, col)

    def pos(ds: Any) -> np.ndarray:
        return np.array([float(v) for v in ds.ImagePositionPatient])

    positions = sorted({round(float(pos(s[0]) @ normal), 3) for s in slices})
    n_slices = len(positions)
    # volumes: (b, direction) groups; repeated positions within a group -> separate volumes
    groups: dict[tuple, list] = {}
    for ds, b, _src, d in sorted(slices, key=lambda s: int(s[0].get("InstanceNumber", 0) or 0)):
        groups.setdefault((round(b, 1), d), []).append(ds)
    volumes, bvals = [], []
    for (b, _d), members in sorted(groups.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        seen: dict[float, int] = {}
        stacks: list[dict[float, np.ndarray]] = []
        for ds in members:
            z = round(float(pos(ds) @ normal), 3)
            k = seen.get(z, 0)
            seen[z] = k + 1
            while len(stacks) <= k:
                stacks.append({})
            arr = ds.pixel_array.astype(np.float32)
            slope = float(ds.get("RescaleSlope", 1) or 1)
            inter = float(ds.get("RescaleIntercept", 0) or 0)
            stacks[k][z] = arr * slope + inter
        for st in stacks:
            if len(st) != n_slices:
                raise DiagnosisInputError(
                    f"DWI: b = {b:g} volume has {len(st)} of {n_slices} slices (incomplete series)"
                )
            volumes.append(np.stack([st[z].T for z in positions], axis=-1))
            bvals.append(b)
    data = np.stack(volumes, axis=-1)
    first = min(slices, key=lambda s: float(pos(s[0]) @ normal))[0]
    step = (positions[-1] - positions[0]) / (n_slices - 1) if n_slices > 1 else float(
        ds0.get("SliceThickness", 1.0) or 1.0)
    lps = np.eye(4)
    lps[:3, 0] = row * spacing[1]
    lps[:3, 1] = col * spacing[0]
    lps[:3, 2] = normal * step
    lps[:3, 3] = pos(first)
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    info = {"source": "dicom", "manufacturer": str(ds0.get("Manufacturer", "")),
            "bvalue_tags": sorted({s[2] for s in slices}),
            "excluded_derived_images": len(excluded), "excluded_examples": excluded[:5],
            "note": "gradient directions are in vendor frames and are used only to separate "
                    "volumes; the trace ADC does not need them"}
    return data, affine, np.array(bvals, dtype=float), info


# ----------------------------------------------------------------------------- fit


def fit_adc(data: np.ndarray, bvals: np.ndarray, mask: np.ndarray | None = None
            ) -> tuple[np.ndarray, dict[str, Any]]:
    """ADC in mm^2/s (NaN where not computed) from a 4-D DWI and its b-values."""
    cfg = settings()["dwi"]
    bvals = np.asarray(bvals, dtype=float)
    distinct = np.unique(np.round(bvals))
    if distinct.size < 2:
        raise DiagnosisInputError(
            f"--bval: need at least 2 distinct b-values for an ADC fit, got {distinct.tolist()}"
        )
    high = distinct[distinct >= cfg["perfusion_b_threshold"]]
    use = bvals >= cfg["perfusion_b_threshold"] if high.size >= 2 else np.ones(bvals.size, bool)
    b = np.where(bvals < cfg["b0_threshold"], 0.0, bvals)[use]
    spatial = data.shape[:3]
    if mask is None:
        mask = np.ones(spatial, bool)
    sig = data[mask][:, use].astype(np.float64)  # (V, K)
    ok = np.all(sig > 0, axis=1)
    y = np.log(np.where(sig > 0, sig, 1.0))
    adc = np.full(sig.shape[0], np.nan)

    def wfit(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sw, sb, sbb = w.sum(1), (w * b).sum(1), (w * b * b).sum(1)
        sy, sby = (w * y).sum(1), (w * b * y).sum(1)
        den = sw * sbb - sb * sb
        slope = (sw * sby - sb * sy) / np.where(den > 0, den, np.nan)
        icpt = (sy - slope * sb) / sw
        return -slope, icpt

    d_ols, i_ols = wfit(np.ones_like(y))
    pred = np.exp(2 * np.clip(i_ols[:, None] - np.outer(np.nan_to_num(d_ols), b), -50, 50))
    d_wls, _ = wfit(pred)
    adc[ok] = d_wls[ok]
    vmax = cfg["adc_valid_max"] * 1e-3
    invalid = ok & ((adc < 0) | (adc > vmax))
    adc[invalid] = np.nan
    out = np.full(spatial, np.nan)
    out[mask] = adc
    info = {"bvalues_all": sorted(set(np.round(bvals, 1).tolist())),
            "bvalues_fitted": sorted(set(np.round(bvals[use], 1).tolist())),
            "perfusion_suppressed": bool(high.size >= 2 and use.sum() < bvals.size),
            "method": "log-linear weighted least squares (weights: squared OLS-predicted signal)",
            "voxels_fitted": int(ok.sum()), "voxels_nonpositive_signal": int((~ok).sum()),
            "voxels_invalid_range": int(invalid.sum()),
            "valid_range_1e-3_mm2_s": [0.0, cfg["adc_valid_max"]]}
    return out, info


# ----------------------------------------------------------------------------- command core


def _stats(values: np.ndarray) -> dict[str, Any]:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return {"n_voxels": 0, "median": None, "mean": None}
    return {"n_voxels": int(v.size), "median": finite_or_none(np.median(v)),
            "mean": finite_or_none(v.mean()), "p10": finite_or_none(np.percentile(v, 10)),
            "p90": finite_or_none(np.percentile(v, 90))}


def add_statements(per_lesion: list[dict[str, Any]], history: str | None,
                   solitary: bool | None) -> None:
    """Attach the statements each lesion's measured values trigger (in place)."""
    from brainmets.diagnosis.block import (
        measurement_notes,
        measurement_statements,
        statement_dicts,
    )

    for entry in per_lesion:
        entry["statements"] = statement_dicts(
            measurement_statements(entry["advanced_imaging"], history, solitary))
        entry["statement_notes"] = measurement_notes(entry["advanced_imaging"], history,
                                                     solitary)


def _lesion_entries(labels: np.ndarray | None, affine: np.ndarray, brain: np.ndarray,
                    adc_1e3: np.ndarray, nawm_adc: float | None) -> list[dict[str, Any]]:
    """Per lesion: ADC of the solid enhancing part (what Romano 2022 measured as lesional ADC),
    of the cavity (ring labels only: what the abscess studies measured), rim and peritumoral."""
    from brainmets.diagnosis import roi

    out: list[dict[str, Any]] = []
    if labels is None:
        return out
    for lid, m in roi.lesion_regions(labels, affine, brain).items():
        cavity = _stats(adc_1e3[m["cavity"]])
        entry: dict[str, Any] = {
            "id": lid, "lesion": _stats(adc_1e3[m["lesion"]]),
            "enhancing": _stats(adc_1e3[m["enhancing"]]),
            "cavity_core": cavity, "rim": _stats(adc_1e3[m["rim"]]),
            "peritumoral": _stats(adc_1e3[m["peri"]]), "notes": [],
        }
        ratio = (cavity["mean"] / nawm_adc) if cavity["mean"] is not None and nawm_adc else None
        entry["cavity_to_nawm_ratio"] = finite_or_none(ratio)
        if cavity["n_voxels"] == 0:
            entry["notes"].append("solid label (no unlabelled interior): no cavity, so cavity "
                                  "ADC is not computed")
        entry["notes"].append("lesion_adc is the mean over the solid enhancing part only (the "
                              "labelled voxels), as Romano 2022 measured it; 'lesion' (whole "
                              "filled lesion incl. any cavity) is shown for reference only")
        values: dict[str, Any] = {
            k: v for k, v in (("cavity_adc", cavity["mean"]),
                              ("cavity_adc_ratio", entry["cavity_to_nawm_ratio"]),
                              ("lesion_adc", entry["enhancing"]["mean"]),
                              ("nawm_adc", nawm_adc)) if v is not None}
        if "lesion_adc" in values:
            values["lesion_adc_region"] = "solid_enhancing"
        if cavity["n_voxels"]:
            values["ring_enhancing"] = True
        entry["advanced_imaging"] = values
        out.append(entry)
    return out


def run_adc(dwi: Path, bval: Path | None, bvec: Path | None, out: Path,
            lesions: Path | None = None, nawm_mask: Path | None = None,
            history: str | None = None) -> dict[str, Any]:
    """Compute and write DIR/adc.nii.gz and DIR/adc.json; returns the JSON summary.

    Each lesion carries the interpretation statements its values trigger (``statements``),
    asked for the lesion ``history`` (see :func:`brainmets.diagnosis.block.measurement_statements`).
    """
    from brainmets.diagnosis import roi
    from brainmets.diagnosis.facts import thresholds
    from brainmets.diagnosis.volumes import resample_labels, write_outputs

    dwi = Path(dwi)
    if dwi.is_dir():
        if bval is not None:
            raise DiagnosisInputError("--bval: not used with a DICOM folder (b-values come "
                                      "from the DICOM tags); omit it")
        data, affine, bvals, src = load_dicom_dwi(dwi)
    else:
        if bval is None:
            raise DiagnosisInputError("--bval: required for a NIfTI DWI (FSL .bval file)")
        data, affine, _ = load(dwi, "DWI", ndim=(4,))
        bvals = read_bvals(bval, data.shape[3])
        src = {"source": "nifti"}
        if bvec is not None:
            read_bvecs(bvec, data.shape[3], bvals)
            src["bvec"] = "read and checked (unit vectors; the trace ADC does not use them)"
    cfg = roi.settings()
    b0 = data[..., bvals < cfg["dwi"]["b0_threshold"]]
    baseline = b0.mean(axis=-1) if b0.shape[-1] else data.min(axis=-1)
    brain = roi.brain_mask(baseline)
    adc, fit = fit_adc(data, bvals, brain)
    adc_1e3 = adc * 1e3
    warnings: list[str] = []
    labels = None
    if lesions is not None:
        lab, lab_aff, _ = load(lesions, "--lesions", ndim=(3,))
        labels, resampled = resample_labels(lab, lab_aff, data.shape[:3], affine)
        if resampled:
            warnings.append("lesion map was resampled to the DWI grid (nearest neighbour)")
    if nawm_mask is not None:
        um, um_aff, _ = load(nawm_mask, "--nawm-mask", ndim=(3,))
        nawm, _ = resample_labels((um > 0).astype(np.int32), um_aff, data.shape[:3], affine)
        nawm = (nawm > 0) & brain & np.isfinite(adc_1e3)
        nawm_info = roi.describe(nawm, affine, method="user mask (--nawm-mask)")
    else:
        nawm, nawm_info = roi.choose_nawm(brain, baseline, labels, affine)
    nawm_adc = _stats(adc_1e3[nawm])["median"] if nawm.any() else None
    qc = thresholds()["qc"]["adc_nawm_range"]
    unit_ok = nawm_adc is not None and qc["low"] <= nawm_adc <= qc["high"]
    if nawm_adc is None:
        warnings.append("no NAWM reference could be chosen; ADC ratios not computed")
    elif not unit_ok:
        warnings.append(
            f"NAWM median ADC {nawm_adc:g} x10^-3 mm^2/s outside {qc['low']}-{qc['high']}: "
            "ADC scaling/unit error suspected (R-DWI-3); ADC cut-offs must not be applied")
    per_lesion = _lesion_entries(labels, affine, brain, adc_1e3, nawm_adc)
    add_statements(per_lesion, history, None)
    summary = {
        "input": str(dwi), **src, "shape": list(data.shape), "units": "x10^-3 mm^2/s",
        "map": "adc.nii.gz (0 = not computed)", "fit": fit,
        "brain_voxels": int(brain.sum()),
        "nawm": {**nawm_info, "median_adc": nawm_adc, "unit_check_passed": unit_ok,
                 "unit_check_rule": qc["rule"]},
        "lesions": per_lesion, "warnings": warnings,
        "disclaimer": "Research/decision-support measurement, not a diagnosis; ADC cut-offs are "
                      "study-specific (see brainmets.diagnosis.interpret).",
    }
    write_outputs(Path(out), {"adc.nii.gz": (np.nan_to_num(adc_1e3, nan=0.0), affine)},
                  {"adc.json": summary})
    return summary
