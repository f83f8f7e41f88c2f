"""Vignettes V1-V18 of treatment.md §9: what must and must not be listed."""

from __future__ import annotations


def local_ids(r):
    return {o.id for o in r.options if o.kind == "local"}


def test_v1_egfr_asymptomatic_three_small(run, mk_lesions):
    r = run({"age": 62, "kps": 90, "primary": {"egfr": "positive"},
             "brain_metastases": {"count": 3}}, replace_lesions=mk_lesions(6, 9, 12))
    osi = r.by_id["osimertinib"]
    assert osi.defers_local_therapy and osi.mdt
    assert "ASCO22 R2.3" in r.src("osimertinib")
    assert any("not FDA/EMA-approved" in n for n in r.by_id["icotinib"].notes)
    assert "ASCO22 R3.2" in r.src("srs")
    assert "20-24 Gy x 1" in r.by_id["srs"].dose
    assert "ASTRO22 KQ1.3-1.6" in r.src("srs")
    assert "mri_surveillance" in r.ids and "2-3 months" in r.by_id["mri_surveillance"].dose
    for bad in ("wbrt", "srs_plus_wbrt", "radiosensitizer", "dexamethasone",
                "antiseizure_medication"):
        assert bad not in r.ids
    assert {"wbrt", "srs_plus_wbrt", "radiosensitizer", "dexamethasone",
            "antiseizure_medication"} <= set(r.nr)


def test_v2_alk_asymptomatic(run, mk_lesions):
    r = run({"age": 48, "primary": {"alk": "positive"}}, replace_lesions=mk_lesions(8, 14))
    for drug in ("alectinib", "brigatinib", "ceritinib"):
        assert r.by_id[drug].defers_local_therapy and r.by_id[drug].mdt
        assert "ASCO22 R2.4" in r.src(drug)
    assert "crizotinib" not in r.ids and "crizotinib" in r.nr
    assert "ASCO22 R3.2" in r.src("srs")
    assert "wbrt" not in r.ids


def test_v3_nondriver_pdl1_pembrolizumab_with_local_therapy(run, mk_lesions):
    r = run({"kps": 80, "primary": {"pdl1_tps": 60},
             "therapy": {"planned_pemetrexed_platinum": True}},
            replace_lesions=mk_lesions(10, 15))
    pem = r.by_id["pembrolizumab_pemetrexed_platinum"]
    assert not pem.defers_local_therapy
    assert "ASCO22 R2.5" in r.src("pembrolizumab_pemetrexed_platinum")
    # decision 7: the R2.2 grade sits on the timing statement, not on each local option
    assert "ASCO22 R3.2" in r.src("srs") and "ASCO22 R2.2" not in r.src("srs")
    assert "ASCO22 R2.2" in r.timing_src() and not r.timing.may_defer
    ici = r.by_id["immune_checkpoint_inhibitor"]
    assert all(s.id == "EANO21" for s in ici.sources) and ici.rationale.startswith("EANO21")
    assert not ici.defers_local_therapy
    assert not any(o.defers_local_therapy for o in r.options)
    assert "temozolomide" not in r.ids and "temozolomide" in r.nr


def test_v4_melanoma_braf_asymptomatic(run, mk_lesions):
    r = run({"primary": {"site": "melanoma", "histology": None, "braf": "positive",
                         "egfr": None, "alk": None, "ros1": None},
             "brain_metastases": {"count": 3}}, replace_lesions=mk_lesions(8, 10, 12))
    ipi, dab = r.by_id["ipilimumab_nivolumab"], r.by_id["dabrafenib_trametinib"]
    assert ipi.defers_local_therapy and dab.defers_local_therapy and ipi.mdt and dab.mdt
    assert "EANO21 melanoma (ipi + nivo)" in r.src("ipilimumab_nivolumab")
    assert "preferred" in ipi.rationale
    assert r.ids.index("ipilimumab_nivolumab") < r.ids.index("dabrafenib_trametinib")
    assert "ASCO22 R3.2" in r.src("srs")
    assert "wbrt" not in r.ids and "radiosensitizer" not in r.ids


def test_v5_melanoma_symptomatic_dexamethasone(run, mk_lesions):
    les = mk_lesions(25, 10, 8, 6)
    les[0]["mass_effect"] = True
    r = run({"primary": {"site": "melanoma", "histology": None, "braf": "positive",
                         "egfr": None, "alk": None, "ros1": None},
             "brain_metastases": {"count": 4},
             "symptoms": {"status": "symptomatic", "severe_icp": False},
             "therapy": {"dexamethasone_mg_day": 8}}, replace_lesions=les)
    # decision 7: R2.1 / KQ1.7 grades on the statement about local therapy vs deferral
    assert {"ASCO22 R2.1", "ASTRO22 KQ1.7"} <= r.timing_src() and not r.timing.may_defer
    assert not {"ASCO22 R2.1", "ASTRO22 KQ1.7"} & r.src("srs")
    assert "18 Gy x 1" in r.by_id["srs"].dose and "27 Gy/3 or 30 Gy/5" in r.by_id["srs"].dose
    assert "surgery" in r.ids and r.by_id["surgery"].mdt
    dex = r.by_id["dexamethasone"]
    assert "taper" in dex.dose and "RYKEN10" in {s.id for s in dex.sources}
    dab = r.by_id["dabrafenib_trametinib"]
    assert "EANO21 melanoma (dabrafenib + trametinib)" in r.src("dabrafenib_trametinib")
    assert r.ids.index("dabrafenib_trametinib") < r.ids.index("dexamethasone")
    assert not any(o.defers_local_therapy for o in r.options)
    assert not dab.defers_local_therapy
    assert "antiseizure_medication" not in r.ids


def test_v6_her2_pretreated(run, mk_lesions):
    r = run({"kps": 80, "primary": {"site": "breast", "histology": None, "her2": "positive",
                                    "egfr": None, "alk": None, "ros1": None},
             "brain_metastases": {"count": 4},
             "therapy": {"prior_her2_therapies": ["trastuzumab", "pertuzumab", "T-DM1"]}},
            replace_lesions=mk_lesions(15, 12, 9, 6))
    tuc = r.by_id["tucatinib_trastuzumab_capecitabine"]
    assert tuc.defers_local_therapy and tuc.mdt
    assert {"ASCO22 R2.7", "ASCO-HER2-22 R7.1"} <= r.src("tucatinib_trastuzumab_capecitabine")
    assert "ASCO22 R3.2" in r.src("srs")
    assert "srs_plus_wbrt" not in r.ids and "radiosensitizer" not in r.ids


def test_v7_large_cerebellar_mass_effect(run):
    les = [{"diameter_mm": 45, "location": "cerebellum", "mass_effect": True,
            "hippocampus_distance_mm": 60}]
    r = run({"kps": 80, "brain_metastases": {"count": 1},
             "symptoms": {"status": "symptomatic", "severe_icp": False}}, replace_lesions=les)
    assert {"ASCO22 R1.1", "ASTRO22 KQ1.6"} <= r.src("surgery")
    assert any(s.id == "EANO21" for s in r.by_id["surgery"].sources)
    cav = r.by_id["cavity_srs"]
    assert "ASCO22 R3.3" in r.src("cavity_srs") and "N107C" in cav.dose
    assert "ASTRO22 KQ2.3" in r.src("cavity_srs")
    assert "dexamethasone" in r.ids
    assert "srs" not in r.ids            # no single-fraction SRS alone for a > 4 cm lesion
    assert "observation_alone" in r.nr and "wbrt" not in r.ids and "wbrt" in r.nr
    assert "antiseizure_medication" not in r.ids
    assert "CHEN19" in {s.id for s in r.nr["antiseizure_medication"].sources}


def test_v8_unknown_primary_single_lesion(run):
    les = [{"diameter_mm": 32, "location": "supratentorial", "mass_effect": False,
            "hippocampus_distance_mm": 40, "enhancement": "ring"}]
    r = run({"primary": {"site": "unknown", "histology": None, "egfr": None, "alk": None,
                         "ros1": None}, "brain_metastases": {"count": 1}}, replace_lesions=les)
    assert "ASCO22 R1.1" in r.src("surgery")
    assert "EANO21 surgery (diagnosis)" in r.src("surgery")
    assert "cavity_srs" in r.ids and "metastasis confirmed" in r.by_id["cavity_srs"].rationale
    assert not [o for o in r.options if o.kind == "systemic"]
    assert "wbrt" not in r.ids


def _twelve(mk_lesions, close_mm=None):
    les = mk_lesions(*([12] * 12))
    if close_mm is not None:
        les[0]["hippocampus_distance_mm"] = close_mm
    return les


def test_v9_twelve_bm_good_prognosis(run, mk_lesions, est):
    r = run({"kps": 80, "brain_metastases": {"count": 12}},
            estimates=[est("lung_molgpa_2017", 14.8)], replace_lesions=_twelve(mk_lesions))
    assert "ASCO22 R3.4" in r.src("wbrt") and "30 Gy/10" in r.by_id["wbrt"].dose
    assert {"ASCO22 R3.5", "ASTRO22 KQ3.2"} <= r.src("ha_wbrt")
    assert {"ASCO22 R3.5", "ASTRO22 KQ3.3"} <= r.src("memantine")
    assert r.by_id["memantine"].survival_basis.startswith("lung_molgpa_2017")
    assert r.by_id["ha_wbrt"].survival_basis.startswith("lung_molgpa_2017")
    assert any("covers only 5-10 BM" in n for n in r.by_id["srs"].notes)
    assert "ASCO22 R3.4" in r.src("srs") and "srs_plus_wbrt" in r.ids
    assert "radiosensitizer" not in r.ids


def test_v10_lesion_near_hippocampus(run, mk_lesions, est):
    r = run({"kps": 80, "brain_metastases": {"count": 12}},
            estimates=[est("lung_molgpa_2017", 14.8)],
            replace_lesions=_twelve(mk_lesions, close_mm=3))
    assert "wbrt" in r.ids and "memantine" in r.ids and "srs" in r.ids
    assert "ha_wbrt" not in r.ids
    assert "L1 at 3 mm" in r.nr["ha_wbrt"].reason
    assert any("ha_wbrt not listed" in n and "3 mm" in n for n in r.by_id["wbrt"].notes)


def test_v11_very_poor_ps(run, mk_lesions):
    r = run({"kps": 40, "ecog": 3, "brain_metastases": {"count": 5}},
            replace_lesions=mk_lesions(8, 9, 10, 11, 12))
    assert "ASCO22 R3.1" in r.src("palliative_care")
    assert not local_ids(r) & {"srs", "wbrt", "ha_wbrt", "srs_plus_wbrt"}
    assert "R3.1" in r.nr["wbrt"].reason and "R3.1" in r.nr["srs"].reason
    assert "dexamethasone" not in r.ids


def test_v12_kps60_no_systemic_options(run, mk_lesions):
    r = run({"kps": 60, "ecog": 2, "brain_metastases": {"count": 6},
             "therapy": {"systemic_options_available": False}},
            replace_lesions=mk_lesions(8, 9, 10, 11, 12, 13))
    assert "palliative_care" in r.ids
    assert not local_ids(r) & {"srs", "wbrt", "ha_wbrt", "srs_plus_wbrt", "cavity_srs"}


def test_v13_symptomatic_poor_prognosis(run, mk_lesions, est):
    r = run({"kps": 60, "ecog": 2, "brain_metastases": {"count": 14},
             "symptoms": {"status": "symptomatic", "severe_icp": False}},
            estimates=[est("lung_molgpa_2017", 2.3)], replace_lesions=mk_lesions(*([15] * 14)))
    dex = r.by_id["dexamethasone"]
    assert "4-8 mg/day" in dex.dose and ">= 16 mg/day" not in dex.dose and "taper" in dex.dose
    assert r.by_id["palliative_care"].mdt
    assert "20 Gy/5" in r.by_id["wbrt"].dose and "30 Gy/10" not in r.by_id["wbrt"].dose
    assert any("Conflict" in w and "R2.1" in w for w in r.warnings)
    assert "ha_wbrt" not in r.ids and "memantine" not in r.ids
    assert "srs" not in r.ids


def test_v13_severe_icp_dose(run, mk_lesions, est):
    r = run({"kps": 60, "brain_metastases": {"count": 14},
             "symptoms": {"status": "symptomatic", "severe_icp": True}},
            estimates=[est("lung_molgpa_2017", 2.3)], replace_lesions=mk_lesions(*([15] * 14)))
    assert ">= 16 mg/day" in r.by_id["dexamethasone"].dose


def test_v14_sclc(run, mk_lesions):
    r = run({"kps": 80, "primary": {"site": "sclc", "histology": None, "egfr": None,
                                    "alk": None, "ros1": None},
             "brain_metastases": {"count": 3}}, replace_lesions=mk_lesions(8, 10, 12))
    assert "EANO21 SCLC" in r.src("platinum_chemotherapy")
    assert "EANO21 SCLC algorithm" in r.src("wbrt")
    assert "EANO21 SCLC algorithm" in r.src("srs")
    assert "ASCO22 R3.2" not in r.src("srs")
    assert "ASCO22" in r.text() and "SCLC excluded" in r.text()
    assert any("no guideline recommendation encoded" in w for w in r.warnings)
    assert r.by_id["platinum_chemotherapy"].card["id"] == "platinum_etoposide_ici"


def test_v15_resected_plus_small(run):
    les = [{"diameter_mm": 34, "resected": True, "cavity_volume_ml": 10,
            "hippocampus_distance_mm": 30},
           {"diameter_mm": 8, "resected": False, "mass_effect": False,
            "hippocampus_distance_mm": 30}]
    r = run({"primary": {"site": "breast", "histology": None, "her2": "negative",
                         "egfr": None, "alk": None, "ros1": None},
             "brain_metastases": {"count": 2}}, replace_lesions=les)
    cav = r.by_id["cavity_srs"]
    assert "17 Gy x 1" in cav.dose and "9 Gy x 3" in cav.dose
    assert any("non-randomised" in n for n in cav.notes)
    assert "20-24 Gy x 1" in r.by_id["srs"].dose and "L2 8 mm" in r.by_id["srs"].dose
    assert "observation_alone" in r.nr and "wbrt" in r.nr and "wbrt" not in r.ids


def test_v16a_no_seizure_no_steroids_no_aed(run):
    r = run()
    assert "dexamethasone" not in r.ids and "antiseizure_medication" not in r.ids
    assert "insufficient evidence" in r.nr["dexamethasone"].reason
    srcs = {f"{s.id} {s.strength}" for s in r.nr["antiseizure_medication"].sources}
    assert {"MIKK10 Level 3", "WALB21 Level A", "EANO21 [I,A; I,A]"} <= srcs


def test_v16b_after_seizure(run):
    r = run({"symptoms": {"seizure_history": True}})
    aed = r.by_id["antiseizure_medication"]
    assert aed.dose.startswith("prefer levetiracetam, lamotrigine, lacosamide")
    assert "phenytoin" not in aed.dose and any("Not first preference: phenytoin" in n
                                                for n in aed.notes)


def test_v17_rano_bm_classification():
    from brainmets.response import evaluate

    def tp(date, a, b, steroid=0, status="stable"):
        return {"date": date, "steroid_mg_day": steroid, "clinical_status": status,
                "nontarget_progression": False,
                "lesions": [{"id": "L1", "longest_diameter_mm": a, "perpendicular_mm": 10},
                            {"id": "L2", "longest_diameter_mm": b, "perpendicular_mm": 10}]}

    pd = evaluate({"on_immunotherapy": False, "timepoints": [
        tp("2026-01-01", 25, 15), tp("2026-03-01", 16, 12), tp("2026-05-01", 21, 13)]})
    assert pd.category == "PD"
    pr = evaluate({"on_immunotherapy": False, "timepoints": [
        tp("2026-01-01", 25, 15), tp("2026-03-01", 16, 12)]})
    assert pr.category == "PR" and pr.provisional
    more_steroid = evaluate({"on_immunotherapy": False, "timepoints": [
        tp("2026-01-01", 25, 15), tp("2026-03-01", 16, 12, steroid=4)]})
    assert more_steroid.category != "PR"


def test_v18_enlarging_after_srs(run):
    les = [{"diameter_mm": 18, "prior_srs": True, "enlarging_after_srs": True,
            "hippocampus_distance_mm": 30, "mass_effect": False}]
    r = run({"brain_metastases": {"count": 1},
             "symptoms": {"status": "mild_controlled", "severe_icp": False},
             "therapy": {"on_immunotherapy": True, "immunotherapy_naive": False}},
            replace_lesions=les)
    adv = r.by_id["advanced_imaging"]
    assert adv.mdt and "EANO21" in {s.id for s in adv.sources}
    assert any("switch systemic therapy" in n for n in adv.notes)
    assert "dexamethasone" in r.ids and "bevacizumab" in r.ids
    assert any("did not enrol brain-metastasis" in n for n in r.by_id["bevacizumab"].notes)
    litt = r.by_id["litt"]
    assert {"CNS25 LITT after SRS (tumour progression)", "ASCO22 R1.3"} <= r.src("litt")
    assert any("no recommendation" in n for n in litt.notes)
    assert "surgery" in r.ids
    assert any("Re-irradiation: no guideline recommendation encoded" in w for w in r.warnings)
