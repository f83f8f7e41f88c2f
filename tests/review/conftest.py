"""Fixtures for the lesion-review tests: the service fixtures (tests/service/conftest.py) plus a
stand-in scan that reports every bright blob of the uploaded volume as a detected lesion."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "_brainmets_service_conftest", Path(__file__).resolve().parents[1] / "service" / "conftest.py")
_svc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_svc)
helpers = _svc.helpers
db_url = _svc.db_url
store = _svc.store
server_factory = _svc.server_factory
phantom_mri = _svc.phantom_mri
phantom_dicom_zip = _svc.phantom_dicom_zip

AFFINE = [[2.0, 0, 0, -24.0], [0, 2.0, 0, -24.0], [0, 0, 3.0, -24.0], [0, 0, 0, 1]]
# blobs (voxel slices) of a 24 x 24 x 16 volume; the third one is a false positive to reject
BLOBS = [(slice(4, 8), slice(4, 8), slice(3, 7)),
         (slice(14, 20), slice(14, 20), slice(6, 10)),
         (slice(4, 6), slice(16, 18), slice(10, 12))]


def blob_volume(path: Path, blobs=BLOBS, extra_dim_blob=None) -> Path:
    """A T1c-like test volume with bright blobs (made here; no patient data)."""
    import nibabel as nib
    import numpy as np

    rng = np.random.default_rng(1)
    data = rng.normal(100, 3, (24, 24, 16)).astype(np.float32)
    for b in blobs:
        data[b] = 400
    if extra_dim_blob is not None:
        data[extra_dim_blob] = 300
    nib.save(nib.Nifti1Image(data, np.array(AFFINE)), str(path))
    return path


def blob_scan(input_path: Path, out_dir: Path) -> dict:
    """Stand-in scan: each connected region above 250 is one lesion, measured with the
    project's RANO-BM measurement (imaging.measure.diameters)."""
    import nibabel as nib
    import numpy as np
    from scipy import ndimage as ndi

    from brainmets.imaging.measure import diameters

    img = nib.load(str(input_path))
    data = np.asanyarray(img.dataobj)
    lab, n = ndi.label(data > 350)
    nib.save(nib.Nifti1Image(lab.astype(np.int16), img.affine), str(out_dir / "lesions.nii.gz"))
    lesions = []
    for k in range(1, n + 1):
        idx = np.argwhere(lab == k)
        axial, perp, d3 = diameters(idx, img.affine)
        c = nib.affines.apply_affine(img.affine, idx.mean(0))
        lesions.append({"id": k, "centroid_mm": [round(float(v), 2) for v in c],
                        "volume_ml": round(len(idx) * 12 / 1000, 3),
                        "longest_axial_diameter_mm": round(axial, 1),
                        "perpendicular_diameter_mm": round(perp, 1),
                        "max_diameter_mm": round(d3, 1), "location": "supratentorial",
                        "confidence": 0.9})
    low = [{"reason": "low_confidence", "centroid_mm": [0.0, 0.0, 0.0], "volume_ml": 0.01,
            "confidence": 0.2}]
    (out_dir / "lesions.json").write_text(json.dumps({
        "shape": list(data.shape), "voxel_size_mm": [2.0, 2.0, 3.0],
        "detector": {"name": "test-blobs", "version": "0"}, "lesions": lesions,
        "low_confidence_candidates": low,
        "findings": [{"id": "test_finding", "text": "test finding from the stand-in scan"}]}))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.imsave(out_dir / "overlay.png", data[:, :, 8].T, cmap="gray")
    return {"lesions": lesions}


@pytest.fixture
def rapi(store):
    """An API (SQLite, and PostgreSQL when configured) whose scans report every bright blob
    as a detected lesion."""
    a = _svc.make_api(store, scan_fn=blob_scan, max_upload_mb=2)
    with a.client:
        yield a


@pytest.fixture
def upload(tmp_path):
    def do(api, pid: str, date: str, path: Path | None = None):
        path = path or blob_volume(tmp_path / f"{date}.nii.gz")
        r = api.post(f"/api/patients/{pid}/scans", files={"file": (path.name, path.read_bytes())},
                     data={"date": date})
        assert r.status_code == 202, r.text
        job = api.wait_job(r.json()["job"])
        assert job["status"] == "done", job
        return job

    return do


@pytest.fixture
def make_volume():
    """``blob_volume`` as a fixture (importlib mode cannot import this conftest)."""
    return blob_volume


@pytest.fixture
def stub_scan():
    """``blob_scan`` as a fixture."""
    return blob_scan
