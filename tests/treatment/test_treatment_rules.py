"""Each rule fires on a minimal patient and does not fire when any one condition is flipped."""

from __future__ import annotations

import pytest

from brainmets.model import parse_patient
from brainmets.treatment.assemble import explain
from brainmets.treatment.rules import rules


def L(*d, **kw):
    return [{"diameter_mm": x, "location": "supratentorial", "mass_effect": False,
             "hippocampus_distance_mm": 30.0, **kw} for x in d]


def site(name, **markers):
    return {"primary": {"site": name, "histology": None, "egfr": None, "alk": None,
                        "ros1": None, **markers}}


def bm(lesions, count=None, **kw):
    return {"brain_metastases": {"count": len(lesions) if count is None else count,
                                 "lesions": lesions, **kw}}


def merge(*parts):
    out: dict = {}
    for p in parts:
        for k, v in p.items():
            if isinstance(v, dict) and isinstance(out.get(k), dict):
                out[k] = {**out[k], **v}
            else:
                out[k] = v
    return out


SYM = {"symptoms": {"status": "symptomatic"}}
MILD = {"symptoms": {"status": "mild_controlled"}}
ASYM = {"symptoms": {"status": "asymptomatic"}}
TWELVE = bm(L(*[12] * 12))
SIX = bm(L(*[12] * 6))
GOOD = [("lung_molgpa_2017", 14.0)]

# (rule name, minimal patient overrides, estimates, flips that must stop it firing)
CASES = [
    ("ASCO22 R3.1 (no RT)", {"kps": 40}, [], [SYM, {"kps": 80}]),
    ("ASCO22 R3.1 (no RT)", {"kps": 60, "therapy": {"systemic_options_available": False}}, [],
     [{"therapy": {"systemic_options_available": True}}, {"kps": 70}, MILD]),
    ("ASCO22 R3.1 (palliative care)", {"kps": 50}, [], [SYM, {"kps": 90}]),
    ("ASCO22 R1.1 (no known primary)", site("unknown"), [], [site("breast"), bm([], count=0)]),
    ("ASCO22 R1.1 (mass effect)", bm(L(25, mass_effect=True)), [], [bm(L(25))]),
    ("ASTRO22 KQ1.6 (> 4 cm)", bm(L(45)), [], [bm(L(40))]),
    ("EANO21 single BM", bm(L(12)), [], [bm(L(12, 8))]),
    ("EANO21 raised ICP", {"symptoms": {"status": "symptomatic", "severe_icp": True}}, [],
     [{"symptoms": {"status": "symptomatic", "severe_icp": False}}, ASYM]),
    ("EANO21 size/location triggers", bm(L(35, eloquent=True)), [],
     [bm(L(35, eloquent=False)), bm(L(30, eloquent=True))]),
    ("EANO21 size/location triggers",
     bm([{"diameter_mm": 20, "location": "cerebellum", "mass_effect": True}]), [],
     [bm([{"diameter_mm": 20, "location": "cerebellum", "mass_effect": False}]),
      bm([{"diameter_mm": 20, "location": "supratentorial", "mass_effect": True}])]),
    ("CNS25 enlarging after SRS (craniotomy)", bm(L(12, enlarging_after_srs=True)), [],
     [bm(L(12, enlarging_after_srs=False))]),
    ("ASCO22 R3.3 (resected)", bm(L(30, resected=True, cavity_volume_ml=5)), [],
     [bm(L(30, resected=False)), bm(L(30, 30, 30, resected=True))]),
    ("ASCO22 R3.3 (after planned resection)", bm(L(25, 8, mass_effect=True)), [],
     [bm(L(25, 8, 9, mass_effect=True)), bm(L(25, 8))]),
    ("ASCO22 R3.2", {}, [], [SIX, site("sclc"), bm(L(45, 42))]),
    ("ASTRO22 KQ1.1", {}, [], [{"ecog": 3}, SIX]),
    ("ASTRO22 KQ1.2", SIX, [], [{"ecog": 3}, bm(L(12, 12, 12, 12)), bm(L(*[12] * 11))]),
    ("EANO21 SRS 1-4", {}, [], [site("sclc"), SIX]),
    ("EANO21 SRS 5-10", bm(L(*[12] * 6, volume_ml=1.0)), [],
     [bm(L(*[12] * 6, volume_ml=3.0)), bm(L(*[12] * 11, volume_ml=1.0))]),
    ("ASCO22 R3.4 (SRS)", merge({"kps": 80}, SIX), [], [{"kps": 60}, bm(L(12, 12, 12, 12))]),
    ("ASCO22 R3.4 (SRS)", bm(L(20, 20, 20, resected=True)), [], [{"kps": 60},
                                                                  bm(L(20, 20, resected=True))]),
    ("EANO21 SCLC algorithm (SRS)", site("sclc"), [], [site("nsclc")]),
    ("ASCO22 R3.4 (WBRT)", SIX, [], [{"kps": 60}, bm(L(12, 12, 12, 12))]),
    ("EANO21 WBRT (not amenable to SRS)", TWELVE, [], [{"kps": 60},
                                                       bm(L(*[12] * 8, volume_ml=1.0))]),
    ("ASTRO22 KQ3.5 (short-course WBRT)", merge({"kps": 60}, SIX), [],
     [{"kps": 80}, bm(L(12, 12, 12, 12))]),
    ("EANO21 SCLC algorithm (WBRT)", site("sclc"), [], [site("nsclc")]),
    ("ASCO22 R3.4 (SRS + WBRT)", SIX, [], [{"kps": 60}, bm(L(12, 12, 12, 12))]),
    ("ASCO22 R3.2 (not WBRT)", {}, [], [SIX, site("sclc")]),
    ("ASCO22 R3.2 / ASTRO KQ3.4 (not SRS + WBRT)", {}, [], [SIX, site("sclc")]),
    ("EANO21 WBRT after resection discouraged", bm(L(30, resected=True)), [],
     [bm(L(30, 8, resected=False))]),
    ("ASTRO22 KQ2.1 (no observation alone)", bm(L(30, resected=True)), [],
     [bm(L(30, 8, resected=False))]),
    ("ASCO22 R3.5 (HA)", TWELVE, GOOD,
     [bm(L(*[12] * 11) + L(12, hippocampus_distance_mm=3)),
      bm(L(*[12] * 12), leptomeningeal=True), bm(L(12, 12, 12, 12))]),
    ("ASCO22 R3.5 (HA)", TWELVE, GOOD, [{"__estimates__": [("lung_molgpa_2017", 3.5)]}]),
    ("ASCO22 R3.5 (memantine)", TWELVE, GOOD,
     [bm(L(*[12] * 11) + L(12, hippocampus_distance_mm=3)), bm(L(12, 12, 12, 12)),
      {"__estimates__": [("lung_molgpa_2017", 3.5)]}]),
    ("ASTRO22 KQ3.3 (memantine)", TWELVE, [], [{"kps": 60}, bm(L(12, 12, 12, 12))]),
    ("CNS25 LITT", bm(L(12, enlarging_after_srs=True)), [], [bm(L(12))]),
    ("LITT only after SRS", {}, [], [bm(L(12, enlarging_after_srs=True))]),
    ("EANO21 advanced imaging", bm(L(12, enlarging_after_srs=True)), [], [bm(L(12))]),
    ("EANO21 radionecrosis (bevacizumab)", merge(bm(L(12, enlarging_after_srs=True)), MILD),
     [], [bm(L(12)), ASYM]),
    *[(f"ASCO22 R2.3 ({d})", {"primary": {"egfr": "positive"}}, [],
       [{"primary": {"egfr": "negative"}}, site("breast", egfr="positive"), SYM])
      for d in ("osimertinib", "icotinib")],
    *[(f"ASCO22 R2.4 ({d})", {"primary": {"alk": "positive"}}, [],
       [{"primary": {"alk": "negative"}}, site("melanoma", alk="positive"), SYM])
      for d in ("alectinib", "brigatinib", "ceritinib")],
    ("ASCO22 R2.4 (crizotinib excluded)", {"primary": {"alk": "positive"}}, [],
     [{"primary": {"alk": "negative"}}]),
    ("ASCO22 R2.5", {"primary": {"pdl1_tps": 60}, "therapy": {"planned_pemetrexed_platinum": True}},
     [], [{"primary": {"pdl1_tps": 0}}, {"therapy": {"planned_pemetrexed_platinum": False}},
          {"therapy": {"immunotherapy_naive": False}}, SYM, MILD,
          {"primary": {"egfr": "positive"}}, site("breast", pdl1_tps=60)]),
    ("EANO21 NSCLC upfront ICI", {"primary": {"pdl1_tps": 60}}, [],
     [{"primary": {"egfr": "positive"}}, {"primary": {"ros1": "positive"}}, SYM,
      site("melanoma", pdl1_tps=60), {"therapy": {"on_immunotherapy": True}}]),
    ("ASCO22 R2.6 (ipi + nivo)", site("melanoma"), [], [SYM, site("breast")]),
    ("ASCO22 R2.6 (dabrafenib + trametinib)", site("melanoma", braf="positive"), [],
     [site("melanoma", braf="negative"), SYM, site("nsclc", braf="positive")]),
    ("EANO21 dabrafenib + trametinib (symptomatic / dexamethasone)",
     merge(site("melanoma", braf="positive"), SYM), [],
     [ASYM, site("melanoma", braf="negative")]),
    ("EANO21 dabrafenib + trametinib (symptomatic / dexamethasone)",
     merge(site("melanoma", braf="positive"), MILD, {"therapy": {"dexamethasone_mg_day": 4}}),
     [], [{"therapy": {"dexamethasone_mg_day": 3}}]),
    ("ASCO22 R2.7", merge(site("breast", her2="positive"),
                          {"therapy": {"prior_her2_therapies": ["trastuzumab"]}}), [],
     [site("breast", her2="negative"), SYM, {"therapy": {"prior_her2_therapies": ["lapatinib"]}}]),
    ("ASCO-HER2-22 R7.1", merge(site("breast", her2="positive"),
                                {"therapy": {"prior_her2_therapies": ["lapatinib"]}}), [],
     [{"therapy": {"prior_her2_therapies": []}}, merge(SYM, bm(L(25, mass_effect=True))),
      site("breast", her2="negative")]),
    # decision 4 for HER2+: symptomatic with mass effect (outside R2.7/R7.1, decision 8)
    ("EANO21 HER2+, symptomatic (decision 4)",
     merge(site("breast", her2="positive"), SYM, bm(L(25, mass_effect=True)),
           {"therapy": {"prior_her2_therapies": ["trastuzumab"]}}), [],
     [ASYM, bm(L(25)), site("breast", her2="negative"),
      {"therapy": {"prior_her2_therapies": []}}]),
    ("EANO21 SCLC", site("sclc"), [], [site("nsclc")]),
    # decision 4: symptoms restrict deferral, not the drug (EANO21 targeted row, no deferral)
    *[(f"EANO21 targeted, symptomatic ({d})", merge({"primary": {"egfr": "positive"}}, SYM), [],
       [ASYM, {"primary": {"egfr": "negative"}},
        {"primary": {"egfr_variant": "exon20_insertion"}}, site("breast", egfr="positive")])
      for d in ("osimertinib", "icotinib")],
    *[(f"EANO21 targeted, symptomatic ({d})", merge({"primary": {"alk": "positive"}}, SYM), [],
       [ASYM, {"primary": {"alk": "negative"}}]) for d in ("alectinib", "brigatinib", "ceritinib")],
    # decision 2: another actionable driver -> driver-targeted therapy (MDT)
    ("EANO21 / decision 2 driver-targeted therapy", {"primary": {"ros1": "positive"}}, [],
     [{"primary": {"ros1": "negative"}}, site("breast", ros1="positive")]),
    ("decision 2 driver-targeted therapy (outside ASCO22)",
     {"primary": {"egfr": "positive", "egfr_variant": "exon20_insertion"}}, [],
     [{"primary": {"egfr_variant": "common"}}]),
    ("decision 2 driver-targeted therapy (outside ASCO22)", {"primary": {"ret": "positive"}},
     [], [{"primary": {"ret": "negative"}}, {"primary": {"ret": None, "ros1": "positive"}}]),
    # ASTRO KQ3.2 remark: no HA with a lesion near the hippocampus or with LMD (MUST-NOT)
    ("ASTRO22 KQ3.2 (no HA near hippocampus / LMD)",
     bm(L(*[12] * 11) + L(12, hippocampus_distance_mm=3)), GOOD,
     [TWELVE, bm(L(*[12] * 3) + L(12, hippocampus_distance_mm=3))]),
    ("ASTRO22 KQ3.2 (no HA near hippocampus / LMD)", bm(L(*[12] * 12), leptomeningeal=True),
     GOOD, [bm(L(*[12] * 12), leptomeningeal=False)]),
    ("ASCO22 temozolomide", {}, [], []),
    ("ASCO22 R3.6", {}, [], []),
    ("RYKEN10 / EANO21 dexamethasone", SYM, [], [ASYM, {"symptoms": {"severe_icp": True}}]),
    ("RYKEN10 / EANO21 dexamethasone (severe raised ICP)",
     {"symptoms": {"status": "symptomatic", "severe_icp": True}}, [],
     [ASYM, {"symptoms": {"severe_icp": False}}]),
    ("EANO21 no steroids if asymptomatic", {}, [], [SYM, MILD]),
    ("EANO21 / WALB21 AED after seizure", {"symptoms": {"seizure_history": True}}, [],
     [{"symptoms": {"seizure_history": False}}]),
    ("No AED prophylaxis", {}, [], [{"symptoms": {"seizure_history": True}}]),
    ("ASTRO22 KQ3.5 / EANO21 palliative care", {"kps": 60}, [], [{"kps": 80}]),
    ("ASTRO22 KQ3.5 / EANO21 palliative care", {}, [("ds_gpa_2012", 2.5)],
     [{"__estimates__": [("ds_gpa_2012", 6.0)]}]),
    ("EANO21 / ASTRO MRI surveillance", {}, [], [{"kps": 40}]),
    ("EANO21 / ASTRO MRI surveillance", merge({"kps": 40}, {"primary": {"egfr": "positive"}}),
     [], [{"primary": {"egfr": "negative"}}]),
]


def _verdicts(base_fixture, over, estimates, est):
    over = dict(over)
    if "__estimates__" in over:
        estimates = over.pop("__estimates__")
    data = base_fixture(over)
    p = parse_patient(data)
    return explain(p, [est(i, m) for i, m in estimates])


@pytest.mark.parametrize("name,over,estimates,flips", CASES,
                         ids=[f"{c[0]}#{i}" for i, c in enumerate(CASES)])
def test_rule_fires_and_each_flip_stops_it(name, over, estimates, flips, patient_data, est):
    fired = _verdicts(patient_data, over, estimates, est)
    assert fired[name] == "fired", f"{name} did not fire on its minimal patient: {fired[name]}"
    for flip in flips:
        v = _verdicts(patient_data, merge(over, flip), estimates, est)
        assert v[name] != "fired", f"{name} still fired after flipping {flip}"


def test_every_rule_has_a_case():
    covered = {c[0] for c in CASES}
    missing = [r.name for r in rules() if r.name not in covered]
    assert not missing, f"rules without a fire/flip test: {missing}"
