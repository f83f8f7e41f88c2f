"""Fixtures for the service tests: registries on SQLite (always) and PostgreSQL (when
``BRAINMETS_TEST_PG_URL`` is set, e.g. by scripts/ci-services.sh), an app with users, helpers."""

from __future__ import annotations

import io
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_URL = os.environ.get("BRAINMETS_TEST_PG_URL")


def _pg_schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file, or a private schema on the test PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.sqlite3'}"
        return
    if not PG_URL:
        pytest.skip("BRAINMETS_TEST_PG_URL not set (scripts/ci-services.sh starts PostgreSQL)")
    from sqlalchemy import create_engine, text

    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(PG_URL)
    with admin.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield _pg_schema_url(PG_URL, schema)
    finally:
        with admin.begin() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def store(db_url: str, tmp_path: Path):
    from brainmets.store import open_store

    s = open_store(db_url, tmp_path / "data")
    yield s
    s.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def port() -> int:
    return free_port()


PATIENT = {
    "id": "MRN-0042",
    "age": 62,
    "sex": "female",
    "kps": 80,
    "ecog": 1,
    "primary": {"site": "nsclc", "histology": "adenocarcinoma", "controlled": True,
                "egfr": "positive", "alk": "negative"},
    "extracranial_metastases": False,
    "brain_metastases": {"count": 2, "lesions": [
        {"diameter_mm": 12.0, "volume_ml": 0.9, "location": "supratentorial"},
        {"diameter_mm": 8.0, "volume_ml": 0.3, "location": "cerebellum"}]},
    "symptoms": {"status": "asymptomatic"},
}


@pytest.fixture
def patient_record() -> dict:
    import copy

    return copy.deepcopy(PATIENT)


# ----------------------------------------------------------------------------- API fixtures


def tiny_nifti(path: Path, shape=(24, 24, 16), gz: bool = True) -> Path:
    """A small synthetic T1c-like volume with one bright blob (test data made here)."""
    import nibabel as nib
    import numpy as np

    rng = np.random.default_rng(0)
    data = rng.normal(100, 5, shape).astype(np.float32)
    data[10:14, 10:14, 6:10] = 300
    aff = np.diag([2.0, 2.0, 3.0, 1.0])
    nib.save(nib.Nifti1Image(data, aff), str(path))
    return path


def fake_scan(input_path: Path, out_dir: Path) -> dict:
    """Stand-in for brainmets.imaging.pipeline.scan in API plumbing tests (CONTRACT §3 files):
    thresholds the volume so results depend on the uploaded data."""
    import json

    import nibabel as nib
    import numpy as np

    if Path(input_path).is_dir():
        import SimpleITK as sitk

        r = sitk.ImageSeriesReader()
        r.SetFileNames(r.GetGDCMSeriesFileNames(str(input_path)))
        vol = out_dir / "volume.nii.gz"
        sitk.WriteImage(r.Execute(), str(vol))
        input_path = vol
    img = nib.load(str(input_path))
    data = np.asanyarray(img.dataobj)
    lab = (data > 200).astype(np.uint8)
    nib.save(nib.Nifti1Image(lab, img.affine), str(out_dir / "lesions.nii.gz"))
    idx = np.argwhere(lab)
    lesions = []
    if len(idx):
        c = nib.affines.apply_affine(img.affine, idx.mean(0))
        vox_ml = float(np.prod(img.header.get_zooms()[:3])) / 1000
        lesions.append({"id": 1, "centroid_mm": [round(float(v), 2) for v in c],
                        "volume_ml": round(len(idx) * vox_ml, 3),
                        "longest_axial_diameter_mm": 8.0, "perpendicular_diameter_mm": 8.0,
                        "max_diameter_mm": 12.0, "location": "supratentorial",
                        "confidence": 0.9})
    (out_dir / "lesions.json").write_text(json.dumps({
        "input": str(input_path), "shape": list(data.shape),
        "voxel_size_mm": [float(z) for z in img.header.get_zooms()[:3]],
        "detector": {"name": "test-threshold", "version": "0"}, "lesions": lesions}))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.imsave(out_dir / "overlay.png", data[:, :, data.shape[2] // 2].T, cmap="gray")
    return {"lesions": lesions}


class Api:
    """A TestClient plus one token per role."""

    def __init__(self, client, tokens: dict[str, str], store) -> None:
        self.client, self.tokens, self.store = client, tokens, store

    def h(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, url: str, who: str = "a", **kw):
        return self.client.get(url, headers=self.h(who), **kw)

    def post(self, url: str, who: str = "a", **kw):
        return self.client.post(url, headers=self.h(who), **kw)

    def put(self, url: str, who: str = "a", **kw):
        return self.client.put(url, headers=self.h(who), **kw)

    def wait_job(self, job: str, who: str = "a", timeout: float = 60.0) -> dict:
        self.client.app.state.jobs.wait(job, timeout)
        r = self.get(f"/api/jobs/{job}", who)
        assert r.status_code == 200, r.text
        return r.json()

    def audit(self, pid: str | None = None):
        from brainmets.store import repo

        with self.store.session() as s:
            return repo.audit_entries(s, pid, 1000)


def make_api(store, scan_fn=fake_scan, **settings):
    from fastapi.testclient import TestClient

    from brainmets.service.app import create_app
    from brainmets.service.settings import Settings
    from brainmets.store import repo

    tokens = {}
    with store.session() as s:
        for name, role in (("a", "clinician"), ("b", "clinician"), ("r", "researcher"),
                           ("admin", "admin")):
            _, tokens[name] = repo.create_user(s, name, role)
    app = create_app(store, Settings(**settings), scan_fn=scan_fn)
    return Api(TestClient(app), tokens, store)


@pytest.fixture
def api(store):
    a = make_api(store, max_upload_mb=2)
    with a.client:
        yield a


@pytest.fixture
def sqlite_api(tmp_path):
    from brainmets.store import open_store

    st = open_store(None, tmp_path / "data")
    a = make_api(st, max_upload_mb=2)
    with a.client:
        yield a
    st.dispose()


def dicom_slice(series_uid: str, i: int, rows: int = 16) -> bytes:
    import numpy as np
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.3", series_uid
    ds.FrameOfReferenceUID = "1.2.3.9"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Doe^Jane", "MRN-0042", "19600101"
    ds.InstitutionName = "General Hospital"
    ds.Modality = "MR"
    ds.Rows = ds.Columns = rows
    ds.PixelSpacing = [2.0, 2.0]
    ds.SliceThickness = 3.0
    ds.ImagePositionPatient = [0.0, 0.0, 3.0 * i]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.InstanceNumber = i + 1
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    arr = np.full((rows, rows), 100, np.uint16)
    if 4 <= i <= 7:
        arr[6:10, 6:10] = 300
    ds.PixelData = arr.tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()




@pytest.fixture
def helpers():
    """Helpers for test modules (pytest's importlib mode cannot import conftest directly)."""
    import types

    return types.SimpleNamespace(PATIENT=PATIENT, tiny_nifti=tiny_nifti, fake_scan=fake_scan,
                                 make_api=make_api, dicom_slice=dicom_slice)


# ----------------------------------------------------------------------- server subprocesses

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("BRAINMETS_TEST_ARTIFACTS", REPO / "test-artifacts")) / "service"


class Server:
    """``brainmets serve`` in a subprocess on 127.0.0.1:<free port>; always terminated."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "BRAINMETS_DATA_DIR": str(data_dir), **(env or {})}
        self.env.pop("BRAINMETS_DATABASE_URL", None)
        self.proc = None
        self.log = data_dir / f"server-{self.port}.log"

    def start(self, timeout: float = 60.0) -> Server:
        import subprocess
        import sys
        import time

        import httpx

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from brainmets.cli import main; main()", "serve",
             "--host", "127.0.0.1", "--port", str(self.port), "--data-dir", str(self.data_dir)],
            env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("server did not start in time")

    def kill9(self) -> None:
        import signal

        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except Exception:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def server_factory(tmp_path):
    """Start servers on a shared data dir (SQLite); every one is terminated at teardown."""
    servers: list[Server] = []

    def make(**env: str) -> Server:
        s = Server(tmp_path / "srv-data", env)
        s.data_dir.mkdir(exist_ok=True)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop()


def add_user(data_dir: Path, name: str, role: str) -> str:
    from brainmets.store import open_store, repo

    st = open_store(None, data_dir)
    try:
        with st.session() as s:
            return repo.create_user(s, name, role)[1]
    finally:
        st.dispose()


@pytest.fixture(scope="session")
def phantom_mri(tmp_path_factory) -> Path:
    """A small phantom T1c MRI (skull-stripped, 3 mm, 2 lesions) from the imaging phantom."""
    from brainmets.imaging.phantom import make_case  # own module: an import error fails
    d = tmp_path_factory.mktemp("phantom")
    make_case(3, d / "case", voxel_mm=(3.0, 3.0, 3.0), full_head=False,
              random_orientation=False, n_lesions=2, diameter_range=(12.0, 20.0))
    return d / "case" / "t1c.nii.gz"


@pytest.fixture(scope="session")
def phantom_dicom_zip(phantom_mri, tmp_path_factory) -> Path:
    """The phantom MRI written as a zip of one axial DICOM MR series (LPS geometry)."""
    import zipfile

    import nibabel as nib
    import numpy as np
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    img = nib.as_closest_canonical(nib.load(str(phantom_mri)))
    data = np.asarray(img.get_fdata(dtype=np.float32))
    aff = img.affine
    scale = 4000.0 / max(float(data.max()), 1e-6)
    arr = np.clip(data * scale, 0, 65535).astype(np.uint16)
    dx, dy, dz = (float(v) for v in img.header.get_zooms()[:3])
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    out = tmp_path_factory.mktemp("dicom") / "series.zip"
    with zipfile.ZipFile(out, "w") as z:
        for k in range(arr.shape[2]):
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = MRImageStorage
            meta.MediaStorageSOPInstanceUID = generate_uid()
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
            ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
            ds.FrameOfReferenceUID = frame
            ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Doe^Jane", "MRN-0042", "19600101"
            ds.PatientSex, ds.StudyDate, ds.StudyTime = "F", "20260110", "101010"
            ds.AccessionNumber, ds.ReferringPhysicianName, ds.StudyID = "ACC1", "Ref^Doc", "1"
            ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "MR", 1, k + 1
            ds.Manufacturer = "brainmets-test"
            ras = aff @ np.array([0.0, 0.0, float(k), 1.0])
            ds.ImagePositionPatient = [float(-ras[0]), float(-ras[1]), float(ras[2])]
            ds.ImageOrientationPatient = [-1.0, 0.0, 0.0, 0.0, -1.0, 0.0]
            ds.PixelSpacing = [dy, dx]
            ds.SliceThickness = dz
            ds.Rows, ds.Columns = arr.shape[1], arr.shape[0]
            ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
            ds.PixelData = np.ascontiguousarray(arr[:, :, k].T).tobytes()
            buf = io.BytesIO()
            ds.save_as(buf, enforce_file_format=True)
            z.writestr(f"IM{k:04d}.dcm", buf.getvalue())
    return out
