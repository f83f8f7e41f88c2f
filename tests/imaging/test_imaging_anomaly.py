"""The second, independent signal (issue 16 item 2): asymmetry about the mid-sagittal plane,
reference deviation, mass effect, and how the pipeline merges it with the detector's lesions.

Expected values come from how the synthetic inputs are built (a head symmetric about x = 0, a
sphere placed on one side, a mirrored pair, a one-sided dark ventricle), from the phantom's truth
files, and from the expert labels of the development scans - never from the code under test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from brainmets.imaging import anomaly as an
from brainmets.imaging import preprocess as pp
from brainmets.imaging.volume import Volume

REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "real-scans"


def _canon(img: np.ndarray, aff: np.ndarray):
    can = pp.canonical(Volume(data=img, affine=aff))
    data, _ = pp.to_nonnegative(can.data)
    mask, _ = pp.brain_mask(data, can.spacing)
    return data, mask, can.affine


def _world_of_label(rep: an.AnomalyReport, k: int) -> np.ndarray:
    ijk = np.argwhere(rep.labels == k).mean(0)
    return rep.affine[:3, :3] @ ijk + rep.affine[:3, 3]


# ----------------------------------------------------------------------------- unit level


def test_midsagittal_plane_of_a_symmetric_head(make_head):
    """conftest's head is symmetric about world x = 0 (its centre voxel)."""
    img, aff = make_head(skull=False, noise=0.01)
    data, mask, caff = _canon(img, aff)
    w, mw, aw = an._working(data, mask, caff)
    n = an._normalised(w, mw, aw)
    plane, corr = an.midsagittal(an._smooth_in(n, mw, 1.0), mw)
    x_world = aw[0, 0] * plane.c + aw[0, 3]
    assert abs(x_world) <= 2.0 and abs(plane.a) <= 0.03 and abs(plane.b) <= 0.03
    assert corr > 0.5


def test_one_sided_sphere_is_an_asymmetry_lesion(make_head):
    """A 12 mm-radius enhancing sphere (1.7 x brain) on the right (+x): one compact enhancing
    region there, reported as a lesion by the asymmetry signal."""
    img, aff = make_head(lesions=((30, 8, 6, 12.0, 1.7, "solid"),), skull=False, noise=0.01)
    rep = an.detect_anomalies(*_canon(img, aff))
    lesions = [r for r in rep.regions if r.kind == "lesion"]
    assert len(lesions) == 1, rep.regions
    r = lesions[0]
    assert "asymmetry" in r.signals
    np.testing.assert_allclose(r.centroid_mm, (30, 8, 6), atol=4.0)
    true_ml = 4 / 3 * np.pi * 12.0**3 / 1000
    assert 0.4 * true_ml <= r.volume_ml <= 1.6 * true_ml
    assert rep.seconds < 30


def test_mirrored_pair_cancels(make_head):
    """Two identical spheres mirrored across the plane (like the choroid plexus): no asymmetry."""
    pair = ((30, 8, 6, 8.0, 1.7, "solid"), (-30, 8, 6, 8.0, 1.7, "solid"))
    img, aff = make_head(lesions=pair, skull=False, noise=0.01)
    rep = an.detect_anomalies(*_canon(img, aff))
    assert [r for r in rep.regions if "asymmetry" in r.signals] == []


def test_mass_effect_one_sided_ventricle():
    """A dark (CSF-like) ventricle on the left of a known mid-sagittal plane only: flagged, the
    right ventricle is the compressed one, so the mass is on the right; a symmetric pair of
    ventricles is not flagged."""
    shape = (80, 90, 70)
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    idx = np.indices(shape).astype(float)
    c = (np.asarray(shape) - 1) / 2
    x, y, z = ((idx[a] - c[a]) * 2.0 for a in range(3))
    mask = (x / 70) ** 2 + (y / 85) ** 2 + (z / 65) ** 2 < 1
    depth = an.ndi.distance_transform_edt(mask) * 2.0
    plane = an.Plane(c[0], 0.0, 0.0, c)
    n = np.where(mask, 1.0, 0.0).astype(np.float32)

    def vent(sx):
        return ((x - sx * 12) / 7) ** 2 + (y / 22) ** 2 + (z / 9) ** 2 < 1

    n_one = n.copy()
    n_one[vent(-1)] = 0.3  # left only (RAS: -x is left)
    me = an.mass_effect(n_one, mask, plane, depth, aff)
    assert me is not None and me.flagged
    assert me.left_ml > 3 * max(me.right_ml, 0.1) and me.right_ml == 0
    assert me.shift_mm < -6  # the ventricle system's centre is displaced to the left
    assert me.side_of_mass == "right"
    n_two = n.copy()
    n_two[vent(-1) | vent(1)] = 0.3
    me2 = an.mass_effect(n_two, mask, plane, depth, aff)
    assert me2 is not None and not me2.flagged and me2.side_of_mass is None
    assert me2.left_ml == pytest.approx(me2.right_ml, rel=0.05)
    assert abs(me2.shift_mm) < 1.0


def test_classify_rules():
    base = dict(label=1, centroid_mm=[0, 0, 0], volume_ml=10.0, score=2.5,
                signals=["asymmetry"], enhancement_p90=1.8, dark_fraction=0.1, elongation=1.5,
                height=0.5)
    assert an.classify(an.Region(**base)) == "lesion"
    assert an.classify(an.Region(**base), plane_ok=False) == "finding"  # mirror not trusted
    assert an.classify(an.Region(**(base | {"elongation": 5.0}))) == "ignore"  # tube / sheet
    assert an.classify(an.Region(**(base | {"elongation": 2.8}))) == "finding"
    assert an.classify(an.Region(**(base | {"height": 0.1}))) == "finding"  # skull base
    assert an.classify(an.Region(**(base | {"height": 0.03}))) == "ignore"  # petrous level
    assert an.classify(an.Region(**(base | {"depth_mm": 5.0}))) == "ignore"  # on the surface
    # weakly one-sided: a lesion only when brightly enhancing
    assert an.classify(an.Region(**(base | {"score": 1.2}))) == "lesion"
    assert an.classify(an.Region(**(base | {"score": 1.2, "enhancement_p90": 1.4}))) == "finding"
    assert an.classify(an.Region(**(base | {"score": 1.05}))) == "finding"
    assert an.classify(an.Region(**(base | {"score": 0.5}))) == "ignore"
    assert an.classify(an.Region(**(base | {"enhancement_p90": 1.1}))) == "ignore"
    assert an.classify(an.Region(**(base | {"signals": ["reference"]}))) == "ignore"
    assert an.classify(an.Region(**(base | {"volume_ml": 1.5}))) == "finding"


def test_combine_found_by_new_lesion_and_finding():
    shape = (40, 40, 40)
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    final = np.zeros(shape, np.int32)
    final[5:9, 5:9, 5:9] = 1  # classical lesion
    lab = np.zeros(shape, np.int32)
    lab[6:10, 6:10, 6:10] = 1  # overlaps it
    lab[20:26, 20:26, 20:26] = 2  # strong, elsewhere -> lesion
    lab[30:33, 5:8, 30:33] = 3  # weak -> finding

    def reg(k, kind, sig):
        return an.Region(label=k, centroid_mm=[0.0, 0.0, 0.0], volume_ml=3.0, score=2.0,
                         signals=sig, enhancement_p90=1.6, dark_fraction=0.0, elongation=1.2,
                         height=0.5, kind=kind)

    rep = an.AnomalyReport(
        regions=[reg(1, "lesion", ["asymmetry"]), reg(2, "lesion", ["asymmetry", "reference"]),
                 reg(3, "finding", ["asymmetry"])],
        mass_effect=an.MassEffect(20.0, 5.0, -3.0, 0.6, True, "right"), plane={},
        labels=lab, affine=aff, seconds=0.0)
    comb = an.combine(final, {1: ["classical"]}, rep, np.ones(shape, bool), aff,
                      location=lambda p: "supratentorial")
    assert int(comb.labels.max()) == 2
    big = int(comb.labels[22, 22, 22])
    small = int(comb.labels[6, 6, 6])
    assert big == 1 and small == 2  # relabelled by volume, largest first
    assert comb.found_by[small] == ["classical", "asymmetry"]
    assert comb.found_by[big] == ["asymmetry", "reference"]
    # the new lesion is a filled 6-voxel cube: no hollow core -> solid; score carried over
    assert comb.attrs == {big: {"enhancement": "solid", "confidence": None,
                                "anomaly_score": 2.0}}
    kinds = [f["kind"] for f in comb.findings]
    assert kinds == ["possible_lesion", "mass_effect"]
    assert comb.findings[0]["text"] == an.FINDING_TEXT + " (supratentorial)"
    assert comb.findings[1]["side_of_mass"] == "right"
    assert comb.summary["mass_effect"]["flagged"] is True


# ----------------------------------------------------------------------------- phantoms


@pytest.mark.slow
@pytest.mark.parametrize("seed,full_head", [(3, True), (4, False), (200, True), (201, False)])
def test_healthy_phantom_gives_no_lesion_from_this_signal(tmp_path, seed, full_head):
    """Spec (issue 16 item 2): no false positives on healthy phantoms."""
    from brainmets.imaging.io import load_volume
    from brainmets.imaging.phantom import make_case

    make_case(seed, tmp_path, voxel_mm=(2.0, 2.0, 2.0), full_head=full_head, n_lesions=0)
    vol = load_volume(tmp_path / "t1c.nii.gz")
    rep = an.detect_anomalies(*_canon(vol.data, vol.affine))
    assert [r for r in rep.regions if r.kind == "lesion"] == []
    assert rep.mass_effect is None or not rep.mass_effect.flagged


@pytest.mark.slow
def test_40mm_ring_lesion_found_by_asymmetry(tmp_path):
    """A phantom with one ~40 mm ring-enhancing metastasis (seed 101 draws a ring pattern,
    checked from its truth.json): the asymmetry signal reports it where the truth is, and the
    pipeline's lesion there says so in ``found_by``."""
    from brainmets.imaging.io import load_volume
    from brainmets.imaging.phantom import make_case
    from brainmets.imaging.pipeline import analyse

    truth = make_case(101, tmp_path, voxel_mm=(2.0, 2.0, 2.0), n_lesions=1,
                      diameter_range=(38.0, 42.0))
    les = truth["lesions"][0]
    assert les["pattern"] == "ring" and les["equivalent_diameter_mm"] > 30
    vol = load_volume(tmp_path / "t1c.nii.gz")
    rep = an.detect_anomalies(*_canon(vol.data, vol.affine))
    hits = [r for r in rep.regions if r.kind == "lesion"
            and np.linalg.norm(np.subtract(r.centroid_mm, les["centroid_mm"])) < 15]
    assert len(hits) == 1 and "asymmetry" in hits[0].signals
    result, _ = analyse(vol)
    near = [le for le in result["lesions"]
            if np.linalg.norm(np.subtract(le["centroid_mm"], les["centroid_mm"])) < 15]
    assert near and "asymmetry" in near[0]["found_by"]
    assert result["anomaly"]["mid_sagittal_plane"]["correlation"] > 0.3


# ----------------------------------------------------------------------------- real scans


def _real(case: str):
    folder = REAL / case
    if not folder.is_dir():
        pytest.skip(f"development scans not present ({folder})")
    import nibabel as nib

    from brainmets.imaging.io import load_volume

    vol = load_volume(folder / "T1c_subtrMeanDivStd.nii.gz")
    ot = nib.load(str(folder / "OTMultiClass.nii.gz"))
    core = pp.canonical(Volume(data=np.isin(np.asarray(ot.dataobj), (1, 3, 4)).astype(
        np.float32), affine=ot.affine)).data > 0
    return vol, core


@pytest.mark.slow
@pytest.mark.parametrize("case", [f"brats13-pat000{i}" for i in range(1, 5)])
def test_real_scan_tumour_found_by_this_signal(case):
    """On the z-scored BraTS development scans (one expert-labelled tumour each), this signal
    alone reports one lesion and it lies on the expert tumour core (labels 1, 3, 4); the
    asymmetric transverse sinuses of these brains are tubes and are not reported."""
    vol, core = _real(case)
    data, mask, caff = _canon(vol.data, vol.affine)
    rep = an.detect_anomalies(data, mask, caff)
    up = an._to_grid(rep.labels, rep.affine, caff, data.shape)
    lesions = [r for r in rep.regions if r.kind == "lesion"]
    assert len(lesions) == 1, rep.regions
    assert core[up == lesions[0].label].mean() > 0.5
    assert rep.seconds < 30


@pytest.mark.slow
def test_real_thick_slice_scan_lists_the_right_frontal_tumour():
    """TCGA full-head 5.5 mm scan (real-scans README: a right frontal enhancing tumour): the
    signal lists a region right of and in front of the brain's centre for review, and on slices
    this thick it reports no lesion by itself."""
    folder = REAL / "tcga-fg-6692"
    if not folder.is_dir():
        pytest.skip(f"development scans not present ({folder})")
    from brainmets.imaging.io import load_volume

    vol = load_volume(folder / "t1c_native.nii.gz")
    data, mask, caff = _canon(vol.data, vol.affine)
    rep = an.detect_anomalies(data, mask, caff)
    assert [r for r in rep.regions if r.kind == "lesion"] == []
    ijk = np.argwhere(mask[::2, ::2, ::2]).mean(0) * 2
    centre = caff[:3, :3] @ ijk + caff[:3, 3]
    rf = [r for r in rep.regions
          if r.centroid_mm[0] - centre[0] > 10 and r.centroid_mm[1] - centre[1] > 15]
    assert rf and rf[0].kind == "finding"


def test_failure_of_the_signal_keeps_the_detector_lesions(monkeypatch):
    """The second signal is advisory: if it fails, the detector's lesions stay and the failure
    is written in the anomaly notes."""
    from brainmets.imaging.detect import Detection

    final = np.zeros((20, 20, 20), np.int32)
    final[5:8, 5:8, 5:8] = 1
    det = Detection(labels=final.copy(), confidence={1: 0.9}, features={1: {}})

    def boom(*a, **k):
        raise ValueError("synthetic failure")

    monkeypatch.setattr(an, "detect_anomalies", boom)
    comb = an.second_signal(final, det, type("D", (), {"name": "classical-x"})(),
                            np.ones((20, 20, 20), np.float32), np.ones((20, 20, 20), bool),
                            np.eye(4))
    assert (comb.labels == final).all() and comb.found_by == {1: ["classical"]}
    assert comb.findings == [] and "synthetic failure" in comb.summary["notes"][0]


def test_pipeline_reports_a_lesion_the_detector_missed(make_head):
    """With a detector that finds nothing, the one-sided enhancing sphere is still reported, as a
    lesion found by this signal only (no silent zero), with its measurements."""
    from brainmets.imaging.detect import Detection
    from brainmets.imaging.pipeline import analyse

    class Blind:
        name = "classical-blind"
        version = "0"

        def detect(self, volume, mask):
            return Detection(labels=np.zeros(volume.shape, np.int32), confidence={})

    img, aff = make_head(lesions=((30, 8, 6, 12.0, 1.7, "solid"),), skull=False, noise=0.01)
    result, arrays = analyse(Volume(data=img, affine=aff, source="synthetic"), Blind())
    assert result["count"] == 1
    les = result["lesions"][0]
    assert "asymmetry" in les["found_by"] and not any(
        e.startswith("classical") for e in les["found_by"])
    np.testing.assert_allclose(les["centroid_mm"], (30, 8, 6), atol=4.0)
    assert les["enhancement"] == "solid" and les["confidence"] is None
    assert les["longest_axial_diameter_mm"] == pytest.approx(24.0, abs=6.0)
    assert int(arrays["labels_input"].max()) == 1
