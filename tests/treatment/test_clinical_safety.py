"""Issue #15: one worked case per clinical-safety bullet, written from the spec.

Expected values come from ../shared/reference/treatment.md "Project decisions after the clinical
review" (decision numbers cited per test) and CONTRACT §1-§2; each case failed on the old
behaviour (unknown read as negative, drug under not_recommended, grades copied, ...).
"""

from __future__ import annotations

import json

from typer.testing import CliRunner

from brainmets.assessment import assess
from brainmets.model import PrognosticEstimate, parse_patient

SYSTEMIC_TARGETED = ("osimertinib", "icotinib", "alectinib", "brigatinib", "ceritinib")
# treatment.md §1.1-§5: the MUST-NOT rules (a source advises against the option)
MUST_NOT_IDS = {"radiation_therapy", "srs", "cavity_srs", "wbrt", "ha_wbrt", "srs_plus_wbrt",
                "temozolomide", "radiosensitizer", "crizotinib", "observation_alone",
                "dexamethasone", "antiseizure_medication"}


def _site(site, **markers):
    return {"primary": {"site": site, "histology": None, "egfr": None, "alk": None, "ros1": None,
                        **markers}}


def _nsclc(**markers):
    return {"primary": {"site": "nsclc", "histology": "adenocarcinoma", **markers}}


# ---------------------------------------------------------------- decision 1: unknown != negative


def test_unknown_egfr_alk_is_not_negative_for_chemo_immunotherapy(run, mk_lesions):
    r = run({**_nsclc(egfr="unknown", alk="unknown", pdl1_tps=60),
             "therapy": {"planned_pemetrexed_platinum": True}},
            replace_lesions=mk_lesions(10, 15))
    for oid in ("pembrolizumab_pemetrexed_platinum", "immune_checkpoint_inhibitor"):
        assert oid not in r.ids
        assert {"primary.egfr", "primary.alk"} <= set(r.awaiting[oid].needs)
        assert "complete driver testing before choosing systemic therapy" in r.awaiting[oid].reason
    assert set(r.awaiting["osimertinib"].needs) == {"primary.egfr"}
    assert set(r.awaiting["alectinib"].needs) == {"primary.alk"}
    assert any("complete driver testing" in w.lower() for w in r.warnings)
    assert "srs" in r.ids  # local therapy per R3.x does not wait for the driver result


def test_egfr_alk_negative_other_drivers_untested_keeps_ici_with_a_note(run, mk_lesions):
    # decision 1: ICI applies when EGFR/ALK known negative and no other driver *recorded positive*
    r = run({**_nsclc(egfr="negative", alk="negative", ros1=None, pdl1_tps=60),
             "therapy": {"planned_pemetrexed_platinum": True}},
            replace_lesions=mk_lesions(10, 15))
    assert "pembrolizumab_pemetrexed_platinum" in r.ids
    assert any("complete driver testing" in n for n in r.by_id["immune_checkpoint_inhibitor"].notes)


# ---------------------------------------------------------------- decision 2: other drivers


def test_ros1_gets_driver_targeted_therapy_not_chemo_immunotherapy(run, mk_lesions):
    r = run({**_nsclc(egfr="negative", alk="negative", ros1="positive", pdl1_tps=60),
             "therapy": {"planned_pemetrexed_platinum": True}},
            replace_lesions=mk_lesions(10, 15))
    assert "pembrolizumab_pemetrexed_platinum" not in r.ids
    assert "immune_checkpoint_inhibitor" not in r.ids
    assert "ROS1" in r.na["pembrolizumab_pemetrexed_platinum"].reason
    dt = r.by_id["driver_targeted_therapy"]
    assert dt.mdt and not dt.defers_local_therapy and "ROS1" in dt.rationale
    assert "EANO21 NSCLC (EGFR/ALK/ROS1 targeted)" in r.src("driver_targeted_therapy") or any(
        s.id == "EANO21" and s.strength == "[II,B; III,B]" for s in dt.sources)
    assert "srs" in r.ids  # plus local therapy per R3.x


def test_kras_g12c_excludes_chemo_immunotherapy_and_is_not_graded_by_asco(run, mk_lesions):
    r = run({**_nsclc(egfr="negative", alk="negative", kras_g12c="positive", pdl1_tps=80)},
            replace_lesions=mk_lesions(10))
    assert "immune_checkpoint_inhibitor" not in r.ids
    asco = [s for s in r.by_id["driver_targeted_therapy"].sources if s.id == "ASCO22"]
    assert asco and asco[0].strength == "not graded" and asco[0].grade_reason


# ---------------------------------------------------------------- decision 3: EGFR exon 20


def test_egfr_exon20_insertion_is_not_egfr_mutant_for_r23(run, mk_lesions):
    r = run(_nsclc(egfr="positive", egfr_variant="exon20_insertion", alk="negative",
                   pdl1_tps=60), replace_lesions=mk_lesions(8, 12))
    assert "osimertinib" not in r.ids and "icotinib" not in r.ids
    assert not any(o.defers_local_therapy for o in r.options)
    assert "osimertinib" in r.na and "exon 20" in r.na["osimertinib"].reason
    assert "driver_targeted_therapy" in r.ids
    assert "immune_checkpoint_inhibitor" not in r.ids


# ---------------------------------------------------------------- decision 4: symptoms vs drug


def test_symptomatic_egfr_keeps_the_drug_without_deferral(run, mk_lesions):
    r = run({**_nsclc(egfr="positive", egfr_variant="common", alk="negative"),
             "symptoms": {"status": "symptomatic", "severe_icp": False},
             "therapy": {"dexamethasone_mg_day": 8}}, replace_lesions=mk_lesions(15, 22))
    for drug in ("osimertinib", "icotinib"):
        assert drug in r.ids and drug not in r.nr
        assert not r.by_id[drug].defers_local_therapy
        # the R2.3 population (asymptomatic) excludes this patient: not shown as R2.3's option
        assert "ASCO22 R2.3" not in r.src(drug)
    assert "srs" in r.ids
    assert r.timing is not None and not r.timing.may_defer
    assert "ASCO22 R2.1" in r.timing_src()


def test_symptomatic_alk_keeps_the_drug_without_deferral(run, mk_lesions):
    r = run({**_nsclc(egfr="negative", alk="positive"),
             "symptoms": {"status": "symptomatic", "severe_icp": False}},
            replace_lesions=mk_lesions(12))
    assert "alectinib" in r.ids and not r.by_id["alectinib"].defers_local_therapy
    assert "alectinib" not in r.nr


# ---------------------------------------------------------------- decision 5: naive populations


def test_melanoma_on_immunotherapy_gets_no_ipi_nivo_deferral(run, mk_lesions):
    r = run({**_site("melanoma", braf="negative"),
             "therapy": {"on_immunotherapy": True, "immunotherapy_naive": False}},
            replace_lesions=mk_lesions(8, 10))
    assert "ipilimumab_nivolumab" not in r.ids
    assert "ipilimumab_nivolumab" in r.na and "immunotherapy-naive" in r.na[
        "ipilimumab_nivolumab"].reason
    assert not any(o.defers_local_therapy for o in r.options)
    assert "srs" in r.ids
    assert r.timing.mdt and not r.timing.may_defer and "MDT" in r.timing.statement


def test_braf_melanoma_after_ici_dabrafenib_without_deferral(run, mk_lesions):
    r = run({**_site("melanoma", braf="positive"),
             "therapy": {"on_immunotherapy": False, "immunotherapy_naive": False}},
            replace_lesions=mk_lesions(8, 10))
    assert "dabrafenib_trametinib" in r.ids
    assert not r.by_id["dabrafenib_trametinib"].defers_local_therapy


def test_her2_without_prior_therapies_recorded_is_awaiting(run, mk_lesions):
    r = run({**_site("breast", her2="positive"),
             "therapy": {"prior_her2_therapies": []}}, replace_lesions=mk_lesions(8))
    assert "tucatinib_trastuzumab_capecitabine" not in r.ids
    assert "therapy.prior_her2_therapies" in r.awaiting[
        "tucatinib_trastuzumab_capecitabine"].needs


# ---------------------------------------------------------------- decision 6: four lists


def test_not_recommended_only_holds_musts_not_with_their_source(run, mk_lesions):
    r = run({"brain_metastases": {"count": 2}}, replace_lesions=mk_lesions(8, 12))
    assert set(r.nr) <= MUST_NOT_IDS
    assert all(n.sources for n in r.not_recommended)
    # EGFR negative: osimertinib's trigger is unmet -> not applicable, never "not recommended"
    assert "osimertinib" in r.na and "osimertinib" not in r.nr
    assert "litt" in r.na and "litt" not in r.nr
    lists = [set(r.ids), set(r.nr), set(r.na), set(r.awaiting)]
    for i, a in enumerate(lists):
        for b in lists[i + 1:]:
            assert not a & b


# ---------------------------------------------------------------- decision 7: grades


def test_r21_r22_grades_are_on_the_deferral_statement_not_each_local_option(run, mk_lesions):
    r = run({"kps": 80, "brain_metastases": {"count": 6}}, replace_lesions=mk_lesions(*[9] * 6))
    for oid in ("srs", "wbrt", "srs_plus_wbrt"):
        assert oid in r.ids
        assert not {"ASCO22 R2.2", "ASCO22 R2.1"} & r.src(oid)
        assert "ASCO22 R3.4" in r.src(oid)
    assert "ASCO22 R2.2" in r.timing_src()
    assert all(o.population for o in r.options)  # the population check each rule applied


# ---------------------------------------------------------------- decision 8: populations


def test_leptomeningeal_rules_shown_only_with_the_out_of_scope_caveat(run, mk_lesions):
    r = run({**_nsclc(egfr="negative", alk="negative", ros1="negative", pdl1_tps=60),
             "brain_metastases": {"leptomeningeal": True}}, replace_lesions=mk_lesions(8, 12))
    assert any("Leptomeningeal" in w and "outside the scope" in w for w in r.warnings)
    assert r.options
    for o in r.options:
        assert o.mdt and not o.defers_local_therapy
        assert any("Leptomeningeal disease: outside the population" in n for n in o.notes)
    assert "srs" in r.ids and "immune_checkpoint_inhibitor" in r.ids
    assert "leptomeningeal" in r.timing.statement.lower() and not r.timing.may_defer


def test_egfr_lmd_no_deferral(run, mk_lesions):
    r = run({**_nsclc(egfr="positive", alk="negative"),
             "brain_metastases": {"leptomeningeal": True}}, replace_lesions=mk_lesions(8))
    assert "osimertinib" in r.ids and not r.by_id["osimertinib"].defers_local_therapy


def test_sclc_not_shown_as_r32_recommendation(run, mk_lesions):
    r = run({**_site("sclc"), "brain_metastases": {"count": 3}},
            replace_lesions=mk_lesions(8, 10, 12))
    assert "ASCO22 R3.2" not in r.src("srs")
    assert "EANO21 SCLC algorithm" in r.src("srs")


def test_ecog3_not_shown_as_astro_kq11(run, mk_lesions):
    r = run({"ecog": 3, "kps": 70}, replace_lesions=mk_lesions(8, 12))
    assert "ASTRO22 KQ1.1" not in r.src("srs")


# ---------------------------------------------------------------- decision 10: unknown primary


def test_unknown_primary_tissue_diagnosis_first(run, mk_lesions):
    r = run({**_site("unknown"), "brain_metastases": {"count": 3}},
            replace_lesions=mk_lesions(8, 10, 14))
    assert r.ids[0] == "surgery"
    assert "tissue diagnosis first" in r.by_id["surgery"].rationale
    assert r.ids.index("surgery") < r.ids.index("srs")
    assert any("tissue diagnosis" in n for n in r.by_id["srs"].notes)
    assert not [o for o in r.options if o.kind == "systemic"]
    assert r.awaiting["systemic_therapy"].needs == ["primary.site"]


# ---------------------------------------------------------------- decision 11: dexamethasone


def test_dexamethasone_follows_the_symptom_level_only(run):
    mild = run({"symptoms": {"status": "symptomatic", "severe_icp": False}})
    assert "4-8 mg/day" in mild.by_id["dexamethasone"].dose
    assert "16" not in mild.by_id["dexamethasone"].dose
    unknown = run({"symptoms": {"status": "mild_controlled", "severe_icp": None}})
    assert "16" not in unknown.by_id["dexamethasone"].dose
    severe = run({"symptoms": {"status": "symptomatic", "severe_icp": True}})
    assert ">= 16 mg/day" in severe.by_id["dexamethasone"].dose
    assert "4-8" not in severe.by_id["dexamethasone"].dose


# ---------------------------------------------------------------- decision 9: one survival


def _breast():
    return {"age": 55, "kps": 90, "extracranial_metastases": False,
            "primary": {"site": "breast", "er": "positive", "pr": "negative", "her2": "positive",
                        "controlled": True},
            "brain_metastases": {"count": 2, "lesions": [{"diameter_mm": 8}, {"diameter_mm": 9}]}}


def test_breast_primary_survival_is_the_2020_breast_gpa():
    a = assess(_breast())
    assert a.primary_survival.index == "breast_gpa_2020"
    assert "most specific" in a.primary_survival.reason
    roles = {e.index: e.role for e in a.prognosis}
    assert roles["breast_gpa_2020"] == "primary" and roles["gpa_2008"] == "secondary"


def test_primary_is_most_specific_not_most_optimistic(run, mk_lesions, est):
    from brainmets.prognosis.primary import primary_survival

    ests = [est("gpa_2008", 12.0), est("ds_gpa_2012", 3.5)]
    assert primary_survival(ests).index == "ds_gpa_2012"
    r = run({"brain_metastases": {"count": 12}}, estimates=ests,
            replace_lesions=mk_lesions(*[12] * 12))
    # R3.5 needs expected survival >= 4 months: the primary DS-GPA 3.5 months, not GPA 12
    assert "ha_wbrt" not in r.ids
    assert r.by_id["wbrt"].survival_basis.startswith("ds_gpa_2012")


def test_no_primary_from_bsbm_alone():
    from brainmets.prognosis.primary import primary_survival

    e = PrognosticEstimate(index="bsbm", score=3, group="3", median_survival_months=20.0,
                           source="s", confidence="single_source")
    assert primary_survival([e]) is None


# ---------------------------------------------------------------- decision 12: contradictions


CONTRADICTORY = {"age": 60, "kps": 90, "ecog": 4,
                 "primary": {"site": "nsclc", "histology": "adenocarcinoma",
                             "egfr": "negative", "alk": "negative"},
                 "symptoms": {"status": "asymptomatic"},
                 "therapy": {"dexamethasone_mg_day": 16},
                 "brain_metastases": {"count": 2, "lesions": [
                     {"diameter_mm": 1.2, "volume_ml": 900}, {"diameter_mm": 10}]}}


def test_contradictions_are_reported_with_their_fields():
    a = assess(CONTRADICTORY)
    fields = [set(c.fields) for c in a.input_checks]
    assert {"symptoms.status", "therapy.dexamethasone_mg_day"} in fields
    assert {"kps", "ecog"} in fields
    assert {"brain_metastases.lesions[0].volume_ml",
            "brain_metastases.lesions[0].diameter_mm"} in fields
    assert not any(c.blocking for c in a.input_checks)
    assert a.options  # a safe reading exists: options still listed


def test_kps_ecog_one_band_apart_is_not_flagged():
    p = parse_patient({"kps": 80, "ecog": 2})  # band 1 vs 2: one band apart
    from brainmets.checks import input_checks

    assert not input_checks(p)


def test_count_below_lesions_listed_blocks(tmp_path):
    bad = json.loads(json.dumps(CONTRADICTORY))
    bad["brain_metastases"]["count"] = 0
    a = assess(bad)
    block = [c for c in a.input_checks if c.blocking]
    assert block and block[0].severity == "error"
    assert set(block[0].fields) == {"brain_metastases.count", "brain_metastases.lesions"}
    assert a.options == []
    from brainmets.cli import app

    f = tmp_path / "p.json"
    f.write_text(json.dumps(bad), encoding="utf-8")
    res = CliRunner().invoke(app, ["assess", str(f), "--format", "json"])
    assert res.exit_code == 2
    ok = json.loads(json.dumps(CONTRADICTORY))
    f.write_text(json.dumps(ok), encoding="utf-8")
    res = CliRunner().invoke(app, ["assess", str(f), "--format", "json"])
    assert res.exit_code == 0


# ---------------------------------------------------------------- radiation history


def _tp(date, a, b):
    return {"date": date, "steroid_mg_day": 0, "clinical_status": "stable",
            "nontarget_progression": False,
            "lesions": [{"id": "L1", "longest_diameter_mm": a, "perpendicular_mm": 10},
                        {"id": "L2", "longest_diameter_mm": b, "perpendicular_mm": 10}]}


PD_SERIES = [_tp("2026-01-01", 25, 15), _tp("2026-03-01", 16, 12), _tp("2026-05-01", 21, 13)]


def test_pd_in_irradiated_lesion_carries_the_caveat():
    from brainmets.response import evaluate

    r = evaluate({"timepoints": PD_SERIES, "radiation_history": [
        {"date": "2025-12-20", "modality": "srs", "lesion_ids": ["L1"], "dose_gy": 20,
         "fractions": 1}]})
    assert r.category == "PD"
    assert r.caveats and r.caveats[0]["lesion_ids"] == ["L1"]
    text = r.caveats[0]["text"] + " ".join(r.caveats[0]["aids"])
    assert "pseudo-progression" in text and "radiation necrosis" in text
    assert "rCBV" in text and "ADC" in text
    assert any("pseudo-progression" in f for f in r.flags_for_review)


def test_pd_without_radiation_history_has_no_caveat():
    from brainmets.response import evaluate

    r = evaluate({"timepoints": PD_SERIES})
    assert r.category == "PD" and not r.caveats
    r2 = evaluate({"timepoints": PD_SERIES, "radiation_history": [
        {"date": "2025-12-20", "modality": "surgery", "lesion_ids": ["L1"]}]})
    assert not r2.caveats


def test_radiation_history_is_recorded_and_validated():
    p = parse_patient({"radiation_history": [{"date": "2026-01-20", "modality": "wbrt",
                                              "dose_gy": 30, "fractions": 10}]})
    assert p.radiation_history[0].modality == "wbrt"
    from brainmets.model import InputError

    try:
        parse_patient({"radiation_history": [{"modality": "gamma_knife"}]})
    except InputError as exc:
        assert exc.messages[0].startswith("radiation_history[0].modality")
    else:
        raise AssertionError("bad modality accepted")


def test_exon20_recorded_with_egfr_unknown_still_excludes_ici(run, mk_lesions):
    # decisions 1-3 read on the safe side: an exon 20 insertion is an actionable driver
    r = run(_nsclc(egfr="unknown", egfr_variant="exon20_insertion", alk="negative",
                   pdl1_tps=60), replace_lesions=mk_lesions(8))
    assert "immune_checkpoint_inhibitor" not in r.ids
    assert "osimertinib" not in r.ids and "osimertinib" not in r.awaiting
    assert "osimertinib" in r.na
    a = assess({**_nsclc(egfr="negative", egfr_variant="exon20_insertion")})
    assert any(set(c.fields) == {"primary.egfr", "primary.egfr_variant"} for c in a.input_checks)
