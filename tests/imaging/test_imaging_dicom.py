"""DICOM series in, DICOM SEG out (read back with highdicom); series-level input errors."""

from __future__ import annotations

import json

import highdicom as hd
import nibabel as nib
import numpy as np
import pytest

from brainmets.imaging import io
from brainmets.imaging.pipeline import scan
from brainmets.imaging.volume import ImagingInputError

LESIONS = ((18, 8, 6, 7.0, 1.7, "solid"), (-22, -16, 10, 4.5, 1.7, "solid"))


def test_dicom_round_trip_matches_nifti(tmp_path, make_head, write_dicom_series):
    img, aff = make_head(lesions=LESIONS)
    # an axial series whose voxel axes run L->R? no: DICOM rows/cols in LPS
    folder = write_dicom_series(tmp_path / "series", img, aff)
    (folder / "README.txt").write_text("not an image")
    vol = io.load_volume(folder)
    assert vol.kind == "dicom"
    np.testing.assert_allclose(vol.affine, aff, atol=1e-4)
    np.testing.assert_allclose(vol.data, img, atol=0.5 + 1e-3)  # 0.5 = rescale slope
    assert any("non-image" in w for w in vol.warnings)

    res_d = scan(folder, tmp_path / "out_dcm", overlay=False)
    assert res_d["count"] == 2
    # world positions survive the DICOM (LPS, shuffled files) round trip
    for les, (x, y, z, r, _, _) in zip(res_d["lesions"], LESIONS, strict=True):
        np.testing.assert_allclose(les["centroid_mm"], [x, y, z], atol=1.0)
        assert les["volume_ml"] == pytest.approx(4 / 3 * np.pi * r**3 / 1000, rel=0.3)

    seg_path = tmp_path / "out_dcm" / "seg.dcm"
    seg = hd.seg.segread(str(seg_path))
    assert list(seg.segment_numbers) == [1, 2]
    uids = res_d["dicom_seg"]["tracking_uids"]
    got = {str(seg.get_segment_description(i).tracking_uid) for i in (1, 2)}
    assert got == set(uids.values())
    labels = np.asarray(nib.load(str(tmp_path / "out_dcm" / "lesions.nii.gz")).dataobj)
    src = [ds.SOPInstanceUID for ds in vol.dicom]
    pix = seg.get_pixels_by_source_instance(source_sop_instance_uids=src, segment_numbers=[1, 2])
    for i in (1, 2):
        np.testing.assert_array_equal(pix[..., i - 1].transpose(2, 1, 0) > 0, labels == i)
    on_disk = json.loads((tmp_path / "out_dcm" / "lesions.json").read_text())
    assert on_disk["input_kind"] == "dicom" and on_disk["count"] == 2


def test_several_series_and_single_file(tmp_path, write_dicom_series):
    rng = np.random.default_rng(0)
    d = (rng.random((10, 12, 6)) * 100).astype(np.float32)
    aff = np.diag([1.0, 1.0, 2.0, 1.0])
    write_dicom_series(tmp_path / "mix", d, aff)
    write_dicom_series(tmp_path / "mix" / "other", d, aff)
    with pytest.raises(ImagingInputError, match="2 DICOM series"):
        io.load_volume(tmp_path / "mix")
    one = next((tmp_path / "mix").glob("*.dcm"))
    with pytest.raises(ImagingInputError, match="single DICOM file"):
        io.load_volume(one)


def test_truncated_dicom_pixels(tmp_path, write_dicom_series):
    d = (np.random.default_rng(0).random((10, 12, 6)) * 100).astype(np.float32)
    folder = write_dicom_series(tmp_path / "s", d, np.eye(4))
    f = sorted(folder.glob("*.dcm"))[2]
    raw = f.read_bytes()
    f.write_bytes(raw[: len(raw) - 100])
    with pytest.raises(ImagingInputError, match="truncated|unreadable"):
        io.load_volume(folder)
