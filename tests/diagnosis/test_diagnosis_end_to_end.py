"""Phantom DWI + DSC -> maps -> per-lesion values -> interpretation statements with sources."""

from __future__ import annotations

from pathlib import Path

from brainmets.diagnosis import interpret
from brainmets.diagnosis.dsc import run_perfusion
from brainmets.diagnosis.dwi import run_adc


def _adc_values(tmp_path: Path, phantom, cavity_adc: float) -> dict:
    ph = phantom.make()
    dwi, _ = phantom.dwi(ph, [0, 1000, 1000, 1000], cavity_adc=cavity_adc)
    f = phantom.save(tmp_path / f"dwi{cavity_adc}.nii.gz", dwi, ph.affine)
    bv = tmp_path / "dwi.bval"
    bv.write_text("0 1000 1000 1000\n")
    les = phantom.save(tmp_path / "les.nii.gz", ph.labels, ph.affine)
    s = run_adc(f, bv, None, tmp_path / f"adc{cavity_adc}", les)
    return s["lesions"][0]["advanced_imaging"]


def test_abscess_like_cavity_flags_and_tumour_cavity_does_not(tmp_path: Path, phantom) -> None:
    abscess = _adc_values(tmp_path, phantom, cavity_adc=0.7)
    tumour = _adc_values(tmp_path, phantom, cavity_adc=2.4)
    assert abscess["cavity_adc_ratio"] < 1.7 < tumour["cavity_adc_ratio"]
    for values, expected in ((abscess, "supports"), (tumour, "does_not_support")):
        st = [s for s in interpret({"advanced_imaging": {**values, "ring_enhancing": True}})
              if s.threshold_id == "T1"][0]
        assert st.status == expected and "DX-FERTIKH" in st.sources


def test_dsc_after_srs_feeds_recurrence_rules(tmp_path: Path, phantom) -> None:
    ph = phantom.make()
    sim = phantom.dsc(ph, {1: 0.1})
    f = phantom.save(tmp_path / "dsc.nii.gz", sim.signal, ph.affine, dt=sim.dt)
    les = phantom.save(tmp_path / "les.nii.gz", ph.labels, ph.affine)
    s = run_perfusion(f, 30.0, tmp_path / "dsc", les, flip_angle=60, preload="yes",
                      field_strength=3.0)
    values = s["lesions"][0]["advanced_imaging"]
    assert values["lesion_max_rcbv_wm"] > 2.0
    out = interpret({"advanced_imaging": {**values, "prior_srs": True, "months_since_srs": 5}})
    t4 = [x for x in out if x.threshold_id == "T4"][0]
    assert t4.status == "supports" and t4.reliability == "standard"
    assert "DX-HOEFNAGELS2009" in t4.sources and "not a diagnosis" in t4.text
