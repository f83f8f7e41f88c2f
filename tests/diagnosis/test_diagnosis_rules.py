"""Each rule fires at its cut-off (written here from diagnosis.md, not read from the thresholds
file), not on the wrong side; missing input -> not assessable; provenance and confidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from brainmets.diagnosis import interpret, possible_treatment_effect
from brainmets.diagnosis.facts import DiagnosisKnowledgeError

GBM, ABSCESS, RECURRENCE = "glioblastoma_vs_metastasis", "abscess", "recurrence_vs_necrosis"

# id: (metric, cut-off, direction, question, first source, confidence, tracer) from diagnosis.md
CUTOFFS = {
    # §1.4 R-DWI-1, §7.9 T1: cavity/NAWM ADC ratio < 1.7 (Fertikh; SINGLE-SOURCE)
    "T1": ("cavity_adc_ratio", 1.7, "<", ABSCESS, "DX-FERTIKH", "single_source", None),
    # §1.4 R-DWI-2: cavity ADC < 1.0 x10^-3 "our interpolation ... not a published threshold"
    "T1b": ("cavity_adc", 1.0, "<", ABSCESS, "DX-PMID15236124", "interpolated", None),
    # §2.7 R-PWI-1, §7.9 T2: perilesional max rCBV > 1.37 (Romano 2022)
    "T2": ("perilesional_max_rcbv", 1.37, ">", GBM, "DX-ROMANO2022", "single_source", None),
    # §2.7 R-PWI-2, §7.9 T3: PSR > 75% (Romano 2022)
    "T3": ("lesion_psr_percent", 75.0, ">", GBM, "DX-ROMANO2022", "single_source", None),
    # §2.7 R-PWI-2: "markedly low (e.g., < ~60%)": UNCERTAIN, between group means
    "T3b": ("lesion_psr_percent", 60.0, "<", GBM, "DX-CHA2007", "interpolated", None),
    # §2.7 R-PWI-3, §7.9 T4: max lesion rCBV / WM >= 2.00 (Hoefnagels 2009)
    "T4": ("lesion_max_rcbv_wm", 2.00, ">=", RECURRENCE, "DX-HOEFNAGELS2009", "single_source",
           None),
    # §2.7 R-PWI-3, §7.9 T5: rCBV / GM >= 1.85 (Hoefnagels 2009)
    "T5": ("lesion_max_rcbv_gm", 1.85, ">=", RECURRENCE, "DX-HOEFNAGELS2009", "single_source",
           None),
    # §3.5 R-MRS-1, §7.9 T6/T7: peritumoral Cho/NAA > 1.115, Cho/Cr > 1.18 (Egypt J Neurosurg)
    "T6": ("peritumoral_cho_naa", 1.115, ">", GBM, "DX-EGJNS2022", "single_source", None),
    "T7": ("peritumoral_cho_cr", 1.18, ">", GBM, "DX-EGJNS2022", "single_source", None),
    # §4.3 R-PET-1, §7.9 T8/T9: FET TBRmax >= 2.15, TBRmean >= 1.95 (Romagna 2016)
    "T8": ("pet_tbrmax", 2.15, ">=", RECURRENCE, "DX-ROMAGNA2016", "single_source", "fet"),
    "T9": ("pet_tbrmean", 1.95, ">=", RECURRENCE, "DX-ROMAGNA2016", "single_source", "fet"),
    # §4.3 R-PET-2, §7.9 T10: FDOPA SUVLmax/Bkgrmax >= 1.59 (Cicone 2015)
    "T10": ("pet_suvmax_ratio", 1.59, ">=", RECURRENCE, "DX-CICONE2015", "single_source",
            "fdopa"),
    # §4.3 R-PET-3, §7.9 T11: MET LNR >= 1.40 (PMC5674753)
    "T11": ("pet_suvmax_ratio", 1.40, ">=", RECURRENCE, "DX-MET2017", "single_source", "met"),
    # §2.4, §7.9 T12: peritumoral ASL CBF gradient > 1.92 mL/100 g/min (Lin 2016)
    "T12": ("peritumoral_asl_cbf_gradient", 1.92, ">", GBM, "DX-LIN2016", "single_source", None),
}
# what the rules need recorded besides the value (§2.7 R-PWI-2/4, §3.5 R-MRS-1, §4.3 R-PET-4)
CONTEXT = {"ring_enhancing": True, "solitary_enhancing_lesion": True,
           "dsc_leakage_corrected": True, "dsc_te_ms": 30.0, "dsc_field_strength_t": 3.0,
           "dsc_flip_angle_deg": 60.0, "dsc_preload": "yes", "rcbv_measurement": "hot_spot_roi",
           "mrs_te_ms": 144.0, "pet_background_method": "contralateral crescent VOI",
           "pet_uptake_window": "20-40 min p.i."}
UNTREATED = {"brain_metastases": {"lesions": [{"resected": False}]}}
IRRADIATED = {"radiation_history": [{"date": "2026-01-20", "modality": "srs", "dose_gy": 20,
                                     "fractions": 1}]}


def patient(tid: str, value: float | None, **extra) -> dict:
    metric, _, _, question, _, _, tracer = CUTOFFS[tid]
    ai = {**CONTEXT, "histology_confirmed": False, **extra}
    if value is not None:
        ai[metric] = value
    if tracer:
        ai["pet_tracer"] = tracer
    history = IRRADIATED if question == RECURRENCE else UNTREATED
    if question != RECURRENCE:
        ai.setdefault("previously_treated", False)
    return {**history, "advanced_imaging": ai}


def statement(tid: str, value: float | None, **extra):
    found = [s for s in interpret(patient(tid, value, **extra)) if s.threshold_id == tid]
    assert len(found) == 1, [s.id for s in interpret(patient(tid, value, **extra))]
    return found[0]


@pytest.mark.parametrize("tid", sorted(CUTOFFS))
def test_rule_fires_at_the_spec_cutoff_not_on_the_other_side(tid: str) -> None:
    _, cut, direction, question, source, confidence, _ = CUTOFFS[tid]
    upward = direction.startswith(">")
    step = 1e-3 * max(1.0, abs(cut))
    at = statement(tid, cut)
    assert at.status == ("supports" if direction in (">=", "<=") else "does_not_support"), at.text
    assert statement(tid, cut + step if upward else cut - step).status == "supports"
    short = statement(tid, cut - step if upward else cut + step)
    assert short.status == "does_not_support", short.text
    assert at.question_id == question and at.direction == direction
    assert at.sources[0] == source and source in at.text and at.citations[0]
    assert at.confidence == confidence
    assert "not a diagnosis" in at.text


@pytest.mark.parametrize("tid", sorted(t for t, v in CUTOFFS.items() if v[5] == "interpolated"))
def test_interpolated_cutoffs_say_so_and_never_claim_a_published_study(tid: str) -> None:
    st = statement(tid, CUTOFFS[tid][1] / 2)
    assert "interpolated" in st.text and "not a published threshold" in st.text
    assert "from a published study" not in st.text


@pytest.mark.parametrize("tid", sorted(CUTOFFS))
def test_missing_value_is_not_assessable(tid: str) -> None:
    if tid == "T1b":  # the absolute fallback speaks only when a cavity ADC is entered
        return
    st = statement(tid, None)
    metric = CUTOFFS[tid][0]
    assert st.status == "not_assessable" and f"advanced_imaging.{metric}" in st.missing
    assert "not assessable: needs" in st.text


def test_fet_tbrmax_cutoff_is_2_15_not_lower() -> None:
    # §4.2 Romagna 2016: TBRmax >= 2.15 (a cut-off of 1.15 would make 1.5 "support")
    assert statement("T8", 1.5).status == "does_not_support"
    assert statement("T8", 2.14).status == "does_not_support"


def test_solitary_is_an_input_not_inferred_from_one_lesion() -> None:
    p = patient("T2", 1.6)
    del p["advanced_imaging"]["solitary_enhancing_lesion"]
    p["brain_metastases"] = {"lesions": [{"diameter_mm": 20, "resected": False}]}
    st = [s for s in interpret(p) if s.threshold_id == "T2"][0]
    assert st.status == "not_assessable"  # one lesion listed is not "solitary"
    assert "advanced_imaging.solitary_enhancing_lesion" in st.missing
    p["brain_metastases"]["count"] = 1  # an entered count of one is
    assert [s for s in interpret(p) if s.threshold_id == "T2"][0].status == "supports"
    p["brain_metastases"]["count"] = 3
    assert [s for s in interpret(p) if s.threshold_id == "T2"][0].status == "not_applicable"
    p["advanced_imaging"]["solitary_enhancing_lesion"] = False
    p["brain_metastases"]["count"] = 1  # the entered flag wins
    assert [s for s in interpret(p) if s.threshold_id == "T2"][0].status == "not_applicable"


def test_psr_needs_protocol_recorded_and_value_shown() -> None:
    st = statement("T3", 80.0, dsc_preload="unknown")
    assert st.status == "not_assessable"
    assert "advanced_imaging.dsc_preload" in st.missing and "80" in st.text


def test_pet_method_gate_and_other_tracer() -> None:
    p = patient("T8", 3.0)
    del p["advanced_imaging"]["pet_uptake_window"]
    st = [s for s in interpret(p) if s.threshold_id == "T8"][0]
    assert st.status == "not_assessable" and "advanced_imaging.pet_uptake_window" in st.missing
    ids = {s.threshold_id for s in interpret(patient("T8", 3.0))}
    assert "T10" not in ids and "T11" not in ids  # FDOPA/MET rules do not apply to FET


def test_perfusion_reliability_gate() -> None:
    # §2.3 consensus TE 20-35 ms at 3 T; §2.7 R-PWI-4 downgrades every perfusion flag
    st = statement("T4", 3.0, dsc_te_ms=60.0)
    assert st.status == "supports" and st.reliability == "low" and "LOW RELIABILITY" in st.text
    assert statement("T4", 3.0, dsc_leakage_corrected=False).reliability == "low"
    assert statement("T4", 3.0).reliability == "standard"


def test_adc_unit_gate_blocks_adc_cutoffs() -> None:
    # §1.4 R-DWI-3: NAWM ADC outside 0.5-1.2 x10^-3 blocks the ADC rules
    out = interpret(patient("T1", 1.0, nawm_adc=4.9))
    gate = [s for s in out if s.rule_id == "R-DWI-3"][0]
    assert gate.confidence == "interpolated" and "interpolated" in gate.text
    assert [s for s in out if s.threshold_id == "T1"][0].status == "not_assessable"
    assert statement("T1", 1.0, nawm_adc=0.83).status == "supports"
    assert statement("T1", 1.0, nawm_adc=1.21).status == "not_assessable"
    assert statement("T1", 1.0, nawm_adc=0.49).status == "not_assessable"


def _romano(**ai):
    values = {"perilesional_max_rcbv": 1.5, "lesion_psr_percent": 80.0, "lesion_adc": 0.9,
              "lesion_adc_region": "solid_enhancing", **ai}
    p = patient("T2", values.pop("perilesional_max_rcbv"), **values)
    return [s for s in interpret(p) if s.rule_id == "R-PWI-1c"][0]


def test_romano_combined_rule() -> None:
    # §2.5 Romano 2022: perilesional max rCBV > 1.37, PSR > 75%, lesional ADC < 1.0 -> GB
    st = _romano()
    assert st.status == "supports" and "DX-ROMANO2022" in st.sources
    assert _romano(lesion_adc=1.0).status == "does_not_support"  # strict "<"
    assert _romano(lesion_psr_percent=75.0).status == "does_not_support"
    assert _romano(perilesional_max_rcbv=1.37).status == "does_not_support"


def test_lesion_adc_measured_elsewhere_lowers_reliability() -> None:
    # issue #19: the Romano lesional ADC is the solid enhancing part, not the whole lesion
    st = _romano(lesion_adc_region="whole_lesion")
    assert st.reliability == "low" and "solid enhancing part" in st.text
    assert _romano().reliability == "standard"


def test_rcbv_not_from_a_hot_spot_roi_lowers_reliability() -> None:
    st = statement("T4", 2.5, rcbv_measurement="voxel_max")
    assert st.reliability == "low" and "hot-spot" in st.text
    unknown = statement("T4", 2.5, rcbv_measurement=None)
    assert any("not recorded" in n for n in unknown.notes)


def test_fet_time_activity_curve_is_an_input() -> None:
    # §4.2-4.3 Romagna 2016: decreasing TAC favours recurrence, increasing favours radiation
    for pattern, status in (("decreasing", "supports"), ("increasing", "does_not_support")):
        out = interpret(patient("T8", 2.0, pet_tac_pattern=pattern))
        tac = [s for s in out if s.metric == "pet_tac_pattern"]
        assert len(tac) == 1 and tac[0].status == status
        assert tac[0].sources[0] == "DX-ROMAGNA2016" and tac[0].question_id == RECURRENCE


def test_lipid_lactate_is_used_for_the_abscess_question() -> None:
    # §3.4 Lai 2002: lipid/lactate in tumour and abscess spectra: it does not separate them
    out = interpret(patient("T1", 1.0, lipid_lactate=True))
    ll = [s for s in out if s.metric == "lipid_lactate"]
    assert len(ll) == 1 and ll[0].sources == ["DX-LAI2002"] and ll[0].question_id == ABSCESS
    assert "does not separate" in ll[0].text


def test_overrides_are_configurable_and_reported(tmp_path: Path, monkeypatch) -> None:
    p = patient("T4", 2.1)
    assert [s for s in interpret(p) if s.threshold_id == "T4"][0].status == "supports"
    st = [s for s in interpret(p, overrides={"T4": 2.2}) if s.threshold_id == "T4"][0]
    assert st.status == "does_not_support" and st.default_cutoff == 2.0
    assert "changed by the user" in st.text
    f = tmp_path / "cut.toml"
    f.write_text("[cutoffs]\nT4 = 2.5\n")
    monkeypatch.setenv("BRAINMETS_DIAGNOSIS_THRESHOLDS", str(f))
    assert [s for s in interpret(p) if s.threshold_id == "T4"][0].cutoff == 2.5
    with pytest.raises(DiagnosisKnowledgeError, match="unknown id"):
        interpret(p, overrides={"T99": 1.0})


def test_time_since_srs_context_and_treatment_effect_branch() -> None:
    # §2.6 Narloch 2017: 68.6% RN only; recurrence 52.5% (<= 9 months) vs 6.3% (> 9 months)
    out = interpret(patient("T4", 2.5, months_since_srs=6))
    ctx = [s for s in out if s.rule_id == "R-PWI-6"][0]
    assert ctx.status == "display_only" and "52.5%" in ctx.text and "6.3%" in ctx.text
    assert "68.6%" in ctx.text and "9 months" in ctx.text
    branch = possible_treatment_effect(out)
    assert {s.threshold_id for s in branch} >= {"T4", "T5"}
    assert all(s.question_id == RECURRENCE for s in branch)


def test_baseline_hypoperfusion_note() -> None:
    st = statement("T4", 2.5, pre_srs_hyperperfused=False)
    assert "R-PWI-5" in st.text and any("amino-acid PET" in n for n in st.notes)
    assert "R-PWI-5" not in statement("T4", 2.5, pre_srs_hyperperfused=True).text
