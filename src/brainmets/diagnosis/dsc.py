"""DSC perfusion (diagnosis.md §2.1-2.3, §7.2): ΔR2*, CBV, BSW leakage correction, rCBV, PSR.

* ΔR2*(t) = -ln(S(t)/S0)/TE, S0 = mean over automatically detected pre-bolus frames.
* Reference R(t) = mean ΔR2* over whole-brain non-enhancing tissue (lesions and voxels whose
  late signal stays above baseline excluded); I(t) = trapezoidal cumulative integral with Δt.
* BSW (Boxerman 2006): per voxel least squares ΔR2* = K1·R - K2·I (design [R, -I], one
  vectorised lstsq for all voxels); corrected ΔR2*_c = ΔR2* + K2·I. With this sign convention
  T1-dominant leakage gives K2 > 0 and raises the corrected CBV (settled by a simulation test).
  K2 is not a permeability measure (Skinner 2016) and is reported only as a QC summary.
* CBV = trapezoidal integral of ΔR2*_c over the first pass; rCBV = CBV / median CBV in
  automatically chosen contralateral NAWM (reported, replaceable by a user mask).
* PSR = 100·(S_post - S_min)/(S0 - S_min), S_post = mean of the last frames (a common
  convention; the spec could not source-check the formula).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from brainmets.diagnosis.facts import settings
from brainmets.diagnosis.volumes import DiagnosisInputError, finite_or_none, load


def frame_interval(header: Any) -> tuple[float | None, str | None]:
    """(seconds between frames, warning) from the NIfTI header (pixdim[4] and its unit)."""
    try:
        dt = float(header["pixdim"][4])
        unit = header.get_xyzt_units()[1]
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return None, None  # no usable pixdim[4]: the caller asks for --tr
    if not np.isfinite(dt) or dt <= 0:
        return None, None
    note = None
    if unit not in ("sec", "msec", "usec"):
        note = f"frame interval {dt:g} read from the header with no time unit; taken as seconds"
    return dt * {"msec": 1e-3, "usec": 1e-6}.get(unit, 1.0), note


def detect_baseline(curve: np.ndarray) -> dict[str, int]:
    """Pre-bolus baseline frames [n1, n2] and bolus arrival from the whole-brain mean signal."""
    cfg = settings()["dsc"]
    skip, nmin = int(cfg["skip_frames"]), int(cfg["min_baseline_frames"])
    if curve.size < skip + nmin + 3:
        raise DiagnosisInputError(f"DSC: only {curve.size} frames; too few for a bolus passage")
    t_min = int(np.argmin(curve[skip:])) + skip
    base0 = float(np.median(curve[skip:skip + nmin]))
    depth = base0 - float(curve[t_min])
    if t_min < skip + nmin or depth <= 0:
        raise DiagnosisInputError(
            "DSC: no pre-bolus baseline followed by a signal drop was found (is the last axis "
            "time, and does the series include frames before contrast arrival?)")
    below = np.nonzero(base0 - curve[skip:t_min + 1] > cfg["arrival_fraction"] * depth)[0]
    arrival = int(below[0]) + skip
    n2 = arrival - 1
    if n2 - skip + 1 < nmin:
        raise DiagnosisInputError(
            f"DSC: only {max(n2 - skip + 1, 0)} baseline frames before bolus arrival "
            f"(frame {arrival}); need {nmin}")
    return {"n1": skip, "n2": n2, "arrival": arrival, "signal_minimum": t_min}


def cumulative(curve: np.ndarray, dt: float) -> np.ndarray:
    """Trapezoidal cumulative integral along the last axis, I(t_0) = 0."""
    inc = 0.5 * (curve[..., 1:] + curve[..., :-1]) * dt
    return np.concatenate([np.zeros(curve.shape[:-1] + (1,)), np.cumsum(inc, axis=-1)], axis=-1)


def bsw_correct(dr2: np.ndarray, reference: np.ndarray, dt: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(K1, K2, corrected ΔR2*) for voxel curves ``dr2`` (V, T) against ``reference`` (T,)."""
    integral = cumulative(reference, dt)
    design = np.stack([reference, -integral], axis=1)  # (T, 2)
    coef, *_ = np.linalg.lstsq(design, dr2.T, rcond=None)  # (2, V)
    k1, k2 = coef
    return k1, k2, dr2 + k2[:, None] * integral[None, :]


def first_pass_window(reference: np.ndarray, start: int) -> tuple[int, int]:
    """[start, end] frames: from the baseline start to where R falls below a fraction of peak."""
    frac = settings()["dsc"]["first_pass_end_fraction"]
    peak = int(np.argmax(reference))
    after = np.nonzero(reference[peak:] < frac * reference[peak])[0]
    end = peak + int(after[0]) if after.size else reference.size - 1
    return start, end


def cbv(dr2: np.ndarray, dt: float, window: tuple[int, int]) -> np.ndarray:
    a, b = window
    seg = dr2[..., a:b + 1]
    return (0.5 * (seg[..., 1:] + seg[..., :-1]) * dt).sum(axis=-1)


def psr(signal: np.ndarray, s0: np.ndarray) -> np.ndarray:
    tail = int(settings()["dsc"]["psr_tail_frames"])
    smin = signal.min(axis=-1)
    post = signal[..., -tail:].mean(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 100.0 * (post - smin) / (s0 - smin)


def protocol_warnings(te_ms: float, flip_angle: float | None, preload: str,
                      field_strength: float | None) -> list[str]:
    """R-PWI-4 protocol QC against the consensus DSC protocol (Boxerman 2020)."""
    from brainmets.diagnosis.facts import thresholds

    qc = thresholds()["qc"]
    proto = qc["dsc_protocol"]
    ranges = {r[0]: (r[1], r[2]) for r in qc["dsc_te_ms"]["ranges"]}
    text = ", ".join(f"{lo:g}-{hi:g} ms at {f:g} T" for f, (lo, hi) in ranges.items())
    out = []
    if field_strength is None:
        out.append(f"field strength not given: TE {te_ms:g} ms not checked (consensus {text})")
    else:
        match = [v for f, v in ranges.items() if abs(f - field_strength) < 0.26]
        if not match:
            out.append(f"no consensus TE range for {field_strength:g} T (consensus {text})")
        elif not match[0][0] <= te_ms <= match[0][1]:
            out.append(f"TE {te_ms:g} ms outside the consensus {match[0][0]:g}-{match[0][1]:g} ms "
                       f"at {field_strength:g} T: perfusion flags are low reliability (R-PWI-4)")
    fa_pre, fa_nopre = proto["flip_angle_with_preload_deg"], proto["flip_angle_without_preload_deg"]
    if flip_angle is None:
        out.append("flip angle not given: protocol not checked against the consensus")
    if preload == "unknown":
        out.append(f"contrast preload unknown: the consensus uses a full-dose preload with flip "
                   f"angle {fa_pre:g} deg, or no preload with {fa_nopre:g} deg; PSR and rCBV "
                   "depend on it")
    elif flip_angle is not None:
        want = fa_pre if preload == "yes" else fa_nopre
        if abs(flip_angle - want) > 5:
            out.append(f"flip angle {flip_angle:g} deg with preload={preload}: the consensus uses "
                       f"{want:g} deg (Boxerman 2020)")
    return out


def _roi(values: np.ndarray) -> dict[str, Any]:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return {"n_voxels": 0, "mean": None, "median": None, "max": None}
    return {"n_voxels": int(v.size), "mean": finite_or_none(v.mean()),
            "median": finite_or_none(np.median(v)), "p90": finite_or_none(np.percentile(v, 90)),
            "max": finite_or_none(v.max())}


def _check_options(te_ms: float, flip_angle: float | None, preload: str,
                   tr: float | None) -> None:
    if preload not in ("yes", "no", "unknown"):
        raise DiagnosisInputError(f"--preload: expected yes|no|unknown, got {preload!r}")
    if not 0 < te_ms <= 200:
        raise DiagnosisInputError(f"--te: echo time in ms must be in (0, 200], got {te_ms:g}")
    if flip_angle is not None and not 0 < flip_angle <= 180:
        raise DiagnosisInputError(f"--flip-angle: must be in (0, 180] deg, got {flip_angle:g}")
    if tr is not None and not 0 < tr <= 60:
        raise DiagnosisInputError(f"--tr: seconds between frames must be in (0, 60], got {tr:g}")


def _frame_interval(header: Any, tr: float | None, warnings: list[str]) -> float:
    dt, note = (tr, None) if tr is not None else frame_interval(header)
    if note:
        warnings.append(note)
    if dt is None:
        warnings.append("no frame interval in the header and no --tr: CBV is in per-frame units "
                        "(rCBV is unaffected)")
        return 1.0
    return dt


def _delta_r2(data: np.ndarray, te_s: float) -> dict[str, Any]:
    """Brain mask, baseline frames, S0 and ΔR2* curves from the baseline start (brain voxels)."""
    from brainmets.diagnosis import roi

    brain = roi.brain_mask(data[..., :3].mean(axis=-1))
    if brain.sum() < 20:
        raise DiagnosisInputError("DSC4D: no brain signal found")
    sig = data[brain].astype(np.float64)  # (V, T)
    frames = detect_baseline(sig.mean(axis=0))
    n1, n2 = frames["n1"], frames["n2"]
    s0 = sig[:, n1:n2 + 1].mean(axis=1)
    ratio = np.clip(sig / np.where(s0 > 0, s0, np.nan)[:, None], 1e-6, None)
    dr2 = np.nan_to_num((-np.log(ratio) / te_s)[:, n1:], nan=0.0)
    return {"brain": brain, "frames": frames, "s0": s0, "dr2": dr2, "sig_a": sig[:, n1:]}


def _reference_mask(dr2: np.ndarray, labels: np.ndarray | None, brain: np.ndarray,
                    n_base: int) -> np.ndarray:
    """Whole-brain non-enhancing tissue: away from lesions, late signal not above baseline."""
    from scipy import ndimage

    ne = np.ones(dr2.shape[0], bool)
    if labels is not None:
        near = ndimage.binary_dilation(labels > 0, iterations=2)
        ne &= ~near[brain]
    tail = int(settings()["dsc"]["psr_tail_frames"])
    base_sd = dr2[:, :n_base].std(axis=1)
    ne &= dr2[:, -tail:].mean(axis=1) >= -3 * base_sd / np.sqrt(tail)
    if ne.sum() < 10:
        raise DiagnosisInputError("DSC4D: too few non-enhancing brain voxels for the reference")
    return ne


def _nawm(nawm_mask: Path | None, brain: np.ndarray, s0_map: np.ndarray,
          labels: np.ndarray | None, affine: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    from brainmets.diagnosis import roi
    from brainmets.diagnosis.volumes import resample_labels

    if nawm_mask is None:
        nawm, info = roi.choose_nawm(brain, s0_map, labels, affine)
    else:
        um, um_aff, _ = load(nawm_mask, "--nawm-mask", ndim=(3,))
        nawm, _ = resample_labels((um > 0).astype(np.int32), um_aff, brain.shape, affine)
        nawm = (nawm > 0) & brain
        info = roi.describe(nawm, affine, method="user mask (--nawm-mask)")
    if nawm.sum() < 5:
        raise DiagnosisInputError("NAWM: fewer than 5 voxels in the white-matter reference")
    return nawm, info


def _lesion_entry(lid: int, m: dict[str, np.ndarray], maps: dict[str, np.ndarray],
                  index: np.ndarray, series: dict[str, Any], k2: np.ndarray) -> dict[str, Any]:
    """rCBV of the enhancing lesion and the perilesional ring: hot-spot ROI (what the studies
    measured), voxel maximum and mean for reference; PSR of the enhancing rim curve."""
    from brainmets.diagnosis.roi import hot_spot_max

    rim = m["enhancing"] & series["brain"]  # the enhancing lesion (ring or solid label)
    idx = index[rim]
    curve = series["sig_a"][idx].mean(axis=0) if idx.size else None
    lesion_psr = (finite_or_none(float(psr(curve, series["s0"][idx].mean())), 2)
                  if curve is not None else None)
    rcbv = maps["rcbv"]
    n = int(settings()["roi"]["hot_spot_inplane_voxels"])
    hot_lesion = finite_or_none(hot_spot_max(rcbv, m["enhancing"] & series["brain"]))
    hot_peri = finite_or_none(hot_spot_max(rcbv, m["peri"]))
    entry: dict[str, Any] = {
        "id": lid,
        "enhancing_rim": {**_roi(rcbv[rim]), "psr_percent": lesion_psr,
                          "uncorrected_rcbv": _roi(maps["rcbv_u"][rim])},
        "lesion_hot_spot_rcbv": hot_lesion,
        "peritumoral": {**_roi(rcbv[m["peri"]]), "hot_spot": hot_peri},
        "k2_median": finite_or_none(float(np.median(k2[idx])), 6) if idx.size else None,
        "notes": [f"max rCBV values entered below are hot-spot ROI means ({n} x {n} voxels "
                  "in-plane at the highest mean, placed automatically; the studies placed "
                  "hot-spot ROIs by hand): check the placement"],
    }
    values: dict[str, Any] = {k: v for k, v in (("perilesional_max_rcbv", hot_peri),
                                ("lesion_max_rcbv_wm", hot_lesion),
                                ("lesion_psr_percent", lesion_psr)) if v is not None}
    if hot_peri is not None or hot_lesion is not None:
        values["rcbv_measurement"] = "hot_spot_roi"
    entry["advanced_imaging"] = values
    return entry


def _lesions(labels: np.ndarray | None, affine: np.ndarray, maps: dict[str, np.ndarray],
             series: dict[str, Any], k2: np.ndarray, protocol: dict[str, Any]
             ) -> list[dict[str, Any]]:
    from brainmets.diagnosis import roi

    if labels is None:
        return []
    brain = series["brain"]
    index = np.full(brain.shape, -1)
    index[brain] = np.arange(int(brain.sum()))
    out = []
    for lid, m in roi.lesion_regions(labels, affine, brain).items():
        entry = _lesion_entry(lid, m, maps, index, series, k2)
        entry["advanced_imaging"].update(protocol)
        out.append(entry)
    return out


def _protocol(te_ms: float, flip_angle: float | None, preload: str,
              field_strength: float | None) -> dict[str, Any]:
    return {"dsc_leakage_corrected": True, "dsc_te_ms": te_ms,
            **({"dsc_flip_angle_deg": flip_angle} if flip_angle else {}),
            **({"dsc_field_strength_t": field_strength} if field_strength else {}),
            "dsc_preload": preload}


def _maps(series: dict[str, Any], dt: float, labels: np.ndarray | None, nawm_mask: Path | None,
          affine: np.ndarray) -> dict[str, Any]:
    """BSW-corrected CBV, rCBV (NAWM = 1) and the reference/NAWM descriptions."""
    brain, dr2 = series["brain"], series["dr2"]
    frames = series["frames"]
    ne = _reference_mask(dr2, labels, brain, frames["n2"] - frames["n1"] + 1)
    reference = dr2[ne].mean(axis=0)
    _, k2, corr = bsw_correct(dr2, reference, dt)
    window = first_pass_window(reference, 0)
    vol = {name: np.full(brain.shape, np.nan) for name in ("cbv", "cbv_u", "s0")}
    for name, v in (("cbv", cbv(corr, dt, window)), ("cbv_u", cbv(dr2, dt, window)),
                    ("s0", series["s0"])):
        vol[name][brain] = v
    nawm, nawm_info = _nawm(nawm_mask, brain, vol["s0"], labels, affine)
    ref_cbv = float(np.median(vol["cbv"][nawm]))
    if not ref_cbv > 0:
        raise DiagnosisInputError("NAWM: reference CBV is not positive; check the series")
    nawm_info.update({"median_cbv": finite_or_none(ref_cbv, 6),
                      "reference_tissue": "white_matter"})
    maps = {"cbv": vol["cbv"], "rcbv": vol["cbv"] / ref_cbv,
            "rcbv_u": vol["cbv_u"] / float(np.median(vol["cbv_u"][nawm]))}
    return {"maps": maps, "k2": k2, "window": window, "nawm": nawm_info,
            "reference_voxels": int(ne.sum())}


def run_perfusion(dsc: Path, te_ms: float, out: Path, lesions: Path | None = None,
                  flip_angle: float | None = None, preload: str = "unknown",
                  field_strength: float | None = None, tr: float | None = None,
                  nawm_mask: Path | None = None, history: str | None = None,
                  solitary: bool | None = None) -> dict[str, Any]:
    """Compute and write DIR/cbv.nii.gz, DIR/rcbv.nii.gz, DIR/perfusion.json.

    Each lesion carries the statements its values trigger, asked for the lesion ``history``.
    """
    from brainmets.diagnosis.dwi import add_statements
    from brainmets.diagnosis.volumes import resample_labels, write_outputs

    _check_options(te_ms, flip_angle, preload, tr)
    data, affine, header = load(dsc, "DSC4D", ndim=(4,))
    warnings: list[str] = []
    dt = _frame_interval(header, tr, warnings)
    series = _delta_r2(data, te_ms / 1000.0)
    labels = None
    if lesions is not None:
        lab, lab_aff, _ = load(lesions, "--lesions", ndim=(3,))
        labels, resampled = resample_labels(lab, lab_aff, data.shape[:3], affine)
        if resampled:
            warnings.append("lesion map was resampled to the DSC grid (nearest neighbour)")
    res = _maps(series, dt, labels, nawm_mask, affine)
    warnings.extend(protocol_warnings(te_ms, flip_angle, preload, field_strength))
    per_lesion = _lesions(labels, affine, res["maps"], series, res["k2"],
                          _protocol(te_ms, flip_angle, preload, field_strength))
    add_statements(per_lesion, history, solitary)
    n1, n2 = series["frames"]["n1"], series["frames"]["n2"]
    window = res["window"]
    summary = {
        "input": str(dsc), "shape": list(data.shape), "te_ms": te_ms, "frame_interval_s": dt,
        "baseline_frames": [n1, n2], "bolus_arrival_frame": series["frames"]["arrival"],
        "integration_window_frames": [window[0] + n1, window[1] + n1],
        "leakage_correction": {
            "method": "Boxerman-Schmainda-Weisskoff (model dR2* = K1 R - K2 int R; corrected "
                      "= dR2* + K2 int R; K2 > 0 means T1-dominant leakage)",
            "reference_voxels": res["reference_voxels"],
            "k2_median_brain": finite_or_none(float(np.median(res["k2"])), 6),
            "note": "K2 is not a validated permeability measure (Skinner 2016)"},
        "nawm": res["nawm"], "maps": {"cbv.nii.gz": "leakage-corrected CBV (arbitrary units)",
                                      "rcbv.nii.gz": "CBV / median NAWM CBV (NAWM = 1)"},
        "lesions": per_lesion, "warnings": warnings,
        "disclaimer": "Research/decision-support measurement, not a diagnosis; rCBV cut-offs are "
                      "study-specific (see brainmets.diagnosis.interpret).",
    }
    write_outputs(Path(out), {"cbv.nii.gz": (np.nan_to_num(res["maps"]["cbv"]), affine),
                              "rcbv.nii.gz": (np.nan_to_num(res["maps"]["rcbv"]), affine)},
                  {"perfusion.json": summary})
    return summary
