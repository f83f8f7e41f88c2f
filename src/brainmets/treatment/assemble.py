"""Run the rules for one patient and assemble options, not-recommended entries and warnings."""

from __future__ import annotations

from brainmets.model import NotRecommended, Option, Patient, PrognosticEstimate, SourceRef
from brainmets.treatment import context
from brainmets.treatment.engine import Outcome, evaluate, source_ref
from brainmets.treatment.rules import rules

LOCAL = ("surgery", "srs", "cavity_srs", "wbrt", "ha_wbrt", "srs_plus_wbrt", "litt")
KIND_ORDER = {"local": 0, "systemic": 1, "supportive": 2}
SURVIVAL_USERS = ("ha_wbrt", "memantine", "wbrt", "palliative_care")
NO_REC = "no guideline recommendation encoded"


def run(
    patient: Patient, estimates: list[PrognosticEstimate]
) -> tuple[list[Option], list[NotRecommended], list[str]]:
    ctx = context.build(patient, estimates)
    out = evaluate(rules(), ctx)
    warnings: list[str] = []
    _symptom_sources(ctx, out, warnings)
    _cross_notes(ctx, out)
    _survival_basis(ctx, out)
    warnings.extend(_not_covered(ctx))
    warnings.extend(_needs(out))
    options = _ordered(ctx, out)
    _attach_cards(options)
    return options, _not_recommended(out), warnings


def _add_source(opt: Option, key: str) -> None:
    ref = source_ref(key)
    if ref not in opt.sources:
        opt.sources.append(ref)


def _note(opt: Option, text: str) -> None:
    if text not in opt.notes:
        opt.notes.append(text)


def _symptom_sources(ctx: context.Ctx, out: Outcome, warnings: list[str]) -> None:
    local = [o for o in out.options.values() if o.id in LOCAL]
    if ctx.symptom == "symptomatic":
        for o in local:
            _add_source(o, "ASCO22:R2.1")
            _add_source(o, "ASTRO22:KQ1.7")
            _note(o, "Symptomatic BM: local therapy regardless of the systemic therapy used "
                     "(ASCO R2.1 strong; ASTRO KQ1.7 upfront local therapy).")
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
    elif ctx.symptom == "asymptomatic" and local:
        for o in local:
            _add_source(o, "ASCO22:R2.2")
            if ctx.defer_fired:
                _note(o, "Listed in parallel with the systemic option that may allow deferral "
                         "(ASCO R2.2: deferral only under R2.3/2.4/2.6/2.7, with MDT).")
            else:
                _note(o, "ASCO R2.2: asymptomatic BM: local therapy is not deferred (no "
                         "driver-specific deferral rule applies).")
    elif ctx.symptom == "mild_controlled" and local:
        for o in local:
            _note(o, "Mild symptoms controlled with supportive therapy: ASCO22 gave no formal "
                     "definition of symptomatic; deferral only after MDT discussion.")


def _cross_notes(ctx: context.Ctx, out: Outcome) -> None:
    wbrt = out.options.get("wbrt")
    if wbrt is not None:
        for oid in ("ha_wbrt", "memantine"):
            if oid not in out.options:
                for reason, _ in out.rejected.get(oid, []):
                    _note(wbrt, f"{oid} not listed: {reason}")
        for field, rule_names in out.needs.items():
            hit = [r for r in rule_names if "R3.5" in r or "KQ3.3" in r]
            if hit:
                _note(wbrt, f"needs: {field} (to evaluate {', '.join(hit)})")
    # soft MUST-NOT entries whose option another rule lists: show the conflict on the option
    for oid, neg in list(out.negatives.items()):
        if oid in out.options:
            _note(out.options[oid], "Conflict (shown, not resolved): " + neg.reason)
            del out.negatives[oid]
    srs = out.options.get("srs")
    if srs is not None and ctx.n_unresected and ctx.n_unresected >= 5:
        v = ctx.cumulative_volume_ml()
        if v is not None:
            _note(srs, f"Cumulative intact volume {v:g} ml (EANO21 SRS for 5-10 BM if < 15 ml).")


def _survival_basis(ctx: context.Ctx, out: Outcome) -> None:
    if ctx.survival.basis is None:
        return
    for oid in SURVIVAL_USERS:
        if oid in out.options:
            out.options[oid].survival_basis = ctx.survival.basis


def _not_covered(ctx: context.Ctx) -> list[str]:
    w = []
    if ctx.site == "sclc":
        w.append(f"SCLC beyond EANO21's pathway: {NO_REC} (ASCO22 has no SCLC-specific "
                 "recommendation; SCLC excluded from ASCO R3.2).")
    if ctx.patient.brain_metastases.leptomeningeal is True:
        w.append(f"Leptomeningeal disease: {NO_REC} (the EANO-ESMO leptomeningeal guideline was "
                 "not read; UNCERTAIN). Hippocampal avoidance is not used with LMD (ASTRO KQ3.2).")
    if any(le.prior_srs or le.enlarging_after_srs for le in ctx.lesions):
        w.append(f"Re-irradiation: {NO_REC}.")
    if ctx.site in ("renal", "gi", "other", "unknown"):
        w.append(f"Systemic therapy for primary site '{ctx.site}': {NO_REC} specific to brain "
                 "metastases.")
    if ctx.site == "nsclc" and ctx.ros1() is True:
        w.append("ROS1-rearranged NSCLC: EANO21 [II,B; III,B] upfront targeted therapy for "
                 f"asymptomatic/oligosymptomatic BM; no specific agent: {NO_REC}.")
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
    return [f"needs: {field} (to evaluate {', '.join(dict.fromkeys(names))})"
            for field, names in sorted(out.needs.items())]


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
    res: dict[str, NotRecommended] = {}
    for oid, neg in out.negatives.items():
        res[oid] = neg
    if "temozolomide" in res:  # the documented negative example carries its trial
        res["temozolomide"].sources.append(SourceRef(
            id="RTOG0320", rec="trial", grading="randomised trial",
            text="WBRT + SRS alone vs + temozolomide vs + erlotinib: no survival gain, more "
                 "toxicity; see `brainmets drug temozolomide`."))
    for oid, items in out.rejected.items():
        if oid in out.options or oid in out.negatives:
            continue
        for reason, recs in items:
            refs = [source_ref(k) for k in recs]
            cur = res.get(oid)
            if cur is None:
                res[oid] = NotRecommended(id=oid, reason=reason, sources=refs)
            elif reason not in cur.reason:
                cur.reason += " " + reason
                cur.sources.extend(r for r in refs if r not in cur.sources)
    return list(res.values())


def explain(patient: Patient, estimates: list[PrognosticEstimate]) -> dict[str, str]:
    """Verdict of every rule for this patient: fired | rejected | needs | silent."""
    ctx = context.build(patient, estimates)
    return dict(evaluate(rules(), ctx).trace)
