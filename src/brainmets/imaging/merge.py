"""Join reported lesion pieces that belong to one lesion hypothesis (issue 16 item 1).

A ring-enhancing metastasis whose rim is thin or uneven can come out of the detector as several
arcs, and the lesion count matters (it drives the treatment options). Two pieces are joined only
on evidence that two separate metastases would not share:

* ``bridge``: their surfaces are at most ``GAP_MM`` apart **and** the tissue that the convex hull
  of the pair adds (the space between and inside the pieces, brain only) is mostly abnormal,
  i.e. enhancing (above ``ENH_K`` robust SDs of the surrounding tissue) or dark
  (``DARK_K`` SDs below it: a necrotic / cystic core enclosed by the pieces). Two solid
  metastases side by side have normal parenchyma in that hull.
* ``anomaly``: their surfaces are at most ``ANOMALY_GAP_MM`` apart and most of that hull lies in
  one region of the second signal (:mod:`brainmets.imaging.anomaly`, left-right asymmetry), i.e.
  both sit on one locally abnormal region that also covers the tissue between them.

The hull voxels that gave the evidence become part of the joined lesion (so each lesion is one
connected piece and a ring's core is inside it, as the detector's own ring filling does). The
thresholds are detector parameters in units of the local tissue spread, set on synthetic rings
and the project's phantoms; none is a clinical cut-point.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi

GAP_MM = 3.0  # surface-to-surface gap for the bridge rule
ANOMALY_GAP_MM = 6.0  # surface-to-surface gap for the shared-anomaly rule
ENH_K = 2.0  # enhancing: this many robust SDs above the surrounding tissue
DARK_K = 1.0  # dark core: this many robust SDs below it
ABNORMAL_SHARE = 0.6  # share of the added hull voxels that must be abnormal
ANOMALY_SHARE = 0.5  # share of the added hull voxels inside one anomaly region
SHELL_MM = 6.0  # surrounding tissue: a shell this thick around the pair's hull


@dataclass
class Merged:
    """Lesion labels after joining (ids 1..n, largest first) and what was joined."""

    labels: np.ndarray
    members: dict[int, list[int]] = field(default_factory=dict)  # new id -> old ids
    rules: dict[int, list[str]] = field(default_factory=dict)  # new id -> evidence used


def _hull(pts: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Filled convex hull of voxel coordinates ``pts`` on a grid of ``shape``."""
    from scipy.spatial import Delaunay, QhullError

    grid = np.argwhere(np.ones(shape, bool))
    try:
        inside = Delaunay(pts.astype(np.float64)).find_simplex(grid) >= 0
    except QhullError:  # flat / degenerate pair (e.g. one slice): no volume to judge
        return np.zeros(shape, bool)
    out = np.zeros(shape, bool)
    out[tuple(grid[inside].T)] = True
    return out


def _robust(v: np.ndarray) -> tuple[float, float]:
    med = float(np.median(v))
    sd = float(np.median(np.abs(v - med)) * 1.4826)
    return med, max(sd, 1e-6)


def _pair_evidence(a: np.ndarray, b: np.ndarray, img: np.ndarray, mask: np.ndarray,
                   regions: np.ndarray | None, sp: np.ndarray) -> tuple[str | None, np.ndarray]:
    """Judge pieces ``a`` and ``b`` (boolean masks on one crop). Returns (rule, bridge voxels)."""
    none = np.zeros(a.shape, bool)
    gap = float(ndi.distance_transform_edt(~a, sampling=sp)[b].min()) - float(sp.min())
    if gap > max(GAP_MM, ANOMALY_GAP_MM):
        return None, none
    hull = _hull(np.argwhere(a | b), a.shape)
    add = hull & ~a & ~b & mask
    if add.sum() == 0:
        return None, none
    shell = ndi.distance_transform_edt(~hull, sampling=sp)
    ring = (shell > 0) & (shell <= SHELL_MM) & mask
    if ring.sum() < 20:
        return None, none
    med, sd = _robust(img[ring])
    abnormal = add & ((img >= med + ENH_K * sd) | (img <= med - DARK_K * sd))
    if gap <= GAP_MM and abnormal.sum() >= ABNORMAL_SHARE * add.sum():
        return "bridge", abnormal
    if regions is not None and gap <= ANOMALY_GAP_MM:
        ids, counts = np.unique(regions[add], return_counts=True)
        for r, c in zip(ids, counts, strict=True):
            if r > 0 and c >= ANOMALY_SHARE * add.sum() and (regions[a] == r).any() \
                    and (regions[b] == r).any():
                return "anomaly", add & (regions == r)
    return None, none


def _crop(m: np.ndarray, pad: int) -> tuple[slice, ...]:
    pts = np.argwhere(m)
    lo = np.maximum(pts.min(0) - pad, 0)
    hi = np.minimum(pts.max(0) + pad + 1, m.shape)
    return tuple(slice(int(x), int(y)) for x, y in zip(lo, hi, strict=True))


def _find(parent: dict[int, int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def merge_fragments(labels: np.ndarray, img: np.ndarray, mask: np.ndarray, affine: np.ndarray,
                    regions: np.ndarray | None = None) -> Merged:
    """Join the lesions of ``labels`` (ids 1..n) that belong to one lesion hypothesis.

    ``img``: the canonical image; ``mask``: brain mask; ``regions``: anomaly region ids on the
    same grid (or None). Unjoined lesions keep their voxels; ids are renumbered by volume."""
    sp = np.sqrt((np.asarray(affine)[:3, :3] ** 2).sum(axis=0))
    n = int(labels.max())
    boxes = ndi.find_objects(labels)
    reach = max(GAP_MM, ANOMALY_GAP_MM)
    pad = np.ceil((reach + SHELL_MM) / sp).astype(int) + 1
    parent = {i: i for i in range(1, n + 1)}
    bridges: dict[int, list[np.ndarray]] = {}
    rules: dict[tuple[int, int], str] = {}
    out = labels.copy()
    for i in range(1, n + 1):
        for j in range(i + 1, n + 1):
            bi, bj = boxes[i - 1], boxes[j - 1]
            if bi is None or bj is None or any(
                    (max(si.start, sj.start) - min(si.stop, sj.stop)) * s > reach + s
                    for si, sj, s in zip(bi, bj, sp, strict=True)):
                continue
            sl = _crop((labels == i) | (labels == j), int(pad.max()))
            a, b = labels[sl] == i, labels[sl] == j
            rule, bridge = _pair_evidence(a, b, img[sl], mask[sl] > 0,
                                          None if regions is None else regions[sl], sp)
            if rule is None:
                continue
            full = np.zeros(labels.shape, bool)
            full[sl] = bridge & (labels[sl] == 0)
            bridges.setdefault(i, []).append(full)
            rules[(i, j)] = rule
            parent[_find(parent, j)] = _find(parent, i)
    for i, fulls in bridges.items():
        for full in fulls:
            out[full & (out == 0)] = i
    root = np.zeros(n + 1, np.int32)
    for i in range(1, n + 1):
        root[i] = _find(parent, i)
    out = root[out]
    return _renumber(out, root, rules)


def _renumber(lab: np.ndarray, root: np.ndarray, rules: dict[tuple[int, int], str]) -> Merged:
    """Ids by volume (largest = 1); members and rules per new id."""
    n = len(root) - 1
    counts = np.bincount(lab.ravel(), minlength=n + 1)
    roots = sorted({int(r) for r in root[1:] if counts[r] > 0}, key=lambda r: -counts[r])
    lut = np.zeros(n + 1, np.int32)
    for new, r in enumerate(roots, start=1):
        lut[r] = new
    res = Merged(lut[lab])
    for old in range(1, n + 1):
        new = int(lut[root[old]])
        if new:
            res.members.setdefault(new, []).append(old)
    for (i, _j), rule in rules.items():
        new = int(lut[root[i]])
        if new and rule not in res.rules.setdefault(new, []):
            res.rules[new].append(rule)
    return res
