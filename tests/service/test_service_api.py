"""REST API tests (httpx TestClient): every endpoint, auth failures, role limits, audit rows,
upload errors leaving nothing half-stored."""

from __future__ import annotations

import gzip
import io
import logging
import zipfile

import pytest
from sqlalchemy import func, select

from brainmets.store.models import Scan, TimePoint

H = None  # test helpers from conftest (set by the autouse fixture below)


@pytest.fixture(autouse=True)
def _helpers(helpers):
    global H
    H = helpers


def _create(api, who="a", record=None) -> str:
    r = api.post("/api/patients", who, json=record or H.PATIENT)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_health_needs_no_token(api):
    r = api.client.get("/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    assert "knowledge_base" in r.json()


@pytest.mark.parametrize("url", ["/api/patients", "/api/patients/x", "/api/patients/x/assessment",
                                 "/api/jobs/x", "/api/patients/x/report.pdf",
                                 "/api/patients/x/fhir"])
def test_every_api_endpoint_needs_a_token(api, url):
    assert api.client.get(url).status_code == 401
    r = api.client.get(url, headers={"Authorization": "Bearer bm_wrong"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert api.client.post("/api/patients", json=H.PATIENT).status_code == 401


def test_create_read_update_patient(api):
    pid = _create(api)
    r = api.get(f"/api/patients/{pid}")
    body = r.json()
    assert r.status_code == 200 and body["record"]["kps"] == 80 and body["version"] == 1
    assert body["record"]["id"] == "MRN-0042"
    rec = dict(H.PATIENT, kps=60)
    assert api.put(f"/api/patients/{pid}", json=rec).status_code == 200
    body = api.get(f"/api/patients/{pid}").json()
    assert body["record"]["kps"] == 60 and body["version"] == 2
    listed = api.get("/api/patients").json()
    assert [p["id"] for p in listed] == [pid]


def test_invalid_record_gives_422_with_field_paths(api):
    bad = dict(H.PATIENT, kps=85, primary={"site": "nsclc", "her2": "pos"})
    r = api.post("/api/patients", json=bad)
    assert r.status_code == 422
    fields = {d["field"] for d in r.json()["detail"]}
    assert {"kps", "primary.her2"} <= fields
    assert any("expected positive|negative|unknown" in e for e in r.json()["errors"])
    assert api.post("/api/patients", json=[1, 2]).status_code == 422
    r = api.client.post("/api/patients", headers=api.h("a"), content=b"{not json",
                        )
    assert r.status_code == 422
    with api.store.session() as s:
        from brainmets.store.models import Patient

        assert s.scalar(select(func.count()).select_from(Patient)) == 0


def test_assessment_follows_contract(api):
    pid = _create(api)
    r = api.get(f"/api/patients/{pid}/assessment")
    assert r.status_code == 200
    a = r.json()
    for key in ("patient_id", "prognosis", "not_computed", "options", "not_recommended",
                "disclaimer"):
        assert key in a
    assert a["patient_id"] == pid and "not a medical device" in a["disclaimer"]
    # H.PATIENT: 62 y, KPS 80, NSCLC adenocarcinoma EGFR+, controlled, no ECM, 2 BM.
    # Hand-derived from prognosis.md: RPA §1 class I (KPS >= 70, age < 65, controlled, no ECM)
    # 7.1 mo; GPA §2 0 + 0.5 + 0.5 + 1 = 2.0 -> 3.8 mo; DS-GPA lung §3.2 2.0 -> 5.5 mo;
    # Lung-molGPA §4.1 0.5 + 0.5 + 1 + 0.5 + 1 = 3.5 -> 46.8 mo; BSBM §6 1 + 1 + 1 = 3.
    got = {p["index"]: (p["score"], p["median_survival_months"]) for p in a["prognosis"]}
    assert got["rpa"][1] == 7.1
    assert got["gpa_2008"] == (2.0, 3.8)
    assert got["ds_gpa_2012"] == (2.0, 5.5)
    assert got["lung_molgpa_2017"] == (3.5, 46.8)
    assert got["bsbm"][0] == 3
    assert "labbm" in {n["index"] for n in a["not_computed"]}  # no labs given
    # treatment.md §1.1 R2.3 (asymptomatic, EGFR-mutant NSCLC) and R3.2 (1-4 unresected BM)
    ids = {o["id"] for o in a["options"]}
    assert "osimertinib" in ids and "srs" in ids, ids
    again = api.get(f"/api/patients/{pid}/assessment").json()
    assert again["prognosis"] == a["prognosis"] and again["options"] == a["options"]


def test_role_limits(api):
    pid = _create(api, "a")
    assert api.get(f"/api/patients/{pid}", "b").status_code == 403
    assert api.put(f"/api/patients/{pid}", "b", json=H.PATIENT).status_code == 403
    assert api.get(f"/api/patients/{pid}/assessment", "b").status_code == 403
    assert api.get("/api/patients", "b").json() == []
    # researcher: de-identified read only
    r = api.get(f"/api/patients/{pid}", "r")
    assert r.status_code == 200 and r.json()["deidentified"] is True
    assert "id" not in r.json()["record"] and "display_name" not in r.json()
    assert api.post("/api/patients", "r", json=H.PATIENT).status_code == 403
    assert api.put(f"/api/patients/{pid}", "r", json=H.PATIENT).status_code == 403
    assert api.get(f"/api/patients/{pid}/fhir", "r").status_code == 200
    # admin: everything
    assert api.get(f"/api/patients/{pid}", "admin").json()["record"]["id"] == "MRN-0042"
    assert api.put(f"/api/patients/{pid}", "admin", json=H.PATIENT).status_code == 200
    assert api.get(f"/api/patients/{pid}/audit", "admin").status_code == 200
    assert api.get(f"/api/patients/{pid}/audit", "a").status_code == 403
    assert api.get("/api/patients/doesnotexist", "admin").status_code == 404


def test_researcher_ages_over_89_are_aggregated(api):
    pid = _create(api, record=dict(H.PATIENT, age=95))
    assert api.get(f"/api/patients/{pid}", "r").json()["record"]["age"] == 90
    assert api.get(f"/api/patients/{pid}", "a").json()["record"]["age"] == 95


def test_audit_rows_for_reads_writes_and_failures(api):
    pid = _create(api)
    api.get(f"/api/patients/{pid}")
    api.get(f"/api/patients/{pid}", "b")
    api.client.get(f"/api/patients/{pid}")
    api.put(f"/api/patients/{pid}", json=dict(H.PATIENT, kps=70))
    rows = api.audit(pid)
    got = [(r.user_name, r.action, r.outcome) for r in reversed(rows)]
    assert got == [("a", "create", "ok"), ("a", "read", "ok"), ("b", "read", "denied"),
                   (None, "read", "unauthenticated"), ("a", "update", "ok")]
    for r in rows:
        assert r.at is not None and r.resource.startswith(("GET", "POST", "PUT"))
        assert "MRN" not in r.resource


def test_no_phi_in_application_logs(api, caplog):
    caplog.set_level(logging.DEBUG)
    rec = dict(H.PATIENT, id="MRN-SECRET-77")
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "name": [{"text": "Zelda Quixote"}],
                      "gender": "female"}}]}
    pid = _create(api, record=rec)
    api.post("/api/patients", json=bundle)
    api.get(f"/api/patients/{pid}")
    api.get(f"/api/patients/{pid}/fhir")
    text = caplog.text
    assert "MRN-SECRET-77" not in text and "Zelda" not in text


def _upload(api, pid, name, data, who="a"):
    return api.post(f"/api/patients/{pid}/scans", who, files={"file": (name, data)})


def _nothing_stored(api):
    with api.store.session() as s:
        assert s.scalar(select(func.count()).select_from(Scan)) == 0
        assert s.scalar(select(func.count()).select_from(TimePoint)) == 0
    tmp = api.store.data_dir / "tmp"
    assert not tmp.exists() or list(tmp.iterdir()) == []
    scans = api.store.data_dir / "scans"
    assert not scans.exists() or list(scans.iterdir()) == []


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for k, v in files.items():
            z.writestr(k, v)
    return buf.getvalue()


def test_upload_errors_are_4xx_and_store_nothing(api, tmp_path):
    import nibabel as nib
    import numpy as np

    pid = _create(api)
    good = H.tiny_nifti(tmp_path / "t.nii.gz").read_bytes()
    flat = tmp_path / "flat.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((32, 32), np.float32), np.eye(4)), str(flat))
    cases = [
        ("x.txt", b"hello world, not an image", 415, "unsupported type"),
        ("e.nii", b"", 422, "empty"),
        ("c.nii.gz", good[:200], 422, "corrupt gzip"),
        ("t.nii.gz", good[: len(good) // 2], 422, "could not be read"),
        ("flat.nii.gz", flat.read_bytes(), 422, "3-D"),
        ("big.nii", b"\0" * (3 * 1024 * 1024), 413, "limit"),
        ("d.zip", _zip({"a.txt": b"nope"}), 422, "not DICOM"),
        ("z.zip", b"PK\x03\x04garbage", 422, "corrupt zip"),
        ("empty.zip", _zip({}), 422, "empty"),
    ]
    for name, data, status, words in cases:
        r = _upload(api, pid, name, data)
        assert r.status_code == status, (name, r.status_code, r.text)
        assert words.lower() in r.text.lower(), (name, r.text)
    r = api.post(f"/api/patients/{pid}/scans", files={"file": ("t.nii.gz", good)},
                 data={"date": "2026-13-40"})
    assert r.status_code == 422 and "date" in r.text
    _nothing_stored(api)
    # role and ownership checks come before the upload is read
    assert _upload(api, pid, "t.nii.gz", good, "b").status_code == 403
    assert _upload(api, pid, "t.nii.gz", good, "r").status_code == 403
    _nothing_stored(api)
    outcomes = {r.outcome for r in api.audit(pid) if r.resource.endswith("/scans")}
    assert outcomes == {"invalid", "denied"}


def test_dicom_zip_with_two_series_is_rejected(api, tmp_path):
    pid = _create(api)
    files = {}
    for i, series in enumerate(["1.2.3.4", "1.2.3.5"] * 5):
        files[f"s{i}.dcm"] = H.dicom_slice(series, i)
    r = _upload(api, pid, "two.zip", _zip(files))
    assert r.status_code == 422 and "more than one DICOM series" in r.text
    _nothing_stored(api)


def test_nifti_upload_runs_job_and_serves_outputs(api, tmp_path):
    import nibabel as nib

    pid = _create(api, record={k: v for k, v in H.PATIENT.items() if k != "brain_metastases"})
    data = H.tiny_nifti(tmp_path / "t.nii.gz").read_bytes()
    r = api.post(f"/api/patients/{pid}/scans", files={"file": ("t.nii.gz", data)},
                 data={"date": "2026-01-10"})
    assert r.status_code == 202 and set(r.json()) == {"job", "status"}
    job = api.wait_job(r.json()["job"])
    assert job["status"] == "done" and job["n_lesions"] == 1 and job["patient_id"] == pid
    assert api.get(f"/api/jobs/{job['job']}", "b").status_code == 403
    assert api.get("/api/jobs/nope").status_code == 404
    lab = api.get(f"/api/patients/{pid}/labelmap.nii.gz")
    assert lab.status_code == 200
    p = tmp_path / "lab.nii.gz"
    p.write_bytes(lab.content)
    assert int(nib.load(str(p)).get_fdata().max()) == 1
    for name in ("volume.nii.gz", "overlay.png", "lesions.json", "lesions.nii.gz"):
        rr = api.get(f"{job['links']['labelmap'].rsplit('/', 1)[0]}/{name}")
        assert rr.status_code == 200, name
    vol = api.get(job["links"]["volume"], "r")
    assert vol.status_code == 200 and gzip.decompress(vol.content)[:4]
    assert api.get(f"/api/patients/{pid}/seg.dcm").status_code == 404  # NIfTI input: no SEG
    assert "input" not in api.get(job["links"]["lesions"]).json()
    # the scan's lesions feed the assessment when the record lists none
    a = api.get(f"/api/patients/{pid}/assessment").json()
    # CONTRACT §2/§5: the lesions used come from the scan, unreviewed -> provisional, said so
    assert [(x["source"], x["status"], x["scan"]["date"]) for x in a["lesions"]] == [
        ("scan", "detected", "2026-01-10")]
    assert a["provisional"] is True
    assert any(w.startswith("provisional:") and "2026-01-10" in w for w in a["warnings"])
    body = api.get(f"/api/patients/{pid}").json()
    assert body["scans"][0]["status"] == "done" and body["scans"][0]["date"] == "2026-01-10"
    assert "date" not in api.get(f"/api/patients/{pid}", "r").json()["scans"][0]
    assert api.get(f"/api/patients/{pid}/response").json()["points"][0]["n_lesions"] == 1


def test_dicom_zip_upload_gives_deidentified_seg_for_researcher(api, tmp_path):
    """DICOM in: SEG written by the scan function is served; researchers get it de-identified."""
    import pydicom

    from brainmets.service import jobs as jobs_mod

    pid = _create(api)
    files = {f"s{i}.dcm": H.dicom_slice("1.2.3.4", i) for i in range(10)}
    r = _upload(api, pid, "series.zip", _zip(files))
    assert r.status_code == 202, r.text
    job = api.wait_job(r.json()["job"])
    assert job["status"] == "done", job
    # the stand-in scan writes no SEG; place one built from a source slice to test the download
    folder = jobs_mod.scan_dir(api.store, job["job"]) / "out"
    src = pydicom.dcmread(io.BytesIO(files["s0.dcm"]))
    src.save_as(folder / "seg.dcm", enforce_file_format=True)
    clin = pydicom.dcmread(io.BytesIO(api.get(f"/api/patients/{pid}/seg.dcm").content))
    assert str(clin.PatientName) == "Doe^Jane"
    res = pydicom.dcmread(io.BytesIO(api.get(f"/api/patients/{pid}/seg.dcm", "r").content))
    assert str(res.PatientName) == "" and res.PatientID == ""
    assert res.PatientIdentityRemoved == "YES"
    assert "InstitutionName" not in res and res.SeriesInstanceUID != "1.2.3.4"
    assert res.SOPClassUID == src.SOPClassUID


def test_failed_job_reports_error(store, tmp_path):
    def broken(_i, _o):
        raise RuntimeError("detector exploded")

    api = H.make_api(store, scan_fn=broken)
    with api.client:
        pid = _create(api)
        data = H.tiny_nifti(tmp_path / "t.nii.gz").read_bytes()
        job = api.wait_job(_upload(api, pid, "t.nii.gz", data).json()["job"])
        assert job["status"] == "failed" and "detector exploded" in job["error"]
        assert api.get(f"/api/patients/{pid}/labelmap.nii.gz").status_code == 404


def test_openapi_schema_lists_fixed_paths(api):
    paths = api.client.get("/openapi.json").json()["paths"]
    for p in ("/health", "/api/patients", "/api/patients/{pid}", "/api/patients/{pid}/assessment",
              "/api/patients/{pid}/scans", "/api/jobs/{job}", "/api/patients/{pid}/report.pdf",
              "/api/patients/{pid}/fhir"):
        assert p in paths, p


def _measuring_scan(input_path, out_dir):
    """``fake_scan`` with the longest/perpendicular diameters measured from its label map
    (in-plane extent x voxel size), so the response engine sees the real sizes."""
    import json

    import nibabel as nib
    import numpy as np

    info = H.fake_scan(input_path, out_dir)
    lab = nib.load(str(out_dir / "lesions.nii.gz"))
    idx = np.argwhere(np.asarray(lab.dataobj) > 0)
    zooms = lab.header.get_zooms()
    doc = json.loads((out_dir / "lesions.json").read_text())
    for les in doc["lesions"]:
        extent = [(idx[:, k].max() - idx[:, k].min() + 1) * float(zooms[k]) for k in (0, 1)]
        les["longest_axial_diameter_mm"], les["perpendicular_diameter_mm"] = max(extent), min(
            extent)
    (out_dir / "lesions.json").write_text(json.dumps(doc))
    return info


def test_response_time_line_with_two_scans(store, tmp_path):
    """Two scans, one cube lesion 12 mm -> 6 mm: RANO-BM PR (treatment.md §6.2: -50 % of the
    sum of longest diameters vs baseline, <= -30 %), provisional until confirmed >= 4 weeks."""
    import nibabel as nib
    import numpy as np

    api = H.make_api(store, scan_fn=_measuring_scan, max_upload_mb=2)
    with api.client:
        pid = _create(api)
        for date, size in (("2026-01-10", 6), ("2026-03-10", 3)):  # 6 / 3 voxels of 2 mm
            data = np.full((24, 24, 16), 100, np.float32)
            data[8:8 + size, 8:8 + size, 6:6 + size] = 300
            p = tmp_path / f"{date}.nii.gz"
            nib.save(nib.Nifti1Image(data, np.diag([2.0, 2.0, 3.0, 1.0])), str(p))
            r = api.post(f"/api/patients/{pid}/scans",
                         files={"file": (p.name, p.read_bytes())}, data={"date": date})
            assert api.wait_job(r.json()["job"])["status"] == "done"
        tl = api.get(f"/api/patients/{pid}/response").json()
        assert [pt["label"] for pt in tl["points"]] == ["2026-01-10", "2026-03-10"]
        assert [pt["sum_mm"] for pt in tl["points"]] == [12.0, 6.0]
        rano = tl["rano"]
        assert rano is not None, tl.get("rano_note")
        assert rano["category"] == "PR" and rano["provisional"] is True, rano["reasons"]
        assert (rano["baseline_sum_mm"], rano["current_sum_mm"]) == (12.0, 6.0)
        assert rano["pct_vs_baseline"] == -50.0
        r = api.get(f"/api/patients/{pid}/response", "r").json()
        assert [pt["label"] for pt in r["points"]] == ["day 0", "day 59"]
