"""Upload staging: size limits and content checks for MRI uploads.

An upload is streamed into a private temporary folder under the data directory, checked
(NIfTI header and data, or a zip holding exactly one DICOM series), and only then moved into
place by the caller in the same step as the database row, so a rejected or failed upload leaves
nothing half-stored.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import shutil
import struct
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from brainmets.errors import BrainmetsError
from brainmets.service.settings import Settings

CHUNK = 1024 * 1024


class UploadError(BrainmetsError):
    """A rejected upload: HTTP status and a clear message for the user."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


@dataclass
class Staged:
    folder: Path  # temporary folder holding input.nii[.gz] or dicom/
    kind: str  # nifti | dicom
    sha256: str
    size_bytes: int
    shape: tuple[int, ...]
    n_files: int = 1

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _nifti_header_ok(head: bytes) -> bool:
    if len(head) < 348:
        return False
    for order in ("<", ">"):
        size = struct.unpack(order + "i", head[:4])[0]
        if size == 348 and head[344:347] in (b"n+1", b"ni1"):
            return True
        if size == 540 and head[4:7] in (b"n+2", b"ni2"):
            return True
    return False


def stage_upload(src: BinaryIO, tmp_root: Path, settings: Settings) -> Staged:
    """Copy, size-limit and validate one upload; raises :class:`UploadError` (nothing left)."""
    folder = tmp_root / f"upload-{uuid.uuid4().hex}"
    folder.mkdir(parents=True)
    try:
        raw = folder / "upload.bin"
        digest = hashlib.sha256()
        size = 0
        with raw.open("wb") as out:
            while chunk := src.read(CHUNK):
                size += len(chunk)
                if size > settings.max_upload_bytes:
                    raise UploadError(
                        413, f"file: larger than the {settings.max_upload_mb} MB upload limit"
                    )
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise UploadError(422, "file: the uploaded file is empty")
        with raw.open("rb") as f:
            magic = f.read(4)
        if magic[:2] == b"\x1f\x8b":
            try:
                with gzip.open(raw, "rb") as g:
                    head = g.read(540)
            except (OSError, EOFError) as exc:
                raise UploadError(422, f"file: corrupt gzip data ({exc})") from None
            if not _nifti_header_ok(head):
                raise UploadError(415, "file: gzip file does not hold a NIfTI image")
            target = folder / "input.nii.gz"
        elif magic in (b"PK\x03\x04", b"PK\x05\x06"):
            staged = _stage_dicom_zip(raw, folder, settings)
            raw.unlink()
            staged.sha256, staged.size_bytes = digest.hexdigest(), size
            return staged
        else:
            with raw.open("rb") as f:
                head = f.read(540)
            if not _nifti_header_ok(head):
                raise UploadError(
                    415,
                    "file: unsupported type; expected a NIfTI image (.nii or .nii.gz) "
                    "or a .zip holding one DICOM series",
                )
            target = folder / "input.nii"
        raw.rename(target)
        shape = _check_nifti(target, settings)
        return Staged(folder, "nifti", digest.hexdigest(), size, shape)
    except UploadError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    except Exception as exc:  # anything unexpected: still nothing half-stored
        shutil.rmtree(folder, ignore_errors=True)
        raise UploadError(422, f"file: could not be read ({type(exc).__name__})") from exc


def _check_nifti(path: Path, settings: Settings) -> tuple[int, ...]:
    import nibabel as nib
    import numpy as np

    try:
        img = nib.load(str(path))
        shape = tuple(int(d) for d in img.shape)
    except Exception as exc:
        raise UploadError(422, f"file: not a readable NIfTI image ({exc})") from None
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) != 3:
        raise UploadError(422, f"file: expected a 3-D volume, got shape {list(shape)}")
    if min(shape) < settings.min_dim or max(shape) > settings.max_dim:
        raise UploadError(
            422,
            f"file: volume shape {list(shape)} outside the accepted "
            f"{settings.min_dim}-{settings.max_dim} voxels per axis",
        )
    zooms = np.asarray(img.header.get_zooms()[:3], dtype=float)
    if not np.all(np.isfinite(zooms)) or np.any(zooms <= 0) or np.any(zooms > 20):
        raise UploadError(422, f"file: implausible voxel size {zooms.tolist()} mm")
    aff = np.asarray(img.affine, dtype=float)
    if not np.all(np.isfinite(aff)) or abs(np.linalg.det(aff[:3, :3])) < 1e-9:
        raise UploadError(422, "file: the NIfTI affine is not a valid (invertible) matrix")
    try:
        data = np.asanyarray(img.dataobj)
    except Exception as exc:  # truncated or corrupt data
        raise UploadError(422, f"file: image data could not be read ({exc})") from None
    if data.dtype.kind not in "biuf":
        raise UploadError(422, f"file: unsupported voxel type {data.dtype}")
    if not np.isfinite(data).any():
        raise UploadError(422, "file: the image holds no finite voxel values")
    return shape


def _stage_dicom_zip(raw: Path, folder: Path, settings: Settings) -> Staged:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        zf = zipfile.ZipFile(raw)
    except zipfile.BadZipFile:
        raise UploadError(422, "file: corrupt zip archive") from None
    with zf:
        members = [m for m in zf.infolist() if not m.is_dir()]
        members = [
            m for m in members
            if not m.filename.startswith("__MACOSX/")
            and Path(m.filename).name not in (".DS_Store", "DICOMDIR", "Thumbs.db")
        ]
        if not members:
            raise UploadError(422, "file: the zip archive is empty")
        if len(members) > settings.max_zip_members:
            raise UploadError(
                413, f"file: more than {settings.max_zip_members} files in the zip archive"
            )
        total = sum(m.file_size for m in members)
        if total > settings.max_unzipped_bytes:
            raise UploadError(
                413, f"file: unpacks to more than the {settings.max_unzipped_mb} MB limit"
            )
        out_dir = folder / "dicom"
        out_dir.mkdir()
        series: set[str] = set()
        shape: tuple[int, ...] = ()
        written = 0
        for i, m in enumerate(members):
            # member names are never used as paths (no traversal); sizes are re-checked as read
            try:
                data = zf.read(m)
            except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
                raise UploadError(422, f"file: zip member {i + 1} is corrupt ({exc})") from None
            written += len(data)
            if written > settings.max_unzipped_bytes:
                raise UploadError(413, "file: unpacked size exceeds the limit")
            try:
                ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
            except (InvalidDicomError, Exception):
                raise UploadError(
                    422, f"file: zip member {i + 1} ({Path(m.filename).name!r}) is not DICOM"
                ) from None
            uid = getattr(ds, "SeriesInstanceUID", None)
            if uid is None or getattr(ds, "Rows", None) is None:
                raise UploadError(
                    422, f"file: zip member {i + 1} is not a DICOM image (no series or rows)"
                )
            if getattr(ds, "ImagePositionPatient", None) is None:
                raise UploadError(
                    422, f"file: zip member {i + 1} has no ImagePositionPatient (not 3-D MRI)"
                )
            series.add(str(uid))
            if len(series) > 1:
                raise UploadError(422, "file: the zip holds more than one DICOM series")
            shape = (int(ds.Rows), int(ds.Columns))
            (out_dir / f"{i:05d}.dcm").write_bytes(data)
        n = len(members)
        if n < settings.min_dim:
            raise UploadError(
                422, f"file: only {n} DICOM slices; at least {settings.min_dim} are needed"
            )
        if max(shape) > settings.max_dim or min(shape) < settings.min_dim:
            raise UploadError(422, f"file: DICOM image size {list(shape)} outside accepted range")
        return Staged(folder, "dicom", "", 0, (*shape, n), n_files=n)
