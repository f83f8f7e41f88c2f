"""CONTRACT §5 lesion review through the REST API, and the record/scan rules of issue #20:
detected lesions are provisional until reviewed, rejected ones never count, every action is
audited with before and after, the current scan is the latest by scan date, scan dates in the
future or before birth are refused, one diameter convention and one sum everywhere."""

from __future__ import annotations

import copy
import datetime as dt

import pytest


@pytest.fixture
def pid(rapi, helpers):
    rec = copy.deepcopy(helpers.PATIENT)
    rec["brain_metastases"] = {"leptomeningeal": False}  # lesions come from the scan
    r = rapi.post("/api/patients", json=rec)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _lesions(api, pid, who="a"):
    r = api.get(f"/api/patients/{pid}/lesions", who)
    assert r.status_code == 200, r.text
    return r.json()


def test_detected_lesions_are_provisional_until_reviewed(rapi, pid, upload):
    upload(rapi, pid, "2026-01-10")
    les = _lesions(rapi, pid)
    # CONTRACT §5: every detected lesion starts as `detected`, with the fixed fields
    assert [x["id"] for x in les] == ["L1", "L2", "L3"]
    for x in les:
        assert x["status"] == "detected" and x["scan_date"] == "2026-01-10"
        for key in ("scan_id", "diameter_mm", "volume_ml", "centroid_mm", "confidence",
                    "reviewed_by", "reviewed_at"):
            assert key in x, key
    a = rapi.get(f"/api/patients/{pid}/assessment").json()
    assert a["provisional"] is True
    assert any("provisional" in w and "3 lesion(s) detected" in w for w in a["warnings"])
    assert len(a["lesions"]) == 3


def test_review_counts_only_confirmed_and_added_lesions(rapi, pid, upload):
    upload(rapi, pid, "2026-01-10")
    assert rapi.client.patch(f"/api/patients/{pid}/lesions/L1", json={"status": "confirmed"},
                      headers=rapi.h("a")).status_code == 200
    r = rapi.client.patch(f"/api/patients/{pid}/lesions/L2", json={"diameter_mm": 15.0},
                          headers=rapi.h("a"))
    assert r.status_code == 200, r.text
    corrected = r.json()
    # a correction is a review: confirmed, with the detector's value kept beside it
    assert corrected["status"] == "confirmed" and corrected["diameter_mm"] == 15.0
    assert corrected["corrected"] is True and corrected["detected"]["diameter_mm"] != 15.0
    assert corrected["reviewed_by"] == "a" and corrected["reviewed_at"].endswith("Z")
    a = rapi.get(f"/api/patients/{pid}/assessment").json()
    assert a["provisional"] is True  # L3 still detected
    r = rapi.client.patch(f"/api/patients/{pid}/lesions/L3", json={"status": "rejected"},
                          headers=rapi.h("a"))
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    a = rapi.get(f"/api/patients/{pid}/assessment").json()
    assert a["provisional"] is False
    assert not any("provisional" in w for w in a["warnings"])
    assert [x["id"] for x in a["lesions"]] == ["L1", "L2"]
    assert [x["diameter_mm"] for x in a["lesions"]][1] == 15.0
    # the rejected lesion stays visible for review, but never counts
    assert [x["status"] for x in _lesions(rapi, pid)] == ["confirmed", "confirmed", "rejected"]


def test_every_review_action_is_audited_with_before_and_after(rapi, pid, upload):
    upload(rapi, pid, "2026-01-10")
    rapi.client.patch(f"/api/patients/{pid}/lesions/L3", json={"status": "rejected"},
                      headers=rapi.h("a"))
    rapi.client.patch(f"/api/patients/{pid}/lesions/L1", json={"diameter_mm": 9.5},
                      headers=rapi.h("a"))
    rows = [e for e in rapi.get(f"/api/patients/{pid}/audit", "admin").json()
            if e["before"] is not None or e["after"] is not None]
    assert len(rows) == 2
    rows.sort(key=lambda e: e["after"]["id"])
    l1, l3 = rows
    assert l3["user"] == "a" and l3["before"]["status"] == "detected"
    assert l3["after"]["status"] == "rejected"
    assert l1["before"]["diameter_mm"] != 9.5 and l1["after"]["diameter_mm"] == 9.5


def test_seed_point_adds_a_segmented_lesion(rapi, pid, upload, tmp_path, make_volume):
    # a faint blob (300 vs 100 background) the stand-in detector (> 350) misses
    faint = (slice(10, 14), slice(4, 8), slice(11, 14))
    vol = make_volume(tmp_path / "faint.nii.gz", extra_dim_blob=faint)
    upload(rapi, pid, "2026-01-10", vol)
    # world mm of the faint blob's centre: affine diag(2, 2, 3) + (-24, -24, -24)
    seed = [2 * 11.5 - 24, 2 * 5.5 - 24, 3 * 12 - 24]
    r = rapi.post(f"/api/patients/{pid}/lesions", json={"centroid_mm": seed})
    assert r.status_code == 201, r.text
    added = r.json()
    assert added["id"] == "A1" and added["status"] == "added" and added["method"] == "seeded"
    # 4 x 4 x 3 voxels of 2 x 2 x 3 mm: 48 voxels x 12 mm^3 = 0.576 mL; longest axial
    # diameter = hull of voxel centres (diagonal 3*sqrt(2)*2 mm) + one voxel width along it
    assert added["volume_ml"] == pytest.approx(0.576, abs=1e-3)
    assert 8.0 <= added["diameter_mm"] <= 11.0
    assert [x["id"] for x in _lesions(rapi, pid)][-1] == "A1"
    a = rapi.get(f"/api/patients/{pid}/assessment").json()
    assert "A1" in [x["id"] for x in a["lesions"]]
    # by hand: the measurements given are stored as they are
    r = rapi.post(f"/api/patients/{pid}/lesions",
                  json={"centroid_mm": [0, 0, 0], "diameter_mm": 7.5, "location": "cerebellum"})
    assert r.status_code == 201 and r.json()["method"] == "hand" and r.json()["id"] == "A2"
    # a seed in plain background: refused, naming the field, nothing added
    r = rapi.post(f"/api/patients/{pid}/lesions", json={"centroid_mm": [-20.0, 20.0, 0.0]})
    assert r.status_code == 422 and "centroid_mm" in r.text
    r = rapi.post(f"/api/patients/{pid}/lesions", json={"centroid_mm": [900.0, 0, 0]})
    assert r.status_code == 422 and "outside the scan" in r.text
    assert len(_lesions(rapi, pid)) == 5


def test_review_input_errors_name_the_field(rapi, pid, upload):
    upload(rapi, pid, "2026-01-10")
    p = rapi.client.patch
    h = rapi.h("a")
    r = p(f"/api/patients/{pid}/lesions/L1", json={"status": "maybe"}, headers=h)
    assert r.status_code == 422 and "status" in r.text
    r = p(f"/api/patients/{pid}/lesions/L1", json={"diamter_mm": 3}, headers=h)
    assert r.status_code == 422 and "diamter_mm" in r.text
    r = p(f"/api/patients/{pid}/lesions/L1", json={"diameter_mm": -1}, headers=h)
    assert r.status_code == 422 and "diameter_mm" in r.text
    assert p(f"/api/patients/{pid}/lesions/L9", json={"status": "confirmed"},
             headers=h).status_code == 404
    assert p(f"/api/patients/{pid}/lesions/L1", json={"status": "confirmed"},
             headers=rapi.h("r")).status_code == 403
    assert p(f"/api/patients/{pid}/lesions/L1", json={"status": "confirmed"},
             headers=rapi.h("b")).status_code in (403, 404)
    assert rapi.post(f"/api/patients/{pid}/lesions", json={}).status_code == 422
    assert all(x["status"] == "detected" for x in _lesions(rapi, pid))
    # researchers read the list without dates
    assert all("scan_date" not in x for x in _lesions(rapi, pid, "r"))


def test_rejecting_every_lesion_is_said(rapi, pid, upload):
    upload(rapi, pid, "2026-01-10")
    for lid in ("L1", "L2", "L3"):
        rapi.client.patch(f"/api/patients/{pid}/lesions/{lid}", json={"status": "rejected"},
                          headers=rapi.h("a"))
    a = rapi.get(f"/api/patients/{pid}/assessment").json()
    assert a["provisional"] is False and a["lesions"] == []
    assert any("no lesion counted" in w for w in a["warnings"])


def test_current_scan_is_the_latest_by_scan_date(rapi, pid, upload, tmp_path, make_volume):
    upload(rapi, pid, "2026-03-01")
    older = make_volume(tmp_path / "older.nii.gz", blobs=[(slice(4, 8), slice(4, 8),
                                                          slice(3, 7))])
    upload(rapi, pid, "2026-01-01", older)  # uploaded and finished last, but older
    les = _lesions(rapi, pid)
    assert {x["scan_date"] for x in les} == {"2026-03-01"} and len(les) == 3
    a = rapi.get(f"/api/patients/{pid}/assessment").json()
    assert a["current_scan"]["date"] == "2026-03-01"
    assert any("of 2026-03-01" in w for w in a["warnings"])
    assert {x["scan"]["date"] for x in a["lesions"]} == {"2026-03-01"}


@pytest.mark.parametrize("date", ["2031-01-01", "1899-01-01", "tomorrow"])
def test_scan_dates_in_the_future_or_before_birth_are_refused(rapi, pid, tmp_path, date,
                                                             make_volume):
    if date == "tomorrow":
        date = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)).isoformat()
    vol = make_volume(tmp_path / "v.nii.gz")
    r = rapi.post(f"/api/patients/{pid}/scans", files={"file": (vol.name, vol.read_bytes())},
                  data={"date": date})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "date", r.text
    assert rapi.get(f"/api/patients/{pid}").json()["scans"] == []


def test_one_diameter_convention_and_one_sum(rapi, pid, upload):
    """CONTRACT §3 / RANO-BM: diameter_mm is the longest axial diameter; the API, the time
    line and the scan summary give the same labelled sum (rejected lesions excluded)."""
    job = upload(rapi, pid, "2026-01-10")
    detected = rapi.get(job["links"]["lesions"]).json()["lesions"]
    les = _lesions(rapi, pid)
    assert [x["diameter_mm"] for x in les] == [d["longest_axial_diameter_mm"] for d in detected]
    rapi.client.patch(f"/api/patients/{pid}/lesions/L3", json={"status": "rejected"},
                      headers=rapi.h("a"))
    expected = round(sum(d["longest_axial_diameter_mm"] for d in detected[:2]), 1)
    scan = rapi.get(f"/api/patients/{pid}").json()["scans"][0]
    tl = rapi.get(f"/api/patients/{pid}/response").json()
    assert scan["sum_longest_axial_diameter_mm"] == expected
    assert tl["points"][0]["sum_mm"] == expected and "longest axial" in tl["sum_label"]
    a = rapi.get(f"/api/patients/{pid}/assessment").json()
    assert round(sum(x["diameter_mm"] for x in a["lesions"]), 1) == expected


def test_findings_and_low_confidence_candidates_are_served(rapi, pid, upload):
    upload(rapi, pid, "2026-01-10")
    f = rapi.get(f"/api/patients/{pid}/findings").json()
    assert f["low_confidence_candidates"][0]["confidence"] == 0.2
    assert f["findings"][0]["id"] == "test_finding"
