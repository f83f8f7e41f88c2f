"""Regression on real clinical T1c scans (../shared/real-scans, see its README): the expert /
fusion reference is the independent truth (issue #16 "Done when": lesion-wise detection, at most
2 false positives per labelled scan, never 0 lesions on a scan with visible enhancing masses).

Skipped, with the reason, only when the development folder is absent (it is not part of the
repository: research licence). One scan takes 10-30 s, hence ``slow``.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage as ndi

from brainmets.imaging.metrics import components
from brainmets.imaging.pipeline import scan

ROOT = Path(__file__).resolve().parents[3] / "shared" / "real-scans"
MAX_FP = 2  # issue #16: <= 2 false positives per labelled scan

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not ROOT.is_dir(), reason=f"real-scan development set not found at {ROOT} "
                       "(kept out of the repository: research licence)"),
]

GRID_CASES = [
    ("brats13-pat0001", "T1c_subtrMeanDivStd.nii.gz", "OTMultiClass.nii.gz", (1, 3, 4)),
    ("brats13-pat0002", "T1c_subtrMeanDivStd.nii.gz", "OTMultiClass.nii.gz", (1, 3, 4)),
    ("brats13-pat0003", "T1c_subtrMeanDivStd.nii.gz", "OTMultiClass.nii.gz", (1, 3, 4)),
    ("brats13-pat0004", "T1c_subtrMeanDivStd.nii.gz", "OTMultiClass.nii.gz", (1, 3, 4)),
    ("tcga-fg-6692", "t1c_brain_atlas.nii.gz", "model_fusion_seg_on_atlas.nii.gz", (1, 4)),
]


@pytest.mark.parametrize("case, image, ref, core", GRID_CASES, ids=[c[0] for c in GRID_CASES])
def test_real_scan_tumour_found(tmp_path, case, image, ref, core):
    res = scan(ROOT / case / image, tmp_path / "out", overlay=False)
    assert res["count"] >= 1, (res["findings"], res["rejected_candidates"])
    pred = np.asarray(nib.load(str(tmp_path / "out" / "lesions.nii.gz")).dataobj) > 0
    truth = np.asarray(nib.load(str(ROOT / case / ref)).dataobj)
    st = ndi.generate_binary_structure(3, 2)
    core_m = ndi.binary_dilation(np.isin(truth, core), st)
    whole = ndi.binary_dilation(truth > 0, st)
    assert (pred & core_m).any(), "the reference tumour core is not touched by any lesion"
    lab, n = components(pred)
    fp = sum(1 for k in range(1, n + 1) if not whole[lab == k].any())
    assert fp <= MAX_FP, res["lesions"]


def test_real_full_head_thick_slices(tmp_path):
    """TCGA native scan: full head, 5.5 mm slices. The right frontal enhancing tumour is
    reported; the right-trigone choroid plexus is not (README: known false-positive trap)."""
    res = scan(ROOT / "tcga-fg-6692" / "t1c_native.nii.gz", tmp_path / "out", overlay=False)
    assert not res["skull_stripped_input"]
    assert res["count"] >= 1
    assert res["count"] <= 1 + MAX_FP, res["lesions"]
    # world RAS of this scan: right = +x, anterior = +y, the tumour lies above the ventricles
    tumour = [le for le in res["lesions"] if le["centroid_mm"][0] > 15 and le["centroid_mm"][1] > 20
              and le["centroid_mm"][2] > 30]
    assert tumour, res["lesions"]
    trigone = [le for le in res["lesions"] if le["centroid_mm"][1] < 0
               and abs(le["centroid_mm"][2] - 17) < 10]
    assert not trigone, trigone
