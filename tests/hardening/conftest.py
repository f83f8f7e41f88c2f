"""Fixtures for the hardening tests: an app on a fresh SQLite registry with one user per role,
a stand-in scan function (so a scan finishes in well under a second), and a real uvicorn server
in a thread for the browser tests."""

from __future__ import annotations

import json
import socket
import threading
import time
import types
from pathlib import Path

import pytest

PATIENT = {
    "age": 62, "sex": "female", "kps": 80,
    "primary": {"site": "nsclc", "histology": "adenocarcinoma", "controlled": True,
                "egfr": "positive", "alk": "negative"},
    "extracranial_metastases": False, "brain_metastases": {"count": 2},
    "symptoms": {"status": "asymptomatic"},
}


def tiny_nifti(path: Path, shape=(24, 24, 16), fill: float | None = None) -> Path:
    """A small synthetic T1c-like volume with one bright blob (made here, not downloaded)."""
    import nibabel as nib
    import numpy as np

    data = np.random.default_rng(0).normal(100, 5, shape).astype(np.float32)
    data[10:14, 10:14, 6:10] = 300
    if fill is not None:
        data[0, 0, 0] = fill
    nib.save(nib.Nifti1Image(data, np.diag([2.0, 2.0, 3.0, 1.0])), str(path))
    return path


def fake_scan(input_path: Path, out_dir: Path) -> dict:
    """CONTRACT §3 files from a threshold (stands in for the imaging pipeline)."""
    import nibabel as nib
    import numpy as np

    img = nib.load(str(input_path))
    data = np.asanyarray(img.dataobj)
    lab = (data > 200).astype(np.uint8)
    nib.save(nib.Nifti1Image(lab, img.affine), str(out_dir / "lesions.nii.gz"))
    idx = np.argwhere(lab)
    c = nib.affines.apply_affine(img.affine, idx.mean(0)) if len(idx) else [0, 0, 0]
    lesions = [{"id": 1, "centroid_mm": [round(float(v), 2) for v in c], "volume_ml": 0.2,
                "longest_axial_diameter_mm": 8.0, "perpendicular_diameter_mm": 8.0,
                "max_diameter_mm": 9.0, "location": "supratentorial", "confidence": 0.9}]
    (out_dir / "lesions.json").write_text(json.dumps({
        "shape": list(data.shape), "voxel_size_mm": [2.0, 2.0, 3.0],
        "detector": {"name": "test-threshold", "version": "0"}, "lesions": lesions}))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.imsave(out_dir / "overlay.png", data[:, :, data.shape[2] // 2].T, cmap="gray")
    return {"lesions": lesions}


class Api:
    def __init__(self, client, tokens: dict[str, str], store) -> None:
        self.client, self.tokens, self.store = client, tokens, store

    def h(self, who: str = "a") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def audit(self):
        from brainmets.store import repo

        with self.store.session() as s:
            return list(reversed(repo.audit_entries(s, None, 5000)))


def make_app(tmp_path: Path, limiter=None, **settings):
    from brainmets.service.app import create_app
    from brainmets.service.settings import Settings
    from brainmets.store import open_store, repo

    store = open_store(None, tmp_path / "data")
    tokens = {}
    with store.session() as s:
        for name, role in (("a", "clinician"), ("r", "researcher"), ("admin", "admin")):
            tokens[name] = repo.create_user(s, name, role)[1]
    app = create_app(store, Settings(**settings), scan_fn=fake_scan, limiter=limiter)
    return app, tokens, store


@pytest.fixture
def hapi(tmp_path):
    from fastapi.testclient import TestClient

    app, tokens, store = make_app(tmp_path, max_upload_mb=64)
    with TestClient(app) as client:
        yield Api(client, tokens, store)
    store.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server(tmp_path):
    """uvicorn in a thread on 127.0.0.1 (loopback only); yields (url, tokens, store)."""
    import uvicorn

    app, tokens, store = make_app(tmp_path, max_upload_mb=64)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield types.SimpleNamespace(url=f"http://127.0.0.1:{port}", tokens=tokens, store=store,
                                    app=app)
    finally:
        server.should_exit = True
        thread.join(10)
        store.dispose()


@pytest.fixture
def hhelpers():
    return types.SimpleNamespace(PATIENT=PATIENT, tiny_nifti=tiny_nifti, fake_scan=fake_scan)
