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


# ------------------------------------------------------------------------------ bombs

def zip_bomb(path: Path, member_mb: int = 512) -> Path:
    """A small zip holding one ``member_mb`` MB member of zeros (written in 1 MB pieces)."""
    import zipfile

    block = b"\0" * 2**20
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with z.open("slice0001.dcm", "w", force_zip64=True) as f:
            for _ in range(member_mb):
                f.write(block)
    return path


def nifti_stream(path: Path, shape: tuple[int, int, int], value: float | None,
                 data_mb: int | None = None) -> Path:
    """A gzip NIfTI-1 float32 of ``shape`` whose data is ``value`` everywhere, streamed
    (``data_mb`` MB of data written; None = all of it). Never holds the volume in memory."""
    import gzip

    import nibabel as nib
    import numpy as np

    hdr = nib.Nifti1Header()
    hdr.set_data_shape(shape)
    hdr.set_data_dtype(np.float32)
    hdr.set_zooms((1.0, 1.0, 1.0))
    hdr.set_qform(np.eye(4), 1)
    hdr.set_sform(np.eye(4), 1)
    hdr["vox_offset"] = 352
    total = int(np.prod(shape)) * 4
    todo = total if data_mb is None else min(total, data_mb * 2**20)
    block = np.full(2**18, value if value is not None else 0, np.float32).tobytes()
    with gzip.open(path, "wb", compresslevel=6) as f:
        f.write(hdr.binaryblock + b"\0" * 4)
        while todo > 0:
            piece = block[: min(len(block), todo)]
            f.write(piece)
            todo -= len(piece)
    return path


@pytest.fixture(scope="session")
def bombs(tmp_path_factory):
    """The three bombs of issue #17 (built once per session)."""
    d = tmp_path_factory.mktemp("bombs")
    return types.SimpleNamespace(
        zip512=zip_bomb(d / "bomb.zip", 512),
        nan512=nifti_stream(d / "nan512.nii.gz", (512, 512, 512), float("nan")),
        huge1024=nifti_stream(d / "huge1024.nii.gz", (1024, 1024, 1024), 1.0, data_mb=1),
    )


@pytest.fixture
def hmake():
    """``make_app(tmp_path, limiter=None, **settings) -> (app, tokens, store)``."""
    return make_app
