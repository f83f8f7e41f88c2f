"""Lesion-wise detection and segmentation metrics (reference/imaging.md §2).

Conventions (stated in every output):

* Components are 26-connected (cc3d), as in BraTS.
* **Detection** (``match_truth``): a truth lesion is detected when any predicted component touches
  its mask dilated once with the 18-connected structuring element (the BraTS-METS 2023 rule,
  ``dil_factor = 1``). A predicted component touching no dilated truth lesion is a false positive;
  there is no size threshold on false positives.
* **Size bins** use the truth lesion's equivalent diameter ``d = (6V/pi)^(1/3)``:
  < 3, 3-5, 5-10, >= 10 mm.
* **BraTS 2023 lesion-wise Dice / HD95** (``brats_lesionwise``): reference components closer than
  the dilation are merged into one lesion; each lesion is scored against the union of the predicted
  components touching its dilation; reference lesions of volume <= ``vol_threshold_mm3`` are left
  out; false negatives and false positives score Dice 0 and HD95 = ``penalty`` (374 in the 2023
  code, 373 in brats-evaluation); ``Dice = sum(Dice_i) / (N_ref + N_FP)``; both masks empty ->
  Dice 1, HD95 0.
* **HD95** is the larger of the two directed 95th percentiles of surface-voxel distances in world
  mm (surface = mask minus its 6-connected erosion; distances by an anisotropic EDT). The official
  ``surface-distance`` package weights surface elements by area, so values can differ slightly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from brainmets.imaging.phantom_lesions import SIZE_BINS_MM, size_bin

BIN_NAMES = tuple(name for name, _, _ in SIZE_BINS_MM)
BRATS_PENALTY_2023 = 374.0


def components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """26-connected components of a binary mask: (label map uint32, count)."""
    import cc3d

    lab, n = cc3d.connected_components(np.ascontiguousarray(mask, dtype=np.uint8),
                                       connectivity=26, return_N=True)
    return lab, int(n)


def _struct18() -> np.ndarray:
    from scipy import ndimage as ndi

    return ndi.generate_binary_structure(3, 2)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice of two binary masks (1.0 when both are empty)."""
    a = a.astype(bool)
    b = b.astype(bool)
    s = int(a.sum()) + int(b.sum())
    return 1.0 if s == 0 else 2.0 * int((a & b).sum()) / s


def _surface(m: np.ndarray) -> np.ndarray:
    from scipy import ndimage as ndi

    return m & ~ndi.binary_erosion(m, ndi.generate_binary_structure(3, 1), border_value=0)


def hd95(a: np.ndarray, b: np.ndarray, spacing: Sequence[float]) -> float:
    """95th-percentile Hausdorff distance in mm (inf when exactly one mask is empty)."""
    from scipy import ndimage as ndi

    a = a.astype(bool)
    b = b.astype(bool)
    if not a.any() and not b.any():
        return 0.0
    if not a.any() or not b.any():
        return float("inf")
    both = np.argwhere(a | b)
    lo = np.maximum(both.min(0) - 1, 0)
    hi = both.max(0) + 2
    sl = tuple(slice(x, y) for x, y in zip(lo, hi, strict=True))
    sa, sb = _surface(a[sl]), _surface(b[sl])
    sp = [float(s) for s in spacing]
    da = ndi.distance_transform_edt(~sb, sampling=sp)[sa]
    db = ndi.distance_transform_edt(~sa, sampling=sp)[sb]
    return float(max(np.percentile(da, 95), np.percentile(db, 95)))


def _bbox(mask: np.ndarray, pad: int) -> tuple[slice, ...]:
    idx = np.argwhere(mask)
    lo = np.maximum(idx.min(0) - pad, 0)
    hi = np.minimum(idx.max(0) + pad + 1, mask.shape)
    return tuple(slice(int(x), int(y)) for x, y in zip(lo, hi, strict=True))


def _touching(lesion: np.ndarray, pred_cc: np.ndarray, dil: int) -> tuple[set[int], tuple]:
    """Predicted component ids touching the lesion dilated ``dil`` times (18-connected)."""
    from scipy import ndimage as ndi

    sl = _bbox(lesion, dil + 1)
    m = lesion[sl]
    if dil > 0:
        m = ndi.binary_dilation(m, _struct18(), iterations=dil)
    ids = set(np.unique(pred_cc[sl][m]).tolist()) - {0}
    return ids, sl


def brats_lesionwise(
    pred: np.ndarray,
    ref: np.ndarray,
    spacing: Sequence[float],
    *,
    dil_factor: int = 1,
    vol_threshold_mm3: float = 2.0,
    penalty: float = BRATS_PENALTY_2023,
) -> dict:
    """BraTS 2023 lesion-wise Dice and HD95 of binary ``pred`` against binary ``ref``."""
    from scipy import ndimage as ndi

    pred = pred.astype(bool)
    ref = ref.astype(bool)
    if pred.shape != ref.shape:
        raise ValueError(f"shape mismatch: prediction {pred.shape} vs reference {ref.shape}")
    vox_mm3 = float(np.prod(spacing))
    if not pred.any() and not ref.any():
        return {"lesionwise_dice": 1.0, "lesionwise_hd95": 0.0, "tp": 0, "fp": 0, "fn": 0,
                "lesions": []}
    pred_cc, n_pred = components(pred)
    ref_cc, _ = components(ref)
    if dil_factor > 0:
        grown, _ = components(ndi.binary_dilation(ref, _struct18(), iterations=dil_factor))
        merged = np.where(ref, grown, 0)
    else:
        merged = ref_cc
    rows = []
    tp_ids: set[int] = set()
    for lid in np.unique(merged[merged > 0]).tolist():
        les = merged == lid
        ids, _ = _touching(les, pred_cc, dil_factor)
        tp_ids |= ids
        vol = float(les.sum()) * vox_mm3
        if vol <= vol_threshold_mm3:
            continue
        if ids:
            p = np.isin(pred_cc, sorted(ids))
            d, h = dice(p, les), hd95(p, les, spacing)
        else:
            d, h = 0.0, float("inf")
        rows.append({"lesion": int(lid), "volume_mm3": vol, "dice": d,
                     "hd95": penalty if not np.isfinite(h) else h, "detected": bool(ids)})
    fp = sorted(set(range(1, n_pred + 1)) - tp_ids)
    n = len(rows) + len(fp)
    if n == 0:
        ld, lh = 1.0, 0.0
    else:
        ld = sum(r["dice"] for r in rows) / n
        lh = (sum(r["hd95"] for r in rows) + penalty * len(fp)) / n
    return {
        "lesionwise_dice": ld,
        "lesionwise_hd95": lh,
        "tp": sum(r["detected"] for r in rows),
        "fp": len(fp),
        "fn": sum(not r["detected"] for r in rows),
        "lesions": rows,
    }


def equivalent_diameter(volume_mm3: float) -> float:
    return float((6.0 * volume_mm3 / np.pi) ** (1.0 / 3.0))


def match_truth(
    pred: np.ndarray,
    truth_labels: np.ndarray,
    spacing: Sequence[float],
    truth_meta: dict[int, dict] | None = None,
    *,
    dil: int = 1,
    confounders: np.ndarray | None = None,
    confounder_codes: dict[str, int] | None = None,
) -> dict:
    """Per truth lesion (label value k): detected?, Dice, HD95, volumes; plus false positives.

    With a phantom's ``confounders`` map, each false positive gets the ``cause`` it overlaps
    most (after one dilation): vessel, dural_sinus, choroid_plexus, dura, head, or parenchyma.
    """
    if pred.shape != truth_labels.shape:
        raise ValueError(f"shape mismatch: prediction {pred.shape} vs truth {truth_labels.shape}")
    vox_ml = float(np.prod(spacing)) / 1000.0
    pred_cc, n_pred = components(pred > 0)
    counts = np.bincount(pred_cc.ravel(), minlength=n_pred + 1)
    rows = []
    matched: set[int] = set()
    for k in np.unique(truth_labels[truth_labels > 0]).tolist():
        les = truth_labels == k
        ids, sl = _touching(les, pred_cc, dil)
        matched |= ids
        meta = (truth_meta or {}).get(int(k), {})
        t_ml = float(les.sum()) * vox_ml
        eq = float(meta.get("equivalent_diameter_mm", equivalent_diameter(t_ml * 1000)))
        row = {"id": int(k), "size_bin": size_bin(eq), "equivalent_diameter_mm": round(eq, 3),
               "truth_volume_ml": round(t_ml, 6), "detected": bool(ids)}
        if ids:
            p = np.isin(pred_cc, sorted(ids))
            p_ml = float(counts[sorted(ids)].sum()) * vox_ml
            row.update(dice=round(dice(p, les), 4), hd95_mm=round(hd95(p, les, spacing), 3),
                       pred_volume_ml=round(p_ml, 6),
                       volume_error=round((p_ml - t_ml) / t_ml, 4) if t_ml else None)
        else:
            row.update(dice=0.0, hd95_mm=None, pred_volume_ml=0.0, volume_error=None)
        for key in ("location", "pattern"):
            if key in meta:
                row[key] = meta[key]
        rows.append(row)
    fps: list[dict[str, Any]] = [{"component": i, "volume_ml": round(float(counts[i]) * vox_ml, 6)}
           for i in range(1, n_pred + 1) if i not in matched]
    if confounders is not None and fps:
        from scipy import ndimage as ndi

        names = {v: k for k, v in (confounder_codes or {}).items()}
        objs = ndi.find_objects(pred_cc)
        for fp in fps:
            sl = objs[fp["component"] - 1]
            sl = tuple(slice(max(a.start - 1, 0), a.stop + 1) for a in sl)
            m = ndi.binary_dilation(pred_cc[sl] == fp["component"], _struct18())
            vals = confounders[sl][m]
            vals = vals[vals > 0]
            fp["cause"] = (names.get(int(np.bincount(vals).argmax()), "other") if len(vals)
                           else "parenchyma")
    return {"lesions": rows, "false_positives": fps, "n_pred_components": n_pred}


def summarise(cases: list[dict]) -> dict:
    """Pool per-case results: sensitivity per size bin, FP per scan, BraTS means, volume error."""
    lesions = [le for c in cases for le in c["lesions"]]
    sens: dict[str, float | None] = {}
    counts: dict[str, list[int]] = {}
    for b in BIN_NAMES:
        sel = [le for le in lesions if le["size_bin"] == b]
        hit = sum(le["detected"] for le in sel)
        counts[b] = [hit, len(sel)]
        sens[b] = round(hit / len(sel), 4) if sel else None
    big = [abs(le["volume_error"]) for le in lesions
           if le["size_bin"] == ">=10" and le["detected"] and le["volume_error"] is not None]
    n = len(cases)
    bd = [c["brats"]["lesionwise_dice"] for c in cases if "brats" in c]
    bh = [c["brats"]["lesionwise_hd95"] for c in cases if "brats" in c]
    det = [le for le in lesions if le["detected"]]
    causes: dict[str, int] = {}
    for c in cases:
        for fp in c["false_positives"]:
            if "cause" in fp:
                causes[fp["cause"]] = causes.get(fp["cause"], 0) + 1
    return {
        "scans": n,
        "lesions": len(lesions),
        "sensitivity": sens,
        "detected_of_total": counts,
        "sensitivity_overall": round(sum(le["detected"] for le in lesions) / len(lesions), 4)
        if lesions else None,
        "fp_per_scan": round(sum(len(c["false_positives"]) for c in cases) / n, 4) if n else None,
        "median_volume_error_ge10mm": round(float(np.median(big)), 4) if big else None,
        "mean_dice_detected": round(float(np.mean([le["dice"] for le in det])), 4)
        if det else None,
        "brats_lesionwise_dice": round(float(np.mean(bd)), 4) if bd else None,
        "brats_lesionwise_hd95": round(float(np.mean(bh)), 3) if bh else None,
        "fp_by_cause": dict(sorted(causes.items(), key=lambda kv: -kv[1])),
        "conventions": {
            "detection": "any overlap with the truth lesion dilated once (18-connected), "
                         "26-connected predicted components; no size threshold on FPs",
            "size_bins": "equivalent diameter (6V/pi)^(1/3) of the truth lesion, mm",
            "volume_error": "|pred - truth| / truth over detected lesions >= 10 mm",
            "brats": "BraTS 2023 lesion-wise (dilation 1, threshold 2 mm3, penalty 374)",
        },
    }


def load_case(pred_path, truth_dir) -> dict:
    """Evaluate ``pred_path`` (label map/mask NIfTI) against a phantom case folder."""
    import json
    from pathlib import Path

    import nibabel as nib

    truth_dir = Path(truth_dir)
    t_img: Any = nib.load(str(truth_dir / "truth.nii.gz"))
    p_img: Any = nib.load(str(pred_path))
    if p_img.shape != t_img.shape:
        raise ValueError(f"{pred_path}: grid {tuple(p_img.shape)} differs from the truth "
                         f"{tuple(t_img.shape)}")
    if not np.allclose(p_img.affine, t_img.affine, atol=1e-3):
        raise ValueError(f"{pred_path}: affine differs from the truth's (not on the input grid)")
    truth = np.asarray(t_img.dataobj).astype(np.int32)
    pred = np.asarray(p_img.dataobj)
    if pred.ndim != 3 or not np.isfinite(pred).all():
        raise ValueError(f"{pred_path}: expected a finite 3-D label map")
    spacing = np.sqrt((t_img.affine[:3, :3] ** 2).sum(0))
    meta, codes, conf = {}, None, None
    jpath = truth_dir / "truth.json"
    if jpath.exists():
        doc = json.loads(jpath.read_text())
        meta = {int(le["id"]): le for le in doc["lesions"]}
        codes = doc.get("confounder_codes")
    cpath = truth_dir / "confounders.nii.gz"
    if codes and cpath.exists():
        conf_img: Any = nib.load(str(cpath))
        conf = np.asarray(conf_img.dataobj)
    res = match_truth(pred, truth, spacing, meta, confounders=conf, confounder_codes=codes)
    res["brats"] = {k: v for k, v in brats_lesionwise(pred > 0, truth > 0, spacing).items()
                    if k != "lesions"}
    return res
