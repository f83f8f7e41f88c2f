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

    # hand-off to planning (issue #20): confirm the detected lesions, then the RT Structure Set
    # and the SR measurement report of the real pipeline's output read back
    for les in lesions:
        r = api.client.patch(f"/api/patients/{pid}/lesions/L{les['id']}",
                             json={"status": "confirmed"}, headers=api.h("a"))
        assert r.status_code == 200, r.text
    rt = pydicom.dcmread(io.BytesIO(api.get(f"/api/patients/{pid}/rtstruct.dcm").content))
    assert [x.ROIName for x in rt.StructureSetROISequence] == [f"BM L{les['id']}"
                                                               for les in lesions]
    assert rt.StudyInstanceUID == seg.StudyInstanceUID
    assert all(len(x.ContourSequence) >= 1 for x in rt.ROIContourSequence)
    sr = hd.sr.srread(io.BytesIO(api.get(f"/api/patients/{pid}/sr.dcm").content))
    groups = hd.sr.MeasurementReport.from_sequence([sr]).get_image_measurement_groups()
    assert [g.tracking_identifier for g in groups] == [f"L{les['id']}" for les in lesions]
    long_axis = [m.value for g in groups for m in g.get_measurements()
                 if m.name.meaning == "Long axis"]
    assert long_axis == pytest.approx([les["longest_axial_diameter_mm"] for les in lesions])
