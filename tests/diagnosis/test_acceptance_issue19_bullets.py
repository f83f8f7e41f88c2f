"""One test per bullet at the top of issue #19, through the public entry points that existed
before the issue (``interpret``, ``context``, ``run_adc``, ``run_perfusion``, ``assess``, the
CLI), so each one fails on the old code for the reason the bullet names. Expected values come
from diagnosis.md (section in each comment)."""

from __future__ import annotations

import json
from pathlib import Path

from brainmets.diagnosis import context, interpret

# ------------------------------------------------ bullet 0: the aids reach the clinician


def test_assess_json_and_text_carry_the_diagnosis_block(cases) -> None:
    from brainmets.assessment import assess
    from brainmets.report.text import render_assessment

    a = assess(cases.resected())
    d = json.loads(a.model_dump_json())["diagnosis"]  # CONTRACT §2 `diagnosis`
    assert d["statements"] and d["context"]["epidemiology"] and d["context"]["screening"]
    assert "Diagnosis aids" in render_assessment(a)


def test_adc_command_prints_the_statements_it_triggers(tmp_path: Path, phantom) -> None:
    from typer.testing import CliRunner

    from brainmets.cli import app

    ph = phantom.make()
    dwi, _ = phantom.dwi(ph, [0, 1000, 1000, 1000], cavity_adc=0.7)  # abscess-like cavity
    f = phantom.save(tmp_path / "dwi.nii.gz", dwi, ph.affine)
    bv = tmp_path / "dwi.bval"
    bv.write_text("0 1000 1000 1000\n")
    les = phantom.save(tmp_path / "les.nii.gz", ph.labels, ph.affine)
    res = CliRunner().invoke(app, ["adc", str(f), "--bval", str(bv), "--out",
                                   str(tmp_path / "o"), "--lesions", str(les)])
    assert res.exit_code == 0, res.output
    # §1.4 R-DWI-1 (Fertikh): cavity/NAWM ADC < 1.7 -> abscess must be excluded
    assert "DX-FERTIKH" in res.output and "abscess" in res.output


# ------------------------------------------------ bullet 1: wrong question asked


def test_resected_irradiated_metastasis_gets_no_glioblastoma_statement(cases) -> None:
    statements = interpret(cases.resected())  # breast, resected, SRS 7 months ago
    assert statements
    assert not [s.text for s in statements if "glioblastoma" in s.text.lower()]
    assert any(s.threshold_id == "T4" and s.status == "supports" for s in statements)


def test_one_listed_lesion_is_not_assumed_solitary(cases) -> None:
    rec = cases.untreated()
    del rec["brain_metastases"]["count"]
    del rec["advanced_imaging"]["solitary_enhancing_lesion"]
    t2 = [s for s in interpret(rec) if s.threshold_id == "T2"][0]
    assert t2.status != "supports"  # R-PWI-1 needs a solitary lesion (§2.7): an input


# ------------------------------------------------ bullet 2: provenance that overstates


def test_interpolated_cut_offs_do_not_claim_a_study(cases) -> None:
    # §1.4 R-DWI-2 (cavity ADC < 1.0) and §2.7 R-PWI-2 (PSR < ~60%) are interpolations
    rec = cases.untreated(lesion_psr_percent=50)
    for key in ("cavity_adc_ratio", "nawm_adc"):
        rec["advanced_imaging"].pop(key)
    by_id = {s.threshold_id: s for s in interpret(rec)}
    for tid in ("T1b", "T3b"):
        assert "interpolated" in by_id[tid].text and "from a published study" not in \
            by_id[tid].text


# ------------------------------------------------ bullet 3: wrong inputs


def test_adc_lesion_value_is_the_solid_enhancing_part(tmp_path: Path, phantom) -> None:
    from brainmets.diagnosis.dwi import run_adc

    ph = phantom.make()  # enhancing rim ADC 1.1, cavity 2.4 (x10^-3 mm^2/s)
    dwi, _ = phantom.dwi(ph, [0, 1000, 1000, 1000], cavity_adc=2.4)
    f = phantom.save(tmp_path / "dwi.nii.gz", dwi, ph.affine)
    bv = tmp_path / "dwi.bval"
    bv.write_text("0 1000 1000 1000\n")
    les = phantom.save(tmp_path / "les.nii.gz", ph.labels, ph.affine)
    values = run_adc(f, bv, None, tmp_path / "o", les)["lesions"][0]["advanced_imaging"]
    # §2.5 Romano 2022: lesional ADC of the enhancing solid part
    assert abs(values["lesion_adc"] - 1.1) < 0.1


def test_voxel_max_rcbv_is_marked_as_differing_from_the_study(cases) -> None:
    t4 = [s for s in interpret(cases.resected(rcbv_measurement="voxel_max"))
          if s.threshold_id == "T4"][0]
    assert t4.reliability == "low" and "hot-spot" in t4.text


def test_mrs_lipid_lactate_input_is_used(cases) -> None:
    texts = [s.text for s in interpret(cases.untreated(lipid_lactate=True))]
    assert any("lipid/lactate" in t.lower() for t in texts)  # §3.4 Lai 2002


def test_fet_time_activity_curve_is_an_input(cases) -> None:
    statements = interpret(cases.resected(pet_tac_pattern="decreasing"))
    # §4.3 R-PET-1: a decreasing TAC supports recurrence
    assert any("time-activity" in s.text and s.status == "supports" for s in statements)


# ------------------------------------------------ bullet 4: citations and context


def test_egfr_discordance_is_cited_to_kim_2019() -> None:
    from brainmets.diagnosis.discordance import discordance_notes
    from brainmets.model import parse_patient

    p = parse_patient({"primary": {"site": "nsclc", "egfr": "negative"},
                       "brain_metastasis_markers": {"egfr": "positive", "source": "resection"}})
    notes = [n for n in discordance_notes(p) if "EGFR" in n]
    assert notes and "DX-KIM2019" in notes[0] and "DX-BRASTIANOS2015" not in notes[0]  # §6.1


def test_paediatric_figure_carries_a_source_the_spec_gives() -> None:
    c = context("breast")
    row = [r for r in c["unconfirmed_claims"] if "paediatric" in r["claim"]][0]
    # §5.2: 1-10% is Kumar & Rotondo's figure (Nayak 2012 gives the adult 9-17%)
    assert row["sources"] == ["DX-KUMARROTONDO"]


def test_the_seeds_sex_claim_is_listed_as_unconfirmed() -> None:
    claims = " ".join(r["claim"] for r in context("breast")["unconfirmed_claims"])
    assert "women" in claims  # §5.1/§5.2: 'women' is not in the Barnholtz-Sloan abstract


def test_yearly_us_estimates_come_with_the_seer_synchronous_rate() -> None:
    c = context("nsclc")
    rows = [r for r in c["general"] + c["unconfirmed_claims"]
            if "70,000" in r.get("text", r.get("display", ""))]
    assert rows and all("7.1-7.3 per 100,000" in r.get("text", r.get("display", ""))
                        for r in rows)  # §5.2


def test_nsclc_and_sclc_have_their_own_screening_rows() -> None:
    nsclc = " | ".join(r["text"] for r in context("nsclc")["screening"])
    sclc = " | ".join(r["text"] for r in context("sclc")["screening"])
    # §5.3: NCCN 2018 patient guideline is NSCLC-only; SCLC: imaging for all (CATS 2018)
    assert "NCCN (patient guideline 2018) NSCLC" in nsclc
    assert "NCCN (patient guideline 2018) NSCLC" not in sclc
    assert "brain imaging recommended for all" in sclc
    assert "brain imaging recommended for all" not in nsclc
