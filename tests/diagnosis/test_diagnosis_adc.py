"""ADC: synthetic DWI with Rician noise, bval/bvec parsing, DICOM DWI per vendor, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from typer.testing import CliRunner

from brainmets.cli import app
from brainmets.diagnosis.dwi import fit_adc, read_bvals, read_bvecs, run_adc
from brainmets.diagnosis.volumes import DiagnosisInputError

runner = CliRunner()


def _write_case(tmp_path: Path, phantom, bvals, **kw) -> tuple[Path, Path, Path, object]:
    ph = phantom.make()
    dwi, truth = phantom.dwi(ph, bvals, **kw)
    f = phantom.save(tmp_path / "dwi.nii.gz", dwi, ph.affine)
    bv = tmp_path / "dwi.bval"
    bv.write_text(" ".join(f"{b:g}" for b in bvals) + "\n")
    les = phantom.save(tmp_path / "lesions.nii.gz", ph.labels, ph.affine)
    return f, bv, les, (ph, truth)


def test_rician_noise_adc_recovered(tmp_path: Path, phantom) -> None:
    f, bv, les, (ph, truth) = _write_case(tmp_path, phantom, [0, 1000, 1000, 1000], sigma=8.0)
    summary = run_adc(f, bv, None, tmp_path / "out", les)
    img = nib.load(str(tmp_path / "out" / "adc.nii.gz"))
    adc = img.get_fdata()
    assert adc.shape == ph.tissue.shape and np.allclose(img.affine, ph.affine)
    for code, (_, d, _) in phantom.tissue.items():
        m = ph.tissue == code
        assert np.median(adc[m]) == pytest.approx(d, rel=0.03), code
    wm = ph.tissue == phantom.codes.WM
    assert np.sqrt(np.mean((adc[wm] - truth[wm]) ** 2)) < 0.1 * 0.75  # voxelwise error
    assert summary["nawm"]["median_adc"] == pytest.approx(0.75, rel=0.03)
    assert summary["nawm"]["centroid_mm"][0] < 0  # contralateral (right) to a left lesion
    lesion = summary["lesions"][0]
    assert lesion["cavity_core"]["median"] == pytest.approx(2.4, rel=0.05)
    assert lesion["rim"]["median"] == pytest.approx(1.1, rel=0.05)
    assert lesion["peritumoral"]["median"] == pytest.approx(1.4, rel=0.05)
    assert lesion["cavity_to_nawm_ratio"] == pytest.approx(2.4 / 0.75, rel=0.06)
    saved = json.loads((tmp_path / "out" / "adc.json").read_text())
    assert saved["units"] == "x10^-3 mm^2/s" and saved["lesions"][0]["id"] == 1


def test_uncorrected_noise_would_fail_tolerance(phantom) -> None:
    """The tolerance above is meaningful: a 20% scaling error is caught."""
    ph = phantom.make()
    dwi, _ = phantom.dwi(ph, [0, 1000])
    adc, _ = fit_adc(dwi, np.array([0, 1200.0]))  # wrong b-value
    assert np.nanmedian(adc[ph.tissue == phantom.codes.WM]) * 1e3 < 0.75 * 0.9


def test_multi_b_fits_only_high_b(phantom) -> None:
    ph = phantom.make()
    bvals = np.array([0, 500, 1000, 1000])
    dwi, _ = phantom.dwi(ph, bvals)
    # perfusion-like excess signal at b = 0 only: ignored when >= 2 b-values >= 200 exist
    dwi[..., 0] *= 1.3
    adc, info = fit_adc(dwi, bvals)
    assert info["bvalues_fitted"] == [500.0, 1000.0] and info["perfusion_suppressed"]
    assert np.nanmedian(adc[ph.tissue == phantom.codes.WM]) * 1e3 == pytest.approx(0.75, rel=0.03)
    with pytest.raises(DiagnosisInputError, match="at least 2 distinct b-values"):
        fit_adc(dwi, np.array([1000, 1000, 1000, 1000]))


def test_bval_parsing(tmp_path: Path) -> None:
    one_line = tmp_path / "a.bval"
    one_line.write_text("0 1000 1000\n")
    per_line = tmp_path / "b.bval"
    per_line.write_text("0\n1000\n1000\n")
    assert read_bvals(one_line, 3).tolist() == read_bvals(per_line, 3).tolist() == [0, 1000, 1000]
    bad = tmp_path / "bad.bval"
    bad.write_text("0 1000 abc\n")
    with pytest.raises(DiagnosisInputError, match=r"--bval: line 1: not a number: 'abc'"):
        read_bvals(bad)
    with pytest.raises(DiagnosisInputError, match="3 b-values for 4 volumes"):
        read_bvals(one_line, 4)
    neg = tmp_path / "neg.bval"
    neg.write_text("0 -5\n")
    with pytest.raises(DiagnosisInputError, match=">= 0"):
        read_bvals(neg)
    empty = tmp_path / "e.bval"
    empty.write_text("\n")
    with pytest.raises(DiagnosisInputError, match="empty"):
        read_bvals(empty)
    ragged = tmp_path / "r.bval"
    ragged.write_text("0 1000\n1000\n")
    with pytest.raises(DiagnosisInputError, match="one line of b-values"):
        read_bvals(ragged)
    with pytest.raises(DiagnosisInputError, match="no such file"):
        read_bvals(tmp_path / "missing.bval")


def test_bvec_parsing(tmp_path: Path) -> None:
    f = tmp_path / "a.bvec"
    f.write_text("0 1 0\n0 0 1\n0 0 0\n")
    vec = read_bvecs(f, 3, np.array([0, 1000, 1000]))
    assert vec.shape == (3, 3) and vec[1].tolist() == [1, 0, 0]
    g = tmp_path / "b.bvec"
    g.write_text("0 0 0\n1 0 0\n0 1 0\n0 0 1\n")  # N x 3 accepted
    assert read_bvecs(g, 4).shape == (4, 3)
    with pytest.raises(DiagnosisInputError, match="3 rows x 5 columns"):
        read_bvecs(f, 5)
    h = tmp_path / "c.bvec"
    h.write_text("0 2 0\n0 0 1\n0 0 0\n")
    with pytest.raises(DiagnosisInputError, match="volume 1 has a gradient vector of length 2"):
        read_bvecs(h, 3, np.array([0, 1000, 1000]))
    k = tmp_path / "d.bvec"
    k.write_text("0 1 0\n0 0\n0 0 0\n")
    with pytest.raises(DiagnosisInputError, match="different lengths"):
        read_bvecs(k, 3)


# ----------------------------------------------------------------------------- DICOM


def _csa2(tags: dict[str, tuple[str, str]]) -> bytes:
    """A minimal Siemens CSA2 ("SV10") header with one item per tag."""
    import struct

    out = b"SV10" + b"\x04\x03\x02\x01" + struct.pack("<2I", len(tags), 77)
    for name, (vr, value) in tags.items():
        data = value.encode() + b"\0"
        out += struct.pack("<64si4s3i", name.encode(), 1, vr.encode(), 0, 1, 77)
        out += struct.pack("<4i", len(data), len(data), 77, len(data)) + data
        out += b"\0" * (-len(data) % 4)
    return out


def _write_dicom_series(folder: Path, vendor: str, phantom) -> object:
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ph = phantom.make()
    sl = slice(2, 7)
    tissue = ph.tissue[:, :, sl]
    bvals = [0, 1000, 1000, 1000]
    dirs = [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)]
    dwi, _ = phantom.dwi(ph, bvals, sigma=4.0)
    dwi = dwi[:, :, sl]
    series = generate_uid()
    folder.mkdir()
    inst = 0
    manufacturer = {"standard": "Acme", "ge": "GE MEDICAL SYSTEMS", "siemens": "SIEMENS",
                    "siemens_csa": "SIEMENS",
                    "philips": "Philips Medical Systems", "canon": "Canon Medical Systems",
                    "none": "Unknown Co"}[vendor]
    images = [(v, bvals[v], dirs[v], False) for v in range(4)]
    if vendor == "philips":
        images.append((1, 1000, (0, 0, 0), True))  # derived isotropic image: must be excluded
    for v, b, d, derived in images:
        for z in range(dwi.shape[2]):
            inst += 1
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
            meta.MediaStorageSOPInstanceUID = generate_uid()
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds = FileDataset(str(folder / f"im{inst:04d}.dcm"), {}, file_meta=meta,
                             preamble=b"\0" * 128)
            ds.SOPClassUID = meta.MediaStorageSOPClassUID
            ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
            ds.Modality = "MR"
            ds.Manufacturer = manufacturer
            ds.SeriesInstanceUID = series
            ds.InstanceNumber = inst
            ds.ImageType = ["DERIVED", "PRIMARY", "DIFFUSION", "ISOTROPIC"] if derived else \
                ["ORIGINAL", "PRIMARY", "DIFFUSION", "NONE"]
            ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
            ds.ImagePositionPatient = [0.0, 0.0, 2.0 * z]
            ds.PixelSpacing = [2.0, 2.0]
            ds.SliceThickness = 2.0
            ds.Rows, ds.Columns = dwi.shape[1], dwi.shape[0]
            ds.SamplesPerPixel = 1
            ds.PhotometricInterpretation = "MONOCHROME2"
            ds.BitsAllocated = ds.BitsStored = 16
            ds.HighBit = 15
            ds.PixelRepresentation = 0
            ds.RescaleSlope, ds.RescaleIntercept = 0.5, 0
            pix = np.clip(np.rint(dwi[:, :, z, v] * 2), 0, 65535).astype(np.uint16)
            ds.PixelData = np.ascontiguousarray(pix.T).tobytes()
            if vendor == "standard" or (vendor == "canon" and b > 0):
                ds.add_new((0x0018, 0x9087), "FD", float(b))
                ds.add_new((0x0018, 0x9089), "FD", [float(x) for x in d])
            elif vendor == "ge":
                ds.add_new((0x0043, 0x0010), "LO", "GEMS_PARM_01")
                ds.add_new((0x0043, 0x1039), "IS", [1_000_000_000 + b, 8, 0, 0])
                ds.add_new((0x0019, 0x0010), "LO", "GEMS_ACQU_01")
                for e, x in zip((0x10BB, 0x10BC, 0x10BD), d, strict=True):
                    ds.add_new((0x0019, e), "DS", float(x))
            elif vendor == "siemens_csa":
                ds.add_new((0x0029, 0x0010), "LO", "SIEMENS CSA HEADER")
                ds.add_new((0x0029, 0x1010), "OB", _csa2({"B_value": ("IS", str(b))}))
            elif vendor == "siemens":
                ds.add_new((0x0019, 0x0010), "LO", "SIEMENS MR HEADER")
                ds.add_new((0x0019, 0x100C), "IS", b)
                ds.add_new((0x0019, 0x100E), "FD", [float(x) for x in d])
            elif vendor == "philips":
                ds.add_new((0x2001, 0x0010), "LO", "Philips Imaging DD 001")
                ds.add_new((0x2001, 0x1003), "FL", float(b))
                ds.add_new((0x2005, 0x0010), "LO", "Philips MR Imaging DD 001")
                for e, x in zip((0x10B0, 0x10B1, 0x10B2), d, strict=True):
                    ds.add_new((0x2005, e), "FL", float(x))
                if derived:
                    ds.add_new((0x0018, 0x9075), "CS", "ISOTROPIC")
            pydicom.dcmwrite(str(folder / f"im{inst:04d}.dcm"), ds, enforce_file_format=True)
    return tissue


@pytest.mark.parametrize("vendor", ["standard", "ge", "siemens", "siemens_csa", "philips", "canon"])
def test_dicom_dwi_series_per_vendor(tmp_path: Path, phantom, vendor: str) -> None:
    tissue = _write_dicom_series(tmp_path / "dwi", vendor, phantom)
    summary = run_adc(tmp_path / "dwi", None, None, tmp_path / "out")
    assert summary["fit"]["bvalues_fitted"] == [0.0, 1000.0]
    assert summary["shape"][3] == 4  # the derived Philips image is not a volume
    expected = {"standard": "(0018,9087)", "ge": "GE, mod 1e9", "siemens": "(0019,100C)",
                "siemens_csa": "CSA", "philips": "(2001,1003)", "canon": "Canon/Toshiba"}[vendor]
    assert any(expected in t for t in summary["bvalue_tags"]), summary["bvalue_tags"]
    if vendor == "philips":
        assert summary["excluded_derived_images"] == 5
    img = nib.load(str(tmp_path / "out" / "adc.nii.gz"))
    adc = img.get_fdata()
    assert adc.shape == tissue.shape
    wm = tissue == phantom.codes.WM
    assert np.median(adc[wm]) == pytest.approx(0.75, rel=0.03)
    # LPS (DICOM) -> RAS: the x and y axes flip sign
    assert img.affine[0, 0] == pytest.approx(-2.0) and img.affine[1, 1] == pytest.approx(-2.0)


def test_dicom_without_bvalue_tag_is_a_clear_error(tmp_path: Path, phantom) -> None:
    _write_dicom_series(tmp_path / "dwi", "none", phantom)
    with pytest.raises(DiagnosisInputError, match="no b-value found"):
        run_adc(tmp_path / "dwi", None, None, tmp_path / "out")
    assert not (tmp_path / "out" / "adc.nii.gz").exists()


# ----------------------------------------------------------------------------- CLI


def test_cli_adc_and_errors(tmp_path: Path, phantom) -> None:
    f, bv, les, _ = _write_case(tmp_path, phantom, [0, 1000])
    out = tmp_path / "out"
    res = runner.invoke(app, ["adc", str(f), "--bval", str(bv), "--out", str(out),
                              "--lesions", str(les)])
    assert res.exit_code == 0, res.output
    assert (out / "adc.nii.gz").exists() and (out / "adc.json").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".tmp-")]
    bad = tmp_path / "bad.bval"
    bad.write_text("0 1000 2000\n")
    res = runner.invoke(app, ["adc", str(f), "--bval", str(bad), "--out", str(tmp_path / "o2")])
    assert res.exit_code == 2 and "--bval: 3 b-values for 2 volumes" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "o2" / "adc.nii.gz").exists()
    res = runner.invoke(app, ["adc", str(f), "--out", str(tmp_path / "o3")])
    assert res.exit_code == 2 and "--bval: required" in res.output
    res = runner.invoke(app, ["adc", str(tmp_path / "nope.nii.gz"), "--bval", str(bv),
                              "--out", str(tmp_path / "o4")])
    assert res.exit_code == 2 and "DWI: no such file" in res.output


def test_lesion_map_on_another_grid_is_resampled(tmp_path: Path, phantom) -> None:
    f, bv, _, (ph, _) = _write_case(tmp_path, phantom, [0, 1000])
    # the same labels on a 1 mm grid covering the same space
    fine = np.repeat(np.repeat(np.repeat(ph.labels, 2, 0), 2, 1), 2, 2)
    aff = ph.affine.copy()
    aff[:3, :3] /= 2
    aff[:3, 3] -= 0.5
    les = phantom.save(tmp_path / "fine.nii.gz", fine, aff)
    s = run_adc(f, bv, None, tmp_path / "out", les)
    assert any("resampled" in w for w in s["warnings"])
    assert s["lesions"][0]["cavity_core"]["median"] == pytest.approx(2.4, rel=0.05)


def test_multiframe_dicom_is_a_clear_error(tmp_path: Path, phantom) -> None:
    import pydicom

    _write_dicom_series(tmp_path / "dwi", "standard", phantom)
    first = sorted((tmp_path / "dwi").iterdir())[0]
    ds = pydicom.dcmread(str(first))
    ds.NumberOfFrames = 2
    ds.save_as(str(first))
    with pytest.raises(DiagnosisInputError, match="enhanced multi-frame DICOM"):
        run_adc(tmp_path / "dwi", None, None, tmp_path / "out")


def test_user_nawm_mask_and_bad_labels(tmp_path: Path, phantom) -> None:
    f, bv, les, (ph, _) = _write_case(tmp_path, phantom, [0, 1000])
    gm = phantom.save(tmp_path / "gm.nii.gz", ph.tissue == phantom.codes.GM, ph.affine)
    res = runner.invoke(app, ["adc", str(f), "--bval", str(bv), "--out", str(tmp_path / "o"),
                              "--nawm-mask", str(gm)])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "o" / "adc.json").read_text())
    assert doc["nawm"]["median_adc"] == pytest.approx(0.85, rel=0.03)
    assert doc["nawm"]["method"].startswith("user mask")
    bad = phantom.save(tmp_path / "neg.nii.gz", -ph.labels, ph.affine)
    res = runner.invoke(app, ["adc", str(f), "--bval", str(bv), "--out", str(tmp_path / "p"),
                              "--lesions", str(bad)])
    assert res.exit_code == 2 and "--lesions: label values" in res.output
