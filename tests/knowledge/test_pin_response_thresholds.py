"""RANO-BM / iRANO numbers pinned to ``shared/reference/treatment.md`` §6.

Expected values are written from the spec (section in each comment), not read from
``knowledge/data/response/rano_bm.toml``. Each number is pinned twice: as the loaded value and
through the engine at the boundary it governs, so a wrong number and a wrong use both fail.
"""

from __future__ import annotations

import pytest

from brainmets.response import evaluate
from brainmets.response.config import default_config

# treatment.md §6.1 measurable: LD >= 10 mm and perpendicular >= 5 mm; targets: up to 5.
# §6.2: PR >= 30 % decrease vs baseline; PD >= 20 % increase vs nadir AND >= 5 mm absolute
# increase in one lesion; CR/PR sustained >= 4 weeks (28 days).
# §6.5 iRANO: PD within 6 months of starting immunotherapy is unconfirmed.
# §6.4(a): RECIST's 5 mm default for lesions too small to measure (used only on request).
SPEC_THRESHOLDS = {
    "measurable_min_longest_diameter_mm": 10,
    "measurable_min_perpendicular_mm": 5,
    "max_target_lesions": 5,
    "pr_min_decrease_vs_baseline": 0.30,
    "pd_min_increase_vs_nadir": 0.20,
    "pd_min_absolute_increase_mm": 5,
    "confirmation_min_days": 28,
    "irano_window_months": 6,
    "recist_small_lesion_default_mm": 5,
}


def test_threshold_values_match_spec():
    cfg = default_config()
    got = {k: cfg.thresholds[k].value for k in SPEC_THRESHOLDS}
    assert got == SPEC_THRESHOLDS


def test_tracking_gate_is_15_mm():
    # Engineering constant, not clinical (rano_bm.toml [tracking] says so; DESIGN choice):
    # pinned here so that changing the lesion-matching gate is a deliberate, reviewed edit.
    assert default_config().match_max_distance_mm == 15


def _lesion(lid, ld, perp=8.0, **kw):
    return {"id": lid, "longest_diameter_mm": ld, "perpendicular_mm": perp, **kw}


def _tp(date, lesions, **kw):
    return {"date": date, "steroid_mg_day": 0, "clinical_status": "stable", "lesions": lesions,
            **kw}


def _rec(*tps, io_start=None):
    return {"on_immunotherapy": io_start is not None, "immunotherapy_start": io_start,
            "timepoints": list(tps)}


@pytest.mark.parametrize(("now", "cat"), [(35.0, "PR"), (35.5, "SD")])
def test_pr_boundary_is_30_percent(now, cat):
    # §6.2: 50 -> 35 mm is exactly -30 % (PR); 35.5 mm is -29 % (SD)
    res = evaluate(_rec(_tp("2026-01-10", [_lesion("L1", 50)]),
                        _tp("2026-03-10", [_lesion("L1", now)])))
    assert res.category == cat


@pytest.mark.parametrize(("now", "cat"), [(30.0, "PD"), (29.5, "SD")])
def test_pd_boundary_is_20_percent_and_5_mm(now, cat):
    # §6.2: nadir 25 mm (baseline); 30 mm = +20 % and +5 mm -> PD; 29.5 mm = +18 % -> SD
    res = evaluate(_rec(_tp("2026-01-10", [_lesion("L1", 25)]),
                        _tp("2026-03-10", [_lesion("L1", now)])))
    assert res.category == cat


def test_pd_needs_5_mm_in_one_lesion():
    # §6.2: sum 20 -> 24.8 (+24 %) but each lesion grows only 2.4 mm -> not PD
    res = evaluate(_rec(_tp("2026-01-10", [_lesion("L1", 10), _lesion("L2", 10)]),
                        _tp("2026-03-10", [_lesion("L1", 12.4), _lesion("L2", 12.4)])))
    assert res.category == "SD"


@pytest.mark.parametrize(("ld", "perp", "measurable"),
                         [(10.0, 5.0, True), (9.9, 5.0, False), (10.0, 4.9, False)])
def test_measurable_boundaries_10_and_5_mm(ld, perp, measurable):
    # §6.1: measurable = LD >= 10 mm and perpendicular >= 5 mm; otherwise non-target
    res = evaluate(_rec(_tp("2026-01-10", [_lesion("L1", 20), _lesion("L2", ld, perp)]),
                        _tp("2026-03-10", [_lesion("L1", 20), _lesion("L2", ld, perp)])))
    assert res.baseline_sum_mm == (20 + ld if measurable else 20)


def test_at_most_5_targets():
    # §6.1: up to 5 target lesions, chosen by size: the 6th (smallest) is non-target
    lesions = [_lesion(f"L{i}", 10 + i) for i in range(6)]  # 10..15 mm
    res = evaluate(_rec(_tp("2026-01-10", lesions), _tp("2026-03-10", lesions)))
    assert res.baseline_sum_mm == 11 + 12 + 13 + 14 + 15


@pytest.mark.parametrize(("second", "confirmed"), [("2026-04-07", True), ("2026-04-06", False)])
def test_pr_confirmation_needs_28_days(second, confirmed):
    # §6.2: PR sustained >= 4 weeks: PR on 2026-03-10, again 28 days later -> confirmed;
    # 27 days later -> still provisional
    res = evaluate(_rec(_tp("2026-01-10", [_lesion("L1", 50)]),
                        _tp("2026-03-10", [_lesion("L1", 30)]),
                        _tp(second, [_lesion("L1", 30)])))
    assert res.category == "PR"
    assert res.provisional is (not confirmed)


@pytest.mark.parametrize(("io_start", "cat"),
                         [("2025-09-11", "PD_unconfirmed"), ("2025-09-09", "PD")])
def test_irano_window_is_6_months(io_start, cat):
    # §6.5: PD within 6 months of starting immunotherapy is unconfirmed; the PD scan is on
    # 2026-03-10: started 2025-09-11 (< 6 months) vs 2025-09-09 (> 6 months)
    res = evaluate(_rec(_tp("2026-01-10", [_lesion("L1", 20)]),
                        _tp("2026-03-10", [_lesion("L1", 30)]), io_start=io_start))
    assert res.category == cat


def test_the_pins_cover_every_number_in_the_response_file(knowledge_copy):
    """Each numeric value in knowledge/data/response, changed in turn both ways (as
    scripts/mutate_knowledge.py does), must break the pinned values above: a number added to
    rano_bm.toml without a pin fails here."""
    from pathlib import Path

    from brainmets.knowledge import KnowledgeError, loader
    from brainmets.response import config

    mk, root, data = knowledge_copy.mk, knowledge_copy.root, knowledge_copy.data

    def pinned(cfg) -> bool:
        got = {k: cfg.thresholds[k].value for k in SPEC_THRESHOLDS}
        return got == SPEC_THRESHOLDS and cfg.match_max_distance_mm == 15

    survivors = []
    try:
        for op in ("up", "down"):
            mutants = mk.find_mutants(root, ("response",), op)
            assert len(mutants) >= 10
            for m in mutants:
                path = data / Path(m.file).relative_to(mk.DATA_REL)
                text = path.read_text(encoding="utf-8")
                path.write_text(text[: m.start] + m.new + text[m.end:], encoding="utf-8")
                loader._load_toml_cached.cache_clear()
                config.default_config.cache_clear()
                try:
                    if pinned(config.default_config()):
                        survivors.append(m.label)
                except KnowledgeError:
                    pass  # invalid file: loading fails loudly
                finally:
                    path.write_text(text, encoding="utf-8")
    finally:
        loader._load_toml_cached.cache_clear()
        config.default_config.cache_clear()
    assert survivors == []
