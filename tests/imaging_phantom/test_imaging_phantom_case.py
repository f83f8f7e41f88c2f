"""Phantom generator: determinism, label map vs truth.json, world coordinates through the affine."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np


def _load(path):
    img = nib.load(str(path))
    return np.asarray(img.dataobj), img.affine


def test_files_and_truth_fields(small_case):
    out, truth = small_case
    for name in ("t1c.nii.gz", "truth.nii.gz", "truth.json"):
        assert (out / name).is_file()
    assert json.loads((out / "truth.json").read_text()) == json.loads(json.dumps(truth))
    assert len(truth["lesions"]) == 5
    kinds = {c["kind"] for c in truth["confounders"]}
    assert {"cortical_vessel", "dural_sinus", "choroid_plexus", "dura"} <= kinds
    for les in truth["lesions"]:
        assert les["location"] in {"supratentorial", "cerebellum", "brainstem"}
        assert les["pattern"] in {"solid", "ring"}
        assert les["longest_axial_diameter_mm"] >= les["perpendicular_diameter_mm"] > 0
        assert les["max_diameter_mm"] >= les["longest_axial_diameter_mm"] - 0.5
        assert les["size_bin"] in {"<3", "3-5", "5-10", ">=10"}


def test_image_grid_matches_truth(small_case):
    out, truth = small_case
    img, aff = _load(out / "t1c.nii.gz")
    lab, laff = _load(out / "truth.nii.gz")
    assert img.shape == lab.shape == tuple(truth["shape"])
    np.testing.assert_allclose(aff, laff, atol=1e-5)
    np.testing.assert_allclose(aff, np.array(truth["affine"]), atol=1e-4)
    vs = np.sqrt((aff[:3, :3] ** 2).sum(0))
    np.testing.assert_allclose(vs, [3.0, 3.0, 4.0], atol=1e-5)
    assert np.isfinite(img).all() and float(img.std()) > 0


def test_label_map_matches_truth_volumes(small_case):
    out, truth = small_case
    lab, aff = _load(out / "truth.nii.gz")
    vox_ml = abs(np.linalg.det(aff[:3, :3])) / 1000
    assert set(np.unique(lab)) - {0} == {les["id"] for les in truth["lesions"]}
    for les in truth["lesions"]:
        n = int((lab == les["id"]).sum())
        assert n == les["voxels"] > 0
        assert abs(n * vox_ml - les["volume_ml"]) < 1e-5
        # the label map approximates the continuous shape (loose for small lesions)
        if les["equivalent_diameter_mm"] >= 12:
            assert abs(les["volume_ml"] / les["true_volume_ml"] - 1) < 0.35


def test_centroids_through_affine(small_case):
    out, truth = small_case
    lab, aff = _load(out / "truth.nii.gz")
    vox_diag = float(np.sqrt((np.sqrt((aff[:3, :3] ** 2).sum(0)) ** 2).sum()))
    for les in truth["lesions"]:
        ijk = np.argwhere(lab == les["id"]).mean(0)
        world = aff[:3, :3] @ ijk + aff[:3, 3]
        np.testing.assert_allclose(world, les["centroid_mm"], atol=1e-2)
        assert np.linalg.norm(world - np.array(les["true_centroid_mm"])) < vox_diag
        # the pose stored in truth.json maps the lesion's MNI centre near its world centroid
        pose = np.array(truth["acquisition"]["world_from_mni"])
        w2 = pose[:3, :3] @ np.array(les["centre_mni_mm"]) + pose[:3, 3]
        assert np.linalg.norm(w2 - np.array(les["true_centroid_mm"])) < les["max_diameter_mm"]


def test_canonical_reorientation_keeps_world_positions(small_case):
    out, truth = small_case
    img = nib.as_closest_canonical(nib.load(str(out / "truth.nii.gz")))
    lab = np.asarray(img.dataobj)
    for les in truth["lesions"]:
        ijk = np.argwhere(lab == les["id"]).mean(0)
        world = img.affine[:3, :3] @ ijk + img.affine[:3, 3]
        np.testing.assert_allclose(world, les["centroid_mm"], atol=1e-2)


def test_lesions_are_bright(small_case):
    out, truth = small_case
    img, _ = _load(out / "t1c.nii.gz")
    lab, _ = _load(out / "truth.nii.gz")
    img = img.astype(float)
    brain_ref = np.percentile(img[img > np.percentile(img, 60)], 50)
    big = [les for les in truth["lesions"] if les["voxels"] >= 8 and les["pattern"] == "solid"]
    for les in big:
        assert img[lab == les["id"]].mean() > 0.9 * brain_ref


def test_determinism(tmp_path, small_case):
    from brainmets.imaging.phantom import make_case

    out, truth = small_case
    again = make_case(11, tmp_path / "again", voxel_mm=(3.0, 3.0, 4.0), n_lesions=5)
    assert json.dumps(again) == json.dumps(truth)
    a, _ = _load(out / "t1c.nii.gz")
    b, _ = _load(tmp_path / "again" / "t1c.nii.gz")
    assert np.array_equal(a, b)
    other = make_case(12, tmp_path / "other", voxel_mm=(3.0, 3.0, 4.0), n_lesions=5)
    assert other["lesions"][0]["centroid_mm"] != truth["lesions"][0]["centroid_mm"]


def test_skull_stripped_grid(tmp_path):
    from brainmets.imaging.phantom import make_case

    truth = make_case(3, tmp_path / "ss", voxel_mm=(3.0, 3.0, 3.0), full_head=False, n_lesions=2)
    assert truth["shape"] == [80, 80, 52]
    img, _ = _load(tmp_path / "ss" / "t1c.nii.gz")
    assert (img == 0).mean() > 0.4  # background outside the brain is exactly zero
