"""Synthetic brain phantoms for the ADC and DSC tests (small, deterministic)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pytest

SHAPE = (36, 36, 9)
VOX = 2.0
# tissue codes
BG, WM, GM, CSF, RIM, CORE, OEDEMA = range(7)
#                 S0(b0/T2w)  ADC(1e-3)  CBV factor K1
TISSUE = {WM: (600.0, 0.75, 1.0), GM: (900.0, 0.85, 2.0), CSF: (1500.0, 3.0, 0.0),
          RIM: (800.0, 1.1, 4.0), CORE: (1200.0, 2.4, 0.3), OEDEMA: (1000.0, 1.4, 0.8)}
LESION_CENTRES = [(26, 10, 4), (26, 18, 4), (26, 26, 4)]  # all in the left hemisphere (+x)


def _affine() -> np.ndarray:
    aff = np.diag([VOX, VOX, VOX, 1.0])
    aff[:3, 3] = [-(SHAPE[0] - 1) / 2 * VOX, -(SHAPE[1] - 1) / 2 * VOX, -(SHAPE[2] - 1) / 2 * VOX]
    return aff


def make_phantom(n_lesions: int = 1, core_radius: float = 2.2, radius: float = 3.6):
    i, j, k = np.meshgrid(*[np.arange(n, dtype=float) for n in SHAPE], indexing="ij")
    ci, cj = (SHAPE[0] - 1) / 2, (SHAPE[1] - 1) / 2
    r = np.hypot(i - ci, j - cj)
    tissue = np.zeros(SHAPE, np.int8)
    tissue[r <= 16] = GM
    tissue[r <= 12] = WM
    tissue[(np.abs(i - ci) < 1.6) & (np.abs(j - cj) < 5)] = CSF
    labels = np.zeros(SHAPE, np.int16)
    centres = [(26, 18, 4)] if n_lesions == 1 else LESION_CENTRES[:n_lesions]
    for lid, (a, b, c) in enumerate(centres, start=1):
        d = np.sqrt((i - a) ** 2 + (j - b) ** 2 + (k - c) ** 2)
        tissue[(d > radius) & (d <= radius + 2.0) & (tissue != BG)] = OEDEMA
        tissue[d <= radius] = RIM
        tissue[d <= core_radius] = CORE
        labels[(d <= radius) & (d > core_radius)] = lid  # ring label (scan-like)
    return SimpleNamespace(tissue=tissue, labels=labels, affine=_affine(), centres=centres)


def save(path: Path, array: np.ndarray, affine: np.ndarray, dt: float | None = None) -> Path:
    img = nib.Nifti1Image(np.asarray(array, dtype=np.float32), affine)
    if dt is not None:
        zooms = list(img.header.get_zooms()[:3]) + [dt]
        img.header.set_zooms(zooms)
        img.header.set_xyzt_units("mm", "sec")
    nib.save(img, str(path))
    return path


def make_dwi(ph, bvals, sigma: float = 8.0, seed: int = 0, cavity_adc: float | None = None):
    rng = np.random.default_rng(seed)
    s0 = np.zeros(SHAPE)
    adc = np.zeros(SHAPE)
    for code, (s, d, _) in TISSUE.items():
        s0[ph.tissue == code] = s
        adc[ph.tissue == code] = d
    if cavity_adc is not None:
        adc[ph.tissue == CORE] = cavity_adc
    b = np.asarray(bvals, float)
    clean = s0[..., None] * np.exp(-b[None, None, None, :] * adc[..., None] * 1e-3)
    noisy = np.hypot(clean + rng.normal(0, sigma, clean.shape), rng.normal(0, sigma, clean.shape))
    return noisy.astype(np.float32), adc


def gamma_curve(t: np.ndarray, t0: float = 12.0, alpha: float = 3.0, beta: float = 1.5,
                peak: float = 10.0) -> np.ndarray:
    x = np.clip(t - t0, 0, None)
    g = x ** alpha * np.exp(-x / beta)
    return peak * g / g.max()


def make_dsc(ph, k2_by_lesion: dict[int, float], te: float = 0.030, dt: float = 1.5,
             n_frames: int = 50, noise: float = 2.0, seed: int = 1):
    """Signals from dR2* = K1 R - K2 int R (BSW model; K2 > 0 = T1 leakage)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) * dt
    ref = gamma_curve(t)
    integ = np.concatenate([[0.0], np.cumsum(0.5 * (ref[1:] + ref[:-1]) * dt)])
    s0 = np.zeros(SHAPE)
    k1 = np.zeros(SHAPE)
    for code, (s, _, kk) in TISSUE.items():
        s0[ph.tissue == code] = s
        k1[ph.tissue == code] = kk
    k2 = np.zeros(SHAPE)
    for lid, val in k2_by_lesion.items():
        filled = np.zeros(SHAPE, bool)
        a, b, c = ph.centres[lid - 1]
        i, j, k = np.meshgrid(*[np.arange(n) for n in SHAPE], indexing="ij")
        filled = np.sqrt((i - a) ** 2 + (j - b) ** 2 + (k - c) ** 2) <= 3.6
        k2[filled] = val
    dr2 = k1[..., None] * ref - k2[..., None] * integ
    sig = s0[..., None] * np.exp(-te * dr2)
    sig = sig + rng.normal(0, noise, sig.shape) * (s0[..., None] > 0)
    return SimpleNamespace(signal=sig.astype(np.float32), ref=ref, integ=integ, t=t, dt=dt,
                           k1=k1, k2=k2, te=te)


@pytest.fixture
def phantom():
    return SimpleNamespace(make=make_phantom, save=save, dwi=make_dwi, dsc=make_dsc,
                           gamma=gamma_curve, codes=SimpleNamespace(
                               BG=BG, WM=WM, GM=GM, CSF=CSF, RIM=RIM, CORE=CORE, OEDEMA=OEDEMA),
                           tissue=TISSUE)
