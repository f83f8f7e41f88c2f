"""RANO-BM response engine (treatment.md §6; derived algorithm §6.7) with iRANO (§6.5).

Every threshold comes from ``knowledge/data/response/rano_bm.toml``; the spec's uncertain
points are options whose effect is reported under ``flags_for_review``. Sizes are compared as
exact decimals (``4.9`` is 49/10), so boundaries such as exactly 30 % or exactly 5.0 mm hold.

Readings chosen where the spec is silent (each visible in the output):
- nadir = smallest sum on the scans *before* the assessed one, baseline included; with ties,
  the latest such scan is the "nadir scan" for the 5 mm rule;
- the iRANO window is ``scan date < start + 6 calendar months`` (§6.7 "months_since < 6");
- a CR/PR is confirmed when the unbroken run of CR (for CR) or CR/PR (for PR) candidates began
  >= 28 days before the assessed scan; ``PD_unconfirmed`` is always ``provisional``;
- a missing steroid dose or clinical status is not guessed: the category is computed from
  imaging and the unchecked condition is flagged.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

from pydantic import BaseModel, Field

from brainmets.model import DISCLAIMER, InputError
from brainmets.response.config import ResponseConfig, exact, get_config
from brainmets.response.schema import (
    LesionMeasurement,
    TimepointsRecord,
    parse_record,
    unknown_fields,
)

Category = Literal["CR", "PR", "SD", "PD", "PD_unconfirmed"]
VOLUMETRIC_LABEL = (
    "research only: no brain-metastasis volumetric response criteria were located "
    "(treatment.md §6.6); volumes never change the RANO-BM category"
)


class TargetLesion(BaseModel):
    id: str
    baseline_mm: float
    perpendicular_baseline_mm: float | None
    current_mm: float
    scored_mm: float = Field(description="value entering the sum (see small_lesion_rule)")
    nadir_scan_mm: float
    prior_mm: float
    change_vs_baseline_pct: float | None
    rise_vs_reference_mm: float
    history_mm: list[float]


class NonTargetLesion(BaseModel):
    id: str
    baseline_mm: float
    current_mm: float | None
    status: Literal["present", "gone", "not_assessed"]
    why_non_target: str


class NewLesion(BaseModel):
    id: str
    first_seen: dt.date
    current_mm: float
    equivocal: bool


class TimepointResult(BaseModel):
    date: dt.date
    days_from_baseline: int
    sum_mm: float
    nadir_sum_mm: float | None
    pct_vs_baseline: float | None
    pct_vs_nadir: float | None
    category: Category | None
    provisional: bool
    reasons: list[str]
    flags_for_review: list[str]


class ResponseResult(BaseModel):
    """CONTRACT §4 output (first eight fields) plus the working shown."""

    category: Category
    provisional: bool
    baseline_sum_mm: float
    nadir_sum_mm: float = Field(
        description="smallest sum before the assessed scan, baseline included (the PD reference)"
    )
    current_sum_mm: float
    targets: list[TargetLesion]
    reasons: list[str]
    source: str
    # additions beyond the contract
    assessed_date: dt.date
    baseline_date: dt.date
    pct_vs_baseline: float | None
    pct_vs_nadir: float | None
    pd_date: dt.date | None = None
    non_targets: list[NonTargetLesion] = Field(default_factory=list)
    new_lesions: list[NewLesion] = Field(default_factory=list)
    history: list[TimepointResult] = Field(default_factory=list)
    flags_for_review: list[str] = Field(default_factory=list)
    volumetric: dict[str, Any] | None = None
    options: dict[str, str] = Field(default_factory=dict)
    thresholds: dict[str, Any] = Field(default_factory=dict)
    references: list[dict[str, str]] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    caveats: list[dict[str, Any]] = Field(
        default_factory=list, description="e.g. PD in an irradiated lesion (response.caveats)"
    )
    disclaimer: str = DISCLAIMER


def add_months(d: dt.date, months: int) -> dt.date:
    """Calendar month addition (31 Jan + 1 month = 28/29 Feb)."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return dt.date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def _mm(x: Fraction | float) -> str:
    return f"{float(x):.1f} mm"


def _pct(x: Fraction | None) -> float | None:
    return None if x is None else round(float(x) * 100, 2)


def _pct_s(x: Fraction) -> str:
    return f"{float(x) * 100:+.1f}%"


def _unconfirmed_run_start(prev: list[TimepointResult], i: int) -> int:
    """Index of the first scan of the run of PD_unconfirmed results that ends at scan i - 1."""
    run = i - 1
    while run - 1 >= 1 and prev[run - 2].category == "PD_unconfirmed":
        run -= 1
    return run


def _dedup(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


@dataclass
class _Step:
    """The working state of one assessed time point, filled criterion by criterion."""

    i: int
    base: Fraction
    now: Fraction
    nadir: Fraction
    nadir_idx: int
    pct_base: Fraction | None
    pct_nadir: Fraction | None
    ref_choice: str
    reasons: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    sum_up: bool = False
    pd_target: bool = False
    rises: dict[str, dict[str, Fraction]] = field(default_factory=dict)
    nt_prog: bool = False
    seen: dict[str, int] = field(default_factory=dict)
    new_now: list[tuple[str, LesionMeasurement]] = field(default_factory=list)
    confirmed_new: list[str] = field(default_factory=list)
    on_io: bool = False
    clin: str | None = None
    worse: bool = False
    steroid_now: float | None = None
    refs: dict[str, float | None] = field(default_factory=dict)
    st_ref: str = "baseline"
    steroid_up: bool | None = None
    category: str | None = None
    pd_date: dt.date | None = None
    provisional: bool = False


class _Engine:
    def __init__(self, rec: TimepointsRecord, cfg: ResponseConfig):
        self.rec = rec
        self.cfg = cfg
        self.tps = rec.timepoints
        self.by_id: list[dict[str, LesionMeasurement]] = [
            {les.id: les for les in tp.lesions} for tp in self.tps
        ]
        self.flags: list[str] = []
        self._select_targets()

    # ------------------------------------------------------------ baseline
    def _measurable(self, les: LesionMeasurement) -> tuple[bool, str]:
        cfg = self.cfg
        ld_min, perp_min = (
            cfg.t("measurable_min_longest_diameter_mm"),
            cfg.t("measurable_min_perpendicular_mm"),
        )
        if les.measurable is False:
            return False, "marked non-measurable by the reader"
        if exact(les.longest_diameter_mm) < ld_min:
            return False, f"LD {_mm(les.longest_diameter_mm)} < {_mm(ld_min)} (non-measurable)"
        if les.perpendicular_mm is None:
            return False, "perpendicular diameter not given, so measurability cannot be shown"
        if exact(les.perpendicular_mm) < perp_min:
            return False, (
                f"perpendicular {_mm(les.perpendicular_mm)} < {_mm(perp_min)} (non-measurable)"
            )
        return True, ""

    def _select_targets(self) -> None:
        cfg = self.cfg
        max_t = cfg.ti("max_target_lesions")
        base = self.tps[0].lesions
        why: dict[str, str] = {}
        measurable = []
        for les in base:
            ok, reason = self._measurable(les)
            if ok:
                measurable.append(les)
            else:
                why[les.id] = reason
        chosen_by_reader = [les for les in base if les.target]
        errs = []
        if chosen_by_reader:
            if len(chosen_by_reader) > max_t:
                errs.append(
                    f"timepoints[0].lesions: {len(chosen_by_reader)} lesions marked target; "
                    f"RANO-BM allows up to {max_t}"
                )
            for j, les in enumerate(base):
                if les.target and les.id in why:
                    errs.append(
                        f"timepoints[0].lesions[{j}].target: lesion {les.id!r} cannot be a "
                        f"target: {why[les.id]}"
                    )
            if errs:
                raise InputError(errs)
            targets = chosen_by_reader
            for les in measurable:
                if not les.target:
                    why[les.id] = "measurable, not chosen as a target by the reader"
        else:
            ranked = sorted(measurable, key=lambda les: -exact(les.longest_diameter_mm))
            targets = ranked[:max_t]
            for les in ranked[max_t:]:
                why[les.id] = f"measurable, beyond the {max_t} largest (targets chosen by size)"
            if len(ranked) > max_t:
                self.flags.append(
                    f"{len(ranked)} measurable lesions at baseline: the {max_t} largest were "
                    "chosen as targets by size; RANO-BM also asks for reproducibility, which "
                    "the reader should confirm (or mark 'target': true)"
                )
        self.targets = [les.id for les in targets]
        self.non_targets = [les.id for les in base if les.id not in self.targets]
        self.non_target_why = why
        if not self.targets:
            self.flags.append(
                "no measurable target lesion at baseline: only non-target, new-lesion, steroid "
                "and clinical criteria can be applied"
            )
        # every target must be re-measured at every follow-up
        errs = []
        for i in range(1, len(self.tps)):
            for tid in self.targets:
                if tid not in self.by_id[i]:
                    errs.append(
                        f"timepoints[{i}].lesions: target lesion {tid!r} (chosen at the "
                        "baseline) is missing; record it with longest_diameter_mm 0 if it is no "
                        "longer visible"
                    )
        if errs:
            raise InputError(errs)

    # ------------------------------------------------------------ helpers
    def scored(self, i: int, tid: str) -> Fraction:
        ld = exact(self.by_id[i][tid].longest_diameter_mm)
        floor = self.cfg.t("recist_small_lesion_default_mm")
        if self.cfg.opt("small_lesion_rule") == "recist_5mm" and 0 < ld < floor:
            return floor
        return ld

    def sum_at(self, i: int) -> Fraction:
        return sum((self.scored(i, t) for t in self.targets), Fraction(0))

    def on_io(self, i: int) -> bool:
        start = self.rec.immunotherapy_start
        return bool(self.rec.on_immunotherapy and start and self.tps[i].date >= start)

    def within_io_window(self, i: int) -> bool:
        start = self.rec.immunotherapy_start
        assert start is not None
        return self.tps[i].date < add_months(start, self.cfg.ti("irano_window_months"))

    def first_seen(self) -> dict[str, int]:
        seen: dict[str, int] = {}
        for i, lesions in enumerate(self.by_id):
            for lid, les in lesions.items():
                if lid not in seen and (i == 0 or exact(les.longest_diameter_mm) > 0):
                    seen[lid] = i
        return seen

    # ------------------------------------------------------------ one time point
    def assess(self, i: int, prev: list[TimepointResult], candidates: list[str | None]) -> dict:
        """Every RANO-BM criterion at time point ``i``, in the spec's order (§6.7)."""
        st = self._sums(i)
        self._target_progression(st)
        self._size_flags(st)
        self._nontarget_progression(st)
        self._new_lesions(st)
        self._clinical_and_steroids(st)
        if st.pd_target or st.nt_prog or bool(st.confirmed_new) or st.worse:
            self._progression(st, prev)
        if st.category is None and st.steroid_up:
            st.reasons.append(
                f"Corticosteroid dose increased vs {st.st_ref} "
                f"({st.refs[st.st_ref]} -> {st.steroid_now} mg/day); a steroid increase alone "
                "is not PD"
            )
        candidate = self._response_candidate(st) if st.category is None else None
        candidates.append(candidate)
        if candidate is not None:
            st.category, st.provisional = self._confirm(i, candidate, candidates, st.reasons)
        return {
            "category": st.category,
            "provisional": st.provisional,
            "reasons": st.reasons,
            "flags": st.flags,
            "sum": st.now,
            "nadir": st.nadir,
            "pct_base": st.pct_base,
            "pct_nadir": st.pct_nadir,
            "pd_date": st.pd_date if st.category == "PD" else None,
            "nadir_idx": st.nadir_idx,
            "rises": st.rises[st.ref_choice],
            "new_now": st.new_now,
            "seen": st.seen,
        }

    def _sums(self, i: int) -> _Step:
        """Sums of target diameters: baseline, now, nadir (smallest before ``i``)."""
        sums = [self.sum_at(k) for k in range(i + 1)]
        base, now = sums[0], sums[i]
        prior = sums[:i]
        nadir = min(prior)
        return _Step(
            i=i, base=base, now=now, nadir=nadir,
            nadir_idx=max(k for k, s in enumerate(prior) if s == nadir),
            pct_base=(now - base) / base if base > 0 else None,
            pct_nadir=(now - nadir) / nadir if nadir > 0 else None,
            ref_choice=self.cfg.opt("absolute_increase_reference"),
        )

    def _target_progression(self, st: _Step) -> None:
        """Target PD: sum >= 20 % over the nadir AND one target >= 5 mm larger (§6.7)."""
        cfg, i = self.cfg, st.i
        pd_up = cfg.t("pd_min_increase_vs_nadir")
        abs_min = cfg.t("pd_min_absolute_increase_mm")
        st.sum_up = bool(self.targets) and (
            (st.pct_nadir is not None and st.pct_nadir >= pd_up) or (st.nadir == 0 and st.now > 0)
        )
        st.rises = {
            ref: {t: self.scored(i, t) - self.scored(k, t) for t in self.targets}
            for ref, k in (("nadir", st.nadir_idx), ("prior", i - 1))
        }
        big = {ref: [t for t, r in st.rises[ref].items() if r >= abs_min] for ref in st.rises}
        st.pd_target = st.sum_up and bool(big[st.ref_choice])
        if not st.sum_up:
            return
        if st.nadir == 0:
            st.reasons.append(
                f"Sum of target LDs rose from {_mm(0)} (all targets gone) to {_mm(st.now)}"
            )
        else:
            assert st.pct_nadir is not None
            st.reasons.append(
                f"Sum of target LDs {_mm(st.now)} vs nadir {_mm(st.nadir)} "
                f"({self.tps[st.nadir_idx].date}): {_pct_s(st.pct_nadir)}, at or above the "
                f"+{float(pd_up) * 100:.0f}% PD threshold"
            )
        self._absolute_rise_reasons(st, big, abs_min)

    def _absolute_rise_reasons(
        self, st: _Step, big: dict[str, list[str]], abs_min: Fraction
    ) -> None:
        ref_choice = st.ref_choice
        ref_word = "the nadir scan" if ref_choice == "nadir" else "the prior scan"
        if big[ref_choice]:
            grew = ", ".join(f"{t} +{_mm(st.rises[ref_choice][t])}" for t in big[ref_choice])
            st.reasons.append(
                f"At least one target grew by >= {_mm(abs_min)} vs {ref_word}: {grew}"
            )
        else:
            top = max(st.rises[ref_choice].values()) if self.targets else Fraction(0)
            st.reasons.append(
                f"but no target grew by >= {_mm(abs_min)} vs {ref_word} (largest rise "
                f"{_mm(top)}), so the target criterion for PD is not met"
            )
        if bool(big["nadir"]) != bool(big["prior"]):
            st.flags.append(
                f"{_mm(abs_min)} rule reference scan (UNCERTAIN, treatment.md §6.7): PD by "
                "target size "
                f"is {'met' if big['nadir'] else 'not met'} against the nadir scan and "
                f"{'met' if big['prior'] else 'not met'} against the prior scan; this "
                f"result uses '{ref_choice}' - manual review"
            )

    def _size_flags(self, st: _Step) -> None:
        """Small targets (§6.4a), non-targets growing past measurability (§6.4b), reappearance."""
        i, tps = st.i, self.tps
        ld_min = self.cfg.t("measurable_min_longest_diameter_mm")
        for t in self.targets:
            ld = exact(self.by_id[i][t].longest_diameter_mm)
            if 0 < ld < ld_min:
                note = (
                    f"scored as {_mm(self.scored(i, t))} (small_lesion_rule=recist_5mm)"
                    if self.scored(i, t) != ld
                    else "the measured value is used"
                )
                st.flags.append(
                    f"RANO-BM small-lesion rule - manual review: target {t} measures {_mm(ld)} "
                    f"(< {_mm(ld_min)}); {note} (UNCERTAIN, treatment.md §6.4a)"
                )
        for nt in self.non_targets:
            b = self.by_id[0][nt]
            c = self.by_id[i].get(nt)
            if c is not None and exact(b.longest_diameter_mm) < ld_min <= exact(
                c.longest_diameter_mm
            ):
                st.flags.append(
                    f"non-target {nt} grew from {_mm(b.longest_diameter_mm)} to "
                    f"{_mm(c.longest_diameter_mm)} (past {_mm(ld_min)}); whether this is PD is "
                    "UNCERTAIN (treatment.md §6.4b) - reader to judge 'nontarget_progression'"
                )
        for lid, now_les in self.by_id[i].items():
            before = self.by_id[i - 1].get(lid)
            if (
                before is not None
                and exact(before.longest_diameter_mm) == 0
                and exact(now_les.longest_diameter_mm) > 0
            ):
                st.flags.append(
                    f"lesion {lid} reappeared ({_mm(now_les.longest_diameter_mm)}) after it was "
                    f"gone on {tps[i - 1].date}; the spec gives no RANO-BM rule for "
                    "reappearance - manual review"
                )

    def _nontarget_progression(self, st: _Step) -> None:
        """Unequivocal non-target progression is the reader's call."""
        tp = self.tps[st.i]
        st.nt_prog = tp.nontarget_progression is True
        if st.nt_prog:
            st.reasons.append(
                "Unequivocal progression of non-target lesions (reader's assessment)"
            )
        elif tp.nontarget_progression is None and self.non_targets:
            st.flags.append(
                "non-target progression not assessed at this time point "
                "('nontarget_progression' not given)"
            )

    def _new_lesions(self, st: _Step) -> None:
        """New lesions (equivocal ones are flagged, not counted) and the iRANO context."""
        i = st.i
        st.seen = self.first_seen()
        st.new_now = [
            (lid, les)
            for lid, les in self.by_id[i].items()
            if lid not in self.by_id[0] and exact(les.longest_diameter_mm) > 0
        ]
        st.confirmed_new = [lid for lid, les in st.new_now if not les.equivocal]
        equivocal_new = [lid for lid, les in st.new_now if les.equivocal]
        if equivocal_new:
            st.flags.append(
                f"equivocal new lesion(s) {', '.join(equivocal_new)}: follow-up decides; if "
                "confirmed, PD is dated to the first scan that showed them"
            )
        st.on_io = self.on_io(i)
        if st.confirmed_new:
            first = min(st.seen[lid] for lid in st.confirmed_new)
            st.reasons.append(
                f"New lesion(s): {', '.join(st.confirmed_new)} (first seen "
                f"{self.tps[first].date})"
            )

    def _clinical_and_steroids(self, st: _Step) -> None:
        """Clinical status and the corticosteroid dose against its reference scan."""
        tps, i = self.tps, st.i
        st.clin = tps[i].clinical_status
        st.worse = st.clin == "worse"
        if st.worse:
            st.reasons.append("Clinical status worse")
        st.steroid_now = tps[i].steroid_mg_day
        st.refs = {"baseline": tps[0].steroid_mg_day, "previous": tps[i - 1].steroid_mg_day}
        increased = {
            k: (None if v is None or st.steroid_now is None
                else exact(st.steroid_now) > exact(v))
            for k, v in st.refs.items()
        }
        st.st_ref = self.cfg.opt("steroid_reference")
        st.steroid_up = increased[st.st_ref]
        if (
            increased["baseline"] is not None
            and increased["previous"] is not None
            and increased["baseline"] != increased["previous"]
        ):
            st.flags.append(
                "corticosteroid comparison scan not named by the spec: the dose is "
                f"{'increased' if increased['baseline'] else 'not increased'} vs baseline and "
                f"{'increased' if increased['previous'] else 'not increased'} vs the previous "
                f"time point; this result uses '{st.st_ref}' - manual review"
            )

    def _progression(self, st: _Step, prev: list[TimepointResult]) -> None:
        """A PD criterion is met: PD, unconfirmed PD (iRANO) or not PD on immunotherapy."""
        tps, i = self.tps, st.i
        other = st.pd_target or st.nt_prog or st.worse
        new_only = bool(st.confirmed_new) and not other
        st.pd_date = tps[i].date
        if st.confirmed_new:
            first_new = tps[min(st.seen[lid] for lid in st.confirmed_new)].date
            st.pd_date = first_new if not other else min(tps[i].date, first_new)
        if st.on_io and self.within_io_window(i) and not st.worse:
            self._irano_window(st, prev, new_only)
        elif st.on_io and new_only:
            st.reasons.append(
                "RANO-BM: on immunotherapy, new lesions alone do not define PD "
                f"(beyond the iRANO {self.cfg.ti('irano_window_months')}-month window)"
            )
            st.flags.append(
                f"new lesion(s) {', '.join(st.confirmed_new)} on immunotherapy without other "
                "progression: not scored as PD (RANO-BM immunotherapy rule) - manual review"
            )
        else:
            self._definite_pd(st, prev)

    def _irano_window(self, st: _Step, prev: list[TimepointResult], new_only: bool) -> None:
        """iRANO (§6.5): within the window and not clinically worse, PD needs confirmation."""
        tps, i = self.tps, st.i
        prev_cat = prev[-1].category if prev else None
        if prev_cat == "PD_unconfirmed" and (i - 1) >= 1 and self.on_io(i - 1):
            st.category = "PD"
            run = _unconfirmed_run_start(prev, i)
            st.pd_date = tps[run].date
            st.reasons.append(
                f"iRANO: progression persists on the follow-up scan after unconfirmed "
                f"PD on {tps[run].date}: PD confirmed, dated to {tps[run].date}"
            )
            st.flags.append(
                "iRANO confirmation interval and criterion UNCERTAIN (treatment.md "
                "§6.5): confirmed because this next scan still meets RANO-BM PD - "
                "manual review"
            )
            return
        st.category = "PD_unconfirmed"
        st.provisional = True
        months = self.cfg.ti("irano_window_months")
        st.reasons.append(
            f"iRANO: on immunotherapy since {self.rec.immunotherapy_start}, within "
            f"{months} months of its start, and not clinically worse: unconfirmed "
            "PD - repeat imaging (confirm on follow-up imaging); PD is not final"
        )
        if new_only:
            st.reasons.append("RANO-BM: on immunotherapy, new lesions alone do not define PD")

    def _definite_pd(self, st: _Step, prev: list[TimepointResult]) -> None:
        tps, i = self.tps, st.i
        st.category = "PD"
        if st.on_io and st.worse and self.within_io_window(i):
            st.reasons.append(
                "iRANO does not defer PD: the patient is clinically worse (read as "
                "significantly worse)"
            )
        if st.worse and not (st.pd_target or st.nt_prog or st.confirmed_new):
            st.flags.append(
                "PD rests on clinical status alone; RANO-BM counts clinical "
                "deterioration not attributable to other causes - manual review"
            )
        if prev and prev[-1].category == "PD_unconfirmed":
            run = _unconfirmed_run_start(prev, i)
            st.pd_date = tps[run].date
            st.reasons.append(
                f"PD follows unconfirmed PD of {tps[run].date} (iRANO): dated to "
                f"{tps[run].date}"
            )
            st.flags.append(
                "iRANO confirmation interval and criterion UNCERTAIN (treatment.md "
                "§6.5): PD dated back to the first unconfirmed scan - manual review"
            )

    def _response_candidate(self, st: _Step) -> str | None:
        """No PD: a CR or PR candidate (confirmed later), else SD (set on ``st``)."""
        blockers: list[str] = []
        if st.new_now:
            blockers.append("new lesion(s) present")
        if st.clin == "worse":
            blockers.append("clinical status worse")
        if st.clin is None:
            st.flags.append(
                "clinical status not recorded: the clinical condition for CR/PR/SD was not "
                "checked"
            )
        candidate = self._cr_candidate(st, blockers)
        if candidate is None:
            candidate = self._pr_candidate(st, blockers)
        if candidate is None:
            self._stable(st)
        return candidate

    def _cr_candidate(self, st: _Step, blockers: list[str]) -> str | None:
        """CR: every target and non-target gone, no new lesion, no corticosteroids."""
        i = st.i
        gone = bool(self.targets) and all(self.scored(i, t) == 0 for t in self.targets)
        nt_status = [self.nt_status(i, nt) for nt in self.non_targets]
        nt_gone = all(s == "gone" for s in nt_status)
        nt_unknown = any(s == "not_assessed" for s in nt_status)
        cr_ok = (gone or (not self.targets and self.non_targets)) and nt_gone
        candidate: str | None = None
        if cr_ok and not blockers:
            if st.steroid_now is None:
                st.flags.append(
                    "corticosteroid dose not recorded: CR requires no corticosteroids, not "
                    "checked"
                )
                candidate = "CR"
            elif exact(st.steroid_now) > 0:
                st.reasons.append(
                    f"All target lesions gone, but on corticosteroids ({st.steroid_now} "
                    "mg/day): not CR"
                )
            else:
                candidate = "CR"
            if candidate == "CR":
                st.reasons.append(
                    "All target and non-target lesions gone, no new lesions, no "
                    "corticosteroids, clinically " + (st.clin or "not recorded")
                )
        elif gone and nt_unknown:
            st.reasons.append(
                "All target lesions gone, but not every non-target lesion was re-measured: "
                "CR cannot be shown"
            )
        elif gone and not nt_gone:
            st.reasons.append("All target lesions gone, but non-target lesions remain: not CR")
        return candidate

    def _pr_candidate(self, st: _Step, blockers: list[str]) -> str | None:
        """PR: sum >= 30 % below baseline, no new lesion, steroids stable or decreased."""
        pr_down = self.cfg.t("pr_min_decrease_vs_baseline")
        if st.pct_base is None or st.pct_base > -pr_down:
            return None
        pr_block = list(blockers)
        if st.steroid_up:
            pr_block.append("corticosteroid dose increased")
        if st.steroid_now is None or st.refs[st.st_ref] is None:
            st.flags.append(
                "corticosteroid dose not recorded: the PR condition 'steroids stable or "
                "decreased' was not checked"
            )
        st.reasons.append(
            f"Sum of target LDs {_mm(st.now)} vs baseline {_mm(st.base)}: "
            f"{_pct_s(st.pct_base)} (PR needs <= -{float(pr_down) * 100:.0f}%)"
        )
        if pr_block:
            st.reasons.append("Not PR: " + "; ".join(pr_block))
            return None
        return "PR"

    def _stable(self, st: _Step) -> None:
        """Neither CR, PR nor PD."""
        cfg = self.cfg
        pr_down = cfg.t("pr_min_decrease_vs_baseline")
        pd_up = cfg.t("pd_min_increase_vs_nadir")
        abs_min = cfg.t("pd_min_absolute_increase_mm")
        st.category = "SD"
        if st.pct_base is not None and st.pct_base > -pr_down:
            st.reasons.append(
                f"Sum of target LDs {_mm(st.now)}: {_pct_s(st.pct_base)} vs baseline "
                f"{_mm(st.base)} (PR needs <= -{float(pr_down) * 100:.0f}%)"
                + (
                    f" and {_pct_s(st.pct_nadir)} vs nadir {_mm(st.nadir)} (PD needs "
                    f">= +{float(pd_up) * 100:.0f}% and a {_mm(abs_min)} rise)"
                    if st.pct_nadir is not None and not st.sum_up
                    else ""
                )
            )
        st.reasons.append("Neither CR, PR nor PD: stable disease")
        if st.steroid_up:
            st.flags.append(
                "corticosteroid dose increased: scored SD because a steroid increase "
                "alone is not PD, but RANO-BM lists 'stable/decreased' steroids for SD "
                "- manual review"
            )

    def nt_status(self, i: int, nt: str) -> str:
        les = self.by_id[i].get(nt)
        if les is None:
            return "not_assessed"
        return "gone" if exact(les.longest_diameter_mm) == 0 else "present"

    def _confirm(
        self, i: int, cand: str, candidates: list[str | None], reasons: list[str]
    ) -> tuple[str, bool]:
        """CR/PR stay provisional until sustained >= confirmation_min_days."""
        need = self.cfg.ti("confirmation_min_days")
        ok_levels = {"CR"} if cand == "CR" else {"CR", "PR"}

        def run_start(levels: set[str]) -> int:
            s = i
            while s - 1 >= 1 and candidates[s - 1] in levels:
                s -= 1
            return s

        s = run_start(ok_levels)
        days = (self.tps[i].date - self.tps[s].date).days
        if days >= need:
            reasons.append(
                f"{cand} first seen {self.tps[s].date}, sustained {days} days (>= {need}): "
                "confirmed"
            )
            return cand, False
        if cand == "CR":
            s_pr = run_start({"CR", "PR"})
            d_pr = (self.tps[i].date - self.tps[s_pr].date).days
            if d_pr >= need:
                reasons.append(
                    f"Response (PR or better) sustained {d_pr} days since {self.tps[s_pr].date}"
                )
        reasons.append(
            f"{cand} first seen {self.tps[s].date}: provisional until sustained >= {need} days "
            f"(so far {days} days) - confirm on a later scan"
        )
        return cand, True


def _volumetric(eng: _Engine) -> dict[str, Any] | None:
    tps = eng.tps
    ids = list(dict.fromkeys(lid for lesions in eng.by_id for lid in lesions))
    rows = []
    for lid in ids:
        vols = [
            (tps[i].date.isoformat(), lesions[lid].volume_ml)
            for i, lesions in enumerate(eng.by_id)
            if lid in lesions and lesions[lid].volume_ml is not None
        ]
        if vols:
            rows.append({"id": lid, "volumes_ml": [{"date": d, "ml": v} for d, v in vols]})
    if not rows:
        return None
    totals: list[dict[str, Any]] = []
    for i, lesions in enumerate(eng.by_id):
        vs = [les.volume_ml for les in lesions.values()]
        known = [v for v in vs if v is not None]
        if vs and len(known) == len(vs):
            totals.append({"date": tps[i].date.isoformat(), "ml": round(sum(known), 4)})
    out: dict[str, Any] = {"label": VOLUMETRIC_LABEL, "lesions": rows, "total_ml": totals}
    if len(totals) >= 2 and totals[0]["ml"] > 0:
        out["total_change_vs_baseline_pct"] = round(
            (totals[-1]["ml"] - totals[0]["ml"]) / totals[0]["ml"] * 100, 2
        )
    return out


def evaluate(
    timepoints_record: dict[str, Any] | TimepointsRecord,
    config: ResponseConfig | dict[str, str] | None = None,
) -> ResponseResult:
    """RANO-BM category of the latest time point, with the working for every time point.

    ``config``: ``None`` (the spec's defaults), a :class:`ResponseConfig`, or a dict of option
    overrides such as ``{"absolute_increase_reference": "prior"}``. Bad input raises
    :class:`~brainmets.model.InputError` naming the field path.
    """
    try:
        cfg = get_config(config)
    except ValueError as exc:
        raise InputError([f"config: {exc}"]) from None
    rec = (
        timepoints_record
        if isinstance(timepoints_record, TimepointsRecord)
        else parse_record(timepoints_record)
    )
    eng = _Engine(rec, cfg)
    history, last = _walk(eng)
    cur = history[-1]
    assert cur.category is not None
    vol = _volumetric(eng)
    from brainmets.response.caveats import attach_radiation_caveats

    return attach_radiation_caveats(ResponseResult(
        category=cur.category,
        provisional=cur.provisional,
        baseline_sum_mm=history[0].sum_mm,
        nadir_sum_mm=float(last["nadir"]),
        current_sum_mm=cur.sum_mm,
        targets=_target_rows(eng, last),
        reasons=cur.reasons,
        source=cfg.source_label,
        assessed_date=cur.date,
        baseline_date=rec.timepoints[0].date,
        pct_vs_baseline=cur.pct_vs_baseline,
        pct_vs_nadir=cur.pct_vs_nadir,
        pd_date=last["pd_date"],
        non_targets=_non_target_rows(eng),
        new_lesions=[
            NewLesion(
                id=lid, first_seen=rec.timepoints[last["seen"][lid]].date,
                current_mm=les.longest_diameter_mm, equivocal=les.equivocal,
            )
            for lid, les in last["new_now"]
        ],
        history=history,
        flags_for_review=_summary_flags(eng, history, vol is not None),
        volumetric=vol,
        options=dict(cfg.options),
        thresholds=cfg.as_dict()["thresholds"],
        references=_references(rec),
        warnings=[f"{k}: unknown field, ignored" for k in unknown_fields(rec)],
    ), rec.radiation_history)


def _walk(eng: _Engine) -> tuple[list[TimepointResult], dict[str, Any]]:
    """Assess every follow-up in date order; PD ends the assessment (later ones informative)."""
    tps = eng.tps
    history: list[TimepointResult] = [
        TimepointResult(
            date=tps[0].date, days_from_baseline=0, sum_mm=float(eng.sum_at(0)),
            nadir_sum_mm=None, pct_vs_baseline=None, pct_vs_nadir=None, category=None,
            provisional=False,
            reasons=[
                f"Baseline: {len(eng.targets)} target lesion(s) "
                f"({', '.join(eng.targets) or 'none'}), sum of LDs {_mm(eng.sum_at(0))}"
            ],
            flags_for_review=[],
        )
    ]
    candidates: list[str | None] = [None]
    last: dict[str, Any] = {}
    final_pd: dt.date | None = None
    for i in range(1, len(tps)):
        last = eng.assess(i, history[1:], candidates)
        if final_pd is not None:
            last["flags"].append(
                f"PD was already recorded on {final_pd}; RANO-BM assessment normally ends at "
                "PD, later categories are shown for information"
            )
        if last["category"] == "PD" and final_pd is None:
            final_pd = last["pd_date"] or tps[i].date
        history.append(
            TimepointResult(
                date=tps[i].date,
                days_from_baseline=(tps[i].date - tps[0].date).days,
                sum_mm=float(last["sum"]),
                nadir_sum_mm=float(last["nadir"]),
                pct_vs_baseline=_pct(last["pct_base"]),
                pct_vs_nadir=_pct(last["pct_nadir"]),
                category=last["category"],
                provisional=last["provisional"],
                reasons=last["reasons"],
                flags_for_review=_dedup(last["flags"]),
            )
        )
    return history, last


def _target_rows(eng: _Engine, last: dict[str, Any]) -> list[TargetLesion]:
    n = len(eng.tps) - 1
    nadir_idx = last["nadir_idx"]
    rows = []
    for t in eng.targets:
        hist = [float(eng.by_id[k][t].longest_diameter_mm) for k in range(n + 1)]
        b = exact(eng.by_id[0][t].longest_diameter_mm)
        rows.append(
            TargetLesion(
                id=t,
                baseline_mm=float(b),
                perpendicular_baseline_mm=eng.by_id[0][t].perpendicular_mm,
                current_mm=hist[-1],
                scored_mm=float(eng.scored(n, t)),
                nadir_scan_mm=hist[nadir_idx],
                prior_mm=hist[n - 1],
                change_vs_baseline_pct=_pct((exact(hist[-1]) - b) / b) if b > 0 else None,
                rise_vs_reference_mm=float(last["rises"][t]),
                history_mm=hist,
            )
        )
    return rows


def _non_target_rows(eng: _Engine) -> list[NonTargetLesion]:
    n = len(eng.tps) - 1
    return [
        NonTargetLesion(
            id=nt,
            baseline_mm=eng.by_id[0][nt].longest_diameter_mm,
            current_mm=(
                eng.by_id[n][nt].longest_diameter_mm if nt in eng.by_id[n] else None
            ),
            status=eng.nt_status(n, nt),
            why_non_target=eng.non_target_why.get(nt, ""),
        )
        for nt in eng.non_targets
    ]


def _summary_flags(eng: _Engine, history: list[TimepointResult], has_volumes: bool) -> list[str]:
    cfg = eng.cfg
    flags = list(eng.flags)
    for h in history:
        flags += [f"{h.date}: {f}" for f in h.flags_for_review]
    for key, value in cfg.non_default_options().items():
        flags.append(
            f"option {key}={value!r} differs from the spec default "
            f"{cfg.option_specs[key].default!r} (UNCERTAIN point, {cfg.option_specs[key].spec})"
        )
    if has_volumes:
        spec = cfg.option_specs["volumetric_criteria"].spec
        flags.append(
            f"volumes are shown for research only: no volumetric response criteria for brain "
            f"metastases were located (UNCERTAIN, {spec}); the category uses diameters only"
        )
    return _dedup(flags)


def _references(rec: TimepointsRecord) -> list[dict[str, str]]:
    from brainmets.knowledge import reference

    ref_ids = ["RANOBM"] + (["iRANO"] if rec.on_immunotherapy else [])
    return [{"id": r, "citation": reference(r).citation} for r in ref_ids]
