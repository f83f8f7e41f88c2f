"""The web service's case: cached per review state, de-identified for researchers, the time
line's RANO-BM block is the case's response (CONTRACT §2, §5)."""

from __future__ import annotations

import re

import pytest


@pytest.fixture
def api(tmp_path, helpers):
    from brainmets.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'registry.sqlite3'}", tmp_path / "data")
    a = helpers.make_api(store)  # stand-in scan: one lesion, LAD 8 mm (tests/service/conftest)
    with a.client:
        yield a
    store.dispose()


def _patient_with_scans(api, helpers, tmp_path, dates) -> str:
    rec = {k: v for k, v in helpers.PATIENT.items() if k != "brain_metastases"}
    pid = api.post("/api/patients", json=rec).json()["id"]
    data = helpers.tiny_nifti(tmp_path / "t.nii.gz").read_bytes()
    for d in dates:
        r = api.post(f"/api/patients/{pid}/scans", files={"file": ("t.nii.gz", data)},
                     data={"date": d})
        assert api.wait_job(r.json()["job"])["status"] == "done"
    return pid


def test_review_changes_the_cached_case(api, helpers, tmp_path):
    pid = _patient_with_scans(api, helpers, tmp_path, ["2026-01-10"])
    a = api.get(f"/api/patients/{pid}/assessment").json()
    assert a["provisional"] is True and [x["status"] for x in a["lesions"]] == ["detected"]
    r = api.client.patch(f"/api/patients/{pid}/lesions/L1", json={"status": "confirmed"},
                         headers=api.h("a"))
    assert r.status_code == 200, r.text
    b = api.get(f"/api/patients/{pid}/assessment").json()
    assert b["provisional"] is False and [x["status"] for x in b["lesions"]] == ["confirmed"]
    assert not any(w.startswith("provisional:") for w in b["warnings"])
    r = api.client.patch(f"/api/patients/{pid}/lesions/L1", json={"status": "rejected"},
                         headers=api.h("a"))
    c = api.get(f"/api/patients/{pid}/assessment").json()
    assert c["lesions"] == [] and c["lesions_not_used"][0]["reason"] == "rejected in review"


def test_researcher_sees_days_not_dates_and_the_timeline_is_the_cases(api, helpers, tmp_path):
    pid = _patient_with_scans(api, helpers, tmp_path, ["2026-01-10", "2026-03-10"])
    clin = api.get(f"/api/patients/{pid}/assessment").json()
    assert clin["current_scan"]["date"] == "2026-03-10"
    assert clin["response"] is not None and clin["response"]["input"] == "scans"
    tl = api.get(f"/api/patients/{pid}/response").json()
    assert tl["rano"]["category"] == clin["response"]["category"]
    res = api.get(f"/api/patients/{pid}/assessment", "r")
    assert res.status_code == 200
    body = res.json()
    assert not re.search(r"2026-\d{2}-\d{2}", res.text)  # no calendar date of the patient
    assert body["current_scan"] == {"id": clin["current_scan"]["id"], "date": None, "day": 59}
    assert body["lesions"][0]["scan"]["day"] == 59 and body["deidentified_dates"]
    assert body["response"]["baseline_date"] == "1900-01-01"
    assert body["response"]["category"] == clin["response"]["category"]
