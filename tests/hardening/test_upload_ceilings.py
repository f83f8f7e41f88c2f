"""Issue #17 bullet 3-4 (memory amplification, partly-NaN accepted, server paths in errors).

Each bomb is refused before it is unpacked: the peak Python/numpy allocation while staging it
(tracemalloc, which sees numpy buffers) stays under 64 MB. Before the fix the 0.5 MB zip
allocated its 512 MB member and the all-NaN 512³ volume was decoded whole (issue #17: 441 ->
1,424 MB and 445 -> 912 MB server RSS); the 1024³ header passed the size checks."""

from __future__ import annotations

import io
import tracemalloc

import pytest

from brainmets.service.settings import Settings
from brainmets.service.uploads import UploadError, stage_upload

PEAK_LIMIT = 64 * 2**20


def _stage_peak(path, tmp_path, settings: Settings | None = None):
    tracemalloc.start()
    try:
        with path.open("rb") as f:
            try:
                stage_upload(f, tmp_path, settings or Settings())
                err = None
            except UploadError as exc:
                err = exc
        _cur, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return err, peak


def test_zip_bomb_refused_from_central_directory(bombs, tmp_path):
    assert bombs.zip512.stat().st_size < 2**20  # ~0.5 MB holding one 512 MB member
    err, peak = _stage_peak(bombs.zip512, tmp_path)
    assert err is not None and err.status == 413, err
    assert "member 1" in err.message and "512 MB" in err.message
    assert peak < PEAK_LIMIT, f"peak {peak / 2**20:.0f} MB"
    assert not list(tmp_path.iterdir())  # nothing half-stored


def test_all_nan_volume_refused_streaming(bombs, tmp_path):
    err, peak = _stage_peak(bombs.nan512, tmp_path)
    assert err is not None and err.status == 422
    assert "NaN or infinite" in err.message
    assert peak < PEAK_LIMIT, f"peak {peak / 2**20:.0f} MB"
    assert not list(tmp_path.iterdir())


def test_1024_cubed_header_refused_before_reading(bombs, tmp_path):
    err, peak = _stage_peak(bombs.huge1024, tmp_path)
    assert err is not None and err.status == 422
    assert "1,073,741,824 voxels" in err.message
    assert peak < 8 * 2**20


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_partly_non_finite_volume_refused_at_upload(hapi, hhelpers, tmp_path, bad):
    """One NaN/Inf voxel: 422 at upload (was 202, then the job failed)."""
    pid = hapi.client.post("/api/patients", json=hhelpers.PATIENT, headers=hapi.h()).json()["id"]
    nii = hhelpers.tiny_nifti(tmp_path / "t.nii.gz", fill=bad).read_bytes()
    r = hapi.client.post(f"/api/patients/{pid}/scans", headers=hapi.h(),
                         files={"file": ("t.nii.gz", nii)})
    assert r.status_code == 422, r.text
    assert "NaN or infinite" in r.json()["errors"][0]
    ok = hhelpers.tiny_nifti(tmp_path / "ok.nii.gz").read_bytes()
    r = hapi.client.post(f"/api/patients/{pid}/scans", headers=hapi.h(),
                         files={"file": ("ok.nii.gz", ok)})
    assert r.status_code == 202, r.text


def test_truncated_data_refused(hhelpers, tmp_path):
    import gzip

    full = gzip.decompress(hhelpers.tiny_nifti(tmp_path / "t.nii.gz").read_bytes())
    cut = gzip.compress(full[: len(full) // 2])
    with pytest.raises(UploadError) as ei:
        stage_upload(io.BytesIO(cut), tmp_path / "stage", Settings())
    assert ei.value.status == 422 and "truncated" in ei.value.message


def test_errors_show_no_server_paths(hapi, hhelpers, tmp_path):
    pid = hapi.client.post("/api/patients", json=hhelpers.PATIENT, headers=hapi.h()).json()["id"]
    data_dir = str(hapi.store.data_dir)
    import gzip

    bodies = [
        gzip.compress(b"\x5c\x01\x00\x00" + b"\0" * 340 + b"n+1\0" + b"\xff" * 200),  # bad hdr
        b"\x1f\x8b\x08\x00garbage-gzip",  # corrupt gzip
        b"PK\x03\x04" + b"\0" * 100,  # corrupt zip
    ]
    for body in bodies:
        r = hapi.client.post(f"/api/patients/{pid}/scans", headers=hapi.h(),
                             files={"file": ("x.nii.gz", body)})
        assert 400 <= r.status_code < 500, r.text
        assert data_dir not in r.text and "/tmp/" not in r.text and "upload-" not in r.text, r.text


def test_redact_paths():
    from brainmets.service.security import redact_paths

    msg = "cannot read /srv/brainmets-data/tmp/upload-1f2e/input.nii.gz: bad header"
    assert redact_paths(msg) == "cannot read <file input.nii.gz>: bad header"
    assert redact_paths(r"C:\data\tmp\x.nii failed") == "<file x.nii> failed"
    assert redact_paths("age: expected >= 18") == "age: expected >= 18"


def test_constant_volume_and_huge_offset_refused(tmp_path):
    """A constant volume used to be accepted and fail in the job (with a server path)."""
    import gzip

    import nibabel as nib
    import numpy as np

    flat = nib.Nifti1Image(np.full((16, 16, 12), 7, np.int16), np.eye(4)).to_bytes()
    with pytest.raises(UploadError) as ei:
        stage_upload(io.BytesIO(gzip.compress(flat)), tmp_path / "a", Settings())
    assert ei.value.status == 422 and "constant volume" in ei.value.message
    hdr = nib.Nifti1Header()
    hdr.set_data_shape((16, 16, 12))
    hdr["vox_offset"] = 2**30  # 1 GB of "extensions" before the data
    with pytest.raises(UploadError) as ei:
        stage_upload(io.BytesIO(gzip.compress(hdr.binaryblock + b"\0" * 4)), tmp_path / "b",
                     Settings())
    assert ei.value.status == 422 and "offset" in ei.value.message


def test_failed_job_error_has_no_server_path(hapi, hhelpers, tmp_path):
    """A scan job that fails with an exception naming its input file shows no path."""
    pid = hapi.client.post("/api/patients", json=hhelpers.PATIENT, headers=hapi.h()).json()["id"]

    def failing(src, out):
        raise ValueError(f"{src}: detector failed")

    hapi.client.app.state.jobs.scan_fn = failing
    nii = hhelpers.tiny_nifti(tmp_path / "t.nii.gz").read_bytes()
    job = hapi.client.post(f"/api/patients/{pid}/scans", headers=hapi.h(),
                           files={"file": ("t.nii.gz", nii)}).json()["job"]
    hapi.client.app.state.jobs.wait(job, 30)
    st = hapi.client.get(f"/api/jobs/{job}", headers=hapi.h()).json()
    assert st["status"] == "failed" and "detector failed" in st["error"]
    assert str(hapi.store.data_dir) not in st["error"] and "<file input.nii.gz>" in st["error"]
