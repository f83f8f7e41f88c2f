"""Regions for the diagnosis maps: brain mask, lesion core/rim/peritumoral ring, automatic NAWM.

NAWM (normal-appearing white matter) is chosen automatically in the hemisphere opposite the
lesions: brain voxels at least ``nawm_margin_mm`` from any lesion whose baseline T2/T2*
signal is in the darkest ``nawm_fraction`` (white matter is darkest on T2-weighted b0 and DSC
baseline images; CSF is brightest). The region's centroid and size are reported so a user can
check it, and a user mask can replace it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from brainmets.diagnosis.facts import settings
from brainmets.diagnosis.volumes import voxel_sizes

__all__ = ["brain_mask", "choose_nawm", "describe", "hot_spot_max", "lesion_regions", "settings"]


def brain_mask(baseline: np.ndarray) -> np.ndarray:
    """Brain = baseline signal above a fraction of its 99th percentile, holes filled."""
    finite = np.isfinite(baseline)
    if not finite.any():
        return np.zeros(baseline.shape, bool)
    p99 = np.percentile(baseline[finite], 99)
    mask = finite & (baseline > settings()["roi"]["brain_fraction"] * p99)
    return ndimage.binary_fill_holes(mask)


def _lr_axis(affine: np.ndarray) -> int:
    return int(np.argmax(np.abs(affine[0, :3])))


def hemisphere_of(mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """World x (RAS) of every voxel, relative to the brain's centre (negative = right)."""
    ax = _lr_axis(affine)
    idx = np.arange(mask.shape[ax], dtype=float)
    counts = mask.sum(axis=tuple(i for i in range(3) if i != ax))
    centre = (idx * counts).sum() / max(counts.sum(), 1)
    shape = [1, 1, 1]
    shape[ax] = -1
    return ((idx - centre) * affine[0, ax]).reshape(shape)


def lesion_regions(labels: np.ndarray, affine: np.ndarray,
                   brain: np.ndarray | None = None) -> dict[int, dict[str, np.ndarray]]:
    """Per lesion id: boolean masks ``lesion`` (filled), ``enhancing``, ``cavity``, ``core``,
    ``rim``, ``peri``.

    ``enhancing`` is the labelled (enhancing, solid) part itself: the ring of a ring label, the
    whole of a solid label; ``cavity`` is the unlabelled interior of a ring label (empty for a
    solid label: a solid lesion has no cavity). ``core`` is the cavity, or for a solid label the
    voxels deeper than ``rim_mm``; ``rim`` is the rest of the filled lesion; ``peri`` is the ring
    within ``peritumoral_mm`` outside it (brain only, other lesions excluded).
    """
    cfg = settings()["roi"]
    zooms = voxel_sizes(affine)
    pad = int(np.ceil(max(cfg["peritumoral_mm"], cfg["rim_mm"]) / zooms.min())) + 2
    out: dict[int, dict[str, np.ndarray]] = {}
    for lid, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        box = tuple(slice(max(s.start - pad, 0), min(s.stop + pad, n))
                    for s, n in zip(sl, labels.shape, strict=True))
        sub = labels[box]
        filled = ndimage.binary_fill_holes(sub == lid)
        cavity = filled & (sub != lid)  # a ring label: its unlabelled interior is the cavity
        core = cavity
        if not core.any():  # a solid label: voxels deeper than the rim thickness
            depth = ndimage.distance_transform_edt(filled, sampling=zooms)
            core = filled & (depth > cfg["rim_mm"])
        dist_out = ndimage.distance_transform_edt(~filled, sampling=zooms)
        peri = (dist_out <= cfg["peritumoral_mm"]) & ~filled & (sub == 0)
        if brain is not None:
            peri &= brain[box]
        masks = {}
        for name, m in (("lesion", filled), ("enhancing", sub == lid), ("cavity", cavity),
                        ("core", core), ("rim", filled & ~core), ("peri", peri)):
            full = np.zeros(labels.shape, bool)
            full[box] = m
            masks[name] = full
        out[lid] = masks
    return out


def choose_nawm(brain: np.ndarray, baseline: np.ndarray, labels: np.ndarray | None,
                affine: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """Automatic contralateral NAWM mask and a description of it (centroid, size, method)."""
    cfg = settings()["roi"]
    zooms = voxel_sizes(affine)
    candidate = ndimage.binary_erosion(brain, iterations=1)
    xrel = np.broadcast_to(hemisphere_of(brain, affine), brain.shape)
    side = "both hemispheres (no lesions given)"
    if labels is not None and (labels > 0).any():
        lesion_side = float(np.median(xrel[labels > 0]))
        if lesion_side >= 0:
            candidate &= xrel < 0
            side = "right (contralateral to lesions in the left hemisphere)"
        else:
            candidate &= xrel > 0
            side = "left (contralateral to lesions in the right hemisphere)"
        far = ndimage.distance_transform_edt(labels == 0, sampling=zooms) > cfg["nawm_margin_mm"]
        candidate &= far
    candidate &= np.isfinite(baseline)
    if candidate.sum() < 10:
        return candidate, {"n_voxels": int(candidate.sum()),
                           "error": "too few candidate voxels for a NAWM reference"}
    # smoothed so that the selection does not pick voxels by their noise
    smooth = ndimage.uniform_filter(np.nan_to_num(baseline), size=3)
    cut = np.quantile(smooth[candidate], cfg["nawm_fraction"])
    nawm = candidate & (smooth <= cut)
    return nawm, describe(nawm, affine, side=side, method=(
        f"automatic: contralateral brain > {cfg['nawm_margin_mm']:g} mm from lesions, darkest "
        f"{100 * cfg['nawm_fraction']:g}% of the baseline T2-weighted signal (check it)"))


def describe(mask: np.ndarray, affine: np.ndarray, **extra: Any) -> dict[str, Any]:
    n = int(mask.sum())
    info: dict[str, Any] = {"n_voxels": n,
                            "volume_ml": round(n * float(np.prod(voxel_sizes(affine))) / 1000, 3)}
    if n:
        c = np.argwhere(mask).mean(axis=0)
        info["centroid_mm"] = [round(float(v), 1) for v in (affine @ np.append(c, 1.0))[:3]]
    info.update(extra)
    return info


def hot_spot_max(values: np.ndarray, region: np.ndarray) -> float | None:
    """Highest mean of ``values`` over a small in-plane ROI inside ``region`` (hot-spot ROI).

    The studies placed small ROIs on the hottest part of the lesion (Hoefnagels 2009, Romano
    2022); their ROI size was not captured, so the ROI here is ``hot_spot_inplane_voxels``
    square in-plane (an engineering choice), restricted to ``region`` voxels with finite values.
    """
    n = int(settings()["roi"]["hot_spot_inplane_voxels"])
    ok = region & np.isfinite(values)
    if not ok.any():
        return None
    size = (n, n, 1)
    total = ndimage.uniform_filter(np.where(ok, values, 0.0), size=size, mode="constant")
    count = ndimage.uniform_filter(ok.astype(float), size=size, mode="constant")
    enough = ok & (count * n * n >= min(int(ok.sum()), (n * n + 1) // 2) - 1e-6)
    if not enough.any():
        enough = ok
    local = np.where(enough, total / np.where(count > 0, count, 1.0), -np.inf)
    return float(local.max())
