"""Guards against normal tissue reported as a lesion: solidity, enhancement over local WM."""

from __future__ import annotations

import numpy as np

from brainmets.imaging.detect import MIN_SOLIDITY, _solidity


def test_solidity_of_ball_and_cross():
    idx = np.indices((41, 41, 41)) - 20
    ball = (idx**2).sum(0) <= 15**2
    assert _solidity(ball, 1.0) > 0.95
    cross = ((abs(idx[0]) <= 2) & (abs(idx[1]) <= 2)) | ((abs(idx[1]) <= 2) & (abs(idx[2]) <= 2)) \
        | ((abs(idx[0]) <= 2) & (abs(idx[2]) <= 2))
    assert _solidity(cross, 1.0) < MIN_SOLIDITY
    assert _solidity(ball[18:23, 18:23, 18:23], 1.0) is None  # below the size floor


def test_coarse_skull_stripped_phantom_has_no_white_matter_lesion(tmp_path):
    """Regression: on this 3 mm skull-stripped phantom a 96 ml region following frontal white
    matter was reported as a lesion before the solidity guard."""
    from brainmets.imaging.phantom import make_case
    from brainmets.imaging.pipeline import scan

    truth = make_case(3, tmp_path / "case", voxel_mm=(3.0, 3.0, 3.0), full_head=False,
                      n_lesions=2)
    out = scan(tmp_path / "case" / "t1c.nii.gz", tmp_path / "out", overlay=False)
    largest_truth = max(le["volume_ml"] for le in truth["lesions"])
    assert all(le["volume_ml"] < 10 * max(largest_truth, 0.1) for le in out["lesions"]), \
        out["lesions"]


def test_white_matter_brightened_by_bias_is_not_a_lesion(tmp_path):
    """Regression: on this 3 mm skull-stripped phantom a compact 37 ml piece of frontal white
    matter (no enhancement over the local white matter) was reported as a lesion."""
    import numpy as np

    from brainmets.imaging.phantom import make_case
    from brainmets.imaging.pipeline import scan

    truth = make_case(3, tmp_path / "case", voxel_mm=(3.0, 3.0, 3.0), full_head=False,
                      random_orientation=False, n_lesions=2, diameter_range=(12.0, 20.0))
    out = scan(tmp_path / "case" / "t1c.nii.gz", tmp_path / "out", overlay=False)
    assert all(le["volume_ml"] < 10 for le in out["lesions"]), out["lesions"]
    solid = next(le for le in truth["lesions"] if le["pattern"] == "solid")
    assert any(np.linalg.norm(np.subtract(le["centroid_mm"], solid["centroid_mm"])) < 5
               for le in out["lesions"])
