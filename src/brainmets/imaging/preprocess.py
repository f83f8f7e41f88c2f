"""Preprocessing: canonical orientation, brain mask, bias-field correction, normalisation.

* Orientation: the array is permuted/flipped to the closest RAS axes (an exact voxel
  permutation, undone exactly for the outputs); oblique acquisitions stay oblique.
* Brain mask (works with and without skull): if the background is one constant value the scan is
  taken as skull-stripped and the foreground is the brain. Otherwise a BET-like morphological
  method: tissue brighter than CSF, eroded until the brain separates from scalp fat / marrow
  (the dark skull and CSF layer between them), the largest central component reconstructed,
  closed and hole-filled (ventricles, necrotic cores).
* Bias field: a smooth multiplicative field (2nd-order polynomial in log intensity) fitted on
  white-matter-like voxels inside the mask, iterated.
* Normalisation: intensities divided by the white-matter level (the main mode of the upper half
  of the brain histogram), so normal brain is <= ~1 and enhancement is > 1 in any units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from brainmets.imaging.volume import Volume

MASK_MM = 2.0  # grid spacing for mask estimation
SCALP_MM = 6.0  # minimum scalp + skull thickness assumed for full-head scans


@dataclass
class Canonical:
    data: np.ndarray
    affine: np.ndarray
    ornt: np.ndarray  # nibabel orientation that took the input to this array

    @property
    def spacing(self) -> np.ndarray:
        return np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))

    def to_input(self, arr: np.ndarray) -> np.ndarray:
        """Map an array on this (canonical) grid back onto the input grid exactly."""
        from nibabel import orientations as o

        back = o.ornt_transform(o.axcodes2ornt(("R", "A", "S")), o.io_orientation(self._in_aff))
        return np.ascontiguousarray(o.apply_orientation(arr, back))

    _in_aff: np.ndarray = None  # type: ignore[assignment]


def canonical(vol: Volume) -> Canonical:
    """Closest-RAS voxel permutation of ``vol`` (no interpolation)."""
    from nibabel import orientations as o

    ornt = o.io_orientation(vol.affine)
    data = np.ascontiguousarray(o.apply_orientation(vol.data, ornt))
    aff = vol.affine @ o.inv_ornt_aff(ornt, vol.data.shape)
    c = Canonical(data=data, affine=aff, ornt=ornt)
    c._in_aff = vol.affine
    return c


FILL_FRACTION = 0.15  # one exact value on >= this share of voxels = the background fill


def to_nonnegative(data: np.ndarray) -> tuple[np.ndarray, str | None]:
    """Shift images with negative values (z-scored or offset research scans) so the tissue is
    positive and the background fill, if any, is 0; positive images are returned unchanged."""
    sub = data[::4, ::4, ::4]
    if float(sub.min()) >= 0.0 and float(data.min()) >= 0.0:
        return data, None
    vals, counts = np.unique(sub, return_counts=True)
    k = int(np.argmax(counts))
    fill = counts[k] >= FILL_FRACTION * sub.size
    out = data.astype(np.float32, copy=True)
    if fill:
        bg = out == vals[k]
        lo = float(out[~bg].min()) if (~bg).any() else 0.0
        out -= lo
        out[bg] = 0.0
        return out, (f"negative intensities (background fill {float(vals[k]):g}): image shifted so "
                     "tissue is positive and the background is 0")
    out -= float(out.min())
    return out, "negative intensities: image shifted so its minimum is 0"


def _zoom_to(arr: np.ndarray, spacing: np.ndarray, target: float, order: int = 1) -> np.ndarray:
    f = np.asarray(spacing, float) / target
    if np.allclose(f, 1.0):
        return arr
    return ndi.zoom(arr, f, order=order, prefilter=False, grid_mode=True, mode="nearest")


def _resize_to(arr: np.ndarray, shape: tuple[int, ...], order: int = 0) -> np.ndarray:
    f = [s / a for s, a in zip(shape, arr.shape, strict=True)]
    out = ndi.zoom(arr, f, order=order, prefilter=False, grid_mode=True, mode="nearest")
    # zoom may be off by one voxel: pad/crop to the exact shape
    pad = [(0, max(0, s - o)) for s, o in zip(shape, out.shape, strict=True)]
    out = np.pad(out, pad, mode="edge")
    return out[: shape[0], : shape[1], : shape[2]]


def otsu(values: np.ndarray, bins: int = 256) -> float:
    hist, edges = np.histogram(values, bins=bins)
    mids = 0.5 * (edges[1:] + edges[:-1])
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * mids)
    mu0 = m0 / np.maximum(w0, 1)
    mu1 = (m0[-1] - m0) / np.maximum(w1, 1)
    between = w0 * w1 * (mu0 - mu1) ** 2
    return float(mids[int(np.argmax(between[:-1]))])


def _mode(values: np.ndarray, bins: int = 128) -> float:
    lo, hi = np.percentile(values, [1, 99.5])
    hist, edges = np.histogram(values, bins=bins, range=(lo, hi))
    hist = ndi.gaussian_filter1d(hist.astype(float), 2)
    i = int(np.argmax(hist))
    return float(0.5 * (edges[i] + edges[i + 1]))


def _largest_cc(mask: np.ndarray, prefer: np.ndarray | None = None) -> np.ndarray:
    import cc3d

    lab, n = cc3d.connected_components(mask.astype(np.uint8), connectivity=6, return_N=True)
    if n == 0:
        return mask
    counts = np.bincount(lab.ravel())
    counts[0] = 0
    if prefer is not None:  # weight by distance to the expected centre
        com = ndi.center_of_mass(mask, lab, index=np.arange(1, n + 1))
        com = np.asarray(com).reshape(-1, 3)
        d = np.linalg.norm((com - prefer) / np.asarray(mask.shape), axis=1)
        score = counts[1:] * np.exp(-((d / 0.35) ** 2))
        return lab == (int(np.argmax(score)) + 1)
    return lab == int(np.argmax(counts))


def _ball_dilate(mask: np.ndarray, r_vox: float) -> np.ndarray:
    return ndi.distance_transform_edt(~mask) <= r_vox


def _ball_erode(mask: np.ndarray, r_vox: float) -> np.ndarray:
    return ndi.distance_transform_edt(mask) > r_vox


def brain_mask(data: np.ndarray, spacing: np.ndarray) -> tuple[np.ndarray, dict]:
    """Brain mask on the grid of ``data``; returns (mask, info)."""
    small = _zoom_to(data.astype(np.float32), spacing, MASK_MM, order=1)
    info: dict = {}
    bg_val = float(np.percentile(data[:: 4, :: 4, :: 4], 0.5))
    flat_bg = float((small == bg_val).mean()) if small.size else 0.0
    sm = ndi.gaussian_filter(small, 0.6)
    pos = sm[sm > bg_val]
    t_fg = otsu(pos if pos.size > 100 else sm.ravel())
    head = _largest_cc(sm > 0.5 * t_fg + 0.5 * bg_val)
    head = ndi.binary_fill_holes(head)
    vox_ml = MASK_MM**3 / 1000.0
    head_ml = head.sum() * vox_ml
    skull_stripped = flat_bg > 0.15 and head_ml < 2600
    info["skull_stripped"] = bool(skull_stripped)
    if skull_stripped:
        fg = _largest_cc(small > bg_val)
        mask = ndi.binary_fill_holes(ndi.binary_closing(fg, iterations=2, border_value=0) | fg)
    else:
        vals = sm[head & (sm > t_fg)]
        wm = _mode(vals[vals > np.median(vals)]) if vals.size > 100 else t_fg
        head_depth = ndi.distance_transform_edt(head) * MASK_MM
        # scalp + skull are >= ~SCALP_MM thick in adults: the brain lies deeper than that
        # tissue brighter than CSF, judged on the native grid so that thin dark layers (CSF,
        # cortical bone) stay barriers: a mask voxel needs ~all of its native voxels bright
        fine = (data > 0.45 * wm).astype(np.float32)
        size = [max(1, int(round(MASK_MM / s))) for s in spacing]
        frac = _zoom_to(ndi.uniform_filter(fine, size=size), spacing, MASK_MM, order=1)
        frac = _fit_shape(frac, sm.shape)
        cand = head & (frac > 0.85) & (head_depth > SCALP_MM)
        centre = np.array(ndi.center_of_mass(head))
        mask = None
        for r_mm in (4.0, 6.0, 8.0, 10.0):
            core = _ball_erode(cand, r_mm / MASK_MM)
            if core.sum() < 50:
                break
            comp = _largest_cc(core, prefer=centre)
            rec = cand & _ball_dilate(comp, r_mm / MASK_MM + 1)
            rec = _largest_cc(rec)
            # leak test: a brain mask should not reach the outer head surface
            leak = float((head_depth[rec] < SCALP_MM + 2.0).mean())
            mask = rec
            if leak < 0.01:
                break
        if mask is None:
            mask = cand
        r = 4.0 / MASK_MM
        closed = _ball_erode(_ball_dilate(mask, r), r)
        mask = ndi.binary_fill_holes(closed | mask)
        # fill axial holes open at one end (e.g. the 4th ventricle at the field-of-view edge)
        for k in range(mask.shape[2]):
            if mask[:, :, k].any():
                mask[:, :, k] = ndi.binary_fill_holes(mask[:, :, k])
        info["wm_level_raw"] = wm
    mask = _resize_to(mask.astype(np.uint8), data.shape, order=0).astype(bool)
    info["brain_ml"] = float(mask.sum() * np.prod(spacing) / 1000.0)
    return mask, info


def _fit_shape(arr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    pad = [(0, max(0, s - o)) for s, o in zip(shape, arr.shape, strict=True)]
    return np.pad(arr, pad, mode="edge")[: shape[0], : shape[1], : shape[2]]


def _inv_move(ax: int) -> tuple[int, int, int]:
    # inverse permutation of np.moveaxis(a, ax, 0)
    order = [ax] + [i for i in range(3) if i != ax]
    inv = [0, 0, 0]
    for i, o in enumerate(order):
        inv[o] = i
    return tuple(inv)  # type: ignore[return-value]


def _poly_terms(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> list[np.ndarray]:
    return [np.ones_like(x), x, y, z, x * x, y * y, z * z, x * y, x * z, y * z]


@dataclass
class BiasField:
    coef: np.ndarray
    centre: np.ndarray  # world mm
    scale: float

    def at(self, world: np.ndarray) -> np.ndarray:
        """Multiplicative field at world points ``(..., 3)``."""
        u = (world - self.centre) / self.scale
        terms = _poly_terms(u[..., 0], u[..., 1], u[..., 2])
        return np.exp(sum(c * t for c, t in zip(self.coef, terms, strict=True))).astype(np.float32)

    def on_grid(self, affine: np.ndarray, shape: tuple[int, ...], offset=(0, 0, 0)) -> np.ndarray:
        idx = [np.arange(s, dtype=np.float64) + o for s, o in zip(shape, offset, strict=True)]
        # affine maps are linear: evaluate on the full grid by broadcasting
        ii, jj, kk = np.meshgrid(*idx, indexing="ij", sparse=True)
        w = [
            affine[r, 0] * ii + affine[r, 1] * jj + affine[r, 2] * kk + affine[r, 3]
            for r in range(3)
        ]
        u = [(w[r] - self.centre[r]) / self.scale for r in range(3)]
        terms = _poly_terms(u[0], u[1], u[2])
        acc = np.zeros(shape, dtype=np.float32)
        for c, t in zip(self.coef, terms, strict=True):
            acc += np.float32(c) * np.asarray(t, dtype=np.float32)
        return np.exp(acc)


def fit_bias(data: np.ndarray, affine: np.ndarray, mask: np.ndarray, iters: int = 3) -> BiasField:
    """Fit a smooth multiplicative bias field on white-matter-like voxels of the mask."""
    sp = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    step = np.maximum(1, np.round(4.0 / sp)).astype(int)
    sl = tuple(slice(0, None, int(s)) for s in step)
    idx = np.argwhere(mask[sl]) * step
    vals = data[sl][mask[sl]].astype(np.float64)
    world = idx @ affine[:3, :3].T + affine[:3, 3]
    centre = world.mean(axis=0)
    scale = float(np.abs(world - centre).max()) or 1.0
    u = (world - centre) / scale
    A = np.stack(_poly_terms(u[:, 0], u[:, 1], u[:, 2]), axis=1)
    coef = np.zeros(A.shape[1])
    ok = vals > 0
    for _ in range(iters):
        corr = vals / np.exp(A @ coef)
        good = ok & (corr > 0)
        if good.sum() < 50:
            break
        wm = _mode(corr[good][corr[good] > np.median(corr[good])])
        sel = good & (corr > 0.85 * wm) & (corr < 1.15 * wm)
        if sel.sum() < 50:
            break
        coef, *_ = np.linalg.lstsq(A[sel], np.log(vals[sel]), rcond=None)
        coef[0] = 0.0
        # keep the mean field 1 over the selected voxels
        coef[0] = -float(np.mean(A[sel] @ coef))
    return BiasField(coef=coef, centre=centre, scale=scale)


WM_PEAK_SHARE = 0.6  # a histogram peak this high (x the tallest) counts as a tissue class


def wm_level(values: np.ndarray) -> float:
    """White-matter level: on T1(c) white matter is the brightest large tissue class, so the
    highest-intensity peak of the upper half of the brain histogram that reaches
    ``WM_PEAK_SHARE`` x the tallest peak (grey and white matter can form two humps of similar
    height, e.g. on z-scored research scans; the tallest is then often grey matter)."""
    v = values[values > np.median(values)]
    if v.size <= 50:
        return float(np.median(values))
    lo, hi = np.percentile(v, [1, 99.5])
    hist, edges = np.histogram(v, bins=128, range=(lo, hi))
    hist = ndi.gaussian_filter1d(hist.astype(float), 2)
    peak = (hist >= np.roll(hist, 1)) & (hist >= np.roll(hist, -1))
    peak[[0, -1]] = False
    ok = np.nonzero(peak & (hist >= WM_PEAK_SHARE * hist.max()))[0]
    i = int(ok[-1]) if ok.size else int(np.argmax(hist))
    return float(0.5 * (edges[i] + edges[i + 1]))


def noise_sd(img: np.ndarray, mask: np.ndarray) -> float:
    """Robust noise SD from the high-pass residual inside the (eroded) mask."""
    core = ndi.binary_erosion(mask, iterations=2)
    if core.sum() < 100:
        core = mask
    res = img - ndi.gaussian_filter(img, 1.0)
    r = res[core]
    mad = float(np.median(np.abs(r - np.median(r))))
    return max(1.4826 * mad, 1e-4)
