"""A test on each side of every cut-point of every index (values from the spec, by hand)."""

from __future__ import annotations

import pytest

from brainmets.prognosis.tables import index_tables

BASE = {
    "gpa_2008": dict(site="other", age=55, kps=80, count=2, ecm=False),
    "ds_gpa_2012/lung": dict(site="nsclc", histology="squamous", age=55, kps=80, count=2,
                             ecm=False),
    "ds_gpa_2012/melanoma": dict(site="melanoma", kps=80, count=2),
    "ds_gpa_2012/renal": dict(site="renal", kps=80, count=2),
    "ds_gpa_2012/breast": dict(site="breast", kps=80, age=55, er="positive", pr="positive",
                               her2="negative"),
    "ds_gpa_2012/gi": dict(site="gi", kps=80),
    "lung_molgpa_2017": dict(site="nsclc", histology="adenocarcinoma", age=60, kps=80, count=2,
                             ecm=False, egfr="negative", alk="negative"),
    "melanoma_molgpa_2017": dict(site="melanoma", age=60, kps=80, count=2, ecm=False,
                                 braf="negative"),
    "breast_gpa_2020": dict(site="breast", age=55, kps=80, count=1, ecm=False, er="positive",
                            pr="negative", her2="negative"),
    "gi_gpa_2019": dict(site="gi", age=55, kps=80, count=2, ecm=False),
    "renal_gpa_2018": dict(site="renal", kps=80, count=2, ecm=False, labs_hemoglobin_g_dl=12.0),
    "bsbm": dict(site="other", kps=80, controlled=True, ecm=False),
    "labbm": dict(site="other", labs_crp_above_uln=False, labs_ldh_above_uln=False,
                  labs_hemoglobin_below_lln=False, labs_platelets_below_lln=False,
                  labs_albumin_below_lln=False),
}

# (base key, input overrides, factor name, expected points)
CASES = [
    # GPA 2008: age <50 / 50-60 / >60; KPS <70 / 70-80 / 90-100; BM 1 / 2-3 / >3; ECM
    ("gpa_2008", dict(age=49), "age", 1.0), ("gpa_2008", dict(age=50), "age", 0.5),
    ("gpa_2008", dict(age=60), "age", 0.5), ("gpa_2008", dict(age=61), "age", 0.0),
    ("gpa_2008", dict(kps=60), "kps", 0.0), ("gpa_2008", dict(kps=70), "kps", 0.5),
    ("gpa_2008", dict(kps=80), "kps", 0.5), ("gpa_2008", dict(kps=90), "kps", 1.0),
    ("gpa_2008", dict(count=1), "bm_count", 1.0), ("gpa_2008", dict(count=2), "bm_count", 0.5),
    ("gpa_2008", dict(count=3), "bm_count", 0.5), ("gpa_2008", dict(count=4), "bm_count", 0.0),
    ("gpa_2008", dict(ecm=True), "ecm", 0.0), ("gpa_2008", dict(ecm=False), "ecm", 1.0),
    # DS-GPA 2012 lung (same cut-points; age 60 = 0.5 is the app's own label)
    ("ds_gpa_2012/lung", dict(age=49), "age", 1.0),
    ("ds_gpa_2012/lung", dict(age=50), "age", 0.5),
    ("ds_gpa_2012/lung", dict(age=60), "age", 0.5),
    ("ds_gpa_2012/lung", dict(age=61), "age", 0.0),
    ("ds_gpa_2012/lung", dict(kps=60), "kps", 0.0),
    ("ds_gpa_2012/lung", dict(kps=70), "kps", 0.5),
    ("ds_gpa_2012/lung", dict(kps=90), "kps", 1.0),
    ("ds_gpa_2012/lung", dict(count=1), "bm_count", 1.0),
    ("ds_gpa_2012/lung", dict(count=3), "bm_count", 0.5),
    ("ds_gpa_2012/lung", dict(count=4), "bm_count", 0.0),
    ("ds_gpa_2012/lung", dict(ecm=True), "ecm", 0.0),
    # DS-GPA 2012 melanoma / renal: KPS <70 / 70-80 / 90-100 = 0/1/2; BM >3 / 2-3 / 1 = 0/1/2
    *[(b, dict(kps=k), "kps", p) for b in ("ds_gpa_2012/melanoma", "ds_gpa_2012/renal")
      for k, p in ((60, 0.0), (70, 1.0), (80, 1.0), (90, 2.0))],
    *[(b, dict(count=c), "bm_count", p) for b in ("ds_gpa_2012/melanoma", "ds_gpa_2012/renal")
      for c, p in ((1, 2.0), (2, 1.0), (3, 1.0), (4, 0.0))],
    # DS-GPA 2012 breast: KPS <=50 / 60 / 70-80 / 90-100; age <60 / >=60; subtype
    *[("ds_gpa_2012/breast", dict(kps=k), "kps", p)
      for k, p in ((40, 0.0), (50, 0.0), (60, 0.5), (70, 1.0), (80, 1.0), (90, 1.5))],
    ("ds_gpa_2012/breast", dict(age=59), "age", 0.5),
    ("ds_gpa_2012/breast", dict(age=60), "age", 0.0),
    ("ds_gpa_2012/breast", dict(er="negative", pr="negative", her2="negative"), "subtype", 0.0),
    ("ds_gpa_2012/breast", dict(er="negative", pr="positive", her2="negative"), "subtype", 1.0),
    ("ds_gpa_2012/breast", dict(er="negative", pr="negative", her2="positive"), "subtype", 1.5),
    ("ds_gpa_2012/breast", dict(er="positive", pr="negative", her2="positive"), "subtype", 2.0),
    # DS-GPA 2012 GI: KPS only
    *[("ds_gpa_2012/gi", dict(kps=k), "kps", p)
      for k, p in ((60, 0.0), (70, 1.0), (80, 2.0), (90, 3.0), (100, 4.0))],
    # Lung-molGPA: age <70 / >=70; KPS <=70 / 80 / 90-100; BM 1-4 / >=5; EGFR/ALK
    ("lung_molgpa_2017", dict(age=69), "age", 0.5), ("lung_molgpa_2017", dict(age=70), "age", 0.0),
    ("lung_molgpa_2017", dict(kps=70), "kps", 0.0), ("lung_molgpa_2017", dict(kps=80), "kps", 0.5),
    ("lung_molgpa_2017", dict(kps=90), "kps", 1.0),
    ("lung_molgpa_2017", dict(count=1), "bm_count", 0.5),
    ("lung_molgpa_2017", dict(count=4), "bm_count", 0.5),
    ("lung_molgpa_2017", dict(count=5), "bm_count", 0.0),
    ("lung_molgpa_2017", dict(ecm=True), "ecm", 0.0),
    ("lung_molgpa_2017", dict(egfr="positive"), "egfr_alk", 1.0),
    ("lung_molgpa_2017", dict(alk="positive"), "egfr_alk", 1.0),
    ("lung_molgpa_2017", dict(egfr="unknown", alk=None), "egfr_alk", 0.0),
    # Melanoma-molGPA: BM 1 / 2-4 / >4; BRAF
    ("melanoma_molgpa_2017", dict(age=69), "age", 0.5),
    ("melanoma_molgpa_2017", dict(age=70), "age", 0.0),
    ("melanoma_molgpa_2017", dict(kps=70), "kps", 0.0),
    ("melanoma_molgpa_2017", dict(kps=80), "kps", 0.5),
    ("melanoma_molgpa_2017", dict(kps=90), "kps", 1.0),
    ("melanoma_molgpa_2017", dict(count=1), "bm_count", 1.0),
    ("melanoma_molgpa_2017", dict(count=2), "bm_count", 0.5),
    ("melanoma_molgpa_2017", dict(count=4), "bm_count", 0.5),
    ("melanoma_molgpa_2017", dict(count=5), "bm_count", 0.0),
    ("melanoma_molgpa_2017", dict(braf="positive"), "braf", 0.5),
    ("melanoma_molgpa_2017", dict(braf=None), "braf", 0.0),
    # Breast GPA 2020
    *[("breast_gpa_2020", dict(kps=k), "kps", p)
      for k, p in ((60, 0.0), (70, 0.5), (80, 0.5), (90, 1.0))],
    ("breast_gpa_2020", dict(age=59), "age", 0.5), ("breast_gpa_2020", dict(age=60), "age", 0.0),
    ("breast_gpa_2020", dict(count=1), "bm_count", 0.5),
    ("breast_gpa_2020", dict(count=2), "bm_count", 0.0),
    ("breast_gpa_2020", dict(ecm=True), "ecm", 0.0),
    ("breast_gpa_2020", dict(ecm=False), "ecm", 0.5),
    ("breast_gpa_2020", dict(er="negative", pr="negative", her2="negative"), "subtype", 0.0),
    ("breast_gpa_2020", dict(er="positive", pr="negative", her2="negative"), "subtype", 0.5),
    ("breast_gpa_2020", dict(er="negative", pr="negative", her2="positive"), "subtype", 1.5),
    ("breast_gpa_2020", dict(er="positive", pr="positive", her2="positive"), "subtype", 1.5),
    # GI GPA 2019: KPS <80 / 80 / 90-100
    *[("gi_gpa_2019", dict(kps=k), "kps", p) for k, p in ((70, 0.0), (80, 1.0), (90, 2.0))],
    ("gi_gpa_2019", dict(age=59), "age", 0.5), ("gi_gpa_2019", dict(age=60), "age", 0.0),
    *[("gi_gpa_2019", dict(count=c), "bm_count", p)
      for c, p in ((1, 1.0), (2, 0.5), (3, 0.5), (4, 0.0))],
    ("gi_gpa_2019", dict(ecm=True), "ecm", 0.0), ("gi_gpa_2019", dict(ecm=False), "ecm", 0.5),
    # Renal GPA 2018: Hb rounded to 0.1 then <=11.1 / 11.2-12.5 / >=12.6
    *[("renal_gpa_2018", dict(kps=k), "kps", p) for k, p in ((70, 0.0), (80, 1.0), (90, 2.0))],
    *[("renal_gpa_2018", dict(labs_hemoglobin_g_dl=h), "hemoglobin", p)
      for h, p in ((11.1, 0.0), (11.14, 0.0), (11.15, 0.5), (11.2, 0.5), (12.5, 0.5),
                   (12.54, 0.5), (12.55, 1.0), (12.6, 1.0), (None, 0.5))],
    ("renal_gpa_2018", dict(count=4), "bm_count", 0.5),
    ("renal_gpa_2018", dict(count=5), "bm_count", 0.0),
    ("renal_gpa_2018", dict(ecm=True), "ecm", 0.0),
    # BSBM: KPS >= 80
    *[("bsbm", dict(kps=k), "kps", p) for k, p in ((40, 0.0), (50, 0.0), (70, 0.0), (80, 1.0))],
    ("bsbm", dict(controlled=False), "controlled", 0.0),
    ("bsbm", dict(ecm=True), "ecm", 0.0),
    # LabBM: strictly above ULN / below LLN
    ("labbm", dict(labs_crp_mg_l=5.0, labs_crp_uln_mg_l=5.0), "crp_above_uln", 0.0),
    ("labbm", dict(labs_crp_mg_l=5.1, labs_crp_uln_mg_l=5.0), "crp_above_uln", 1.0),
    ("labbm", dict(labs_ldh_u_l=250.0, labs_ldh_uln_u_l=250.0), "ldh_above_uln", 0.0),
    ("labbm", dict(labs_ldh_u_l=251.0, labs_ldh_uln_u_l=250.0), "ldh_above_uln", 1.0),
    ("labbm", dict(labs_hemoglobin_g_dl=12.0, labs_hemoglobin_lln_g_dl=12.0),
     "hemoglobin_below_lln", 0.0),
    ("labbm", dict(labs_hemoglobin_g_dl=11.9, labs_hemoglobin_lln_g_dl=12.0),
     "hemoglobin_below_lln", 0.5),
    ("labbm", dict(labs_platelets_10e9_l=149.0, labs_platelets_lln_10e9_l=150.0),
     "platelets_below_lln", 0.5),
    ("labbm", dict(labs_albumin_g_l=35.0, labs_albumin_lln_g_l=35.0), "albumin_below_lln", 0.0),
    ("labbm", dict(labs_albumin_g_l=34.9, labs_albumin_lln_g_l=35.0), "albumin_below_lln", 0.5),
]


def _case_id(case) -> str:
    base, over, factor, pts = case
    return f"{base}-{factor}-" + "-".join(f"{k}={v}" for k, v in over.items())


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_factor_cut_point(run, case):
    base, over, factor, expected = case
    kw = {**BASE[base], **over}
    kw = {k: v for k, v in kw.items() if v is not None}
    est, nc = run(**kw)
    index = base.split("/")[0]
    assert index in est, nc.get(index)
    assert est[index].points[factor] == expected


@pytest.mark.parametrize(
    "kw,group",
    [
        (dict(kps=60, age=40, controlled=True, ecm=False), "III"),
        (dict(kps=70, age=40, controlled=True, ecm=False), "I"),
        (dict(kps=70, age=64, controlled=True, ecm=False), "I"),
        (dict(kps=70, age=65, controlled=True, ecm=False), "II"),
        (dict(kps=100, age=40, controlled=False, ecm=False), "II"),
        (dict(kps=100, age=40, controlled=True, ecm=True), "II"),
        (dict(kps=0, age=90, controlled=False, ecm=True), "III"),
    ],
)
def test_rpa_class_boundaries(run, kw, group):
    est, _ = run(site="unknown", **kw)
    assert est["rpa"].group == group
    assert est["rpa"].median_survival_months == {"I": 7.1, "II": 4.2, "III": 2.3}[group]


# score -> (group, median) at every group edge, copied by hand from the spec tables
GROUP_EDGES = {
    ("gpa_2008", "all"): {0.0: ("0-1.0", 2.6), 1.0: ("0-1.0", 2.6), 1.5: ("1.5-2.5", 3.8),
                          2.5: ("1.5-2.5", 3.8), 3.0: ("3.0", 8.9), 3.5: ("3.5-4.0", 11.0),
                          4.0: ("3.5-4.0", 11.0)},
    ("ds_gpa_2012", "lung"): {1.0: ("0-1.0", 3.0), 1.5: ("1.5-2.0", 5.5), 2.0: ("1.5-2.0", 5.5),
                              2.5: ("2.5-3.0", 9.4), 3.0: ("2.5-3.0", 9.4),
                              3.5: ("3.5-4.0", 14.8)},
    ("ds_gpa_2012", "melanoma"): {1.0: ("0-1.0", 3.4), 2.0: ("1.5-2.0", 4.7),
                                  3.0: ("2.5-3.0", 8.8), 4.0: ("3.5-4.0", 13.2)},
    ("ds_gpa_2012", "renal"): {1.0: ("0-1.0", 3.3), 2.0: ("1.5-2.0", 7.3),
                               3.0: ("2.5-3.0", 11.3), 4.0: ("3.5-4.0", 14.8)},
    ("ds_gpa_2012", "breast"): {1.0: ("0-1.0", 3.4), 1.5: ("1.5-2.0", 7.7),
                                2.5: ("2.5-3.0", 15.1), 3.0: ("2.5-3.0", 15.1),
                                3.5: ("3.5-4.0", 25.3)},
    ("ds_gpa_2012", "gi"): {0.0: ("0-1.0", 3.1), 1.0: ("0-1.0", 3.1), 2.0: ("2.0", 4.4),
                            3.0: ("3.0", 6.9), 4.0: ("4.0", 13.5)},
    ("lung_molgpa_2017", "adenocarcinoma"): {1.0: ("0-1.0", 6.9), 1.5: ("1.5-2.0", 13.7),
                                             2.5: ("2.5-3.0", 26.5), 3.0: ("2.5-3.0", 26.5),
                                             3.5: ("3.5-4.0", 46.8)},
    ("lung_molgpa_2017", "non_adenocarcinoma"): {1.0: ("0-1.0", 5.3), 1.5: ("1.5-2.0", 9.8),
                                                 2.5: ("2.5-3.0", 12.8),
                                                 3.0: ("2.5-3.0", 12.8)},
    ("melanoma_molgpa_2017", "melanoma"): {1.0: ("0-1.0", 4.9), 1.5: ("1.5-2.0", 8.3),
                                           2.5: ("2.5-3.0", 15.8), 3.5: ("3.5-4.0", 34.1)},
    ("breast_gpa_2020", "breast"): {1.0: ("0-1.0", 6.0), 1.5: ("1.5-2.0", 12.9),
                                    2.5: ("2.5-3.0", 23.5), 3.5: ("3.5-4.0", 36.3)},
    ("gi_gpa_2019", "gi"): {1.0: ("0-1.0", 3.4), 1.5: ("1.5-2.0", 6.5), 2.5: ("2.5-3.0", 10.8),
                            3.5: ("3.5-4.0", 17.0)},
    ("renal_gpa_2018", "renal"): {1.0: ("0-1.0", 4.0), 1.5: ("1.5-2.0", 12.0),
                                  2.5: ("2.5-3.0", 17.0), 3.5: ("3.5-4.0", 35.0)},
    ("bsbm", "all"): {0.0: ("0", 1.9), 1.0: ("1", 3.3), 2.0: ("2", 13.1), 3.0: ("3", None)},
    ("labbm", "all"): {1.0: ("0-1.0", None), 1.5: ("1.5-2.0", None), 2.0: ("1.5-2.0", None),
                       2.5: ("2.5-3.5", None), 3.5: ("2.5-3.5", None)},
}


@pytest.mark.parametrize("key", list(GROUP_EDGES), ids=["/".join(k) for k in GROUP_EDGES])
def test_group_edges_match_spec(key):
    index, variant_name = key
    variant = next(v for v in index_tables()[index].variants if v.name == variant_name)
    for score, (label, median) in GROUP_EDGES[key].items():
        g = variant.group_for(score)
        assert (g.label, g.median) == (label, median), (key, score)


def test_breast_2012_kps_50_is_flagged(run):
    est, _ = run(**{**BASE["ds_gpa_2012/breast"], "kps": 50})
    assert est["ds_gpa_2012"].confidence == "uncertain"
    assert any("KPS 50" in w for w in est["ds_gpa_2012"].warnings)


def test_bsbm_kps_below_50_is_flagged(run):
    est, _ = run(**{**BASE["bsbm"], "kps": 40})
    assert any("below 50" in w for w in est["bsbm"].warnings)


def test_sclc_uses_lung_table_with_warning(run):
    est, nc = run(site="sclc", age=55, kps=80, count=2, ecm=False)
    g = est["ds_gpa_2012"]
    assert (g.score, g.median_survival_months, g.confidence) == (2.5, 9.4, "uncertain")
    assert any("SCLC" in w for w in g.warnings)
    assert "lung_molgpa_2017" not in est
    assert nc["sclc_gpa"].reason == "not available: source table not verified"


@pytest.mark.parametrize("site", ["other", "unknown"])
def test_other_sites_get_only_site_agnostic_indices(run, site):
    est, _ = run(site=site, age=55, kps=80, count=2, ecm=False, controlled=True)
    assert set(est) == {"rpa", "gpa_2008", "bsbm"}


def test_missing_inputs_name_the_fields(run):
    est, nc = run(site="breast", kps=80)
    assert set(nc["breast_gpa_2020"].missing) == {"primary.er", "primary.pr", "primary.her2",
                                                  "age", "brain_metastases.count",
                                                  "extracranial_metastases"}
    assert nc["rpa"].missing == ["age", "primary.controlled", "extracranial_metastases"]
    est, nc = run(site="nsclc", age=60, kps=80, count=2, ecm=False)
    assert nc["lung_molgpa_2017"].missing == ["primary.histology"]
    est, nc = run(age=60, kps=80)
    assert nc["ds_gpa_2012"].missing == ["primary.site"]
    est, nc = run(site="other", labs_crp_mg_l=3.0)
    assert "labs.crp_uln_mg_l" in nc["labbm"].missing
    assert "labs.crp_above_uln" in nc["labbm"].reason


def test_zero_brain_metastases_is_outside_the_tables(run):
    est, nc = run(site="other", age=55, kps=80, count=0, ecm=False)
    assert "gpa_2008" not in est
    assert "outside the index's table" in nc["gpa_2008"].reason
