"""Acceptance cases (issue #19): each statement says how sure it is and whether the value was
measured the way the study measured it. Cut-offs are written here from diagnosis.md (section in
each comment), never read from the thresholds file."""

from __future__ import annotations

from typing import Any

from brainmets.diagnosis.block import diagnosis_block
from brainmets.model import parse_patient


def _statements(rec: dict[str, Any]) -> dict[str, Any]:
    block = diagnosis_block(parse_patient(rec))
    return {s.id: s for s in block.statements}


def test_absolute_cavity_adc_is_the_toolkits_own_cut_off(cases) -> None:
    # §1.4 R-DWI-2: cavity ADC < 1.0 without a NAWM reference; "our interpolation between reported
    # means, not a published threshold"
    rec = cases.untreated()
    for key in ("cavity_adc_ratio", "nawm_adc"):
        rec["advanced_imaging"].pop(key)
    st = _statements(rec)["R-DWI-2:T1b"]
    assert st.status == "supports" and st.confidence == "interpolated"
    assert "interpolated" in st.text and "not a published threshold" in st.text
    assert "from a published study" not in st.text
    assert st.cutoff == "< 1 x10^-3 mm^2/s"


def test_low_psr_is_the_toolkits_own_cut_off(cases) -> None:
    # §2.7 R-PWI-2: "markedly low (e.g., < ~60%)": UNCERTAIN, between reported group means
    st = _statements(cases.untreated(lesion_psr_percent=50))["R-PWI-2:T3b"]
    assert st.status == "supports" and "typical of metastasis" in st.text
    assert st.confidence == "interpolated" and "interpolated" in st.text
    assert "from a published study" not in st.text


def test_lesion_adc_over_the_whole_lesion_lowers_the_combined_rule(cases) -> None:
    # §2.5 Romano 2022: lesional ADC of the enhancing solid part; a cavity raises the mean
    rec = cases.untreated(lesion_adc_region="whole_lesion")
    st = _statements(rec)["R-PWI-1c:T2c"]
    assert st.reliability == "low" and "solid enhancing part" in st.text
    st = _statements(cases.untreated())["R-PWI-1c:T2c"]
    assert st.reliability == "standard" and st.status == "supports"


def test_voxel_max_rcbv_lowers_the_recurrence_statement(cases) -> None:
    # §2.6 Hoefnagels 2009 measured max rCBV in ROIs; a single-voxel maximum is not the same
    st = _statements(cases.resected(rcbv_measurement="voxel_max"))["R-PWI-3:T4"]
    assert st.reliability == "low" and "hot-spot" in st.text


def test_perfusion_without_leakage_correction_is_low_reliability(cases) -> None:
    # §2.7 R-PWI-4: no leakage correction -> every perfusion flag low reliability
    st = _statements(cases.resected(dsc_leakage_corrected=False))["R-PWI-3:T4"]
    assert st.reliability == "low" and "leakage correction" in st.text


def test_te_outside_the_consensus_is_low_reliability(cases) -> None:
    # §2.3 Boxerman 2020: TE 20-35 ms at 3 T
    st = _statements(cases.resected(dsc_te_ms=45))["R-PWI-3:T4"]
    assert st.reliability == "low" and "TE 45" in st.text


def test_mrs_lipid_lactate_is_read(cases) -> None:
    # §3.4 Lai 2002: lactate/lipid in tumour and abscess spectra alike
    found = [s for s in _statements(cases.untreated()).values() if "Lipid/lactate" in s.text]
    assert found and found[0].source == "DX-LAI2002" and found[0].question == "abscess"


def test_fet_time_activity_curve_is_an_input(cases) -> None:
    # §4.3 R-PET-1: decreasing TAC supports recurrence; increasing favours radiation change
    dec = [s for s in _statements(cases.resected()).values() if "time-activity" in s.text]
    assert dec and dec[0].status == "supports"
    inc = [s for s in _statements(cases.resected(pet_tac_pattern="increasing")).values()
           if "time-activity" in s.text]
    assert inc and inc[0].status == "does_not_support"


def test_fet_cut_offs_without_method_are_values_only(cases) -> None:
    # §4.3 R-PET-4: background ROI method or uptake window not recorded -> values only
    rec = cases.resected()
    del rec["advanced_imaging"]["pet_background_method"]
    st = _statements(rec)["R-PET-1:T8"]
    assert st.status == "not_assessable"
    assert "advanced_imaging.pet_background_method" in st.missing


def test_adc_unit_error_blocks_adc_cut_offs(cases) -> None:
    # §1.4 R-DWI-3: NAWM ADC outside 0.5-1.2 x10^-3 mm^2/s -> scaling error suspected
    sts = _statements(cases.untreated(nawm_adc=2.0))
    assert sts["R-DWI-3"].status == "display_only" and "interpolated" in sts["R-DWI-3"].text
    assert sts["R-DWI-1:T1"].status == "not_assessable"


def test_every_statement_of_both_cases_is_sourced_and_labelled(cases) -> None:
    for rec in (cases.resected(), cases.untreated(), cases.untreated(**cases.FULL)):
        cases.check(diagnosis_block(parse_patient(rec)))


def test_psr_above_baseline_is_low_reliability(cases) -> None:
    # §7.2: PSR = 100 (S_post - S_min)/(S0 - S_min); §2.5 group values GBM 80.9% (Cha 2007),
    # HGG 73 +/- 6 and lymphoma 112 +/- 11 (Indian J Cancer 2020): a PSR of 130% is outside them
    st = _statements(cases.untreated(lesion_psr_percent=130))["R-PWI-2:T3"]
    assert st.status == "supports" and st.reliability == "low" and "lymphoma" in st.text
    assert _statements(cases.untreated())["R-PWI-2:T3"].reliability == "standard"  # PSR 80


def test_absent_abscess_peaks_are_not_read_as_unknown_or_as_exclusion(cases) -> None:
    # §3.4 Lai 2002: peaks in 3 of 5 evaluable abscess spectra -> absence does not exclude
    block = diagnosis_block(parse_patient(cases.untreated(abscess_peaks=False)))
    st = [s for s in block.statements if s.id == "R-MRS-3" and s.status != "display_only"][0]
    assert st.status == "does_not_support" and "absent" in st.text
    assert "not recorded" not in st.text and "does not exclude an abscess" in st.text


def test_adc_command_says_what_it_assumed_and_what_it_did_not_use(tmp_path, phantom) -> None:
    from typer.testing import CliRunner

    from brainmets.cli import app

    ph = phantom.make()
    dwi, _ = phantom.dwi(ph, [0, 1000, 1000, 1000], cavity_adc=0.7)
    f = phantom.save(tmp_path / "dwi.nii.gz", dwi, ph.affine)
    bv = tmp_path / "dwi.bval"
    bv.write_text("0 1000 1000 1000\n")
    les = phantom.save(tmp_path / "les.nii.gz", ph.labels, ph.affine)
    args = ["adc", str(f), "--bval", str(bv), "--lesions", str(les), "--out"]
    res = CliRunner().invoke(app, [*args, str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    # no history: read as untreated, said so; recurrence not asked (§1.3.5: no ADC rule for it)
    assert "read as untreated" in res.output and "DX-FERTIKH" in res.output
    assert "Recurrence vs radiation necrosis is not asked" in res.output
    assert "Not specific" in res.output  # §1.4 R-DWI-1: also reported in some GBM
    res = CliRunner().invoke(app, [*args, str(tmp_path / "b"), "--history", "srs"])
    assert res.exit_code == 0, res.output
    assert "no interpretation statement" in res.output
    assert "advanced_imaging.cavity_adc_ratio" in res.output  # named, not silently dropped


def test_combined_rule_and_authorless_studies_are_named_plainly(cases) -> None:
    sts = _statements(cases.untreated())
    # §2.5 Romano 2022: three criteria together (95%/86%), not one "cut-off < 1"
    combined = sts["R-PWI-1c:T2c"].text
    assert "Rule from Romano 2022" in combined and "Cut-off < 1 from" not in combined
    # §3.2: the peritumoral MRS study is known by its journal (authors not captured)
    assert "from Egypt J Neurosurg 2022 [DX-EGJNS2022]" in sts["R-MRS-1:T6"].text


def test_each_pet_tracer_gets_its_own_rule(cases) -> None:
    # §4.3: FDOPA SUVLmax/Bkgrmax >= 1.59 (Cicone 2015); MET LNR >= 1.40 (PMC5674753)
    for tracer, rule, source in (("fdopa", "R-PET-2:T10", "DX-CICONE2015"),
                                 ("met", "R-PET-3:T11", None)):
        rec = cases.resected(pet_tracer=tracer, pet_suvmax_ratio=1.8)
        for key in ("pet_tbrmax", "pet_tbrmean", "pet_tac_pattern"):
            rec["advanced_imaging"].pop(key)
        block = diagnosis_block(parse_patient(rec))
        by_id = {s.id: s for s in block.statements}
        assert by_id[rule].status == "supports"
        assert source is None or by_id[rule].source == source
        assert not any(i.startswith("R-PET-1") for i in by_id)  # FET rules: another tracer
        assert "glioblastoma" not in cases.dump(block).lower()
        cases.check(block)


def test_perfusion_command_names_the_missing_solitary_input(tmp_path, phantom) -> None:
    from typer.testing import CliRunner

    from brainmets.cli import app

    ph = phantom.make()
    sim = phantom.dsc(ph, {1: 0.0})
    f = phantom.save(tmp_path / "dsc.nii.gz", sim.signal, ph.affine, dt=sim.dt)
    les = phantom.save(tmp_path / "les.nii.gz", ph.labels, ph.affine)
    base = ["perfusion", str(f), "--te", "30", "--lesions", str(les), "--flip-angle", "60",
            "--preload", "yes", "--field-strength", "3", "--history", "untreated", "--out"]
    res = CliRunner().invoke(app, [*base, str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    # issue #19: "solitary" is an input; the measured value is shown, not silently dropped
    assert "needs advanced_imaging.solitary_enhancing_lesion (value" in res.output
    assert "give --solitary or --not-solitary" in res.output
    res = CliRunner().invoke(app, [*base, str(tmp_path / "b"), "--solitary"])
    assert res.exit_code == 0 and "DX-ROMANO2022" in res.output
    assert "give --solitary" not in res.output
