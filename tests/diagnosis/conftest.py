"""Synthetic brain phantoms for the ADC and DSC tests (small, deterministic)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nibabel as nib
import numpy as np
import pytest

from brainmets.knowledge import reference

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


# ---------------------------------------------------------------- acceptance cases (issue #19)
# Records written the way someone outside the project would enter them from CONTRACT §1 (patient
# record, radiation_history) and diagnosis.md (advanced-imaging inputs), and the checks every
# diagnosis block must pass (CONTRACT §2 ``diagnosis``).

CONFIDENCES = {"confirmed", "single_source", "uncertain", "interpolated"}
GBM, ABSCESS, RECURRENCE = "glioblastoma_vs_metastasis", "abscess", "recurrence_vs_necrosis"

# every advanced-imaging value a clinician could enter after a full work-up (DWI, DSC, MRS,
# FET-PET, ASL); values chosen on the "supports" side of the diagnosis.md §7.9 cut-offs
FULL_IMAGING: dict[str, Any] = {
    "ring_enhancing": True, "solitary_enhancing_lesion": True,
    "cavity_adc": 0.8, "cavity_adc_ratio": 1.2, "nawm_adc": 0.8,
    "lesion_adc": 0.9, "lesion_adc_region": "solid_enhancing",
    "perilesional_max_rcbv": 1.8, "lesion_max_rcbv_wm": 2.6, "lesion_max_rcbv_gm": 1.9,
    "lesion_psr_percent": 80, "rcbv_measurement": "hot_spot_roi",
    "dsc_leakage_corrected": True, "dsc_te_ms": 30, "dsc_field_strength_t": 3,
    "dsc_flip_angle_deg": 60, "dsc_preload": "yes",
    "peritumoral_cho_naa": 1.5, "peritumoral_cho_cr": 1.4, "lesional_cho_naa": 2.1,
    "lesional_cho_cr": 1.9, "lipid_lactate": True, "abscess_peaks": False, "mrs_te_ms": 135,
    "mrs_field_strength_t": 3,
    "pet_tracer": "fet", "pet_tbrmax": 2.4, "pet_tbrmean": 2.0,
    "pet_background_method": "contralateral crescent VOI", "pet_uptake_window": "20-40 min p.i.",
    "pet_tac_pattern": "decreasing",
    "peritumoral_asl_cbf_gradient": 2.5,
}

# the differential inputs only (an untreated lesion's work-up: no SRS-related values)
UNTREATED_IMAGING: dict[str, Any] = {
    k: v for k, v in FULL_IMAGING.items()
    if k not in {"lesion_max_rcbv_wm", "lesion_max_rcbv_gm", "lesional_cho_naa",
                 "lesional_cho_cr", "pet_tracer", "pet_tbrmax", "pet_tbrmean",
                 "pet_background_method", "pet_uptake_window", "pet_tac_pattern"}
}


def resected_irradiated_breast(**imaging: Any) -> dict[str, Any]:
    """Breast metastasis resected, then SRS to the cavity 7 months ago (20 Gy x 1)."""
    return {
        "id": "resected-srs", "age": 55, "sex": "female", "kps": 90,
        "primary": {"site": "breast", "er": "positive", "pr": "positive", "her2": "negative",
                    "controlled": True},
        "extracranial_metastases": False,
        "brain_metastases": {"count": 1, "lesions": [
            {"diameter_mm": 18, "location": "supratentorial", "resected": True,
             "cavity_volume_ml": 3.2}]},
        "symptoms": {"status": "asymptomatic"},
        "radiation_history": [{"date": "2026-05-06", "modality": "srs", "lesion_ids": ["L1"],
                               "dose_gy": 20, "fractions": 1}],
        "advanced_imaging": {**copy.deepcopy(FULL_IMAGING), "months_since_srs": 7, **imaging},
    }


def untreated_solitary_ring(site: str = "nsclc", **imaging: Any) -> dict[str, Any]:
    """A single ring-enhancing lesion, never treated, no radiation_history key at all."""
    return {
        "id": "untreated-ring", "age": 64, "sex": "male", "kps": 80,
        "primary": {"site": site},
        "brain_metastases": {"count": 1, "lesions": [
            {"diameter_mm": 28, "location": "supratentorial", "resected": False,
             "enhancement": "ring"}]},
        "advanced_imaging": {**copy.deepcopy(UNTREATED_IMAGING), **imaging},
    }


def asked(block: Any) -> list[str]:
    return [q.id for q in block.questions]


def check_block(block: Any) -> None:
    """CONTRACT §2 invariants: every statement and context row sourced with a known reference and
    a confidence word; every interpolated cut-off says so in its text (issue #19)."""
    for s in block.statements:
        assert s.source, s.id
        for ref in [s.source, *s.sources]:
            assert reference(ref).citation, ref  # resolves in the reference registry
        assert s.confidence in CONFIDENCES, (s.id, s.confidence)
        assert s.question in {GBM, ABSCESS, RECURRENCE, "qc"}, s.question
        if s.confidence == "interpolated":
            assert "interpolated" in s.text, s.text
            assert "from a published study" not in s.text, s.text
    ctx = block.context
    assert ctx.epidemiology and ctx.screening
    for row in [*ctx.epidemiology, *ctx.screening, *ctx.unconfirmed]:
        assert row.source and row.sources, row.text
        for ref in row.sources:
            assert reference(ref).citation, ref
        assert row.confidence in CONFIDENCES, (row.text, row.confidence)


def block_json(block: Any) -> str:
    return json.dumps(block.model_dump(mode="json"))


@pytest.fixture
def cases():
    return SimpleNamespace(
        FULL=FULL_IMAGING, UNTREATED=UNTREATED_IMAGING, GBM=GBM, ABSCESS=ABSCESS,
        RECURRENCE=RECURRENCE, CONFIDENCES=CONFIDENCES, resected=resected_irradiated_breast,
        untreated=untreated_solitary_ring, asked=asked, check=check_block, dump=block_json)
