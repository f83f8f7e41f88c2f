"""Input of the response engine (CONTRACT §4): measured time points, validated with field paths."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from brainmets.model import InputError, RadiationCourse, format_errors

ClinicalStatus = Literal["improved", "stable", "worse"]


def _parse_date(v: Any) -> dt.date:
    if isinstance(v, dt.date) and not isinstance(v, dt.datetime):
        return v
    if isinstance(v, str):
        try:
            return dt.date.fromisoformat(v.strip())
        except ValueError:
            pass
    raise ValueError(f"expected a date YYYY-MM-DD, got {v!r}")


class _In(BaseModel):
    model_config = ConfigDict(extra="allow")


class LesionMeasurement(_In):
    """One lesion measured on one scan (LD 0 = no longer visible)."""

    id: str = Field(min_length=1, max_length=100)
    longest_diameter_mm: float = Field(ge=0, le=300)
    perpendicular_mm: float | None = Field(default=None, ge=0, le=300)
    new: bool = False
    equivocal: bool = Field(default=False, description="new lesion not yet unequivocal")
    measurable: bool | None = Field(
        default=None, description="reader override: false for dural/cystic/not reproducible"
    )
    target: bool | None = Field(default=None, description="baseline only: reader's target choice")
    volume_ml: float | None = Field(default=None, ge=0, le=2000)
    centroid_mm: tuple[float, float, float] | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id_str(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError("expected a string id, got a boolean")
        return str(v) if isinstance(v, int) else v


class Timepoint(_In):
    date: dt.date
    steroid_mg_day: float | None = Field(default=None, ge=0, le=1000)
    clinical_status: ClinicalStatus | None = None
    nontarget_progression: bool | None = Field(
        default=None,
        description="reader's call: unequivocal progression of non-target or T2/FLAIR lesions",
    )
    role: Literal["baseline", "follow_up"] | None = None
    lesions: list[LesionMeasurement] = Field(default_factory=list)

    @field_validator("date", mode="before")
    @classmethod
    def _iso_date(cls, v: Any) -> Any:
        return _parse_date(v)


class TimepointsRecord(_In):
    on_immunotherapy: bool = False
    immunotherapy_start: dt.date | None = None
    timepoints: list[Timepoint]
    # brain-directed treatment already given (CONTRACT §1 shape): PD in an irradiated lesion
    # carries the pseudo-progression / radiation-necrosis caveat (response.caveats)
    radiation_history: list[RadiationCourse] = Field(default_factory=list)

    @field_validator("immunotherapy_start", mode="before")
    @classmethod
    def _iso_start(cls, v: Any) -> Any:
        return _parse_date(v) if v is not None else None


def _check(rec: TimepointsRecord) -> list[str]:
    """Cross-field rules; one message per problem, each naming its field path."""
    errs: list[str] = []
    tps = rec.timepoints
    if not tps:
        return ["timepoints: empty; give the baseline scan first, then at least one follow-up"]
    if tps[0].role == "follow_up":
        errs.append(
            "timepoints[0].role: the first time point is a follow-up; a follow-up cannot be "
            "assessed without its baseline (put the baseline scan first)"
        )
    for i, tp in enumerate(tps[1:], start=1):
        if tp.role == "baseline":
            errs.append(f"timepoints[{i}].role: only the first time point can be the baseline")
    if len(tps) < 2:
        errs.append(
            "timepoints: only one time point; response needs a baseline and at least one "
            "follow-up"
        )
    for i in range(1, len(tps)):
        a, b = tps[i - 1].date, tps[i].date
        if b <= a:
            what = "the same date as" if a == b else "earlier than"
            errs.append(
                f"timepoints[{i}].date: {b.isoformat()} is {what} timepoints[{i - 1}].date "
                f"{a.isoformat()}; list time points oldest first, one per date"
            )
    if rec.on_immunotherapy and rec.immunotherapy_start is None:
        errs.append(
            "immunotherapy_start: required when on_immunotherapy is true (the iRANO 6-month "
            "window is counted from it)"
        )
    seen: set[str] = set()
    baseline_ids: set[str] = set()
    for i, tp in enumerate(tps):
        ids: dict[str, int] = {}
        for j, les in enumerate(tp.lesions):
            path = f"timepoints[{i}].lesions[{j}]"
            if les.id in ids:
                errs.append(
                    f"{path}.id: duplicate lesion id {les.id!r} in this time point "
                    f"(also lesions[{ids[les.id]}])"
                )
            ids[les.id] = j
            if les.perpendicular_mm is not None and les.perpendicular_mm > les.longest_diameter_mm:
                errs.append(
                    f"{path}.perpendicular_mm: {les.perpendicular_mm} is larger than "
                    f"longest_diameter_mm {les.longest_diameter_mm}"
                )
            if i == 0:
                if les.new:
                    errs.append(f"{path}.new: a baseline lesion cannot be new")
                if les.equivocal:
                    errs.append(f"{path}.equivocal: applies to new lesions only, not at baseline")
            else:
                if les.target is not None:
                    errs.append(f"{path}.target: targets are chosen at the baseline only")
                if les.new and les.id in baseline_ids:
                    errs.append(
                        f"{path}.new: lesion {les.id!r} was present at the baseline, so it is "
                        "not new"
                    )
                if not les.new and les.id not in seen:
                    errs.append(
                        f"{path}.id: lesion {les.id!r} is not in the baseline or any earlier "
                        "time point; mark it \"new\": true"
                    )
        if i == 0:
            baseline_ids = set(ids)
        seen |= set(ids)
    return errs


def parse_record(data: Any) -> TimepointsRecord:
    """Validate a CONTRACT §4 record; raise :class:`InputError` naming every bad field."""
    if not isinstance(data, dict):
        raise InputError([f"(record): expected a JSON object, got {type(data).__name__}"])
    if "timepoints" in data and isinstance(data["timepoints"], list) and not data["timepoints"]:
        raise InputError(
            ["timepoints: empty; give the baseline scan first, then at least one follow-up"]
        )
    try:
        rec = TimepointsRecord.model_validate(data)
    except ValidationError as exc:
        raise InputError(format_errors(exc)) from None
    errs = _check(rec)
    if errs:
        raise InputError(errs)
    return rec


def unknown_fields(rec: TimepointsRecord) -> list[str]:
    """Keys the engine does not know (kept, reported back as warnings)."""
    out = [k for k in (rec.model_extra or {})]
    for i, tp in enumerate(rec.timepoints):
        out += [f"timepoints[{i}].{k}" for k in (tp.model_extra or {})]
        for j, les in enumerate(tp.lesions):
            out += [f"timepoints[{i}].lesions[{j}].{k}" for k in (les.model_extra or {})]
    return out
