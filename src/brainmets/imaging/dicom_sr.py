"""DICOM SR measurement report (TID 1500, Comprehensive 3D SR) of reviewed lesions, written with
highdicom and checked by reading it back.

One measurement group (TID 1501) per lesion: tracking identifier (the review id, e.g. ``L1``),
finding type neoplasm, finding site brain, the RANO-BM longest axial diameter (SCT "Long axis"),
the perpendicular diameter (SCT "Short axis") and the volume, each where known. The person
observer is the clinician who reviewed the lesions; the device observer is brainmets.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from brainmets.errors import BrainmetsError

MILLILITRE = ("ml", "UCUM", "mL")
PROCEDURE = ("24590-2", "LN", "MR Brain")  # LOINC code of the reported procedure


class SRError(BrainmetsError, ValueError):
    """The report cannot be written (names what is missing)."""


def _person_name(name: str) -> str:
    """A DICOM person name (a single component gets its trailing caret)."""
    name = (name or "unknown").strip()
    return name if "^" in name else name + "^"


def _group(les: dict[str, Any]) -> Any:
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    ms = []
    for key, name, unit in (("diameter_mm", codes.SCT.LongAxis, codes.UCUM.Millimeter),
                            ("perpendicular_diameter_mm", codes.SCT.ShortAxis,
                             codes.UCUM.Millimeter),
                            ("volume_ml", codes.SCT.Volume, hd.sr.CodedConcept(*MILLILITRE))):
        if les.get(key) is not None:
            ms.append(hd.sr.Measurement(name=name, value=float(les[key]), unit=unit))
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(),
                                                     identifier=str(les["id"])),
        finding_type=codes.SCT.Neoplasm,
        finding_sites=[hd.sr.FindingSite(anatomic_location=codes.SCT.Brain)],
        measurements=ms,
    )


def write_measurement_report(
    path: str | Path,
    source: Sequence[Any],
    lesions: Sequence[dict[str, Any]],
    observer: str,
    software: str = "",
) -> dict[str, Any]:
    """TID 1500 report of ``lesions`` (``{"id", "diameter_mm", "perpendicular_diameter_mm",
    "volume_ml"}``) measured on the DICOM series ``source``; returns UIDs and the read-back."""
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    if not source:
        raise SRError("source: no DICOM images (the measurement report needs DICOM input)")
    if not lesions:
        raise SRError("lesions: none confirmed or added; review the lesions first")
    person = hd.sr.ObserverContext(
        observer_type=codes.DCM.Person,
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
            name=_person_name(observer)))
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(), name="brainmets", model_name=f"brainmets {software}".strip()))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_person_context=person,
                                                     observer_device_context=device),
        procedure_reported=hd.sr.CodedConcept(*PROCEDURE),
        imaging_measurements=[_group(les) for les in lesions],
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=_with_type2(source), content=report, series_instance_uid=generate_uid(),
        series_number=9903, sop_instance_uid=generate_uid(), instance_number=1,
        manufacturer="brainmets", is_complete=True,
        series_description="brainmets lesion measurements (research use)",
    )
    sr.save_as(str(path), enforce_file_format=True)
    back = read_back(path)
    if back["tracking_ids"] != [str(les["id"]) for les in lesions]:
        raise SRError("SR check failed: measurement groups differ after read-back")
    return {"sop_instance_uid": str(sr.SOPInstanceUID), **back}


# type-2 patient/study attributes the SR copies from its evidence (present, maybe empty)
TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
         "ReferringPhysicianName", "AccessionNumber", "StudyID")


def _with_type2(source: Sequence[Any]) -> list[Any]:
    """Shallow copies of the source datasets with every TYPE2 attribute present (empty when
    the series lacks it), so a sparse series still yields a valid report."""
    import copy

    out = []
    for ds in source:
        c = copy.copy(ds)
        for kw in TYPE2:
            if kw not in c:
                setattr(c, kw, "")
        out.append(c)
    return out


def read_back(path: str | Path) -> dict[str, Any]:
    """Read the report back with highdicom: tracking ids and measurements per group."""
    import highdicom as hd

    sr = hd.sr.srread(str(path))
    report = hd.sr.MeasurementReport.from_sequence([sr])
    groups = report.get_image_measurement_groups()
    out: dict[str, Any] = {"template": sr.ContentTemplateSequence[0].TemplateIdentifier,
                           "tracking_ids": [], "measurements": {}}
    for g in groups:
        tid = g.tracking_identifier
        out["tracking_ids"].append(tid)
        out["measurements"][tid] = {m.name.meaning: (float(m.value), m.unit.value)
                                    for m in g.get_measurements()}
    return out
