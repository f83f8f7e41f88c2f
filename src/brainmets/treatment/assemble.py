"""Run the rules for one patient and assemble the four lists (project decision 6):

* ``options``: a rule applies now (with the grade of that rule and the population it checked);
* ``awaiting``: a rule would apply, or not, once a named field is known (which test to order);
* ``not_applicable``: a rule's trigger is unmet (with the unmet condition);
* ``not_recommended``: a source advises against it (a MUST-NOT rule, with that source);

plus the statement on local therapy versus deferral (ASCO R2.1/R2.2, :mod:`.rules.timing`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from brainmets.model import (
    Awaiting,
    LocalTherapyTiming,
    NotApplicable,
    NotRecommended,
    Option,
    Patient,
    PrognosticEstimate,
    SourceRef,
)
from brainmets.treatment import context
from brainmets.treatment.engine import Outcome, evaluate, source_ref
from brainmets.treatment.rules import rules
from brainmets.treatment.rules.conditions import DRIVER_TESTING
from brainmets.treatment.rules.timing import local_therapy_timing

LOCAL = ("surgery", "srs", "cavity_srs", "wbrt", "ha_wbrt", "srs_plus_wbrt", "litt")
KIND_ORDER = {"local": 0, "systemic": 1, "supportive": 2}
SURVIVAL_USERS = ("ha_wbrt", "memantine", "wbrt", "palliative_care")
NO_REC = "no guideline recommendation encoded"
DRIVER_FIELDS = ("primary.egfr", "primary.alk", "primary.ros1", "primary.braf", "primary.ret",
                 "primary.met_ex14", "primary.ntrk", "primary.kras_g12c")
DEFERRAL_IDS = ("osimertinib", "icotinib", "alectinib", "brigatinib", "ceritinib",
                "ipilimumab_nivolumab", "dabrafenib_trametinib",
                "tucatinib_trastuzumab_capecitabine")
LMD_CAVEAT = ("Leptomeningeal disease: outside the population of the rule(s) that list this "
              "option (no guideline here covers LMD; the EANO-ESMO LM guideline was not read): "
              "shown only with this caveat; MDT (decision 8).")


@dataclass
class TreatmentResult:
    options: list[Option]
    not_recommended: list[NotRecommended]
    warnings: list[str]
    awaiting: list[Awaiting] = field(default_factory=list)
    not_applicable: list[NotApplicable] = field(default_factory=list)
    timing: LocalTherapyTiming | None = None


def run_full(patient: Patient, estimates: list[PrognosticEstimate]) -> TreatmentResult:
    ctx = context.build(patient, estimates)
    out = evaluate(rules(), ctx)
    warnings: list[str] = []
    _symptom_notes(ctx, out, warnings)
    _cross_notes(ctx, out)
    _survival_basis(ctx, out)
    _unknown_primary(ctx, out, warnings)
    _leptomeningeal(ctx, out, warnings)
    _steroids_while_asymptomatic(ctx, out)
    _untested_drivers(ctx, out, warnings)
    warnings.extend(_not_covered(ctx))
    awaiting = _awaiting(ctx, out)
    _awaiting_notes(ctx, awaiting, warnings)
    warnings.extend(_needs(out))
    options = _ordered(ctx, out)
    _attach_cards(options)
    deferral = any(o.defers_local_therapy for o in options)
    timing = local_therapy_timing(ctx, deferral)
    pending = [a.id for a in awaiting if a.id in DEFERRAL_IDS]
    if timing is not None and not timing.may_defer and pending and ctx.symptom != "symptomatic":
        timing.statement += (f" Pending results ({', '.join(pending)} under awaiting): a "
                             "deferral option may apply once they are known.")
    return TreatmentResult(
        options=options, not_recommended=_not_recommended(out), warnings=warnings,
        awaiting=awaiting, not_applicable=_not_applicable(out, {a.id for a in awaiting}),
        timing=timing)


def _awaiting_notes(ctx: context.Ctx, awaiting: list[Awaiting], warnings: list[str]) -> None:
    lmd = ctx.patient.brain_metastases.leptomeningeal is True
    if lmd:  # decision 8: every rule shown (options, and those awaiting a result) has the caveat
        for a in awaiting:
            a.reason += " " + LMD_CAVEAT
    if any(set(a.needs) & set(DRIVER_FIELDS) for a in awaiting if a.kind == "systemic"):
        warnings.insert(int(lmd), f"{DRIVER_TESTING.capitalize()}: driver-dependent options are "
                        "listed under 'awaiting' until the result is known (unknown is not "
                        "negative).")  # after the LMD caveat, which comes first


def run(
    patient: Patient, estimates: list[PrognosticEstimate]
) -> tuple[list[Option], list[NotRecommended], list[str]]:
    r = run_full(patient, estimates)
    return r.options, r.not_recommended, r.warnings


def _note(opt: Option, text: str) -> None:
    if text not in opt.notes:
        opt.notes.append(text)


def _symptom_notes(ctx: context.Ctx, out: Outcome, warnings: list[str]) -> None:
    """Symptom context as notes; the R2.1/R2.2 grades stay on the timing statement (decision 7)."""
    local = [o for o in out.options.values() if o.id in LOCAL]
    if ctx.symptom == "symptomatic":
        for o in local:
            _note(o, "Symptomatic BM: local therapy regardless of the systemic therapy used "
                     "(see the local-therapy timing statement: ASCO R2.1; ASTRO KQ1.7).")
        for o in out.options.values():
            if o.kind == "systemic":
                o.defers_local_therapy = False
        if "palliative_care" in out.options:
            msg = ("Conflict (shown, not resolved): ASCO22 R2.1 (strong): symptomatic BM -> local "
                   "therapy; ASTRO KQ3.5 / EANO21 [I,B]: poor prognosis -> supportive care alone "
                   "or short-course WBRT. Needs multidisciplinary discussion.")
            warnings.append(msg)
            for o in [out.options["palliative_care"], *local]:
                o.mdt = True
                _note(o, msg)
        elif not local:
            warnings.append("Symptomatic BM: ASCO22 R2.1 (strong) recommends local therapy, but "
                            "no local option's conditions are met with the data given; MDT.")
    elif ctx.symptom in ("asymptomatic", "mild_controlled") and local:
        lmd = ctx.patient.brain_metastases.leptomeningeal is True
        for o in local:
            _note(o, "Listed in parallel with any systemic option that may allow deferral (see "
                     "the local-therapy timing statement, ASCO R2.2)." if ctx.defer_fired else
                     "Leptomeningeal disease: local therapy is not deferred (outside every "
                     "deferral population, decision 8; MDT)." if lmd else
                     "Asymptomatic BM: local therapy is not deferred (no driver-specific "
                     "deferral rule applies; see the timing statement, ASCO R2.2).")


def _cross_notes(ctx: context.Ctx, out: Outcome) -> None:
    wbrt = out.options.get("wbrt")
    if wbrt is not None:
        for oid in ("ha_wbrt", "memantine"):
            if oid not in out.options:
                for reason, _ in out.rejected.get(oid, []):
                    _note(wbrt, f"{oid} not listed: {reason}")
        for fld, rule_names in out.needs.items():
            hit = [r for r in rule_names if "R3.5" in r or "KQ3.3" in r]
            if hit:
                _note(wbrt, f"needs: {fld} (to evaluate {', '.join(hit)})")
    # soft MUST-NOT entries whose option another rule lists: show the conflict on the option
    for oid, neg in list(out.negatives.items()):
        if oid in out.options:
            _note(out.options[oid], "Conflict (shown, not resolved): " + neg.reason)
            del out.negatives[oid]
    srs = out.options.get("srs")
    if srs is not None and ctx.n_unresected and ctx.n_unresected > _srs_strong_max():
        v = ctx.cumulative_volume_ml()
        if v is not None:
            _note(srs, f"Cumulative intact volume {v:g} ml (EANO21 SRS for 5-10 BM if < 15 ml).")


def _srs_strong_max() -> int:
    from brainmets.treatment.kb import settings

    return int(settings()["astro_kq1"]["srs_max_count_strong"])


def _survival_basis(ctx: context.Ctx, out: Outcome) -> None:
    if ctx.survival.basis is None:
        return
    for oid in SURVIVAL_USERS:
        if oid in out.options:
            out.options[oid].survival_basis = ctx.survival.basis


def _unknown_primary(ctx: context.Ctx, out: Outcome, warnings: list[str]) -> None:
    """Decision 10: tissue diagnosis first, before radiosurgery-only plans."""
    if ctx.site != "unknown":
        return
    warnings.append("No known primary: tissue diagnosis first (biopsy or resection), listed "
                    "before any radiosurgery-only plan; no systemic therapy before the diagnosis "
                    "(ASCO22 R1.1; EANO21; decision 10).")
    for oid in ("srs", "wbrt", "srs_plus_wbrt"):
        if oid in out.options:
            _note(out.options[oid], "No known primary: after tissue diagnosis (biopsy or "
                                    "resection) first (decision 10).")


def _leptomeningeal(ctx: context.Ctx, out: Outcome, warnings: list[str]) -> None:
    if ctx.patient.brain_metastases.leptomeningeal is not True:
        return
    warnings.insert(0, "Leptomeningeal disease is outside the scope of these rules (ASCO22, "
                       "ASTRO22 and EANO21 brain-metastasis recommendations): every option is "
                       "shown only with that caveat and needs MDT discussion (decision 8).")
    for o in out.options.values():
        o.notes.insert(0, LMD_CAVEAT)
        o.population.append("outside: leptomeningeal disease is not in this rule's population")
        o.mdt = True
        o.defers_local_therapy = False


def _steroids_while_asymptomatic(ctx: context.Ctx, out: Outcome) -> None:
    """Decision 12: 'asymptomatic' on dexamethasone is asked about, never silently deferred."""
    dex = ctx.patient.therapy.dexamethasone_mg_day
    if ctx.symptom != "asymptomatic" or not dex:
        return
    for o in out.options.values():
        if o.defers_local_therapy:
            o.mdt = True
            _note(o, f"Recorded as asymptomatic while on dexamethasone {dex:g} mg/day (see "
                     "input_checks): if the symptoms are controlled by steroids the status is "
                     "'mild_controlled'; confirm before deferring local therapy.")
    neg = out.negatives.get("dexamethasone")
    if neg is not None:  # the patient takes it now: say so beside "not recommended"
        from brainmets.treatment.kb import settings

        neg.reason += (f" The record shows dexamethasone {dex:g} mg/day now (see input_checks): "
                       "if the patient is truly asymptomatic, "
                       f"{settings()['dexamethasone']['taper']} (RYKEN10); if symptoms are "
                       "controlled by it, record 'mild_controlled'.")


def _untested_drivers(ctx: context.Ctx, out: Outcome, warnings: list[str]) -> None:
    """Decision 1: chemo-immunotherapy listed (EGFR/ALK negative, no driver recorded positive)
    while other driver results are missing: say which tests to complete."""
    from brainmets.treatment.rules.conditions import untested_drivers

    ici = [o for o in ("pembrolizumab_pemetrexed_platinum", "immune_checkpoint_inhibitor")
           if o in out.options]
    missing = untested_drivers(ctx) if ici else []
    if missing:
        warnings.append(f"{DRIVER_TESTING.capitalize()}: {', '.join(missing)} not recorded. "
                        f"{' and '.join(ici)} listed because EGFR and ALK are known negative "
                        "and no other driver is recorded positive (decision 1); a positive "
                        "result would exclude chemo-immunotherapy (decision 2).")


def _not_covered(ctx: context.Ctx) -> list[str]:
    w = []
    if ctx.count == 0:  # no zero lesions without a word
        w.append("brain_metastases.count is 0: no brain metastasis recorded, so no local-therapy "
                 "option and no statement on deferring local therapy apply; check the count.")
    if ctx.site == "sclc":
        w.append(f"SCLC beyond EANO21's pathway: {NO_REC} (ASCO22 has no SCLC-specific "
                 "recommendation; SCLC excluded from ASCO R3.2).")
    if any(le.prior_srs or le.enlarging_after_srs for le in ctx.lesions) or (
            ctx.patient.radiation_history):
        w.append(f"Re-irradiation: {NO_REC}.")
    if ctx.site in ("renal", "gi", "other"):
        w.append(f"Systemic therapy for primary site '{ctx.site}': {NO_REC} specific to brain "
                 "metastases.")
    if ctx.site == "breast" and ctx.her2() is False:
        w.append("HER2-negative breast cancer: EANO21 [III,C; III,B]: capecitabine, eribulin, or "
                 "carboplatin + bevacizumab may be considered after local treatment (no option "
                 "id encoded).")
    if ctx.site == "breast" and ctx.her2() is True:
        w.append("Trastuzumab deruxtecan: CNS data exist (see `brainmets drug "
                 f"trastuzumab_deruxtecan`) but {NO_REC} in the treatment specification.")
    if ctx.site == "melanoma" and ctx.braf() is True:
        w.append(f"Encorafenib + binimetinib: {NO_REC}; no BM-specific intracranial data in the "
                 "tool's evidence base.")
    if ctx.survival.note:
        w.append(ctx.survival.note)
    return w


def _needs(out: Outcome) -> list[str]:
    return [f"needs: {fld} (to evaluate {', '.join(dict.fromkeys(names))})"
            for fld, names in sorted(out.needs.items())]


def _awaiting(ctx: context.Ctx, out: Outcome) -> list[Awaiting]:
    res = []
    for oid, info in out.awaiting.items():
        if oid in out.options or oid in out.negatives or oid in out.vetoed:
            continue
        driver = bool(set(info["needs"]) & set(DRIVER_FIELDS))
        reasons = list(info["reasons"]) if driver else []
        if driver and not reasons:
            missing = [f for f in info["needs"] if f in DRIVER_FIELDS]
            reasons.append(f"{DRIVER_TESTING}: {', '.join(missing)} not known (unknown is not "
                           "negative, decision 1).")
        if not reasons:
            reasons.append(f"{'; '.join(info['rules'])}: would apply or not once "
                           f"{', '.join(info['needs'])} is known")
        res.append(Awaiting(id=oid, needs=info["needs"], reason=" ".join(reasons),
                            kind=info["kind"][0],
                            sources=[source_ref(k) for k in info["recs"]]))
    if ctx.site == "unknown":
        res.append(Awaiting(id="systemic_therapy", needs=["primary.site"], kind="systemic",
                            reason="No known primary: tissue diagnosis first (biopsy or "
                                   "resection); systemic therapy only once the primary is known "
                                   "(decision 10).",
                            sources=[source_ref("ASCO22:R1.1")]))
    return res


def _not_applicable(out: Outcome, awaiting: set[str]) -> list[NotApplicable]:
    res: dict[str, NotApplicable] = {}
    items = [*out.rejected.items(), *out.inapplicable.items()]
    for oid, entries in items:
        if oid in out.options or oid in out.negatives or oid in out.vetoed or oid in awaiting:
            continue
        for reason, recs in entries:
            cur = res.setdefault(oid, NotApplicable(id=oid, reason=reason))
            if reason not in cur.reason:
                cur.reason += " " + reason
            cur.sources.extend(r for r in (source_ref(k) for k in recs) if r not in cur.sources)
    return list(res.values())


def _ordered(ctx: context.Ctx, out: Outcome) -> list[Option]:
    opts = list(out.options.values())
    pos = {o.id: i for i, o in enumerate(opts)}
    if ctx.site == "melanoma":
        dex = ctx.patient.therapy.dexamethasone_mg_day or 0
        from brainmets.treatment.kb import settings

        if ctx.symptom == "symptomatic" or dex >= settings()["eano"]["dex_threshold_mg"]:
            pos["dabrafenib_trametinib"] = -1  # EANO21 context: symptomatic / dex >= 4 mg first
    return sorted(opts, key=lambda o: (KIND_ORDER[o.kind], pos[o.id]))


def _attach_cards(options: list[Option]) -> None:
    try:
        from brainmets.treatment.cards import option_card
    except ImportError:  # cards module not present
        return
    for o in options:
        if o.kind == "systemic" or o.id == "bevacizumab":
            o.card = option_card(o.id)


def _not_recommended(out: Outcome) -> list[NotRecommended]:
    res: dict[str, NotRecommended] = dict(out.negatives)
    if "temozolomide" in res:  # the documented negative example carries its trial
        res["temozolomide"].sources.append(SourceRef(
            id="RTOG0320", rec="trial", grading="randomised trial",
            text="WBRT + SRS alone vs + temozolomide vs + erlotinib: no survival gain, more "
                 "toxicity; see `brainmets drug temozolomide`."))
    for oid, (reason, recs) in out.vetoed.items():
        if oid in out.options:
            continue
        refs = [source_ref(k) for k in recs]
        if oid in res:  # advised against by two sources (e.g. R3.2 and R3.1): show both
            cur = res[oid]
            if reason not in cur.reason:
                cur.reason += " " + reason
            cur.sources.extend(r for r in refs if r not in cur.sources)
        else:
            res[oid] = NotRecommended(id=oid, reason=reason, sources=refs)
    return list(res.values())


def explain(patient: Patient, estimates: list[PrognosticEstimate]) -> dict[str, str]:
    """Verdict of every rule for this patient: fired | rejected | needs | silent."""
    ctx = context.build(patient, estimates)
    return dict(evaluate(rules(), ctx).trace)
