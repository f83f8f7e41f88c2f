"""Shared logic behind the API, the web pages and the PDF: views of a patient, the effective
record (clinical data + the latest scan's lesions), cached assessments, time line, context."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from brainmets.report.context import citations, option_groups, versions
from brainmets.service import deid
from brainmets.store import repo
from brainmets.store.models import AssessmentRow, Patient, Scan, User


def scan_view(scan: Scan, first_date: dt.date | None, deidentified: bool) -> dict[str, Any]:
    lesions = (scan.result or {}).get("lesions", []) if scan.status == "done" else []
    date = scan.timepoint.date if scan.timepoint else None
    out: dict[str, Any] = {
        "id": scan.id, "job": scan.id, "status": scan.status, "kind": scan.kind,
        "error": scan.error, "n_lesions": len(lesions),
        "sum_max_diameter_mm": round(sum(float(x.get("max_diameter_mm") or 0) for x in lesions), 1),
        "links": {},
    }
    if deidentified:
        out["day"] = (date - first_date).days if date and first_date else None
    else:
        out["date"] = date.isoformat() if date else None
        out["created_at"] = scan.created_at.isoformat() + "Z"
    if scan.status == "done":
        base = f"/api/patients/{scan.patient_id}/scans/{scan.id}"
        out["links"] = {"labelmap": f"{base}/lesions.nii.gz", "volume": f"{base}/volume.nii.gz",
                        "overlay": f"{base}/overlay.png", "lesions": f"{base}/lesions.json"}
        if scan.kind == "dicom":
            out["links"]["seg"] = f"{base}/seg.dcm"
    return out


def patient_view(s: Session, p: Patient, user: User) -> dict[str, Any]:
    """The API view of one patient (de-identified for roles that require it)."""
    de = deid_for(user)
    scans = list(p.scans)
    dates = [sc.timepoint.date for sc in scans if sc.timepoint]
    first = min(dates) if dates else None
    out: dict[str, Any] = {
        "id": p.id,
        "version": p.version,
        "record": deid.record(p.record) if de else p.record,
        "scans": [scan_view(sc, first, de) for sc in scans],
        "deidentified": de,
    }
    if not de:
        out.update(display_name=p.display_name, created_at=p.created_at.isoformat() + "Z",
                   updated_at=p.updated_at.isoformat() + "Z", owner=p.owner.name)
    return out


def deid_for(user: User) -> bool:
    return user.role == "researcher"


def scan_lesions_as_record(lesions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """CONTRACT §3 lesions -> CONTRACT §1 lesion entries (diameter = maximum 3-D diameter)."""
    out = []
    for les in lesions:
        item = {
            "diameter_mm": les.get("max_diameter_mm"),
            "max_diameter_mm": les.get("max_diameter_mm"),
            "perpendicular_diameter_mm": les.get("perpendicular_diameter_mm"),
            "volume_ml": les.get("volume_ml"),
            "location": les.get("location"),
            "centroid_mm": les.get("centroid_mm"),
        }
        out.append({k: v for k, v in item.items() if v is not None})
    return out


def effective_record(s: Session, p: Patient) -> tuple[dict[str, Any], Scan | None, list[str]]:
    """The record to assess: lesions entered by the clinician win; otherwise the latest
    completed scan's measured lesions are used (and the assessment says so)."""
    record = dict(p.record)
    scan = repo.latest_done_scan(s, p.id)
    notes: list[str] = []
    bm = dict(record.get("brain_metastases") or {})
    if scan is not None and not bm.get("lesions"):
        lesions = (scan.result or {}).get("lesions", [])
        if lesions:
            bm["lesions"] = scan_lesions_as_record(lesions)
            record["brain_metastases"] = bm
            when = scan.timepoint.date.isoformat() if scan.timepoint else "latest scan"
            notes.append(
                f"lesions taken from the automatic scan of {when} ({len(lesions)} found); "
                "verify them before use"
            )
    return record, scan, notes


def assessment(s: Session, p: Patient) -> dict[str, Any]:
    """CONTRACT §2 assessment for the patient's current record, cached per record version,
    scan and software/knowledge-base versions."""
    from brainmets import assess

    v = versions()
    record, scan, notes = effective_record(s, p)
    scan_id = scan.id if scan is not None else None
    row = s.scalar(
        select(AssessmentRow)
        .where(AssessmentRow.patient_id == p.id, AssessmentRow.record_version == p.version,
               AssessmentRow.software_version == v["brainmets"],
               AssessmentRow.knowledge_version == v["knowledge_base"])
        .order_by(AssessmentRow.id.desc()).limit(1)
    )
    if row is not None and row.scan_id == scan_id:
        return row.result
    rec = dict(record)
    rec["id"] = p.id
    result = assess(rec).model_dump(mode="json")
    result["warnings"] = notes + list(result.get("warnings", []))
    s.add(AssessmentRow(patient_id=p.id, record_version=p.version, scan_id=scan_id,
                        result=result, software_version=v["brainmets"],
                        knowledge_version=v["knowledge_base"]))
    return result


def latest_lesions(s: Session, p: Patient) -> tuple[Scan | None, list[dict[str, Any]]]:
    scan = repo.latest_done_scan(s, p.id)
    return scan, ((scan.result or {}).get("lesions", []) if scan else [])


def timeline(p: Patient, deidentified: bool, store: Any = None) -> dict[str, Any]:
    """Response time line: per time point (its latest completed scan), lesion count and sum of
    diameters; the RANO-BM category from the response engine when there are two or more."""
    by_date: dict[dt.date, Scan] = {}
    for sc in p.scans:
        if sc.status == "done" and sc.timepoint is not None:
            cur = by_date.get(sc.timepoint.date)
            if cur is None or (sc.finished_at or sc.created_at) > (cur.finished_at
                                                                   or cur.created_at):
                by_date[sc.timepoint.date] = sc
    done = [by_date[d] for d in sorted(by_date)]
    first = done[0].timepoint.date if done else None
    points = []
    for sc in done:
        lesions = (sc.result or {}).get("lesions", [])
        d = sc.timepoint.date
        points.append({
            "label": f"day {(d - first).days}" if deidentified else d.isoformat(),
            "day": (d - first).days,
            "n_lesions": len(lesions),
            "sum_mm": round(sum(float(x.get("longest_axial_diameter_mm")
                                      or x.get("max_diameter_mm") or 0) for x in lesions), 1),
        })
    out: dict[str, Any] = {"points": points, "rano": None, "rano_note": None}
    if len(done) >= 2:
        out["rano"], out["rano_note"] = _rano(done, store)
    elif done:
        out["rano_note"] = "one scan so far: response needs a baseline and a follow-up scan"
    return out


_RANO_CACHE: dict[tuple, tuple[dict[str, Any] | None, str | None]] = {}


def _rano(done: list[Scan], store: Any) -> tuple[dict[str, Any] | None, str | None]:
    """RANO-BM via the response engine, lesions matched across scans by registration
    (response.tracking); when that is impossible no category is given, and the note says why."""
    try:
        from brainmets.response.rano import evaluate
    except ImportError:
        return None, "response assessment (RANO-BM) not available in this build"
    key = tuple((sc.id, sc.timepoint.steroid_mg_day, sc.timepoint.clinical_status)
                for sc in done)
    if key in _RANO_CACHE:
        return _RANO_CACHE[key]
    dates = [sc.timepoint.date for sc in done]
    steroids = [sc.timepoint.steroid_mg_day for sc in done]
    clinical = [sc.timepoint.clinical_status for sc in done]
    record = None
    note = None
    if store is not None:
        try:
            from brainmets.response.tracking import build_record
            from brainmets.service.jobs import scan_dir

            record, _report = build_record([scan_dir(store, sc.id) / "out" for sc in done],
                                           dates, steroids, clinical)
        except Exception as exc:  # engine or files unavailable: fall back, and say so
            note = f"lesion matching by registration failed ({type(exc).__name__}); "
    if record is None:
        # matching lesions by detection order could invent growth or new lesions: no category
        out: tuple[dict[str, Any] | None, str | None] = (
            None, (note or "") + "RANO-BM not evaluated: lesions could not be matched across "
            "scans; measure them by hand and use `brainmets response FILE`")
        _RANO_CACHE[key] = out
        return out
    try:
        res = evaluate(record)
    except Exception as exc:  # engine rejects the series: show why, never a 500
        out = (None, f"RANO-BM not evaluated: {exc}")
    else:
        if hasattr(res, "model_dump"):
            res = res.model_dump(mode="json")
        out = (res, note)
    if len(_RANO_CACHE) > 256:
        _RANO_CACHE.clear()
    _RANO_CACHE[key] = out
    return out


def report_context(store: Any, s: Session, p: Patient, user: User) -> dict[str, Any]:
    """Everything the patient page and the PDF show."""
    import base64

    from brainmets.service.jobs import scan_dir

    de = deid_for(user)
    view = patient_view(s, p, user)
    a = assessment(s, p)
    scan, lesions = latest_lesions(s, p)
    overlay_b64 = None
    if scan is not None:
        png = scan_dir(store, scan.id) / "out" / "overlay.png"
        if png.exists():
            overlay_b64 = base64.b64encode(png.read_bytes()).decode("ascii")
    return {
        "patient": view,
        "record": view["record"],
        "title": ("Patient " + p.id[:8]) if de else (p.display_name or view["record"].get("id")
                                                     or "Patient " + p.id[:8]),
        "assessment": a,
        "option_groups": option_groups(a),
        "lesions": lesions,
        "scan": scan_view(scan, None, de) if scan else None,
        "overlay_b64": overlay_b64,
        "timeline": timeline(p, de, store),
        "citations": citations(a),
        "versions": versions(),
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "deidentified": de,
    }
