"""Bad input to the response engine: clear errors naming the field path."""

from __future__ import annotations

import pytest

from brainmets.model import InputError
from brainmets.response import evaluate


def _errors(rec) -> list[str]:
    with pytest.raises(InputError) as exc:
        evaluate(rec)
    return exc.value.messages


def test_unordered_dates(record, tp, lesion):
    msgs = _errors(record(
        tp("2026-03-01", [lesion("L1", 20, 10)]), tp("2026-01-01", [lesion("L1", 20, 10)])
    ))
    assert any(m.startswith("timepoints[1].date:") and "oldest first" in m for m in msgs)


def test_same_date_twice(record, tp, lesion):
    msgs = _errors(record(
        tp("2026-03-01", [lesion("L1", 20, 10)]), tp("2026-03-01", [lesion("L1", 20, 10)])
    ))
    assert any("timepoints[1].date" in m and "same date" in m for m in msgs)


def test_duplicate_lesion_ids(record, tp, lesion):
    msgs = _errors(record(
        tp("2026-01-01", [lesion("L1", 20, 10), lesion("L1", 12, 8)]),
        tp("2026-03-01", [lesion("L1", 20, 10)]),
    ))
    assert any(m.startswith("timepoints[0].lesions[1].id: duplicate lesion id 'L1'") for m in msgs)


def test_negative_size(record, tp, lesion):
    msgs = _errors(record(
        tp("2026-01-01", [lesion("L1", 20, 10)]), tp("2026-03-01", [lesion("L1", -2, 1)])
    ))
    assert any(m.startswith("timepoints[1].lesions[0].longest_diameter_mm:") for m in msgs)


def test_negative_steroid_dose(record, tp, lesion):
    msgs = _errors(record(
        tp("2026-01-01", [lesion("L1", 20, 10)], steroid=-1),
        tp("2026-03-01", [lesion("L1", 20, 10)]),
    ))
    assert any(m.startswith("timepoints[0].steroid_mg_day:") for m in msgs)


def test_follow_up_without_baseline_role(record, tp, lesion):
    msgs = _errors(record(
        tp("2026-01-01", [lesion("L1", 20, 10)], role="follow_up"),
        tp("2026-03-01", [lesion("L1", 20, 10)]),
    ))
    assert any(m.startswith("timepoints[0].role:") and "without its baseline" in m for m in msgs)


def test_single_time_point(record, tp, lesion):
    msgs = _errors(record(tp("2026-01-01", [lesion("L1", 20, 10)])))
    assert any(m.startswith("timepoints:") and "at least one follow-up" in m for m in msgs)


def test_empty_timepoints(record):
    msgs = _errors(record())
    assert msgs[0].startswith("timepoints: empty")


def test_missing_timepoints_key():
    msgs = _errors({"on_immunotherapy": False})
    assert msgs == ["timepoints: required field is missing"]


def test_bad_date(record, tp, lesion):
    msgs = _errors(record(
        tp("2026-13-01", [lesion("L1", 20, 10)]), tp("2026-03-01", [lesion("L1", 20, 10)])
    ))
    assert any(m.startswith("timepoints[0].date:") and "YYYY-MM-DD" in m for m in msgs)


def test_unknown_clinical_status(record, tp, lesion):
    msgs = _errors(record(
        tp("2026-01-01", [lesion("L1", 20, 10)]),
        tp("2026-03-01", [lesion("L1", 20, 10)], clinical="better"),
    ))
    assert "timepoints[1].clinical_status: expected improved|stable|worse, got 'better'" in msgs


def test_target_missing_at_follow_up(record, tp, lesion):
    msgs = _errors(record(
        tp("2026-01-01", [lesion("L1", 20, 10), lesion("L2", 20, 10)]),
        tp("2026-03-01", [lesion("L1", 20, 10)]),
    ))
    assert any(m.startswith("timepoints[1].lesions: target lesion 'L2'") for m in msgs)


def test_unknown_lesion_not_marked_new(record, tp, lesion):
    msgs = _errors(record(
        tp("2026-01-01", [lesion("L1", 20, 10)]),
        tp("2026-03-01", [lesion("L1", 20, 10), lesion("X", 6, 5)]),
    ))
    assert any(m.startswith("timepoints[1].lesions[1].id:") and '"new": true' in m for m in msgs)


def test_new_lesion_at_baseline(record, tp, lesion):
    msgs = _errors(record(
        tp("2026-01-01", [lesion("L1", 20, 10, new=True)]),
        tp("2026-03-01", [lesion("L1", 20, 10)]),
    ))
    assert any(m.startswith("timepoints[0].lesions[0].new:") for m in msgs)


def test_perpendicular_larger_than_longest(record, tp, lesion):
    msgs = _errors(record(
        tp("2026-01-01", [lesion("L1", 20, 25)]), tp("2026-03-01", [lesion("L1", 20, 10)])
    ))
    assert any(m.startswith("timepoints[0].lesions[0].perpendicular_mm:") for m in msgs)


def test_immunotherapy_needs_start(record, tp, lesion):
    rec = record(tp("2026-01-01", [lesion("L1", 20, 10)]), tp("2026-03-01", [lesion("L1", 20, 10)]))
    rec["on_immunotherapy"] = True
    msgs = _errors(rec)
    assert any(m.startswith("immunotherapy_start:") for m in msgs)


def test_too_many_reader_targets(record, tp, lesion):
    base = [lesion(f"L{k}", 20, 10, target=True) for k in range(6)]
    follow = [lesion(f"L{k}", 20, 10) for k in range(6)]
    msgs = _errors(record(tp("2026-01-01", base), tp("2026-03-01", follow)))
    assert any("6 lesions marked target" in m for m in msgs)


def test_not_an_object():
    assert _errors([1, 2])[0].startswith("(record): expected a JSON object")


def test_unknown_option():
    with pytest.raises(InputError) as exc:
        evaluate({"timepoints": []}, {"small_lesion_rule": "guess"})
    assert "small_lesion_rule" in exc.value.messages[0]


def test_unknown_fields_are_warned(record, tp, lesion):
    rec = record(tp("2026-01-01", [lesion("L1", 20, 10)]), tp("2026-03-01", [lesion("L1", 20, 10)]))
    rec["timepoints"][1]["steroids"] = 4
    res = evaluate(rec)
    assert res.warnings == ["timepoints[1].steroids: unknown field, ignored"]
