"""Volumes for the diagnosis maps: read through :mod:`brainmets.imaging.io`, written with the
one atomic-write helper (:mod:`brainmets._atomic`). Errors name the file or option.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from brainmets.imaging.io import load_nifti_array, nifti_gz_bytes
from brainmets.imaging.volume import ImagingInputError


class DiagnosisInputError(ImagingInputError):
    """Bad input for a diagnosis command (message names the field/file; CLI exit 2)."""


def load(path: str | Path, what: str, ndim: tuple[int, ...] = (3, 4)
         ) -> tuple[np.ndarray, np.ndarray, Any]:
    """(float32 data, affine, header) of a NIfTI file; 4-D keeps the last axis as time/volume."""
    try:
        return load_nifti_array(path, what, ndim)
    except DiagnosisInputError:
        raise
    except ImagingInputError as exc:
        raise DiagnosisInputError(str(exc)) from None


def voxel_sizes(affine: np.ndarray) -> np.ndarray:
    return np.sqrt((np.asarray(affine)[:3, :3] ** 2).sum(axis=0))


def resample_labels(labels: np.ndarray, label_affine: np.ndarray, shape: tuple[int, ...],
                    affine: np.ndarray) -> tuple[np.ndarray, bool]:
    """Label map on the target grid (nearest neighbour by affine); (labels, resampled?)."""
    from scipy import ndimage

    if not np.all(np.isfinite(labels)) or labels.min() < 0:
        raise DiagnosisInputError("--lesions: label values must be finite integers >= 0")
    labels = np.rint(labels).astype(np.int32)
    if labels.shape == tuple(shape) and np.allclose(label_affine, affine, atol=1e-3):
        return labels, False
    m = np.linalg.inv(label_affine) @ affine
    out = ndimage.affine_transform(labels, m[:3, :3], offset=m[:3, 3], output_shape=shape,
                                   order=0, mode="constant", cval=0)
    return out.astype(np.int32), True


def finite_or_none(x: float | None, digits: int = 4) -> float | None:
    if x is None or not np.isfinite(x):
        return None
    return round(float(x), digits)


def write_outputs(out_dir: Path, images: dict[str, tuple[np.ndarray, np.ndarray]],
                  documents: dict[str, dict[str, Any]]) -> list[Path]:
    """Write NIfTI images (``.nii.gz``) and JSON documents into ``out_dir``.

    Every file is serialised before the first one is written, and each write is atomic, so a
    failure leaves no half-written file.
    """
    from brainmets._atomic import atomic_write_bytes

    out_dir = Path(out_dir)
    payload = {name: nifti_gz_bytes(a, aff) for name, (a, aff) in images.items()}
    for name, doc in documents.items():
        payload[name] = (json.dumps(doc, indent=2, allow_nan=False) + "\n").encode("utf-8")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DiagnosisInputError(f"--out: cannot create {out_dir}: {exc.strerror}") from None
    return [atomic_write_bytes(out_dir / name, data) for name, data in payload.items()]
