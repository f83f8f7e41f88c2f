"""Synthetic contrast-enhanced T1 phantoms with brain metastases and exact ground truth.

Recipe (reference/imaging.md §5): MNI152 2009c tissue maps (bundled with nilearn) give the anatomy;
a synthetic head (CSF, dura, skull tables, marrow, muscle, scalp fat, skin) surrounds it for
full-head cases; enhancing confounders (cortical vessels, dural sinuses, deep veins, choroid plexus,
convexity dura and falx) are drawn in; metastases 2-40 mm (solid or ring-enhancing with a necrotic
core, lobulated, with T1-hypointense oedema) are placed at the grey-white junction; the scan is
sampled on a randomly oriented grid (signed axis permutation x small oblique rotation, stored in
the NIfTI affine) with 1-5 mm slices (partial volume by sub-slice averaging), a smooth
multiplicative bias field, Rician noise and arbitrary units (float32 or int16).

Single case (``make_case``) -> ``OUT/``::

    t1c.nii.gz     the image
    truth.nii.gz   label map on the same grid (0 background, k = lesion k), int16
    truth.json     {"lesions": [...], "confounders": [...], "shape", "voxel_size_mm", "affine", ...}

Each lesion in truth.json: ``id`` (label value), ``centroid_mm`` (world RAS mm, mean of the label's
voxel centres through the affine), ``volume_ml`` (label voxels x voxel volume), ``true_volume_ml``
and ``equivalent_diameter_mm`` (of the continuous shape; size bins use this diameter),
``size_bin``, ``longest_axial_diameter_mm`` / ``perpendicular_diameter_mm`` (RANO-BM, measured on
the continuous shape in world axial planes), ``max_diameter_mm``, ``true_centroid_mm``,
``location`` (supratentorial | cerebellum | brainstem), ``pattern`` (solid | ring),
``enhancement_ratio`` (x white matter), ``oedema`` (bool).

Series (``make_series``) -> ``OUT/``::

    tp0/ tp1/ ...  one case folder per time point (as above); tp0 is the baseline
    timeline.json  {"format": "brainmets-phantom-timeline/1", "timepoints": [...],
                    "rano_input": {...}}

``timeline.json["timepoints"][t]`` = ``{"index", "dir", "date" (ISO), "lesions": [...]}``;
each lesion:
``truth_id`` (stable across time, "L1", "L2", ...), ``label`` (its value in that time point's
truth.nii.gz, null when vanished), ``status`` ("baseline" at tp0; later "new" | "persisting" |
"vanished"), ``diameter_factor`` (size relative to its first appearance),
``longest_axial_diameter_mm``, ``perpendicular_diameter_mm``, ``max_diameter_mm``, ``volume_ml``
(0 when vanished), ``centroid_mm`` (world mm of that scan; the head moves between scans).
``rano_input`` is the same timeline in the CONTRACT §4 shape (``id``, ``longest_diameter_mm``,
``perpendicular_mm``, ``new``) so the response engine can be fed directly.
Each follow-up is a new acquisition: new noise, bias field, orientation and a small rigid head
shift (<= 8 mm per axis) and rotation (<= 6 deg); the patient's anatomy and vessels stay the same.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from brainmets.imaging.phantom_anatomy import Anatomy, load_anatomy
from brainmets.imaging.phantom_lesions import Lesion, measure, sample_lesions, size_bin
from brainmets.imaging.phantom_render import (
    CONFOUNDER_CODES,
    HEAD_MM,
    confounder_paths,
    smooth_field,
    template_image,
    tissue_levels,
)

GENERATOR = {"name": "brainmets.phantom", "version": "1"}
BASELINE_DATE = _dt.date(2026, 1, 5)
SeedLike = int | Sequence[int]


@dataclass
class _Patient:
    anat: Anatomy
    levels: dict[str, float]
    scale: np.ndarray  # subject size, MNI -> subject mm
    lesions: list[Lesion]
    template: np.ndarray  # T1c without lesions (white matter = 1)
    conf: np.ndarray  # confounder codes on the template grid
    confounders: list[dict]
    full_head: bool


def _rng(seed: SeedLike) -> np.random.Generator:
    s = [int(seed)] if isinstance(seed, int | np.integer) else [int(v) for v in seed]
    return np.random.default_rng(np.random.SeedSequence(s))


def _rotation(rng: np.random.Generator, max_deg: float) -> np.ndarray:
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    a = np.deg2rad(rng.uniform(0, max_deg))
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * k @ k


def _step_for(voxel_mm: Sequence[float]) -> int:
    return int(np.clip(np.floor(min(voxel_mm) + 1e-6), 1, 3))


def _patient(
    rng: np.random.Generator,
    voxel_mm: Sequence[float],
    full_head: bool,
    n_lesions: int | None,
    diameter_range: tuple[float, float],
    growth_margin: float,
) -> _Patient:
    anat = load_anatomy(_step_for(voxel_mm))
    levels = tissue_levels(rng)
    scale = rng.uniform(0.93, 1.07, 3)
    n = int(rng.integers(3, 9)) if n_lesions is None else int(n_lesions)
    lesions = sample_lesions(
        rng, anat, n, diameter_range=diameter_range, growth_margin=growth_margin
    )
    paths, info = confounder_paths(rng, anat, lesions)
    tpl, conf = template_image(rng, anat, levels, lesions, paths, info, full_head)
    return _Patient(anat, levels, scale, lesions, tpl, conf, info, full_head)


@lru_cache(maxsize=3)
def _head_box(step: int) -> np.ndarray:
    """Template-index corners (min, max) of the synthetic head."""
    anat = load_anatomy(step)
    idx = np.argwhere(anat.d_out[::2, ::2, ::2] <= HEAD_MM + 1.0) * 2
    return np.concatenate([idx.min(0, keepdims=True), idx.max(0, keepdims=True)]).astype(float)


def _orientation(rng: np.random.Generator, permute: bool) -> np.ndarray:
    perm = rng.permutation(3) if permute and rng.random() < 0.6 else np.arange(3)
    p = np.zeros((3, 3))
    p[perm, np.arange(3)] = rng.choice([-1.0, 1.0], 3)
    return _rotation(rng, 8.0 if permute else 0.0) @ p


def _acquire(
    rng: np.random.Generator,
    pt: _Patient,
    lesions: list[Lesion],
    voxel_mm: Sequence[float],
    skull_stripped: bool,
    random_orientation: bool,
    want_conf: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict], dict]:
    from scipy import ndimage as ndi

    anat = pt.anat
    v = np.asarray(voxel_mm, float)
    pose = np.eye(4)
    pose[:3, :3] = _rotation(rng, 6.0) @ np.diag(pt.scale)
    pose[:3, 3] = rng.uniform(-8.0, 8.0, 3)
    rot = _orientation(rng, random_orientation and not skull_stripped)
    # field of view in the acquisition frame
    if skull_stripped:
        centre = pose[:3, :3] @ np.array([0.0, -18.0, 8.0]) + pose[:3, 3]
        ext = np.array([240.0, 240.0, 155.0])
        qc = rot.T @ centre
        qmin = qc - ext / 2
        shape = np.maximum(np.round(ext / v).astype(int), 1)
    else:
        pts = anat.mni_of(_head_box(anat.step))
        corners = np.array([[pts[i, 0], pts[j, 1], pts[k, 2]]
                            for i in (0, 1) for j in (0, 1) for k in (0, 1)])
        q = (corners @ pose[:3, :3].T + pose[:3, 3]) @ rot
        qmin = q.min(0) - 3.0
        shape = np.ceil((q.max(0) + 3.0 - qmin) / v).astype(int) + 1
    aff = np.eye(4)
    aff[:3, :3] = rot @ np.diag(v)
    aff[:3, 3] = rot @ qmin
    m = np.linalg.inv(anat.affine) @ np.linalg.inv(pose) @ aff
    nsub = [int(np.clip(round(v[k] / anat.step), 1, 5)) for k in range(3)]
    subs = np.stack(np.meshgrid(*[(np.arange(n) + 0.5) / n - 0.5 for n in nsub], indexing="ij"),
                    -1).reshape(-1, 3)
    data = np.zeros(tuple(shape), np.float32)
    for d in subs:
        data += ndi.affine_transform(pt.template, m[:3, :3], offset=m[:3, :3] @ d + m[:3, 3],
                                     output_shape=tuple(shape), order=1, mode="constant",
                                     cval=0.0, prefilter=False)
    data /= len(subs)
    labels = np.zeros(tuple(shape), np.int16)
    mni_from_world = np.linalg.inv(pose)
    tpl_from_mni = np.linalg.inv(anat.affine)
    rows = []
    for k, les in enumerate(lesions, start=1):
        rows.append(_paint(les, k, data, labels, aff, mni_from_world, tpl_from_mni, anat))
    # bias field, Rician noise, skull stripping, units
    bias_sd = rng.uniform(0.0, 0.05) if skull_stripped else rng.uniform(0.05, 0.15)
    data *= np.exp(bias_sd * smooth_field(rng, data.shape, 4)).astype(np.float32)
    sigma = float(rng.uniform(0.015, 0.045))
    n1 = np.asarray(rng.standard_normal(data.shape, dtype=np.float32))
    n1 *= sigma
    n1 += data
    n2 = np.asarray(rng.standard_normal(data.shape, dtype=np.float32))
    n2 *= sigma
    np.hypot(n1, n2, out=data)
    del n1, n2
    if skull_stripped:
        brain = ndi.affine_transform(anat.brain.astype(np.float32), m[:3, :3], offset=m[:3, 3],
                                     output_shape=tuple(shape), order=1, prefilter=False)
        keep = brain >= 0.5
        data *= keep
        labels *= keep  # lesions are inside the brain; guard only
    meta: dict = {}
    units = float(10 ** rng.uniform(0.3, 3.3))
    data *= units
    # int16 only when it keeps >= ~11 bits of dynamic range (otherwise rounding posterises)
    if rng.random() < 0.5 and 2000.0 < data.max() < 30000:
        out = np.rint(data).astype(np.int16)
    else:
        out = data.astype(np.float32)
    if want_conf:
        conf = ndi.affine_transform(pt.conf, m[:3, :3], offset=m[:3, 3], output_shape=tuple(shape),
                                    order=0, prefilter=False)
        if skull_stripped:
            conf *= keep
        meta["_conf"] = conf
    meta |= {"world_from_mni": pose.round(6).tolist(), "noise_sigma_rel_wm": round(sigma, 4),
            "bias_log_sd": round(float(bias_sd), 4), "units_scale": round(units, 4),
            "dtype": str(out.dtype), "subsamples": nsub}
    return out, labels, aff, rows, meta


def _paint(
    les: Lesion,
    k: int,
    data: np.ndarray,
    labels: np.ndarray,
    aff: np.ndarray,
    mni_from_world: np.ndarray,
    tpl_from_mni: np.ndarray,
    anat: Anatomy,
) -> dict:
    """Render one lesion (+ oedema) onto the output grid and write label ``k``."""
    from scipy import ndimage as ndi

    world_from_mni = np.linalg.inv(mni_from_world)
    cw = world_from_mni[:3, :3] @ les.centre + world_from_mni[:3, 3]
    vox_from_world = np.linalg.inv(aff)
    ro = les.outer_radius * 1.08 + 1.0
    re = ro + les.oedema_mm

    def box(radius: float) -> tuple[slice, ...]:
        corners = cw + radius * np.array([[i, j, kk] for i in (-1, 1) for j in (-1, 1)
                                          for kk in (-1, 1)])
        c = corners @ vox_from_world[:3, :3].T + vox_from_world[:3, 3]
        lo = np.clip(np.floor(c.min(0)).astype(int), 0, data.shape)
        hi = np.clip(np.ceil(c.max(0)).astype(int) + 1, 0, data.shape)
        return tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))

    def mni_points(sl: tuple[slice, ...], offset: np.ndarray | None = None) -> np.ndarray:
        ii = np.stack(np.meshgrid(*[np.arange(s.start, s.stop, dtype=float) for s in sl],
                                  indexing="ij"), -1)
        if offset is not None:
            ii = ii + offset
        m = mni_from_world @ aff
        return ii @ m[:3, :3].T + m[:3, 3]

    if les.oedema_mm > 0:
        sl = box(re)
        p = mni_points(sl)
        rho = les.rho(p)
        r_nom = les.nominal_diameter_mm / 2 * les.factor
        w = np.clip(1 - (rho - 1) * r_nom / les.oedema_mm, 0, 1) ** 1.5 * (rho > 1)
        t = p @ tpl_from_mni[:3, :3].T + tpl_from_mni[:3, 3]
        pwm = ndi.map_coordinates(anat.wm, t.reshape(-1, 3).T, order=1).reshape(w.shape)
        data[sl] *= (1 - les.oedema_depth * w * (0.3 + 0.7 * pwm)).astype(np.float32)
    sl = box(ro)
    vs = np.sqrt((aff[:3, :3] ** 2).sum(0))
    m_ss = [int(np.clip(np.ceil(s / 0.75), 2, 4)) for s in vs]
    offs = np.stack(np.meshgrid(*[(np.arange(n) + 0.5) / n - 0.5 for n in m_ss], indexing="ij"),
                    -1).reshape(-1, 3)
    centres = mni_points(sl)  # (*box, 3)
    step_mni = (mni_from_world @ aff)[:3, :3]
    dmni = offs @ step_mni.T  # (nsub, 3)
    f_les = np.zeros(centres.shape[:3], np.float32)
    f_core = np.zeros_like(f_les)
    chunk = max(1, int(4_000_000 // max(f_les.size, 1)))
    for a in range(0, len(dmni), chunk):
        rho = les.rho(centres[..., None, :] + dmni[a:a + chunk])  # (*box, n, )
        f_les += (rho < 1).sum(-1)
        if les.pattern == "ring":
            f_core += (rho < les.core_ratio).sum(-1)
    f_les /= len(dmni)
    f_core /= len(dmni)
    f_rim = f_les - f_core
    data[sl] = data[sl] * (1 - f_les) + f_rim * les.enhancement + f_core * les.core_level
    lab = labels[sl]
    sel = f_les >= 0.5
    if not sel.any() and f_les.size and f_les.max() > 0:
        sel = f_les == f_les.max()
    lab[sel & (lab == 0)] = k
    row = measure(les, world_from_mni)
    row["_slices"] = sl
    return row


def _lesion_rows(labels: np.ndarray, aff: np.ndarray, lesions: list[Lesion],
                 rows: list[dict]) -> list[dict]:
    vox_ml = float(abs(np.linalg.det(aff[:3, :3]))) / 1000.0
    out = []
    for k, (les, row) in enumerate(zip(lesions, rows, strict=True), 1):
        sl = row["_slices"]
        ijk = np.argwhere(labels[sl] == k) + [s.start for s in sl]
        cnt = len(ijk)
        c = (aff[:3, :3] @ ijk.mean(0) + aff[:3, 3]) if cnt else [float("nan")] * 3
        out.append({
            "id": k,
            "centroid_mm": [round(float(v), 3) for v in c],
            "volume_ml": round(float(cnt) * vox_ml, 6),
            "voxels": int(cnt),
            "true_volume_ml": row["true_volume_ml"],
            "equivalent_diameter_mm": row["equivalent_diameter_mm"],
            "size_bin": size_bin(row["equivalent_diameter_mm"]),
            "longest_axial_diameter_mm": row["longest_axial_diameter_mm"],
            "perpendicular_diameter_mm": row["perpendicular_diameter_mm"],
            "max_diameter_mm": row["max_diameter_mm"],
            "true_centroid_mm": row["true_centroid_mm"],
            "location": str(les.location),
            "pattern": les.pattern,
            "enhancement_ratio": round(les.enhancement, 3),
            "oedema": bool(les.oedema_mm > 0),
            "centre_mni_mm": [round(float(v), 2) for v in les.centre],
        })
    return out


def _atomic_save(img, path: Path) -> None:
    import nibabel as nib

    tmp = path.with_name(".tmp-" + path.name)
    nib.save(img, str(tmp))
    os.replace(tmp, path)


def _atomic_json(obj, path: Path) -> None:
    tmp = path.with_name(".tmp-" + path.name)
    tmp.write_text(json.dumps(obj, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _write_nifti(arr: np.ndarray, aff: np.ndarray, path: Path) -> None:
    import nibabel as nib

    img = nib.Nifti1Image(arr, aff)
    img.set_qform(aff, code=1)
    img.set_sform(aff, code=1)
    img.header.set_xyzt_units("mm", "sec")
    _atomic_save(img, path)


def _write_case(out_dir: Path, data, labels, aff, truth: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_nifti(labels, aff, out_dir / "truth.nii.gz")
    _write_nifti(data, aff, out_dir / "t1c.nii.gz")
    _atomic_json(truth, out_dir / "truth.json")


def _check(voxel_mm: Sequence[float]) -> tuple[float, float, float]:
    v = tuple(float(x) for x in voxel_mm)
    if len(v) != 3 or not all(0.8 <= x <= 6.0 for x in v):
        raise ValueError("voxel_mm: need three sizes between 0.8 and 6 mm (memory)")
    return v  # type: ignore[return-value]


def make_case(
    seed: SeedLike,
    out_dir: str | Path,
    *,
    voxel_mm: Sequence[float] = (1.0, 1.0, 1.0),
    full_head: bool = True,
    random_orientation: bool = True,
    n_lesions: int | None = None,
    diameter_range: tuple[float, float] = (2.0, 40.0),
    confounder_map: bool = False,
) -> dict:
    """Write one phantom case (t1c.nii.gz, truth.nii.gz, truth.json) and return the truth dict.

    ``full_head=False`` gives a skull-stripped 240x240x155 mm research-style scan.
    ``confounder_map=True`` also writes confounders.nii.gz (codes in truth.json) so false
    positives can be attributed to vessels, sinuses, choroid plexus, dura or the scalp/skull.
    """
    v = _check(voxel_mm)
    rng = _rng(seed)
    r_pat, r_acq = rng.spawn(2)
    pt = _patient(r_pat, v, full_head, n_lesions, diameter_range, 1.0)
    data, labels, aff, rows, meta = _acquire(r_acq, pt, pt.lesions, v, not full_head,
                                             random_orientation, confounder_map)
    conf = meta.pop("_conf", None)
    truth = {
        "generator": GENERATOR,
        "seed": [int(seed)] if isinstance(seed, int | np.integer) else list(map(int, seed)),
        "shape": list(data.shape),
        "voxel_size_mm": list(v),
        "affine": aff.round(6).tolist(),
        "full_head": full_head,
        "skull_stripped": not full_head,
        "acquisition": meta,
        "lesions": _lesion_rows(labels, aff, pt.lesions, rows),
        "confounders": pt.confounders,
        "notes": "tentorium and dural enhancement at the skull base are not modelled",
    }
    if conf is not None:
        truth["confounder_codes"] = CONFOUNDER_CODES
    _write_case(Path(out_dir), data, labels, aff, truth)
    if conf is not None:
        _write_nifti(conf, aff, Path(out_dir) / "confounders.nii.gz")
    return truth


def _evolve(
    r_evo: np.random.Generator,
    pt: _Patient,
    pool: list[tuple[Lesion, int]],
    factors: dict[int, float],
    fate: dict[int, str],
    t: int,
) -> None:
    """One follow-up step: apply each lesion's fate to its size; maybe add one new lesion
    (new lesions are small, 3-9 mm, whatever the baseline range)."""
    for i in list(factors):
        f = factors[i]
        kind = fate.get(i, "grow")
        if f == 0:
            continue
        if kind == "grow":
            f *= r_evo.uniform(1.15, 1.45)
        elif kind == "shrink":
            f *= r_evo.uniform(0.55, 0.85)
        elif kind == "stable":
            f *= r_evo.uniform(0.97, 1.03)
        elif kind == "vanish":
            f = 0.0
        factors[i] = float(min(f, 1.8))
    if r_evo.random() < 0.5:
        avoid = [les.scaled(1.8) for les, _ in pool]
        new = sample_lesions(r_evo, pt.anat, 1, diameter_range=(3.0, 9.0), avoid=avoid)
        for les in new:
            i = len(pool)
            pool.append((les, t))
            factors[i] = 1.0
            fate[i] = "grow"


def _timeline_entries(
    pool: list[tuple[Lesion, int]], factors: dict[int, float], by_id: dict[str, dict], t: int
) -> list[dict]:
    """timeline.json lesion entries of time point ``t`` (vanished lesions included)."""
    entries = []
    for i, (_les, first) in enumerate(pool):
        if first > t:
            continue
        tid = f"L{i + 1}"
        row = by_id.get(tid)
        if row is None:
            entries.append({"truth_id": tid, "label": None, "status": "vanished",
                            "diameter_factor": 0.0, "longest_axial_diameter_mm": 0.0,
                            "perpendicular_diameter_mm": 0.0, "max_diameter_mm": 0.0,
                            "volume_ml": 0.0, "centroid_mm": None})
            continue
        status = "baseline" if t == 0 else ("new" if first == t else "persisting")
        entries.append({"truth_id": tid, "label": row["id"], "status": status,
                        "diameter_factor": round(factors[i], 4),
                        **{k: row[k] for k in ("longest_axial_diameter_mm",
                                               "perpendicular_diameter_mm", "max_diameter_mm",
                                               "volume_ml", "centroid_mm")}})
    return entries


def _rano_input(timeline: list[dict]) -> dict:
    """The timeline in the CONTRACT §4 response-input shape."""
    return {
        "on_immunotherapy": False,
        "immunotherapy_start": None,
        "timepoints": [
            {"date": tp["date"], "steroid_mg_day": 0, "clinical_status": "stable",
             "lesions": [{"id": e["truth_id"],
                          "longest_diameter_mm": e["longest_axial_diameter_mm"],
                          "perpendicular_mm": e["perpendicular_diameter_mm"],
                          "new": e["status"] == "new"} for e in tp["lesions"]]}
            for tp in timeline
        ],
    }


def make_series(
    seed: SeedLike,
    out_dir: str | Path,
    n_followups: int,
    *,
    voxel_mm: Sequence[float] = (1.0, 1.0, 1.0),
    full_head: bool = True,
    n_lesions: int | None = None,
    diameter_range: tuple[float, float] = (4.0, 30.0),
) -> dict:
    """Baseline + ``n_followups`` scans of one synthetic patient; returns timeline.json's dict."""
    v = _check(voxel_mm)
    if n_followups < 0:
        raise ValueError("n_followups must be >= 0")
    rng = _rng(seed)
    r_pat, r_evo, *r_tp = rng.spawn(2 + n_followups + 1)
    grow_max = 1.45 ** max(n_followups, 1)
    pt = _patient(r_pat, v, full_head, n_lesions, diameter_range, min(grow_max, 1.8))
    # trajectories: per lesion a fate; new lesions may appear at follow-ups
    fate = {i: str(r_evo.choice(["grow", "shrink", "stable", "vanish"],
                                p=[0.35, 0.3, 0.2, 0.15]))
            for i in range(len(pt.lesions))}
    pool: list[tuple[Lesion, int]] = [(les, 0) for les in pt.lesions]  # (lesion, first tp)
    factors: dict[int, float] = {i: 1.0 for i in range(len(pt.lesions))}
    out = Path(out_dir)
    date = BASELINE_DATE
    timeline: list[dict] = []
    for t in range(n_followups + 1):
        if t > 0:
            date = date + _dt.timedelta(days=int(r_evo.integers(56, 99)))
            _evolve(r_evo, pt, pool, factors, fate, t)
        present = [(i, pool[i][0].scaled(factors[i])) for i in sorted(factors)
                   if factors[i] > 0 and pool[i][1] <= t]
        data, labels, aff, rows, meta = _acquire(r_tp[t], pt, [les for _, les in present], v,
                                                 not full_head, True)
        lrows = _lesion_rows(labels, aff, [les for _, les in present], rows)
        truth = {
            "generator": GENERATOR, "seed": list(np.atleast_1d(seed).astype(int).tolist()),
            "timepoint": t, "date": date.isoformat(), "shape": list(data.shape),
            "voxel_size_mm": list(v), "affine": aff.round(6).tolist(), "full_head": full_head,
            "skull_stripped": not full_head, "acquisition": meta, "lesions": lrows,
            "confounders": pt.confounders,
        }
        for (i, _), row in zip(present, lrows, strict=True):
            row["truth_id"] = f"L{i + 1}"
        _write_case(out / f"tp{t}", data, labels, aff, truth)
        by_id = {row["truth_id"]: row for row in lrows}
        timeline.append({"index": t, "dir": f"tp{t}", "date": date.isoformat(),
                         "lesions": _timeline_entries(pool, factors, by_id, t)})
    doc = {
        "format": "brainmets-phantom-timeline/1",
        "generator": GENERATOR,
        "fates": {f"L{i + 1}": str(fate[i]) for i in range(len(pool))},
        "timepoints": timeline,
        "rano_input": _rano_input(timeline),
    }
    _atomic_json(doc, out / "timeline.json")
    return doc
