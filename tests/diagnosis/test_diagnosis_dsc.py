"""DSC: BSW leakage correction (both signs), NAWM normalisation, baseline detection, QC, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from typer.testing import CliRunner

from brainmets.cli import app
from brainmets.diagnosis.dsc import bsw_correct, cbv, cumulative, detect_baseline, run_perfusion
from brainmets.diagnosis.volumes import DiagnosisInputError

runner = CliRunner()


def test_bsw_no_leakage_is_unchanged_and_leakage_is_restored(phantom) -> None:
    t = np.arange(50) * 1.5
    ref = phantom.gamma(t)
    integ = cumulative(ref, 1.5)
    k1 = np.array([1.0, 2.0, 3.0, 3.0, 3.0])
    k2 = np.array([0.0, 0.0, 0.2, -0.2, 0.05])
    meas = k1[:, None] * ref - k2[:, None] * integ
    f1, f2, corr = bsw_correct(meas, ref, 1.5)
    assert np.allclose(f1, k1) and np.allclose(f2, k2, atol=1e-9)
    # (a) K2 = 0: corrected == uncorrected
    assert np.allclose(corr[:2], meas[:2])
    # (b) T1 leakage (K2 > 0) lowers the measured CBV; correction raises it back
    true = cbv(k1[:, None] * ref, 1.5, (0, 49))
    got, raw = cbv(corr, 1.5, (0, 49)), cbv(meas, 1.5, (0, 49))
    assert np.allclose(got, true, rtol=1e-6)
    assert raw[2] < 0.8 * true[2] and raw[3] > 1.2 * true[3]


def _run(tmp_path: Path, phantom, k2: dict[int, float], **kw):
    ph = phantom.make(n_lesions=3)
    sim = phantom.dsc(ph, k2)
    f = phantom.save(tmp_path / "dsc.nii.gz", sim.signal, ph.affine, dt=sim.dt)
    les = phantom.save(tmp_path / "lesions.nii.gz", ph.labels, ph.affine)
    args = {"flip_angle": 60.0, "preload": "yes", "field_strength": 3.0, **kw}
    summary = run_perfusion(f, 30.0, tmp_path / "out", les, **args)
    return ph, sim, summary


def test_bsw_recovers_cbv_for_both_leakage_signs(tmp_path: Path, phantom) -> None:
    ph, sim, s = _run(tmp_path, phantom, {1: 0.15, 2: -0.15, 3: 0.0})
    rim = {le["id"]: le["enhancing_rim"] for le in s["lesions"]}
    true = phantom.tissue[phantom.codes.RIM][2] / phantom.tissue[phantom.codes.WM][2]  # 4.0
    for lid in (1, 2, 3):
        assert rim[lid]["median"] == pytest.approx(true, rel=0.05), lid
    assert rim[1]["uncorrected_rcbv"]["median"] < 0.85 * true  # T1 leakage: underestimated
    assert rim[2]["uncorrected_rcbv"]["median"] > 1.15 * true  # T2* leakage: overestimated
    assert rim[3]["uncorrected_rcbv"]["median"] == pytest.approx(true, rel=0.05)
    k2 = {le["id"]: le["k2_median"] for le in s["lesions"]}
    assert k2[1] > 0 > k2[2]  # sign convention: K2 > 0 = T1-dominant leakage
    peri = s["lesions"][0]["peritumoral"]
    assert peri["median"] == pytest.approx(0.8, rel=0.05)
    rcbv = nib.load(str(tmp_path / "out" / "rcbv.nii.gz")).get_fdata()
    assert rcbv.shape == ph.tissue.shape


def test_nawm_normalisation_phantom(tmp_path: Path, phantom) -> None:
    ph, sim, s = _run(tmp_path, phantom, {})
    rcbv = nib.load(str(tmp_path / "out" / "rcbv.nii.gz")).get_fdata()
    wm, gm = ph.tissue == phantom.codes.WM, ph.tissue == phantom.codes.GM
    right = np.zeros(ph.tissue.shape, bool)
    right[: ph.tissue.shape[0] // 2 - 1] = True  # RAS: low i = negative x = right hemisphere
    assert np.median(rcbv[wm & right]) == pytest.approx(1.0, abs=0.03)
    assert np.median(rcbv[gm & right]) == pytest.approx(2.0, rel=0.05)
    nawm = s["nawm"]
    assert nawm["centroid_mm"][0] < 0 and nawm["n_voxels"] > 100
    assert nawm["side"].startswith("right") and nawm["reference_tissue"] == "white_matter"
    # the chosen region is white matter: its voxels sit where the phantom has WM
    ijk = np.linalg.solve(ph.affine, np.append(nawm["centroid_mm"], 1.0))[:3]
    assert ph.tissue[tuple(np.rint(ijk).astype(int))] == phantom.codes.WM


def test_user_nawm_mask(tmp_path: Path, phantom) -> None:
    ph = phantom.make(n_lesions=1)
    sim = phantom.dsc(ph, {})
    f = phantom.save(tmp_path / "dsc.nii.gz", sim.signal, ph.affine, dt=sim.dt)
    gm_mask = phantom.save(tmp_path / "gm.nii.gz", (ph.tissue == phantom.codes.GM), ph.affine)
    s = run_perfusion(f, 30.0, tmp_path / "out", nawm_mask=gm_mask)
    rcbv = nib.load(str(tmp_path / "out" / "rcbv.nii.gz")).get_fdata()
    assert np.median(rcbv[ph.tissue == phantom.codes.WM]) == pytest.approx(0.5, rel=0.05)
    assert s["nawm"]["method"].startswith("user mask")


def test_baseline_detection(phantom) -> None:
    t = np.arange(40) * 1.5
    curve = 1000 * np.exp(-0.03 * phantom.gamma(t, t0=15.0))
    frames = detect_baseline(curve)
    assert frames["n1"] == 1 and frames["arrival"] in (10, 11) and frames["n2"] < frames["arrival"]
    with pytest.raises(DiagnosisInputError, match="baseline"):
        detect_baseline(1000 * np.exp(-0.03 * phantom.gamma(t, t0=0.0)))


def test_protocol_qc_warnings(tmp_path: Path, phantom) -> None:
    _, _, s = _run(tmp_path, phantom, {}, flip_angle=None, preload="unknown", field_strength=3.0)
    text = " ".join(s["warnings"])
    assert "flip angle not given" in text and "preload unknown" in text
    ph = phantom.make(n_lesions=1)
    sim = phantom.dsc(ph, {})
    f = phantom.save(tmp_path / "d2.nii.gz", sim.signal, ph.affine, dt=sim.dt)
    s2 = run_perfusion(f, 60.0, tmp_path / "o2", flip_angle=90, preload="no", field_strength=3)
    text = " ".join(s2["warnings"])
    assert "TE 60 ms outside the consensus 20-35 ms" in text and "uses 30 deg" in text


def test_cli_perfusion_and_errors(tmp_path: Path, phantom) -> None:
    ph = phantom.make(n_lesions=1)
    sim = phantom.dsc(ph, {1: 0.1})
    f = phantom.save(tmp_path / "dsc.nii.gz", sim.signal, ph.affine, dt=sim.dt)
    les = phantom.save(tmp_path / "les.nii.gz", ph.labels, ph.affine)
    out = tmp_path / "out"
    res = runner.invoke(app, ["perfusion", str(f), "--te", "30", "--out", str(out), "--lesions",
                              str(les), "--flip-angle", "60", "--preload", "yes"])
    assert res.exit_code == 0, res.output
    assert {p.name for p in out.iterdir()} == {"cbv.nii.gz", "rcbv.nii.gz", "perfusion.json"}
    doc = json.loads((out / "perfusion.json").read_text())
    assert doc["lesions"][0]["advanced_imaging"]["dsc_leakage_corrected"] is True
    res = runner.invoke(app, ["perfusion", str(f), "--te", "30", "--out", str(tmp_path / "x"),
                              "--preload", "maybe"])
    assert res.exit_code == 2 and "--preload: expected yes|no|unknown" in res.output
    no_unit = phantom.save(tmp_path / "nounit.nii.gz", sim.signal, ph.affine)
    res = runner.invoke(app, ["perfusion", str(no_unit), "--te", "30", "--out",
                              str(tmp_path / "y")])
    assert res.exit_code == 0 and "no time unit" in res.output
    res = runner.invoke(app, ["perfusion", str(tmp_path / "les.nii.gz"), "--te", "30", "--out",
                              str(tmp_path / "w")])
    assert res.exit_code == 2 and "DSC4D: expected a 4-D image" in res.output
    assert not (tmp_path / "w").exists()
    res = runner.invoke(app, ["perfusion", str(f), "--te", "0", "--out", str(tmp_path / "z")])
    assert res.exit_code == 2 and "--te" in res.output


def test_hot_spot_roi_is_a_small_roi_mean_not_a_single_voxel() -> None:
    # issue #19: the studies used hot-spot ROIs (§2.6 Hoefnagels max lesion rCBV); one noisy
    # voxel must not set the value. ROI = 3 x 3 voxels in-plane (engineering choice).
    from brainmets.diagnosis.roi import hot_spot_max

    values = np.full((12, 12, 3), 1.0)
    region = np.zeros(values.shape, bool)
    region[2:10, 2:10, 1] = True
    values[5, 5, 1] = 10.0  # a single hot voxel
    values[7:10, 7:10, 1] = 3.0  # a 3 x 3 hot spot
    assert hot_spot_max(values, region) == pytest.approx(3.0)
    assert hot_spot_max(values, np.zeros(values.shape, bool)) is None


def test_cli_perfusion_prints_the_statements_for_the_lesion_history(tmp_path: Path,
                                                                     phantom) -> None:
    ph = phantom.make(n_lesions=1)
    sim = phantom.dsc(ph, {1: 0.1})
    f = phantom.save(tmp_path / "dsc.nii.gz", sim.signal, ph.affine, dt=sim.dt)
    les = phantom.save(tmp_path / "les.nii.gz", ph.labels, ph.affine)
    args = ["perfusion", str(f), "--te", "30", "--lesions", str(les), "--flip-angle", "60",
            "--preload", "yes", "--field-strength", "3"]
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "a"), "--history", "srs"])
    assert res.exit_code == 0, res.output
    # §2.6 Hoefnagels: max lesion rCBV/WM >= 2.00 after SRS (phantom rim CBV 4 x WM)
    assert "lesion 1: [supports]" in res.output and "DX-HOEFNAGELS2009" in res.output
    assert "DX-ROMANO2022" not in res.output  # no differential for an irradiated lesion
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "b"), "--history", "untreated",
                              "--solitary"])
    assert res.exit_code == 0 and "DX-ROMANO2022" in res.output
    assert "DX-HOEFNAGELS2009" not in res.output
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "c")])
    assert "lesion history not given" in res.output
