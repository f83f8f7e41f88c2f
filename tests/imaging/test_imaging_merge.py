"""Joining pieces of one lesion hypothesis (issue 16 item 1: "group enhancing pieces that share
a dark or enclosed core ... into one lesion hypothesis"; two separate metastases stay two)."""

from __future__ import annotations

import numpy as np

from brainmets.imaging.anomaly import Combined
from brainmets.imaging.merge import merge_fragments
from brainmets.imaging.pipeline import _join_fragments

SHAPE = (64, 64, 64)
AFF = np.eye(4)  # 1 mm voxels


def _grid() -> tuple[np.ndarray, np.ndarray]:
    zz, yy, xx = np.indices(SHAPE)
    c = np.array(SHAPE) / 2
    r = np.sqrt((zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2)
    return r, xx - c[2]


def _background(seed: int) -> np.ndarray:
    return 5.0 + np.random.default_rng(seed).normal(0.0, 0.3, SHAPE)


def _ring_arcs() -> tuple[np.ndarray, np.ndarray]:
    """A ring-enhancing lesion (rim 6-8 mm, dark core) whose rim the detector found as two arcs:
    a 2 mm slab of the rim is missing on each side of the plane x = 0."""
    r, x = _grid()
    img = _background(1)
    rim = (r >= 6) & (r <= 8)
    img[rim] = 10.0
    img[r < 6] = 1.5  # necrotic core: darker than the parenchyma
    labels = np.zeros(SHAPE, np.int32)
    labels[rim & (x < -1)] = 1
    labels[rim & (x > 1)] = 2
    img[rim & (np.abs(x) <= 1)] = 5.0  # the missing rim slab looks like parenchyma
    return labels, img


def _two_spheres() -> tuple[np.ndarray, np.ndarray]:
    """Two solid metastases of radius 4 mm, centres 10 mm apart (2 mm of normal tissue between)."""
    zz, yy, xx = np.indices(SHAPE)
    img = _background(2)
    labels = np.zeros(SHAPE, np.int32)
    for k, cx in ((1, 27), (2, 37)):
        ball = (zz - 32) ** 2 + (yy - 32) ** 2 + (xx - cx) ** 2 <= 16
        img[ball] = 10.0
        labels[ball] = k
    return labels, img


def test_two_arcs_of_one_ring_with_dark_core_become_one_lesion() -> None:
    labels, img = _ring_arcs()
    mask = np.ones(SHAPE, bool)
    mg = merge_fragments(labels, img, mask, AFF)
    assert int(mg.labels.max()) == 1
    assert sorted(mg.members[1]) == [1, 2]
    assert mg.rules[1] == ["bridge"]
    # the joined lesion keeps both arcs and takes in the dark core between them
    assert (mg.labels[labels > 0] == 1).all()
    assert mg.labels[32, 32, 32] == 1


def test_two_separate_solid_spheres_stay_two() -> None:
    labels, img = _two_spheres()
    mg = merge_fragments(labels, img, np.ones(SHAPE, bool), AFF)
    assert int(mg.labels.max()) == 2
    assert {tuple(v) for v in mg.members.values()} == {(1,), (2,)}
    assert (mg.labels > 0).sum() == (labels > 0).sum()  # nothing added


def test_shared_anomaly_region_joins_close_pieces_only_when_it_covers_the_gap() -> None:
    labels, img = _two_spheres()
    regions = np.zeros(SHAPE, np.int32)
    regions[labels == 1] = 1
    regions[labels == 2] = 2  # two regions, one per sphere: no shared evidence
    assert int(merge_fragments(labels, img, np.ones(SHAPE, bool), AFF, regions).labels.max()) == 2
    regions[20:44, 20:44, 20:44] = 1  # one compact abnormal region over both and between them
    mg = merge_fragments(labels, img, np.ones(SHAPE, bool), AFF, regions)
    assert int(mg.labels.max()) == 1 and mg.rules[1] == ["anomaly"]


def test_pipeline_join_keeps_found_by_union_and_counts_pieces() -> None:
    labels, img = _ring_arcs()
    comb = Combined(labels, {1: ["classical-object", "asymmetry"], 2: ["classical-blob"]}, [], {})
    final, found, _attrs, joined = _join_fragments(comb, img, np.ones(SHAPE, bool), AFF)
    assert int(final.max()) == 1
    assert found[1] == ["classical-object", "asymmetry", "classical-blob"]
    assert joined[1] == {"merged_from": 2, "merge_evidence": ["bridge"]}
