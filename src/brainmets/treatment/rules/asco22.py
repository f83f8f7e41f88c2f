"""ASCO-SNO-ASTRO 2022 (treatment.md §1.1): R1 surgery, R2 systemic/deferral, R3 RT, R4 timing.

R2.1/R2.2 (local therapy versus deferral) are in :mod:`.timing`: their grades belong to that
statement, not to each local option (project decision 7).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from brainmets.treatment.context import Ctx
from brainmets.treatment.engine import Cond, Rule
from brainmets.treatment.kb import dosing
from brainmets.treatment.rules.conditions import (
    LOCAL_RT,
    T,
    _n,
    asymptomatic,
    asymptomatic_gate,
    cavity_dose,
    cavity_notes,
    cavity_table_text,
    deferral_notes,
    driver_reason,
    egfr_sensitising,
    egfr_variant_notes,
    favourable,
    fired,
    ha_reject,
    ici_naive,
    kps_at_least,
    marker,
    memantine_dose,
    no_actionable_driver,
    no_hippocampal_lesion,
    not_leptomeningeal,
    prior_her2,
    r35_notes,
    site_is,
    site_not_sclc,
    srs_dose,
    srs_notes,
    srs_size_ok,
    surgery_notes,
    survival_at_least,
    therapy_flag,
    unresected_between,
    untested_drivers,
)

R = Rule


def _r31_kps(c: Ctx) -> bool | str:
    r31 = T()["asco_r31"]
    if c.kps is None:
        return "kps"
    if c.kps <= r31["kps_very_poor_max"]:
        return True
    if c.kps < r31["kps_poor_below"]:
        s = c.patient.therapy.systemic_options_available
        return "therapy.systemic_options_available" if s is None else s is False
    return False


def _r31_text(c: Ctx) -> str:
    r31 = T()["asco_r31"]
    why = (f"KPS {c.kps} <= {r31['kps_very_poor_max']}" if c.kps <= r31["kps_very_poor_max"]
           else f"KPS {c.kps} < {r31['kps_poor_below']} with no systemic therapy options")
    return (f"ASCO22 R3.1: asymptomatic BM with {why}: radiation therapy is not routinely "
            "offered; supportive/palliative care instead (QUARTZ: no OS or QALY gain).")


def veto() -> list[Rule]:
    conds = [asymptomatic(strict=True),
             Cond("KPS <= 50, or KPS < 70 with no systemic therapy options", _r31_kps)]
    gates = [Cond(c.label, c.test, gate=True) for c in conds]
    return [
        R("ASCO22 R3.1 (no RT)", "radiation_therapy", "local", ["ASCO22:R3.1"], conds,
          _r31_text, negative=True, veto=LOCAL_RT),
        R("ASCO22 R3.1 (palliative care)", "palliative_care", "supportive", ["ASCO22:R3.1"],
          gates, _r31_text),
    ]


def _mass(c: Ctx) -> bool | str:
    if not c.intact():
        return False
    v = c.any_mass_effect()
    return "brain_metastases.lesions[].mass_effect" if v is None else v


def surgery() -> list[Rule]:
    return [
        R("ASCO22 R1.1 (no known primary)", "surgery", "local",
          ["ASCO22:R1.1", "EANO21:surgery-diagnosis"],
          [Cond("no known primary", lambda c: "primary.site" if c.site is None
                else c.site == "unknown", gate=True), unresected_between(1, None)],
          "No known primary: tissue diagnosis first (biopsy or resection), before any "
          "radiosurgery-only plan (ASCO22 R1.1; EANO21 [III,C; IV,B]; project decision 10); "
          "resection also removes the tumour.",
          mdt=True, notes=surgery_notes),
        R("ASCO22 R1.1 (mass effect)", "surgery", "local",
          ["ASCO22:R1.1", "ASTRO22:KQ1.5-MDT"],
          [Cond("a lesion with mass effect", _mass)],
          "ASCO22 R1.1: large tumour with mass effect: surgery for mass effect; neurosurgical "
          "MDT discussion (ASTRO KQ1.5).", mdt=True, notes=surgery_notes),
    ]


def cavity() -> list[Rule]:
    t = T()
    return [
        R("ASCO22 R3.3 (resected)", "cavity_srs", "local",
          ["ASCO22:R3.3", "ASTRO22:KQ2.1", "ASTRO22:KQ2.2", "EANO21:cavity"],
          [Cond("1-2 resected brain metastases", lambda c: 1 <= c.n_resected
                <= t["asco_r33"]["max_resected"], gate=True)],
          lambda c: f"ASCO22 R3.3: {c.n_resected} resected brain metastasis(es): SRS to the "
          "surgical cavity (ASTRO KQ2.1-2.2: RT after resection, SRS over WBRT).",
          dose=cavity_dose, notes=cavity_notes),
        R("ASCO22 R3.3 (after planned resection)", "cavity_srs", "local",
          ["ASCO22:R3.3", "ASTRO22:KQ2.1", "ASTRO22:KQ2.3", "EANO21:cavity"],
          [fired("surgery"), Cond("no resected lesion yet", lambda c: c.n_resected == 0,
                                  gate=True),
           Cond("at most 2 brain metastases", lambda c: "brain_metastases.count"
                if c.count is None else c.count <= t["asco_r33"]["max_resected"], gate=True)],
          "If resection is done (and metastasis confirmed): SRS to the cavity (ASCO R3.3; "
          "ASTRO KQ2.1: observation alone is not an option); preoperative SRS is a conditional "
          "alternative (ASTRO KQ2.3).",
          dose=lambda c: cavity_table_text(), notes=cavity_notes),
    ]


def _r34_gate(c: Ctx) -> bool | str:
    t = T()["asco_r34"]
    if c.n_unresected is None:
        return "brain_metastases.count"
    return c.n_unresected > t["unresected_above"] or c.n_resected > t["resected_above"]


R34 = Cond("more than 4 unresected or more than 2 resected BM", _r34_gate, gate=True)


def _r34_srs_notes(c: Ctx) -> list[str]:
    out = ["ASCO R3.4: SRS may be preferred with better prognosis or when a CNS-active "
           "systemic therapy is available; no thresholds for volume, number or velocity."]
    if c.n_unresected and c.n_unresected > T()["astro_kq1"]["srs_max_count_conditional"]:
        out.append("ASTRO conditional recommendation covers only 5-10 BM (not extended to "
                   "11-15).")
    return out


def srs() -> list[Rule]:
    t = T()
    return [
        R("ASCO22 R3.2", "srs", "local", ["ASCO22:R3.2", "ASTRO22:KQ1.3"],
          [unresected_between(1, t["asco_r32"]["max_unresected"]), site_not_sclc(),
           srs_size_ok()],
          lambda c: f"ASCO22 R3.2: {_n(c)} unresected brain metastases (1-4), not small-cell: "
          "SRS alone rather than WBRT or WBRT + SRS.",
          dose=srs_dose,
          notes=lambda c: ["Trials behind R3.2 enrolled tumours < 3-4 cm without memantine/HA; "
                           "the abstract's 'asymptomatic, no systemic options' framing is context "
                           "only (formal text encoded).", *srs_notes(c)],
          reject_reason=lambda c: "ASCO22 R3.2 (SRS alone): population excludes small-cell "
          "carcinoma (SCLC)" if c.site == "sclc" else "ASCO22 R3.2: condition not met"),
        R("ASCO22 R3.4 (SRS)", "srs", "local", ["ASCO22:R3.4"],
          [R34, kps_at_least(t["asco_r34"]["kps_min"]), srs_size_ok()],
          lambda c: f"ASCO22 R3.4: {_n(c)} unresected / {c.n_resected} resected BM with KPS "
          f"{c.kps}: SRS is a reasonable option.", dose=srs_dose,
          notes=lambda c: [*_r34_srs_notes(c), *srs_notes(c)]),
    ]


def wbrt() -> list[Rule]:
    t = T()
    wb = dosing()["wbrt"]
    kps = kps_at_least(t["asco_r34"]["kps_min"])
    lim = unresected_between(1, t["asco_r32"]["max_unresected"])
    return [
        R("ASCO22 R3.4 (WBRT)", "wbrt", "local", ["ASCO22:R3.4", "CNS19-WBRT:30-10"],
          [R34, kps],
          lambda c: f"ASCO22 R3.4: {_n(c)} unresected / {c.n_resected} resected BM with KPS "
          f"{c.kps}: WBRT is a reasonable option (offer memantine and hippocampal avoidance "
          "where eligible, R3.5).",
          dose=lambda c: f"{wb['standard']} ({wb['standard_note']})"),
        R("ASCO22 R3.4 (SRS + WBRT)", "srs_plus_wbrt", "local", ["ASCO22:R3.4"], [R34, kps],
          lambda c: f"ASCO22 R3.4: {_n(c)} unresected / {c.n_resected} resected BM with KPS "
          f"{c.kps}: SRS + WBRT is a reasonable option.",
          notes=lambda c: ["If WBRT is part of the plan, memantine and hippocampal avoidance "
                           "where eligible (R3.5)."]),
        R("ASCO22 R3.2 (not WBRT)", "wbrt", "local", ["ASCO22:R3.2"], [lim, site_not_sclc()],
          "ASCO22 R3.2: for 1-4 unresected BM, SRS alone rather than WBRT (N0574: cognitive "
          "deterioration at 3 months 91.7% with SRS + WBRT vs 63.5% with SRS).",
          negative=True),
        R("ASCO22 R3.2 / ASTRO KQ3.4 (not SRS + WBRT)", "srs_plus_wbrt", "local",
          ["ASCO22:R3.2", "ASTRO22:KQ3.4"], [lim, site_not_sclc()],
          "ASCO22 R3.2 / ASTRO KQ3.4: limited BM: routine WBRT added to SRS is not recommended "
          "(SRS alone; close MRI surveillance).", negative=True),
    ]


def ha() -> list[Rule]:
    t = T()
    wb = dosing()["wbrt"]
    surv = t["asco_r35"]["min_expected_survival_months"]
    lim = t["asco_r35"]["hippocampus_exclusion_mm"]
    mem_notes = ("Grades differ (shown, not resolved): ASCO R3.5 strong/high (with HA); ASTRO "
                 "KQ3.3 Strong/Low; EANO21: role 'unclear'.")
    return [
        R("ASCO22 R3.5 (HA)", "ha_wbrt", "local", ["ASCO22:R3.5", "ASTRO22:KQ3.2"],
          [fired("wbrt"), no_hippocampal_lesion(), survival_at_least(surv), not_leptomeningeal(),
           Cond("favourable prognosis", favourable)],
          lambda c: f"ASCO22 R3.5 / ASTRO KQ3.2: WBRT planned, no lesion within {lim:g} mm of "
          f"the hippocampus, expected survival {c.survival.months:g} months >= {surv:g}: "
          "hippocampal avoidance with memantine (CC001: cognitive failure HR 0.74).",
          dose=lambda c: f"{wb['standard']} with hippocampal avoidance ({wb['ha_dose_note']})",
          notes=r35_notes, reject_reason=ha_reject),
        R("ASCO22 R3.5 (memantine)", "memantine", "supportive", ["ASCO22:R3.5", "EANO21:memantine"],
          [fired("wbrt"), no_hippocampal_lesion(), survival_at_least(surv)],
          lambda c: f"ASCO22 R3.5: WBRT planned with expected survival {c.survival.months:g} "
          f"months >= {surv:g} and no hippocampal lesion: memantine.",
          dose=memantine_dose,
          notes=lambda c: [T()["memantine"]["trial_note"], T()["memantine"]["renal_note"],
                           mem_notes, *r35_notes(c)],
          reject_reason=lambda c: "memantine (ASCO R3.5): " + ha_reject(c)),
    ]


def _targeted(drug: str, rec: str, mk: Cond, label: str, extra: list[str]) -> Rule:
    return R(f"ASCO22 {rec} ({drug})", drug, "systemic",
             [f"ASCO22:{rec}", "ASTRO22:KQ1.8", "EANO21:nsclc-targeted"],
             [site_is("nsclc"), mk, asymptomatic_gate()],
             f"ASCO22 {rec}: asymptomatic BM with {label} NSCLC: {drug}; local therapy may be "
             "delayed until intracranial progression (MDT).", mdt=True, defers=True,
             notes=deferral_notes(extra), awaiting_reason=lambda c: driver_reason(c))


def egfr_alk() -> list[Rule]:
    icotinib = ["Icotinib was not FDA/EMA-approved when the guideline was published."]
    alk = ["Crizotinib was deliberately not included (ALESIA/ALEX); lorlatinib is not in the "
           "R2.4 list (no guideline recommendation encoded; see `brainmets drug lorlatinib`)."]
    out = [_targeted(d, "R2.3", egfr_sensitising(), "EGFR-mutant", x)
           for d, x in (("osimertinib", []), ("icotinib", icotinib))]
    for rule in out:
        base = rule.notes
        rule.notes = _with_variant_notes(base)
    out += [_targeted(d, "R2.4", marker("alk", "ALK-rearranged"), "ALK-rearranged", alk)
            for d in ("alectinib", "brigatinib", "ceritinib")]
    out.append(R("ASCO22 R2.4 (crizotinib excluded)", "crizotinib", "systemic", ["ASCO22:R2.4"],
                 [site_is("nsclc"), Cond("ALK-rearranged", lambda c: c.alk() is True, gate=True)],
                 "ASCO22 R2.4: crizotinib was deliberately not included as a regimen that "
                 "justifies deferring local therapy (ALESIA/ALEX favour alectinib, brigatinib, "
                 "ceritinib).", negative=True))
    return out


def _ici_notes(c: Ctx) -> list[str]:
    missing = untested_drivers(c)
    if not missing:
        return []
    return [f"Not recorded: {', '.join(missing)}: complete driver testing; a positive result "
            "would exclude chemo-immunotherapy (decision 1)."]


def pembrolizumab() -> list[Rule]:
    def expressing(c: Ctx) -> bool | str:
        v = c.mk.pdl1_tps
        return "primary.pdl1_tps" if v is None else v > 0

    return [R("ASCO22 R2.5", "pembrolizumab_pemetrexed_platinum", "systemic", ["ASCO22:R2.5"],
              [site_is("nsclc"), no_actionable_driver(), asymptomatic(strict=True),
               therapy_flag("immunotherapy_naive", "immunotherapy-naive"),
               Cond("not on checkpoint inhibitors", lambda c: c.patient.therapy.on_immunotherapy
                    is not True),
               Cond("PD-L1 expressing (TPS > 0%)", expressing),
               therapy_flag("planned_pemetrexed_platinum", "receiving pemetrexed plus a platinum")],
              "ASCO22 R2.5: asymptomatic BM, immunotherapy-naive PD-L1-expressing NSCLC "
              "receiving pemetrexed-platinum, EGFR/ALK negative: add pembrolizumab, together "
              "with local therapy (no deferral).",
              defers=False,
              notes=lambda c: ["ASCO22 makes no deferral statement for R2.5 (the panel reached "
                               "no consensus): local therapy per R2.2/R3.x is listed alongside.",
                               "ASCO22 gives no numeric PD-L1 cut-off for 'expressing'; any TPS "
                               "> 0% is treated as expressing.", *_ici_notes(c)],
              awaiting_reason=lambda c: driver_reason(c)
              if c.egfr() is None or c.alk() is None else None,
              reject_reason=lambda c: "ASCO22 R2.5: " + (driver_reason(c) if driver_text_any(c)
                                                         else "condition not met"))]


def driver_text_any(c: Ctx) -> bool:
    from brainmets.treatment.rules.conditions import driver_text

    return bool(driver_text(c))


def _no_ici_deferral(c: Ctx) -> bool:
    t = c.patient.therapy
    return t.on_immunotherapy is not True and t.immunotherapy_naive is not False


def _ici_unknown_note(c: Ctx) -> list[str]:
    t = c.patient.therapy
    if t.on_immunotherapy is None and t.immunotherapy_naive is None:
        return ["Immunotherapy history not recorded: deferral under R2.6 is for "
                "immunotherapy-naive patients (decision 5): confirm (therapy.immunotherapy_naive)."]
    return []


def melanoma() -> list[Rule]:
    v600 = ["R2.6 names BRAF V600E; primary.braf 'positive' means a V600 mutation (COMBI-MB also "
            "enrolled V600D/K/R cohorts)."]
    return [
        R("ASCO22 R2.6 (ipi + nivo)", "ipilimumab_nivolumab", "systemic",
          ["ASCO22:R2.6", "EANO21:melanoma-ipinivo", "ASTRO22:KQ1.8"],
          [site_is("melanoma"), asymptomatic(), ici_naive()],
          "ASCO22 R2.6: asymptomatic melanoma BM (any BRAF status), immunotherapy-naive: "
          "ipilimumab + nivolumab; local therapy may be delayed until intracranial progression "
          "(MDT). EANO21: preferred first line, also when BRAF-mutated and asymptomatic.",
          mdt=True, defers=True,
          notes=lambda c: [*deferral_notes()(c), *_ici_unknown_note(c)],
          reject_reason=lambda c: "ASCO22 R2.6 (ipilimumab + nivolumab with deferral) is for "
          "asymptomatic, immunotherapy-naive melanoma BM; symptomatic BM or a patient on/after "
          "checkpoint inhibitors gets local therapy, the systemic question goes to the MDT "
          "(R2.1; decision 5)."),
        R("ASCO22 R2.6 (dabrafenib + trametinib)", "dabrafenib_trametinib", "systemic",
          ["ASCO22:R2.6", "ASTRO22:KQ1.8"],
          [site_is("melanoma"), marker("braf", "BRAF V600-mutant"), asymptomatic_gate()],
          lambda c: "ASCO22 R2.6: asymptomatic BRAF V600E melanoma BM: dabrafenib + trametinib; "
          + ("local therapy may be delayed until intracranial progression (MDT)."
             if _no_ici_deferral(c) else "given with local therapy: no deferral on or after "
             "checkpoint inhibitors (decision 5); systemic question for the MDT."),
          mdt=True, defers=_no_ici_deferral,
          notes=lambda c: [*deferral_notes(v600)(c), *_ici_unknown_note(c)]),
    ]


def her2() -> list[Rule]:
    def no_symptomatic_mass(c: Ctx) -> bool | str:
        if c.symptom is None:
            return "symptoms.status"
        return not (c.symptom == "symptomatic" and c.any_mass_effect() is True)

    return [
        R("ASCO22 R2.7", "tucatinib_trastuzumab_capecitabine", "systemic",
          ["ASCO22:R2.7", "EANO21:her2", "ASTRO22:KQ1.8"],
          [site_is("breast"), marker("her2", "HER2-positive"), asymptomatic(), prior_her2(True)],
          "ASCO22 R2.7: HER2+ breast cancer, asymptomatic BM, progression on prior trastuzumab/"
          "pertuzumab/T-DM1: tucatinib + trastuzumab + capecitabine; local therapy may be "
          "delayed until intracranial progression (MDT).", mdt=True, defers=True,
          notes=deferral_notes(["HER2CLIMB BM subgroup (n = 291): OS HR 0.58 (0.40-0.85); PFS "
                                "HR 0.48 (0.34-0.69)."])),
        R("ASCO-HER2-22 R7.1", "tucatinib_trastuzumab_capecitabine", "systemic",
          ["ASCO-HER2-22:R7.1", "EANO21:her2"],
          [site_is("breast"), marker("her2", "HER2-positive"),
           Cond("no symptomatic mass effect", no_symptomatic_mass), prior_her2(False)],
          "ASCO-HER2-22 R7.1 (2022 update, most recent): HER2+ BM without symptomatic mass "
          "effect after at least one prior HER2-directed therapy: tucatinib + trastuzumab + "
          "capecitabine.",
          notes=["Both versions shown: ASCO22 R2.7 (2022 JCO guideline) and ASCO-HER2-22 R7.1 "
                 "(later HER2 update); Rec 8.2: may also be offered with stable BM after local "
                 "therapy. ASCO-HER2-22 citation details unconfirmed."]),
    ]


def never() -> list[Rule]:
    return [
        R("ASCO22 temozolomide", "temozolomide", "systemic", ["ASCO22:R2.2-TMZ"], [],
          "ASCO22: temozolomide is not recommended (two small trials of WBRT +/- "
          "temozolomide); RTOG 0320 (n = 126): median survival 13.4 months with WBRT + SRS vs "
          "6.3 months with added temozolomide, grade 3-5 toxicity 11% vs 41%.", negative=True),
        R("ASCO22 R3.6", "radiosensitizer", "systemic", ["ASCO22:R3.6"], [],
          "ASCO22 R3.6 (strong): radiation-sensitising agents should not be offered "
          "(simvastatin, motexafin gadolinium and chloroquine trials were negative).",
          negative=True),
    ]


@functools.cache
def phases() -> dict[str, list[Rule]]:
    """This section's rules by evaluation phase (see :mod:`brainmets.treatment.rules`)."""
    return {"veto": veto(), "surgery": surgery(), "cavity": cavity(), "srs": srs(),
            "wbrt": wbrt(), "ha": ha(),
            "systemic": [*egfr_alk(), *pembrolizumab(), *melanoma(), *her2()],
            "never": never()}


def _with_variant_notes(
    base: Callable[[Ctx], list[str]] | list[str],
) -> Callable[[Ctx], list[str]]:
    """The rule's notes followed by the EGFR-variant notes."""
    def notes(c: Ctx) -> list[str]:
        first = base(c) if callable(base) else list(base)
        return [*first, *egfr_variant_notes(c)]
    return notes
