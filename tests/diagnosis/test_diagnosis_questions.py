"""Each question is asked only for the lesion history it fits (issue #19), and the assessment
carries the diagnosis block (statements + sourced epidemiology and screening context)."""

from __future__ import annotations

import json

import pytest

from brainmets.diagnosis import interpret
from brainmets.diagnosis.block import diagnosis_block
from brainmets.model import parse_patient

GBM, ABSCESS, RECURRENCE = "glioblastoma_vs_metastasis", "abscess", "recurrence_vs_necrosis"

# every advanced-imaging input the rules read (values on the "supports" side of every cut-off)
FULL = {"solitary_enhancing_lesion": True, "ring_enhancing": True, "cavity_adc_ratio": 1.2,
        "lesion_adc": 0.9, "lesion_adc_region": "solid_enhancing", "nawm_adc": 0.8,
        "perilesional_max_rcbv": 1.6, "lesion_max_rcbv_wm": 2.5, "lesion_max_rcbv_gm": 1.9,
        "lesion_psr_percent": 80.0, "rcbv_measurement": "hot_spot_roi",
        "dsc_leakage_corrected": True, "dsc_te_ms": 30.0, "dsc_field_strength_t": 3.0,
        "dsc_flip_angle_deg": 60.0, "dsc_preload": "yes", "pre_srs_hyperperfused": True,
        "peritumoral_cho_naa": 1.5, "peritumoral_cho_cr": 1.4, "lesional_cho_cr": 2.0,
        "lesional_cho_naa": 2.5, "mrs_te_ms": 144.0, "mrs_field_strength_t": 3.0,
        "abscess_peaks": False, "lipid_lactate": True, "pet_tracer": "fet", "pet_tbrmax": 2.4,
        "pet_tbrmean": 2.0, "pet_background_method": "contralateral crescent VOI",
        "pet_uptake_window": "20-40 min p.i.", "pet_tac_pattern": "decreasing",
        "peritumoral_asl_cbf_gradient": 2.5, "months_since_srs": 7.0}


def _record(**over) -> dict:
    rec = {"id": "P", "age": 60, "kps": 80, "primary": {"site": "breast", "her2": "negative"},
           "extracranial_metastases": True,
           "brain_metastases": {"count": 1, "lesions": [{"diameter_mm": 22.0}]},
           "advanced_imaging": dict(FULL)}
    rec.update(over)
    return rec


def _resected_irradiated() -> dict:
    return _record(brain_metastases={"count": 1, "lesions": [
                       {"id": "L1", "diameter_mm": 22.0, "resected": True}]},
                   radiation_history=[{"date": "2026-01-20", "modality": "srs",
                                       "lesion_ids": ["L1"], "dose_gy": 27, "fractions": 3}])


def _untreated() -> dict:
    rec = _record(brain_metastases={"count": 1, "lesions": [
        {"diameter_mm": 22.0, "resected": False, "enhancement": "ring"}]})
    rec["advanced_imaging"].update(histology_confirmed=False, previously_treated=False)
    return rec


def _questions(rec: dict) -> set[str]:
    return {s.question_id for s in interpret(rec) if s.question_id != "qc"}


def test_resected_irradiated_metastasis_no_glioblastoma_differential() -> None:
    block = diagnosis_block(parse_patient(_resected_irradiated()))
    assert block.statements and all(s.source and s.citations for s in block.statements)
    assert {s.question for s in block.statements} == {RECURRENCE}
    assert "glioblastoma" not in block.model_dump_json().lower()
    assert "favour glioblastoma" not in block.model_dump_json().lower()
    assert [q.id for q in block.questions] == [RECURRENCE]
    assert block.not_asked and "treated" in block.not_asked[0]
    assert any(s.status == "supports" and s.source == "DX-HOEFNAGELS2009"
               for s in block.statements)
    _assert_context(block)


def test_untreated_solitary_ring_enhancing_lesion_gets_the_differential() -> None:
    block = diagnosis_block(parse_patient(_untreated()))
    questions = {s.question for s in block.statements}
    assert questions == {GBM, ABSCESS}
    assert any(s.status == "supports" and s.source == "DX-ROMANO2022" for s in block.statements)
    assert any(s.status == "supports" and s.source == "DX-FERTIKH" for s in block.statements)
    assert all(s.source and s.citations and s.confidence for s in block.statements)
    assert RECURRENCE not in questions and block.not_asked
    _assert_context(block)


def _assert_context(block) -> None:
    epi, screening = block.context.epidemiology, block.context.screening
    assert epi and screening
    assert all(r.source and r.sources and r.confidence for r in epi + screening)
    assert any("5.1%" in r.text for r in epi)  # §5.1 Barnholtz-Sloan: breast 5.1%
    assert any("ASCO" in r.text for r in screening) and any("EANO" in r.text for r in screening)


@pytest.mark.parametrize("courses, ai, asked", [
    ([], {"previously_treated": False}, {GBM, ABSCESS}),
    ([{"modality": "srs"}], {}, {RECURRENCE}),
    ([{"modality": "fsrt"}], {}, {RECURRENCE}),
    ([{"modality": "wbrt"}], {}, {RECURRENCE}),
    ([{"modality": "ha_wbrt"}], {}, {RECURRENCE}),
    ([{"modality": "surgery"}], {}, set()),
    ([{"modality": "litt"}], {}, set()),
    ([{"modality": "surgery"}, {"modality": "srs"}], {}, {RECURRENCE}),
])
def test_each_question_only_for_its_history(courses: list, ai: dict, asked: set[str]) -> None:
    rec = _record(radiation_history=courses, brain_metastases={"lesions": [{"resected": False}]})
    rec["advanced_imaging"].update(histology_confirmed=False, **ai)
    assert _questions(rec) == asked


def test_empty_radiation_history_is_not_read_as_untreated() -> None:
    # CONTRACT §1: absent means unknown; a stored record turns absent into [], so [] is unknown
    rec = _record(radiation_history=[], brain_metastases={"lesions": [{"resected": False}]})
    assert _questions(rec) == {GBM, ABSCESS, RECURRENCE}
    t4 = [s for s in interpret(rec) if s.threshold_id == "T4"][0]
    assert any("applies only to an irradiated lesion" in n for n in t4.notes)


def test_resection_or_known_histology_closes_the_differential() -> None:
    rec = _record(brain_metastases={"lesions": [{"resected": True}]})
    assert GBM not in _questions(rec) and ABSCESS not in _questions(rec)
    rec = _record(brain_metastases={"lesions": [{"resected": False}]})
    rec["advanced_imaging"].update(histology_confirmed=True, previously_treated=False)
    assert _questions(rec) == set()
    rec["advanced_imaging"].update(histology_confirmed=None, previously_treated=True)
    assert _questions(rec) == {RECURRENCE}  # treated, modality unknown: asked with a caveat


def test_prior_srs_flag_asks_recurrence_only() -> None:
    rec = _record(brain_metastases={"lesions": [{"resected": False}]})
    rec["advanced_imaging"]["prior_srs"] = True
    assert _questions(rec) == {RECURRENCE}
    rec = _record(brain_metastases={"lesions": [{"resected": False, "prior_srs": True}]})
    assert _questions(rec) == {RECURRENCE}


def test_focal_treatment_of_another_lesion_does_not_count() -> None:
    rec = _record(radiation_history=[{"modality": "srs", "lesion_ids": ["L2"]}],
                  brain_metastases={"lesions": [{"id": "L1", "resected": False},
                                                {"id": "L2", "resected": False}]})
    rec["advanced_imaging"].update(lesion_id="L1", histology_confirmed=False)
    assert _questions(rec) == {GBM, ABSCESS}
    rec["advanced_imaging"]["lesion_id"] = "L2"
    assert _questions(rec) == {RECURRENCE}


def test_unrecorded_history_asks_with_a_caveat() -> None:
    rec = _record()  # no radiation_history, resection not recorded
    out = interpret(rec)
    assert {s.question_id for s in out} >= {GBM, ABSCESS, RECURRENCE}
    t2 = [s for s in out if s.threshold_id == "T2"][0]
    assert any("applies only to an untreated lesion" in n for n in t2.notes)
    t4 = [s for s in out if s.threshold_id == "T4"][0]
    assert any("applies only to an irradiated lesion" in n for n in t4.notes)


def test_wbrt_only_lesion_notes_that_the_study_population_had_srs() -> None:
    rec = _record(radiation_history=[{"modality": "wbrt"}])
    t4 = [s for s in interpret(rec) if s.threshold_id == "T4"][0]
    assert any("radiosurgery" in n and "wbrt" in n for n in t4.notes)


def test_assessment_json_and_text_carry_the_block() -> None:
    from brainmets.assessment import assess
    from brainmets.report.text import render_assessment

    a = assess(_resected_irradiated())
    data = json.loads(a.model_dump_json())
    d = data["diagnosis"]
    assert set(d) >= {"summary", "statements", "context", "questions", "not_asked"}
    st = d["statements"][0]
    assert set(st) >= {"id", "text", "question", "cutoff", "source", "confidence"}
    t4 = [s for s in d["statements"] if s["id"] == "R-PWI-3:T4"][0]
    assert t4["cutoff"] == ">= 2 ratio" and t4["source"] == "DX-HOEFNAGELS2009"
    assert set(d["context"]) >= {"epidemiology", "screening"}
    text = render_assessment(a)
    assert "Diagnosis aids" in text and "DX-HOEFNAGELS2009" in text
    assert "glioblastoma" not in text.lower()


def test_no_advanced_imaging_says_so() -> None:
    rec = _record(brain_metastases={"count": 3})
    del rec["advanced_imaging"]
    block = diagnosis_block(parse_patient(rec))
    assert block.statements == [] and "no advanced-imaging values" in block.summary
    assert block.context.epidemiology  # context is shown without imaging values
    # a solitary lesion whose history is not recorded: the open question is named, sourced
    rec = _record()
    del rec["advanced_imaging"]
    block = diagnosis_block(parse_patient(rec))
    assert [s.question for s in block.statements] == [GBM]
    assert block.statements[0].status == "display_only" and block.statements[0].source
