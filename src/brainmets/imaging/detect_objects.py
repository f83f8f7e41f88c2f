"""Lesions as objects (issue #16 item 1): group enhancing pieces into lesion hypotheses and judge
each whole object, not its fragments.

On the detector's working grid (isotropic, intensities / white-matter level):

1. ``enh``: smoothed intensity above ``1 + max(OBJ_MIN_ENH, OBJ_NOISE_K x noise)`` (normal brain is
   at or below white matter on T1c).
2. Local density of ``enh`` in a cube of ``DENSITY_MM``: a vessel 1-2 mm across fills a few %
   of the cube, a lesion's rim (a curved sheet of enhancement, open or closed), a solid nodule or
   patchy enhancement fill much more. Enhancing voxels where the density exceeds a level are
   grouped (26-connected) into objects; pieces of one rim connect through that region.
3. Each object gets its enclosed core (slice-wise 2-D hole filling of the closed object in the
   three orthogonal planes; a voxel counts as core when enclosed in >= 2 planes, so an open rim is
   tolerated) and is judged as a whole: surface / sheet (dura, sinus, tentorium, falx), tube
   (vessel), choroid plexus (deep periventricular atrium / 4th-ventricle zone, next to CSF, no
   enclosed core), irregular web (solidity), not enhancing over the local white matter.
   An object rejected as a web / tube is re-split at a higher density level (vessels bundled
   around a tumour separate from its denser rim) and the pieces are judged again.

Constants are engineering parameters in millimetres or x white-matter level, not clinical numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi

OBJ_MIN_ENH = 0.2  # x white matter above the white-matter level
OBJ_NOISE_K = 3.0
SMOOTH_MM = 0.7
DENSITY_MM = 7.0
# first grouping (density of enhancement), then re-splits of a rejected web: a higher density,
# then the parts at least 2 r_mm thick (morphological opening; a vessel is thinner) with the
# enhancement within REATTACH_MM of them
SPLIT_LEVELS = (("density", 0.2), ("density", 0.35), ("open", 2.0), ("open", 3.0))
REATTACH_MM = 1.5
OBJ_MIN_ML = 1.0  # smaller groups (< ~12 mm) are left to the blob stage (Hessian shape tests)
OBJ_SURFACE_FRACTION = 0.3
OBJ_MIN_DEPTH_MM = 5.0
# share of the 2-5 mm ring around an object that lies outside the brain mask: an object along
# the brain surface (dura, venous sinus, orbit / skull base left in a full-head mask)
OBJ_MAX_OUTSIDE = 0.25
OBJ_MAX_ELONG = 3.5  # sqrt(major / minor inertia eigenvalue): a tube ~3x as long as wide
OBJ_MAX_FLAT = 2.6  # sqrt(middle / minor): a sheet (tentorium, falx, dura)
OBJ_MIN_SOLIDITY = 0.3  # filled volume / convex hull: below = a web of vessels
# a weakly enhancing object (less than WEAK_OVER_LOCAL_WM over the local white matter) must be
# compact: a loose, faint group is a web of small vessels or noise, not a lesion
WEAK_OVER_LOCAL_WM = 0.15
WEAK_MIN_SOLIDITY = 0.5
CORE_LEVEL = 1.0  # enclosed voxels darker than white matter count as a (necrotic / cystic) core
CORE_MIN_FRACTION = 0.1  # of the filled object, for "has an enclosed core"
FALX_HALF_MM = 6.0  # centroid this close to the mid-sagittal plane and thin across it: falx
PLEXUS_SHELL_CSF = 0.25  # CSF share of the shell around a choroid-plexus object
# an object without a core lying in CSF (sulcus, fissure, cistern) near the surface: a vein,
# sinus or artery in the CSF space, not a parenchymal lesion
CISTERN_SHELL_CSF = 0.3
CISTERN_MAX_DEPTH_MM = 15.0
CSF_LEVEL = 0.55  # x white matter
LOCAL_WM_PCT = 90.0
MIN_OVER_LOCAL_WM = 0.05
SPLIT_MIN_ML = 2.0
MAIN_PART_SHARE = 0.25
# tissue around a brain lesion is brain (<= about the white-matter level, darker with oedema);
# surroundings brighter than this x white matter are fat / marrow / muscle (orbit, skull base,
# scalp left in the mask of a full-head scan)
SHELL_MAX_LEVEL = 1.15
HULL_FILL_BELOW = 0.7  # accepted objects less solid than this get their open core completed
HALF_MAX = 0.5  # boundary of an object: half way from the surrounding tissue to its peak


@dataclass
class LesionObject:
    region: np.ndarray  # bool, on the crop ``sl`` of the working grid (filled object)
    sl: tuple[slice, slice, slice]
    features: dict
    reason: str | None = None
    pieces: list[LesionObject] = field(default_factory=list)


def enhancement_mask(iw: np.ndarray, mw: np.ndarray, noise: float, ws: float) -> np.ndarray:
    sm = ndi.gaussian_filter(iw, SMOOTH_MM / ws)
    return (sm > 1.0 + max(OBJ_MIN_ENH, OBJ_NOISE_K * noise)) & mw


def _slicewise_votes(obj: np.ndarray) -> np.ndarray:
    """In how many of the 3 orthogonal slice planes each voxel is enclosed by ``obj``."""
    votes = np.zeros(obj.shape, dtype=np.uint8)
    for ax in range(3):
        filled = np.zeros_like(obj)
        for k in range(obj.shape[ax]):
            s: list[slice | int] = [slice(None)] * 3
            s[ax] = k
            t = tuple(s)
            if obj[t].any():
                filled[t] = ndi.binary_fill_holes(obj[t])
        votes += filled & ~obj
    return votes


def _slicewise_core(obj: np.ndarray) -> np.ndarray:
    """Voxels enclosed by ``obj`` in >= 2 of the 3 orthogonal slice planes."""
    return _slicewise_votes(obj) >= 2


def _pca(pts: np.ndarray, ws: float) -> tuple[float, float]:
    if len(pts) < 4:
        return 1.0, 1.0
    cov = np.cov((pts * ws).T) + np.eye(3) * (ws**2 / 12.0)
    ev = np.clip(np.linalg.eigvalsh(cov), 1e-9, None)
    return float(np.sqrt(ev[2] / ev[0])), float(np.sqrt(ev[1] / ev[0]))


def _solidity(reg: np.ndarray, ws: float) -> float:
    from scipy.spatial import ConvexHull, QhullError

    pts = np.argwhere(reg).astype(np.float64)
    if len(pts) > 20000:
        pts = pts[np.random.default_rng(0).choice(len(pts), 20000, replace=False)]
        n = int(reg.sum())
    else:
        n = len(pts)
    try:
        hull = ConvexHull(pts)
    except QhullError:
        return 1.0
    return float(min(n / max(hull.volume, 1e-9), 1.0))


def _crop(mask: np.ndarray, pad: int, shape: tuple[int, ...]) -> tuple[slice, slice, slice]:
    idx = np.argwhere(mask)
    lo = np.maximum(idx.min(0) - pad, 0)
    hi = np.minimum(idx.max(0) + pad + 1, shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))  # type: ignore[return-value]


def _half_maximum(obj: np.ndarray, sub: np.ndarray, msub: np.ndarray, ws: float) -> np.ndarray:
    """The object's enhancing voxels at half maximum between its peak (95th percentile) and the
    tissue around it (median of a 2-5 mm shell): the boundary does not depend on the intensity
    offset or scale (raw, z-scored, shifted), only on the local contrast."""
    r_in, r_out = max(1, int(round(2.0 / ws))), max(2, int(round(5.0 / ws)))
    near = ndi.binary_dilation(obj, iterations=r_in)
    ring = ndi.binary_dilation(near, iterations=r_out - r_in) & ~near & msub
    if ring.sum() < 10:
        return obj
    peak = float(np.percentile(sub[obj], 95))
    bg = float(np.median(sub[ring]))
    out = obj & (sub >= bg + HALF_MAX * (peak - bg))
    return out if out.sum() >= max(4, 0.2 * obj.sum()) else obj


def _main_parts(reg: np.ndarray) -> np.ndarray:
    """The largest 26-connected part and those at least MAIN_PART_SHARE of it (half-maximum
    thresholding can leave specks that would be reported as lesions of their own)."""
    import cc3d

    lab, n = cc3d.connected_components(reg.astype(np.uint8), connectivity=26, return_N=True)
    if n <= 1:
        return reg
    counts = np.bincount(lab.ravel())
    counts[0] = 0
    keep = counts >= MAIN_PART_SHARE * counts.max()
    keep[0] = False
    return keep[lab]


def object_features(ctx: dict, obj_full_sl: tuple, obj: np.ndarray) -> tuple[np.ndarray, dict]:
    """Fill the object's enclosed core and measure it; ``obj`` is bool on ``obj_full_sl``.

    The object is judged as grouped (shape, depth, surroundings of the whole hypothesis); the
    returned region (and its volume) is the half-maximum enhancement plus the enclosed core."""
    iw, mw, depth, ws = ctx["iw"], ctx["mw"], ctx["depth"], ctx["ws"]
    sub = iw[obj_full_sl]
    msub = mw[obj_full_sl]
    closed = ndi.binary_closing(obj, iterations=max(1, int(round(2.0 / ws)))) | obj
    enclosed = (closed | (_slicewise_votes(closed) >= 2)) & msub & ~obj
    core = enclosed & (sub < CORE_LEVEL)
    filled = _main_parts(obj | enclosed)
    obj = obj & filled
    region = _main_parts((_half_maximum(obj, sub, msub, ws) | enclosed) & filled)
    pts = np.argwhere(filled)
    elong, flat = _pca(pts.astype(np.float64), ws)
    d = depth[obj_full_sl]
    r_in, r_out = max(1, int(round(2.0 / ws))), max(2, int(round(5.0 / ws)))
    ring = ndi.binary_dilation(filled, iterations=r_out) & ~ndi.binary_dilation(
        filled, iterations=r_in)
    shell = ring & msub
    shell_vals = sub[shell]
    lo = np.array([s.start for s in obj_full_sl])
    med = float(np.median(sub[obj]))
    f = {
        "centroid_w": (np.argwhere(region).mean(axis=0) + lo).tolist(),
        "volume_mm3": float(region.sum() * ws**3),
        "grouped_mm3": float(filled.sum() * ws**3),
        "enhancing_mm3": float(obj.sum() * ws**3),
        "n_vox": int(region.sum()),
        "core_fraction": float(core.sum() / max(filled.sum(), 1)),
        "elongation": elong,
        "flatness": flat,
        "depth_mm": float(d[filled].mean()),
        "surface_fraction": float((d[obj] < 1.5 * ws).mean()),
        "solidity": _solidity(filled, ws) if filled.sum() >= 30 else 1.0,
        "shell_csf_fraction": float((shell_vals < CSF_LEVEL).mean()) if shell_vals.size else 0.0,
        "median_enhancing": med,
        "over_local_wm": (med - float(np.percentile(shell_vals, LOCAL_WM_PCT))
                          if shell_vals.size > 10 else 0.0),
        "shell_median": float(np.median(shell_vals)) if shell_vals.size else 0.0,
        "shell_outside_fraction": float((ring & ~msub).sum() / max(ring.sum(), 1)),
        "x_extent_mm": float((pts[:, 0].max() - pts[:, 0].min() + 1) * ws),
    }
    return region, f


def object_reason(f: dict, ctx: dict) -> str | None:
    """Why a whole object is not a lesion (None = accepted)."""
    has_core = f["core_fraction"] >= CORE_MIN_FRACTION
    if f["surface_fraction"] > OBJ_SURFACE_FRACTION or f["depth_mm"] < OBJ_MIN_DEPTH_MM:
        return "dura_sinus"
    if f["shell_outside_fraction"] > OBJ_MAX_OUTSIDE and not has_core:
        return "dura_sinus"
    if f["shell_median"] > SHELL_MAX_LEVEL:
        return "extracranial"
    if _is_falx(f, ctx) and not has_core:
        return "falx"
    if f["elongation"] > OBJ_MAX_ELONG and not has_core:
        return "vessel"
    if f["flatness"] > OBJ_MAX_FLAT and not has_core:
        return "dura_sinus"
    if (not has_core and f["shell_csf_fraction"] >= CISTERN_SHELL_CSF
            and f["depth_mm"] < CISTERN_MAX_DEPTH_MM):
        return "vessel_in_csf"
    if _in_plexus_zone(f, ctx) and not has_core and f["shell_csf_fraction"] >= PLEXUS_SHELL_CSF:
        return "choroid_plexus"
    if f["solidity"] < OBJ_MIN_SOLIDITY or (f["solidity"] < WEAK_MIN_SOLIDITY
                                            and f["over_local_wm"] < WEAK_OVER_LOCAL_WM):
        return "irregular"
    if f["over_local_wm"] < MIN_OVER_LOCAL_WM:
        return "not_enhancing"
    return None


def _is_falx(f: dict, ctx: dict) -> bool:
    cw = np.append(np.asarray(f["centroid_w"]), 1.0) @ ctx["aff_w"].T
    return bool(abs(cw[0] - ctx["xmid"]) < FALX_HALF_MM and f["x_extent_mm"] < 2 * FALX_HALF_MM)


def _in_plexus_zone(f: dict, ctx: dict) -> bool:
    from brainmets.imaging import measure as ms

    frame = ctx.get("frame")
    if frame is None:
        return False
    cw = np.append(np.asarray(f["centroid_w"]), 1.0) @ ctx["aff_w"].T
    x, y, z = ms.to_pseudo_mni(cw[:3], frame)
    for box in ctx["plexus_zones"]:
        if (box["abs_x_min"] <= abs(x) <= box["abs_x_max"] and box["y_min"] <= y <= box["y_max"]
                and box["z_min"] <= z <= box["z_max"]):
            return True
    return False


def find_objects(ctx: dict, enh: np.ndarray) -> list[LesionObject]:
    """Group ``enh`` into objects at the first density level and judge them (with re-splits)."""
    ws = ctx["ws"]
    size = max(3, int(round(DENSITY_MM / ws)) | 1)
    dens = ndi.uniform_filter(enh.astype(np.float32), size)
    return _judge_level(ctx, enh, dens, 0, None)


def _judge_level(ctx: dict, enh: np.ndarray, dens: np.ndarray, level: int,
                 within: tuple[tuple, np.ndarray] | None) -> list[LesionObject]:
    import cc3d

    ws = ctx["ws"]
    kind, t = SPLIT_LEVELS[level]
    if within is None:
        sl0: tuple = tuple(slice(0, s) for s in enh.shape)
        m = enh
    else:
        sl0, m = within
        m = m & enh[sl0]
    if kind == "density":
        grp = (dens[sl0] > t) & m
    else:
        core = ndi.distance_transform_edt(m) > t / ws
        near = ndi.distance_transform_edt(~core) <= (t + REATTACH_MM) / ws
        grp = near & m
    lab, n = cc3d.connected_components(grp.astype(np.uint8), connectivity=26, return_N=True)
    if n == 0:
        return []
    counts = np.bincount(lab.ravel())
    min_vox = OBJ_MIN_ML * 1000.0 / ws**3
    out: list[LesionObject] = []
    objs = ndi.find_objects(lab)
    pad = max(3, int(round(6.0 / ws)))
    for k in np.nonzero(counts[1:] >= min_vox)[0] + 1:
        bb = objs[k - 1]
        local = tuple(slice(max(b.start - pad, 0), min(b.stop + pad, lab.shape[i]))
                      for i, b in enumerate(bb))
        piece = lab[local] == k
        full_sl = _shift(sl0, local)
        filled, f = object_features(ctx, full_sl, piece)
        o = LesionObject(region=filled, sl=full_sl, features=f)
        o.reason = object_reason(f, ctx)
        if (o.reason in ("irregular", "vessel", "dura_sinus", "falx", "vessel_in_csf")
                and level + 1 < len(SPLIT_LEVELS)
                and f["enhancing_mm3"] >= SPLIT_MIN_ML * 1000.0):
            o.pieces = _judge_level(ctx, enh, dens, level + 1, (full_sl, piece))
        out.append(o)
    return out


def complete_open_core(ctx: dict, o: LesionObject) -> None:
    """An accepted object whose rim is open (a cyst wall with a gap, common in real cystic
    metastases): add the voxels inside the convex hull of its region that are darker than the
    wall (the cyst / necrosis), so the volume is the lesion's, not only its rim's."""
    from scipy.spatial import Delaunay, QhullError

    f = o.features
    if (f.get("solidity", 1.0) >= HULL_FILL_BELOW or o.region.sum() < 30
            or f.get("over_local_wm", 0.0) < WEAK_OVER_LOCAL_WM):
        return
    sub = ctx["iw"][o.sl]
    pts = np.argwhere(o.region)
    try:
        tri = Delaunay(pts[np.unique(_hull_vertices(pts))])
    except QhullError:
        return
    grid = np.argwhere(np.ones(o.region.shape, dtype=bool))
    inside = (tri.find_simplex(grid) >= 0).reshape(o.region.shape)
    wall = float(np.median(sub[o.region]))
    add = inside & ctx["mw"][o.sl] & ~o.region & (sub < wall)
    o.region = o.region | add
    o.features["volume_mm3"] = float(o.region.sum() * ctx["ws"] ** 3)
    o.features["hull_filled_mm3"] = float(add.sum() * ctx["ws"] ** 3)


def _hull_vertices(pts: np.ndarray) -> np.ndarray:
    from scipy.spatial import ConvexHull

    return ConvexHull(pts).vertices


def flatten(objs: list[LesionObject]) -> list[LesionObject]:
    """Accepted objects at any level, plus rejected ones whose re-split accepted nothing."""
    out: list[LesionObject] = []
    for o in objs:
        acc = [p for p in flatten(o.pieces) if p.reason is None] if o.pieces else []
        if acc:
            out.extend(flatten(o.pieces))
        else:
            out.append(o)
    return out


def _shift(outer: Sequence[slice], inner: Sequence[slice]) -> tuple[slice, slice, slice]:
    """The crop ``inner`` (relative to ``outer``) as slices of the whole grid."""
    a, b, c = (slice(o.start + i.start, o.start + i.stop)
               for o, i in zip(outer, inner, strict=True))
    return (a, b, c)
