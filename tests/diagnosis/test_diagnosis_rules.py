"""Each rule fires at its cut-off, not on the wrong side; missing input -> not assessable."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest

from brainmets.diagnosis import interpret, possible_treatment_effect
from brainmets.diagnosis._kb import THRESHOLDS_FILE, DiagnosisKnowledgeError

TABLE = {t["id"]: t for t in tomllib.loads(THRESHOLDS_FILE.read_text())["threshold"]}
RECORDED = {"dsc_te_ms": 30.0, "dsc_flip_angle_deg": 60.0, "dsc_preload": "yes",
            "mrs_te_ms": 144.0, "pet_background_method": "contralateral crescent VOI",
            "pet_uptake_window": "20-40 min p.i."}
STANDALONE = [tid for tid in TABLE if tid != "T2c"]


def _patient(tid: str, value: float) -> dict:
    t = TABLE[tid]
    ai = {t["metric"]: value, "dsc_leakage_corrected": True, "dsc_field_strength_t": 3.0}
    for cond in t.get("requires_true", []):
        ai[cond] = True
    for field in t.get("requires_recorded", []):
        ai[field] = RECORDED[field]
    if "tracer" in t:
        ai["pet_tracer"] = t["tracer"]
    return {"advanced_imaging": ai}


def _statement(tid: str, value: float):
    found = [s for s in interpret(_patient(tid, value)) if s.threshold_id == tid
             and s.rule_id == TABLE[tid]["rule"]]
    assert len(found) == 1, [s.threshold_id for s in interpret(_patient(tid, value))]
    return found[0]


@pytest.mark.parametrize("tid", STANDALONE)
def test_rule_fires_at_cutoff_not_on_the_other_side(tid: str) -> None:
    t = TABLE[tid]
    cut = float(t["cutoff"])
    inclusive = t["direction"] in (">=", "<=")
    upward = t["direction"].startswith(">")
    at = _statement(tid, cut)
    assert at.status == ("supports" if inclusive else "does_not_support"), at.text
    step = 1e-3 * max(1.0, abs(cut))
    beyond = _statement(tid, cut + step if upward else cut - step)
    assert beyond.status == "supports", beyond.text
    short = _statement(tid, cut - step if upward else cut + step)
    assert short.status == "does_not_support", short.text
    # provenance: cut-off, study id and confidence in the statement and its text
    assert at.cutoff == pytest.approx(cut)
    assert t["sources"][0] in at.text and at.sources == t["sources"]
    assert at.confidence == t["confidence"]
    assert "not a diagnosis" in beyond.text
    assert all(c for c in at.citations)


@pytest.mark.parametrize("tid", STANDALONE)
def test_missing_value_is_not_assessable(tid: str) -> None:
    p = _patient(tid, 1.0)
    del p["advanced_imaging"][TABLE[tid]["metric"]]
    st = [s for s in interpret(p) if s.threshold_id == tid and s.rule_id == TABLE[tid]["rule"]]
    assert st, tid
    assert st[0].status == "not_assessable"
    assert f"advanced_imaging.{TABLE[tid]['metric']}" in st[0].missing
    assert "not assessable: needs" in st[0].text


def test_no_advanced_imaging_at_all_is_not_assessable() -> None:
    out = interpret({"age": 60})
    assert out and all(s.status in ("not_assessable", "not_applicable") for s in out)


def test_context_false_is_not_applicable() -> None:
    p = _patient("T4", 3.0)
    p["advanced_imaging"]["prior_srs"] = False
    st = [s for s in interpret(p) if s.threshold_id == "T4"][0]
    assert st.status == "not_applicable"


def test_prior_srs_taken_from_lesion_list() -> None:
    p = _patient("T4", 3.0)
    del p["advanced_imaging"]["prior_srs"]
    p["brain_metastases"] = {"lesions": [{"prior_srs": True}]}
    assert [s for s in interpret(p) if s.threshold_id == "T4"][0].status == "supports"


def test_psr_needs_protocol_recorded_and_value_shown() -> None:
    p = _patient("T3", 80.0)
    p["advanced_imaging"]["dsc_preload"] = "unknown"
    st = [s for s in interpret(p) if s.threshold_id == "T3"][0]
    assert st.status == "not_assessable"
    assert "advanced_imaging.dsc_preload" in st.missing and "80" in st.text


def test_pet_method_gate_and_other_tracer() -> None:
    p = _patient("T8", 3.0)
    del p["advanced_imaging"]["pet_uptake_window"]
    st = [s for s in interpret(p) if s.threshold_id == "T8"][0]
    assert st.status == "not_assessable" and "advanced_imaging.pet_uptake_window" in st.missing
    ids = {s.threshold_id for s in interpret(_patient("T8", 3.0))}
    assert "T10" not in ids and "T11" not in ids  # FDOPA/MET rules do not apply to FET


def test_perfusion_reliability_gate() -> None:
    p = _patient("T4", 3.0)
    p["advanced_imaging"]["dsc_te_ms"] = 60.0
    st = [s for s in interpret(p) if s.threshold_id == "T4"][0]
    assert st.status == "supports" and st.reliability == "low" and "LOW RELIABILITY" in st.text
    p["advanced_imaging"]["dsc_te_ms"] = 30.0
    p["advanced_imaging"]["dsc_leakage_corrected"] = False
    assert [s for s in interpret(p) if s.threshold_id == "T4"][0].reliability == "low"
    p["advanced_imaging"]["dsc_leakage_corrected"] = True
    assert [s for s in interpret(p) if s.threshold_id == "T4"][0].reliability == "standard"


def test_adc_unit_gate_blocks_adc_cutoffs() -> None:
    p = _patient("T1", 1.0)
    p["advanced_imaging"]["nawm_adc"] = 4.9  # implausible for white matter: scaling error
    out = interpret(p)
    assert any(s.rule_id == "R-DWI-3" for s in out)
    assert [s for s in out if s.threshold_id == "T1"][0].status == "not_assessable"
    p["advanced_imaging"]["nawm_adc"] = 0.83
    assert [s for s in interpret(p) if s.threshold_id == "T1"][0].status == "supports"


def test_romano_combined_rule() -> None:
    ai = {"solitary_enhancing_lesion": True, "perilesional_max_rcbv": 1.5,
          "lesion_psr_percent": 80.0, "lesion_adc": 0.9, **RECORDED,
          "dsc_leakage_corrected": True, "dsc_field_strength_t": 3.0}
    st = [s for s in interpret({"advanced_imaging": ai}) if s.rule_id == "R-PWI-1c"][0]
    assert st.status == "supports" and "DX-ROMANO2022" in st.sources
    ai["lesion_adc"] = 1.0  # cut-off is strict "<"
    st = [s for s in interpret({"advanced_imaging": ai}) if s.rule_id == "R-PWI-1c"][0]
    assert st.status == "does_not_support" and "not met" in st.text


def test_overrides_are_configurable_and_reported(tmp_path: Path, monkeypatch) -> None:
    p = _patient("T4", 2.1)
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
    p = _patient("T4", 2.5)
    p["advanced_imaging"]["months_since_srs"] = 6
    out = interpret(p)
    ctx = [s for s in out if s.rule_id == "R-PWI-6"][0]
    assert ctx.status == "display_only" and "52.5%" in ctx.text
    branch = possible_treatment_effect(out)
    assert {s.threshold_id for s in branch} >= {"T4", "T5"}
    assert all(not math.isnan(s.cutoff) for s in branch if s.cutoff is not None)


def test_baseline_hypoperfusion_note() -> None:
    p = _patient("T4", 2.5)
    p["advanced_imaging"]["pre_srs_hyperperfused"] = False
    st = [s for s in interpret(p) if s.threshold_id == "T4"][0]
    assert "R-PWI-5" in st.text and any("amino-acid PET" in n for n in st.notes)
    p["advanced_imaging"]["pre_srs_hyperperfused"] = True
    assert "R-PWI-5" not in [s for s in interpret(p) if s.threshold_id == "T4"][0].text


def test_summary_lines() -> None:
    from brainmets.diagnosis import summary_lines

    lines = summary_lines(interpret(_patient("T4", 2.5)))
    assert len(lines) == 1 and lines[0].startswith("R-PWI-3 (DX-HOEFNAGELS2009, single_source)")
