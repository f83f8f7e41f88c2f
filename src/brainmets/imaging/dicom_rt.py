"""DICOM RT Structure Set of reviewed lesions, for radiotherapy planning (DICOM input only).

One ROI per lesion, one CLOSED_PLANAR contour per connected region of the lesion in each source
slice, traced on the label map (iso-line at 0.5 between voxel centres, ``contourpy``) and placed
in DICOM patient coordinates (LPS mm) on the source slice it lies in. Written with pydicom and
checked by reading it back (:func:`read_back`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from brainmets.errors import BrainmetsError

RT_STRUCT_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
COPIED = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID",
          "StudyDate", "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName")
COLOURS = [[255, 0, 0], [0, 160, 255], [255, 200, 0], [0, 200, 80], [200, 0, 255],
           [255, 120, 0]]


class RTStructError(BrainmetsError, ValueError):
    """The structure set cannot be written (names what is missing)."""


def _slice_geometry(source: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    """Source slices sorted along the slice normal, and each slice's position on it."""
    iop = np.array(source[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    pos = np.array([float(np.dot(normal, np.array(ds.ImagePositionPatient, dtype=float)))
                    for ds in source])
    order = np.argsort(pos)
    return normal, pos[order], [source[i] for i in order]


def _contours_world(mask2d: np.ndarray, k: int, affine: np.ndarray) -> list[np.ndarray]:
    """Closed iso-lines (0.5) of one label-map slice, in world RAS mm."""
    import contourpy

    padded = np.pad(mask2d.astype(float), 1)
    out = []
    for line in contourpy.contour_generator(z=padded).lines(0.5):
        pts = np.asarray(line, dtype=float)
        if len(pts) < 4:
            continue
        # contourpy: x = second array axis (j), y = first (i); minus the padding
        ijk = np.column_stack([pts[:, 1] - 1, pts[:, 0] - 1, np.full(len(pts), float(k))])
        world = ijk @ affine[:3, :3].T + affine[:3, 3]
        if np.allclose(world[0], world[-1]):
            world = world[:-1]  # CLOSED_PLANAR: the last point joins the first implicitly
        out.append(world)
    return out


def _contour_items(mask: np.ndarray, affine: np.ndarray, normal: np.ndarray,
                   positions: np.ndarray, slices: list[Any]) -> list[Any]:
    from pydicom.dataset import Dataset

    items = []
    # the label map is on the source grid: its third axis runs along the slice normal
    col = affine[:3, 2] * np.array([-1.0, -1.0, 1.0])  # RAS -> LPS
    if abs(float(np.dot(col / np.linalg.norm(col), normal))) < 0.99:
        raise RTStructError("labels: the label map is not on the source slice grid")
    for k in np.nonzero(mask.any(axis=(0, 1)))[0]:
        for world in _contours_world(mask[:, :, k], int(k), affine):
            lps = world * np.array([-1.0, -1.0, 1.0])
            s = int(np.argmin(np.abs(positions - float(np.dot(normal, lps.mean(axis=0))))))
            ref = Dataset()
            ref.ReferencedSOPClassUID = slices[s].SOPClassUID
            ref.ReferencedSOPInstanceUID = slices[s].SOPInstanceUID
            c = Dataset()
            c.ContourImageSequence = [ref]
            c.ContourGeometricType = "CLOSED_PLANAR"
            c.NumberOfContourPoints = len(lps)
            c.ContourData = [round(float(v), 3) for v in lps.ravel()]
            items.append(c)
    return items


def _header(source: Sequence[Any], software: str) -> Any:
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(RT_STRUCT_STORAGE)
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("", {}, file_meta=meta, preamble=b"\0" * 128)
    ref = source[0]
    for kw in COPIED:
        setattr(ds, kw, getattr(ref, kw, ""))
    now = dt.datetime.now(dt.UTC)
    ds.SOPClassUID, ds.SOPInstanceUID = RT_STRUCT_STORAGE, meta.MediaStorageSOPInstanceUID
    ds.Modality = "RTSTRUCT"
    ds.SeriesInstanceUID, ds.SeriesNumber, ds.InstanceNumber = generate_uid(), 9902, 1
    ds.SeriesDescription = "brainmets reviewed lesions (research use)"
    ds.Manufacturer, ds.SoftwareVersions = "brainmets", software
    ds.StructureSetLabel = "BM lesions"
    ds.StructureSetDate, ds.StructureSetTime = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    ds.InstanceCreationDate, ds.InstanceCreationTime = ds.StructureSetDate, ds.StructureSetTime
    ds.OperatorsName = ""
    return ds


def _references(ds: Any, frame_uid: str, slices: list[Any]) -> None:
    from pydicom.dataset import Dataset

    images = []
    for sl in slices:
        r = Dataset()
        r.ReferencedSOPClassUID, r.ReferencedSOPInstanceUID = sl.SOPClassUID, sl.SOPInstanceUID
        images.append(r)
    series = Dataset()
    series.SeriesInstanceUID = slices[0].SeriesInstanceUID
    series.ContourImageSequence = images
    study = Dataset()
    study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"  # Detached Study Management
    study.ReferencedSOPInstanceUID = slices[0].StudyInstanceUID
    study.RTReferencedSeriesSequence = [series]
    fr = Dataset()
    fr.FrameOfReferenceUID = frame_uid
    fr.RTReferencedStudySequence = [study]
    ds.ReferencedFrameOfReferenceSequence = [fr]


def write_rtstruct(
    path: str | Path,
    source: Sequence[Any],
    labels: np.ndarray,
    affine: np.ndarray,
    lesions: Sequence[dict[str, Any]],
    software: str = "",
) -> dict[str, Any]:
    """RT Structure Set with one ROI per lesion. ``labels``: label map (value = lesion's
    ``label``) with its NIfTI ``affine`` (RAS); ``source``: the DICOM slices it was made from;
    ``lesions``: ``{"id": "L1", "label": 1, "name": ...}``. Returns UIDs and ROI names."""
    from pydicom.dataset import Dataset

    if not source:
        raise RTStructError("source: no DICOM slices (an RT Structure Set needs DICOM input)")
    frame_uid = getattr(source[0], "FrameOfReferenceUID", None)
    if not frame_uid:
        raise RTStructError("source: the DICOM series has no FrameOfReferenceUID")
    normal, positions, slices = _slice_geometry(source)
    ds = _header(slices, software)
    ds.FrameOfReferenceUID = frame_uid
    ds.PositionReferenceIndicator = getattr(slices[0], "PositionReferenceIndicator", "")
    _references(ds, frame_uid, slices)
    rois, contours, observations = [], [], []
    for n, les in enumerate(lesions, start=1):
        items = _contour_items(labels == int(les["label"]), affine, normal, positions, slices)
        if not items:
            raise RTStructError(f"lesion {les['id']}: no voxel in the label map")
        roi = Dataset()
        roi.ROINumber, roi.ReferencedFrameOfReferenceUID = n, frame_uid
        roi.ROIName = str(les.get("name") or f"BM {les['id']}")[:64]
        roi.ROIGenerationAlgorithm = "SEMIAUTOMATIC"
        rois.append(roi)
        rc = Dataset()
        rc.ReferencedROINumber, rc.ROIDisplayColor = n, COLOURS[(n - 1) % len(COLOURS)]
        rc.ContourSequence = items
        contours.append(rc)
        ob = Dataset()
        ob.ObservationNumber, ob.ReferencedROINumber = n, n
        ob.ROIObservationLabel = roi.ROIName
        ob.RTROIInterpretedType = ""  # left to the planner (no target type is claimed)
        ob.ROIInterpreter = ""
        observations.append(ob)
    ds.StructureSetROISequence = rois
    ds.ROIContourSequence = contours
    ds.RTROIObservationsSequence = observations
    ds.save_as(str(path), enforce_file_format=True)
    back = read_back(path)
    if back["roi_names"] != [r.ROIName for r in rois]:
        raise RTStructError("RT Structure Set check failed: ROIs differ after read-back")
    return {"sop_instance_uid": str(ds.SOPInstanceUID), **back}


def read_back(path: str | Path) -> dict[str, Any]:
    """Read an RT Structure Set back with pydicom: ROI names, contours per ROI, and whether
    every contour references a slice of the structure set's referenced series."""
    import pydicom

    ds = pydicom.dcmread(str(path))
    if ds.SOPClassUID != RT_STRUCT_STORAGE or ds.Modality != "RTSTRUCT":
        raise RTStructError("not an RT Structure Set")
    refs = {img.ReferencedSOPInstanceUID
            for fr in ds.ReferencedFrameOfReferenceSequence
            for st in fr.RTReferencedStudySequence
            for se in st.RTReferencedSeriesSequence for img in se.ContourImageSequence}
    n_contours, ok = [], True
    for rc in ds.ROIContourSequence:
        n_contours.append(len(rc.ContourSequence))
        for c in rc.ContourSequence:
            ok &= c.ContourImageSequence[0].ReferencedSOPInstanceUID in refs
            ok &= len(c.ContourData) == 3 * int(c.NumberOfContourPoints)
    return {"roi_names": [r.ROIName for r in ds.StructureSetROISequence],
            "contours_per_roi": n_contours, "references_ok": bool(ok)}
