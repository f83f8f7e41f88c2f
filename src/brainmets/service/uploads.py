"""Upload staging: size limits and content checks for MRI uploads.

An upload is streamed into a private temporary folder under the data directory, checked
(NIfTI header and data, or a zip holding exactly one DICOM series), and only then moved into
place by the caller in the same step as the database row, so a rejected or failed upload leaves
nothing half-stored.

Resource ceilings are decided *before* anything is allocated:

* NIfTI: the header alone gives the shape and voxel type; more than ``MAX_VOXELS`` voxels
  (512³ by default, ``BRAINMETS_MAX_VOXELS``) or more decoded bytes than the unpacked-size limit
  is refused (422) before a byte of image data is read. The data (gzip or plain) is then read as
  a stream in ``CHUNK`` pieces, never more than the header's size: peak memory is one chunk.
* Zip of DICOM: sizes come from the central directory: the total unpacked size, and each
  member's size (a single-frame slice is at most ``max_dim``² × 4 bytes plus
  ``DICOM_HEADER_SLACK``). Members are streamed to disk with the same cap and only their
  headers are parsed.

NaN/Inf policy: a volume holding **any** NaN or infinite voxel value is refused at upload with
422 (the detector's intensity statistics are undefined on them, and replacing them would alter
the image); the message says how to fix it. A constant volume (no image content) is refused
the same way. Nothing is accepted that the scan job would later fail on for these reasons.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import struct
import uuid
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from brainmets.errors import BrainmetsError
from brainmets.service.security import redact_paths
from brainmets.service.settings import Settings

CHUNK = 1024 * 1024
DATA_CHUNK = 8 * 1024 * 1024  # bytes of image data checked at a time (bounded memory)
DICOM_HEADER_SLACK = 8 * 1024 * 1024


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


MAX_VOXELS = _env_int("BRAINMETS_MAX_VOXELS", 512**3)


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
            except (OSError, EOFError, zlib.error) as exc:
                raise UploadError(422, f"file: corrupt gzip data ({redact_paths(str(exc))})"
                                  ) from None
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
        raise UploadError(422, f"file: could not be read ({type(exc).__name__})") from None


def _read_header(path: Path) -> Any:
    """The NIfTI-1/2 header (nibabel) read from the first bytes only (gzip or plain)."""
    import nibabel as nib

    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            head = f.read(540)
        cls = nib.Nifti1Header if _nifti_header_ok(head[:348]) and head[344:347] in (
            b"n+1", b"ni1") else nib.Nifti2Header
        return cls.from_fileobj(io.BytesIO(head), check=False)
    except (OSError, EOFError, ValueError, KeyError, zlib.error,
            nib.spatialimages.HeaderDataError) as exc:  # KeyError: unknown datatype code
        raise UploadError(422, f"file: not a readable NIfTI header ({redact_paths(str(exc))})"
                          ) from None


def _check_header(hdr: Any, settings: Settings) -> tuple[tuple[int, ...], Any, int]:
    """Shape, voxel dtype and data offset, refused before any allocation when too big."""
    import numpy as np
    from nibabel.spatialimages import HeaderDataError

    try:
        shape = tuple(int(d) for d in hdr.get_data_shape())
        dtype = np.dtype(hdr.get_data_dtype())
        offset = int(hdr.get_data_offset())
        zooms = np.asarray(hdr.get_zooms()[:3], dtype=np.float64)
        aff = np.asarray(hdr.get_best_affine(), dtype=np.float64)
    except (ValueError, TypeError, OverflowError, KeyError, HeaderDataError) as exc:
        raise UploadError(422, f"file: invalid NIfTI header ({redact_paths(str(exc))})") from None
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
    if dtype.kind not in "biuf" or dtype.fields is not None:
        raise UploadError(422, f"file: unsupported voxel type {dtype}")
    n_vox = shape[0] * shape[1] * shape[2]
    nbytes = n_vox * dtype.itemsize
    if n_vox > MAX_VOXELS or nbytes > settings.max_unzipped_bytes:
        raise UploadError(
            422, f"file: volume of {n_vox:,} voxels × {dtype.itemsize} bytes "
            f"({nbytes / 2**20:,.0f} MB) exceeds the limit of {MAX_VOXELS:,} voxels and "
            f"{settings.max_unzipped_mb} MB decoded")
    if not np.all(np.isfinite(zooms)) or np.any(zooms <= 0) or np.any(zooms > 20):
        raise UploadError(422, f"file: implausible voxel size {zooms.tolist()} mm")
    if not np.all(np.isfinite(aff)) or abs(np.linalg.det(aff[:3, :3])) < 1e-9:
        raise UploadError(422, "file: the NIfTI affine is not a valid (invertible) matrix")
    slope, inter = (getattr(hdr, "get_slope_inter", lambda: (None, None))())
    for name, v in (("scl_slope", slope), ("scl_inter", inter)):
        if v is not None and not np.isfinite(v):
            raise UploadError(422, f"file: header {name} is {v} (not finite)")
    return shape, dtype, offset


MAX_HEADER_BYTES = 64 * 2**20  # vox_offset: header plus extensions


def _skip(f: Any, n: int) -> None:
    while n > 0:  # in pieces: a huge vox_offset must not become one huge read
        got = f.read(min(CHUNK, n))
        if not got:
            return
        n -= len(got)


def _scan_data(path: Path, dtype: Any, offset: int,
               nbytes: int) -> tuple[int, int, float, float]:
    """Stream the voxel data once: (bytes missing, non-finite count, min, max)."""
    import numpy as np

    opener = gzip.open if path.suffix == ".gz" else open
    size = dtype.itemsize
    step = DATA_CHUNK - DATA_CHUNK % size
    bad, lo, hi, left = 0, float("inf"), float("-inf"), nbytes
    with opener(path, "rb") as f:
        _skip(f, offset)
        while left > 0:
            chunk = f.read(min(step, left))  # never more than the header promises
            if not chunk:
                break
            left -= len(chunk)
            arr = np.frombuffer(chunk[: len(chunk) - len(chunk) % size], dtype=dtype)
            if not arr.size:
                continue
            if dtype.kind == "f":
                bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
                if bad:
                    break
            lo, hi = min(lo, float(arr.min())), max(hi, float(arr.max()))
    return left, bad, lo, hi


def _check_nifti(path: Path, settings: Settings) -> tuple[int, ...]:
    """Header checks, then a streamed read of the data (bounded memory, capped length)."""
    shape, dtype, offset = _check_header(_read_header(path), settings)
    if offset > MAX_HEADER_BYTES:
        raise UploadError(422, f"file: NIfTI data offset {offset:,} bytes is implausible "
                          f"(more than {MAX_HEADER_BYTES // 2**20} MB of header extensions)")
    nbytes = shape[0] * shape[1] * shape[2] * dtype.itemsize
    try:
        left, bad, lo, hi = _scan_data(path, dtype, offset, nbytes)
    except (OSError, EOFError, zlib.error) as exc:
        raise UploadError(422, f"file: image data could not be read "
                          f"({redact_paths(str(exc))})") from None
    if bad:
        raise UploadError(
            422, "file: the volume holds NaN or infinite voxel values; volumes with any "
            "non-finite voxel are refused (re-export the image with finite values)")
    if left > 0:
        raise UploadError(
            422, f"file: image data truncated ({nbytes - left:,} of {nbytes:,} bytes present)")
    if lo == hi:
        raise UploadError(422, f"file: constant volume (every voxel = {lo:g}): no image content")
    return shape


def _stage_dicom_zip(raw: Path, folder: Path, settings: Settings) -> Staged:
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
        per_file = settings.max_dim**2 * 4 + DICOM_HEADER_SLACK  # one single-frame slice
        for i, m in enumerate(members):  # decided from the central directory, before reading
            if m.file_size > per_file:
                raise UploadError(
                    413, f"file: zip member {i + 1} unpacks to {m.file_size / 2**20:,.0f} MB, "
                    f"more than a {settings.max_dim}×{settings.max_dim} DICOM slice can hold "
                    f"({per_file / 2**20:,.0f} MB)")
        out_dir = folder / "dicom"
        out_dir.mkdir()
        series: set[str] = set()
        shape: tuple[int, ...] = ()
        for i, m in enumerate(members):
            # member names are never used as paths (no traversal); sizes are re-checked as read
            target = out_dir / f"{i:05d}.dcm"
            _extract_capped(zf, m, target, per_file, i)
            ds = _dicom_header(target, m, i)
            series.add(str(ds.SeriesInstanceUID))
            if len(series) > 1:
                raise UploadError(422, "file: the zip holds more than one DICOM series")
            shape = (int(ds.Rows), int(ds.Columns))
        n = len(members)
        if n < settings.min_dim:
            raise UploadError(
                422, f"file: only {n} DICOM slices; at least {settings.min_dim} are needed"
            )
        if max(shape) > settings.max_dim or min(shape) < settings.min_dim:
            raise UploadError(422, f"file: DICOM image size {list(shape)} outside accepted range")
        if n * shape[0] * shape[1] > MAX_VOXELS:
            raise UploadError(422, f"file: {n} slices of {shape[0]}×{shape[1]} exceed the limit "
                              f"of {MAX_VOXELS:,} voxels")
        return Staged(folder, "dicom", "", 0, (*shape, n), n_files=n)


def _extract_capped(zf: zipfile.ZipFile, m: zipfile.ZipInfo, target: Path, cap: int,
                    i: int) -> None:
    """Stream one member to disk, refusing it as soon as it passes ``cap`` bytes."""
    written = 0
    try:
        with zf.open(m) as src, target.open("wb") as out:
            while chunk := src.read(CHUNK):
                written += len(chunk)
                if written > cap:
                    raise UploadError(413, f"file: zip member {i + 1} unpacks beyond its "
                                      "declared size limit")
                out.write(chunk)
    except (zipfile.BadZipFile, OSError, RuntimeError, EOFError, zlib.error) as exc:
        raise UploadError(422, f"file: zip member {i + 1} is corrupt "
                          f"({redact_paths(str(exc))})") from None


def _dicom_header(path: Path, m: zipfile.ZipInfo, i: int) -> Any:
    """Parse one slice's header (no pixel data); it must be a 3-D-positioned DICOM image."""
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:  # pydicom raises many types on garbage: all mean "not DICOM"
        raise UploadError(
            422, f"file: zip member {i + 1} ({Path(m.filename).name!r}) is not DICOM"
        ) from None
    if getattr(ds, "SeriesInstanceUID", None) is None or getattr(ds, "Rows", None) is None:
        raise UploadError(
            422, f"file: zip member {i + 1} is not a DICOM image (no series or rows)"
        )
    if getattr(ds, "ImagePositionPatient", None) is None:
        raise UploadError(
            422, f"file: zip member {i + 1} has no ImagePositionPatient (not 3-D MRI)"
        )
    return ds
