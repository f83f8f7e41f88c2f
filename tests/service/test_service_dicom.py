"""DICOM in, DICOM SEG out, with the real imaging pipeline: upload a zip of one DICOM series,
wait for the scan job, download the SEG, read it back with highdicom (clinician: identifiers
kept; researcher: de-identified per the basic profile, still a valid SEG)."""

from __future__ import annotations

import io

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture
def real_api(tmp_path, helpers):
    import brainmets.imaging.pipeline  # noqa: F401  (own module: an import error fails)
    from brainmets.store import open_store

    st = open_store(None, tmp_path / "data")
    api = helpers.make_api(st, scan_fn=None)  # None: the real brainmets.imaging.pipeline.scan
    with api.client:
        yield api
    st.dispose()


def test_dicom_series_upload_gives_seg_that_reads_back(real_api, phantom_dicom_zip, helpers):
    import highdicom as hd
    import pydicom

    api = real_api
    pid = api.post("/api/patients", json=helpers.PATIENT).json()["id"]
    r = api.post(f"/api/patients/{pid}/scans",
                 files={"file": ("series.zip", phantom_dicom_zip.read_bytes())})
    assert r.status_code == 202, r.text
    job = api.wait_job(r.json()["job"], timeout=300)
    assert job["status"] == "done", job
    assert job["n_lesions"] >= 1 and "seg" in job["links"]
    lesions = api.get(job["links"]["lesions"]).json()["lesions"]

    seg = hd.seg.segread(io.BytesIO(api.get(f"/api/patients/{pid}/seg.dcm").content))
    assert len(seg.segment_numbers) == len(lesions)
    assert str(seg.PatientName) == "Doe^Jane" and seg.PatientID == "MRN-0042"
    vol = api.get(job["links"]["volume"])
    assert vol.status_code == 200 and len(vol.content) > 1000

    raw = api.get(f"/api/patients/{pid}/seg.dcm", "r").content
    de = pydicom.dcmread(io.BytesIO(raw))
    assert str(de.PatientName) == "" and de.PatientID == "" and de.PatientIdentityRemoved == "YES"
    for kw in ("PatientBirthDate", "AccessionNumber", "ReferringPhysicianName", "StudyDate"):
        assert not str(de.get(kw, "") or ""), kw
    assert de.StudyInstanceUID != seg.StudyInstanceUID
    assert de.SOPInstanceUID != seg.SOPInstanceUID
    de_seg = hd.seg.segread(io.BytesIO(raw))  # still a readable SEG
    assert len(de_seg.segment_numbers) == len(lesions)
