"""Follow-up series: stable truth ids, statuses, label maps per time point, RANO input."""

from __future__ import annotations

import json
from datetime import date

import nibabel as nib
import numpy as np


def test_timeline_consistent(small_series):
    out, doc = small_series
    assert json.loads((out / "timeline.json").read_text())["format"] == doc["format"]
    tps = doc["timepoints"]
    assert [tp["dir"] for tp in tps] == ["tp0", "tp1", "tp2"]
    dates = [date.fromisoformat(tp["date"]) for tp in tps]
    assert all(b > a for a, b in zip(dates, dates[1:], strict=False))
    assert {e["status"] for e in tps[0]["lesions"]} == {"baseline"}
    seen = set()
    for tp in tps:
        truth = json.loads((out / tp["dir"] / "truth.json").read_text())
        lab = np.asarray(nib.load(str(out / tp["dir"] / "truth.nii.gz")).dataobj)
        labels = {e["label"] for e in tp["lesions"] if e["label"] is not None}
        assert labels == set(np.unique(lab)) - {0}
        assert len(truth["lesions"]) == len(labels)
        for e in tp["lesions"]:
            if e["status"] == "vanished":
                assert e["label"] is None and e["volume_ml"] == 0
                assert e["truth_id"] in seen
            elif e["status"] == "new":
                assert e["truth_id"] not in seen
            seen.add(e["truth_id"])


def test_sizes_follow_factors(small_series):
    _, doc = small_series
    base = {e["truth_id"]: e for e in doc["timepoints"][0]["lesions"]}
    for tp in doc["timepoints"][1:]:
        for e in tp["lesions"]:
            b = base.get(e["truth_id"])
            if b is None or e["status"] != "persisting" or b["max_diameter_mm"] < 5:
                continue
            ratio = e["max_diameter_mm"] / b["max_diameter_mm"]
            assert abs(ratio - e["diameter_factor"]) < 0.15 * e["diameter_factor"] + 0.1


def test_rano_input_shape(small_series):
    _, doc = small_series
    ri = doc["rano_input"]
    assert len(ri["timepoints"]) == len(doc["timepoints"])
    for tp, src in zip(ri["timepoints"], doc["timepoints"], strict=True):
        assert tp["date"] == src["date"]
        ids = [le["id"] for le in tp["lesions"]]
        assert len(ids) == len(set(ids))
        assert all(le["longest_diameter_mm"] >= 0 for le in tp["lesions"])


def test_head_moves_between_scans(small_series):
    out, _ = small_series
    a0 = json.loads((out / "tp0" / "truth.json").read_text())["acquisition"]["world_from_mni"]
    a1 = json.loads((out / "tp1" / "truth.json").read_text())["acquisition"]["world_from_mni"]
    assert not np.allclose(a0, a1)
