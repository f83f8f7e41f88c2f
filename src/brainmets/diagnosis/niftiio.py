"""Small, self-contained NIfTI/JSON helpers for the diagnosis maps (independent of imaging.io).

Errors are :class:`DiagnosisInputError` with a message naming the file or option; writes are
atomic (temporary file in the target folder, then ``os.replace``).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


class DiagnosisInputError(ValueError):
    """Bad input for a diagnosis command (message names the field/file)."""


def load_nifti(path: str | Path, what: str, ndim: tuple[int, ...] = (3, 4)) -> tuple[
    np.ndarray, np.ndarray, Any
]:
    """(data as float32, affine, header); 4-D data keep the last axis as time/volume."""
    import nibabel as nib

    path = Path(path)
    if not path.exists():
        raise DiagnosisInputError(f"{what}: no such file: {path}")
    if path.is_dir():
        raise DiagnosisInputError(f"{what}: is a directory, expected a NIfTI file: {path}")
    try:
        img = nib.load(str(path))
        data = np.asarray(img.dataobj, dtype=np.float32)
    except Exception as exc:  # nibabel raises many types for corrupt files
        raise DiagnosisInputError(f"{what}: cannot read NIfTI {path}: {exc}") from None
    while data.ndim > 4 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim == 4 and 3 in ndim and 4 not in ndim and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim not in ndim:
        raise DiagnosisInputError(
            f"{what}: expected a {' or '.join(f'{n}-D' for n in ndim)} image, got shape "
            f"{data.shape}"
        )
    if not np.all(np.isfinite(img.affine)):
        raise DiagnosisInputError(f"{what}: the image affine is not finite")
    return data, np.asarray(img.affine, dtype=float), img.header


def _tmp_in(directory: Path, suffix: str) -> Path:
    fd, name = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=directory)
    os.close(fd)
    return Path(name)


def write_outputs(out_dir: Path, images: dict[str, tuple[np.ndarray, np.ndarray]],
                  documents: dict[str, dict[str, Any]]) -> list[Path]:
    """Write NIfTI images and JSON documents into ``out_dir`` all-or-nothing."""
    import nibabel as nib

    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DiagnosisInputError(f"--out: cannot create {out_dir}: {exc.strerror}") from None
    staged: list[tuple[Path, Path]] = []
    try:
        for name, (array, affine) in images.items():
            tmp = _tmp_in(out_dir, ".nii.gz")
            img = nib.Nifti1Image(np.asarray(array, dtype=np.float32), affine)
            img.header.set_xyzt_units("mm", "sec")
            nib.save(img, str(tmp))
            staged.append((tmp, out_dir / name))
        for name, doc in documents.items():
            tmp = _tmp_in(out_dir, ".json")
            tmp.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")
            staged.append((tmp, out_dir / name))
    except BaseException:
        for tmp, _ in staged:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise
    for tmp, final in staged:
        os.replace(tmp, final)
    return [final for _, final in staged]


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
