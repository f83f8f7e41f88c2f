"""Real-scan benchmark (issue #16): lesion-wise ``brainmets scan`` results on ../shared/real-scans.

Usage: ``.venv/bin/python bench/imaging.py --real [--real-root DIR] [--baseline FILE] [--keep DIR]``

Cases (see the folder's README): four BraTS 2013 gliomas (z-scored, skull-stripped, 1 mm;
expert labels, reference = tumour core 1+3+4, enhancing = 4), the TCGA case on the SRI-24 atlas
grid (reference = fusion segmentation, core 1+4) and the same TCGA case as its native full-head
5.5 mm scan. The native scan has no reference on its grid: the atlas reference is carried over
by matching the brain-mask bounding boxes (a registration-free affine), and a predicted lesion
counts as a hit when its centroid lies within the reference lesion's equivalent radius + 15 mm
of the mapped reference centroid (stated in the output).

Lesion-wise rule on the reference grid: a reference lesion (26-connected component of the core,
>= 0.1 ml) is detected when a predicted component touches it dilated once (BraTS-METS 2023
rule); a predicted component touching no reference core lesion (dilated) nor the whole tumour
(oedema included) is a false positive; one touching only oedema is counted separately
(``in_oedema``). Each scan runs in its own child process (peak RSS from ``wait4``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

MIN_REF_ML = 0.1
NATIVE_TOL_MM = 10.0

_BRATS = ("T1c_subtrMeanDivStd.nii.gz", "OTMultiClass.nii.gz", (1, 3, 4), (4,), "grid")
_TCGA_REF = "model_fusion_seg_on_atlas.nii.gz"
CASES = [
    # name, input file, reference file, core labels, enhancing labels, how to match
    *[(f"brats13-pat000{i}", *_BRATS) for i in (1, 2, 3, 4)],
    ("tcga-fg-6692/atlas", "t1c_brain_atlas.nii.gz", _TCGA_REF, (1, 4), (4,), "grid"),
    ("tcga-fg-6692/native", "t1c_native.nii.gz", _TCGA_REF, (1, 4), (4,), "bbox"),
]


def _folder(root: Path, name: str) -> Path:
    return root / name.split("/")[0]


def scan_child(inp: str, out: str) -> None:
    """Child process: one scan."""
    from brainmets.imaging.pipeline import scan

    t0 = time.perf_counter()
    res = scan(inp, out)
    Path(out, "timing.json").write_text(json.dumps({"seconds": time.perf_counter() - t0}))
    print(f"  {inp}: {res['count']} lesion(s), {len(res.get('findings') or [])} finding(s) "
          f"in {time.perf_counter() - t0:.1f} s", flush=True)


def _run_one(inp: Path, out: Path) -> tuple[float, float]:
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    p = subprocess.Popen([sys.executable, str(Path(__file__).with_name("imaging.py")),
                          "--_scan", str(inp), str(out)], env=env)
    _, status, ru = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"scan of {inp} failed")
    secs = json.loads((out / "timing.json").read_text())["seconds"]
    return secs, ru.ru_maxrss / 1024.0


def _grid_eval(pred: np.ndarray, ref: np.ndarray, core: tuple, enh: tuple) -> dict:
    from scipy import ndimage as ndi

    from brainmets.imaging.metrics import components, dice

    st = ndi.generate_binary_structure(3, 2)
    core_m = np.isin(ref, core)
    whole = ref > 0
    lab, n = components(core_m)
    pcc, npred = components(pred > 0)
    rows, hit_ids = [], set()
    for k in range(1, n + 1):
        les = lab == k
        ml = float(les.sum()) / 1000.0
        if ml < MIN_REF_ML:
            continue
        ids = set(np.unique(pcc[ndi.binary_dilation(les, st)]).tolist()) - {0}
        hit_ids |= ids
        p = np.isin(pcc, sorted(ids)) if ids else np.zeros_like(les)
        e = np.isin(ref, enh) & les
        rows.append({"ref_ml": round(ml, 2), "enh_ml": round(float(e.sum()) / 1000, 2),
                     "detected": bool(ids), "pred_ml": round(float(p.sum()) / 1000, 2),
                     "dice_core": round(dice(p, les), 3), "dice_enh": round(dice(p, e), 3)})
    wdil = ndi.binary_dilation(whole, st)
    fps, oed = 0, 0
    for i in range(1, npred + 1):
        if i in hit_ids:
            continue
        if wdil[pcc == i].any():
            oed += 1
        else:
            fps += 1
    return {"lesions": rows, "fp": fps, "in_oedema": oed}


def _bbox_eval(res: dict, ref_img, atlas_img, native_mask_bbox) -> dict:
    """Map the atlas reference into the native scan by matching brain bounding boxes."""
    from brainmets.imaging.metrics import components, equivalent_diameter

    ref = np.asarray(ref_img.dataobj)
    brain = np.asarray(atlas_img.dataobj) > 0
    ijk = np.argwhere(brain[::2, ::2, ::2]) * 2
    w = ijk @ atlas_img.affine[:3, :3].T + atlas_img.affine[:3, 3]
    alo, ahi = w.min(0), w.max(0)
    nlo, nhi = native_mask_bbox
    lab, n = components(np.isin(ref, (1, 4)))
    rows, used = [], set()
    cents = [np.array(le["centroid_mm"]) for le in res["lesions"]]
    for k in range(1, n + 1):
        pts = np.argwhere(lab == k)
        ml = len(pts) / 1000.0
        if ml < MIN_REF_ML:
            continue
        c = (pts @ ref_img.affine[:3, :3].T + ref_img.affine[:3, 3]).mean(0)
        mapped = nlo + (c - alo) / (ahi - alo) * (nhi - nlo)
        tol = equivalent_diameter(ml * 1000) / 2 + NATIVE_TOL_MM
        hits = [i for i, q in enumerate(cents) if np.linalg.norm(q - mapped) <= tol]
        used |= set(hits)
        rows.append({"ref_ml": round(ml, 2), "detected": bool(hits),
                     "pred_ml": round(sum(res["lesions"][i]["volume_ml"] for i in hits), 2),
                     "mapped_centroid_mm": [round(float(v), 1) for v in mapped]})
    return {"lesions": rows, "fp": len(cents) - len(used), "in_oedema": 0}


def _native_bbox(inp: Path) -> tuple[np.ndarray, np.ndarray]:
    from brainmets.imaging import preprocess as pp
    from brainmets.imaging.io import load_volume

    can = pp.canonical(load_volume(inp))
    mask, _ = pp.brain_mask(can.data, can.spacing)
    ijk = np.argwhere(mask)
    w = ijk @ can.affine[:3, :3].T + can.affine[:3, 3]
    return w.min(0), w.max(0)


def _evaluate(case: tuple, root: Path, out: Path) -> dict:
    import nibabel as nib

    name, fin, fref, core, enh, how = case
    d = _folder(root, name)
    res = json.loads((out / "lesions.json").read_text())
    ref_img = nib.load(str(d / fref))
    if how == "grid":
        pred = np.asarray(nib.load(str(out / "lesions.nii.gz")).dataobj)
        ev = _grid_eval(pred, np.asarray(ref_img.dataobj), core, enh)
    else:
        ev = _bbox_eval(res, ref_img, nib.load(str(d / "t1c_brain_atlas.nii.gz")),
                        _native_bbox(d / fin))
    ev.update(count=res["count"], findings=len(res.get("findings") or []),
              low_confidence=len(res.get("low_confidence_candidates") or []),
              silent_zero=res["count"] == 0 and not res.get("findings"))
    return ev


def run_real(root: Path, work: Path, baseline: Path | None) -> dict:
    rows = {}
    for case in CASES:
        name, fin = case[0], case[1]
        d = _folder(root, name)
        out = work / name.replace("/", "_")
        secs, rss = _run_one(d / fin, out)
        ev = _evaluate(case, root, out)
        ev.update(seconds=round(secs, 1), peak_rss_mb=round(rss, 0))
        rows[name] = ev
        print(f"{name}: {json.dumps(ev)}", flush=True)
    return summarise_real(rows, baseline)


def summarise_real(rows: dict, baseline: Path | None) -> dict:
    les = [le for r in rows.values() for le in r["lesions"]]
    hit = sum(le["detected"] for le in les)
    errs = [abs(le["pred_ml"] - le["ref_ml"]) / le["ref_ml"] for le in les if le["detected"]]
    line = {
        "real_scans": len(rows),
        "real_lesions": len(les),
        "real_detected": hit,
        "real_sensitivity": round(hit / len(les), 3) if les else None,
        "real_fp_per_scan": round(sum(r["fp"] for r in rows.values()) / len(rows), 2),
        "real_in_oedema_per_scan": round(sum(r["in_oedema"] for r in rows.values()) / len(rows), 2),
        "real_silent_zero_scans": sum(r["silent_zero"] for r in rows.values()),
        "real_median_volume_error_core": round(float(np.median(errs)), 3) if errs else None,
        "real_seconds_max": max(r["seconds"] for r in rows.values()),
        "real_peak_rss_mb_max": max(r["peak_rss_mb"] for r in rows.values()),
        "per_case": {k: {"detected": [le["detected"] for le in r["lesions"]], "fp": r["fp"],
                         "count": r["count"], "findings": r["findings"]}
                     for k, r in rows.items()},
    }
    if baseline and baseline.exists():
        b = json.loads(baseline.read_text())
        line["baseline"] = {"name": b.get("name", str(baseline)),
                            "real_sensitivity": b.get("real_sensitivity"),
                            "real_fp_per_scan": b.get("real_fp_per_scan")}
        if b.get("real_sensitivity"):
            line["ratio_sensitivity_vs_baseline"] = round(
                line["real_sensitivity"] / b["real_sensitivity"], 2)
        else:
            line["ratio_sensitivity_vs_baseline"] = None
    return line
