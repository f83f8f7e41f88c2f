"""Input checks: every bad input raises ImagingInputError naming the problem; CLI exits 2."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest
from typer.testing import CliRunner

from brainmets.cli import app
from brainmets.imaging import io
from brainmets.imaging.volume import ImagingInputError


def _nii(path, data, zooms=(1.0, 1.0, 1.0)):
    aff = np.diag([*zooms, 1.0])
    nib.save(nib.Nifti1Image(np.asarray(data), aff), str(path))
    return path


def _vol(shape=(8, 9, 10), seed=0):
    return np.random.default_rng(seed).random(shape).astype(np.float32)


@pytest.mark.parametrize(
    "data, zooms, needle",
    [
        (np.ones((16, 16), np.float32), (1, 1, 1), "2-D"),
        (np.ones((16, 16, 1), np.float32), (1, 1, 1), "2-D image"),
        (np.random.default_rng(0).random((8, 8, 8, 3)).astype(np.float32), (1, 1, 1), "4-D"),
        (np.full((8, 8, 8), 7.0, np.float32), (1, 1, 1), "constant volume"),
        (np.where(np.eye(8)[:, :, None] > 0, np.nan, 1.0).repeat(8, 2).astype(np.float32),
         (1, 1, 1), "NaN"),
        (_vol(), (0.001, 1, 1), "absurd voxel size"),
        (_vol(), (1, 1, 50), "absurd voxel size"),
    ],
)
def test_bad_nifti(tmp_path, data, zooms, needle):
    p = _nii(tmp_path / "x.nii.gz", data, zooms)
    with pytest.raises(ImagingInputError, match=needle):
        io.load_volume(p)


def test_inf_and_singleton_time_axis(tmp_path):
    d = _vol()
    d[1, 1, 1] = np.inf
    with pytest.raises(ImagingInputError, match="infinite"):
        io.load_volume(_nii(tmp_path / "inf.nii", d))
    ok = io.load_volume(_nii(tmp_path / "t1.nii.gz", _vol()[..., None]))
    assert ok.shape == (8, 9, 10)
    assert ok.data.dtype == np.float32


def test_non_image_truncated_missing_and_huge(tmp_path, monkeypatch):
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    with pytest.raises(ImagingInputError, match="not a NIfTI"):
        io.load_volume(txt)
    fake = tmp_path / "fake.nii.gz"
    fake.write_bytes(gzip.compress(b"not a header" * 10))
    with pytest.raises(ImagingInputError, match="not a readable NIfTI|truncated"):
        io.load_volume(fake)
    good = _nii(tmp_path / "good.nii.gz", _vol((30, 30, 30)))
    raw = good.read_bytes()
    trunc = tmp_path / "trunc.nii.gz"
    trunc.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ImagingInputError, match="truncated|not a readable"):
        io.load_volume(trunc)
    with pytest.raises(ImagingInputError, match="no such file"):
        io.load_volume(tmp_path / "missing.nii.gz")
    monkeypatch.setattr(io, "MAX_INPUT_BYTES", 100)
    with pytest.raises(ImagingInputError, match="limit"):
        io.load_volume(good)


def test_empty_and_non_dicom_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ImagingInputError, match="empty folder"):
        io.load_volume(empty)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.txt").write_text("x")
    (junk / "b.bin").write_bytes(b"\x00\x01" * 50)
    with pytest.raises(ImagingInputError, match="no DICOM image files"):
        io.load_volume(junk)


def test_cli_bad_input_exits_2_without_traceback(tmp_path):
    p = _nii(tmp_path / "flat.nii.gz", np.ones((8, 8, 8), np.float32))
    res = CliRunner().invoke(app, ["scan", str(p), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2
    assert "constant volume" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "out").exists()
