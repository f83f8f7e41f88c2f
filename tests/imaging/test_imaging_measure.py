"""Measurements against analytic shapes and invariance to the voxel grid's orientation."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from brainmets.imaging import measure as ms
from brainmets.imaging.pipeline import scan


def _ellipsoid(shape, spacing, semi, centre=(0, 0, 0)):
    sp = np.asarray(spacing, float)
    c = (np.asarray(shape) - 1) / 2.0
    idx = np.indices(shape).astype(float)
    X = [(idx[a] - c[a]) * sp[a] - centre[a] for a in range(3)]
    m = sum((X[a] / semi[a]) ** 2 for a in range(3)) <= 1
    aff = np.diag([*sp, 1.0])
    aff[:3, 3] = -c * sp
    return m, aff


@pytest.mark.parametrize("spacing", [(0.5, 0.5, 0.5), (0.5, 0.5, 1.0)])
def test_sphere_and_ellipsoid_diameters(spacing):
    semi = (10.0, 6.0, 4.0)  # x, y, z semi-axes (mm)
    m, aff = _ellipsoid((56, 40, 30), spacing, semi)
    ijk = np.argwhere(m).astype(float)
    lad, perp, dmax = ms.diameters(ijk, aff)
    assert lad == pytest.approx(20.0, abs=2 * spacing[0])
    assert perp == pytest.approx(12.0, abs=2 * spacing[0])
    assert dmax == pytest.approx(20.0, abs=2 * spacing[0])
    vol_ml = m.sum() * np.prod(spacing) / 1000
    assert vol_ml == pytest.approx(4 / 3 * np.pi * np.prod(semi) / 1000, rel=0.05)
    # a tall ellipsoid: the 3-D diameter exceeds the axial one
    m2, aff2 = _ellipsoid((30, 30, 60), spacing, (5.0, 5.0, 12.0))
    lad2, perp2, dmax2 = ms.diameters(np.argwhere(m2).astype(float), aff2)
    assert lad2 == pytest.approx(10.0, abs=2 * spacing[0])
    assert perp2 == pytest.approx(10.0, abs=2 * spacing[0])
    assert dmax2 == pytest.approx(24.0, abs=2 * spacing[2])


def test_relabel_26_connectivity_orders_by_volume():
    lab = np.zeros((10, 10, 10), np.int32)
    lab[1, 1, 1] = 1
    lab[2, 2, 2] = 7  # diagonal neighbour: same 26-connected lesion
    lab[6:9, 6:9, 6:9] = 3
    out, counts = ms.relabel(lab, 0.001)
    assert counts == [27, 2]
    assert out[7, 7, 7] == 1 and out[1, 1, 1] == out[2, 2, 2] == 2


def test_location_frame_regions():
    m, aff = _ellipsoid((72, 90, 76), (2, 2, 2), (70.0, 88.0, 74.0))
    frame = ms.location_frame(m, aff)
    # pseudo-MNI of the mask's extremes reproduces the template's bounding box
    top = ms.to_pseudo_mni(np.array([0.0, 0.0, 74.0]), frame)
    assert top[2] == pytest.approx(82.0, abs=3)
    inv = np.linalg.inv

    def world(mni):
        # invert the linear pseudo-MNI mapping numerically
        a = np.stack([ms.to_pseudo_mni(e, frame) - ms.to_pseudo_mni(np.zeros(3), frame)
                      for e in np.eye(3)], axis=1)
        return inv(a) @ (np.asarray(mni, float) - ms.to_pseudo_mni(np.zeros(3), frame))

    assert ms.location(world([30, 10, 40]), frame) == "supratentorial"
    assert ms.location(world([25, -70, -35]), frame) == "cerebellum"
    assert ms.location(world([0, -28, -25]), frame) == "brainstem"


ORIENTS = [
    ("identity", lambda a: a, np.eye(4)),
    ("flip_x", None, None),
    ("permute_zyx", None, None),
    ("flip_yz_permute", lambda a: a[:, ::-1, ::-1].transpose(1, 0, 2), None),
]


def _reoriented(img, aff, name):
    """Same world image stored with another voxel order (affine adjusted)."""
    shape = np.array(img.shape)
    if name == "identity":
        return img, aff
    if name == "flip_x":
        f = np.eye(4)
        f[0, 0], f[0, 3] = -1, shape[0] - 1
        return img[::-1].copy(), aff @ f
    if name == "permute_zyx":
        p = np.eye(4)[[2, 1, 0, 3]]
        return img.transpose(2, 1, 0).copy(), aff @ p
    f = np.eye(4)
    f[1, 1], f[1, 3] = -1, shape[1] - 1
    f[2, 2], f[2, 3] = -1, shape[2] - 1
    p = np.eye(4)[[1, 0, 2, 3]]
    return img[:, ::-1, ::-1].transpose(1, 0, 2).copy(), aff @ f @ p


def test_orientation_invariance(tmp_path, make_head):
    img, aff = make_head(
        spacing=(2.0, 2.0, 2.0),
        lesions=((18, 8, 6, 7.0, 1.7, "solid"), (-24, -14, 12, 5.0, 1.7, "solid")),
    )
    results = []
    for name, _, _ in ORIENTS:
        a, f = _reoriented(img, aff, name)
        p = tmp_path / f"{name}.nii.gz"
        nib.save(nib.Nifti1Image(a, f), str(p))
        results.append(scan(p, tmp_path / f"out_{name}", overlay=False))
        lab = nib.load(str(tmp_path / f"out_{name}" / "lesions.nii.gz"))
        assert lab.shape == a.shape
        np.testing.assert_allclose(lab.affine, f, atol=1e-5)
    ref = results[0]
    assert ref["count"] == 2
    for r in results[1:]:
        assert r["count"] == ref["count"]
        for a, b in zip(r["lesions"], ref["lesions"], strict=True):
            np.testing.assert_allclose(a["centroid_mm"], b["centroid_mm"], atol=0.05)
            assert a["volume_ml"] == pytest.approx(b["volume_ml"], rel=1e-6)
            assert a["longest_axial_diameter_mm"] == pytest.approx(
                b["longest_axial_diameter_mm"], abs=0.05)
