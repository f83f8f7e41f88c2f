"""Phantom DWI + DSC -> maps -> per-lesion values -> interpretation statements with sources."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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


def test_adc_lesion_value_is_the_solid_enhancing_part(tmp_path: Path, phantom) -> None:
    # issue #19 / Romano 2022: lesional ADC = solid enhancing part, not the whole lesion with
    # its cavity (phantom: enhancing rim ADC 1.1, cavity 2.4 x10^-3 mm^2/s)
    values = _adc_values(tmp_path, phantom, cavity_adc=2.4)
    assert values["lesion_adc"] == pytest.approx(1.1, rel=0.05)
    assert values["lesion_adc_region"] == "solid_enhancing" and values["ring_enhancing"] is True


def test_perfusion_reports_hot_spot_rcbv(tmp_path: Path, phantom) -> None:
    ph = phantom.make()
    sim = phantom.dsc(ph, {1: 0.0})
    f = phantom.save(tmp_path / "dsc.nii.gz", sim.signal, ph.affine, dt=sim.dt)
    les = phantom.save(tmp_path / "les.nii.gz", ph.labels, ph.affine)
    s = run_perfusion(f, 30.0, tmp_path / "dsc", les, flip_angle=60, preload="yes",
                      field_strength=3.0, history="srs")
    lesion = s["lesions"][0]
    values = lesion["advanced_imaging"]
    assert values["rcbv_measurement"] == "hot_spot_roi"
    # a hot-spot ROI mean never exceeds the voxel maximum; phantom rim CBV is 4 x white matter
    assert values["lesion_max_rcbv_wm"] <= lesion["enhancing_rim"]["max"] + 1e-6
    assert values["lesion_max_rcbv_wm"] == pytest.approx(4.0, rel=0.15)
    ids = {st["id"] for st in lesion["statements"]}
    assert "R-PWI-3:T4" in ids and not any(i.startswith("R-PWI-1") for i in ids)


def test_cli_adc_prints_the_statements_it_triggers(tmp_path: Path, phantom) -> None:
    from typer.testing import CliRunner

    from brainmets.cli import app

    ph = phantom.make()
    dwi, _ = phantom.dwi(ph, [0, 1000, 1000, 1000], cavity_adc=0.7)
    f = phantom.save(tmp_path / "dwi.nii.gz", dwi, ph.affine)
    bv = tmp_path / "dwi.bval"
    bv.write_text("0 1000 1000 1000\n")
    les = phantom.save(tmp_path / "les.nii.gz", ph.labels, ph.affine)
    res = CliRunner().invoke(app, ["adc", str(f), "--bval", str(bv), "--out",
                                   str(tmp_path / "o"), "--lesions", str(les),
                                   "--history", "untreated"])
    assert res.exit_code == 0, res.output
    assert "lesion 1: [supports]" in res.output and "DX-FERTIKH" in res.output
    head = json.loads(res.output.splitlines()[0])
    assert head["statements"]["1"][0]["source"] == "DX-FERTIKH"
    res = CliRunner().invoke(app, ["adc", str(f), "--bval", str(bv), "--out",
                                   str(tmp_path / "o2"), "--lesions", str(les),
                                   "--history", "srs"])
    assert res.exit_code == 0 and "DX-FERTIKH" not in res.output  # abscess not asked
    res = CliRunner().invoke(app, ["adc", str(f), "--bval", str(bv), "--out",
                                   str(tmp_path / "o3"), "--history", "maybe"])
    assert res.exit_code == 2 and "--history: expected" in res.output
