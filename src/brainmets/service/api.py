"""REST API under ``/api`` (fixed paths: see CONTRACT and the issue; do not rename)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Body, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from brainmets.case import Case, ResponseCache
from brainmets.model import InputError, parse_patient
from brainmets.service import core, fhir
from brainmets.service.auth import current_user, require_writer
from brainmets.service.jobs import scan_dir
from brainmets.service.records import (
    InvalidRecord,
    is_empty_record,
    patient_for,
)
from brainmets.service.scans import submit_scan, volume_path
from brainmets.store import repo
from brainmets.store.models import Patient, Scan, User

router = APIRouter(prefix="/api")


class Created(BaseModel):
    id: str = Field(description="registry id of the patient")
    warnings: list[str] = Field(default_factory=list)


class JobAccepted(BaseModel):
    job: str
    status: str


class JobStatus(BaseModel):
    job: str
    status: str = Field(description="queued | running | done | failed")
    patient_id: str
    error: str | None = None
    n_lesions: int | None = None
    links: dict[str, str] = Field(default_factory=dict)


PATIENT_BODY = Body(
    ...,
    description="A CONTRACT §1 patient record, or a FHIR R4B Bundle of Patient, Condition and "
    "Observation resources (KPS LOINC 89243-0, ECOG LOINC 89247-1).",
    examples=[{"age": 62, "kps": 80, "primary": {"site": "nsclc", "egfr": "positive"},
               "extracranial_metastases": False, "brain_metastases": {"count": 2}}],
)


def invalid_response(messages: list[str]) -> JSONResponse:
    """422 with one entry per field path (``loc`` as in FastAPI's own validation errors)."""
    detail = []
    for m in messages:
        path, _, msg = m.partition(": ")
        detail.append({"loc": ["body", *path.replace("[", ".").replace("]", "").split(".")],
                       "field": path, "msg": msg or m, "type": "value_error"})
    return JSONResponse({"detail": detail, "errors": messages}, status_code=422)


def _parse_body(data: Any) -> tuple[dict[str, Any], str | None, list[str]]:
    name = None
    notes: list[str] = []
    try:
        if fhir.is_bundle(data):
            data, name, notes = fhir.bundle_to_record(data)
        patient = parse_patient(data)
    except InputError as exc:
        raise InvalidRecord(exc.messages) from None
    warnings = notes + [f"unknown field kept but not used: {f}" for f in patient.unknown_fields()]
    record = patient.model_dump(mode="json", exclude_none=True)
    if is_empty_record({k: v for k, v in record.items() if k != "id"}):
        raise InvalidRecord(["body: empty record: give at least one clinical field (e.g. age, "
                             "kps, primary.site); an empty record creates nothing"])
    return record, name, warnings


def _cache(request: Request) -> ResponseCache | None:
    """The service's response cache (an explicit object owned by the app, see create_app)."""
    return getattr(request.app.state, "response_cache", None)


def _store(request: Request):  # noqa: ANN202
    return request.app.state.store


_get_patient = patient_for  # access check shared with the web UI


@router.get("/patients", summary="List the patients this token may read")
def list_patients(request: Request, limit: int = 100, offset: int = 0,
                  user: User = Depends(current_user)) -> list[dict[str, Any]]:
    limit, offset = max(1, min(limit, 500)), max(0, min(offset, 10**9))
    with _store(request).session() as s:
        return [core.patient_view(s, p, user) for p in
                repo.visible_patients(s, user, limit, offset)]


@router.post("/patients", status_code=201, response_model=Created,
             summary="Create a patient (CONTRACT §1 JSON or FHIR R4B Bundle)")
def create_patient(request: Request, body: dict[str, Any] = PATIENT_BODY,
                   user: User = Depends(require_writer)) -> Created:
    record, name, warnings = _parse_body(body)
    with _store(request).session() as s:
        p = repo.create_patient(s, user, record, name)
        request.state.patient_id = p.id
    return Created(id=p.id, warnings=warnings)


@router.get("/patients/{pid}", summary="One patient: record, version and scans")
def get_patient(request: Request, pid: str, user: User = Depends(current_user)) -> dict[str, Any]:
    with _store(request).session() as s:
        p = _get_patient(request, s, user, pid)
        return core.patient_view(s, p, user)


@router.put("/patients/{pid}", response_model=Created,
            summary="Replace a patient's record (CONTRACT §1 JSON or FHIR R4B Bundle)")
def put_patient(request: Request, pid: str, body: dict[str, Any] = PATIENT_BODY,
                user: User = Depends(require_writer)) -> Created:
    record, name, warnings = _parse_body(body)
    with _store(request).session() as s:
        p = _get_patient(request, s, user, pid, write=True)
        repo.update_patient(s, p, record, name)
    return Created(id=pid, warnings=warnings)


@router.get("/patients/{pid}/assessment", response_model=None,
            responses={200: {"model": Case}},
            summary="CONTRACT §2 assessment of the patient's current record (with "
            "`provisional` and the `lesions` it used, CONTRACT §5)")
def get_assessment(request: Request, pid: str,
                   user: User = Depends(current_user)) -> dict[str, Any]:
    with _store(request).session() as s:
        p = _get_patient(request, s, user, pid)
        return core.assessment(s, p, _store(request), _cache(request), core.deid_for(user))


@router.get("/patients/{pid}/response", summary="Response time line (RANO-BM when available)")
def get_response(request: Request, pid: str, user: User = Depends(current_user)) -> dict[str, Any]:
    with _store(request).session() as s:
        p = _get_patient(request, s, user, pid)
        return core.timeline(p, core.deid_for(user), _store(request), _cache(request))


@router.post("/patients/{pid}/scans", status_code=202, response_model=JobAccepted,
             summary="Upload an MRI (NIfTI or a zip of one DICOM series); starts a scan job")
def upload_scan(
    request: Request,
    pid: str,
    file: UploadFile = File(..., description="NIfTI (.nii/.nii.gz) or .zip of one DICOM series"),
    date: str | None = Form(None, description="scan date YYYY-MM-DD (default: today, UTC)"),
    steroid_mg_day: float | None = Form(None, ge=0, le=100),
    clinical_status: str | None = Form(None, pattern="^(improved|stable|worse)$"),
    user: User = Depends(require_writer),
) -> JobAccepted:
    scan_id = submit_scan(request, pid, file.file, date, steroid_mg_day, clinical_status, user)
    return JobAccepted(job=scan_id, status="queued")


@router.get("/jobs/{job}", response_model=JobStatus, summary="Status of a scan job")
def get_job(request: Request, job: str, user: User = Depends(current_user)) -> JobStatus:
    with _store(request).session() as s:
        scan = s.get(Scan, job) if len(job) <= 32 else None
        if scan is None:
            raise HTTPException(404, "no such job")
        p = _get_patient(request, s, user, scan.patient_id)
        view = core.scan_view(scan, None, core.deid_for(user))
        return JobStatus(job=scan.id, status=scan.status, patient_id=p.id,
                         error=scan.error, n_lesions=view["n_lesions"]
                         if scan.status == "done" else None, links=view["links"])


def _scan_for(request: Request, s: Any, user: User, pid: str, sid: str | None) -> Scan:
    p = _get_patient(request, s, user, pid)
    if sid is None:
        scan = repo.latest_done_scan(s, p.id)
        if scan is None:
            raise HTTPException(404, "no completed scan for this patient")
        return scan
    scan = s.get(Scan, sid) if len(sid) <= 32 else None
    if scan is None or scan.patient_id != p.id:
        raise HTTPException(404, "no such scan for this patient")
    if scan.status != "done":
        raise HTTPException(409, f"scan is {scan.status}, not done")
    return scan


FILES = {
    "lesions.nii.gz": ("out/lesions.nii.gz", "application/gzip"),
    "overlay.png": ("out/overlay.png", "image/png"),
    "lesions.json": ("out/lesions.json", "application/json"),
    "seg.dcm": ("out/seg.dcm", "application/dicom"),
}


def _send(request: Request, user: User, pid: str, sid: str | None, name: str) -> Response:
    store = _store(request)
    with store.session() as s:
        scan = _scan_for(request, s, user, pid, sid)
        folder = scan_dir(store, scan.id)
        de = core.deid_for(user)
    request.state.audit_action = "download"
    if name == "volume.nii.gz":
        path = folder / "out" / "volume.nii.gz"
        if not path.exists():
            path = folder / "input.nii.gz"
        if not path.exists():
            path = folder / "input.nii"
        if not path.exists():
            raise HTTPException(404, "no viewer volume for this scan")
        if de:
            return Response(_deid_nifti(path), media_type="application/gzip")
        media = "application/gzip" if path.suffix == ".gz" else "application/octet-stream"
        return FileResponse(path, media_type=media, filename=f"volume{''.join(path.suffixes)}")
    rel, media = FILES[name]
    path = folder / rel
    if not path.exists():
        what = "DICOM SEG (written for DICOM input only)" if name == "seg.dcm" else name
        raise HTTPException(404, f"no {what} for this scan")
    if name == "seg.dcm" and de:
        return Response(_deid_dicom(path, request), media_type=media,
                        headers={"Content-Disposition": 'attachment; filename="seg.dcm"'})
    if name == "lesions.json":
        data = json.loads(path.read_text(encoding="utf-8"))
        data.pop("input", None)
        return JSONResponse(data)
    return FileResponse(path, media_type=media, filename=name)


def _deid_dicom(path: Any, request: Request) -> bytes:
    import io

    import pydicom

    from brainmets.service import deid

    ds = pydicom.dcmread(path)
    deid.dicom(ds, request.app.state.deid_salt)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _deid_nifti(path: Any) -> bytes:
    import gzip

    import nibabel as nib

    img: Any = nib.load(str(path))
    hdr = img.header.copy()
    for key in ("descrip", "aux_file", "intent_name", "db_name"):
        if key in hdr:
            hdr[key] = b""
    out = nib.Nifti1Image(img.dataobj, img.affine, hdr)
    return gzip.compress(out.to_bytes(), compresslevel=1)


@router.get("/patients/{pid}/scans/{sid}/{name}", summary="Download one scan output",
            description="name: lesions.nii.gz (label map), volume.nii.gz (the MRI), "
            "overlay.png, lesions.json, seg.dcm (DICOM SEG, DICOM input only; de-identified "
            "for researchers)")
def download_scan_file(request: Request, pid: str, sid: str, name: str,
                       user: User = Depends(current_user)) -> Response:
    if name not in FILES and name != "volume.nii.gz":
        raise HTTPException(404, f"unknown file {name!r}")
    return _send(request, user, pid, sid, name)


@router.get("/patients/{pid}/labelmap.nii.gz", summary="Lesion label map of the latest scan")
def labelmap(request: Request, pid: str, user: User = Depends(current_user)) -> Response:
    return _send(request, user, pid, None, "lesions.nii.gz")


@router.get("/patients/{pid}/seg.dcm", summary="DICOM SEG of the latest scan (DICOM input)")
def seg(request: Request, pid: str, user: User = Depends(current_user)) -> Response:
    return _send(request, user, pid, None, "seg.dcm")


@router.get("/patients/{pid}/fhir", summary="FHIR R4B DiagnosticReport (validated)")
def get_fhir(request: Request, pid: str, user: User = Depends(current_user)) -> Response:
    from brainmets.service import deid

    with _store(request).session() as s:
        p = _get_patient(request, s, user, pid)
        de = core.deid_for(user)
        case = core.assessment(s, p, _store(request), _cache(request), de)
        rec = deid.record(p.record) if de else p.record
        # the lesions the case used (rejected ones never count), one diameter convention
        doc = fhir.diagnostic_report(p.id, rec, case, None, de, None if de else p.display_name)
    return Response(json.dumps(doc), media_type="application/fhir+json")


@router.get("/patients/{pid}/report.pdf", summary="Tumour-board PDF report",
            response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})
def report_pdf(request: Request, pid: str, user: User = Depends(current_user)) -> Response:
    from brainmets.report.pdf import render_pdf

    store = _store(request)
    with store.session() as s:
        p = _get_patient(request, s, user, pid)
        ctx = core.report_context(store, s, p, user, _cache(request))
    request.state.audit_action = "download"
    pdf = render_pdf(ctx)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="report-{pid[:8]}.pdf"'})


@router.get("/patients/{pid}/audit", summary="Audit trail of one patient (admin only)")
def patient_audit(request: Request, pid: str, user: User = Depends(current_user)) -> list[dict]:
    if user.role != "admin":
        raise HTTPException(403, "audit trail: admin only")
    with _store(request).session() as s:
        request.state.patient_id = pid if len(pid) <= 32 else None
        return [{"at": r.at.isoformat() + "Z", "user": r.user_name, "role": r.role,
                 "action": r.action, "resource": r.resource, "outcome": r.outcome,
                 "status": r.status_code, "before": r.before, "after": r.after}
                for r in repo.audit_entries(s, pid, 500)]


# ------------------------------------------------------------------ lesion review (CONTRACT §5)


def _review_call(fn: Any, *args: Any) -> Any:
    from brainmets.service.review import ReviewError

    try:
        return fn(*args)
    except ReviewError as exc:
        if exc.status == 422:
            raise InvalidRecord(exc.messages) from None
        raise HTTPException(exc.status, "; ".join(exc.messages)) from None


def _deid_lesions(lesions: list[dict[str, Any]], de: bool) -> list[dict[str, Any]]:
    if not de:
        return lesions
    return [{k: v for k, v in x.items() if k not in ("scan_date", "reviewed_at")}
            for x in lesions]


@router.get("/patients/{pid}/lesions", summary="Lesions of the current scan with review state",
            description="CONTRACT §5: the lesions of the patient's current scan (latest scan "
            "date) plus any added by hand; status detected | confirmed | rejected | added.")
def list_lesions(request: Request, pid: str,
                 user: User = Depends(current_user)) -> list[dict[str, Any]]:
    from brainmets.service import review

    with _store(request).session() as s:
        p = _get_patient(request, s, user, pid)
        _scan, lesions = review.current_lesions(s, p)
        return _deid_lesions(lesions, core.deid_for(user))


@router.patch("/patients/{pid}/lesions/{lid}", summary="Confirm, reject or correct a lesion",
              description='Body: {"status": "confirmed" | "rejected" | "detected"} and/or '
              "corrected measurements (diameter_mm = longest axial diameter, mm). Audited "
              "with the lesion's state before and after.")
def patch_lesion(request: Request, pid: str, lid: str,
                 body: dict[str, Any] = Body(..., examples=[{"status": "confirmed"}]),
                 user: User = Depends(require_writer)) -> dict[str, Any]:
    from brainmets.service import review

    patch = _validated(review.LesionPatch, body)
    with _store(request).session() as s:
        p = _get_patient(request, s, user, pid, write=True)
        request.state.audit_action = "review"
        return _review_call(review.patch_lesion, s, p, lid[:20], patch, user,
                            f"PATCH {request.url.path}")


@router.post("/patients/{pid}/lesions", status_code=201, summary="Add a lesion",
             description='Body: {"centroid_mm": [x, y, z]} (world RAS+ mm): segmented on the '
             "current scan around the seed point; or with diameter_mm (and optionally "
             "volume_ml, perpendicular_diameter_mm, location): measured by hand. Audited.")
def add_lesion(request: Request, pid: str,
               body: dict[str, Any] = Body(..., examples=[{"centroid_mm": [10.0, -20.0, 30.0]}]),
               user: User = Depends(require_writer)) -> dict[str, Any]:
    from brainmets.service import review

    add = _validated(review.LesionAdd, body)
    store = _store(request)
    with store.session() as s:
        p = _get_patient(request, s, user, pid, write=True)
        scan = repo.latest_done_scan(s, p.id)
        vol = volume_path(store, scan) if scan is not None else None
        request.state.audit_action = "review"
        return _review_call(review.add_lesion, s, p, add, user, vol,
                            f"POST {request.url.path}")


@router.get("/patients/{pid}/findings", summary="Low-confidence candidates and scan findings",
            description="From the current scan's result: candidates below the detector's "
            "confidence threshold (not counted; add one with POST .../lesions) and scan-level "
            "findings, for the clinician to review.")
def scan_findings(request: Request, pid: str,
                  user: User = Depends(current_user)) -> dict[str, Any]:
    with _store(request).session() as s:
        p = _get_patient(request, s, user, pid)
        scan = repo.latest_done_scan(s, p.id)
        res = (scan.result or {}) if scan is not None else {}
        return {"scan_id": scan.id if scan is not None else None,
                "low_confidence_candidates": res.get("low_confidence_candidates") or [],
                "findings": res.get("findings") or [],
                "warnings": res.get("warnings") or []}


def _validated(model: Any, body: Any) -> Any:
    from pydantic import ValidationError

    from brainmets.model import format_errors

    if not isinstance(body, dict):
        raise InvalidRecord(["body: expected a JSON object"])
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise InvalidRecord(format_errors(exc)) from None


# ------------------------------------------------------------ hand-off to radiotherapy planning


def _reviewed_for_export(s: Any, p: Patient) -> tuple[Scan, list[dict[str, Any]]]:
    from brainmets.service import review

    scan, lesions = review.current_lesions(s, p)
    if scan is None:
        raise HTTPException(404, "no completed scan for this patient")
    if scan.kind != "dicom":
        raise HTTPException(404, "DICOM RT Structure Set and SR need DICOM input (this scan "
                                 "is NIfTI); the label map and lesions.json hold the lesions")
    chosen = [x for x in lesions if x["status"] in ("confirmed", "added")]
    if not chosen:
        raise HTTPException(409, "no confirmed lesion yet: review the lesions first (only "
                                 "confirmed and added lesions are handed to planning)")
    return scan, chosen


def _source_series(folder: Any) -> list[Any]:
    import pydicom

    files = sorted(p for p in (folder / "dicom").rglob("*") if p.is_file())
    return [pydicom.dcmread(str(f)) for f in files]


def _export(request: Request, pid: str, user: User, kind: str) -> Response:
    import tempfile
    from pathlib import Path

    from brainmets._version import __version__

    store = _store(request)
    with store.session() as s:
        p = _get_patient(request, s, user, pid)
        scan, chosen = _reviewed_for_export(s, p)
        folder = scan_dir(store, scan.id)
        observer = next((x["reviewed_by"] for x in chosen if x.get("reviewed_by")), user.name)
    source = _source_series(folder)
    request.state.audit_action = "download"
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        out = Path(tmp) / f"{kind}.dcm"
        try:
            if kind == "rtstruct":
                _write_rt(out, source, folder, chosen, __version__)
            else:
                from brainmets.imaging.dicom_sr import write_measurement_report

                write_measurement_report(out, source, chosen, observer, __version__)
        except ValueError as exc:
            raise HTTPException(409, f"{kind}: {exc}") from None
        if core.deid_for(user):
            data = _deid_dicom(out, request)
        else:
            data = out.read_bytes()
    return Response(data, media_type="application/dicom",
                    headers={"Content-Disposition": f'attachment; filename="{kind}.dcm"'})


def _write_rt(out: Any, source: list[Any], folder: Any, chosen: list[dict[str, Any]],
              version: str) -> None:
    import nibabel as nib
    import numpy as np

    from brainmets.imaging.dicom_rt import write_rtstruct

    img: Any = nib.load(str(folder / "out" / "lesions.nii.gz"))
    labels = np.asanyarray(img.dataobj)
    with_mask = [{"id": x["id"], "label": int(x["id"][1:])} for x in chosen
                 if x["id"].startswith("L")]
    if not with_mask:
        raise ValueError("no confirmed detected lesion has a segmentation (lesions added by "
                         "hand are in the SR measurement report only)")
    write_rtstruct(out, source, labels, img.affine, with_mask, version)


@router.get("/patients/{pid}/rtstruct.dcm", summary="DICOM RT Structure Set of the confirmed "
            "lesions (DICOM input)", response_class=Response,
            responses={200: {"content": {"application/dicom": {}}}, 404: {}, 409: {}})
def rtstruct(request: Request, pid: str, user: User = Depends(current_user)) -> Response:
    return _export(request, pid, user, "rtstruct")


@router.get("/patients/{pid}/sr.dcm", summary="DICOM SR measurement report (TID 1500) of the "
            "confirmed and added lesions (DICOM input)", response_class=Response,
            responses={200: {"content": {"application/dicom": {}}}, 404: {}, 409: {}})
def sr_report(request: Request, pid: str, user: User = Depends(current_user)) -> Response:
    return _export(request, pid, user, "sr")
