"""Arbitrary units: scaled, offset and z-scored versions of one scan give the same lesions."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from brainmets.imaging.pipeline import scan

LESIONS = ((16, 12, 0, 8.0, 1.7, "solid"), (-20, -12, 12, 6.0, 1.7, "solid"))


@pytest.mark.parametrize("kind", ["scaled", "zscore", "negative_offset"])
def test_units_do_not_change_lesions(tmp_path, make_head, kind):
    img, aff = make_head(lesions=LESIONS, skull=False)
    brain = img > 0.2 * img.max()
    if kind == "scaled":
        other = img * 1000.0 + 7.0
    elif kind == "zscore":  # research pipelines: z-score inside the brain, background 0
        other = np.where(brain, (img - img[brain].mean()) / img[brain].std(), 0.0)
    else:
        other = img - 3.0 * img.max()
    results = []
    for name, arr in (("raw", img), (kind, other)):
        p = tmp_path / f"{name}.nii.gz"
        nib.save(nib.Nifti1Image(arr.astype(np.float32), aff), str(p))
        results.append(scan(p, tmp_path / f"out_{name}", overlay=False))
    raw, alt = results
    assert raw["count"] == 2
    assert alt["count"] == raw["count"], alt["lesions"]
    for a, b in zip(sorted(raw["lesions"], key=lambda x: x["centroid_mm"]),
                    sorted(alt["lesions"], key=lambda x: x["centroid_mm"]), strict=True):
        np.testing.assert_allclose(a["centroid_mm"], b["centroid_mm"], atol=1.0)
        assert b["volume_ml"] == pytest.approx(a["volume_ml"], rel=0.1)
