"""The overlay's outlines sit on the lesions they outline (radiological left-right flip)."""

from __future__ import annotations

import numpy as np
from matplotlib import image as mpimg

from brainmets.imaging.export import write_overlay


def test_outline_on_lesion(tmp_path):
    img = np.random.default_rng(0).uniform(50, 150, (60, 50, 20)).astype(np.float32)
    lab = np.zeros(img.shape, np.int32)
    zz, yy, xx = np.meshgrid(np.arange(60), np.arange(50), np.arange(20), indexing="ij")
    blob = (zz - 42) ** 2 + (yy - 25) ** 2 + (xx - 10) ** 2 <= 16  # off-centre in x
    img[blob] = 400.0
    lab[blob] = 1
    aff = np.diag([1.0, 1.0, 2.0, 1.0])
    les = [{"id": 1, "centroid_mm": [42.0, 25.0, 20.0], "longest_axial_diameter_mm": 9.0,
            "perpendicular_diameter_mm": 9.0, "volume_ml": 0.3, "max_diameter_mm": 9.0,
            "location": "supratentorial", "confidence": 0.9}]
    out = tmp_path / "o.png"
    write_overlay(out, img, lab, aff, les)
    png = mpimg.imread(str(out))[..., :3]
    red = (png[..., 0] > 0.8) & (png[..., 1] < 0.3) & (png[..., 2] < 0.3)
    ry, rx = np.nonzero(red)
    assert rx.size
    cy, cx = int(round(ry.mean())), int(round(rx.mean()))
    # inside the outline is the bright lesion (a mirrored outline would enclose dark noise)
    assert png[cy - 2 : cy + 3, cx - 2 : cx + 3].min() > 0.9
