"""End to end on the imaging phantom's follow-up series (engineer C1's make_series).

The scan-like folders are built from the phantom's truth (label map + measurements), so the
test checks registration, matching and RANO-BM on realistic anatomy and head motion without
depending on the detector's accuracy. Skips cleanly if the phantom is not importable.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest

from brainmets.response import evaluate
from brainmets.response.tracking import build_record


@pytest.fixture(scope="module")
def phantom_series(tmp_path_factory):
    try:
        from brainmets.imaging.phantom import make_series
    except ImportError as exc:  # pragma: no cover - depends on the imaging issue
        pytest.skip(f"brainmets.imaging.phantom.make_series not available: {exc}")
    root = tmp_path_factory.mktemp("phantom")
    timeline = make_series(11, root / "series", 2, voxel_mm=(3, 3, 3), full_head=False,
                           n_lesions=3, diameter_range=(10.0, 24.0))
    folders = []
    for tp in timeline["timepoints"]:
        src = root / "series" / tp["dir"]
        dst = root / "scans" / tp["dir"]
        dst.mkdir(parents=True)
        truth = json.loads((src / "truth.json").read_text())
        shutil.copy(src / "truth.nii.gz", dst / "lesions.nii.gz")
        (dst / "lesions.json").write_text(json.dumps({
            "input": str(src / "t1c.nii.gz"), "date": tp["date"],
            "lesions": [{k: les[k] for k in (
                "id", "centroid_mm", "volume_ml", "longest_axial_diameter_mm",
                "perpendicular_diameter_mm", "max_diameter_mm")} for les in truth["lesions"]],
        }))
        folders.append(dst)
    record, tracking = build_record(folders)
    return timeline, record, tracking, root


def test_phantom_tracks_match_truth(phantom_series):
    timeline, _, tracking, _ = phantom_series
    assert all("Euler3D" in r["method"] for r in tracking["registrations"])
    # each truth lesion's per-scan labels must all land in one track, with the right status
    truth_to_track: dict[str, set[str]] = {}
    for tp in timeline["timepoints"]:
        for les in tp["lesions"]:
            if les["label"] is None:
                continue
            for track in tracking["tracks"]:
                step = next((s for s in track["steps"] if s["date"] == tp["date"]), None)
                if step and step["scan_lesion_id"] == les["label"]:
                    truth_to_track.setdefault(les["truth_id"], set()).add(track["id"])
    assert all(len(v) == 1 for v in truth_to_track.values()), truth_to_track
    last = {les["truth_id"]: les["status"] for les in timeline["timepoints"][-1]["lesions"]}
    status = {t["id"]: t["status"] for t in tracking["tracks"]}
    for tid, st in last.items():
        (track_id,) = truth_to_track.get(tid, {None})
        expected = {"persisting": "persisting", "vanished": "vanished", "new": "new"}[st]
        assert status[track_id] == expected, (tid, track_id)


def test_phantom_category_equals_truth_category(phantom_series):
    timeline, record, _, _ = phantom_series
    truth = timeline["rano_input"]
    for tp in record["timepoints"]:  # steroids/clinical come from the clinician, not images
        tp["steroid_mg_day"], tp["clinical_status"] = 0, "stable"
    got, want = evaluate(record), evaluate(truth)
    assert [h.category for h in got.history] == [h.category for h in want.history]
    assert got.current_sum_mm == pytest.approx(want.current_sum_mm, abs=0.05)


@pytest.mark.slow
def test_phantom_through_scan_pipeline(phantom_series):
    """phantom -> ``pipeline.scan`` (detector) -> registration + matching -> RANO-BM.

    Detector accuracy is the imaging issue's concern; here every truth lesion that the detector
    found on both scans (centroid within 4 mm of the truth) must keep one track id.
    """
    try:
        from brainmets.imaging.pipeline import scan
    except ImportError as exc:  # pragma: no cover - depends on the imaging issue
        pytest.skip(f"brainmets.imaging.pipeline.scan not available: {exc}")
    import numpy as np

    timeline, _, _, root = phantom_series
    tps = timeline["timepoints"][:2]
    folders = []
    for tp in tps:
        out = root / "detected" / tp["dir"]
        scan(root / "series" / tp["dir"] / "t1c.nii.gz", out, overlay=False)
        folders.append(out)
    dates = [dt.date.fromisoformat(tp["date"]) for tp in tps]
    record, tracking = build_record(folders, dates)
    res = evaluate(record)
    assert res.category in {"CR", "PR", "SD", "PD", "PD_unconfirmed"}

    def found(t: int) -> dict[str, int]:
        det = json.loads((folders[t] / "lesions.json").read_text())["lesions"]
        out = {}
        for les in tps[t]["lesions"]:
            if les["centroid_mm"] is None or not det:
                continue
            d = [np.linalg.norm(np.subtract(x["centroid_mm"], les["centroid_mm"])) for x in det]
            if min(d) <= 4.0:
                out[les["truth_id"]] = det[int(np.argmin(d))]["id"]
        return out

    f0, f1 = found(0), found(1)
    both = set(f0) & set(f1)
    for tid in both:
        owners = {
            tr["id"] for tr in tracking["tracks"]
            for step, want in ((0, f0[tid]), (1, f1[tid]))
            if any(s["date"] == tps[step]["date"] and s["scan_lesion_id"] == want
                   for s in tr["steps"])
        }
        assert len(owners) == 1, (tid, owners)
    print(f"truth lesions detected on both scans: {sorted(both)}")
