"""Detector behaviour on synthetic heads, the --patient merge, and one small phantom."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from typer.testing import CliRunner

from brainmets.cli import app
from brainmets.imaging.detect import ClassicalDetector, Detector
from brainmets.imaging.detect_model import parse_metadata, runtime_for
from brainmets.imaging.volume import ImagingInputError

RING = (16, 12, 0, 9.0, 1.7, "ring")
SOLID = (-20, -12, 12, 6.0, 1.7, "solid")
TUBE = ((-30, 28, -14), (30, 34, -14), 1.0, 1.8)


def _run(tmp_path, make_head, patient=None, **kw):
    img, aff = make_head(lesions=(RING, SOLID), tubes=(TUBE,), sheet=True, **kw)
    p = tmp_path / "t1c.nii.gz"
    nib.save(nib.Nifti1Image(img, aff), str(p))
    args = ["scan", str(p), "--out", str(tmp_path / "out")]
    if patient is not None:
        (tmp_path / "p.json").write_text(json.dumps(patient))
        args += ["--patient", str(tmp_path / "p.json")]
    return CliRunner().invoke(app, args)


def test_ring_solid_and_confounders(tmp_path, make_head):
    res = _run(tmp_path, make_head)
    assert res.exit_code == 0, res.output
    out = json.loads((tmp_path / "out" / "lesions.json").read_text())
    assert out["count"] == 2, out["lesions"]
    by_x = sorted(out["lesions"], key=lambda le: le["centroid_mm"][0])
    solid, ring = by_x
    assert ring["enhancement"] == "ring" and solid["enhancement"] == "solid"
    np.testing.assert_allclose(ring["centroid_mm"], RING[:3], atol=1.5)
    np.testing.assert_allclose(solid["centroid_mm"], SOLID[:3], atol=1.5)
    # the ring lesion's necrotic core belongs to the lesion (volume of the full sphere)
    assert ring["volume_ml"] == pytest.approx(4 / 3 * np.pi * 9.0**3 / 1000, rel=0.25)
    assert ring["longest_axial_diameter_mm"] == pytest.approx(18.0, abs=3.0)
    for le in out["lesions"]:
        assert 0.0 <= le["confidence"] <= 1.0
        assert le["location"] == "supratentorial"
    rej = out["rejected_candidates"]
    # the tube was rejected as a vessel and the sheet as dura / sinus (detect.py step 5)
    assert rej.get("vessel", 0) >= 1 and rej.get("dura_sinus", 0) >= 1, rej
    labels = nib.load(str(tmp_path / "out" / "lesions.nii.gz"))
    assert set(np.unique(np.asarray(labels.dataobj)).tolist()) == {0, 1, 2}
    assert (tmp_path / "out" / "overlay.png").stat().st_size > 10_000
    assert not (tmp_path / "out" / "seg.dcm").exists()


def test_patient_merge(tmp_path, make_head):
    patient = {"age": 60, "kps": 80, "primary": {"site": "nsclc"},
               "brain_metastases": {"leptomeningeal": False}}
    res = _run(tmp_path, make_head, patient=patient, skull=False)
    assert res.exit_code == 0, res.output
    merged = json.loads((tmp_path / "out" / "patient.json").read_text())
    bm = merged["brain_metastases"]
    assert bm["count"] == 2 and bm["leptomeningeal"] is False
    assert {le["enhancement"] for le in bm["lesions"]} == {"ring", "solid"}
    for le in bm["lesions"]:
        assert set(le) >= {"diameter_mm", "volume_ml", "location", "max_diameter_mm",
                           "perpendicular_diameter_mm", "centroid_mm"}
    from brainmets.model import parse_patient

    parse_patient(merged)


def test_bad_patient_exits_2_and_writes_nothing(tmp_path, make_head):
    res = _run(tmp_path, make_head, patient={"age": 60, "kps": 85})
    assert res.exit_code == 2
    assert "kps" in res.output
    assert not (tmp_path / "out").exists()


def test_detector_protocol_and_model_metadata(tmp_path):
    assert isinstance(ClassicalDetector(), Detector)
    meta = parse_metadata({
        "name": "m", "version": "1",
        "network_data_format": {"inputs": {"image": {"num_channels": 1,
                                                     "spatial_shape": [64, 64, 64]}},
                                "outputs": {"pred": {"num_channels": 2}}},
        "brainmets": {"spacing_mm": [1, 1, 1], "threshold": 0.4},
    })
    assert meta.patch == (64, 64, 64) and meta.lesion_channel == 1 and meta.threshold == 0.4
    with pytest.raises(ImagingInputError, match="num_channels"):
        parse_metadata({"network_data_format": {"inputs": {"i": {"num_channels": 4}},
                                                "outputs": {"o": {}}}})
    with pytest.raises(ImagingInputError, match="network_data_format"):
        parse_metadata({"name": "x"})
    import importlib.util

    if importlib.util.find_spec("onnxruntime") is None:
        with pytest.raises(ImagingInputError, match="onnxruntime"):
            runtime_for(tmp_path / "model.onnx")


@pytest.mark.slow
def test_small_phantom_large_lesions_found(tmp_path):
    """One 2-mm phantom from the project's generator: solid lesions >= 5 mm and the 34 mm
    low-enhancement ring lesion (a whole object since issue #16) are found."""
    from brainmets.imaging.pipeline import scan

    gen = CliRunner().invoke(app, ["phantom", str(tmp_path / "ph"), "--cases", "1", "--seed",
                                   "3", "--voxel", "2,2,2", "--lesions", "4"])
    assert gen.exit_code == 0, gen.output
    case = next((tmp_path / "ph").glob("case_*"))
    truth = json.loads((case / "truth.json").read_text())
    res = scan(case / "t1c.nii.gz", tmp_path / "out", overlay=False)
    pred = np.array([le["centroid_mm"] for le in res["lesions"]]).reshape(-1, 3)
    big = [t for t in truth["lesions"]
           if t["equivalent_diameter_mm"] >= 5 and t["pattern"] == "solid"]
    assert big
    for t in big:
        d = np.linalg.norm(pred - np.array(t["centroid_mm"]), axis=1)
        assert d.size and d.min() < 5.0, (t, res["lesions"])
    ring = [t for t in truth["lesions"] if t["pattern"] == "ring"]
    for t in ring:
        assert np.linalg.norm(pred - np.array(t["centroid_mm"]), axis=1).min() < 10.0
    # 2-mm voxels: single-voxel vessel cross-sections still pass as blobs (issue #16 goal is at
    # 1 mm, see test_fixed_seed_false_positives)
    assert res["count"] <= len(truth["lesions"]) + 8


@pytest.mark.slow
@pytest.mark.parametrize("seed, full_head", [(107, True), (108, False)])
def test_fixed_seed_false_positives(tmp_path, seed, full_head):
    """1-mm phantoms on seeds used neither to choose the operating point (101-106) nor by the
    benchmark (9001-9010): every lesion >= 5 mm found, at most 1 false positive per scan
    (issue #16 goal: >= 0.90 for >= 5 mm at <= 1.0 false positive per scan)."""
    from brainmets.imaging.metrics import load_case
    from brainmets.imaging.phantom import make_case
    from brainmets.imaging.pipeline import scan

    case = tmp_path / f"case_{seed}"
    make_case(seed, case, voxel_mm=(1.0, 1.0, 1.0), full_head=full_head, confounder_map=True)
    scan(case / "t1c.nii.gz", tmp_path / "out", overlay=False)
    ev = load_case(tmp_path / "out" / "lesions.nii.gz", case)
    assert len(ev["false_positives"]) <= 1, ev["false_positives"]
    big = [le for le in ev["lesions"] if le["equivalent_diameter_mm"] >= 5.0]
    assert big and all(le["detected"] for le in big), ev["lesions"]
