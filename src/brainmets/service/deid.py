"""De-identification of data leaving the system for roles that must not see identities.

Records: the hospital identifier and display name are removed; ages above 89 are reported as 90
(HIPAA Safe Harbor aggregation); registry dates become days relative to the first time point.
DICOM: the DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile, implemented for
the attributes our outputs carry: identifying attributes removed or emptied, private tags
removed, UIDs replaced by new UIDs derived (one-way) from the originals and a per-install salt
so references inside a file stay consistent, and PatientIdentityRemoved/DeidentificationMethod
set. (Not a certified de-identification tool; the profile's full attribute table is larger.)
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

AGE_CAP = 90  # HIPAA Safe Harbor: ages over 89 aggregated into one category

# (keyword, action): "Z" empty, "X" remove  (subset of PS3.15 Table E.1-1 relevant here)
_DICOM_ACTIONS: dict[str, str] = {
    "PatientName": "Z", "PatientID": "Z", "PatientBirthDate": "Z", "PatientSex": "Z",
    "PatientAge": "X", "PatientBirthTime": "X", "OtherPatientIDs": "X",
    "OtherPatientNames": "X", "OtherPatientIDsSequence": "X", "PatientAddress": "X",
    "PatientTelephoneNumbers": "X", "PatientMotherBirthName": "X", "EthnicGroup": "X",
    "MedicalRecordLocator": "X", "PatientComments": "X", "PatientSize": "X", "PatientWeight": "X",
    "AccessionNumber": "Z", "StudyID": "Z", "StudyDate": "Z", "StudyTime": "Z",
    "SeriesDate": "X", "SeriesTime": "X", "ContentDate": "Z", "ContentTime": "Z",
    "AcquisitionDate": "X", "AcquisitionTime": "X", "AcquisitionDateTime": "X",
    "InstanceCreationDate": "X", "InstanceCreationTime": "X",
    "ReferringPhysicianName": "Z", "PerformingPhysicianName": "X", "OperatorsName": "X",
    "NameOfPhysiciansReadingStudy": "X", "PhysiciansOfRecord": "X",
    "InstitutionName": "X", "InstitutionAddress": "X", "InstitutionalDepartmentName": "X",
    "StationName": "X", "DeviceSerialNumber": "X", "StudyDescription": "X",
    "SeriesDescription": "X", "RequestingPhysician": "X", "RequestAttributesSequence": "X",
    "AdmittingDiagnosesDescription": "X", "AdditionalPatientHistory": "X",
    "IssuerOfPatientID": "X", "FrameComments": "X", "ImageComments": "X",
}
_KEEP_UIDS = {"SOPClassUID", "ReferencedSOPClassUID", "TransferSyntaxUID",
              "MediaStorageSOPClassUID", "ImplementationClassUID", "CodingSchemeUID",
              "ContextUID", "MappingResourceUID"}


def record(rec: dict[str, Any]) -> dict[str, Any]:
    """A de-identified copy of a CONTRACT §1 record."""
    out = copy.deepcopy(rec)
    out.pop("id", None)
    age = out.get("age")
    if isinstance(age, int | float) and age > AGE_CAP - 1:
        out["age"] = AGE_CAP
    return out


def _new_uid(uid: str, salt: str) -> str:
    digest = int(hashlib.sha256(f"{salt}:{uid}".encode()).hexdigest()[:30], 16)
    return f"2.25.{digest}"


def dicom(ds: Any, salt: str) -> Any:
    """De-identify a pydicom Dataset in place (and return it)."""
    ds.remove_private_tags()

    def visit(d: Any) -> None:
        for elem in list(d):
            kw = elem.keyword
            action = _DICOM_ACTIONS.get(kw)
            if action == "X":
                del d[elem.tag]
                continue
            if action == "Z":
                elem.value = None if elem.VR == "SQ" else ""
                continue
            if elem.VR == "SQ":
                for item in elem.value:
                    visit(item)
            elif elem.VR == "UI" and kw not in _KEEP_UIDS and elem.value:
                if elem.VM > 1:
                    elem.value = [_new_uid(str(v), salt) for v in elem.value]
                else:
                    elem.value = _new_uid(str(elem.value), salt)

    visit(ds)
    if "MediaStorageSOPInstanceUID" in getattr(ds, "file_meta", {}):
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = (
        "PS3.15 E.1 Basic Profile (brainmets subset)"
    )
    return ds
