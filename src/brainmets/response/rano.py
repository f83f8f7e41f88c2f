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
        cfg, tps = self.cfg, self.tps
        tp = tps[i]
        reasons: list[str] = []
        flags: list[str] = []
        sums = [self.sum_at(k) for k in range(i + 1)]
        base, now = sums[0], sums[i]
        prior = sums[:i]
        nadir = min(prior)
        nadir_idx = max(k for k, s in enumerate(prior) if s == nadir)
        pct_base = (now - base) / base if base > 0 else None
        if nadir > 0:
            pct_nadir: Fraction | None = (now - nadir) / nadir
        else:
            pct_nadir = None
        pd_up = cfg.t("pd_min_increase_vs_nadir")
        pr_down = cfg.t("pr_min_decrease_vs_baseline")
        abs_min = cfg.t("pd_min_absolute_increase_mm")

        # --- target progression (>= 20 % vs nadir AND >= 5 mm in one lesion)
        sum_up = bool(self.targets) and (
            (pct_nadir is not None and pct_nadir >= pd_up) or (nadir == 0 and now > 0)
        )
        rises = {
            ref: {t: self.scored(i, t) - self.scored(k, t) for t in self.targets}
            for ref, k in (("nadir", nadir_idx), ("prior", i - 1))
        }
        ref_choice = cfg.opt("absolute_increase_reference")
        big = {ref: [t for t, r in rises[ref].items() if r >= abs_min] for ref in rises}
        pd_target = sum_up and bool(big[ref_choice])
        if sum_up:
            if nadir == 0:
                reasons.append(
                    f"Sum of target LDs rose from {_mm(0)} (all targets gone) to {_mm(now)}"
                )
            else:
                assert pct_nadir is not None
                reasons.append(
                    f"Sum of target LDs {_mm(now)} vs nadir {_mm(nadir)} "
                    f"({tps[nadir_idx].date}): {_pct_s(pct_nadir)}, at or above the "
                    f"+{float(pd_up) * 100:.0f}% PD threshold"
                )
            ref_word = "the nadir scan" if ref_choice == "nadir" else "the prior scan"
            if big[ref_choice]:
                grew = ", ".join(
                    f"{t} +{_mm(rises[ref_choice][t])}" for t in big[ref_choice]
                )
                reasons.append(
                    f"At least one target grew by >= {_mm(abs_min)} vs {ref_word}: {grew}"
                )
            else:
                top = max(rises[ref_choice].values()) if self.targets else Fraction(0)
                reasons.append(
                    f"but no target grew by >= {_mm(abs_min)} vs {ref_word} (largest rise "
                    f"{_mm(top)}), so the target criterion for PD is not met"
                )
            if bool(big["nadir"]) != bool(big["prior"]):
                flags.append(
                    f"{_mm(abs_min)} rule reference scan (UNCERTAIN, treatment.md §6.7): PD by "
                    "target size "
                    f"is {'met' if big['nadir'] else 'not met'} against the nadir scan and "
                    f"{'met' if big['prior'] else 'not met'} against the prior scan; this "
                    f"result uses '{ref_choice}' - manual review"
                )

        # --- small lesions (§6.4)
        ld_min = cfg.t("measurable_min_longest_diameter_mm")
        for t in self.targets:
            ld = exact(self.by_id[i][t].longest_diameter_mm)
            if 0 < ld < ld_min:
                note = (
                    f"scored as {_mm(self.scored(i, t))} (small_lesion_rule=recist_5mm)"
                    if self.scored(i, t) != ld
                    else "the measured value is used"
                )
                flags.append(
                    f"RANO-BM small-lesion rule - manual review: target {t} measures {_mm(ld)} "
                    f"(< {_mm(ld_min)}); {note} (UNCERTAIN, treatment.md §6.4a)"
                )
        for nt in self.non_targets:
            b = self.by_id[0][nt]
            c = self.by_id[i].get(nt)
            if c is not None and exact(b.longest_diameter_mm) < ld_min <= exact(
                c.longest_diameter_mm
            ):
                flags.append(
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
                flags.append(
                    f"lesion {lid} reappeared ({_mm(now_les.longest_diameter_mm)}) after it was "
                    f"gone on {tps[i - 1].date}; the spec gives no RANO-BM rule for "
                    "reappearance - manual review"
                )

        # --- non-target progression (reader's call)
        nt_prog = tp.nontarget_progression is True
        if nt_prog:
            reasons.append("Unequivocal progression of non-target lesions (reader's assessment)")
        elif tp.nontarget_progression is None and self.non_targets:
            flags.append(
                "non-target progression not assessed at this time point "
                "('nontarget_progression' not given)"
            )

        # --- new lesions
        seen = self.first_seen()
        new_now = [
            (lid, les)
            for lid, les in self.by_id[i].items()
            if lid not in self.by_id[0] and exact(les.longest_diameter_mm) > 0
        ]
        confirmed_new = [lid for lid, les in new_now if not les.equivocal]
        equivocal_new = [lid for lid, les in new_now if les.equivocal]
        if equivocal_new:
            flags.append(
                f"equivocal new lesion(s) {', '.join(equivocal_new)}: follow-up decides; if "
                "confirmed, PD is dated to the first scan that showed them"
            )
        on_io = self.on_io(i)
        if confirmed_new:
            first = min(seen[lid] for lid in confirmed_new)
            reasons.append(
                f"New lesion(s): {', '.join(confirmed_new)} (first seen {tps[first].date})"
            )

        # --- clinical status and steroids
        clin = tp.clinical_status
        worse = clin == "worse"
        if worse:
            reasons.append("Clinical status worse")
        steroid_now = tp.steroid_mg_day
        refs = {"baseline": tps[0].steroid_mg_day, "previous": tps[i - 1].steroid_mg_day}
        increased = {
            k: (None if v is None or steroid_now is None else exact(steroid_now) > exact(v))
            for k, v in refs.items()
        }
        st_ref = cfg.opt("steroid_reference")
        steroid_up = increased[st_ref]
        if (
            increased["baseline"] is not None
            and increased["previous"] is not None
            and increased["baseline"] != increased["previous"]
        ):
            flags.append(
                "corticosteroid comparison scan not named by the spec: the dose is "
                f"{'increased' if increased['baseline'] else 'not increased'} vs baseline and "
                f"{'increased' if increased['previous'] else 'not increased'} vs the previous "
                f"time point; this result uses '{st_ref}' - manual review"
            )

        # --- PD (any criterion), with iRANO
        rano_pd = pd_target or nt_prog or bool(confirmed_new) or worse
        category: str | None = None
        pd_date: dt.date | None = None
        provisional = False
        if rano_pd:
            new_only = bool(confirmed_new) and not (pd_target or nt_prog or worse)
            pd_date = tp.date
            if confirmed_new and not (pd_target or nt_prog or worse):
                pd_date = tps[min(seen[lid] for lid in confirmed_new)].date
            elif confirmed_new:
                pd_date = min(tp.date, tps[min(seen[lid] for lid in confirmed_new)].date)
            if on_io and self.within_io_window(i) and not worse:
                prev_cat = prev[-1].category if prev else None
                if prev_cat == "PD_unconfirmed" and (i - 1) >= 1 and self.on_io(i - 1):
                    category = "PD"
                    run = _unconfirmed_run_start(prev, i)
                    pd_date = tps[run].date
                    reasons.append(
                        f"iRANO: progression persists on the follow-up scan after unconfirmed "
                        f"PD on {tps[run].date}: PD confirmed, dated to {tps[run].date}"
                    )
                    flags.append(
                        "iRANO confirmation interval and criterion UNCERTAIN (treatment.md "
                        "§6.5): confirmed because this next scan still meets RANO-BM PD - "
                        "manual review"
                    )
                else:
                    category = "PD_unconfirmed"
                    provisional = True
                    months = cfg.ti("irano_window_months")
                    reasons.append(
                        f"iRANO: on immunotherapy since {self.rec.immunotherapy_start}, within "
                        f"{months} months of its start, and not clinically worse: unconfirmed "
                        "PD - repeat imaging (confirm on follow-up imaging); PD is not final"
                    )
                    if new_only:
                        reasons.append(
                            "RANO-BM: on immunotherapy, new lesions alone do not define PD"
                        )
            elif on_io and new_only:
                reasons.append(
                    "RANO-BM: on immunotherapy, new lesions alone do not define PD "
                    f"(beyond the iRANO {cfg.ti('irano_window_months')}-month window)"
                )
                flags.append(
                    f"new lesion(s) {', '.join(confirmed_new)} on immunotherapy without other "
                    "progression: not scored as PD (RANO-BM immunotherapy rule) - manual review"
                )
            else:
                category = "PD"
                if on_io and worse and self.within_io_window(i):
                    reasons.append(
                        "iRANO does not defer PD: the patient is clinically worse (read as "
                        "significantly worse)"
                    )
                if worse and not (pd_target or nt_prog or confirmed_new):
                    flags.append(
                        "PD rests on clinical status alone; RANO-BM counts clinical "
                        "deterioration not attributable to other causes - manual review"
                    )
                if prev and prev[-1].category == "PD_unconfirmed":
                    run = _unconfirmed_run_start(prev, i)
                    pd_date = tps[run].date
                    reasons.append(
                        f"PD follows unconfirmed PD of {tps[run].date} (iRANO): dated to "
                        f"{tps[run].date}"
                    )
                    flags.append(
                        "iRANO confirmation interval and criterion UNCERTAIN (treatment.md "
                        "§6.5): PD dated back to the first unconfirmed scan - manual review"
                    )
        if category is None and steroid_up:
            reasons.append(
                f"Corticosteroid dose increased vs {st_ref} "
                f"({refs[st_ref]} -> {steroid_now} mg/day); a steroid increase alone is not PD"
            )

        # --- CR / PR candidates
        candidate: str | None = None
        if category is None:
            any_new = bool(new_now)
            gone = bool(self.targets) and all(self.scored(i, t) == 0 for t in self.targets)
            nt_status = [self._nt_status(i, nt) for nt in self.non_targets]
            nt_gone = all(s == "gone" for s in nt_status)
            nt_unknown = any(s == "not_assessed" for s in nt_status)
            blockers: list[str] = []
            if any_new:
                blockers.append("new lesion(s) present")
            if clin == "worse":
                blockers.append("clinical status worse")
            if clin is None:
                flags.append(
                    "clinical status not recorded: the clinical condition for CR/PR/SD was not "
                    "checked"
                )
            cr_ok = (gone or (not self.targets and self.non_targets)) and nt_gone
            if cr_ok and not blockers:
                if steroid_now is None:
                    flags.append(
                        "corticosteroid dose not recorded: CR requires no corticosteroids, not "
                        "checked"
                    )
                    candidate = "CR"
                elif exact(steroid_now) > 0:
                    reasons.append(
                        f"All target lesions gone, but on corticosteroids ({steroid_now} "
                        "mg/day): not CR"
                    )
                else:
                    candidate = "CR"
                if candidate == "CR":
                    reasons.append(
                        "All target and non-target lesions gone, no new lesions, no "
                        "corticosteroids, clinically " + (clin or "not recorded")
                    )
            elif gone and nt_unknown:
                reasons.append(
                    "All target lesions gone, but not every non-target lesion was re-measured: "
                    "CR cannot be shown"
                )
            elif gone and not nt_gone:
                reasons.append("All target lesions gone, but non-target lesions remain: not CR")
            if candidate is None and pct_base is not None and pct_base <= -pr_down:
                pr_block = list(blockers)
                if steroid_up:
                    pr_block.append("corticosteroid dose increased")
                if steroid_now is None or refs[st_ref] is None:
                    flags.append(
                        "corticosteroid dose not recorded: the PR condition 'steroids stable or "
                        "decreased' was not checked"
                    )
                reasons.append(
                    f"Sum of target LDs {_mm(now)} vs baseline {_mm(base)}: {_pct_s(pct_base)} "
                    f"(PR needs <= -{float(pr_down) * 100:.0f}%)"
                )
                if pr_block:
                    reasons.append("Not PR: " + "; ".join(pr_block))
                else:
                    candidate = "PR"
            if candidate is None:
                category = "SD"
                if pct_base is not None and pct_base > -pr_down:
                    reasons.append(
                        f"Sum of target LDs {_mm(now)}: {_pct_s(pct_base)} vs baseline "
                        f"{_mm(base)} (PR needs <= -{float(pr_down) * 100:.0f}%)"
                        + (
                            f" and {_pct_s(pct_nadir)} vs nadir {_mm(nadir)} (PD needs "
                            f">= +{float(pd_up) * 100:.0f}% and a {_mm(abs_min)} rise)"
                            if pct_nadir is not None and not sum_up
                            else ""
                        )
                    )
                reasons.append("Neither CR, PR nor PD: stable disease")
                if steroid_up:
                    flags.append(
                        "corticosteroid dose increased: scored SD because a steroid increase "
                        "alone is not PD, but RANO-BM lists 'stable/decreased' steroids for SD "
                        "- manual review"
                    )
        candidates.append(candidate)
        if candidate is not None:
            category, provisional = self._confirm(i, candidate, candidates, reasons)
        return {
            "category": category,
            "provisional": provisional,
            "reasons": reasons,
            "flags": flags,
            "sum": now,
            "nadir": nadir,
            "pct_base": pct_base,
            "pct_nadir": pct_nadir,
            "pd_date": pd_date if category == "PD" else None,
            "nadir_idx": nadir_idx,
            "rises": rises[ref_choice],
            "new_now": new_now,
            "seen": seen,
        }

    def _nt_status(self, i: int, nt: str) -> str:
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
    totals = []
    for i, lesions in enumerate(eng.by_id):
        vs = [les.volume_ml for les in lesions.values()]
        if vs and all(v is not None for v in vs):
            totals.append({"date": tps[i].date.isoformat(), "ml": round(sum(vs), 4)})
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
    tps = rec.timepoints
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
    n = len(tps) - 1
    nadir_idx = last["nadir_idx"]
    targets = []
    for t in eng.targets:
        hist = [float(eng.by_id[k][t].longest_diameter_mm) for k in range(n + 1)]
        b = exact(eng.by_id[0][t].longest_diameter_mm)
        targets.append(
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
    non_targets = [
        NonTargetLesion(
            id=nt,
            baseline_mm=eng.by_id[0][nt].longest_diameter_mm,
            current_mm=(
                eng.by_id[n][nt].longest_diameter_mm if nt in eng.by_id[n] else None
            ),
            status=eng._nt_status(n, nt),  # noqa: SLF001
            why_non_target=eng.non_target_why.get(nt, ""),
        )
        for nt in eng.non_targets
    ]
    new_lesions = [
        NewLesion(
            id=lid, first_seen=tps[last["seen"][lid]].date,
            current_mm=les.longest_diameter_mm, equivocal=les.equivocal,
        )
        for lid, les in last["new_now"]
    ]
    flags = list(eng.flags)
    for h in history:
        flags += [f"{h.date}: {f}" for f in h.flags_for_review]
    non_default = cfg.non_default_options()
    for key, value in non_default.items():
        flags.append(
            f"option {key}={value!r} differs from the spec default "
            f"{cfg.option_specs[key].default!r} (UNCERTAIN point, {cfg.option_specs[key].spec})"
        )
    vol = _volumetric(eng)
    if vol is not None:
        spec = cfg.option_specs["volumetric_criteria"].spec
        flags.append(
            f"volumes are shown for research only: no volumetric response criteria for brain "
            f"metastases were located (UNCERTAIN, {spec}); the category uses diameters only"
        )
    ref_ids = ["RANOBM"] + (["iRANO"] if rec.on_immunotherapy else [])
    try:
        from brainmets.knowledge import reference

        refs = [{"id": r, "citation": reference(r).citation} for r in ref_ids]
    except Exception:  # noqa: BLE001 - citations are decoration; never fail the result
        refs = [{"id": r, "citation": ""} for r in ref_ids]
    cur = history[-1]
    assert cur.category is not None
    return ResponseResult(
        category=cur.category,
        provisional=cur.provisional,
        baseline_sum_mm=history[0].sum_mm,
        nadir_sum_mm=float(last["nadir"]),
        current_sum_mm=cur.sum_mm,
        targets=targets,
        reasons=cur.reasons,
        source=cfg.source_label,
        assessed_date=cur.date,
        baseline_date=tps[0].date,
        pct_vs_baseline=cur.pct_vs_baseline,
        pct_vs_nadir=cur.pct_vs_nadir,
        pd_date=last["pd_date"],
        non_targets=non_targets,
        new_lesions=new_lesions,
        history=history,
        flags_for_review=_dedup(flags),
        volumetric=vol,
        options=dict(cfg.options),
        thresholds=cfg.as_dict()["thresholds"],
        references=refs,
        warnings=[f"{k}: unknown field, ignored" for k in unknown_fields(rec)],
    )
