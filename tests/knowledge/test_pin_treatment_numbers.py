"""Dose tables, radiobiology constants and rule thresholds pinned to ``treatment.md``.

Expected values are written from ``shared/reference/treatment.md`` (section in each comment),
never read from ``knowledge/data/treatment``. Rows are compared as whole tuples, so a change
to any bound or dose fails with a diff naming the row; the engine lookups are also checked at
each boundary. (Engineer B pins the numbers B adds to the treatment files.)
"""

from __future__ import annotations

import pytest

from brainmets.treatment import kb
from brainmets.treatment.dosing import cavity_dose, rtog9005_limit, srs_dose


def test_srs_size_bins():
    # §2.2 / §1.2 KQ1.3-1.6: < 2 cm; >= 2 to < 3 cm; >= 3 to 4 cm (4 cm included); > 4 cm;
    # > 6 cm discouraged. 300 mm is the table's open upper end (engineering, not clinical).
    rows = [(b["min_mm"], b["max_mm"], bool(b.get("lower_exclusive")),
             bool(b.get("upper_inclusive")), b["rec"])
            for b in kb.dosing()["srs_single_fraction"]["bin"]]
    assert rows == [(0, 20, False, False, "KQ1.3"), (20, 30, False, False, "KQ1.4"),
                    (30, 40, False, True, "KQ1.5"), (40, 60, True, True, "KQ1.6"),
                    (60, 300, True, True, "KQ1.6")]


@pytest.mark.parametrize(("mm", "rec"), [(19.9, "KQ1.3"), (20.0, "KQ1.4"), (29.9, "KQ1.4"),
                                         (30.0, "KQ1.5"), (40.0, "KQ1.5"), (40.1, "KQ1.6"),
                                         (60.0, "KQ1.6"), (300.0, "KQ1.6")])
def test_srs_dose_lookup_boundaries(mm, rec):
    assert srs_dose(mm)["rec"] == rec


def test_srs_table_ends_at_300_mm():
    with pytest.raises(ValueError, match="outside the dose table"):
        srs_dose(300.1)


def test_rtog9005_mtd():
    # §2.1: <= 20 mm 24 Gy; 21-30 mm 18 Gy; 31-40 mm 15 Gy (continuous reading > 20, > 30)
    rows = [(b["max_mm"], b["mtd_gy"]) for b in kb.dosing()["rtog9005"]["bin"]]
    assert rows == [(20, 24), (30, 18), (40, 15)]
    assert [rtog9005_limit(d)["mtd_gy"] for d in (20, 20.5, 30, 30.5, 40, 40.5)] == [
        24, 18, 18, 15, 15, None]


def test_cavity_dose_table():
    # §2.3 (N107C, ASTRO22 Table 5): < 4.2 -> 20; 4.2-8.0 -> 18; 8.0-14.4 -> 17;
    # 14.4-20.0 -> 15; 20.0-30.0 -> 14; >= 30.0 -> 12 Gy (2000 ml = open upper end)
    t = kb.dosing()["cavity_single_fraction"]
    rows = [(b["min_ml"], b["max_ml"], b["dose_gy"]) for b in t["bin"]]
    assert rows == [(0, 4.2, 20), (4.2, 8.0, 18), (8.0, 14.4, 17), (14.4, 20.0, 15),
                    (20.0, 30.0, 14), (30.0, 2000, 12)]
    # §2.3: N107C cavities < 5.0 cm; fractionated 9 Gy x 3 for cavities > 3 cm
    assert t["max_cavity_dimension_mm"] == 50
    assert t["fractionated_threshold_mm"] == 30


@pytest.mark.parametrize(("ml", "gy"), [(4.19, 20), (4.2, 18), (7.99, 18), (8.0, 17),
                                        (14.4, 15), (19.99, 15), (20.0, 14), (30.0, 12)])
def test_cavity_dose_lookup_boundaries(ml, gy):
    assert cavity_dose(ml, 20)["dose_gy"] == gy


def test_cavity_notes_at_5_cm_and_3_cm():
    assert cavity_dose(5, 49.9)["notes"] == []
    assert any("outside the N107C table" in n for n in cavity_dose(5, 50)["notes"])
    assert cavity_dose(5, 30)["fractionated_note"] is None
    assert cavity_dose(5, 30.1)["fractionated_note"]


def test_necrosis_and_radiobiology_constants():
    d = kb.dosing()
    # §2.4 ASTRO KQ4: single-fraction V12Gy <= 10 cm3
    assert d["necrosis"]["v12_limit_cm3"] == 10
    # §2.5: alpha/beta 10 Gy (metastases), 2 Gy (brain, default); LQ validated to ~10 Gy per
    # fraction, reasonable to ~18 Gy (Brenner 2008)
    rb = d["radiobiology"]
    assert (rb["alpha_beta_tumour"], rb["alpha_beta_brain"], rb["lq_validated_max_gy"],
            rb["lq_reasonable_max_gy"]) == (10, 2, 10, 18)


def test_rule_thresholds():
    s = kb.settings()
    # §1.1 R3.1: KPS <= 50, or KPS < 70 with no systemic options
    assert (s["asco_r31"]["kps_very_poor_max"], s["asco_r31"]["kps_poor_below"]) == (50, 70)
    # §1.1 R3.2: 1-4 unresected; panel reading "< 4 cm"
    assert (s["asco_r32"]["max_unresected"], s["asco_r32"]["panel_size_reading_mm"]) == (4, 40)
    # §1.1 R3.3: 1-2 resected
    assert s["asco_r33"]["max_resected"] == 2
    # §1.1 R3.4: > 4 unresected or > 2 resected, KPS >= 70
    r34 = s["asco_r34"]
    assert (r34["unresected_above"], r34["resected_above"], r34["kps_min"]) == (4, 2, 70)
    # §1.1 R3.5 / §3.2: expected survival >= 4 months; lesions within 5 mm of the hippocampus
    r35 = s["asco_r35"]
    assert (r35["min_expected_survival_months"], r35["hippocampus_exclusion_mm"]) == (4, 5)
    # §1.2 KQ1.1-1.2 and 1.6: ECOG 0-2; <= 4 strong; 5-10 conditional; > 4 cm surgery
    a = s["astro_kq1"]
    assert (a["ecog_max"], a["srs_max_count_strong"], a["srs_max_count_conditional"],
            a["surgery_above_mm"]) == (2, 4, 10, 40)
    # §1.3 EANO21: 5-10 BM with cumulative volume < 15 ml; favourable 1-10 BM, survival
    # > 3 months; large BM > 3 cm; dexamethasone >= 4 mg; ICI alone if PD-L1 >= 50 %
    e = s["eano"]
    assert (e["srs_5_10_cumulative_volume_below_ml"], e["favourable_max_count"],
            e["unfavourable_survival_below_months"], e["surgery_size_above_mm"],
            e["dex_threshold_mg"], e["pdl1_high_min"]) == (15, 10, 3, 30, 4, 50)


def test_dose_texts():
    # Doses shown as text carry clinical numbers too; each written from the spec.
    d = kb.dosing()
    # §2.2 / §1.2 KQ1.3-1.6: single fraction 20-24 Gy (< 2 cm), 18 Gy (2-2.9 cm), up to 15 Gy
    # (3-4 cm); multifraction 27 Gy/3 or 30 Gy/5 (V12Gy > 10 cm3 for < 2 cm); SRS > 6 cm
    # discouraged
    assert [(b["single_fraction"], b["multifraction"])
            for b in d["srs_single_fraction"]["bin"]] == [
        ("20-24 Gy x 1", "27 Gy/3 or 30 Gy/5 if multifraction is chosen (e.g. V12Gy > 10 cm3)"),
        ("18 Gy x 1", "27 Gy/3 or 30 Gy/5"),
        ("up to 15 Gy x 1 only if single fraction is chosen",
         "27 Gy/3 or 30 Gy/5 (multifraction preferred)"),
        ("not preferred", "surgery first; if surgery is not feasible, multifraction SRS is "
                          "preferred over single fraction"),
        ("SRS discouraged", "SRS discouraged for tumours > 6 cm"),
    ]
    # §3.1: WBRT standard 30 Gy/10; short course 20 Gy/5 for poor prognosis
    assert (d["wbrt"]["standard"], d["wbrt"]["short_course"]) == ("30 Gy/10", "20 Gy/5")
    # §2.3: fractionated cavity SRS 9 Gy x 3 for cavities > 3 cm
    assert d["cavity_single_fraction"]["fractionated"].startswith("9 Gy x 3 for cavities > 3 cm")
    s = kb.settings()
    # §5.1 RYKEN10: mild symptoms 4-8 mg/day; severe raised ICP >= 16 mg/day
    assert (s["dexamethasone"]["mild"], s["dexamethasone"]["severe_icp"]) == (
        "4-8 mg/day", ">= 16 mg/day")
    # §3.3 memantine: within 3 days of WBRT, target 20 mg/day, 24 weeks; weekly 5 mg titration
    assert s["memantine"]["schedule"] == (
        "start within 3 days of starting WBRT; target 20 mg/day; total 24 weeks")
    assert s["memantine"]["titration"] == [
        "week 1: 5 mg morning (5 mg/day)", "week 2: 5 mg morning + 5 mg evening (10 mg/day)",
        "week 3: 10 mg morning + 5 mg evening (15 mg/day)",
        "weeks 4-24: 10 mg morning + 10 mg evening (20 mg/day)"]
