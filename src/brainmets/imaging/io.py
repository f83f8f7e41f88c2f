"""Reading scans: a NIfTI file or a folder holding one DICOM series -> :class:`Volume`.

Every problem with the input raises :class:`ImagingInputError` with a message that names it
(2-D / 4-D data, empty or constant volumes, NaN/Inf, absurd voxel sizes, several series in one
folder, non-image or truncated files, files beyond the size limit).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from brainmets.imaging.volume import ImagingInputError, Volume

MAX_INPUT_BYTES = int(os.environ.get("BRAINMETS_MAX_INPUT_BYTES", str(2 * 1024**3)))
MAX_VOXELS = 600_000_000
MIN_VOXEL_MM = 0.05
MAX_VOXEL_MM = 20.0
MIN_SHAPE = 4  # fewer voxels than this along an axis is not a 3-D volume


def load_volume(path: str | os.PathLike[str]) -> Volume:
    """Load a scan; a directory is read as one DICOM series, a file as NIfTI."""
    p = Path(path)
    if not p.exists():
        raise ImagingInputError(f"input: no such file or folder: {p}")
    if p.is_dir():
        vol = _load_dicom_dir(p)
    else:
        vol = _load_nifti(p)
    check_volume(vol)
    return vol


def check_volume(vol: Volume) -> None:
    """Validate array and affine; raise :class:`ImagingInputError` naming the first problem."""
    data, aff, src = vol.data, vol.affine, vol.source
    if data.ndim != 3:
        raise ImagingInputError(f"{src}: expected a 3-D volume, got {data.ndim}-D data")
    if data.size == 0:
        raise ImagingInputError(f"{src}: empty volume (shape {list(data.shape)})")
    if min(data.shape) < MIN_SHAPE:
        raise ImagingInputError(
            f"{src}: shape {list(data.shape)} is a 2-D image or a slab, not a 3-D volume "
            f"(need at least {MIN_SHAPE} voxels along every axis)"
        )
    bad = ~np.isfinite(data)
    if bad.any():
        raise ImagingInputError(f"{src}: {int(bad.sum())} voxels are NaN or infinite")
    lo, hi = float(data.min()), float(data.max())
    if hi - lo <= 1e-6 * max(1.0, abs(hi)):
        raise ImagingInputError(f"{src}: constant volume (every voxel = {lo:g}): no image content")
    if aff.shape != (4, 4) or not np.isfinite(aff).all():
        raise ImagingInputError(f"{src}: invalid affine (orientation/position) matrix")
    if abs(np.linalg.det(aff[:3, :3])) < 1e-9:
        raise ImagingInputError(f"{src}: singular affine: the voxel axes are degenerate")
    sp = np.sqrt((aff[:3, :3] ** 2).sum(axis=0))
    if (sp < MIN_VOXEL_MM).any() or (sp > MAX_VOXEL_MM).any():
        raise ImagingInputError(
            f"{src}: absurd voxel size {[round(float(s), 4) for s in sp]} mm "
            f"(allowed {MIN_VOXEL_MM}-{MAX_VOXEL_MM} mm)"
        )


# ----------------------------------------------------------------------------- NIfTI


def _load_nifti(p: Path) -> Volume:
    import nibabel as nib

    size = p.stat().st_size
    if size > MAX_INPUT_BYTES:
        raise ImagingInputError(
            f"{p}: file is {size / 1e9:.2f} GB, above the {MAX_INPUT_BYTES / 1e9:.2f} GB limit "
            "(set BRAINMETS_MAX_INPUT_BYTES to raise it)"
        )
    name = p.name.lower()
    if not (name.endswith(".nii") or name.endswith(".nii.gz")):
        if _looks_like_dicom(p):
            raise ImagingInputError(
                f"{p}: a single DICOM file; pass the folder holding the whole series instead"
            )
        raise ImagingInputError(
            f"{p}: not a NIfTI file (.nii/.nii.gz) nor a folder of DICOM files"
        )
    try:
        img: Any = nib.load(str(p))
    except Exception as exc:  # nibabel raises several types for bad headers
        raise ImagingInputError(f"{p}: not a readable NIfTI file ({_short(exc)})") from None
    shape = tuple(int(s) for s in img.shape)
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) < 3:
        raise ImagingInputError(
            f"{p}: expected a 3-D volume, got {len(shape)}-D data {list(shape)}"
        )
    if len(shape) > 3:
        raise ImagingInputError(
            f"{p}: expected a 3-D volume, got {len(shape)}-D data {list(shape)} "
            "(a time series or multi-channel image; extract one volume first)"
        )
    if int(np.prod(shape)) > MAX_VOXELS:
        raise ImagingInputError(
            f"{p}: {int(np.prod(shape))} voxels is above the limit {MAX_VOXELS}"
        )
    dtype = img.header.get_data_dtype()
    if dtype.kind == "c" or dtype.fields is not None:
        raise ImagingInputError(f"{p}: complex or RGB voxel type {dtype} is not a magnitude image")
    try:
        data = np.asarray(img.dataobj, dtype=np.float32).reshape(shape)
    except Exception as exc:  # nibabel/zlib raise many types on truncated data: one message
        raise ImagingInputError(f"{p}: truncated or corrupt image data ({_short(exc)})") from None
    aff = np.asarray(img.affine, dtype=np.float64)
    return Volume(data=np.ascontiguousarray(data), affine=aff, source=str(p), kind="nifti")


def _short(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return msg[:160]


def load_nifti_array(
    path: str | os.PathLike[str], what: str, ndim: tuple[int, ...] = (3, 4)
) -> tuple[np.ndarray, np.ndarray, Any]:
    """A NIfTI map or series (DWI, DSC: last axis = volume/time) as (float32 array, affine,
    header); errors are :class:`ImagingInputError` naming ``what`` (added for diagnosis)."""
    import nibabel as nib

    p = Path(path)
    if not p.exists():
        raise ImagingInputError(f"{what}: no such file: {p}")
    if p.is_dir():
        raise ImagingInputError(f"{what}: is a directory, expected a NIfTI file: {p}")
    if p.stat().st_size > MAX_INPUT_BYTES:
        raise ImagingInputError(f"{what}: {p} is above the {MAX_INPUT_BYTES / 1e9:.2f} GB limit")
    try:
        img: Any = nib.load(str(p))
        data = np.asarray(img.dataobj, dtype=np.float32)
    except Exception as exc:  # nibabel raises many types for corrupt files
        raise ImagingInputError(f"{what}: cannot read NIfTI {p}: {_short(exc)}") from None
    while data.ndim > max(ndim) and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim == 4 and 4 not in ndim and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim not in ndim:
        want = " or ".join(f"{n}-D" for n in ndim)
        raise ImagingInputError(f"{what}: expected a {want} image, got shape {data.shape}")
    if not np.all(np.isfinite(img.affine)):
        raise ImagingInputError(f"{what}: the image affine is not finite")
    return data, np.asarray(img.affine, dtype=np.float64), img.header


def nifti_gz_bytes(array: np.ndarray, affine: np.ndarray) -> bytes:
    """A float32 map as the bytes of a ``.nii.gz`` file (mm, s units), for atomic writes."""
    import gzip

    import nibabel as nib

    img = nib.Nifti1Image(np.asarray(array, dtype=np.float32), affine)
    img.header.set_xyzt_units("mm", "sec")
    return gzip.compress(img.to_bytes(), compresslevel=6)


def _looks_like_dicom(p: Path) -> bool:
    try:
        with open(p, "rb") as fh:
            head = fh.read(132)
        return len(head) == 132 and head[128:132] == b"DICM"
    except OSError:
        return False


# ----------------------------------------------------------------------------- DICOM


def _dicom_headers(folder: Path) -> tuple[list, list[str]]:
    """(file, header) of every DICOM image file under ``folder``; names of skipped files."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    files = sorted(
        f for f in folder.rglob("*") if f.is_file() and not f.name.startswith(".")
        and f.name.upper() != "DICOMDIR"
    )
    if not files:
        raise ImagingInputError(f"{folder}: empty folder (no DICOM files)")
    total = sum(f.stat().st_size for f in files)
    if total > MAX_INPUT_BYTES:
        raise ImagingInputError(
            f"{folder}: {total / 1e9:.2f} GB of files, above the {MAX_INPUT_BYTES / 1e9:.2f} GB "
            "limit (set BRAINMETS_MAX_INPUT_BYTES to raise it)"
        )
    headers = []
    skipped: list[str] = []
    for f in files:
        try:
            ds = pydicom.dcmread(str(f), stop_before_pixels=True)
        except (InvalidDicomError, OSError, EOFError, ValueError, TypeError, AttributeError):
            skipped.append(f.name)
            continue
        except Exception:  # pydicom can raise assorted errors on garbage
            skipped.append(f.name)
            continue
        if "PixelData" not in ds and not hasattr(ds, "Rows"):
            skipped.append(f.name)
            continue
        headers.append((f, ds))
    if not headers:
        raise ImagingInputError(
            f"{folder}: no DICOM image files found ({len(skipped)} non-image or unreadable "
            "file(s), e.g. " + ", ".join(skipped[:3]) + ")"
        )
    return headers, skipped


def _one_series(folder: Path, headers: list) -> list:
    series: dict[str, list] = {}
    for f, ds in headers:
        series.setdefault(str(getattr(ds, "SeriesInstanceUID", "?")), []).append((f, ds))
    if len(series) > 1:
        desc = [
            f"{uid} ({len(v)} files"
            + (f", '{v[0][1].SeriesDescription}'" if "SeriesDescription" in v[0][1] else "")
            + ")"
            for uid, v in series.items()
        ]
        raise ImagingInputError(
            f"{folder}: {len(series)} DICOM series in one folder; put one series per folder: "
            + "; ".join(desc[:5])
        )
    items = next(iter(series.values()))
    ds0 = items[0][1]
    frames = int(getattr(ds0, "NumberOfFrames", 1) or 1)
    if frames > 1:
        raise ImagingInputError(
            f"{folder}: multi-frame (enhanced) DICOM is not supported; export the series as "
            "single-frame files or NIfTI"
        )
    if len(items) < MIN_SHAPE:
        raise ImagingInputError(
            f"{folder}: only {len(items)} slice(s): a 2-D image, not a 3-D volume "
            f"(need at least {MIN_SHAPE} slices)"
        )
    return items


def _slice_geometry(folder: Path, items: list) -> tuple[list, np.ndarray, np.ndarray, np.ndarray]:
    """Check the slices form one regular stack; (items sorted along the normal, row direction,
    column direction, slice positions)."""
    ds0 = items[0][1]
    for f, ds in items:
        for tag in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"):
            if tag not in ds:
                raise ImagingInputError(f"{f}: missing DICOM attribute {tag}")
    iop = np.array([float(v) for v in ds0.ImageOrientationPatient], dtype=np.float64)
    if iop.shape != (6,):
        raise ImagingInputError(f"{items[0][0]}: ImageOrientationPatient must have 6 values")
    for f, ds in items:
        other = np.array([float(v) for v in ds.ImageOrientationPatient])
        if other.shape != (6,) or np.abs(other - iop).max() > 1e-3:
            raise ImagingInputError(f"{f}: slice orientation differs from the rest of the series")
        if (int(ds.Rows), int(ds.Columns)) != (int(ds0.Rows), int(ds0.Columns)):
            raise ImagingInputError(f"{f}: slice size differs from the rest of the series")
    row_dir, col_dir = iop[:3], iop[3:]
    normal = np.cross(row_dir, col_dir)
    if np.linalg.norm(normal) < 0.5:
        raise ImagingInputError(f"{items[0][0]}: degenerate ImageOrientationPatient")
    normal /= np.linalg.norm(normal)
    pos = np.array([[float(v) for v in ds.ImagePositionPatient] for _, ds in items])
    order = np.argsort(pos @ normal, kind="stable")
    items = [items[i] for i in order]
    pos = pos[order]
    proj = pos @ normal
    steps = np.diff(proj)
    if (np.abs(steps) < 1e-4).any():
        raise ImagingInputError(
            f"{folder}: two or more slices share a position (duplicate slices or several "
            "acquisitions in one series)"
        )
    step = float(np.median(steps))
    if np.abs(steps - step).max() > 0.1 * abs(step) + 0.01:
        raise ImagingInputError(
            f"{folder}: irregular slice spacing ({steps.min():.3g}-{steps.max():.3g} mm): "
            "missing slices or a mixed series"
        )
    return items, row_dir, col_dir, pos


def _read_pixels(items: list) -> tuple[list[np.ndarray], list]:
    import pydicom

    slices = []
    full = []
    for f, _ in items:
        try:
            ds = pydicom.dcmread(str(f))
            arr = ds.pixel_array.astype(np.float32)
        except Exception as exc:  # pydicom / codecs raise assorted errors on damaged pixel data
            raise ImagingInputError(
                f"{f}: truncated or unreadable pixel data ({_short(exc)})"
            ) from None
        if arr.ndim != 2:
            raise ImagingInputError(f"{f}: expected one greyscale frame, got shape {arr.shape}")
        slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
        inter = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
        slices.append(arr * slope + inter)
        full.append(ds)
    return slices, full


def _load_dicom_dir(folder: Path) -> Volume:
    headers, skipped = _dicom_headers(folder)
    items = _one_series(folder, headers)
    items, row_dir, col_dir, pos = _slice_geometry(folder, items)
    ds0 = items[0][1]
    ps = [float(v) for v in ds0.PixelSpacing]  # [between rows, between columns]
    slices, full = _read_pixels(items)
    # array axes: (column index c, row index r, slice k)
    data = np.stack([s.T for s in slices], axis=-1).astype(np.float32)
    aff_lps = np.eye(4)
    aff_lps[:3, 0] = row_dir * ps[1]
    aff_lps[:3, 1] = col_dir * ps[0]
    aff_lps[:3, 2] = (pos[-1] - pos[0]) / (len(pos) - 1)
    aff_lps[:3, 3] = pos[0]
    aff = np.diag([-1.0, -1.0, 1.0, 1.0]) @ aff_lps  # LPS -> RAS
    vol = Volume(
        data=np.ascontiguousarray(data),
        affine=aff,
        source=str(folder),
        kind="dicom",
        dicom=full,
    )
    if skipped:
        vol.warnings.append(
            f"ignored {len(skipped)} non-image file(s) in the DICOM folder: "
            + ", ".join(skipped[:5])
        )
    return vol
