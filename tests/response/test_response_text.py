"""``--format text`` rendering (response/text.py): every section, with the values it must show.

Categories are hand-derived from treatment.md §6.2-6.3 in each comment.
"""

from __future__ import annotations

from brainmets.response import evaluate
from brainmets.response.text import render_text


def test_pd_with_new_lesions_non_targets_volumes_and_warnings(record, tp, lesion):
    # baseline L1 20 mm (target), S1 6 mm (non-target: LD < 10 mm); follow-up: an equivocal
    # new lesion (flagged, not counted); then a confirmed new lesion -> PD (§6.3, not on
    # immunotherapy), dated to the first scan that showed it (N1 on 2026-03-01)
    rec = record(
        tp("2026-01-10", [lesion("L1", 20, 12, volume_ml=2.0),
                          lesion("S1", 6, 5, volume_ml=0.5)]),
        tp("2026-03-01", [lesion("L1", 20, 12, volume_ml=1.0), lesion("S1", 6, 5, volume_ml=0.5),
                          lesion("N1", 3, 2, new=True, equivocal=True, volume_ml=0.05)]),
        tp("2026-05-01", [lesion("L1", 20, 12, volume_ml=1.0), lesion("S1", 6, 5, volume_ml=0.5),
                          lesion("N1", 8, 6, new=True, volume_ml=0.25)]),
    )
    rec["mystery_field"] = 1  # unknown key: reported back as a warning, not dropped
    res = evaluate(rec)
    text = render_text(res)
    lines = text.splitlines()
    assert lines[0] == "RANO-BM response on 2026-05-01: PD"
    assert "  source: RANO-BM, Lin 2015" in lines
    assert ("  sum of target LDs: baseline 20.0 mm (2026-01-10), nadir before this scan 20.0 mm,"
            " now 20.0 mm (+0.0% vs baseline, +0.0% vs nadir)") in lines
    assert "  progression dated to: 2026-03-01" in lines
    assert "    2026-01-10  day    0  sum   20.0 mm  baseline" in lines
    assert "  targets (LD mm over time):" in lines and "    L1: 20.0 -> 20.0 -> 20.0" in lines
    assert "  non-targets:" in lines
    assert any(x.startswith("    S1: ") and "6.0 mm < 10.0 mm" in x for x in lines)
    assert "  new lesions:" in lines and "    N1: 8.0 mm, first seen 2026-03-01" in lines
    vol = lines.index(next(x for x in lines if x.startswith("  volumes (research only")))
    assert lines[vol + 1:vol + 5] == [
        "    L1: 2.000 -> 1.000 -> 1.000 ml", "    S1: 0.500 -> 0.500 -> 0.500 ml",
        "    N1: 0.050 -> 0.250 ml", "    total: -30.0% vs baseline"]  # 2.5 -> 1.75 ml
    assert "  flags for manual review:" in lines
    assert "  warnings:" in lines and "    mystery_field: unknown field, ignored" in lines
    assert lines[-1] == f"  {res.disclaimer}" and text.endswith("\n")


def test_provisional_pr_wording(record, tp, lesion):
    # 40 -> 28 mm = -30 % vs baseline: PR, provisional on first sight (§6.2 sustained >= 4 w)
    res = evaluate(record(tp("2026-01-10", [lesion("L1", 40, 20)]),
                          tp("2026-03-10", [lesion("L1", 28, 15)])))
    text = render_text(res)
    assert text.startswith("RANO-BM response on 2026-03-10: PR (provisional)\n")
    assert "(-30.0% vs baseline, -30.0% vs nadir)" in text
    assert "sum   28.0 mm  PR (prov.)" in text
    assert "progression dated to" not in text and "non-targets:" not in text
    assert "new lesions:" not in text and "volumes (" not in text


def test_equivocal_new_lesion_is_marked(record, tp, lesion):
    # an equivocal new lesion is shown and flagged but does not make PD (§6.3 special rules)
    # (a volume only at baseline: listed, but no total change without every volume)
    res = evaluate(record(tp("2026-01-10", [lesion("L1", 40, 20, volume_ml=3.0)]),
                          tp("2026-03-10", [lesion("L1", 40, 20),
                                            lesion("N1", 3, 2, new=True, equivocal=True)])))
    text = render_text(res)
    assert text.startswith("RANO-BM response on 2026-03-10: SD\n")
    assert "    N1: 3.0 mm, first seen 2026-03-10, equivocal\n" in text
    assert "    L1: 3.000 ml\n" in text and "total:" not in text


def test_no_targets_shows_dashes_for_missing_percentages(record, tp, lesion):
    # only a 6 mm lesion: non-measurable (§6.1), so there is no sum to compare
    res = evaluate(record(tp("2026-01-10", [lesion("S1", 6, 5)]),
                          tp("2026-03-10", [lesion("S1", 6, 5)])))
    text = render_text(res)
    assert "(- vs baseline, - vs nadir)" in text
    assert "targets (LD mm over time)" not in text and "lesion tracking" not in text


def test_tracking_section(record, tp, lesion):
    res = evaluate(record(tp("2026-01-10", [lesion("L1", 20, 12)]),
                          tp("2026-03-10", [lesion("L1", 20, 12)])))
    tracking = {
        "tracks": [{"id": "T1", "status": "persisting", "summary": "20.0 -> 20.0 mm"},
                   {"id": "T2", "status": "new"}],
        "registrations": [{"date": "2026-03-10", "method": "Euler3D rigid", "metric": -0.51234},
                          {"date": "2026-05-10", "method": "identity"}],
    }
    lines = render_text(res, tracking).splitlines()
    at = lines.index("  lesion tracking (image path):")
    assert lines[at + 1:at + 5] == [
        "    T1: persisting  20.0 -> 20.0 mm",
        "    T2: new",
        "    registration 2026-03-10: Euler3D rigid (metric -0.512)",
        "    registration 2026-05-10: identity",
    ]
