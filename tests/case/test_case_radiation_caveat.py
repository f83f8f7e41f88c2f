"""The composer attaches the pseudo-progression / radiation-necrosis caveat (issue #15 item 5)
to PD in an irradiated lesion, whatever door built the response."""

from __future__ import annotations

from brainmets.case import assess_case

RECORD = {
    "age": 60, "kps": 80, "primary": {"site": "breast", "er": "positive", "pr": "negative",
                                      "her2": "negative"},
    "extracranial_metastases": False,
    "brain_metastases": {"count": 1},
    "therapy": {"on_immunotherapy": False},
    "radiation_history": [{"date": "2026-01-20", "modality": "srs", "lesion_ids": ["L1"],
                           "dose_gy": 20, "fractions": 1}],
}
# L1 grows 20 -> 30 mm (+50 % over the nadir, +10 mm): RANO-BM PD (treatment.md §6)
TIMEPOINTS = [
    {"date": "2026-02-01", "steroid_mg_day": 0, "clinical_status": "stable",
     "lesions": [{"id": "L1", "longest_diameter_mm": 20.0, "perpendicular_mm": 15.0}]},
    {"date": "2026-05-01", "steroid_mg_day": 0, "clinical_status": "stable",
     "lesions": [{"id": "L1", "longest_diameter_mm": 30.0, "perpendicular_mm": 20.0}]},
]


def test_pd_in_irradiated_lesion_carries_the_caveat() -> None:
    case = assess_case(RECORD, timepoints=TIMEPOINTS)
    assert case.response is not None and case.response.category == "PD"
    assert case.response.caveats, "PD in an SRS-treated lesion must carry the caveat"
    text = " ".join(c["text"] for c in case.response.caveats)
    assert "L1" in text and "radiation necrosis" in text


def test_no_caveat_without_radiation_history() -> None:
    record = {k: v for k, v in RECORD.items() if k != "radiation_history"}
    case = assess_case(record, timepoints=TIMEPOINTS)
    assert case.response is not None and case.response.category == "PD"
    assert case.response.caveats == []
