"""The case composer (brainmets.case): lesion mapping, precedence, provisional flag, current
scan, response with iRANO. Expected values come from CONTRACT §2/§3/§5 and treatment.md §6."""

from __future__ import annotations

import copy
import datetime as dt

import pytest

from brainmets.case import Case, LesionReview, ScanInput, assess_case, assessed_record
from brainmets.imaging.result import ScanResult
from brainmets.model import InputError

RECORD = {
    "id": "case-test",
    "age": 62, "sex": "female", "kps": 80, "ecog": 1,
    "primary": {"site": "nsclc", "histology": "adenocarcinoma", "controlled": True,
                "egfr": "positive", "alk": "negative"},
    "extracranial_metastases": False,
    "brain_metastases": {"lesions": [
        {"diameter_mm": 12.0, "volume_ml": 0.9, "location": "supratentorial"},
        {"diameter_mm": 8.0, "volume_ml": 0.3, "location": "cerebellum"}]},
    "symptoms": {"status": "asymptomatic"},
    "therapy": {"systemic_options_available": True},
}


def _record(lesions: bool = True, **therapy) -> dict:
    rec = copy.deepcopy(RECORD)
    if not lesions:
        rec["brain_metastases"] = {}
    rec["therapy"].update(therapy)
    return rec


def _lesion(k: int, lad: float, perp: float, centroid=(10.0, 20.0, 30.0), **kw) -> dict:
    return {"id": k, "centroid_mm": list(centroid), "volume_ml": 0.5,
            "longest_axial_diameter_mm": lad, "perpendicular_diameter_mm": perp,
            "max_diameter_mm": lad + 2.0, "location": "supratentorial", "confidence": 0.9,
            "enhancement": "ring", **kw}


def _scan(sid: str, date: str | None, *lesions: dict, **extra) -> ScanInput:
    return ScanInput(id=sid, date=date, result=ScanResult.parse({"lesions": list(lesions),
                                                                 **extra}))


def test_scan_lesion_maps_to_the_longest_axial_diameter_with_enhancement_kept():
    # CONTRACT §2 lesions + §3 -> §1: diameter_mm is the RANO-BM longest axial diameter
    c = assess_case(_record(lesions=False), [_scan("s1", "2026-01-10", _lesion(1, 11.0, 8.0))])
    (les,) = c.lesions
    assert (les.id, les.source, les.diameter_mm, les.max_diameter_mm) == ("L1", "scan", 11.0, 13.0)
    assert les.enhancement == "ring" and les.perpendicular_diameter_mm == 8.0
    assert les.scan is not None and les.scan.date == dt.date(2026, 1, 10)
    rec = assessed_record(_record(lesions=False), [_scan("s1", "2026-01-10",
                                                        _lesion(1, 11.0, 8.0))])
    assert rec["brain_metastases"]["lesions"][0]["diameter_mm"] == 11.0
    assert rec["brain_metastases"]["lesions"][0]["enhancement"] == "ring"
    js = c.model_dump(mode="json")
    assert js["lesions"][0]["scan"] == {"id": "s1", "date": "2026-01-10", "day": None}
    for key in ("prognosis", "not_computed", "options", "not_recommended", "disclaimer",
                "provisional", "scan_findings", "response"):
        assert key in js


def test_record_lesions_win_over_detected_ones():
    c = assess_case(_record(), [_scan("s1", "2026-01-10", _lesion(1, 25.0, 20.0))])
    assert [x.source for x in c.lesions] == ["record", "record"]
    assert [x.diameter_mm for x in c.lesions] == [12.0, 8.0]
    # CONTRACT §5: the unreviewed detected lesion keeps the case provisional
    assert c.lesion_source == "record" and c.provisional is True
    assert [x.id for x in c.lesions_not_used] == ["L1"]
    assert any("not used" in w and "record take precedence" in w for w in c.warnings)
    # once the detected lesion is rejected, nothing is pending
    done = assess_case(_record(), [_scan("s1", "2026-01-10", _lesion(1, 25.0, 20.0))],
                       review={"L1": {"status": "rejected", "reviewed_by": "dr a"}})
    assert done.provisional is False
    assert [x.diameter_mm for x in done.lesions] == [12.0, 8.0]


def test_reviewed_lesions_win_and_rejected_never_count():
    scan = _scan("s1", "2026-01-10", _lesion(1, 11.0, 8.0), _lesion(2, 30.0, 20.0))
    review = {"L1": LesionReview(status="confirmed", diameter_mm=13.0, reviewed_by="dr a"),
              "L2": {"status": "rejected", "reviewed_by": "dr a"},
              "A1": {"status": "added", "diameter_mm": 6.0, "method": "hand",
                     "eloquent": True}}
    c = assess_case(_record(), [scan], review=review)
    assert c.lesion_source == "review"
    assert [(x.id, x.status, x.diameter_mm) for x in c.lesions] == [
        ("L1", "confirmed", 13.0), ("A1", "added", 6.0)]
    assert c.lesions[0].corrected == ["diameter_mm"] and c.lesions[0].reviewed_by == "dr a"
    not_used = {(x.source, x.id): x.reason for x in c.lesions_not_used}
    assert not_used[("scan", "L2")] == "rejected in review"
    # the record's lesions are replaced, and it says so
    assert {("record", "L1"), ("record", "L2")} <= set(not_used)
    assert c.provisional is False
    assert c.review is not None and c.review.counts == {
        "detected": 0, "confirmed": 1, "rejected": 1, "added": 1}
    assert c.review.counted == 2 and c.review.provisional is False
    rec = assessed_record(_record(), [scan], review=review)
    assert [x.get("eloquent") for x in rec["brain_metastases"]["lesions"]] == [None, True]


def test_provisional_while_any_used_lesion_is_detected():
    scan = _scan("s1", "2026-01-10", _lesion(1, 11.0, 8.0), _lesion(2, 14.0, 9.0))
    c = assess_case(_record(lesions=False), [scan])
    assert c.provisional is True and c.lesion_source == "scan"
    assert any(w.startswith("provisional:") and "L1, L2" in w for w in c.warnings)
    partly = assess_case(_record(lesions=False), [scan], review={"L1": {"status": "confirmed"}})
    assert partly.provisional is True
    assert any(w.startswith("provisional:") and "(L2)" in w for w in partly.warnings)
    done = assess_case(_record(lesions=False), [scan],
                       review={"L1": {"status": "confirmed"}, "L2": {"status": "rejected"}})
    assert done.provisional is False
    assert not any(w.startswith("provisional:") for w in done.warnings)
    assert [x.id for x in done.lesions] == ["L1"]


def test_no_lesion_is_never_silent():
    c = assess_case(_record(lesions=False), [_scan("s1", "2026-01-10")])
    assert c.lesions == [] and any("found no lesion" in w for w in c.warnings)


def test_current_scan_is_the_latest_by_date_not_by_order():
    old = _scan("old", "2026-01-10", _lesion(1, 11.0, 8.0))
    new = _scan("new", "2026-03-10", _lesion(1, 15.0, 9.0), _lesion(2, 12.0, 9.0))
    c = assess_case(_record(lesions=False), [new, old])
    assert c.current_scan is not None and c.current_scan.id == "new"
    assert [x.diameter_mm for x in c.lesions] == [15.0, 12.0]
    # review entries of another scan do not apply to the current one
    c2 = assess_case(_record(lesions=False), [new, old],
                     review={"L1": {"status": "rejected", "scan_id": "old"}})
    assert [x.status for x in c2.lesions] == ["detected", "detected"]


def test_record_count_is_kept_and_a_difference_is_said():
    rec = _record(lesions=False)
    rec["brain_metastases"] = {"count": 3}
    c = assess_case(rec, [_scan("s1", "2026-01-10", _lesion(1, 11.0, 8.0))])
    assert any("count 3" in w and "1 lesion(s) used" in w for w in c.warnings)


def test_scan_findings_are_carried():
    scan = _scan("s1", "2026-01-10", _lesion(1, 11.0, 8.0),
                 findings=[{"kind": "unsegmented_region", "text": "abnormal region"}],
                 low_confidence_candidates=[{"reason": "low_confidence", "confidence": 0.2}],
                 warnings=["brain mask small"])
    (f,) = assess_case(_record(lesions=False), [scan]).scan_findings
    assert f.findings[0].text == "abnormal region" and f.warnings == ["brain mask small"]
    assert f.low_confidence_candidates[0]["confidence"] == 0.2 and f.n_lesions == 1


def _growth(io: bool | None, start: str | None = "2026-01-01") -> Case:
    # 20 -> 30 mm: +50 % vs nadir and +10 mm (PD by RANO-BM, treatment.md §6.2), 68 days
    # after the immunotherapy start (inside the iRANO 6-month window, §6.5)
    therapy = {} if io is None else {"on_immunotherapy": io}
    if start:
        therapy["immunotherapy_start"] = start
    scans = [_scan("s0", "2026-01-10", _lesion(1, 20.0, 15.0)),
             _scan("s1", "2026-03-10", _lesion(1, 30.0, 20.0))]
    return assess_case(_record(lesions=False, **therapy), scans)


def test_response_from_scans_applies_irano_when_on_immunotherapy():
    assert _growth(False).response.category == "PD"
    on = _growth(True)
    assert on.response.category == "PD_unconfirmed" and on.response.provisional is True
    assert on.response.input == "scans" and on.response.tracking is not None
    assert any(r["id"] == "iRANO" for r in on.response.references)
    unknown = _growth(None, start=None)
    assert unknown.response.category == "PD"
    assert "on_immunotherapy unknown" in unknown.response_note


def test_irano_without_start_date_gives_no_category_and_says_why():
    c = _growth(True, start=None)
    assert c.response is None and "immunotherapy_start" in c.response_note


def test_one_scan_says_response_needs_two():
    c = assess_case(_record(lesions=False), [_scan("s1", "2026-01-10", _lesion(1, 11.0, 8.0))])
    assert c.response is None and "baseline and a follow-up" in c.response_note


def test_timepoints_given_by_hand_are_used():
    tps = [{"date": "2026-01-10", "lesions": [{"id": "T1", "longest_diameter_mm": 25.0,
                                               "perpendicular_mm": 18.0}]},
           {"date": "2026-03-10", "lesions": [{"id": "T1", "longest_diameter_mm": 15.0,
                                               "perpendicular_mm": 10.0}]}]
    c = assess_case(_record(), timepoints=tps)
    # 25 -> 15 mm = -40 % vs baseline (>= 30 % decrease: PR, treatment.md §6.2)
    assert c.response.category == "PR" and c.response.input == "timepoints"


def test_bad_inputs_name_the_field():
    with pytest.raises(InputError) as e:
        assess_case({"kps": 85})
    assert "kps" in str(e.value)
    with pytest.raises(InputError) as e:
        assess_case(_record(), [{"id": "s1", "date": "2026-13-01", "result": {"lesions": []}}])
    assert "scans[0].date" in str(e.value)
    with pytest.raises(InputError) as e:
        assess_case(_record(), review={"L1": {"status": "maybe"}})
    assert "review[L1].status" in str(e.value)


def test_lesions_json_round_trip_keeps_every_field(tmp_path):
    data = {"input": "x.nii.gz", "shape": [4, 4, 4], "lesions": [_lesion(1, 11.0, 8.0,
                                                                          found_by=["classical"])],
            "new_field_from_a_newer_writer": {"a": 1}}
    res = ScanResult.parse(data)
    res.write(tmp_path)
    back = ScanResult.load(tmp_path / "lesions.json")
    assert back.to_json()["new_field_from_a_newer_writer"] == {"a": 1}
    assert back.lesions[0].found_by == ["classical"] and back.findings == []
    with pytest.raises(InputError) as e:
        ScanResult.parse({"lesions": [{"id": 0}]})
    assert "lesions[0].id" in str(e.value)


def test_the_response_counts_the_reviewed_lesions():
    # CONTRACT §5: rejected lesions never count, also not as new lesions in RANO-BM;
    # a corrected diameter enters the sums (treatment.md §6.2: +20 % and +5 mm for PD)
    base = _scan("s0", "2026-01-10", _lesion(1, 20.0, 15.0))
    fp = _lesion(2, 8.0, 6.0, centroid=(-60.0, -40.0, 10.0))  # far from L1: a new lesion
    follow = _scan("s1", "2026-03-10", _lesion(1, 20.0, 15.0), fp)
    rec = _record(lesions=False, on_immunotherapy=False)
    assert assess_case(rec, [base, follow]).response.category == "PD"
    follow.review = {"L2": LesionReview(status="rejected")}
    c = assess_case(rec, [base, follow])
    assert c.response.category == "SD" and not c.response.new_lesions
    grown = _scan("s1", "2026-03-10", _lesion(1, 30.0, 20.0))
    assert assess_case(rec, [base, grown]).response.category == "PD"
    grown.review = {"L1": LesionReview(status="confirmed", diameter_mm=21.0)}
    assert assess_case(rec, [base, grown]).response.category == "SD"
