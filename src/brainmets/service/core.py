"""Shared logic behind the API, the web pages and the PDF: views of a patient, the case (from
the one composer, :mod:`brainmets.case`, cached), time line, context."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from brainmets.case import LesionReview, ResponseCache, ScanInput, assess_case
from brainmets.imaging.result import ScanResult
from brainmets.report.context import citations, option_groups, versions
from brainmets.service import deid, review
from brainmets.store import repo
from brainmets.store.models import AssessmentRow, Patient, Scan, User


def scan_view(scan: Scan, first_date: dt.date | None, deidentified: bool,
              rows: list[Any] | None = None) -> dict[str, Any]:
    lesions = review.counted(review.scan_lesions(scan, rows or []))
    date = scan.timepoint.date if scan.timepoint else None
    out: dict[str, Any] = {
        "id": scan.id, "job": scan.id, "status": scan.status, "kind": scan.kind,
        "error": scan.error, "n_lesions": len(lesions),
        # one convention everywhere: RANO-BM longest axial diameters, rejected lesions excluded
        "sum_longest_axial_diameter_mm": _sum_mm(lesions),
        "sum_label": review.DIAMETER_LABEL,
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
    rows = repo.lesion_reviews(s, p.id)
    out: dict[str, Any] = {
        "id": p.id,
        "version": p.version,
        "record": deid.record(p.record) if de else p.record,
        "scans": [scan_view(sc, first, de, rows) for sc in scans],
        "deidentified": de,
    }
    if not de:
        out.update(display_name=p.display_name, created_at=p.created_at.isoformat() + "Z",
                   updated_at=p.updated_at.isoformat() + "Z", owner=p.owner.name)
    return out


def deid_for(user: User) -> bool:
    return user.role == "researcher"


def _sum_mm(lesions: list[dict[str, Any]]) -> float:
    return round(sum(float(x.get("diameter_mm") or 0) for x in lesions), 1)


def case_inputs(
    s: Session, p: Patient, store: Any = None
) -> tuple[list[ScanInput], dict[str, LesionReview]]:
    """What the composer needs from the registry: the completed scans (oldest first; on one
    date the one finished last comes last, so it is the current scan) with their time-point
    data, output folders and reviews, and the lesions added by hand while no scan existed
    (CONTRACT §5)."""
    from brainmets.service.jobs import scan_dir

    done = [sc for sc in p.scans if sc.status == "done" and sc.timepoint is not None]
    done.sort(key=lambda sc: (sc.timepoint.date, sc.finished_at or sc.created_at,
                              sc.created_at))
    by_scan: dict[str | None, dict[str, LesionReview]] = {}
    for r in repo.lesion_reviews(s, p.id):
        by_scan.setdefault(r.scan_id, {})[r.lesion_id] = LesionReview.model_validate({
            **(r.measurements or {}), "status": r.status, "scan_id": r.scan_id,
            "method": r.method, "reviewed_by": r.reviewed_by,
            "reviewed_at": r.reviewed_at.isoformat(timespec="seconds") + "Z"
            if r.reviewed_at else None})
    scans = [ScanInput(
        id=sc.id, date=sc.timepoint.date,
        result=ScanResult.parse(sc.result or {}, f"scan {sc.id}"),
        folder=scan_dir(store, sc.id) / "out" if store is not None else None,
        steroid_mg_day=sc.timepoint.steroid_mg_day, clinical_status=sc.timepoint.clinical_status,
        review=by_scan.get(sc.id, {}),
    ) for sc in done]
    return scans, by_scan.get(None, {})


def case_key(p: Patient, scans: list[ScanInput], reviews: dict[str, LesionReview]) -> str:
    """Fingerprint of everything a case depends on besides the software/knowledge versions:
    record version, scans (id, date, steroids, clinical status) and the review state."""
    import hashlib
    import json

    data = [p.version, [(sc.id, str(sc.date), sc.steroid_mg_day, sc.clinical_status,
                         sorted((k, r.model_dump(mode="json")) for k, r in sc.review.items()))
                        for sc in scans],
            sorted((k, r.model_dump(mode="json")) for k, r in reviews.items())]
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def patient_case(s: Session, p: Patient, store: Any = None,
                 cache: ResponseCache | None = None) -> dict[str, Any]:
    """The patient's case (CONTRACT §2 + lesions, provisional, scan findings, response) from
    the one composer (:func:`brainmets.case.assess_case`), cached per record version, scans,
    review state and software/knowledge-base versions."""
    v = versions()
    scans, reviews = case_inputs(s, p, store)
    key = case_key(p, scans, reviews)
    current = scans[-1].id if scans else None
    row = s.scalar(
        select(AssessmentRow)
        .where(AssessmentRow.patient_id == p.id, AssessmentRow.record_version == p.version,
               AssessmentRow.software_version == v["brainmets"],
               AssessmentRow.knowledge_version == v["knowledge_base"])
        .order_by(AssessmentRow.id.desc()).limit(1)
    )
    if row is not None and row.scan_id == current and row.review_key == key:
        return row.result
    rec = dict(p.record)
    rec["id"] = p.id
    result = assess_case(rec, scans, review=reviews, response_cache=cache).model_dump(
        mode="json")
    s.add(AssessmentRow(patient_id=p.id, record_version=p.version, scan_id=current,
                        result=result, software_version=v["brainmets"],
                        knowledge_version=v["knowledge_base"], review_key=key))
    return result


def assessment(s: Session, p: Patient, store: Any = None,
               cache: ResponseCache | None = None,
               deidentified: bool = False) -> dict[str, Any]:
    """CONTRACT §2 assessment of the patient (the case JSON; see :func:`patient_case`);
    de-identified (scan dates as days from the first scan) for roles that require it."""
    case = patient_case(s, p, store, cache)
    return deid_case(case, p) if deidentified else case


_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
DEID_EPOCH = dt.date(1900, 1, 1)  # de-identified response dates: day 0 = this date


def deid_case(case: dict[str, Any], p: Patient) -> dict[str, Any]:
    """The case for roles that must not see calendar dates: scan references carry ``day``
    (days from the patient's first scan) and no date; dates inside texts become "day N";
    the response's date fields are shifted so that day 0 = 1900-01-01 (said in
    ``deidentified_dates``)."""
    dates = [sc.timepoint.date for sc in p.scans if sc.timepoint is not None]
    first = min(dates) if dates else None

    def days(m: re.Match[str]) -> int | None:
        try:
            d = dt.date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return None
        return (d - first).days if first is not None else None

    def walk(x: Any) -> Any:
        if isinstance(x, dict):
            if set(x) >= {"id", "date", "day"} and isinstance(x.get("date"), str):
                m = _ISO_DATE.fullmatch(x["date"])
                return {**x, "date": None, "day": days(m) if m else None}
            return {k: None if k == "reviewed_at" else walk(v) for k, v in x.items()}
        if isinstance(x, list):
            return [walk(v) for v in x]
        if isinstance(x, str):
            m = _ISO_DATE.fullmatch(x)
            if m:
                n = days(m)
                return (DEID_EPOCH + dt.timedelta(days=n)).isoformat() if n is not None else x
            return _ISO_DATE.sub(lambda mm: f"day {days(mm)}" if days(mm) is not None
                                 else mm[0], x)
        return x

    out = walk(case)
    out["deidentified_dates"] = (
        "scan references give days from the first scan (day 0), dates in texts read 'day N', "
        f"response dates are shifted so that day 0 = {DEID_EPOCH.isoformat()}")
    return out


def latest_lesions(s: Session, p: Patient) -> tuple[Scan | None, list[dict[str, Any]]]:
    """The current scan and its lesions with review state (CONTRACT §5 shape)."""
    return review.current_lesions(s, p)


def timeline(p: Patient, deidentified: bool, store: Any = None,
             cache: ResponseCache | None = None) -> dict[str, Any]:
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
    first = done[0].timepoint.date if done else dt.date.min  # unused when no scan
    points = []
    sess = object_session(p)
    rows = repo.lesion_reviews(sess, p.id) if sess is not None else []
    for sc in done:
        lesions = review.scan_lesions(sc, rows)
        used = review.counted(lesions)
        d = sc.timepoint.date
        points.append({
            "label": f"day {(d - first).days}" if deidentified else d.isoformat(),
            "day": (d - first).days,
            "n_lesions": len(used),
            "n_rejected": len(lesions) - len(used),
            "provisional": review.review_state(lesions)["provisional"],
            "sum_mm": _sum_mm(used),
        })
    out: dict[str, Any] = {"points": points, "rano": None, "rano_note": None,
                           "sum_label": review.DIAMETER_LABEL}
    if done and sess is not None:
        # the response block of the case (one composer; iRANO from therapy.on_immunotherapy)
        c = assessment(sess, p, store, cache, deidentified)
        out["rano"], out["rano_note"] = c.get("response"), c.get("response_note")
    return out


def report_context(store: Any, s: Session, p: Patient, user: User,
                   cache: ResponseCache | None = None) -> dict[str, Any]:
    """Everything the patient page and the PDF show."""
    import base64

    from brainmets.service.jobs import scan_dir

    de = deid_for(user)
    view = patient_view(s, p, user)
    a = assessment(s, p, store, cache, de)
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
        "review": review.review_state(lesions),
        "scan": scan_view(scan, None, de, repo.lesion_reviews(s, p.id)) if scan else None,
        "overlay_b64": overlay_b64,
        "timeline": timeline(p, de, store, cache),
        "citations": citations(a),
        "versions": versions(),
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "deidentified": de,
    }
