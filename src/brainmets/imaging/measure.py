"""Per-lesion measurement in world millimetres (26-connected components, cc3d).

* ``centroid_mm``: mean RAS position of the lesion's voxel centres.
* ``volume_ml``: voxel count x voxel volume.
* ``longest_axial_diameter_mm`` (RANO-BM): the longest in-plane diameter over the axial slices of
  the (closest-RAS) grid, from the convex hull of voxel centres plus one voxel width along the
  measured direction; ``perpendicular_diameter_mm``: the lesion's extent in that slice
  perpendicular to it (projection width, an upper bound of the longest perpendicular chord).
  For oblique acquisitions the slice is the voxel slice closest to the world axial plane.
* ``max_diameter_mm``: the longest 3-D diameter (hull of voxel centres + one voxel width).
* ``location``: see ``knowledge/data/imaging/location.toml`` (bounding-box fit to MNI152).
"""

from __future__ import annotations

from functools import cache

import numpy as np

LOCATION_METHOD = "brain-mask bounding box fitted to the MNI152 brain (registration-free)"


def _width(u: np.ndarray, edges: np.ndarray) -> float:
    """Width of one voxel along unit direction ``u`` (RMS of the edge projections)."""
    return float(np.sqrt(((edges.T @ u) ** 2).sum()))


def _max_pair(points: np.ndarray) -> tuple[float, np.ndarray]:
    """Largest pairwise distance of ``points (n, d)`` and its unit direction."""
    if len(points) < 2:
        return 0.0, np.eye(points.shape[1])[0]
    pts = points
    if len(points) > 3 + points.shape[1]:
        try:
            from scipy.spatial import ConvexHull

            pts = points[ConvexHull(points).vertices]
        except Exception:  # degenerate (flat / collinear) sets
            pts = points
    if len(pts) > 3000:
        pts = pts[np.random.default_rng(0).choice(len(pts), 3000, replace=False)]
    d2 = ((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1)
    i, j = np.unravel_index(int(np.argmax(d2)), d2.shape)
    d = float(np.sqrt(d2[i, j]))
    u = (pts[j] - pts[i]) / d if d > 0 else np.eye(points.shape[1])[0]
    return d, u


def diameters(ijk: np.ndarray, affine: np.ndarray) -> tuple[float, float, float]:
    """(longest axial, perpendicular, max 3-D) diameters in mm of voxels ``ijk (n, 3)``."""
    m = affine[:3, :3]
    world = ijk @ m.T + affine[:3, 3]
    d3, u3 = _max_pair(world)
    d3 += _width(u3, m)
    best = (0.0, 0.0)
    edges2 = m[:2, :]  # in-plane (x, y) components of the voxel edges
    # axial slices: the array axis most aligned with world z
    ax = int(np.argmax(np.abs(m[2, :]) / np.linalg.norm(m, axis=0)))
    for k in np.unique(ijk[:, ax]):
        sl = world[ijk[:, ax] == k][:, :2]
        d, u = _max_pair(sl)
        d += _width(u, edges2)
        if d > best[0]:
            v = np.array([-u[1], u[0]])
            proj = sl @ v
            perp = float(proj.max() - proj.min()) + _width(v, edges2)
            best = (d, min(perp, d))
    return best[0], best[1], max(d3, best[0])


@cache
def _location_cfg() -> dict:
    from brainmets.knowledge import load_toml

    return load_toml("imaging/location.toml")


def location_frame(mask: np.ndarray, affine: np.ndarray) -> dict:
    """Per-scan mapping world -> pseudo-MNI from the brain mask's extents."""
    step = 2
    ijk = np.argwhere(mask[::step, ::step, ::step]) * step
    w = ijk @ affine[:3, :3].T + affine[:3, 3]
    lo = w.min(axis=0)
    hi = w.max(axis=0)
    b = _location_cfg()["mni_bbox"]
    sx = (hi[0] - lo[0]) / (b["x_max"] - b["x_min"])
    sy = (hi[1] - lo[1]) / (b["y_max"] - b["y_min"])
    sz = 0.5 * (sx + sy)
    return {"lo": lo.tolist(), "hi": hi.tolist(), "xmid": float(0.5 * (lo[0] + hi[0])),
            "s": [float(sx), float(sy), float(sz)]}


def to_pseudo_mni(p: np.ndarray, frame: dict) -> np.ndarray:
    b = _location_cfg()["mni_bbox"]
    sx, sy, sz = frame["s"]
    x = (p[0] - frame["xmid"]) / sx
    y = b["y_min"] + (p[1] - frame["lo"][1]) / sy
    z = b["z_max"] - (frame["hi"][2] - p[2]) / sz
    return np.array([x, y, z])


def location(p_world: np.ndarray, frame: dict) -> str:
    cfg = _location_cfg()
    x, y, z = to_pseudo_mni(np.asarray(p_world, float), frame)
    bs = cfg["brainstem"]
    if abs(x) <= bs["abs_x_max"] and bs["y_min"] <= y <= bs["y_max"] and z <= bs["z_max"]:
        return "brainstem"
    cb = cfg["cerebellum"]
    if y <= cb["y_max"]:
        zt = cb["z_at_y0"] + cb["slope"] * min(y - cb["y0"], 0.0)
        if z < zt:
            return "cerebellum"
    return "supratentorial"


def relabel(labels: np.ndarray, voxel_ml: float) -> tuple[np.ndarray, list[int]]:
    """26-connected components, ids ordered by volume (largest = 1)."""
    import cc3d

    cc, n = cc3d.connected_components((labels > 0).astype(np.uint8), connectivity=26,
                                      return_N=True)
    if n == 0:
        return cc.astype(np.int32), []
    counts = np.bincount(cc.ravel())[1:]
    order = np.argsort(-counts, kind="stable") + 1
    lut = np.zeros(n + 1, dtype=np.int32)
    lut[order] = np.arange(1, n + 1, dtype=np.int32)
    out = lut[cc]
    return out, [int(c) for c in counts[order - 1]]


def measure_lesions(
    labels: np.ndarray,
    affine: np.ndarray,
    frame: dict,
    det_labels: np.ndarray | None = None,
    det_features: dict | None = None,
) -> list[dict]:
    """Measure each labelled lesion (ids 1..n) on the grid of ``labels``."""
    import cc3d

    vox_ml = float(abs(np.linalg.det(affine[:3, :3]))) / 1000.0
    stats = cc3d.statistics(labels.astype(np.uint32))
    out = []
    n = int(labels.max())
    for k in range(1, n + 1):
        bb = stats["bounding_boxes"][k]
        sub = labels[bb] == k
        if not sub.any():
            continue
        off = np.array([s.start for s in bb])
        ijk = np.argwhere(sub) + off
        world = ijk @ affine[:3, :3].T + affine[:3, 3]
        cen = world.mean(axis=0)
        lad, perp, dmax = diameters(ijk.astype(np.float64), affine)
        rec = {
            "id": k,
            "centroid_mm": [round(float(v), 2) for v in cen],
            "volume_ml": round(float(len(ijk) * vox_ml), 5),
            "longest_axial_diameter_mm": round(lad, 2),
            "perpendicular_diameter_mm": round(perp, 2),
            "max_diameter_mm": round(dmax, 2),
            "location": location(cen, frame),
            "location_method": LOCATION_METHOD,
        }
        if det_labels is not None and det_features:
            ids = det_labels[bb][sub]
            ids = ids[ids > 0]
            feats = [det_features[i] for i in np.unique(ids) if i in det_features]
            if feats:
                main = det_features.get(int(np.bincount(ids).argmax()), feats[0])
                rec["enhancement"] = "ring" if main.get("ring_filled") else "solid"
                rec["confidence"] = round(max(f.get("confidence", 0.0) for f in feats), 3)
                rec["contrast_to_surroundings"] = round(float(main.get("contrast", 0.0)), 3)
                rec["found_by"] = sorted({str(f["found_by"]) for f in feats if f.get("found_by")})
        out.append(rec)
    return out
