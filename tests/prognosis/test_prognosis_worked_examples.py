"""Every worked example of the prognosis spec §10 (numbers DERIVED there by hand)."""

import pytest


def test_ex01_rpa_class_i(run):
    e, _ = run(age=58, kps=80, controlled=True, ecm=False, site="other")
    assert e["rpa"].group == "I" and e["rpa"].median_survival_months == 7.1
    assert e["rpa"].score is None


def test_ex02_rpa_age_65_is_class_ii(run):
    e, _ = run(age=65, kps=90, controlled=True, ecm=False, site="other")
    assert (e["rpa"].group, e["rpa"].median_survival_months) == ("II", 4.2)


@pytest.mark.parametrize("controlled,ecm", [(True, False), (False, True)])
def test_ex03_rpa_kps_60_is_class_iii(run, controlled, ecm):
    e, _ = run(age=45, kps=60, controlled=controlled, ecm=ecm, site="other")
    assert (e["rpa"].group, e["rpa"].median_survival_months) == ("III", 2.3)


def test_ex04_rpa_kps_70_uncontrolled_is_class_ii(run):
    e, _ = run(age=50, kps=70, controlled=False, ecm=False, site="other")
    assert (e["rpa"].group, e["rpa"].median_survival_months) == ("II", 4.2)


def test_ex05_gpa_2008_full_score(run):
    e, _ = run(age=48, kps=90, count=1, ecm=False, site="other")
    g = e["gpa_2008"]
    assert (g.score, g.group, g.median_survival_months) == (4.0, "3.5-4.0", 11.0)


def test_ex06_gpa_2008_middle(run):
    e, _ = run(age=55, kps=70, count=3, ecm=True, site="other")
    g = e["gpa_2008"]
    assert (g.score, g.group, g.median_survival_months) == (1.5, "1.5-2.5", 3.8)


def test_ex07_gpa_2008_age_60_both_scores(run):
    e, _ = run(age=60, kps=90, count=1, ecm=False, site="other")
    g = e["gpa_2008"]
    assert (g.score, g.median_survival_months) == (3.5, 11.0)
    assert g.confidence == "uncertain"
    assert any("Age 60" in w and "3.0" in w and "8.9" in w for w in g.warnings)
    alt = [a for a in g.alternatives if a["kind"] == "alternative_scoring"]
    assert alt and alt[0]["score"] == 3.0 and alt[0]["median_survival_months"] == 8.9


def test_gpa_2008_group_3_shows_both_survival_values(run):
    e, _ = run(age=55, kps=90, count=1, ecm=False, site="other")  # 0.5 + 1 + 1 + 1 = 3.5
    assert e["gpa_2008"].score == 3.5
    e, _ = run(age=55, kps=80, count=1, ecm=False, site="other")  # 0.5 + 0.5 + 1 + 1 = 3.0
    g = e["gpa_2008"]
    assert (g.score, g.group, g.median_survival_months) == (3.0, "3.0", 8.9)
    assert [a["median_survival_months"] for a in g.alternatives] == [6.9]
    assert any("8.9" in w and "6.9" in w for w in g.warnings)
    assert g.confidence == "uncertain"


def test_ex08_ds_gpa_2012_breast(run):
    e, _ = run(age=52, kps=60, site="breast", her2="positive", er="negative", pr="negative")
    g = e["ds_gpa_2012"]
    assert (g.score, g.group, g.median_survival_months) == (2.5, "2.5-3.0", 15.1)
    assert g.points == {"kps": 0.5, "subtype": 1.5, "age": 0.5}


def test_ex09_ds_gpa_2012_gi(run):
    e, _ = run(kps=80, site="gi")
    g = e["ds_gpa_2012"]
    assert (g.score, g.group, g.median_survival_months) == (2.0, "2.0", 4.4)


def test_ex10_ds_gpa_2012_melanoma(run):
    e, _ = run(kps=90, count=2, site="melanoma")
    g = e["ds_gpa_2012"]
    assert (g.score, g.group, g.median_survival_months) == (3.0, "2.5-3.0", 8.8)


def test_ex11_lung_molgpa_adeno_egfr_positive(run):
    e, _ = run(age=62, kps=90, ecm=False, count=3, egfr="positive", site="nsclc",
               histology="adenocarcinoma")
    g = e["lung_molgpa_2017"]
    assert (g.score, g.group, g.median_survival_months) == (4.0, "3.5-4.0", 46.8)


def test_ex12_lung_molgpa_adeno_egfr_unknown_counts_negative(run):
    e, _ = run(age=68, kps=80, ecm=True, count=2, egfr="unknown", alk="negative",
               site="nsclc", histology="adenocarcinoma")
    g = e["lung_molgpa_2017"]
    assert (g.score, g.group, g.median_survival_months) == (1.5, "1.5-2.0", 13.7)
    assert g.iqr_months == (5.5, 24.6)
    assert any("EGFR/ALK status unknown" in w for w in g.warnings)


def test_ex13_lung_molgpa_non_adeno(run):
    e, _ = run(age=72, kps=70, ecm=True, count=6, site="nsclc", histology="squamous")
    g = e["lung_molgpa_2017"]
    assert (g.score, g.group, g.median_survival_months) == (0.0, "0-1.0", 5.3)
    assert "egfr_alk" not in g.points


def test_ex14_melanoma_molgpa(run):
    e, _ = run(age=55, kps=80, ecm=False, count=1, braf="positive", site="melanoma")
    g = e["melanoma_molgpa_2017"]
    assert (g.score, g.group, g.median_survival_months) == (3.5, "3.5-4.0", 34.1)
    assert g.iqr_months is None and any("not given" in w for w in g.warnings)


def test_ex15_breast_2020_luminal_b(run):
    e, _ = run(age=45, kps=90, er="positive", pr="positive", her2="positive", count=1,
               ecm=True, site="breast")
    g = e["breast_gpa_2020"]
    assert (g.score, g.group, g.median_survival_months) == (3.5, "3.5-4.0", 36.3)


def test_ex16_breast_2020_lowest_group_flagged(run):
    e, _ = run(age=63, kps=60, er="negative", pr="negative", her2="negative", count=4,
               ecm=True, site="breast")
    g = e["breast_gpa_2020"]
    assert (g.score, g.group, g.median_survival_months) == (0.0, "0-1.0", 6.0)
    assert g.confidence == "uncertain"
    assert any("3 months" in w for w in g.warnings)


def test_ex17_renal_2018(run):
    e, _ = run(kps=80, ecm=False, labs_hemoglobin_g_dl=12.0, count=2, site="renal")
    g = e["renal_gpa_2018"]
    assert (g.score, g.group, g.median_survival_months) == (2.5, "2.5-3.0", 17.0)


def test_ex18_renal_2018_hb_unknown_middle_band(run):
    e, _ = run(kps=70, ecm=True, count=7, site="renal")
    g = e["renal_gpa_2018"]
    assert (g.score, g.group, g.median_survival_months) == (0.5, "0-1.0", 4.0)
    assert g.points["hemoglobin"] == 0.5
    assert any("Haemoglobin unknown" in w for w in g.warnings)


def test_ex19_gi_2019(run):
    e, _ = run(age=58, kps=90, count=1, ecm=False, site="gi")
    g = e["gi_gpa_2019"]
    assert (g.score, g.group, g.median_survival_months) == (4.0, "3.5-4.0", 17.0)


def test_ex20_bsbm(run):
    e, _ = run(kps=90, controlled=True, ecm=True, site="other")
    g = e["bsbm"]
    assert (g.score, g.group, g.median_survival_months) == (2.0, "2", 13.1)


def test_ex21_labbm_middle_tier_no_survival(run):
    e, _ = run(site="other", labs_crp_above_uln=True, labs_ldh_above_uln=False,
               labs_hemoglobin_below_lln=True, labs_platelets_below_lln=False,
               labs_albumin_below_lln=True)
    g = e["labbm"]
    assert (g.score, g.group, g.median_survival_months) == (2.0, "1.5-2.0", None)
    assert any("not available: source table not verified" in w for w in g.warnings)


def test_labbm_value_and_limit_win_over_flag(run):
    e, _ = run(site="other", labs_crp_mg_l=3.0, labs_crp_uln_mg_l=5.0, labs_crp_above_uln=True,
               labs_ldh_u_l=300.0, labs_ldh_uln_u_l=250.0,
               labs_hemoglobin_g_dl=10.0, labs_hemoglobin_lln_g_dl=12.0,
               labs_platelets_below_lln=False, labs_albumin_below_lln=False)
    g = e["labbm"]
    assert g.points == {"crp_above_uln": 0.0, "ldh_above_uln": 1.0, "hemoglobin_below_lln": 0.5,
                        "platelets_below_lln": 0.0, "albumin_below_lln": 0.0}
