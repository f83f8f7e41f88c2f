"""Builders for response-engine records (shared as fixtures; tests run in importlib mode)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest


def _lesion(lid: str, ld: float, perp: float | None = None, **kw: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": lid,
        "longest_diameter_mm": ld,
        "perpendicular_mm": perp if perp is not None else min(ld, 8.0),
    }
    d.update(kw)
    return d


def _tp(
    date: str | dt.date,
    lesions: list[dict[str, Any]],
    steroid: float | None = 0,
    clinical: str | None = "stable",
    **kw: Any,
) -> dict[str, Any]:
    d: dict[str, Any] = {
        "date": date if isinstance(date, str) else date.isoformat(),
        "steroid_mg_day": steroid,
        "clinical_status": clinical,
        "lesions": lesions,
    }
    d.update(kw)
    return d


@pytest.fixture
def lesion():
    """``lesion(id, ld, perp=None, **extra)`` -> lesion dict (perp defaults to min(ld, 8))."""
    return _lesion


@pytest.fixture
def tp():
    """``tp(date, lesions, steroid=0, clinical='stable', **extra)`` -> time point dict."""
    return _tp


@pytest.fixture
def record():
    """``record(*timepoints, io_start=None)`` -> CONTRACT §4 record."""

    def make(*tps: dict[str, Any], io_start: str | None = None) -> dict[str, Any]:
        return {
            "on_immunotherapy": io_start is not None,
            "immunotherapy_start": io_start,
            "timepoints": list(tps),
        }

    return make


# ------------------------------------------------------------------ scan-like folders


def _rot(ax: float, ay: float, az: float):
    import numpy as np

    ax, ay, az = np.deg2rad([ax, ay, az])
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _write_scan(
    out: Path, *, lesions: list[tuple[int, tuple[float, float, float], float]],
    angles=(0.0, 0.0, 0.0), shift=(0.0, 0.0, 0.0), seed: int = 0, date: str | None = None,
    shape=(56, 56, 40), vox: float = 2.0, write_image: bool = True,
) -> Path:
    """A small analytic 'head' (RAS, 2 mm voxels) whose patient moved by (R, t).

    ``lesions``: (scan label id, centre in patient mm, radius mm). Writes image.nii.gz,
    lesions.nii.gz and lesions.json like ``brainmets scan`` (CONTRACT §3).
    """
    import json

    import nibabel as nib
    import numpy as np

    out.mkdir(parents=True, exist_ok=True)
    shape_a = np.array(shape)
    origin = -(shape_a - 1) / 2 * vox
    affine = np.diag([vox, vox, vox, 1.0])
    affine[:3, 3] = origin
    ijk = np.indices(shape).reshape(3, -1).T.astype(float)
    world = ijk * vox + origin
    r = _rot(*angles)
    t = np.asarray(shift, float)
    p = (world - t) @ r  # patient coordinates: world = R p + t

    def ell(c, s):
        return (((p - np.asarray(c)) / np.asarray(s)) ** 2).sum(1) <= 1

    img = np.zeros(len(p))
    img[ell((0, 0, 0), (48, 53, 35))] = 180  # skull
    img[ell((0, 0, 0), (44, 49, 31))] = 90  # brain
    img[ell((0, 8, 4), (30, 28, 20))] = 110  # "white matter"
    img[ell((-9, 4, 6), (5, 13, 7))] = 25  # ventricles (asymmetric)
    img[ell((8, 2, 6), (4, 10, 6))] = 25
    img[ell((22, -24, -8), (7, 7, 7))] = 150  # landmark
    labels = np.zeros(len(p), np.int16)
    rows = []
    for lid, c, rad in lesions:
        m = ell(c, (rad, rad, rad))
        img[m] = 240
        labels[m] = lid
        cw = r @ np.asarray(c, float) + t
        rows.append({
            "id": lid, "centroid_mm": [float(x) for x in cw],
            "volume_ml": float(4 / 3 * np.pi * rad**3 / 1000),
            "longest_axial_diameter_mm": 2 * rad, "perpendicular_diameter_mm": 2 * rad,
            "max_diameter_mm": 2 * rad, "location": "supratentorial", "confidence": 0.9,
        })
    img += np.random.default_rng(seed).normal(0, 4, len(img))
    image_path = out / "image.nii.gz"
    if write_image:
        nib.save(nib.Nifti1Image(img.reshape(shape).astype(np.float32), affine), image_path)
    nib.save(nib.Nifti1Image(labels.reshape(shape), affine), out / "lesions.nii.gz")
    meta: dict = {
        "input": str(image_path), "shape": list(shape), "voxel_size_mm": [vox] * 3,
        "detector": {"name": "test-fixture", "version": "0"}, "lesions": rows,
    }
    if date:
        meta["date"] = date
    (out / "lesions.json").write_text(json.dumps(meta))
    return out


@pytest.fixture(scope="session")
def write_scan():
    """``write_scan(out_dir, lesions=[(id, centre_mm, radius_mm)], angles=, shift=, ...)``."""
    return _write_scan
