"""Template anatomy for the synthetic phantoms (MNI152 2009c maps bundled in the nilearn wheel).

The three maps (T1, grey matter, white matter; 197x233x189 at 1 mm) are read straight from the
installed nilearn package with nibabel (the same files ``nilearn.datasets.load_mni152_template``
returns; nothing is ever downloaded). Everything derived here is cached per grid step.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

PAD_MM = 24  # room around the brain for the synthetic scalp, skull and marrow


def template_dir() -> Path:
    """Folder of nilearn's bundled data files (raises a clear error when nilearn is missing)."""
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("nilearn is not installed: the phantom needs its bundled MNI152 maps")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    if not (path / "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz").exists():
        raise RuntimeError(f"nilearn's bundled MNI152 template is missing under {path}")
    return path


@dataclass(frozen=True)
class Anatomy:
    """Tissue maps on a padded MNI grid with step ``step`` mm (index -> MNI mm by ``affine``)."""

    step: int
    affine: np.ndarray
    gm: np.ndarray  # probability, float32
    wm: np.ndarray
    csf: np.ndarray  # inside the brain mask only
    brain: np.ndarray  # bool
    d_out: np.ndarray  # mm outside the brain mask (0 inside), float32
    d_in: np.ndarray  # mm inside the brain mask (0 outside), float32

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.gm.shape)  # type: ignore[return-value]

    def mni_of(self, ijk: np.ndarray) -> np.ndarray:
        return ijk @ self.affine[:3, :3].T + self.affine[:3, 3]

    def index_of(self, mni: np.ndarray) -> np.ndarray:
        inv = np.linalg.inv(self.affine)
        return np.asarray(mni) @ inv[:3, :3].T + inv[:3, 3]


def _block_mean(a: np.ndarray, f: int) -> np.ndarray:
    if f == 1:
        return a
    s = [n // f * f for n in a.shape]
    a = a[: s[0], : s[1], : s[2]]
    return a.reshape(s[0] // f, f, s[1] // f, f, s[2] // f, f).mean(axis=(1, 3, 5))


def upsample_linear(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Separable linear interpolation of ``a`` onto ``shape`` (grid-mode: cell centres align)."""
    out = a
    for ax, n in enumerate(shape):
        m = out.shape[ax]
        x = np.clip((np.arange(n) + 0.5) * m / n - 0.5, 0, m - 1)
        i0 = np.floor(x).astype(int)
        i1 = np.minimum(i0 + 1, m - 1)
        w = (x - i0).astype(np.float32)
        sh = [1] * out.ndim
        sh[ax] = n
        w = w.reshape(sh)
        out = np.take(out, i0, axis=ax) * (1 - w) + np.take(out, i1, axis=ax) * w
    return out.astype(np.float32)


@lru_cache(maxsize=3)
def load_anatomy(step: int = 1) -> Anatomy:
    """Load and derive the template tissue maps on a grid of ``step`` mm (1, 2 or 3)."""
    import nibabel as nib
    from scipy import ndimage as ndi

    if step not in (1, 2, 3):
        raise ValueError("step must be 1, 2 or 3 mm")
    base = template_dir()
    maps = {}
    affine = None
    for name in ("t1", "gm", "wm"):
        img: Any = nib.load(str(base / f"mni_icbm152_{name}_tal_nlin_sym_09a_converted.nii.gz"))
        maps[name] = np.asarray(img.dataobj, dtype=np.float32) / 255.0
        affine = img.affine.copy()
    assert affine is not None
    pad = PAD_MM // step  # PAD_MM is a multiple of 1, 2 and 3

    def coarse(a: np.ndarray) -> np.ndarray:
        return np.pad(_block_mean(a, step), pad).astype(np.float32)

    gm = coarse(maps["gm"])
    wm = coarse(maps["wm"])
    brain_f = coarse((maps["t1"] > 0).astype(np.float32))
    brain = brain_f >= 0.5
    csf = np.clip(brain_f - gm - wm, 0.0, 1.0).astype(np.float32)
    aff = affine.copy()
    aff[:3, :3] *= step
    aff[:3, 3] += ((step - 1) / 2.0 - PAD_MM) * np.diag(affine)[:3]
    if step == 1:  # exact EDT at 1 mm is slow (~7 s); a 2 mm EDT interpolated is close enough
        half = _block_mean(brain.astype(np.float32), 2) >= 0.5
        full = tuple(2 * n for n in half.shape)
        pad_w = [(0, a - b) for a, b in zip(brain.shape, full, strict=True)]
        d_out = np.pad(upsample_linear(ndi.distance_transform_edt(~half) * 2.0, full), pad_w,
                       mode="edge")
        d_in = np.pad(upsample_linear(ndi.distance_transform_edt(half) * 2.0, full), pad_w,
                      mode="edge")
        d_out = np.where(brain, 0.0, np.maximum(d_out, 0.5)).astype(np.float32)
        d_in = np.where(brain, np.maximum(d_in, 0.5), 0.0).astype(np.float32)
    else:
        d_out = ndi.distance_transform_edt(~brain).astype(np.float32) * step
        d_in = ndi.distance_transform_edt(brain).astype(np.float32) * step
    for a in (gm, wm, csf, brain, d_out, d_in):
        a.setflags(write=False)
    return Anatomy(step, aff, gm, wm, csf, brain, d_out, d_in)
