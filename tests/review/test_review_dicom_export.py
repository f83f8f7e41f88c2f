"""Hand-off to planning (issue #20): the reviewed lesions as a DICOM RT Structure Set and a DICOM
SR measurement report (TID 1500), each read back (pydicom / highdicom). Synthetic series made
here: 10 axial slices of 16 x 16 pixels, 2 mm pixels, 3 mm slices, identity orientation."""

from __future__ import annotations

import io

import numpy as np
import pytest


@pytest.fixture
def series(helpers):
    import pydicom

    return [pydicom.dcmread(io.BytesIO(helpers.dicom_slice("1.2.3.4", i))) for i in range(10)]


def _labels():
    lab = np.zeros((16, 16, 10), np.uint8)  # (column, row, slice) as the scan writes it
    lab[6:10, 6:10, 4:8] = 1
    lab[1:3, 12:14, 2:3] = 2
    # DICOM LPS = (2 * column, 2 * row, 3 * slice); NIfTI RAS flips x and y
    return lab, np.diag([-2.0, -2.0, 3.0, 1.0])


def test_rt_structure_set_reads_back_with_contours_on_the_right_slices(series, tmp_path):
    import pydicom

    from brainmets.imaging.dicom_rt import read_back, write_rtstruct

    lab, aff = _labels()
    out = write_rtstruct(tmp_path / "rt.dcm", list(reversed(series)), lab, aff,
                         [{"id": "L1", "label": 1}, {"id": "A2", "label": 2}], "test")
    assert out["roi_names"] == ["BM L1", "BM A2"]
    assert out["contours_per_roi"] == [4, 1] and out["references_ok"]
    ds = pydicom.dcmread(tmp_path / "rt.dcm")
    assert ds.Modality == "RTSTRUCT" and ds.PatientID == series[0].PatientID
    assert ds.StudyInstanceUID == series[0].StudyInstanceUID
    by_uid = {s.SOPInstanceUID: s for s in series}
    for c in ds.ROIContourSequence[0].ContourSequence:
        pts = np.array(c.ContourData, dtype=float).reshape(-1, 3)
        slice_z = float(by_uid[c.ContourImageSequence[0].ReferencedSOPInstanceUID]
                        .ImagePositionPatient[2])
        assert np.allclose(pts[:, 2], slice_z)  # each contour lies on the slice it references
        # the iso-line runs half a voxel outside the voxel centres 6..9 (x, y = 2 * index mm)
        assert pts[:, 0].min() == pytest.approx(11.0) and pts[:, 0].max() == pytest.approx(19.0)
        assert pts[:, 1].min() == pytest.approx(11.0) and pts[:, 1].max() == pytest.approx(19.0)
    assert read_back(tmp_path / "rt.dcm") == {k: out[k] for k in
                                              ("roi_names", "contours_per_roi", "references_ok")}


def test_rt_structure_set_refuses_missing_input(series, tmp_path):
    from brainmets.imaging.dicom_rt import RTStructError, write_rtstruct

    lab, aff = _labels()
    with pytest.raises(RTStructError, match="source"):
        write_rtstruct(tmp_path / "x.dcm", [], lab, aff, [{"id": "L1", "label": 1}])
    with pytest.raises(RTStructError, match="L9"):
        write_rtstruct(tmp_path / "x.dcm", series, lab, aff, [{"id": "L9", "label": 9}])


def test_sr_measurement_report_tid1500_reads_back(series, tmp_path):
    import highdicom as hd

    from brainmets.imaging.dicom_sr import write_measurement_report

    lesions = [{"id": "L1", "diameter_mm": 12.5, "perpendicular_diameter_mm": 9.0,
                "volume_ml": 0.9},
               {"id": "A1", "diameter_mm": 7.5}]
    out = write_measurement_report(tmp_path / "sr.dcm", series, lesions, "dr-review", "test")
    assert out["template"] == "1500" and out["tracking_ids"] == ["L1", "A1"]
    assert out["measurements"]["L1"] == {"Long axis": (12.5, "mm"), "Short axis": (9.0, "mm"),
                                         "Volume": (0.9, "ml")}
    assert out["measurements"]["A1"] == {"Long axis": (7.5, "mm")}
    sr = hd.sr.srread(tmp_path / "sr.dcm")
    assert sr.PatientID == series[0].PatientID and sr.Modality == "SR"
    evidence = {i.ReferencedSOPInstanceUID for s in sr.CurrentRequestedProcedureEvidenceSequence
                for se in s.ReferencedSeriesSequence for i in se.ReferencedSOPSequence}
    assert evidence == {s.SOPInstanceUID for s in series}


@pytest.fixture
def dicom_api(tmp_path, helpers):
    from brainmets.store import open_store

    st = open_store(None, tmp_path / "data")
    a = helpers.make_api(st, max_upload_mb=2)  # stand-in scan: thresholds the series
    with a.client:
        yield a
    st.dispose()


def test_confirmed_lesions_export_through_the_api(dicom_api, helpers):
    import copy
    import zipfile

    import highdicom as hd
    import pydicom

    api = dicom_api
    rec = copy.deepcopy(helpers.PATIENT)
    rec["brain_metastases"] = {"leptomeningeal": False}
    pid = api.post("/api/patients", json=rec).json()["id"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(10):
            z.writestr(f"s{i}.dcm", helpers.dicom_slice("1.2.3.4", i))
    r = api.post(f"/api/patients/{pid}/scans", files={"file": ("s.zip", buf.getvalue())},
                 data={"date": "2026-01-10"})
    assert api.wait_job(r.json()["job"])["status"] == "done"
    # nothing confirmed yet: nothing handed to planning
    assert api.get(f"/api/patients/{pid}/rtstruct.dcm").status_code == 409
    assert api.get(f"/api/patients/{pid}/sr.dcm").status_code == 409
    api.client.patch(f"/api/patients/{pid}/lesions/L1", json={"status": "confirmed"},
                     headers=api.h("a"))
    api.post(f"/api/patients/{pid}/lesions", json={"centroid_mm": [0, 0, 0], "diameter_mm": 5})
    rt = api.get(f"/api/patients/{pid}/rtstruct.dcm")
    assert rt.status_code == 200, rt.text
    ds = pydicom.dcmread(io.BytesIO(rt.content))
    assert [r.ROIName for r in ds.StructureSetROISequence] == ["BM L1"]
    # the blob covers slices 4-7 of the series: one contour on each
    assert len(ds.ROIContourSequence[0].ContourSequence) == 4
    sr = hd.sr.srread(io.BytesIO(api.get(f"/api/patients/{pid}/sr.dcm").content))
    rep = hd.sr.MeasurementReport.from_sequence([sr])
    assert [g.tracking_identifier for g in rep.get_image_measurement_groups()] == ["L1", "A1"]
    # researchers get both de-identified
    de = pydicom.dcmread(io.BytesIO(api.get(f"/api/patients/{pid}/rtstruct.dcm", "r").content))
    assert str(de.PatientName) == "" and de.PatientID == ""
    fhir = api.get(f"/api/patients/{pid}/fhir").json()
    ids = [c["id"] for c in fhir["contained"]]
    assert "lesion-L1-confirmed" in ids and "lesion-A1-added" in ids


def test_dciodvfy_finds_no_error_when_installed(series, tmp_path):
    """dicom3tools' validator (Debian package dicom3tools), when present: no IOD error."""
    import shutil
    import subprocess

    from brainmets.imaging.dicom_rt import write_rtstruct
    from brainmets.imaging.dicom_sr import write_measurement_report

    lab, aff = _labels()
    write_rtstruct(tmp_path / "rt.dcm", series, lab, aff, [{"id": "L1", "label": 1}], "t")
    write_measurement_report(tmp_path / "sr.dcm", series, [{"id": "L1", "diameter_mm": 8.0}],
                             "dr-review", "t")
    tool = shutil.which("dciodvfy")
    if tool is None:
        pytest.skip("dciodvfy not installed (apt-get install dicom3tools)")
    for name, iod in (("rt.dcm", "RTStructureSet"), ("sr.dcm", "Comprehensive3DSR")):
        out = subprocess.run([tool, str(tmp_path / name)], capture_output=True, text=True,
                             timeout=60)
        text = out.stdout + out.stderr
        assert iod in text and "Error" not in text, text
