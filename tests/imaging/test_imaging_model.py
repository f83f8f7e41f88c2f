"""The learned engine (``scan --model``) end to end with a tiny ONNX network built here.

The network has known behaviour: it thresholds intensity. Its two output channels are the logits
``(0, K (x - T))``, so after the softmax that ``detect_model`` applies, the lesion probability is
``sigmoid(K (x - T))``: a voxel is "lesion" exactly when its normalised intensity exceeds T (x the
white-matter level). The expected lesions are therefore the synthetic spheres brighter than T, and
nothing is read back from the code under test. No weights are downloaded.
"""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from typer.testing import CliRunner

onnx = pytest.importorskip("onnx", reason="onnx is in the 'dev' extra (optional 'model' extra)")
pytest.importorskip("onnxruntime", reason="onnxruntime is in the 'dev' and 'model' extras")

from onnx import TensorProto, helper  # noqa: E402

from brainmets.cli import app  # noqa: E402
from brainmets.imaging import detect_model as dm  # noqa: E402
from brainmets.imaging.detect import Detection  # noqa: E402
from brainmets.imaging.volume import ImagingInputError, Volume  # noqa: E402

T = 1.3  # intensity threshold of the test network, x white matter
K = 40.0  # logit slope: sigmoid(40 * 0.1) = 0.98, so the boundary is sharp
# (x, y, z, radius mm, level x brain, kind) in the conftest's synthetic head (brain = 1.0)
BIG = (18, 10, 4, 8.0, 1.8, "solid")
SMALL = (-22, -14, 10, 5.0, 1.8, "solid")
DIM = (-10, 30, -8, 6.0, 1.15, "solid")  # enhancing a little, below T: the network ignores it


def _threshold_net(path, channels: int = 2, probs: bool = False) -> None:
    """ONNX graph: x (N,1,D,H,W) -> logits (N,channels,D,H,W) of "x > T"."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, "D", "H", "W"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", channels, "D", "H", "W"])
    inits = [helper.make_tensor("t", TensorProto.FLOAT, [], [T]),
             helper.make_tensor("k", TensorProto.FLOAT, [], [K]),
             helper.make_tensor("z", TensorProto.FLOAT, [], [0.0])]
    nodes = [helper.make_node("Sub", ["x", "t"], ["d"]),
             helper.make_node("Mul", ["d", "k"], ["l1"])]
    if probs:  # single channel already in [0, 1]
        nodes.append(helper.make_node("Sigmoid", ["l1"], ["y"]))
    elif channels == 1:
        nodes.append(helper.make_node("Identity", ["l1"], ["y"]))
    else:
        nodes += [helper.make_node("Mul", ["x", "z"], ["l0"]),
                  helper.make_node("Concat", ["l0", "l1"], ["y"], axis=1)]
    graph = helper.make_graph(nodes, "threshold", [x], [y], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _meta(channels: int = 2, shape=(32, 32, 32), **bm) -> dict:
    return {
        "name": "threshold-test", "version": "0.0.1",
        "network_data_format": {
            "inputs": {"image": {"num_channels": 1, "spatial_shape": list(shape)
                                 if shape != "*" else "*"}},
            "outputs": {"pred": {"num_channels": channels}},
        },
        "brainmets": {"spacing_mm": [2, 2, 2], "normalise": "wm", "threshold": 0.5, **bm},
    }


def _bundle(root, channels: int = 2, probs: bool = False, **meta_kw):
    (root / "configs").mkdir(parents=True)
    (root / "models").mkdir()
    _threshold_net(root / "models" / "model.onnx", channels, probs)
    (root / "configs" / "metadata.json").write_text(json.dumps(_meta(channels, **meta_kw)))
    return root


def _head(make_head, lesions=(BIG, SMALL, DIM)):
    img, aff = make_head(lesions=lesions, skull=False, noise=0.01)
    return Volume(data=img, affine=aff, source="synthetic")


def _brain(vol: Volume) -> np.ndarray:
    return vol.data > 0.1 * vol.data.max()


def _centroids(lab: np.ndarray, aff: np.ndarray) -> list[np.ndarray]:
    out = []
    for k in range(1, int(lab.max()) + 1):
        ijk = np.argwhere(lab == k)
        if len(ijk):
            out.append(ijk.mean(0) @ aff[:3, :3].T + aff[:3, 3])
    return out


def test_model_alone_finds_exactly_the_bright_spheres(tmp_path, make_head):
    det = dm.ModelDetector(_bundle(tmp_path / "b"), with_classical=False)
    vol = _head(make_head)
    d = det.detect(vol, _brain(vol))
    cents = sorted(_centroids(d.labels, vol.affine), key=lambda c: c[0])
    # spheres above T (BIG, SMALL) and nothing else (DIM at 1.15 < T; brain at 1.0)
    assert len(cents) == 2
    np.testing.assert_allclose(cents[0], SMALL[:3], atol=2.0)
    np.testing.assert_allclose(cents[1], BIG[:3], atol=2.0)
    vox_ml = float(np.prod(vol.spacing)) / 1000
    big = d.labels == d.labels[tuple(np.argwhere(d.labels > 0)[0])]
    vols = sorted(float((d.labels == k).sum()) * vox_ml for k in np.unique(d.labels)[1:])
    # the boundary sits half-way between 1.0 and 1.8 (T = 1.3): ~ the sphere volume
    assert vols[1] == pytest.approx(4 / 3 * np.pi * BIG[3] ** 3 / 1000, rel=0.3)
    assert vols[0] == pytest.approx(4 / 3 * np.pi * SMALL[3] ** 3 / 1000, rel=0.4)
    assert big.any()
    assert all(f["found_by"] == ["model"] for f in d.features.values())
    assert all(c > 0.9 for c in d.confidence.values())
    assert d.info["runtime"] == "onnxruntime" and d.info["overlap"] == 0.5


@pytest.mark.parametrize("overlap,mirror", [(0.0, []), (0.5, [0]), (0.25, [0, 1, 2])])
def test_sliding_window_overlap_and_mirroring_same_answer(tmp_path, make_head, overlap, mirror):
    """A voxel-wise network is translation- and flip-equivariant, so the windows, their overlap
    and the mirrored copies must not change its output (only the cost)."""
    det = dm.ModelDetector(_bundle(tmp_path / "b", overlap=overlap, mirror_axes=mirror),
                           with_classical=False)
    vol = _head(make_head)
    prob, mw, _ = det.probability(vol, _brain(vol))
    img, _, _ = det._working(vol, _brain(vol))
    expect = 1.0 / (1.0 + np.exp(-K * (img - T))) * mw
    np.testing.assert_allclose(prob, expect, atol=1e-4)


def test_sliding_window_blends_windows_and_undoes_mirrors():
    img = np.random.default_rng(0).random((20, 17, 9)).astype(np.float32)
    ramp = np.linspace(0.0, 1.0, 8, dtype=np.float32)[:, None, None]

    # position-dependent "network": x * ramp along axis 0 of the window. Mirroring axis 0 makes
    # it x * (ramp + ramp[::-1]) / 2 = x * 0.5 everywhere (ramp is linear from 0 to 1).
    out = dm.sliding_window(img, (8, 8, 8), 0.5, lambda w: w * ramp, mirror_axes=(0,))
    np.testing.assert_allclose(out, img * 0.5, atol=1e-5)
    # identity network: any overlap reproduces the image (weights are normalised)
    for ov in (0.0, 0.3, 0.75):
        np.testing.assert_allclose(dm.sliding_window(img, (8, 8, 8), ov, lambda w: w), img,
                                   atol=1e-5)
    # a window larger than the image: padded, cropped back
    out = dm.sliding_window(img, (32, 32, 16), 0.5, lambda w: w + 1)
    assert out.shape == img.shape
    np.testing.assert_allclose(out, img + 1, atol=1e-5)


def test_window_starts_and_weights():
    assert dm.window_starts(10, 16, 0.5) == [0]
    assert dm.window_starts(32, 16, 0.5) == [0, 8, 16]
    assert dm.window_starts(33, 16, 0.5) == [0, 8, 16, 17]  # last window flush with the end
    assert dm.window_starts(32, 16, 0.0) == [0, 16]
    w = dm.gaussian_weight((9, 9, 9))
    assert w.shape == (9, 9, 9) and w[4, 4, 4] == pytest.approx(1.0)
    assert w[0, 0, 0] < w[2, 2, 2] < w[4, 4, 4] and w.min() >= 1e-3


def test_single_channel_logits_and_probabilities(tmp_path, make_head):
    vol = _head(make_head)
    n = []
    for name, probs in (("logit", False), ("prob", True)):
        det = dm.ModelDetector(_bundle(tmp_path / name, channels=1, probs=probs, shape="*"),
                               with_classical=False)
        d = det.detect(vol, _brain(vol))
        n.append(len(_centroids(d.labels, vol.affine)))
    assert n == [2, 2]  # sigmoid applied to logits; probabilities used as they are


def test_zscore_normalisation_and_model_grid(tmp_path, make_head):
    """z-scored input (mean 0, SD 1 in the brain): T = 1.3 SD above the brain mean selects the
    bright spheres (their z-score is far higher) and the cortex never reaches it."""
    det = dm.ModelDetector(_bundle(tmp_path / "b", normalise="zscore", spacing_mm=[3, 3, 3]),
                           with_classical=False)
    vol = _head(make_head, lesions=(BIG,))
    d = det.detect(vol, _brain(vol))
    assert d.labels.shape == vol.shape  # mapped back from the 3 mm model grid
    cents = _centroids(d.labels, vol.affine)
    assert len(cents) == 1
    np.testing.assert_allclose(cents[0], BIG[:3], atol=3.0)


def test_merge_detections_found_by():
    a = np.zeros((10, 10, 10), np.int32)
    b = np.zeros_like(a)
    a[1:3, 1:3, 1:3] = 1  # classical only
    a[5:8, 5:8, 5:8] = 2  # both
    b[6:9, 6:9, 6:9] = 1
    b[1:3, 7:9, 1:3] = 2  # model only
    da = Detection(labels=a, confidence={1: 0.7, 2: 0.9},
                   features={1: {"found_by": "classical-blob"}, 2: {}},
                   info={"assumptions": ["a1"]}, findings=[{"kind": "x"}])
    db = Detection(labels=b, confidence={1: 0.99, 2: 0.8},
                   features={1: {"found_by": ["model"]}, 2: {"found_by": ["model"]}},
                   info={"assumptions": ["b1"]})
    m = dm.merge_detections(da, db, "classical", "model")
    assert m.features[1]["found_by"] == ["classical-blob"]
    assert m.features[2]["found_by"] == ["classical", "model"]
    assert m.features[3]["found_by"] == ["model", "classical"]  # overlaps classical 2
    assert m.features[4]["found_by"] == ["model"]
    assert set(np.unique(m.labels)) == {0, 1, 2, 3, 4}
    assert (m.labels[5:8, 5:8, 5:8] == 2).all()  # the first engine keeps shared voxels
    assert m.confidence == {1: 0.7, 2: 0.9, 3: 0.99, 4: 0.8}
    assert m.info["assumptions"] == ["a1", "b1"] and m.findings == [{"kind": "x"}]


def test_scan_cli_with_model_combines_engines(tmp_path, make_head):
    """`brainmets scan --model BUNDLE`: classical and learned results in one lesions.json, each
    lesion saying which engine found it; the spheres above T are found by the model."""
    img, aff = make_head(lesions=(BIG, SMALL), skull=False, noise=0.01)
    p = tmp_path / "t1c.nii.gz"
    nib.save(nib.Nifti1Image(img, aff), str(p))
    bundle = _bundle(tmp_path / "bundle")
    res = CliRunner().invoke(app, ["scan", str(p), "--out", str(tmp_path / "out"),
                                   "--model", str(bundle), "--no-overlay"])
    assert res.exit_code == 0, res.output
    out = json.loads((tmp_path / "out" / "lesions.json").read_text())
    assert out["detector"]["name"] == "model:threshold-test+classical"
    assert out["detector"]["version"] == "0.0.1"
    by_model = [le for le in out["lesions"] if "model" in le["found_by"]]
    cents = sorted((le["centroid_mm"] for le in by_model), key=lambda c: c[0])
    assert len(cents) == 2, out["lesions"]
    np.testing.assert_allclose(cents[0], SMALL[:3], atol=2.0)
    np.testing.assert_allclose(cents[1], BIG[:3], atol=2.0)
    for le in out["lesions"]:
        assert le["found_by"], le  # every lesion names its engine(s)
    lab = np.asarray(nib.load(str(tmp_path / "out" / "lesions.nii.gz")).dataobj)
    assert lab.shape == img.shape and int(lab.max()) == out["count"]


def test_model_file_with_sidecar_metadata(tmp_path, make_head):
    _threshold_net(tmp_path / "net.onnx")
    (tmp_path / "net.json").write_text(json.dumps(_meta()))
    det = dm.ModelDetector(tmp_path / "net.onnx", with_classical=False)
    assert det.name == "model:threshold-test" and det.meta.patch == (32, 32, 32)
    # metadata.json beside the model is the fallback
    (tmp_path / "m2").mkdir()
    _threshold_net(tmp_path / "m2" / "other.onnx")
    (tmp_path / "m2" / "metadata.json").write_text(json.dumps(_meta()))
    assert dm.ModelDetector(tmp_path / "m2" / "other.onnx").meta.name == "threshold-test"


@pytest.mark.parametrize("setup,match", [
    ("empty_bundle", "no models/model.ts"),
    ("no_file", "no such file"),
    ("no_meta", "metadata not found"),
    ("bad_json", "unreadable JSON"),
    ("bad_onnx", "not a usable ONNX model"),
])
def test_model_input_errors_name_the_problem(tmp_path, setup, match):
    if setup == "empty_bundle":
        (tmp_path / "b" / "configs").mkdir(parents=True)
        path = tmp_path / "b"
    elif setup == "no_file":
        path = tmp_path / "missing.onnx"
    elif setup == "no_meta":
        _threshold_net(tmp_path / "n.onnx")
        path = tmp_path / "n.onnx"
    elif setup == "bad_json":
        _threshold_net(tmp_path / "n.onnx")
        (tmp_path / "n.json").write_text("{not json")
        path = tmp_path / "n.onnx"
    else:
        (tmp_path / "n.onnx").write_bytes(b"this is not an onnx file")
        (tmp_path / "n.json").write_text(json.dumps(_meta()))
        path = tmp_path / "n.onnx"
    with pytest.raises(ImagingInputError, match=match):
        dm.ModelDetector(path)


def test_output_shape_mismatch_is_a_clear_error(tmp_path, make_head):
    root = tmp_path / "b"
    _bundle(root)
    # metadata promises 3 channels; the network gives 2
    (root / "configs" / "metadata.json").write_text(json.dumps(_meta(channels=3)))
    det = dm.ModelDetector(root, with_classical=False)
    vol = _head(make_head, lesions=())
    with pytest.raises(ImagingInputError, match="output shape"):
        det.detect(vol, _brain(vol))


@pytest.mark.parametrize("bm,match", [
    ({"overlap": 0.95}, "brainmets.overlap"),
    ({"overlap": "half"}, "brainmets.overlap"),
    ({"mirror_axes": [0, 0]}, "brainmets.mirror_axes"),
    ({"mirror_axes": [3]}, "brainmets.mirror_axes"),
    ({"mirror_axes": "x"}, "brainmets.mirror_axes"),
    ({"spacing_mm": [1, 1]}, "brainmets.spacing_mm"),
    ({"normalise": "minmax"}, "brainmets.normalise"),
    ({"threshold": 1.5}, "brainmets.threshold"),
    ({"lesion_channel": 2}, "brainmets.lesion_channel"),
])
def test_metadata_validation_names_the_field(bm, match):
    meta = _meta()
    meta["brainmets"].update(bm)
    with pytest.raises(ImagingInputError, match=match):
        dm.parse_metadata(meta)


def test_metadata_shapes_and_defaults():
    with pytest.raises(ImagingInputError, match="spatial_shape"):
        dm.parse_metadata(_meta(shape=(32, 32)))
    with pytest.raises(ImagingInputError, match="outputs.num_channels"):
        dm.parse_metadata(_meta(channels=0))
    with pytest.raises(ImagingInputError, match="expected a JSON object"):
        dm.parse_metadata([])  # type: ignore[arg-type]
    with pytest.raises(ImagingInputError, match="need one entry each"):
        dm.parse_metadata({"network_data_format": {"inputs": {}, "outputs": {}}})
    m = dm.parse_metadata({"network_data_format": {"inputs": {"i": {}}, "outputs": {"o": {}}}})
    assert (m.patch, m.out_channels, m.lesion_channel, m.overlap, m.mirror_axes) == (
        None, 1, 0, 0.5, ())


def test_missing_runtime_is_named(tmp_path, monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImagingInputError, match="'onnxruntime' package.*brainmets\\[model\\]"):
        dm.runtime_for(tmp_path / "m.onnx")
    with pytest.raises(ImagingInputError, match="'torch' package.*brainmets\\[torch\\]"):
        dm.runtime_for(tmp_path / "m.ts")
