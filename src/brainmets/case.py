"""The one case composer: record + scans + time points + review state -> :class:`Case`.

Every door (``brainmets assess [--scan]``, ``demo``, ``response``, the web service, the PDF and
FHIR reports, Dask batch) calls :func:`assess_case`; none assembles a case by itself, so the same
inputs give the same answer everywhere.

Choices made here (each visible in the output):

- **Scan lesion -> record lesion (CONTRACT §3 -> §1)**: ``diameter_mm`` is the scan's
  ``longest_axial_diameter_mm`` (the RANO-BM convention: longest diameter in the axial plane,
  the diameter guidelines and trials size lesions by); ``max_diameter_mm`` (3-D maximum),
  ``perpendicular_diameter_mm``, ``volume_ml``, ``centroid_mm``, ``location`` and
  ``enhancement`` are kept as they are (:meth:`ScanLesion.to_record_lesion`, the one mapping).
  A review's corrected fields (``diameter_mm``, ``volume_ml``, ``centroid_mm``, ... and clinical
  fields such as ``eloquent``) replace or complete the measured ones.
- **Which scan**: the current scan is the one with the latest scan date (not the order given);
  on the same date the one given last. Scans without a date rank before dated ones, in the order
  given, and a warning says so.
- **Lesion precedence**: lesions a clinician confirmed, corrected or added in the review of the
  current scan win; else lesions entered in the record win over detected ones; else the current
  scan's detected lesions are used, and the case is ``provisional`` (warnings say so) while any
  used lesion is still ``detected``. Rejected lesions never count. Lesions not used are listed in
  ``lesions_not_used`` with the reason.
- **Count**: ``brain_metastases.count`` given in the record is kept (it is the count at
  diagnosis); when it differs from the number of lesions used, a warning says so.
- **Response**: with two or more time points. Time points given explicitly (CONTRACT §4, measured
  by a clinician) are used as they are; else one time point per scan date (the scan given last on
  a date), lesions matched across scans by registration (``response.tracking``). iRANO applies
  when ``on_immunotherapy`` is true (default: the record's ``therapy.on_immunotherapy``; unknown
  is not read as no: the response says iRANO was not applied because it is unknown); the window
  starts at ``therapy.immunotherapy_start``, and without it no category is given (the note says
  why). Each scan's review applies to the response too: rejected lesions leave it, corrected
  diameters enter the sums. A lesion added by hand is ``source: record``; one segmented on the
  scan from a seed point is ``source: scan``.
- **Count absent**: set to the number of lesions used (CONTRACT §1), never to 0 for no lesion.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from brainmets.imaging.result import ScanFinding, ScanLesion, ScanResult
from brainmets.model import (
    Assessment,
    InputError,
    Location,
    Patient,
    format_errors,
    parse_patient,
)
from brainmets.model import Lesion as RecordLesion
from brainmets.response.config import ResponseConfig
from brainmets.response.rano import ResponseResult

ReviewStatus = Literal["detected", "confirmed", "rejected", "added"]
ClinicalStatus = Literal["improved", "stable", "worse"]


# ---------------------------------------------------------------- inputs


class LesionReview(BaseModel):
    """A clinician's review of one lesion of the current scan (CONTRACT §5), or an added lesion.

    ``status``: detected (not reviewed yet) | confirmed | rejected | added. Measurements given
    here correct the detected ones (for an added lesion they are its measurements).
    """

    model_config = ConfigDict(extra="allow")

    status: ReviewStatus = "detected"
    scan_id: str | None = Field(default=None, description="scan reviewed; None = current scan")
    diameter_mm: float | None = Field(default=None, ge=0, le=300)
    volume_ml: float | None = Field(default=None, ge=0, le=2000)
    centroid_mm: tuple[float, float, float] | None = None
    perpendicular_diameter_mm: float | None = Field(default=None, ge=0, le=300)
    max_diameter_mm: float | None = Field(default=None, ge=0, le=300)
    location: Location | None = None
    method: str | None = Field(default=None, description="detector | corrected | seeded | hand")
    reviewed_by: str | None = None
    reviewed_at: str | None = Field(default=None, description="ISO 8601 time of the review")

    def corrections(self) -> dict[str, Any]:
        """The CONTRACT §1 lesion fields this review sets (corrected measurements, or all the
        fields of an added lesion; clinical fields such as ``eloquent`` included)."""
        values = {**(self.model_extra or {}), **dict(self)}
        return {k: values[k] for k in RecordLesion.model_fields if values.get(k) is not None}


class ScanInput(BaseModel):
    """One completed scan: its id, date, ``lesions.json`` content and (optionally) its output
    folder (``lesions.nii.gz`` + input image: lets the response register scans)."""

    id: str
    date: dt.date | None = None
    result: ScanResult
    folder: Path | None = None
    steroid_mg_day: float | None = Field(default=None, ge=0, le=1000)
    clinical_status: ClinicalStatus | None = None
    review: dict[str, LesionReview] = Field(
        default_factory=dict, description="review of this scan's lesions (lesion id -> review):"
        " rejected lesions leave the response too, corrected diameters enter it")
    reviewed: bool = Field(default=False, exclude=True, description="internal: review applied")

    @property
    def ref(self) -> ScanRef:
        return ScanRef(id=self.id, date=self.date)


# ---------------------------------------------------------------- output


class ScanRef(BaseModel):
    id: str
    date: dt.date | None = None
    day: int | None = Field(default=None, description="de-identified views: days from the "
                            "first scan (the date is then null)")


class CaseLesion(BaseModel):
    """A lesion of the case (CONTRACT §2 ``lesions``)."""

    id: str
    source: Literal["record", "scan"]
    diameter_mm: float | None = None
    volume_ml: float | None = None
    perpendicular_diameter_mm: float | None = None
    max_diameter_mm: float | None = None
    centroid_mm: tuple[float, float, float] | None = None
    location: str | None = None
    enhancement: str | None = None
    confidence: float | None = None
    found_by: list[str] = Field(default_factory=list)
    scan: ScanRef | None = None
    status: ReviewStatus | None = Field(default=None, description="review status (scan lesions)")
    method: str | None = Field(default=None, description="detector | corrected | seeded | hand")
    corrected: list[str] = Field(default_factory=list, description="fields corrected by review")
    reviewed_by: str | None = None
    reviewed_at: str | None = None
    reason: str | None = Field(default=None, description="lesions_not_used: why not used")


class ScanFindings(BaseModel):
    """What a scan reported beside its lesions, carried so pages can show it."""

    scan: ScanRef
    n_lesions: int
    findings: list[ScanFinding] = Field(default_factory=list)
    low_confidence_candidates: list[dict[str, Any]] = Field(default_factory=list)
    rejected_candidates: dict[str, int] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    detector: dict[str, Any] | None = None


class CaseResponse(ResponseResult):
    """RANO-BM (with iRANO) result plus how its time points were obtained."""

    input: Literal["timepoints", "scans"] = "timepoints"
    scans: list[ScanRef] = Field(default_factory=list)
    tracking: dict[str, Any] | None = Field(
        default=None, description="scan inputs: registration and lesion matching report"
    )
    timepoints_record: dict[str, Any] | None = Field(
        default=None, description="scan inputs: the CONTRACT §4 record built from the scans"
    )


class ReviewSummary(BaseModel):
    """Review state of the current scan's lesions (added ones included)."""

    counts: dict[str, int] = Field(default_factory=dict, description="lesions per status")
    counted: int = Field(description="lesions not rejected")
    provisional: bool = Field(description="a lesion of the scan is still detected (unreviewed)")


class Case(Assessment):
    """CONTRACT §2 (every :class:`~brainmets.model.Assessment` field) plus the lesions used,
    whether the case is provisional, scan findings and the response."""

    model_config = ConfigDict(extra="allow")

    lesions: list[CaseLesion] = Field(default_factory=list)
    lesions_not_used: list[CaseLesion] = Field(default_factory=list)
    lesion_source: Literal["record", "scan", "review", "none"] = "none"
    provisional: bool = False
    current_scan: ScanRef | None = None
    scan_findings: list[ScanFindings] = Field(default_factory=list)
    review: ReviewSummary | None = None
    response: CaseResponse | None = None
    response_note: str | None = None
    deidentified_dates: str | None = Field(
        default=None, description="de-identified views only: how dates were replaced")


class ResponseCache:
    """A bounded, thread-safe memo of response results (registration takes seconds); the
    service owns one. Keys are built by :func:`assess_case` from every input of the response."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._data: OrderedDict[tuple, tuple[CaseResponse | None, str | None]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> tuple[CaseResponse | None, str | None] | None:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        return None

    def put(self, key: tuple, value: tuple[CaseResponse | None, str | None]) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


# ---------------------------------------------------------------- composer


def assess_case(
    record: Patient | Mapping[str, Any],
    scans: Sequence[ScanInput] = (),
    timepoints: Sequence[Mapping[str, Any]] = (),
    *,
    on_immunotherapy: bool | None = None,
    immunotherapy_start: dt.date | None = None,
    review: Mapping[str, LesionReview | Mapping[str, Any]] | None = None,
    response_config: ResponseConfig | dict[str, str] | None = None,
    response_cache: ResponseCache | None = None,
) -> Case:
    """Compose one case. Bad input raises :class:`~brainmets.model.InputError` naming the field.

    ``record``: CONTRACT §1; ``scans``: completed scans (any order); ``timepoints``: CONTRACT §4
    time points measured by hand (oldest first); ``review``: lesion id (``L<k>`` for lesion k of
    the current scan, any other id for an added lesion) -> :class:`LesionReview`.
    """
    from brainmets.assessment import assess

    patient, effective, pick, ordered, warnings = _compose_record(record, scans, review)
    current = ordered[-1] if ordered else None
    assessment = assess(effective)
    if on_immunotherapy is None:
        on_immunotherapy = patient.therapy.on_immunotherapy
    if immunotherapy_start is None:
        immunotherapy_start = _record_io_start(patient)
    response, note = compose_response(
        ordered, timepoints, on_immunotherapy, immunotherapy_start, response_config,
        response_cache,
    )
    if response is not None and patient.radiation_history:
        from brainmets.response.caveats import attach_radiation_caveats

        # PD in an irradiated lesion: pseudo-progression / radiation necrosis (idempotent)
        attach_radiation_caveats(response, patient.radiation_history)
    data = dict(assessment)
    data.update(
        warnings=warnings + list(assessment.warnings),
        lesions=[c.shown for c in pick.used], lesions_not_used=pick.not_used,
        lesion_source=pick.source,
        provisional=pick.provisional, current_scan=current.ref if current else None,
        review=pick.review,
        scan_findings=[_findings(sc) for sc in ordered], response=response, response_note=note,
    )
    return Case.model_validate(data)


def _compose_record(
    record: Patient | Mapping[str, Any],
    scans: Sequence[ScanInput],
    review: Mapping[str, LesionReview | Mapping[str, Any]] | None,
) -> tuple[Patient, Patient, _Pick, list[ScanInput], list[str]]:
    """(record, record to assess, lesion pick, scans by date, warnings)."""
    patient = record if isinstance(record, Patient) else parse_patient(dict(record))
    ordered, warnings = _order_scans(scans)
    current = ordered[-1] if ordered else None
    reviews = {**(current.review if current else {}), **_parse_review(review, current)}
    pick = _choose_lesions(patient, current, reviews)
    effective = _with_lesions(patient, pick)
    return patient, effective, pick, ordered, warnings + pick.notes


def assessed_record(
    record: Patient | Mapping[str, Any],
    scans: Sequence[ScanInput] = (),
    review: Mapping[str, LesionReview | Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The CONTRACT §1 record :func:`assess_case` assesses (its lesions chosen by the lesion
    precedence), e.g. for a ``patient.json`` beside a case."""
    return _compose_record(record, scans, review)[1].model_dump(mode="json", exclude_none=True)


def _record_io_start(patient: Patient) -> dt.date | None:
    """``therapy.immunotherapy_start`` when the record carries one (YYYY-MM-DD)."""
    raw = getattr(patient.therapy, "immunotherapy_start", None)
    if raw is None:
        raw = (patient.therapy.model_extra or {}).get("immunotherapy_start")
    if raw is None or isinstance(raw, dt.date):
        return raw
    try:
        return dt.date.fromisoformat(str(raw))
    except ValueError:
        raise InputError(
            [f"therapy.immunotherapy_start: expected YYYY-MM-DD, got {raw!r}"]) from None


def _order_scans(
    scans: Sequence[ScanInput | Mapping[str, Any]],
) -> tuple[list[ScanInput], list[str]]:
    """Scans sorted by date (undated first, in the order given); on one date, order given."""
    parsed: list[ScanInput] = []
    for i, sc in enumerate(scans):
        if isinstance(sc, ScanInput):
            parsed.append(sc)
            continue
        try:
            parsed.append(ScanInput.model_validate(sc))
        except ValidationError as exc:
            raise InputError(format_errors(exc, prefix=f"scans[{i}].")) from None
    ids = [sc.id for sc in parsed]
    if len(set(ids)) != len(ids):
        raise InputError([f"scans: duplicate scan ids {ids}"])
    keyed = sorted(enumerate(parsed), key=lambda t: (t[1].date is not None,
                                                     t[1].date or dt.date.min, t[0]))
    ordered = [sc for _, sc in keyed]
    warnings = []
    undated = [sc.id for sc in ordered if sc.date is None]
    if undated and len(ordered) > 1:
        warnings.append(
            f"scan(s) {', '.join(undated)} have no date: ordered as given, before dated scans; "
            "the current scan may not be the latest one"
        )
    return ordered, warnings


def _parse_review(
    review: Mapping[str, LesionReview | Mapping[str, Any]] | None, current: ScanInput | None
) -> dict[str, LesionReview]:
    """Review entries that apply to the current scan (scan_id None or the current scan's id)."""
    out: dict[str, LesionReview] = {}
    for lid, item in (review or {}).items():
        try:
            r = item if isinstance(item, LesionReview) else LesionReview.model_validate(item)
        except ValidationError as exc:
            raise InputError(format_errors(exc, prefix=f"review[{lid}].")) from None
        if r.scan_id is None or (current is not None and r.scan_id == current.id):
            out[str(lid)] = r
    return out


# ---------------------------------------------------------------- lesions


class _Cand(BaseModel):
    """A candidate lesion: what the case shows and the CONTRACT §1 lesion it assesses."""

    shown: CaseLesion
    record: dict[str, Any]


class _Pick(BaseModel):
    review: ReviewSummary | None = None
    used: list[_Cand] = Field(default_factory=list)
    not_used: list[CaseLesion] = Field(default_factory=list)
    source: Literal["record", "scan", "review", "none"] = "none"
    provisional: bool = False
    notes: list[str] = Field(default_factory=list)


def scan_lesion_to_record(les: ScanLesion) -> dict[str, Any]:
    """CONTRACT §3 lesion -> CONTRACT §1 lesion (see :meth:`ScanLesion.to_record_lesion`)."""
    return les.to_record_lesion()


def _shown(lid: str, source: Literal["record", "scan"], rec: dict[str, Any],
           **extra: Any) -> CaseLesion:
    skip = {"id", "source", *extra}  # given explicitly; a record may carry them too
    keep = {k: v for k, v in rec.items() if k in CaseLesion.model_fields and k not in skip}
    return CaseLesion(id=lid, source=source, **keep, **extra)


def _review_extra(r: LesionReview | None) -> dict[str, Any]:
    if r is None:
        return {"status": "detected", "method": "detector"}
    return {"status": r.status, "method": r.method, "reviewed_by": r.reviewed_by,
            "reviewed_at": r.reviewed_at}


def _from_scan(les: ScanLesion, scan: ScanInput, r: LesionReview | None) -> _Cand:
    rec = les.to_record_lesion()
    fixes = r.corrections() if r is not None else {}
    corrected = [k for k, v in fixes.items()
                 if rec.get(k) != (list(v) if isinstance(v, tuple) else v)]
    rec.update({k: list(v) if isinstance(v, tuple) else v for k, v in fixes.items()})
    shown = _shown(f"L{les.id}", "scan", rec, scan=scan.ref, confidence=les.confidence,
                   found_by=list(les.found_by), corrected=corrected, **_review_extra(r))
    return _Cand(shown=shown, record=rec)


def _added(lid: str, r: LesionReview, scan: ScanInput | None) -> _Cand:
    """A lesion added in review: measured on the scan (seeded) -> ``scan``; by hand ->
    ``record`` (entered by the clinician)."""
    rec = {k: list(v) if isinstance(v, tuple) else v for k, v in r.corrections().items()}
    status: ReviewStatus = "added" if r.status in ("detected", "confirmed") else r.status
    source: Literal["record", "scan"] = "scan" if r.method == "seeded" and scan else "record"
    extra = {**_review_extra(r), "status": status}
    return _Cand(shown=_shown(lid, source, rec, scan=scan.ref if scan else None, **extra),
                 record=rec)


def _scan_lesions(current: ScanInput | None, reviews: dict[str, LesionReview]) -> list[_Cand]:
    """The current scan's lesions with the review applied, then lesions added in review."""
    out = ([_from_scan(les, current, reviews.get(f"L{les.id}"))
            for les in current.result.lesions] if current is not None else [])
    known = {c.shown.id for c in out}
    out += [_added(lid, r, current) for lid, r in reviews.items() if lid not in known]
    return out


def _record_lesions(patient: Patient) -> list[_Cand]:
    out = []
    for i, les in enumerate(patient.brain_metastases.lesions):
        raw = les.model_dump(mode="json", exclude_none=True)
        # the record's k-th lesion is L<k>, as in the treatment output (dose lines) and the
        # usual radiation_history.lesion_ids
        lid = les.id or str((les.model_extra or {}).get("id") or f"L{i + 1}")
        out.append(_Cand(shown=_shown(lid, "record", raw), record=raw))
    return out


def _choose_lesions(patient: Patient, current: ScanInput | None,
                    reviews: dict[str, LesionReview]) -> _Pick:
    """Lesion precedence (module docstring): review > record > detected; rejected never."""
    pick = _pick_lesions(patient, current, reviews)
    pick.review = _review_summary(_scan_lesions(current, reviews))
    return pick


def _review_summary(scan: list[_Cand]) -> ReviewSummary | None:
    if not scan:
        return None
    counts = dict.fromkeys(("detected", "confirmed", "rejected", "added"), 0)
    for c in scan:
        counts[c.shown.status or "detected"] += 1
    return ReviewSummary(counts=counts, counted=len(scan) - counts["rejected"],
                         provisional=counts["detected"] > 0)


def _pick_lesions(patient: Patient, current: ScanInput | None,
                  reviews: dict[str, LesionReview]) -> _Pick:
    record = _record_lesions(patient)
    scan = _scan_lesions(current, reviews)
    rejected = [c.shown.model_copy(update={"reason": "rejected in review"})
                for c in scan if c.shown.status == "rejected"]
    live = [c for c in scan if c.shown.status != "rejected"]
    reviewed = any(c.shown.status in ("confirmed", "added") or c.shown.corrected for c in live)
    when = _scan_words(current)
    if record and not reviewed:
        unused = [c.shown.model_copy(update={"reason": "the lesions entered in the record "
                                             "take precedence over detected ones"})
                  for c in live]
        notes = [f"provisional: {len(unused)} lesion(s) detected on {when} are not yet "
                 f"reviewed and not used: the {len(record)} lesion(s) entered in the record take "
                 "precedence until the review confirms, rejects or corrects them"] if unused else []
        # CONTRACT §5: provisional while any lesion of the current scan is still `detected`
        return _Pick(used=record, not_used=unused + rejected, source="record", notes=notes,
                     provisional=bool(unused))
    if current is None and not live:
        return _Pick(used=record, source="record" if record else "none")
    return _pick_scan(live, rejected, record, reviewed, when, current)


def _pick_scan(live: list[_Cand], rejected: list[CaseLesion], record: list[_Cand],
               reviewed: bool, when: str, current: ScanInput | None) -> _Pick:
    notes: list[str] = []
    not_used = list(rejected)
    if record:
        not_used += [c.shown.model_copy(update={"reason": "replaced by the lesions reviewed "
                                                f"on {when}"}) for c in record]
        notes.append(f"the {len(record)} lesion(s) entered in the record are replaced by the "
                     f"lesions reviewed on {when}")
    pending = [c.shown.id for c in live if c.shown.status == "detected"]
    if pending:
        notes.append(
            f"provisional: {len(pending)} lesion(s) detected automatically on {when} "
            f"({', '.join(pending)}) are not yet reviewed by a clinician; verify them before use"
        )
    if rejected:
        notes.append(f"{len(rejected)} lesion(s) rejected in review are not counted")
    if not live:
        n = len(current.result.lesions) if current is not None else 0
        notes.append(f"no lesion counted from {when}: " + (
            f"all {n} detected lesion(s) were rejected in review" if n
            else "the scan found no lesion; check the scan findings and the images"))
    return _Pick(used=live, not_used=not_used, source="review" if reviewed else "scan",
                 provisional=bool(pending), notes=notes)


def _scan_words(scan: ScanInput | None) -> str:
    if scan is None:
        return "no scan"
    # by date (an id is a long opaque token); the id only when the scan has no date
    return f"the scan of {scan.date.isoformat()}" if scan.date else f"scan {scan.id}"


def _with_lesions(patient: Patient, pick: _Pick) -> Patient:
    """The record to assess: its lesions replaced by the lesions used (count kept)."""
    if pick.source in ("record", "none"):
        return patient
    data = patient.model_dump(mode="json", exclude_none=True)
    bm = dict(data.get("brain_metastases") or {})
    bm["lesions"] = [c.record for c in pick.used]
    count = bm.get("count")
    if count is None:
        if pick.used:  # CONTRACT §1: absent count = number of lesions listed
            bm["count"] = len(pick.used)
    elif count != len(pick.used):
        pick.notes.append(
            f"brain_metastases.count {count} (record, at diagnosis) differs from the "
            f"{len(pick.used)} lesion(s) used; the count is kept for the indices"
        )
    data["brain_metastases"] = bm
    return parse_patient(data)


def _findings(sc: ScanInput) -> ScanFindings:
    r = sc.result
    return ScanFindings(
        scan=sc.ref, n_lesions=len(r.lesions), findings=list(r.findings),
        low_confidence_candidates=list(r.low_confidence_candidates),
        rejected_candidates=dict(r.rejected_candidates), warnings=list(r.warnings),
        detector=r.detector.model_dump(mode="json") if r.detector else None,
    )


# ---------------------------------------------------------------- response


def compose_response(
    scans: Sequence[ScanInput],
    timepoints: Sequence[Mapping[str, Any]],
    on_immunotherapy: bool | None,
    immunotherapy_start: dt.date | None,
    config: ResponseConfig | dict[str, str] | None = None,
    cache: ResponseCache | None = None,
) -> tuple[CaseResponse | None, str | None]:
    """The response block of a case and a note (why there is none, or what to know)."""
    io_note = None
    if on_immunotherapy is None:
        io_note = ("therapy.on_immunotherapy unknown: iRANO not applied (RANO-BM only); "
                   "set it to apply iRANO")
    on_io = bool(on_immunotherapy)
    if timepoints:
        rec = {"on_immunotherapy": on_io, "timepoints": [dict(t) for t in timepoints],
               "immunotherapy_start": immunotherapy_start.isoformat()
               if immunotherapy_start else None}
        if len(timepoints) < 2:
            return None, _join(io_note, "one time point: response needs a baseline and a "
                                        "follow-up")
        res, note = response_from_timepoints(rec, config), None
        return res, _join(io_note, note)
    by_date = [_reviewed_scan(sc) for sc in _one_per_date(scans)]
    if len(by_date) < 2:
        msg = ("one scan so far: response needs a baseline and a follow-up scan" if by_date
               else None)
        return None, _join(io_note, msg) if msg else None
    key = _response_key(by_date, on_io, immunotherapy_start, config)
    hit = cache.get(key) if cache is not None else None
    if hit is None:
        hit = _scan_response(by_date, on_io, immunotherapy_start, config)
        if cache is not None:
            cache.put(key, hit)
    return hit[0], _join(io_note, hit[1])


def _reviewed_scan(sc: ScanInput) -> ScanInput:
    """The scan as reviewed, for the response: rejected lesions removed, corrected diameters
    (``diameter_mm`` = longest axial, ``perpendicular_diameter_mm``) applied, added lesions with
    a centroid and a diameter included (CONTRACT §5: rejected lesions never count)."""
    if not sc.review:
        return sc
    lesions = []
    for les in sc.result.lesions:
        r = sc.review.get(f"L{les.id}")
        if r is not None and r.status == "rejected":
            continue
        fix = r.corrections() if r is not None else {}
        upd = {k: fix[src] for k, src in (("longest_axial_diameter_mm", "diameter_mm"),
                                          ("perpendicular_diameter_mm",
                                           "perpendicular_diameter_mm"),
                                          ("volume_ml", "volume_ml"),
                                          ("centroid_mm", "centroid_mm")) if src in fix}
        lesions.append(les.model_copy(update=upd))
    next_id = max((les.id for les in sc.result.lesions), default=0)
    known = {f"L{les.id}" for les in sc.result.lesions}
    for lid, r in sc.review.items():
        if lid in known or r.status == "rejected" or r.centroid_mm is None \
                or r.diameter_mm is None:
            continue
        next_id += 1
        lesions.append(ScanLesion(id=next_id, centroid_mm=r.centroid_mm,
                                  longest_axial_diameter_mm=r.diameter_mm,
                                  perpendicular_diameter_mm=r.perpendicular_diameter_mm,
                                  volume_ml=r.volume_ml, found_by=[f"review {lid}"]))
    result = sc.result.model_copy(update={"lesions": lesions})
    return sc.model_copy(update={"result": result, "reviewed": True})


def _join(*parts: str | None) -> str | None:
    text = "; ".join(p for p in parts if p)
    return text or None


def _one_per_date(scans: Sequence[ScanInput]) -> list[ScanInput]:
    """Dated scans, one per date (the one given last on a date), oldest first."""
    by: dict[dt.date, ScanInput] = {}
    for sc in scans:
        if sc.date is not None:
            by[sc.date] = sc
    return [by[d] for d in sorted(by)]


def _response_key(scans: list[ScanInput], on_io: bool, start: dt.date | None,
                  config: Any) -> tuple:
    cfg = tuple(sorted(config.items())) if isinstance(config, Mapping) else repr(config)
    return (tuple((sc.id, sc.date, sc.steroid_mg_day, sc.clinical_status,
                   str(sc.folder) if sc.folder else None,
                   tuple((les.id, les.longest_axial_diameter_mm) for les in sc.result.lesions))
                  for sc in scans), on_io, start, cfg)


def response_from_timepoints(
    record: Any, config: ResponseConfig | dict[str, str] | None = None
) -> CaseResponse:
    """RANO-BM/iRANO of a CONTRACT §4 record (InputError names the bad field)."""
    from brainmets.response.rano import evaluate

    res = evaluate(dict(record) if isinstance(record, Mapping) else record, config)
    return CaseResponse.model_validate({**dict(res), "input": "timepoints"})


def response_from_scan_dirs(
    folders: Sequence[Path],
    dates: Sequence[dt.date] | None = None,
    steroids: Sequence[float | None] | None = None,
    clinical: Sequence[str | None] | None = None,
    on_immunotherapy: bool = False,
    immunotherapy_start: dt.date | None = None,
    config: ResponseConfig | dict[str, str] | None = None,
    scan_refs: Sequence[ScanRef] = (),
) -> CaseResponse:
    """Register the scans, match lesions (``response.tracking``), then RANO-BM/iRANO; the
    tracking report and the built CONTRACT §4 record come with the result."""
    from brainmets.response.config import get_config
    from brainmets.response.rano import evaluate
    from brainmets.response.tracking import build_record

    try:
        cfg = get_config(config)
    except ValueError as exc:
        raise InputError([f"config: {exc}"]) from None
    record, tracking = build_record(
        [Path(f) for f in folders], list(dates) if dates is not None else None,
        list(steroids) if steroids is not None else None,
        list(clinical) if clinical is not None else None,
        on_immunotherapy, immunotherapy_start, cfg,
    )
    res = evaluate(record, cfg)
    res.flags_for_review = list(tracking["flags_for_review"]) + list(res.flags_for_review)
    return CaseResponse.model_validate({
        **dict(res), "input": "scans", "scans": list(scan_refs), "tracking": tracking,
        "timepoints_record": record,
    })


def _scan_folder(sc: ScanInput, f: Path) -> Path:
    """A scan output folder holding this scan's (reviewed) lesions.json, pointing at its input
    image and label map when the scan's own folder has them (for registration)."""
    f.mkdir()
    update: dict[str, Any] = {"date": sc.date.isoformat() if sc.date else None}
    if sc.folder is not None:
        src = Path(sc.folder)
        if (src / "lesions.json").is_file():
            update["input"] = ScanResult.load(src).input or sc.result.input
        if (src / "lesions.nii.gz").is_file():
            (f / "lesions.nii.gz").symlink_to((src / "lesions.nii.gz").resolve())
        if update.get("input") and not Path(update["input"]).is_absolute():
            update["input"] = str((src / update["input"]).resolve())
    sc.result.model_copy(update=update).write(f / "lesions.json")
    return f


def _scan_response(scans: list[ScanInput], on_io: bool, start: dt.date | None,
                   config: Any) -> tuple[CaseResponse | None, str | None]:
    """Response from scans; scans without an output folder get a temporary one holding their
    lesions.json (registration then falls back to centroid alignment, and says so)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="brainmets-case-") as tmp:
        folders = []
        for i, sc in enumerate(scans):
            on_disk = sc.folder is not None and (Path(sc.folder) / "lesions.json").is_file()
            if sc.folder is not None and on_disk and not sc.reviewed:
                folders.append(Path(sc.folder))
                continue
            folders.append(_scan_folder(sc, Path(tmp) / f"scan{i}"))
        try:
            res = response_from_scan_dirs(
                folders, [sc.date for sc in scans if sc.date is not None],
                [sc.steroid_mg_day for sc in scans], [sc.clinical_status for sc in scans],
                on_io, start, config, [sc.ref for sc in scans])
        except InputError as exc:  # the engine rejects the series: say why, no category
            return None, "RANO-BM not evaluated: " + "; ".join(exc.messages)
    return res, None
