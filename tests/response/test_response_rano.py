"""RANO-BM engine: vignette V17 (treatment.md §9) and every rule boundary of §6."""

from __future__ import annotations

import datetime as dt

import pytest

from brainmets.response import evaluate


def _flags(res, word: str) -> list[str]:
    return [f for f in res.flags_for_review if word.lower() in f.lower()]


# ------------------------------------------------------------------ V17 (a)-(d)


def test_v17a_pd_vs_nadir_although_below_baseline(record, tp, lesion):
    res = evaluate(record(
        tp("2026-01-10", [lesion("L1", 25, 18), lesion("L2", 15, 10)]),
        tp("2026-03-10", [lesion("L1", 17, 10), lesion("L2", 11, 8)]),
        tp("2026-05-10", [lesion("L1", 22, 10), lesion("L2", 12, 8)]),
    ))
    assert res.baseline_sum_mm == 40 and res.nadir_sum_mm == 28 and res.current_sum_mm == 34
    assert res.category == "PD" and res.category != "SD"
    assert res.pct_vs_nadir == pytest.approx(21.43, abs=0.01)
    assert any("+21.4%" in r for r in res.reasons)
    assert any("L1 +5.0 mm" in r for r in res.reasons)


def test_v17b_first_pr_is_provisional(record, tp, lesion):
    res = evaluate(record(
        tp("2026-01-10", [lesion("L1", 25, 18), lesion("L2", 15, 10)], steroid=4),
        tp("2026-03-10", [lesion("L1", 17, 10), lesion("L2", 11, 8)], steroid=4),
    ))
    assert res.pct_vs_baseline == -30.0
    assert res.category == "PR"
    assert res.provisional is True
    assert any("provisional" in r for r in res.reasons)


def test_v17c_steroid_increase_blocks_pr(record, tp, lesion):
    res = evaluate(record(
        tp("2026-01-10", [lesion("L1", 25, 18), lesion("L2", 15, 10)], steroid=4),
        tp("2026-03-10", [lesion("L1", 17, 10), lesion("L2", 11, 8)], steroid=8),
    ))
    assert res.category != "PR"
    assert res.category == "SD"
    assert any("corticosteroid dose increased" in r for r in res.reasons)
    assert _flags(res, "steroid")


def test_v17d_irano_new_lesion_unconfirmed_pd(record, tp, lesion):
    res = evaluate(record(
        tp("2026-01-05", [lesion("L1", 20, 15)]),
        tp("2026-03-05", [lesion("L1", 20, 15), lesion("N1", 6, 5, new=True)]),
        io_start="2026-01-05",
    ))
    assert res.category == "PD_unconfirmed"
    assert res.category != "PD"
    assert res.provisional is True
    text = " ".join(res.reasons)
    assert "iRANO" in text and "unconfirmed PD" in text and "repeat imaging" in text
    assert "new lesions alone do not define PD" in text
    assert res.source == "RANO-BM, Lin 2015"
    assert [r["id"] for r in res.references] == ["RANOBM", "iRANO"]


# ------------------------------------------------------------------ PR boundary (30 %)


@pytest.mark.parametrize(("now", "cat"), [(28.0, "PR"), (28.1, "SD"), (27.9, "PR")])
def test_pr_exactly_30_percent_boundary(record, tp, lesion, now, cat):
    res = evaluate(record(
        tp("2026-01-10", [lesion("L1", 40, 20)]),
        tp("2026-03-10", [lesion("L1", now, 15)]),
    ))
    assert res.category == cat


# ------------------------------------------------------------------ PD boundary (20 %)


@pytest.mark.parametrize(("now", "cat"), [(48.0, "PD"), (47.9, "SD")])
def test_pd_exactly_20_percent_boundary(record, tp, lesion, now, cat):
    res = evaluate(record(
        tp("2026-01-10", [lesion("L1", 40, 20)]),
        tp("2026-03-10", [lesion("L1", 40, 20)]),
        tp("2026-05-10", [lesion("L1", now, 20)]),
    ))
    assert res.category == cat


@pytest.mark.parametrize(("a_now", "cat"), [(15.0, "SD"), (15.1, "PD")])
def test_pd_absolute_rise_4_9_vs_5_0_mm(record, tp, lesion, a_now, cat):
    # sum +39 % vs nadir, but PD also needs one lesion up >= 5 mm (15.1 - 10.1 is exactly 5.0)
    res = evaluate(record(
        tp("2026-01-10", [lesion("A", 10.1, 8), lesion("B", 14.9, 9)]),
        tp("2026-03-10", [lesion("A", a_now, 8), lesion("B", 19.8, 9)]),
    ))
    assert res.category == cat
    if cat == "SD":
        assert any("no target grew by >= 5.0 mm" in r for r in res.reasons)


def test_pd_needs_20_percent_even_with_5mm_rise(record, tp, lesion):
    # one lesion +6 mm but the sum only +10 %
    res = evaluate(record(
        tp("2026-01-10", [lesion("L1", 30, 20), lesion("L2", 30, 20)]),
        tp("2026-03-10", [lesion("L1", 36, 20), lesion("L2", 30, 20)]),
    ))
    assert res.category == "SD"


def test_nadir_includes_baseline(record, tp, lesion):
    res = evaluate(record(
        tp("2026-01-10", [lesion("L1", 20, 10)]),
        tp("2026-03-10", [lesion("L1", 22, 10)]),
        tp("2026-05-10", [lesion("L1", 25, 10)]),
    ))
    assert res.nadir_sum_mm == 20 and res.category == "PD"


# ------------------------------------------------------------------ 4-week confirmation


@pytest.mark.parametrize(("days", "provisional"), [(27, True), (28, False)])
def test_confirmation_day_27_vs_28(record, tp, lesion, days, provisional):
    first = dt.date(2026, 2, 1)
    res = evaluate(record(
        tp("2026-01-01", [lesion("L1", 40, 20)]),
        tp(first, [lesion("L1", 26, 15)]),
        tp(first + dt.timedelta(days=days), [lesion("L1", 25, 15)]),
    ))
    assert res.category == "PR"
    assert res.provisional is provisional


def test_confirmation_run_broken_by_sd_restarts(record, tp, lesion):
    res = evaluate(record(
        tp("2026-01-01", [lesion("L1", 40, 20)]),
        tp("2026-02-01", [lesion("L1", 26, 15)]),
        tp("2026-03-01", [lesion("L1", 30, 15)]),
        tp("2026-03-20", [lesion("L1", 26, 15)]),
    ))
    assert res.category == "PR" and res.provisional is True


def test_cr_confirmed_after_4_weeks(record, tp, lesion):
    res = evaluate(record(
        tp("2026-01-01", [lesion("L1", 20, 10), lesion("S1", 6, 5)]),
        tp("2026-03-01", [lesion("L1", 0, 0), lesion("S1", 0, 0)]),
        tp("2026-04-01", [lesion("L1", 0, 0), lesion("S1", 0, 0)]),
    ))
    assert res.category == "CR" and res.provisional is False
    assert [h.category for h in res.history[1:]] == ["CR", "CR"]
    assert res.history[1].provisional is True


def test_cr_needs_no_steroids(record, tp, lesion):
    res = evaluate(record(
        tp("2026-01-01", [lesion("L1", 20, 10)], steroid=2),
        tp("2026-03-01", [lesion("L1", 0, 0)], steroid=2),
    ))
    assert res.category == "PR"
    assert any("corticosteroids" in r for r in res.reasons)


def test_cr_needs_non_targets_gone(record, tp, lesion):
    res = evaluate(record(
        tp("2026-01-01", [lesion("L1", 20, 10), lesion("S1", 6, 5)]),
        tp("2026-03-01", [lesion("L1", 0, 0), lesion("S1", 4, 3)]),
    ))
    assert res.category == "PR"
    assert res.non_targets[0].status == "present"


def test_cr_not_shown_when_non_target_not_remeasured(record, tp, lesion):
    res = evaluate(record(
        tp("2026-01-01", [lesion("L1", 20, 10), lesion("S1", 6, 5)]),
        tp("2026-03-01", [lesion("L1", 0, 0)]),
    ))
    assert res.category == "PR"
    assert res.non_targets[0].status == "not_assessed"


# ---------------------------------------------------- new lesions, non-targets, clinical


def test_new_lesion_is_pd_off_immunotherapy(record, tp, lesion):
    res = evaluate(record(
        tp("2026-01-01", [lesion("L1", 20, 10)]),
        tp("2026-03-01", [lesion("L1", 12, 8), lesion("N1", 6, 5, new=True)]),
    ))
    assert res.category == "PD"
    assert res.new_lesions[0].id == "N1"
    assert res.pd_date == dt.date(2026, 3, 1)


def test_equivocal_new_lesion_then_confirmed_dates_pd_to_first_scan(record, tp, lesion):
    first = evaluate(record(
        tp("2026-01-01", [lesion("L1", 20, 10)]),
        tp("2026-03-01", [lesion("L1", 20, 10), lesion("N1", 3, 2, new=True, equivocal=True)]),
    ))
    assert first.category == "SD"
    assert _flags(first, "equivocal")
    res = evaluate(record(
        tp("2026-01-01", [lesion("L1", 20, 10)]),
        tp("2026-03-01", [lesion("L1", 20, 10), lesion("N1", 3, 2, new=True, equivocal=True)]),
        tp("2026-05-01", [lesion("L1", 20, 10), lesion("N1", 7, 5)]),
    ))
    assert res.category == "PD"
    assert res.pd_date == dt.date(2026, 3, 1)


def test_non_target_unequivocal_progression_is_pd(record, tp, lesion):
    res = evaluate(record(
        tp("2026-01-01", [lesion("L1", 20, 10), lesion("S1", 6, 4)]),
        tp("2026-03-01", [lesion("L1", 20, 10), lesion("S1", 9, 6)], nontarget_progression=True),
    ))
    assert res.category == "PD"
    assert any("non-target" in r for r in res.reasons)


def test_non_target_growing_past_10mm_is_flagged_not_decided(record, tp, lesion):
    res = evaluate(record(
        tp("2026-01-01", [lesion("L1", 20, 10), lesion("S1", 8, 6)]),
        tp("2026-03-01", [lesion("L1", 20, 10), lesion("S1", 12, 8)]),
    ))
    assert res.category == "SD"
    assert _flags(res, "§6.4b")


def test_clinical_worse_alone_is_pd_and_flagged(record, tp, lesion):
    res = evaluate(record(
        tp("2026-01-01", [lesion("L1", 20, 10)]),
        tp("2026-03-01", [lesion("L1", 20, 10)], clinical="worse"),
    ))
    assert res.category == "PD"
    assert _flags(res, "clinical status alone")


def test_steroid_increase_alone_is_not_pd(record, tp, lesion):
    res = evaluate(record(
        tp("2026-01-01", [lesion("L1", 20, 10)], steroid=0),
        tp("2026-03-01", [lesion("L1", 20, 10)], steroid=8),
    ))
    assert res.category == "SD"
    assert any("steroid increase alone is not PD" in r for r in res.reasons)


def test_pr_blocked_by_worse_clinical_status_becomes_pd(record, tp, lesion):
    res = evaluate(record(
        tp("2026-01-01", [lesion("L1", 40, 20)]),
        tp("2026-03-01", [lesion("L1", 20, 10)], clinical="worse"),
    ))
    assert res.category == "PD"


def test_pr_blocked_by_new_lesion(record, tp, lesion):
    res = evaluate(record(
        tp("2026-01-01", [lesion("L1", 40, 20)]),
        tp("2026-03-01", [lesion("L1", 20, 10), lesion("N1", 4, 3, new=True, equivocal=True)]),
    ))
    assert res.category == "SD"
    assert any("new lesion" in r for r in res.reasons)


# ------------------------------------------------------------------ iRANO


def _growth(record, tp, lesion, scan_date: str, clinical: str = "stable", start="2026-01-15"):
    return record(
        tp("2026-01-10", [lesion("L1", 20, 10)]),
        tp(scan_date, [lesion("L1", 26, 12)], clinical=clinical),
        io_start=start,
    )


@pytest.mark.parametrize(("scan", "cat"), [("2026-07-14", "PD_unconfirmed"), ("2026-07-15", "PD")])
def test_irano_month_6_boundary(record, tp, lesion, scan, cat):
    assert evaluate(_growth(record, tp, lesion, scan)).category == cat


def test_irano_month_end_clamps(record, tp, lesion):
    # start 31 Aug: six calendar months later is 28 Feb (non-leap 2027)
    rec = _growth(record, tp, lesion, "2027-02-27", start="2026-08-31")
    rec["timepoints"][0]["date"] = "2026-08-30"
    assert evaluate(rec).category == "PD_unconfirmed"
    rec["timepoints"][1]["date"] = "2027-02-28"
    assert evaluate(rec).category == "PD"


def test_irano_clinically_worse_is_final_pd(record, tp, lesion):
    res = evaluate(_growth(record, tp, lesion, "2026-03-01", clinical="worse"))
    assert res.category == "PD"


def test_irano_not_applied_before_immunotherapy_starts(record, tp, lesion):
    res = evaluate(_growth(record, tp, lesion, "2026-03-01", start="2026-04-01"))
    assert res.category == "PD"


def test_irano_confirmed_on_next_scan_dated_to_first(record, tp, lesion):
    res = evaluate(record(
        tp("2026-01-10", [lesion("L1", 20, 10)]),
        tp("2026-03-01", [lesion("L1", 26, 12)]),
        tp("2026-05-01", [lesion("L1", 30, 12)]),
        io_start="2026-01-15",
    ))
    assert [h.category for h in res.history[1:]] == ["PD_unconfirmed", "PD"]
    assert res.pd_date == dt.date(2026, 3, 1)
    assert _flags(res, "iRANO confirmation")


def test_irano_pseudoprogression_resolves(record, tp, lesion):
    res = evaluate(record(
        tp("2026-01-10", [lesion("L1", 20, 10)]),
        tp("2026-03-01", [lesion("L1", 26, 12)]),
        tp("2026-05-01", [lesion("L1", 18, 10)]),
        io_start="2026-01-15",
    ))
    assert [h.category for h in res.history[1:]] == ["PD_unconfirmed", "SD"]


def test_new_lesion_alone_on_immunotherapy_after_window_not_pd(record, tp, lesion):
    res = evaluate(record(
        tp("2026-01-10", [lesion("L1", 20, 10)]),
        tp("2026-09-01", [lesion("L1", 20, 10), lesion("N1", 6, 5, new=True)]),
        io_start="2026-01-15",
    ))
    assert res.category == "SD"
    assert any("new lesions alone do not define PD" in r for r in res.reasons)
    assert _flags(res, "immunotherapy")


# ------------------------------------------------------------------ targets and uncertain points


def test_measurability_and_five_largest_targets(record, tp, lesion):
    base = [lesion(f"L{k}", 10 + k, 6) for k in range(7)]
    base += [lesion("tiny", 9.9, 6), lesion("flat", 30, 4.9)]
    res = evaluate(record(tp("2026-01-01", base), tp("2026-03-01", base)))
    assert [t.id for t in res.targets] == ["L6", "L5", "L4", "L3", "L2"]
    nts = {n.id: n.why_non_target for n in res.non_targets}
    assert "< 10.0 mm" in nts["tiny"] and "perpendicular" in nts["flat"]
    assert "beyond the 5 largest" in nts["L0"]
    assert _flags(res, "reproducibility")


def test_boundary_measurable_exactly_10_and_5(record, tp, lesion):
    res = evaluate(record(
        tp("2026-01-01", [lesion("A", 10.0, 5.0)]), tp("2026-03-01", [lesion("A", 10.0, 5.0)])
    ))
    assert [t.id for t in res.targets] == ["A"]


def test_reader_chosen_targets(record, tp, lesion):
    res = evaluate(record(
        tp("2026-01-01", [lesion("A", 30, 10), lesion("B", 12, 8, target=True)]),
        tp("2026-03-01", [lesion("A", 30, 10), lesion("B", 12, 8)]),
    ))
    assert [t.id for t in res.targets] == ["B"]
    assert res.non_targets[0].id == "A"


def test_small_lesion_rule_flags_and_never_substitutes_by_default(record, tp, lesion):
    rec = record(
        tp("2026-01-01", [lesion("L1", 20, 10), lesion("L2", 20, 10)]),
        tp("2026-03-01", [lesion("L1", 3, 2), lesion("L2", 20, 10)]),
    )
    res = evaluate(rec)
    assert res.current_sum_mm == 23.0
    assert _flags(res, "small-lesion rule")
    res5 = evaluate(rec, {"small_lesion_rule": "recist_5mm"})
    assert res5.current_sum_mm == 25.0
    assert _flags(res5, "differs from the spec default")


def test_five_mm_reference_scan_is_configurable_and_flagged(record, tp, lesion):
    # nadir at t1 (sum 30); t2 small rise; t3: L1 +6 vs nadir scan, +3 vs prior scan
    rec = record(
        tp("2026-01-01", [lesion("L1", 20, 10), lesion("L2", 20, 10)]),
        tp("2026-02-01", [lesion("L1", 14, 10), lesion("L2", 16, 10)]),
        tp("2026-03-01", [lesion("L1", 17, 10), lesion("L2", 16, 10)]),
        tp("2026-04-01", [lesion("L1", 20, 10), lesion("L2", 16, 10)]),
    )
    res = evaluate(rec)
    assert res.category == "PD"
    assert _flags(res, "5.0 mm rule reference scan")
    assert evaluate(rec, {"absolute_increase_reference": "prior"}).category == "SD"


def test_volumes_are_research_only(record, tp, lesion):
    rec = record(
        tp("2026-01-01", [lesion("L1", 20, 10, volume_ml=2.0)]),
        tp("2026-03-01", [lesion("L1", 20, 10, volume_ml=4.0)]),
    )
    res = evaluate(rec)
    assert res.category == "SD"
    assert res.volumetric is not None and "research only" in res.volumetric["label"]
    assert res.volumetric["total_change_vs_baseline_pct"] == 100.0
    assert _flags(res, "research only")


def test_thresholds_carry_source_ids(record, tp, lesion):
    res = evaluate(record(tp("2026-01-01", [lesion("L1", 20, 10)]),
                          tp("2026-03-01", [lesion("L1", 20, 10)])))
    assert res.source.startswith("RANO-BM, Lin 2015")
    assert all(t["source"] in {"RANOBM", "iRANO"} for t in res.thresholds.values())
    assert res.references[0]["id"] == "RANOBM" and "Lin" in res.references[0]["citation"]


def test_pd_earlier_flagged_on_later_timepoints(record, tp, lesion):
    res = evaluate(record(
        tp("2026-01-01", [lesion("L1", 20, 10)]),
        tp("2026-02-01", [lesion("L1", 26, 10)]),
        tp("2026-03-01", [lesion("L1", 12, 10)]),
    ))
    assert _flags(res, "already recorded")


def test_unknown_steroids_and_clinical_flagged(record, tp, lesion):
    res = evaluate(record(
        tp("2026-01-01", [lesion("L1", 40, 20)], steroid=None, clinical=None),
        tp("2026-03-01", [lesion("L1", 20, 10)], steroid=None, clinical=None),
    ))
    assert res.category == "PR"
    assert _flags(res, "corticosteroid dose not recorded")
    assert _flags(res, "clinical status not recorded")


def test_irano_unconfirmed_then_pd_after_window_is_backdated(record, tp, lesion):
    res = evaluate(record(
        tp("2026-01-10", [lesion("L1", 20, 10)]),
        tp("2026-06-01", [lesion("L1", 26, 12)]),
        tp("2026-08-01", [lesion("L1", 30, 12)]),
        io_start="2026-01-15",
    ))
    assert [h.category for h in res.history[1:]] == ["PD_unconfirmed", "PD"]
    assert res.pd_date == dt.date(2026, 6, 1)


def test_reappearing_lesion_is_flagged(record, tp, lesion):
    res = evaluate(record(
        tp("2026-01-01", [lesion("L1", 20, 10), lesion("S1", 6, 5)]),
        tp("2026-03-01", [lesion("L1", 20, 10), lesion("S1", 0, 0)]),
        tp("2026-05-01", [lesion("L1", 20, 10), lesion("S1", 5, 4)]),
    ))
    assert _flags(res, "S1 reappeared")
