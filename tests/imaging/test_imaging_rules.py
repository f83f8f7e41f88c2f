"""Why each confounder is rejected (issue #16 item 7): unit tests of the per-candidate rules
(``_reject_reason``), of the whole-object rules (``detect_objects``) on hand-built masks, of the
scan-level findings (no silent zero), and detector runs that fail when a rule is removed.

Expected reasons follow the rule definitions in the module docstrings of
``brainmets.imaging.detect`` (step 5) and ``brainmets.imaging.detect_objects`` (step 3): a tube is
a vessel, a sheet on the surface is dura / sinus, a blob in CSF in the atrium is choroid plexus.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from brainmets.imaging import detect as dt
from brainmets.imaging import detect_objects as dob
from brainmets.imaging import findings as fnd
from brainmets.imaging.detect import ClassicalDetector
from brainmets.imaging.pipeline import scan

# a compact, clearly enhancing, deep candidate: accepted by every rule
GOOD = {"contrast": 0.6, "depth_mm": 30.0, "surface_fraction": 0.0, "n_vox": 200,
        "elongation": 1.2, "eig_ratio": 0.9, "csf_fraction": 0.0, "solidity": 0.9,
        "over_local_wm": 0.4}


@pytest.mark.parametrize("change, reason", [
    ({}, None),
    ({"contrast": 0.05}, "weak"),
    ({"depth_mm": 1.0}, "dura_sinus"),
    ({"surface_fraction": 0.6}, "dura_sinus"),
    ({"elongation": 3.0}, "vessel"),  # a tube: major axis 3x the minor
    ({"elongation": 1.8, "eig_ratio": 0.4}, "vessel_or_dura"),
    ({"eig_ratio": 0.1}, "vessel"),  # Hessian of a tube at the detection scale
    ({"csf_fraction": 0.6}, "choroid_plexus"),  # deep, surrounded by CSF
    ({"solidity": 0.3}, "irregular"),
    ({"over_local_wm": 0.0}, "not_enhancing"),
])
def test_reject_reason_per_feature(change, reason):
    assert ClassicalDetector()._reject_reason({**GOOD, **change}) == reason


def _ctx(shape=(80, 80, 80), ws=1.0):
    mw = np.zeros(shape, bool)
    mw[5:-5, 5:-5, 5:-5] = True
    from scipy import ndimage as ndi

    depth = ndi.distance_transform_edt(mw) * ws
    iw = np.where(mw, 0.95, 0.0).astype(np.float32)
    return {"iw": iw, "mw": mw, "depth": depth, "ws": ws, "aff_w": np.eye(4),
            "xmid": 1000.0, "frame": None, "plexus_zones": []}


def _judge(ctx, obj):
    ctx["iw"][obj] = 1.6
    sl = tuple(slice(0, s) for s in obj.shape)
    region, f = dob.object_features(ctx, sl, obj)
    return dob.object_reason(f, ctx), f, region


def _grid(shape):
    return np.indices(shape).astype(np.float32)


def test_object_tube_is_vessel():
    ctx = _ctx()
    z, y, x = _grid(ctx["mw"].shape)
    tube = ((z - 40) ** 2 + (y - 40) ** 2 <= 2.0**2) & (x > 20) & (x < 60)
    reason, f, _ = _judge(ctx, tube)
    assert f["elongation"] > dob.OBJ_MAX_ELONG
    assert reason == "vessel"


def test_object_surface_sheet_is_dura():
    ctx = _ctx()
    sheet = np.zeros(ctx["mw"].shape, bool)
    sheet[6:8, 20:60, 20:60] = True  # 2 mm thick, on the brain surface
    reason, _, _ = _judge(ctx, sheet)
    assert reason == "dura_sinus"


def test_object_open_ring_is_one_lesion_with_its_core():
    """A thick-walled ring lesion open on one side (30 % of real rims are) is one object with its
    dark core filled, accepted whole."""
    ctx = _ctx()
    z, y, x = _grid(ctx["mw"].shape)
    d = np.sqrt((z - 40) ** 2 + (y - 40) ** 2 + (x - 40) ** 2)
    ring = (d <= 10) & (d > 6) & ~((x > 46) & (np.abs(y - 40) < 3))  # a gap in the wall
    ctx["iw"][d <= 6] = 0.5  # necrotic core darker than white matter
    reason, f, region = _judge(ctx, ring)
    assert reason is None
    assert f["core_fraction"] >= dob.CORE_MIN_FRACTION
    # the reported region covers the core: close to the full sphere's volume
    assert region.sum() == pytest.approx(4 / 3 * np.pi * 10**3, rel=0.3)


def test_object_in_bright_surroundings_is_extracranial():
    ctx = _ctx()
    z, y, x = _grid(ctx["mw"].shape)
    d = np.sqrt((z - 40) ** 2 + (y - 40) ** 2 + (x - 40) ** 2)
    ctx["iw"][(d > 6) & (d <= 14)] = 1.3  # fat / marrow around it
    reason, _, _ = _judge(ctx, d <= 6)
    assert reason == "extracranial"


def test_object_web_is_split_and_judged_again():
    """A lesion with a vessel running into it: the whole group is a web, the split keeps the
    thick lesion and leaves the thin vessel."""
    ctx = _ctx(shape=(90, 90, 90))
    z, y, x = _grid(ctx["mw"].shape)
    ball = np.sqrt((z - 45) ** 2 + (y - 45) ** 2 + (x - 45) ** 2) <= 8
    vessel = ((z - 45) ** 2 + (y - 45) ** 2 <= 1.5**2) & (x > 45) & (x < 84)
    ctx["iw"][ball | vessel] = 1.6
    enh = dob.enhancement_mask(ctx["iw"], ctx["mw"], 0.02, 1.0)
    objs = dob.flatten(dob.find_objects(ctx, enh))
    accepted = [o for o in objs if o.reason is None]
    assert len(accepted) == 1
    c = np.array(accepted[0].features["centroid_w"])
    np.testing.assert_allclose(c, [45, 45, 45], atol=2.5)


def test_findings_when_nothing_reported():
    obj = dob.LesionObject(region=np.ones((2, 2, 2), bool), sl=(slice(0, 2),) * 3,
                           features={"volume_mm3": 5000.0, "centroid_world": [10.0, 20.0, 30.0]},
                           reason="irregular")
    out = fnd.scan_findings([obj], [], 0, None, 0.0, lambda c: 30.0)
    assert len(out) == 1
    assert out[0]["text"] == fnd.REVIEW_TEXT
    assert out[0]["volume_ml"] == pytest.approx(5.0)
    assert out[0]["side"] == "right" and out[0]["centroid_mm"] == [10.0, 20.0, 30.0]
    assert fnd.scan_findings([obj], [], 1, None, 0.0, lambda c: 30.0) == []
    small = dob.LesionObject(region=obj.region, sl=obj.sl, reason="irregular",
                             features={"volume_mm3": 100.0, "centroid_world": [0, 0, 0]})
    assert fnd.scan_findings([small], [], 0, None, 0.0, lambda c: 30.0) == []


def test_findings_cluster_of_rejected_pieces():
    rng = np.random.default_rng(0)
    pieces = [{"reason": "vessel", "stage": "blob", "volume_ml": 0.05,
               "centroid_mm": (np.array([30.0, 0.0, 10.0]) + rng.normal(0, 3, 3)).tolist()}
              for _ in range(fnd.CLUSTER_MIN_PIECES)]
    out = fnd.scan_findings([], pieces, 0, None, 0.0, lambda c: 30.0)
    assert [f["kind"] for f in out] == ["cluster_of_rejected_enhancement"]
    np.testing.assert_allclose(out[0]["centroid_mm"], [30, 0, 10], atol=4)
    # at the surface the same pieces are dura / vessels: no finding
    assert fnd.scan_findings([], pieces, 0, None, 0.0, lambda c: 2.0) == []


TUBES = (((-30, 28, -14), (30, 34, -14), 1.0, 1.8), ((-10, -30, 20), (25, 20, 20), 1.2, 1.8))


def _scan_head(tmp_path, make_head, name="t1c", **kw):
    img, aff = make_head(**kw)
    p = tmp_path / f"{name}.nii.gz"
    nib.save(nib.Nifti1Image(img, aff), str(p))
    return scan(p, tmp_path / f"out_{name}", overlay=False)


def test_tubes_only_are_vessels_and_not_lesions(tmp_path, make_head):
    res = _scan_head(tmp_path, make_head, tubes=TUBES)
    assert res["count"] == 0, res["lesions"]
    assert res["rejected_candidates"].get("vessel", 0) >= 2


def test_vessel_rules_matter(tmp_path, make_head, monkeypatch):
    """Fails when the vessel rules are removed: the same tubes become lesions."""
    monkeypatch.setattr(dt, "MAX_ELONGATION", 1e9)
    monkeypatch.setattr(dt, "SHEET_ELONGATION", 1e9)
    monkeypatch.setattr(dt, "MIN_EIG_RATIO", -1.0)
    monkeypatch.setattr(dob, "OBJ_MAX_ELONG", 1e9)
    res = _scan_head(tmp_path, make_head, tubes=TUBES)
    assert res["count"] >= 1


def test_sheet_is_dura_and_not_a_lesion(tmp_path, make_head):
    res = _scan_head(tmp_path, make_head, sheet=True)
    assert res["count"] == 0, res["lesions"]
    assert res["rejected_candidates"].get("dura_sinus", 0) >= 1


def test_choroid_plexus_in_the_atrium(tmp_path, make_head):
    """An enhancing tuft inside CSF in the atrium of the lateral ventricle (pseudo-MNI about
    (24, -40, 12); anatomy.toml) is choroid plexus even without a mirror twin."""
    img, aff = make_head(skull=False)
    sp = 2.0
    c = (np.asarray(img.shape) - 1) / 2.0
    idx = np.indices(img.shape).astype(np.float32)
    X = [(idx[a] - c[a]) * sp for a in range(3)]
    d = np.sqrt((X[0] - 21) ** 2 + (X[1] + 19) ** 2 + (X[2] - 2) ** 2)
    wm = float(np.median(img[img > 0.5 * img.max()]))
    img[d < 8] = 0.3 * wm  # CSF pocket (atrium)
    img[d < 3] = 1.7 * wm  # the plexus glomus
    p = tmp_path / "plexus.nii.gz"
    nib.save(nib.Nifti1Image(img, aff), str(p))
    res = scan(p, tmp_path / "out", overlay=False)
    assert res["count"] == 0, res["lesions"]
    assert res["rejected_candidates"].get("choroid_plexus", 0) >= 1


def test_lesion_beside_confounders_found_with_reasons(tmp_path, make_head):
    res = _scan_head(tmp_path, make_head, tubes=TUBES, sheet=True,
                     lesions=((16, 12, 0, 9.0, 1.7, "ring"),))
    assert res["count"] == 1, res["lesions"]
    les = res["lesions"][0]
    np.testing.assert_allclose(les["centroid_mm"], [16, 12, 0], atol=2.0)
    assert les["found_by"] and les["found_by"][0].startswith("classical")
    rej = res["rejected_candidates"]
    assert rej.get("vessel", 0) >= 1 and rej.get("dura_sinus", 0) >= 1


def test_open_cyst_wall_gets_its_core():
    """A thin cyst wall open over a cap (the cyst's dark voxels touch normal brain): accepted as
    one lesion whose volume is the cyst's, not the rim's (issue #16: 52 ml cystic metastasis)."""
    ctx = _ctx(shape=(90, 90, 90))
    z, y, x = _grid(ctx["mw"].shape)
    d = np.sqrt((z - 45) ** 2 + (y - 45) ** 2 + (x - 45) ** 2)
    cap = x > 45 + 16 - 8
    rim = (d <= 16) & (d > 14) & ~cap
    ctx["iw"][d <= 14] = 0.45  # cyst fluid, darker than white matter
    reason, f, region = _judge(ctx, rim)
    assert reason is None
    o = dob.LesionObject(region=region, sl=tuple(slice(0, s) for s in region.shape), features=f)
    dob.complete_open_core(ctx, o)
    truth = float(((d <= 16) & ~cap).sum())
    assert region.sum() < 0.5 * truth  # the rim alone
    assert o.region.sum() == pytest.approx(truth, rel=0.2)
