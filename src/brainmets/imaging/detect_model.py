"""A :class:`Detector` that runs a user-supplied TorchScript or ONNX model (never downloads).

The model comes with MONAI-bundle-style metadata: either a bundle folder
(``configs/metadata.json`` + ``models/model.ts`` or ``models/model.onnx``) or a model file with a
``<model>.json`` / ``metadata.json`` beside it. Read fields::

    {"name": "...", "version": "...",
     "network_data_format": {
        "inputs": {"image": {"num_channels": 1, "spatial_shape": [96, 96, 96] | "*"}},
        "outputs": {"pred": {"num_channels": 2}}},
     "brainmets": {"spacing_mm": [1, 1, 1], "normalise": "wm" | "zscore",
                   "threshold": 0.5, "lesion_channel": 1}}     # optional, these defaults

Outputs with one channel are read as a lesion probability (sigmoid applied if values fall
outside [0, 1]); with several, softmax then ``lesion_channel``.
"""

from __future__ import annotations

import importlib.util
import json
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
    return ModelMeta(
        name=str(obj.get("name", "user-model")), version=str(obj.get("version", "0")),
        in_channels=cin, out_channels=cout, patch=patch, spacing_mm=sp,  # type: ignore[arg-type]
        normalise=norm, threshold=thr, lesion_channel=ch,
    )


def runtime_for(model: Path) -> str:
    """The runtime a model file needs; raises a clear error when it is not installed."""
    rt = "onnxruntime" if model.suffix.lower() == ".onnx" else "torch"
    if importlib.util.find_spec(rt) is None:
        raise ImagingInputError(
            f"--model: {model.name} needs the '{rt}' package, which is not installed "
            "(pip install 'brainmets[torch]'); the default classical detector needs nothing"
        )
    return rt


class ModelDetector:
    def __init__(self, path: str | Path) -> None:
        model, meta_path = _find(Path(path))
        try:
            obj = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ImagingInputError(f"--model: {meta_path}: unreadable JSON ({exc})") from None
        self.meta = parse_metadata(obj, str(meta_path))
        self.runtime = runtime_for(model)
        self.model_path = model
        self.name = f"model:{self.meta.name}"
        self.version = self.meta.version
        self._fn = self._load()

    def _load(self):
        if self.runtime == "torch":
            import torch

            net = torch.jit.load(str(self.model_path), map_location="cpu").eval()

            def run(x: np.ndarray) -> np.ndarray:
                with torch.no_grad():
                    return net(torch.from_numpy(x)).numpy()

            return run
        import onnxruntime as ort

        sess = ort.InferenceSession(str(self.model_path), providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        return lambda x: sess.run(None, {name: x})[0]

    def _prob(self, out: np.ndarray) -> np.ndarray:
        out = out[0]
        if out.shape[0] == 1:
            p = out[0]
            if p.min() < 0 or p.max() > 1:
                p = 1 / (1 + np.exp(-p))
            return p
        e = np.exp(out - out.max(axis=0, keepdims=True))
        return (e / e.sum(axis=0, keepdims=True))[self.meta.lesion_channel]

    def detect(self, volume: Volume, mask: np.ndarray) -> Detection:
        import cc3d

        sp = volume.spacing
        tgt = np.array(self.meta.spacing_mm)
        zoom = tgt / sp  # working index -> input index
        shape_w = tuple(int(np.floor((n - 1) / z)) + 1
                        for n, z in zip(volume.shape, zoom, strict=True))
        img = ndi.affine_transform(volume.data, zoom, output_shape=shape_w, order=1)
        mw = ndi.affine_transform(mask.astype(np.float32), zoom, output_shape=shape_w,
                                  order=1) > 0.5
        vals = img[mw]
        if self.meta.normalise == "wm":
            img = img / max(pp.wm_level(vals), 1e-6)
        else:
            img = (img - vals.mean()) / max(vals.std(), 1e-6)
        img = img.astype(np.float32)
        patch = self.meta.patch or tuple(int(np.ceil(s / 16) * 16) for s in img.shape)
        pad = [(0, (-s) % p) for s, p in zip(img.shape, patch, strict=True)]
        big = np.pad(img, pad)
        prob = np.zeros(big.shape, dtype=np.float32)
        for i in range(0, big.shape[0], patch[0]):
            for j in range(0, big.shape[1], patch[1]):
                for k in range(0, big.shape[2], patch[2]):
                    sl = (slice(i, i + patch[0]), slice(j, j + patch[1]), slice(k, k + patch[2]))
                    prob[sl] = self._prob(self._fn(big[sl][None, None]))
        prob = prob[: img.shape[0], : img.shape[1], : img.shape[2]] * mw
        lab = cc3d.connected_components((prob > self.meta.threshold).astype(np.uint8),
                                        connectivity=26).astype(np.int32)
        lab_in = ndi.affine_transform(lab, 1.0 / zoom, output_shape=volume.shape, order=0)
        conf = {}
        feats = {}
        for k in np.unique(lab)[1:]:
            c = float(prob[lab == k].max())
            conf[int(k)] = c
            feats[int(k)] = {"confidence": c}
        return Detection(labels=lab_in.astype(np.int32), confidence=conf, features=feats,
                         info={"model": str(self.model_path)})
