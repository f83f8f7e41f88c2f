"""End to end on the imaging phantom's follow-up series (engineer C1's make_series).

The scan-like folders are built from the phantom's truth (label map + measurements), so the
test checks registration, matching and RANO-BM on realistic anatomy and head motion without
depending on the detector's accuracy. Expected categories are derived from the phantom's
truth measurements with the RANO-BM rules of treatment.md §6.2-6.3 written out in this file
(never by running the engine on the truth and comparing it with itself).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest

from brainmets.imaging.phantom import make_series
from brainmets.imaging.pipeline import scan
from brainmets.response import evaluate
from brainmets.response.tracking import build_record


def _spec_categories(timepoints: list[dict]) -> list[str]:
    """RANO-BM categories of each follow-up, from truth measurements (treatment.md §6).

    §6.1 targets: measurable at baseline (LD >= 10 mm and perpendicular >= 5 mm), up to 5 by
    size; sum = sum of their LDs (a vanished lesion counts 0). §6.2 PD: >= 20 % above the nadir
    (smallest sum so far, baseline included) and one lesion >= 5 mm above its nadir size;
    §6.3 a new lesion is PD (not on immunotherapy); PR: <= -30 % vs baseline; else SD
    (CR needs every lesion gone and is not reached by these phantoms).
    """
    def sizes(tp: dict) -> dict[str, float]:
        return {les["truth_id"]: les["longest_axial_diameter_mm"] or 0.0
                for les in tp["lesions"] if les["status"] != "new"}

    base = sizes(timepoints[0])
    targets = sorted(
        (les for les in timepoints[0]["lesions"]
         if les["longest_axial_diameter_mm"] >= 10 and les["perpendicular_diameter_mm"] >= 5),
        key=lambda les: -les["longest_axial_diameter_mm"])[:5]
    ids = [les["truth_id"] for les in targets]
    sums = [sum(base[i] for i in ids)]
    nadir_sizes = {i: base[i] for i in ids}
    out = []
    for tp in timepoints[1:]:
        now = sizes(tp)
        total = sum(now.get(i, 0.0) for i in ids)
        nadir = min(sums)
        grew_5mm = any(now.get(i, 0.0) - nadir_sizes[i] >= 5 for i in ids)
        if any(les["status"] == "new" for les in tp["lesions"]):
            out.append("PD")
        elif total >= 1.2 * nadir and grew_5mm:
            out.append("PD")
        elif total <= 0.7 * sums[0]:
            out.append("PR")
        else:
            out.append("SD")
        if total < nadir:
            nadir_sizes = {i: now.get(i, 0.0) for i in ids}
        sums.append(total)
    return out


@pytest.fixture(scope="module")
def phantom_series(tmp_path_factory):
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


def test_phantom_category_matches_spec_derivation(phantom_series):
    timeline, record, _, _ = phantom_series
    for tp in record["timepoints"]:  # steroids/clinical come from the clinician, not images
        tp["steroid_mg_day"], tp["clinical_status"] = 0, "stable"
    want = _spec_categories(timeline["timepoints"])
    # seed 11 (3 lesions, 2 follow-ups): -18.6 % vs baseline -> SD; then a new lesion -> PD.
    # Both branches are exercised whatever the generator's details.
    assert len(want) == 2 and "PD" in want and "SD" in want, want
    got = evaluate(record)
    assert [h.category for h in got.history[1:]] == want
    truth_sum = sum(les["longest_axial_diameter_mm"] for les in timeline["timepoints"][0]["lesions"]
                    if les["longest_axial_diameter_mm"] >= 10)
    assert got.baseline_sum_mm == pytest.approx(truth_sum, abs=0.05)


def test_spec_derivation_helper_on_hand_cases():
    """The helper above on hand-made timelines (each rule once), so it cannot drift."""
    def tp(*sizes, new=False):
        les = [{"truth_id": f"L{i}", "status": "persisting", "longest_axial_diameter_mm": s,
                "perpendicular_diameter_mm": s} for i, s in enumerate(sizes)]
        if new:
            les.append({"truth_id": "N", "status": "new", "longest_axial_diameter_mm": 4.0,
                        "perpendicular_diameter_mm": 4.0})
        return {"lesions": les}
    assert _spec_categories([tp(20, 20), tp(14, 14)]) == ["PR"]  # -30 %
    assert _spec_categories([tp(20, 20), tp(14, 14.5)]) == ["SD"]  # -28.75 %
    assert _spec_categories([tp(20, 20), tp(25, 23)]) == ["PD"]  # +20 %, +5 mm
    assert _spec_categories([tp(20, 20), tp(24, 24)]) == ["SD"]  # +20 % but +4 mm each
    assert _spec_categories([tp(20, 20), tp(20, 20, new=True)]) == ["PD"]
    assert _spec_categories([tp(20, 8), tp(20, 8)]) == ["SD"]  # 8 mm: not a target


@pytest.fixture(scope="module")
def detected(phantom_series):
    """phantom -> ``pipeline.scan`` (detector) -> registration + matching, first two scans."""
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
    return timeline, record, both


@pytest.mark.slow
def test_detected_truth_lesions_keep_one_track(detected):
    _, _, both = detected
    # the largest truth lesion (L3, 25 mm) must be found on both scans, or the track check
    # above proved nothing (which other lesions are found is the detector's business)
    assert "L3" in both, both


@pytest.mark.slow
@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "imaging detector: on the seed-11 phantom (3 mm voxels) the follow-up scan yields "
    "false-positive 'new' lesions, so RANO-BM says PD where the truth is SD (-18.6 %); "
    "strict: remove this mark when the detector stops reporting them"))
def test_phantom_through_scan_pipeline(detected):
    """Truth: 55.2 -> 44.9 mm (-18.6 % vs baseline), no new lesion -> SD (treatment.md §6.2)."""
    timeline, record, _ = detected
    assert _spec_categories(timeline["timepoints"][:2]) == ["SD"]
    res = evaluate(record)
    assert res.category == "SD", res.reasons
