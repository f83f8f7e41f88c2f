"""A second, independent signal for large and subtle lesions (issue 16 item 2).

The classical detector judges bright blobs; this module instead asks "is this brain abnormal, and
where?" with three signals that do not look for blobs at all:

* ``asymmetry``: enhancement (T1c signal above the local white-matter level) that has no mirror
  twin across the estimated mid-sagittal plane. The plane is fitted by maximising the
  correlation of the band-passed image with its own reflection (offset and two tilts: a coarse
  grid, then coordinate search), so no atlas and no registration are needed. Normal enhancing
  structures are mostly paired or on the midline (choroid plexus, sinuses, falx) and cancel; a
  mass does not. Regions grow from seeds above ``ASYM_K`` robust SDs of the brain's own
  left-right difference (hysteresis).
* ``reference``: deviation from a normal brain. nilearn's bundled MNI152 2009 white-matter map is
  placed on the scan by a cheap affine (brain-mask centre and extents, no iterative
  registration) and voxels that should be deep white matter but are CSF-dark (necrotic cores,
  cysts) or enhancing are flagged. With such a crude fit, ventricles and mask leaks also deviate,
  so this signal only **confirms** (it is added to ``signals`` / ``found_by`` of a region that
  asymmetry found) and never makes a region by itself.
* ``mass_effect``: the lateral ventricles (CSF-dark voxels deep in the brain near the plane, a
  lesion's own dark core excluded) are compared left vs right and their centre against the
  plane; a displaced or one-sidedly compressed ventricle system is a scan-level finding (never a
  lesion), naming the side of the presumed mass.

Each region is then classified (:func:`classify`): ``lesion`` (compact, enhancing, clearly
one-sided, not on the mask surface nor at the skull base; only on slices <= 3 mm and when the
plane fit is trustworthy), ``finding`` (reported as "possible lesion not characterised: review")
or ``ignore`` (tubes and sheets: asymmetric sinuses and veins; weak or tiny regions).
:func:`second_signal` merges the result with the detector's lesions for the pipeline.

Everything runs on a 2 mm working grid (about 1 s of CPU per 1 mm scan, < 300 MB). Thresholds
are detector parameters in units of the scan's own white-matter level and of its left-right
spread; none is a clinical cut-point. They were set on the project's phantoms and checked on
the five development scans (../shared/real-scans), not fitted to them case by case.

Output: :class:`AnomalyReport` with :class:`Region` rows (centroid_mm, volume_ml, score, signals,
90th-percentile enhancement, shape, a label map on the working grid) and :class:`MassEffect`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import ndimage as ndi

from brainmets.imaging import preprocess as pp

if TYPE_CHECKING:
    from brainmets.imaging.detect import Detection, Detector

WORK_MM = 2.0  # working grid
THICK_MM = 3.0  # thicker slices: partial volume makes the mirror comparison a hint only
MIN_WORK_VOXELS = 2000  # 16 ml at 2 mm: below this the signals are not computed
LOCAL_WM_MM = 16.0  # scale of the local white-matter level (residual bias)
SMOOTH_MM = 2.0  # Gaussian sigma before comparing a voxel with its mirror
SURFACE_MM = 5.0  # ignore the outer brain rim (dura, cortical veins, mask misfit)
ENH_FLOOR = 1.0  # x white matter: normal parenchyma is at or below it on T1c
ASYM_K = 4.0  # seed threshold in robust SDs of the brain's left-right intensity difference
ASYM_MIN = 0.15  # and at least this much enhancement difference (x white matter)
GROW_FRACTION = 0.6  # regions grow from seeds down to this fraction of the seed threshold
MIDLINE_MM = 6.0  # regions centred this close to the plane are not judged by asymmetry
MIN_PLANE_CORR = 0.3  # below this the mirror is not trusted: asymmetry regions -> findings
MIN_REGION_ML = 1.0  # regions smaller than this are left to the blob detector
STRONG_SCORE = 1.5  # score at or above which an enhancing region may be reported as a lesion
LESION_MIN_ML = 2.0  # and at least this volume
ENHANCING_RATIO = 1.25  # 90th percentile of the region (x white matter) to call it enhancing
BRIGHT_RATIO = 1.6  # ... or this bright (90th percentile, x local white matter) ...
BRIGHT_SCORE = 1.1  # ... at this lower score
MAX_ELONGATION = 2.7  # masses are compact; sinuses, veins and dura are tubes and sheets
FINDING_SCORE = 1.0  # weaker regions, or not compact enough, are listed for review ...
FINDING_MAX_ELONGATION = 3.0  # ... unless clearly tubular (asymmetric sinus / vein)
RING_CORE_FRACTION = 0.15  # share of a filled region that is its unenhancing core: "ring"
BASE_HEIGHT = 0.15  # the lowest share of the brain (skull base: carotids, cavernous sinus)
FLOOR_HEIGHT = 0.08  # below this (foramen magnum / petrous level) regions are not listed
MIN_DEPTH_MM = 9.0  # regions hugging the mask surface are dura, sinuses or a mask leak
DARK_LEVEL = 0.55  # x white matter: darker voxels count as CSF-like
REF_WM_PROB = 0.9  # template white-matter probability for "should be white matter"
REF_MIN_ML = 2.0  # a reference-deviation region must be at least this large
VENT_DEPTH_MM = 15.0  # ventricles: CSF-dark voxels at least this deep in the brain
VENT_MAX_LATERAL_MM = 35.0  # and within this distance of the mid-sagittal plane
MASS_MIN_ML = 3.0  # ventricle volume needed to judge their symmetry
MASS_ASYM = 0.5  # |L - R| / (L + R) at or above which the ventricles are called asymmetric
MASS_SHIFT_MM = 6.0  # median ventricle offset from the plane flagged (detector parameter)


@dataclass
class Region:
    """One abnormal region (working grid label ``label``)."""

    label: int
    centroid_mm: list[float]
    volume_ml: float
    score: float  # 90th percentile of the region's asymmetry / seed threshold
    signals: list[str]
    enhancement_p90: float  # 90th percentile intensity, x white-matter level
    dark_fraction: float  # share of CSF-dark voxels (necrotic / cystic core)
    elongation: float  # sqrt(largest / smallest inertia eigenvalue): 1 ball, >> 1 tube/sheet
    height: float  # centroid height in the brain mask's z extent (0 bottom, 1 top)
    depth_mm: float = 99.0  # median distance of its voxels from the brain-mask surface
    kind: str = "ignore"  # "lesion" | "finding" | "ignore" (see classify)

    def as_json(self) -> dict:
        return {"centroid_mm": self.centroid_mm, "volume_ml": self.volume_ml,
                "score": self.score, "signals": list(self.signals),
                "enhancement_p90": self.enhancement_p90, "elongation": self.elongation}


@dataclass
class MassEffect:
    """Ventricle asymmetry and displacement relative to the mid-sagittal plane."""

    left_ml: float
    right_ml: float
    shift_mm: float  # signed: + = ventricle centre displaced to the right (RAS +x)
    asymmetry: float  # |L - R| / (L + R)
    flagged: bool
    side_of_mass: str | None  # the side whose ventricle is compressed / pushed from


@dataclass
class AnomalyReport:
    regions: list[Region]
    mass_effect: MassEffect | None
    plane: dict  # normal (unit, world) and offset; symmetry correlation
    labels: np.ndarray  # int32 on the working grid
    affine: np.ndarray  # working grid -> world
    seconds: float
    notes: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- working grid


def _working(data: np.ndarray, mask: np.ndarray, affine: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image, mask, affine) resampled to ``WORK_MM`` isotropic (grid-mode zoom)."""
    sp = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    f = sp / WORK_MM
    img = ndi.zoom(data.astype(np.float32, copy=False), f, order=1, prefilter=False,
                   grid_mode=True, mode="nearest")
    m = _resize_nearest(mask, img.shape)
    step = np.asarray(data.shape, float) / np.asarray(img.shape, float)  # input vox per work vox
    scale = np.eye(4)
    scale[:3, :3] = np.diag(step)
    scale[:3, 3] = (step - 1.0) / 2.0
    return img, m, affine @ scale


def _resize_nearest(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Nearest-neighbour resampling of a mask onto a grid of ``shape`` covering the same field
    of view (voxel centres, grid mode)."""
    idx = [np.clip(((np.arange(n) + 0.5) * m / n).astype(int), 0, m - 1)
           for n, m in zip(shape, mask.shape, strict=True)]
    return mask[np.ix_(*idx)].astype(bool)


def _normalised(img: np.ndarray, mask: np.ndarray, aff: np.ndarray) -> np.ndarray:
    """Bias-corrected image in units of the white-matter level; 0 outside the mask."""
    bias = pp.fit_bias(img, aff, mask)
    out = img / bias.on_grid(aff, img.shape)
    wm = pp.wm_level(out[mask])
    out = out / max(wm, 1e-6)
    out[~mask] = 0.0
    return out.astype(np.float32)


def _local_wm(s: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``s`` divided by its local white-matter level (normalised convolution, sigma
    ``LOCAL_WM_MM``, over white-matter-like voxels): removes the residual bias that the global
    polynomial leaves and that would otherwise read as a broad left-right difference."""
    w = (mask & (s > 0.8) & (s < 1.3)).astype(np.float32)
    sig = LOCAL_WM_MM / WORK_MM
    gw = ndi.gaussian_filter(w, sig, truncate=2.5)
    lvl = ndi.gaussian_filter(s * w, sig, truncate=2.5) / np.maximum(gw, 1e-3)
    lvl = np.where(gw > 0.05, lvl, 1.0)
    return np.where(mask, s / np.clip(lvl, 0.7, 1.4), 0.0).astype(np.float32)


def _smooth_in(img: np.ndarray, mask: np.ndarray, sigma_vox: float) -> np.ndarray:
    """Normalised convolution: smoothing that does not darken the brain edge."""
    m = mask.astype(np.float32)
    num = ndi.gaussian_filter(img * m, sigma_vox)
    den = ndi.gaussian_filter(m, sigma_vox)
    return np.where(mask, num / np.maximum(den, 1e-3), 0.0).astype(np.float32)


# ----------------------------------------------------------------------------- mid-sagittal plane


@dataclass
class Plane:
    """x = c + a (y - centre_y) + b (z - centre_z), in working-grid index units."""

    c: float
    a: float
    b: float
    centre: np.ndarray

    def reflect(self, pts: np.ndarray) -> np.ndarray:
        return _reflect_coords(pts, self.c, self.a, self.b, self.centre)

    def signed_distance(self, pts: np.ndarray) -> np.ndarray:
        """Index units; + on the +x (right in RAS) side."""
        d = pts[:, 0] - self.c - self.a * (pts[:, 1] - self.centre[1])
        return (d - self.b * (pts[:, 2] - self.centre[2])) / np.sqrt(1 + self.a**2 + self.b**2)


def _reflect_coords(pts: np.ndarray, c: float, a: float, b: float, centre: np.ndarray
                    ) -> np.ndarray:
    """Reflect index points ``(n, 3)`` about x = c + a (y - yc) + b (z - zc)."""
    n = np.array([1.0, -a, -b])
    norm = np.linalg.norm(n)
    n /= norm
    s = (pts[:, 0] - c - a * (pts[:, 1] - centre[1]) - b * (pts[:, 2] - centre[2])) / norm
    return pts - 2.0 * s[:, None] * n[None, :]


def _symmetry(img: np.ndarray, pts: np.ndarray, vals: np.ndarray, p: tuple, centre) -> float:
    q = _reflect_coords(pts, p[0], p[1], p[2], centre)
    m = ndi.map_coordinates(img, q.T, order=1, mode="constant", cval=0.0)
    if vals.std() < 1e-9 or m.std() < 1e-9:
        return -1.0
    return float(np.corrcoef(vals, m)[0, 1])


def midsagittal(img: np.ndarray, mask: np.ndarray) -> tuple[Plane, float]:
    """Plane in index units of ``img`` (axis 0 ~ left-right) maximising the correlation of the
    image's band-pass (sulci, ventricles, fissure; no bias gradients) with its reflection.
    Returns (plane, correlation)."""
    # clipped so that a few very bright voxels (fat, sinuses, the lesion) do not dominate; the
    # slow component is removed: a left-right intensity gradient anti-correlates with its mirror
    c_img = np.clip(img, 0.0, 1.3)
    band = c_img - _smooth_in(c_img, mask, 5.0)
    sub = band[::2, ::2, ::2]
    msub = mask[::2, ::2, ::2]
    pts = np.argwhere(msub).astype(np.float64)
    if len(pts) < 50:
        c = (img.shape[0] - 1) / 2.0
        return Plane(c, 0.0, 0.0, (np.asarray(img.shape) - 1) / 2.0), 0.0
    centre = pts.mean(axis=0)
    pts = pts[::2]  # every other mask voxel is plenty for a 3-parameter fit
    vals = sub[tuple(pts.astype(int).T)].astype(np.float64)

    def f(p: list[float]) -> float:
        return _symmetry(sub, pts, vals, (p[0], p[1], p[2]), centre)

    grid = [(f([centre[0] + dc, a, 0.0]), [centre[0] + dc, a, 0.0])
            for dc in np.arange(-10.0, 10.5, 1.0) for a in (-0.2, -0.1, 0.0, 0.1, 0.2)]
    score, best = max(grid, key=lambda t: t[0])
    for step_c, step_t in ((0.5, 0.05), (0.25, 0.02), (0.125, 0.01)):
        for _ in range(4):
            moved = False
            for k, st in ((0, step_c), (1, step_t), (2, step_t)):
                for sgn in (-1.0, 1.0):
                    for _ in range(20):
                        cand = list(best)
                        cand[k] += sgn * st
                        if k and abs(cand[k]) > 0.35:
                            break
                        s = f(cand)
                        if s <= score + 1e-5:
                            break
                        best, score, moved = cand, s, True
            if not moved:
                break
    c, a, b = best
    # back to the full working grid: index i_full = 2 i_sub (tilts unchanged)
    return Plane(2.0 * c, a, b, centre * 2.0), score if np.isfinite(score) else 0.0


# ----------------------------------------------------------------------------- signals


def _mirror(img: np.ndarray, mask: np.ndarray, plane: Plane) -> np.ndarray:
    """``img`` sampled at the mirror image of every mask voxel (0 elsewhere)."""
    pts = np.argwhere(mask).astype(np.float64)
    out = np.zeros(img.shape, np.float32)
    out[mask] = ndi.map_coordinates(img, plane.reflect(pts).T, order=1, mode="constant",
                                    cval=0.0)
    return out


def _robust_sd(v: np.ndarray) -> float:
    if v.size < 10:
        return 1.0
    med = float(np.median(v))
    return max(1.4826 * float(np.median(np.abs(v - med))), 1e-4)


def asymmetry_map(s: np.ndarray, mask: np.ndarray, plane: Plane, depth_mm: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, float]:
    """(asymmetry of enhancement, valid voxels, threshold). Positive on the enhancing side."""
    sm = _mirror(s, mask, plane)
    mm = _mirror(mask.astype(np.float32), mask, plane) > 0.5
    valid = mask & mm & (depth_mm > SURFACE_MM)
    e = np.maximum(s - ENH_FLOOR, 0.0)
    e_m = np.maximum(sm - ENH_FLOOR, 0.0)
    asym = np.where(valid, e - e_m, 0.0).astype(np.float32)
    # scale: the natural left-right intensity difference of this brain (sulci, noise, residual
    # bias), robust SD over the brain; enhancement asymmetry is zero almost everywhere
    spread = _robust_sd((s - sm)[valid])
    thr = max(ASYM_K * spread, ASYM_MIN)
    return asym, valid, thr


def _grow(seed: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Voxels of ``allowed`` connected (26) to ``seed``."""
    import cc3d

    lab = cc3d.connected_components((allowed | seed).astype(np.uint8), connectivity=26)
    keep = np.unique(lab[seed])
    keep = keep[keep > 0]
    return np.isin(lab, keep)


def _fill_slices(region: np.ndarray) -> np.ndarray:
    """Per axial slice hole filling inside the region's bounding box (open rims tolerated by a
    closing first)."""
    out = region.copy()
    idx = np.argwhere(region)
    if not len(idx):
        return out
    lo, hi = idx.min(0), idx.max(0) + 1
    sub = region[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    st = ndi.generate_binary_structure(2, 1)
    filled = np.zeros_like(sub)
    for k in range(sub.shape[2]):
        sl = sub[:, :, k]
        if sl.any():
            closed = ndi.binary_closing(np.pad(sl, 2), structure=st, iterations=2)[2:-2, 2:-2]
            filled[:, :, k] = ndi.binary_fill_holes(closed | sl)
    out[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] |= filled
    return out


@lru_cache(maxsize=1)
def _template() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """nilearn's bundled MNI152 2009 white-matter map at 2 mm, its brain mask and affine
    (read once per process; nothing is downloaded)."""
    import nibabel as nib

    from brainmets.imaging.phantom_anatomy import template_dir

    d = template_dir()
    wm_img: Any = nib.load(str(d / "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz"))
    t1: Any = nib.load(str(d / "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"))
    wm = np.asarray(wm_img.dataobj, dtype=np.float32)[::2, ::2, ::2]
    tmask = np.asarray(t1.dataobj, dtype=np.float32)[::2, ::2, ::2] > 0
    t_aff = t1.affine.copy()
    t_aff[:3, :3] = t_aff[:3, :3] * 2.0
    return wm, tmask, t_aff


def reference_map(aff_w: np.ndarray, shape: tuple[int, ...], mask: np.ndarray) -> np.ndarray:
    """nilearn's MNI152 white-matter probability placed on the working grid by matching the
    brain mask's centre and extents to the template's (a moments affine, no registration)."""
    wm, tmask, t_aff = _template()
    t_w = _extent(np.argwhere(tmask) @ t_aff[:3, :3].T + t_aff[:3, 3])
    s_w = _extent(np.argwhere(mask) @ aff_w[:3, :3].T + aff_w[:3, 3])
    # world(scan) -> world(template): per-axis scale and centre shift
    scale = t_w[1] / np.maximum(s_w[1], 1e-3)
    m = np.eye(4)
    m[:3, :3] = np.diag(scale)
    m[:3, 3] = t_w[0] - scale * s_w[0]
    vox = np.linalg.inv(t_aff) @ m @ aff_w
    out = ndi.affine_transform(wm, vox[:3, :3], offset=vox[:3, 3], output_shape=shape, order=1,
                               mode="constant", cval=0.0)
    return np.where(mask, out, 0.0).astype(np.float32)


def _extent(world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(centre, extent) of a point cloud per world axis (2nd-98th percentiles)."""
    lo, hi = np.percentile(world, [2, 98], axis=0)
    return 0.5 * (lo + hi), hi - lo


def _asymmetry_regions(asym: np.ndarray, thr: float) -> np.ndarray:
    """Hysteresis regions: seeds above ``thr`` grown over voxels above ``GROW_FRACTION thr``."""
    seeds = asym > thr
    if not seeds.any():
        return np.zeros(asym.shape, bool)
    return _grow(seeds, asym > thr * GROW_FRACTION)


def _reference_regions(n: np.ndarray, mask: np.ndarray, wm_ref: np.ndarray,
                       depth_mm: np.ndarray, enh_thr: float) -> np.ndarray:
    """Voxels where the template expects deep white matter but the scan is CSF-dark (necrosis,
    cyst) or enhancing; small blobs and the surface rim are ignored."""
    expect_wm = (wm_ref >= REF_WM_PROB) & mask & (depth_mm > SURFACE_MM)
    odd = expect_wm & ((n < DARK_LEVEL) | (n > ENH_FLOOR + enh_thr))
    return ndi.binary_opening(odd, iterations=1)


def mass_effect(n: np.ndarray, mask: np.ndarray, plane: Plane, depth_mm: np.ndarray,
                aff: np.ndarray, exclude: np.ndarray | None = None) -> MassEffect | None:
    """Lateral-ventricle volumes either side of the plane and their centre's offset from it.
    ``exclude``: voxels that are not ventricle whatever their intensity (a lesion's necrotic or
    cystic core)."""
    import cc3d

    ws = float(np.sqrt((aff[:3, :3] ** 2).sum(axis=0)).mean())
    pts = np.argwhere(mask)
    dist = plane.signed_distance(pts.astype(np.float64)) * ws
    dark = np.zeros(mask.shape, bool)
    sel = ((n[tuple(pts.T)] < DARK_LEVEL) & (depth_mm[tuple(pts.T)] > VENT_DEPTH_MM)
           & (np.abs(dist) < VENT_MAX_LATERAL_MM))
    dark[tuple(pts[sel].T)] = True
    if exclude is not None:
        dark &= ~exclude
    lab = cc3d.connected_components(dark.astype(np.uint8), connectivity=6)
    counts = np.bincount(lab.ravel())
    counts[0] = 0
    vox_ml = ws**3 / 1000.0
    keep = np.flatnonzero(counts * vox_ml >= 1.0)
    if not len(keep):
        return None
    vent = np.isin(lab, keep)
    vp = np.argwhere(vent).astype(np.float64)
    d = plane.signed_distance(vp) * ws
    # canonical axis 0 points to +x (right, RAS)
    right = float((d > 0).sum() * vox_ml)
    left = float((d < 0).sum() * vox_ml)
    total = left + right
    asym = abs(left - right) / total if total else 0.0
    shift = float(np.median(d))
    flagged = bool(total >= MASS_MIN_ML and (asym >= MASS_ASYM or abs(shift) >= MASS_SHIFT_MM))
    side = None
    if flagged:
        side = "left" if (right > left if asym >= MASS_ASYM else shift > 0) else "right"
    return MassEffect(round(left, 2), round(right, 2), round(shift, 2), round(asym, 3), flagged,
                      side)


# ----------------------------------------------------------------------------- main entry


def detect_anomalies(data: np.ndarray, mask: np.ndarray, affine: np.ndarray) -> AnomalyReport:
    """All three signals on a canonical (closest-RAS), non-negative image and its brain mask."""
    import cc3d

    t0 = time.perf_counter()
    img, mw, aw = _working(data, mask, affine)
    if int(mw.sum()) < MIN_WORK_VOXELS:  # far too little brain to compare sides
        return AnomalyReport([], None, {"normal_world": None, "correlation": None},
                             np.zeros(mw.shape, np.int32), aw, 0.0,
                             ["anomaly signals skipped: brain mask too small"])
    n = _normalised(img, mw, aw)
    del img
    n = _local_wm(n, mw)
    s = _smooth_in(n, mw, SMOOTH_MM / WORK_MM)
    plane, corr = midsagittal(s, mw)
    depth = ndi.distance_transform_edt(mw) * WORK_MM
    asym, _valid, thr = asymmetry_map(s, mw, plane, depth)
    a_reg = _asymmetry_regions(asym, thr)
    notes = []
    try:
        wm_ref = reference_map(aw, mw.shape, mw)
        r_reg = _reference_regions(s, mw, wm_ref, depth, thr)
    except (OSError, RuntimeError) as exc:  # nilearn's bundled template missing or unreadable
        r_reg = np.zeros(mw.shape, bool)
        notes.append(f"reference signal skipped: {exc}")
    lab = cc3d.connected_components((a_reg | r_reg).astype(np.uint8), connectivity=26)
    lab = lab.astype(np.int32)
    thick = float(np.sqrt((affine[:3, :3] ** 2).sum(axis=0)).max()) > THICK_MM
    if thick:
        notes.append(f"slices thicker than {THICK_MM:g} mm: asymmetry regions are listed for "
                     "review, never reported as lesions")
    regions = _regions(lab, n, mw, depth, asym, thr, a_reg, r_reg, plane, aw,
                       corr >= MIN_PLANE_CORR and not thick)
    regions = [r for r in regions if r.kind != "ignore"]
    keep = np.zeros(int(lab.max()) + 1, np.int32)
    for i, r in enumerate(regions, start=1):
        keep[r.label] = i
        r.label = i
    lab = keep[lab].astype(lab.dtype)
    if corr < MIN_PLANE_CORR:
        notes.append(f"mid-sagittal symmetry is low ({corr:.2f}): asymmetry regions are listed "
                     "for review only")
    # a lesion's dark core is not a ventricle: enhancing asymmetry regions, grown, hole-filled
    core = ndi.binary_fill_holes(ndi.binary_dilation(a_reg, iterations=2))
    me = mass_effect(n, mw, plane, depth, aw, exclude=core)
    normal = np.array([1.0, -plane.a, -plane.b])
    normal = aw[:3, :3] @ normal
    return AnomalyReport(
        regions=regions, mass_effect=me,
        plane={"normal_world": [round(float(v), 4) for v in normal / np.linalg.norm(normal)],
               "correlation": round(float(corr), 3)},
        labels=lab, affine=aw, seconds=round(time.perf_counter() - t0, 2), notes=notes,
    )


def _regions(lab: np.ndarray, n: np.ndarray, mask: np.ndarray, depth: np.ndarray,
             asym: np.ndarray, thr: float,
             a_reg: np.ndarray, r_reg: np.ndarray, plane: Plane, aw: np.ndarray,
             plane_ok: bool) -> list[Region]:
    """Region rows for components of at least ``MIN_REGION_ML``, largest first."""
    ws = float(np.sqrt((aw[:3, :3] ** 2).sum(axis=0)).mean())
    vox_ml = ws**3 / 1000.0
    objs = ndi.find_objects(lab)
    z_lo, z_hi = float(np.argwhere(mask.any(axis=(0, 1))).min()), float(
        np.argwhere(mask.any(axis=(0, 1))).max())
    out = []
    for k, sl in enumerate(objs, start=1):
        if sl is None:
            continue
        m = lab[sl] == k
        vol = float(m.sum()) * vox_ml
        if vol < MIN_REGION_ML:
            continue
        ijk = np.argwhere(m) + [s.start for s in sl]
        c_idx = ijk.mean(axis=0)
        signals = []
        from_asym = a_reg[sl][m]
        if from_asym.mean() > 0.2:
            centre_off = abs(float(plane.signed_distance(c_idx[None])[0])) * ws
            if centre_off >= MIDLINE_MM:
                signals.append("asymmetry")
        if r_reg[sl][m].mean() > 0.2:
            signals.append("reference")
        if not signals:
            continue
        vals = n[sl][m]
        peak = float(np.percentile(asym[sl][m], 90))
        ev = np.sort(np.linalg.eigvalsh(np.cov(ijk.T.astype(np.float64)) + 1e-3 * np.eye(3)))
        out.append(Region(
            label=k,
            centroid_mm=[round(float(v), 2) for v in aw[:3, :3] @ c_idx + aw[:3, 3]],
            volume_ml=round(vol, 3),
            score=round(peak / thr, 3) if thr > 0 else 0.0,
            signals=signals,
            enhancement_p90=round(float(np.percentile(vals, 90)), 3),
            dark_fraction=round(float((vals < DARK_LEVEL).mean()), 3),
            elongation=round(float(np.sqrt(ev[2] / ev[0])), 2),
            height=round(float((c_idx[2] - z_lo) / max(z_hi - z_lo, 1.0)), 3),
            depth_mm=round(float(np.median(depth[sl][m])), 1),
        ))
        out[-1].kind = classify(out[-1], plane_ok)
    out.sort(key=lambda r: -r.volume_ml)
    return out


def classify(r: Region, plane_ok: bool = True) -> str:
    """"lesion" (report it), "finding" (scan-level: review) or "ignore"."""
    if "asymmetry" not in r.signals or r.volume_ml < MIN_REGION_ML:
        return "ignore"
    if (r.score < FINDING_SCORE or r.elongation > FINDING_MAX_ELONGATION
            or r.enhancement_p90 < ENHANCING_RATIO or r.depth_mm < MIN_DEPTH_MM
            or r.height < FLOOR_HEIGHT):
        return "ignore"
    # strong: clearly one-sided (score) and enhancing, or less one-sided but brightly enhancing
    signal = ((r.score >= STRONG_SCORE and r.enhancement_p90 >= ENHANCING_RATIO)
              or (r.score >= BRIGHT_SCORE and r.enhancement_p90 >= BRIGHT_RATIO))
    strong = (plane_ok and signal and r.volume_ml >= LESION_MIN_ML
              and r.elongation <= MAX_ELONGATION and r.height >= BASE_HEIGHT)
    return "lesion" if strong else "finding"


# ----------------------------------------------------------------------------- pipeline glue

FINDING_TEXT = "possible lesion not characterised: review"


@dataclass
class Combined:
    """Lesion labels after adding strong anomaly regions, with who found each lesion."""

    labels: np.ndarray  # canonical grid, ids 1..n (largest first)
    found_by: dict[int, list[str]]
    findings: list[dict]
    summary: dict
    attrs: dict[int, dict] = field(default_factory=dict)  # lesions found by this signal only
    regions: np.ndarray | None = None  # anomaly region ids on the canonical grid (or None)


def _to_grid(lab_w: np.ndarray, aff_w: np.ndarray, aff: np.ndarray, shape: tuple[int, ...]
             ) -> np.ndarray:
    """Nearest-neighbour resampling of a working-grid label map onto the canonical grid."""
    m = np.linalg.inv(aff_w) @ aff  # canonical index -> working index
    return ndi.affine_transform(lab_w, m[:3, :3], offset=m[:3, 3], output_shape=shape, order=0,
                                mode="constant", cval=0)


def engines_of(final: np.ndarray, det_labels: np.ndarray, det_features: dict,
               default: str) -> dict[int, list[str]]:
    """Per final lesion id: the engines whose components it contains (``found_by`` of the
    detector's features, else ``default``)."""
    out: dict[int, list[str]] = {}
    for k, sl in enumerate(ndi.find_objects(final), start=1):
        if sl is None:
            continue
        ids = np.unique(det_labels[sl][final[sl] == k])
        names: list[str] = []
        for i in ids[ids > 0]:
            fb = (det_features.get(int(i), {}) or {}).get("found_by") or [default]
            for e in [fb] if isinstance(fb, str) else fb:
                if str(e) not in names:
                    names.append(str(e))
        out[k] = names or [default]
    return out


def combine(final: np.ndarray, engines: dict[int, list[str]], report: AnomalyReport,
            mask: np.ndarray, affine: np.ndarray,
            location: Callable[[np.ndarray], str] | None = None) -> Combined:
    """Merge the anomaly regions into the detector's lesions.

    A region overlapping a lesion adds its signals to that lesion's ``found_by``; a strong
    enhancing region elsewhere becomes a lesion (``found_by`` = its signals); any other region
    becomes a scan-level finding. ``location(centroid_mm) -> str`` names where it is."""
    import cc3d

    up = _to_grid(report.labels, report.affine, affine, final.shape) * mask
    found: dict[int, list[str]] = {k: list(v) for k, v in engines.items()}
    extra = np.zeros(final.shape, bool)
    extra_sig: list[tuple[np.ndarray, list[str]]] = []
    extra_attr: list[tuple[np.ndarray, dict]] = []
    findings: list[dict] = []
    for r in report.regions:
        reg = up == r.label
        hit = np.unique(final[reg])
        hit = hit[hit > 0]
        if len(hit):
            for k in hit:
                found.setdefault(int(k), [])
                found[int(k)] += [s for s in r.signals if s not in found[int(k)]]
        elif r.kind == "lesion":
            reg_w = report.labels == r.label
            fill_w = _fill_slices(reg_w)
            filled = _to_grid(fill_w.astype(np.uint8), report.affine, affine,
                              final.shape).astype(bool) & mask
            extra |= filled
            extra_sig.append((filled, list(r.signals)))
            hollow = 1.0 - float(reg_w.sum()) / max(float(fill_w.sum()), 1.0)
            extra_attr.append((filled, {
                "enhancement": "ring" if hollow >= RING_CORE_FRACTION else "solid",
                "confidence": None, "anomaly_score": r.score}))
        else:
            findings.append(_finding(r, location))
    attrs: dict[int, dict] = {}
    if extra.any():
        old = final
        merged = (final > 0) | extra
        lab = cc3d.connected_components(merged.astype(np.uint8), connectivity=26)
        final, found = _relabel_found(lab.astype(np.int32), final, found, extra_sig)
        for filled, attr in extra_attr:
            ids = np.unique(final[filled])
            ids = ids[ids > 0]
            if len(ids) == 1 and not (old[final == ids[0]] > 0).any():
                attrs[int(ids[0])] = attr
    me = report.mass_effect
    if me is not None and me.flagged:
        findings.append({
            "kind": "mass_effect",
            "text": "possible mass effect (lateral ventricles asymmetric or displaced from the "
                    "mid-sagittal plane): review",
            "side_of_mass": me.side_of_mass, "ventricle_left_ml": me.left_ml,
            "ventricle_right_ml": me.right_ml, "ventricle_shift_mm": me.shift_mm,
            "signal": "mass_effect"})
    return Combined(final, found, findings, summary(report), attrs, up.astype(np.int32))


def _relabel_found(lab: np.ndarray, old: np.ndarray, found: dict[int, list[str]],
                   extra_sig: list[tuple[np.ndarray, list[str]]]
                   ) -> tuple[np.ndarray, dict[int, list[str]]]:
    """Components of ``lab`` re-numbered by volume (largest = 1) with merged ``found_by``."""
    n = int(lab.max())
    counts = np.bincount(lab.ravel(), minlength=n + 1)[1:]
    order = np.argsort(-counts, kind="stable") + 1
    lut = np.zeros(n + 1, np.int32)
    lut[order] = np.arange(1, n + 1, dtype=np.int32)
    out = lut[lab]
    new_found: dict[int, list[str]] = {}
    for k, sl in enumerate(ndi.find_objects(out), start=1):
        if sl is None:
            continue
        m = out[sl] == k
        names: list[str] = []
        for o in np.unique(old[sl][m]):
            for e in found.get(int(o), []) if o > 0 else []:
                if e not in names:
                    names.append(e)
        for reg, sig in extra_sig:
            if (reg[sl] & m).any():
                names += [s for s in sig if s not in names]
        new_found[k] = names
    return out, new_found


def _finding(r: Region, location: Callable[[np.ndarray], str] | None) -> dict:
    where = location(np.asarray(r.centroid_mm)) if location else None
    return {
        "kind": "possible_lesion",
        "text": FINDING_TEXT + (f" ({where})" if where else ""),
        "centroid_mm": r.centroid_mm, "volume_ml": r.volume_ml, "location": where,
        "signals": list(r.signals), "score": r.score,
        "enhancement_p90": r.enhancement_p90,
    }


def summary(report: AnomalyReport) -> dict:
    """The ``anomaly`` block of lesions.json (what the second signal saw and how)."""
    me = report.mass_effect
    return {
        "method": "left-right enhancement asymmetry about the fitted mid-sagittal plane; "
                  "MNI152 white-matter reference (moments affine, nilearn template); "
                  "lateral-ventricle symmetry (mass effect). Scores are detector units, "
                  "not probabilities; thresholds are not clinical cut-points",
        "mid_sagittal_plane": report.plane,
        "regions": [dict(r.as_json(), kind=r.kind) for r in report.regions],
        "mass_effect": None if me is None else {
            "ventricle_left_ml": me.left_ml, "ventricle_right_ml": me.right_ml,
            "ventricle_shift_mm": me.shift_mm, "asymmetry": me.asymmetry,
            "flagged": me.flagged, "side_of_mass": me.side_of_mass},
        "notes": list(report.notes),
        "seconds": report.seconds,
    }


def engine_key(det: Detector | object) -> str:
    """Short engine name for ``found_by``: "classical", or "model" for a user model."""
    name = str(getattr(det, "name", "detector"))
    if name.startswith("model:"):
        return "model"
    return "classical" if name.startswith("classical") else name


def second_signal(final: np.ndarray, detection: Detection, det: Detector | object,
                  data: np.ndarray, mask: np.ndarray, affine: np.ndarray,
                  frame: dict | None = None) -> Combined:
    """Run the anomaly signals on a canonical scan and merge them with the detector's lesions
    (``final``: its relabelled lesions). Used by :func:`brainmets.imaging.pipeline.analyse`."""
    from brainmets.imaging import measure as ms

    engines = engines_of(final, detection.labels, detection.features, engine_key(det))
    try:
        report = detect_anomalies(data, mask, affine)
    except Exception as exc:  # advisory signal: its failure must not lose the detector's lesions
        empty = np.zeros((1, 1, 1), np.int32)
        report = AnomalyReport([], None, {"normal_world": None, "correlation": None}, empty,
                               np.eye(4), 0.0, [f"anomaly signals failed ({type(exc).__name__}: "
                                                f"{exc}); only the detector's lesions are shown"])
    loc = (lambda p: ms.location(p, frame)) if frame is not None else None
    return combine(final, engines, report, mask, affine, loc)
