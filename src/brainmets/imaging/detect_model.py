"""A :class:`Detector` that runs a user-supplied TorchScript or ONNX model (never downloads).

The model comes with MONAI-bundle-style metadata: either a bundle folder
(``configs/metadata.json`` + ``models/model.ts`` or ``models/model.onnx``) or a model file with a
``<model>.json`` / ``metadata.json`` beside it. Read fields::

    {"name": "...", "version": "...",
     "network_data_format": {
        "inputs": {"image": {"num_channels": 1, "spatial_shape": [96, 96, 96] | "*"}},
        "outputs": {"pred": {"num_channels": 2}}},
     "brainmets": {"spacing_mm": [1, 1, 1], "normalise": "wm" | "zscore",
                   "threshold": 0.5, "lesion_channel": 1,
                   "overlap": 0.5, "mirror_axes": []}}      # optional, these defaults

Outputs with one channel are read as a lesion probability (sigmoid applied if values fall
outside [0, 1]); with several, softmax then ``lesion_channel``.

Inference is sliding-window (nnU-Net / MONAI style): windows of ``spatial_shape`` step by
``(1 - overlap)`` of their size, each window's probabilities are blended with a Gaussian weight
(centre counts most), optionally averaged over mirrored copies along ``mirror_axes`` (0, 1, 2 of
the RAS working grid: test-time augmentation, x2 time per axis). With ``spatial_shape`` "*" the
whole volume (padded to a multiple of 16) is one window.

By default the model runs **with** the classical detector: the two label maps are merged and
each component's ``found_by`` says which engine(s) found it ("model", the classical names).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from brainmets.imaging import preprocess as pp
from brainmets.imaging.detect import Detection
from brainmets.imaging.volume import ImagingInputError, Volume


@dataclass
class ModelMeta:
    name: str
    version: str
    in_channels: int
    out_channels: int
    patch: tuple[int, int, int] | None
    spacing_mm: tuple[float, float, float] = (1.0, 1.0, 1.0)
    normalise: str = "wm"
    threshold: float = 0.5
    lesion_channel: int = 1
    overlap: float = 0.5
    mirror_axes: tuple[int, ...] = ()
    extra: dict = field(default_factory=dict)


def _find(path: Path) -> tuple[Path, Path]:
    """(model file, metadata file) for a bundle folder or a model file."""
    if path.is_dir():
        meta = path / "configs" / "metadata.json"
        models = [path / "models" / n for n in ("model.ts", "model.pt", "model.onnx")]
        model = next((m for m in models if m.exists()), None)
        if model is None:
            raise ImagingInputError(
                f"--model: {path}: no models/model.ts, models/model.pt or models/model.onnx"
            )
    else:
        model = path
        cands = [path.with_suffix(".json"), path.parent / "metadata.json"]
        meta = next((m for m in cands if m.exists()), cands[0])
    if not model.exists():
        raise ImagingInputError(f"--model: no such file: {model}")
    if not meta.exists():
        raise ImagingInputError(f"--model: metadata not found (looked for {meta})")
    return model, meta


def parse_metadata(obj: dict, where: str = "metadata") -> ModelMeta:
    """Validate MONAI-bundle-style metadata; errors name the field."""
    if not isinstance(obj, dict):
        raise ImagingInputError(f"{where}: expected a JSON object")
    ndf = obj.get("network_data_format")
    if not isinstance(ndf, dict):
        raise ImagingInputError(f"{where}: network_data_format: missing")
    try:
        inp = next(iter(ndf["inputs"].values()))
        outp = next(iter(ndf["outputs"].values()))
    except (KeyError, StopIteration, AttributeError, TypeError):
        raise ImagingInputError(
            f"{where}: network_data_format.inputs/outputs: need one entry each"
        ) from None
    cin = inp.get("num_channels", 1)
    cout = outp.get("num_channels", 1)
    if cin != 1:
        raise ImagingInputError(
            f"{where}: network_data_format.inputs.num_channels: expected 1 (T1c only), got {cin}"
        )
    if not isinstance(cout, int) or cout < 1:
        raise ImagingInputError(
            f"{where}: network_data_format.outputs.num_channels: invalid {cout}"
        )
    shape = inp.get("spatial_shape", "*")
    patch = None
    if shape not in ("*", None):
        if not (isinstance(shape, list) and len(shape) == 3
                and all(isinstance(s, int) and s > 0 for s in shape)):
            raise ImagingInputError(
                f"{where}: network_data_format.inputs.spatial_shape: expected 3 positive "
                f"integers or '*', got {shape!r}"
            )
        patch = tuple(shape)
    bm = obj.get("brainmets", {}) or {}
    sp = tuple(float(s) for s in bm.get("spacing_mm", (1.0, 1.0, 1.0)))
    if len(sp) != 3 or not all(0.2 <= s <= 5 for s in sp):
        raise ImagingInputError(f"{where}: brainmets.spacing_mm: expected 3 values in 0.2-5 mm")
    norm = bm.get("normalise", "wm")
    if norm not in ("wm", "zscore"):
        raise ImagingInputError(f"{where}: brainmets.normalise: expected wm|zscore, got {norm!r}")
    thr = float(bm.get("threshold", 0.5))
    if not 0 < thr < 1:
        raise ImagingInputError(f"{where}: brainmets.threshold: expected 0-1, got {thr}")
    ch = int(bm.get("lesion_channel", 1 if cout > 1 else 0))
    if not 0 <= ch < cout:
        raise ImagingInputError(f"{where}: brainmets.lesion_channel: {ch} not < {cout}")
    ov = bm.get("overlap", 0.5)
    if not isinstance(ov, int | float) or not 0 <= ov <= 0.9:
        raise ImagingInputError(f"{where}: brainmets.overlap: expected 0-0.9, got {ov!r}")
    mir = bm.get("mirror_axes", [])
    ok = isinstance(mir, list) and all(type(a) is int and a in (0, 1, 2) for a in mir)
    if not ok or len(set(mir)) != len(mir):
        raise ImagingInputError(
            f"{where}: brainmets.mirror_axes: expected a list of distinct 0, 1, 2, got {mir!r}"
        )
    return ModelMeta(
        name=str(obj.get("name", "user-model")), version=str(obj.get("version", "0")),
        in_channels=cin, out_channels=cout, patch=patch, spacing_mm=sp,  # type: ignore[arg-type]
        normalise=norm, threshold=thr, lesion_channel=ch, overlap=float(ov),
        mirror_axes=tuple(int(a) for a in mir),
    )


def runtime_for(model: Path) -> str:
    """The runtime a model file needs; raises a clear error when it is not installed."""
    rt = "onnxruntime" if model.suffix.lower() == ".onnx" else "torch"
    if importlib.util.find_spec(rt) is None:
        raise ImagingInputError(
            f"--model: {model.name} needs the '{rt}' package, which is not installed "
            f"(pip install 'brainmets[{'model' if rt == 'onnxruntime' else 'torch'}]'); "
            "the default classical detector needs nothing"
        )
    return rt


def gaussian_weight(patch: tuple[int, int, int], sigma_scale: float = 0.125) -> np.ndarray:
    """Window blending weight: a Gaussian centred on the window (sigma = 1/8 of its size, as
    nnU-Net does), scaled to max 1 and floored so the window's edge still counts a little."""
    axes = []
    for n in patch:
        x = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
        axes.append(np.exp(-0.5 * (x / max(n * sigma_scale, 1e-6)) ** 2))
    w = axes[0][:, None, None] * axes[1][None, :, None] * axes[2][None, None, :]
    w /= w.max()
    return np.maximum(w, 1e-3).astype(np.float32)


def window_starts(n: int, p: int, overlap: float) -> list[int]:
    """Start indices of windows of size ``p`` covering ``n`` (n >= p) with the given overlap;
    the last window is flush with the end."""
    if n <= p:
        return [0]
    step = max(1, int(np.floor(p * (1.0 - overlap))))
    starts = list(range(0, n - p + 1, step))
    if starts[-1] != n - p:
        starts.append(n - p)
    return starts


def sliding_window(img: np.ndarray, patch: tuple[int, int, int], overlap: float,
                   predict: Callable[[np.ndarray], np.ndarray],
                   mirror_axes: tuple[int, ...] = ()) -> np.ndarray:
    """Probability map of ``img`` from ``predict(window) -> prob window`` (same shape), windows
    blended with :func:`gaussian_weight`, each averaged over its mirrored copies."""
    pad = [(0, max(0, p - s)) for s, p in zip(img.shape, patch, strict=True)]
    big = np.pad(img, pad) if any(b for _, b in pad) else img
    acc = np.zeros(big.shape, np.float32)
    norm = np.zeros(big.shape, np.float32)
    w = gaussian_weight(patch)
    flips = [()] + [(a,) for a in mirror_axes]
    for i in window_starts(big.shape[0], patch[0], overlap):
        for j in window_starts(big.shape[1], patch[1], overlap):
            for k in window_starts(big.shape[2], patch[2], overlap):
                sl = (slice(i, i + patch[0]), slice(j, j + patch[1]), slice(k, k + patch[2]))
                win = big[sl]
                p = np.zeros(patch, np.float32)
                for f in flips:
                    x = np.flip(win, f) if f else win
                    y = predict(np.ascontiguousarray(x))
                    p += np.flip(y, f) if f else y
                acc[sl] += w * (p / len(flips))
                norm[sl] += w
    out = acc / np.maximum(norm, 1e-6)
    return out[: img.shape[0], : img.shape[1], : img.shape[2]]


def merge_detections(a: Detection, b: Detection, a_name: str, b_name: str) -> Detection:
    """Union of two detectors' label maps on one grid; every component's feature carries
    ``found_by`` (a list) naming each engine whose mask overlaps it."""
    off = int(a.labels.max())
    lab = a.labels.astype(np.int32, copy=True)
    lb = np.where(b.labels > 0, b.labels.astype(np.int32) + off, 0)
    free = (lab == 0) & (lb > 0)
    lab[free] = lb[free]

    def names(f: dict, default: str) -> list[str]:
        fb = f.get("found_by") or [default]
        return [str(fb)] if isinstance(fb, str) else [str(x) for x in fb]

    feats: dict[int, dict] = {}
    for k, f in a.features.items():
        feats[int(k)] = dict(f, found_by=names(f, a_name))
    for k, f in b.features.items():
        feats[int(k) + off] = dict(f, found_by=names(f, b_name))
    both = (a.labels > 0) & (b.labels > 0)
    for ka, kb in set(zip(a.labels[both].tolist(), b.labels[both].tolist(), strict=True)):
        fa = feats.setdefault(int(ka), {"found_by": [a_name]})
        fb = feats.setdefault(int(kb) + off, {"found_by": [b_name]})
        for src, dst in ((fa, fb), (fb, fa)):
            dst["found_by"] += [e for e in src["found_by"] if e not in dst["found_by"]]
    conf = dict(a.confidence)
    conf.update({int(k) + off: v for k, v in b.confidence.items()})
    out = Detection(labels=lab, confidence=conf, features=feats,
                    rejected=list(a.rejected) + list(b.rejected),
                     info={a_name: a.info, b_name: b.info,
                          "assumptions": list(a.info.get("assumptions", []))
                          + list(b.info.get("assumptions", []))})
    if hasattr(out, "findings"):  # scan-level findings of either engine are kept
        out.findings = list(getattr(a, "findings", []) or []) + list(
            getattr(b, "findings", []) or [])
    return out


class ModelDetector:
    """Runs a site-supplied TorchScript / ONNX model (sliding window, optional mirroring);
    by default merged with the classical detector (``with_classical=False`` for the model
    alone)."""

    def __init__(self, path: str | Path, with_classical: bool = True) -> None:
        model, meta_path = _find(Path(path))
        try:
            obj = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ImagingInputError(f"--model: {meta_path}: unreadable JSON ({exc})") from None
        self.meta = parse_metadata(obj, str(meta_path))
        self.runtime = runtime_for(model)
        self.model_path = model
        self.with_classical = with_classical
        self.name = f"model:{self.meta.name}" + ("+classical" if with_classical else "")
        self.version = self.meta.version
        self._fn = self._load()

    def _load(self):
        if self.runtime == "torch":  # pragma: no cover - torch is not installed in CI
            import torch

            net = torch.jit.load(str(self.model_path), map_location="cpu").eval()

            def run(x: np.ndarray) -> np.ndarray:
                with torch.no_grad():
                    return net(torch.from_numpy(x)).numpy()

            return run
        import onnxruntime as ort

        try:
            sess = ort.InferenceSession(str(self.model_path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own (non-Python) error types
            raise ImagingInputError(f"--model: {self.model_path}: not a usable ONNX model "
                                    f"({str(exc).splitlines()[0][:200]})") from None
        name = sess.get_inputs()[0].name
        return lambda x: sess.run(None, {name: x})[0]

    def _prob(self, out: np.ndarray) -> np.ndarray:
        out = np.asarray(out, dtype=np.float32)
        if out.ndim != 5 or out.shape[1] != self.meta.out_channels:
            raise ImagingInputError(
                f"--model: output shape {tuple(out.shape)} does not match the metadata "
                f"(expected (1, {self.meta.out_channels}, x, y, z))"
            )
        out = out[0]
        if out.shape[0] == 1:
            p = out[0]
            if p.min() < 0 or p.max() > 1:
                p = 1 / (1 + np.exp(-p))
            return p
        e = np.exp(out - out.max(axis=0, keepdims=True))
        return (e / e.sum(axis=0, keepdims=True))[self.meta.lesion_channel]

    def _working(self, volume: Volume, mask: np.ndarray):
        """(normalised image, mask, zoom) on the model's grid."""
        zoom = np.array(self.meta.spacing_mm) / volume.spacing  # working index -> input index
        shape_w = tuple(int(np.floor((n - 1) / z)) + 1
                        for n, z in zip(volume.shape, zoom, strict=True))
        img = ndi.affine_transform(volume.data, zoom, output_shape=shape_w, order=1)
        mw = ndi.affine_transform(mask.astype(np.float32), zoom, output_shape=shape_w,
                                  order=1) > 0.5
        vals = img[mw] if mw.any() else img.ravel()
        if self.meta.normalise == "wm":
            img = img / max(pp.wm_level(vals), 1e-6)
        else:
            img = (img - vals.mean()) / max(float(vals.std()), 1e-6)
        return img.astype(np.float32), mw, zoom

    def probability(self, volume: Volume, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                      np.ndarray]:
        """(lesion probability, mask) on the model grid, and the zoom back to the input."""
        img, mw, zoom = self._working(volume, mask)
        patch = self.meta.patch or _padded_patch(img.shape)
        prob = sliding_window(img, patch, self.meta.overlap,
                              lambda x: self._prob(self._fn(x[None, None])),
                              self.meta.mirror_axes)
        return prob * mw, mw, zoom

    def detect(self, volume: Volume, mask: np.ndarray) -> Detection:
        import cc3d

        prob, _mw, zoom = self.probability(volume, mask)
        lab = cc3d.connected_components((prob > self.meta.threshold).astype(np.uint8),
                                        connectivity=26).astype(np.int32)
        lab_in = ndi.affine_transform(lab, 1.0 / zoom, output_shape=volume.shape, order=0)
        conf: dict[int, float] = {}
        feats: dict[int, dict] = {}
        for k, sl in enumerate(ndi.find_objects(lab), start=1):
            if sl is None:
                continue
            c = float(prob[sl][lab[sl] == k].max())
            conf[k] = c
            feats[k] = {"confidence": c, "found_by": ["model"]}
        d = Detection(labels=lab_in.astype(np.int32), confidence=conf, features=feats,
                      info={"model": str(self.model_path), "runtime": self.runtime,
                            "overlap": self.meta.overlap,
                            "mirror_axes": list(self.meta.mirror_axes)})
        if not self.with_classical:
            return d
        from brainmets.imaging.detect import ClassicalDetector

        classical = ClassicalDetector().detect(volume, mask)
        return merge_detections(classical, d, "classical", "model")


def _padded_patch(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """The whole volume as one window, each side rounded up to a multiple of 16."""
    z = [int(np.ceil(s / 16) * 16) for s in shape[:3]]
    return (z[0], z[1], z[2])
