"""Fixtures for the imaging tests: small synthetic heads (noisy ellipsoid brain, optional skull
and scalp fat, ventricle, cortex) with spherical lesions, tubes (vessels) and a sheet (dura)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi


def _make_head(
    shape=(72, 84, 72),
    spacing=(2.0, 2.0, 2.0),
    lesions=(),
    tubes=(),
    sheet=False,
    skull=True,
    noise=0.03,
    seed=0,
    scale=500.0,
):
    """Return (array, affine); lesions = (x, y, z, radius_mm, level, 'solid'|'ring') in mm."""
    rng = np.random.default_rng(seed)
    sp = np.asarray(spacing, float)
    idx = np.indices(shape).astype(np.float32)
    c = (np.asarray(shape) - 1) / 2.0
    X = [(idx[a] - c[a]) * sp[a] for a in range(3)]
    r = np.sqrt((X[0] / 62) ** 2 + (X[1] / 74) ** 2 + (X[2] / 60) ** 2)
    img = np.zeros(shape, np.float32)
    brain = r < 1
    img[brain] = 1.0
    img[r < 0.3] = 0.3
    img[(r > 0.9) & brain] = 0.75
    if skull:
        img[(r >= 1.0) & (r < 1.05)] = 0.3
        img[(r >= 1.05) & (r < 1.11)] = 0.05
        img[(r >= 1.11) & (r < 1.18)] = 1.4
    for x, y, z, rad, lev, kind in lesions:
        d = np.sqrt((X[0] - x) ** 2 + (X[1] - y) ** 2 + (X[2] - z) ** 2)
        img[d < rad] = lev
        if kind == "ring":
            img[d < rad * 0.55] = 0.4
    for p0, p1, rad, lev in tubes:
        p0 = np.asarray(p0, float)
        v = np.asarray(p1, float) - p0
        length = np.linalg.norm(v)
        v /= length
        P = np.stack(X, -1) - p0
        t = np.clip(P @ v, 0, length)
        d = np.linalg.norm(P - t[..., None] * v, axis=-1)
        img[d < rad] = lev
    if sheet:
        img[(r > 0.955) & (r < 0.985) & (X[2] > 15)] = 1.7
    img = ndi.gaussian_filter(img, 0.5)
    img = np.abs(img + rng.normal(0, noise, shape) + 1j * rng.normal(0, noise, shape))
    aff = np.diag([*sp, 1.0])
    aff[:3, 3] = -c * sp
    return (img * scale).astype(np.float32), aff


@pytest.fixture
def make_head():
    return _make_head


def _write_dicom_series(folder, data, affine_ras, slope=0.5, intercept=-10.0, series_uid=None,
                        study_uid=None, shuffle=True):
    """Write ``data`` (axes: column, row, slice) as single-frame MR DICOM files."""
    from pathlib import Path

    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ np.asarray(affine_ras, float)
    ps_col = np.linalg.norm(lps[:3, 0])
    ps_row = np.linalg.norm(lps[:3, 1])
    row_dir = lps[:3, 0] / ps_col
    col_dir = lps[:3, 1] / ps_row
    series_uid = series_uid or generate_uid()
    study_uid = study_uid or generate_uid()
    frame_uid = generate_uid()
    stored = np.clip(np.round((data - intercept) / slope), 0, 65535).astype(np.uint16)
    n = data.shape[2]
    order = np.random.default_rng(1).permutation(n) if shuffle else np.arange(n)
    for k in range(n):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        sop = generate_uid()
        meta.MediaStorageSOPInstanceUID = sop
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = sop
        ds.Modality = "MR"
        ds.PatientName = "Phantom^Test"
        ds.PatientID = "P1"
        ds.PatientBirthDate = "19600101"
        ds.PatientSex = "O"
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.StudyDate = "20260101"
        ds.StudyTime = "120000"
        ds.StudyID = "1"
        ds.AccessionNumber = "A1"
        ds.ReferringPhysicianName = "Ref^Doc"
        ds.SeriesNumber = 1
        ds.InstanceNumber = int(order[k]) + 1
        ds.Manufacturer = "test"
        ds.ImageOrientationPatient = [float(v) for v in (*row_dir, *col_dir)]
        ds.ImagePositionPatient = [float(v) for v in (lps @ [0, 0, k, 1])[:3]]
        ds.PixelSpacing = [float(ps_row), float(ps_col)]
        ds.SliceThickness = float(np.linalg.norm(lps[:3, 2]))
        ds.Rows = data.shape[1]
        ds.Columns = data.shape[0]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.RescaleSlope = slope
        ds.RescaleIntercept = intercept
        ds.PixelData = np.ascontiguousarray(stored[:, :, k].T).tobytes()
        ds.save_as(str(folder / f"im{order[k]:04d}.dcm"), enforce_file_format=True)
    return folder


@pytest.fixture
def write_dicom_series():
    return _write_dicom_series
