"""Condition builders and text helpers shared by the rule modules (one per guideline section).

Thresholds come from ``knowledge/data/treatment/thresholds.toml``; grading from
``recommendations.toml``. No clinical number is written here (a test checks it).
"""

from __future__ import annotations

from collections.abc import Callable

from brainmets.treatment import dosing as dz
from brainmets.treatment.context import Ctx
from brainmets.treatment.engine import Cond
from brainmets.treatment.kb import dosing, settings

LOCAL_RT = ("srs", "cavity_srs", "wbrt", "ha_wbrt", "srs_plus_wbrt")
# ASCO R2.7: "prior trastuzumab, pertuzumab and/or T-DM1-based therapy"; an entry counts when it
# names one of these (e.g. "trastuzumab + pertuzumab", "ado-trastuzumab emtansine", brand names).
# Trastuzumab deruxtecan is not named by R2.7: it does not count (R7.1 still applies).
HER2_PRIOR_NAMES = ("trastuzumab", "pertuzumab", "t-dm1", "tdm1", "t dm1", "emtansine",
                    "herceptin", "perjeta", "kadcyla", "phesgo")


def names_r27_agent(entry: str) -> bool:
    """The prior-therapy entry names an agent of ASCO R2.7 (decision 5)."""
    e = entry.strip().lower().replace("trastuzumab deruxtecan", "")
    return any(x in e for x in HER2_PRIOR_NAMES)


def T() -> dict:
    return settings()


# ------------------------------------------------------------------ condition builders


def site_is(site: str) -> Cond:
    return Cond(f"primary site {site}",
                lambda c: "primary.site" if c.site is None else c.site == site, gate=True)


def site_not_sclc() -> Cond:
    return Cond("histology is not small-cell carcinoma",
                lambda c: "primary.site" if c.site is None else c.site != "sclc")


def marker(name: str, label: str) -> Cond:
    """Marker positive; negative -> not applicable; unknown -> awaiting (never negative)."""
    def test(c: Ctx) -> bool | str:
        v = getattr(c, name)()
        return f"primary.{name}" if v is None else v
    return Cond(f"{label} [primary.{name}]", test)


# NSCLC drivers other than EGFR/ALK that exclude chemo-immunotherapy (project decisions 1-2)
OTHER_DRIVERS = (("ros1", "ROS1"), ("ret", "RET"), ("met_ex14", "MET exon 14"),
                 ("braf", "BRAF V600E"), ("ntrk", "NTRK"), ("kras_g12c", "KRAS G12C"))
DRIVER_TESTING = "complete driver testing before choosing systemic therapy"


def egfr_exon20(c: Ctx) -> bool:
    """An exon 20 insertion recorded (even beside an EGFR value that contradicts it: read on the
    safe side, it still excludes chemo-immunotherapy; see input_checks)."""
    return c.mk.egfr_variant == "exon20_insertion"


def other_drivers(c: Ctx) -> list[str]:
    """Actionable NSCLC drivers other than EGFR/ALK recorded positive (exon 20 insertion too)."""
    out = [label for name, label in OTHER_DRIVERS if getattr(c.mk, name, None) == "positive"]
    return (["EGFR exon 20 insertion"] if egfr_exon20(c) else []) + out


def untested_drivers(c: Ctx) -> list[str]:
    return [label for name, label in OTHER_DRIVERS if getattr(c.mk, name, None) != "positive"
            and getattr(c.mk, name, None) != "negative"]


def egfr_sensitising() -> Cond:
    """EGFR-mutant for R2.3: positive, and not an exon 20 insertion (project decision 3)."""
    def test(c: Ctx) -> bool | str:
        if egfr_exon20(c):
            return False
        v = c.egfr()
        return "primary.egfr" if v is None else v
    return Cond("EGFR-mutant (not exon 20 insertion) [primary.egfr, primary.egfr_variant]", test)


def no_actionable_driver() -> Cond:
    """ICI population: EGFR and ALK known negative, no other driver positive (decision 1)."""
    def test(c: Ctx) -> bool | list[str]:
        if c.egfr() is True or c.alk() is True or other_drivers(c):
            return False
        missing = [f"primary.{m}" for m in ("egfr", "alk") if getattr(c, m)() is None]
        return missing or True
    return Cond("EGFR and ALK known negative and no other actionable driver positive "
                "(decision 1) [primary.egfr, primary.alk, primary.ros1 ...]", test)


def driver_text(c: Ctx) -> str:
    found = other_drivers(c) + [m for m, v in (("EGFR", c.egfr()), ("ALK", c.alk())) if v]
    return ", ".join(dict.fromkeys(found))


def driver_reason(c: Ctx) -> str:
    """Why chemo-immunotherapy is not applicable / awaiting, from the driver results."""
    found = driver_text(c)
    if found:
        return (f"actionable driver recorded ({found}): no chemo-immunotherapy; the pivotal "
                "trial population excluded driver alterations (project decisions 1-2).")
    return (f"{DRIVER_TESTING}: EGFR/ALK result missing (unknown is not negative; immunotherapy "
            "before an EGFR TKI is a known toxicity concern, decision 1).")


def ici_naive() -> Cond:
    """Not on or after checkpoint inhibitors (deferral populations, decision 5)."""
    def test(c: Ctx) -> bool:
        t = c.patient.therapy
        return t.on_immunotherapy is not True and t.immunotherapy_naive is not False
    return Cond("immunotherapy-naive (not on or after checkpoint inhibitors) "
                "[therapy.immunotherapy_naive, therapy.on_immunotherapy]", test)


def asymptomatic_gate(strict: bool = False) -> Cond:
    c = asymptomatic(strict)
    return Cond(c.label, c.test, gate=True)


def symptomatic_gate() -> Cond:
    """Symptomatic, or status not recorded: the drug fits the biology either way (decision 4);
    only deferral depends on the symptoms."""
    return Cond("symptomatic brain metastases, or symptom status not recorded (no deferral) "
                "[symptoms.status]", lambda c: c.symptom in ("symptomatic", None), gate=True)


def asymptomatic(strict: bool = False) -> Cond:
    label = ("asymptomatic brain metastases" if strict else
             "asymptomatic brain metastases (or mild symptoms controlled, behind an MDT flag)")
    ok = ("asymptomatic",) if strict else ("asymptomatic", "mild_controlled")

    def test(c: Ctx) -> bool | str:
        if c.symptom is None:
            return "symptoms.status"
        return c.symptom in ok
    return Cond(label + " [symptoms.status]", test)


def symptomatic_any() -> Cond:
    return Cond("symptomatic brain metastases (mild_controlled or symptomatic)",
                lambda c: "symptoms.status" if c.symptom is None
                else c.symptom in ("mild_controlled", "symptomatic"))


def unresected_between(lo: int, hi: int | None, gate: bool = True) -> Cond:
    label = f"{lo}-{hi} unresected brain metastases" if hi else f"more than {lo - 1} unresected BM"

    def test(c: Ctx) -> bool | str:
        if c.n_unresected is None:
            return "brain_metastases.count"
        return c.n_unresected >= lo and (hi is None or c.n_unresected <= hi)
    return Cond(label, test, gate=gate)


def kps_at_least(k: int) -> Cond:
    return Cond(f"KPS >= {k}", lambda c: "kps" if c.kps is None else c.kps >= k)


def ecog_at_most(e: int) -> Cond:
    return Cond(f"ECOG 0-{e} (ECOG is never derived from KPS)",
                lambda c: "ecog" if c.ecog is None else c.ecog <= e)


def srs_size_ok() -> Cond:
    """At least one intact lesion <= 4 cm; unknown sizes pass (the dose line asks for them)."""
    def test(c: Ctx) -> bool:
        ds = c.intact_diameters()
        return True if not ds else min(ds) <= T()["astro_kq1"]["surgery_above_mm"]
    return Cond("at least one intact lesion <= 4 cm (ASTRO KQ1.6: > 4 cm -> surgery first)", test)


def survival_at_least(months: float) -> Cond:
    def test(c: Ctx) -> bool | str:
        if c.survival.months is None:
            return "prognosis: an applicable index with a median survival (see not_computed)"
        return c.survival.months >= months
    return Cond(f"expected survival >= {months:g} months", test)


def favourable(c: Ctx) -> bool | str:
    """Derived: KPS >= 70 (ASCO R3.4 'better PS') and expected survival, if known, >= 3 months
    (EANO21 favourable split)."""
    if c.kps is None:
        return "kps"
    if c.kps < T()["asco_r34"]["kps_min"]:
        return False
    s = c.survival.months
    return s is None or s >= T()["eano"]["unfavourable_survival_below_months"]


def poor(c: Ctx) -> bool | str:
    """Derived: KPS < 70 or expected survival < 3 months (EANO21 unfavourable)."""
    s = c.survival.months
    if s is not None and s < T()["eano"]["unfavourable_survival_below_months"]:
        return True
    if c.kps is None:
        return "kps"
    return c.kps < T()["asco_r34"]["kps_min"]


def fired(option: str) -> Cond:
    return Cond(f"{option} is listed", lambda c: option in c.fired, gate=True)


def no_hippocampal_lesion() -> Cond:
    def test(c: Ctx) -> bool | str:
        close = c.hippocampal_lesions()
        if close is None:
            return "brain_metastases.lesions[].hippocampus_distance_mm"
        return not close
    lim = T()["asco_r35"]["hippocampus_exclusion_mm"]
    return Cond(f"no lesion within {lim:g} mm of the hippocampus (CC001 exclusion)", test)


def not_leptomeningeal() -> Cond:
    return Cond("no leptomeningeal disease (HA not used with LMD, ASTRO KQ3.2)",
                lambda c: c.patient.brain_metastases.leptomeningeal is not True)


def therapy_flag(field: str, label: str, want: bool = True) -> Cond:
    def test(c: Ctx) -> bool | str:
        v = getattr(c.patient.therapy, field)
        return f"therapy.{field}" if v is None else v is want
    return Cond(label, test)


def prior_her2(strict: bool) -> Cond:
    def test(c: Ctx) -> bool | str:
        names = {p.strip().lower() for p in c.patient.therapy.prior_her2_therapies}
        if not names:  # none recorded: unknown, not "none given"
            return "therapy.prior_her2_therapies"
        return any(names_r27_agent(n) for n in names) if strict else bool(names)
    label = ("progression on prior trastuzumab, pertuzumab and/or T-DM1" if strict
             else "at least one prior HER2-directed therapy")
    return Cond(label + " [therapy.prior_her2_therapies]", test)


def enlarging_after_srs() -> Cond:
    return Cond("a lesion enlarging after SRS", lambda c: bool(c.enlarging_after_srs()), gate=True)


# ------------------------------------------------------------------ text helpers


def _n(c: Ctx) -> str:
    return f"{c.n_unresected}" if c.n_unresected is not None else "?"


def srs_dose(c: Ctx) -> str:
    if not c.intact():
        if c.resected():
            return "to the surgical cavities: " + cavity_dose(c)
        return ("dose by maximum diameter (ASTRO22 KQ1.3-1.6) needs "
                "brain_metastases.lesions[].diameter_mm")
    return dz.srs_plan(c.intact())


def lq_note() -> str:
    from brainmets.treatment.radiobiology import calculate

    parts = []
    for reg in ("27/3", "30/5"):
        v = calculate(reg).values[0]
        parts.append(f"{reg} BED10 {v['bed_gy']:.1f} Gy (EQD2 {v['eqd2_gy']:.1f} Gy)")
    return ("Radiobiology (LQ, alpha/beta 10 Gy): " + "; ".join(parts) + ". Single fractions "
            "> 10 Gy are outside the LQ model's validated range (comparison only); see "
            "`brainmets dose`.")


def srs_notes(c: Ctx) -> list[str]:
    nec = dosing()["necrosis"]
    out = [nec["v12_rec"], nec["hytec_note"], nec["minniti_note"],
           "RTOG 90-05 caveat: " + dosing()["rtog9005"]["caveat"], lq_note()]
    if not c.intact_diameters():
        out.append("needs: brain_metastases.lesions[].diameter_mm for per-lesion dosing")
    if c.any_mass_effect():
        out.append("Mass effect: multidisciplinary discussion with neurosurgery whatever the size "
                   "(ASTRO KQ1.5).")
    return out


def cavity_dose(c: Ctx) -> str:
    lines = [dz.cavity_plan_line(i, le) for i, le in c.resected()]
    return "; ".join(lines) if lines else "by cavity volume after resection (N107C table)"


def cavity_table_text() -> str:
    bins = dosing()["cavity_single_fraction"]["bin"]
    parts = [f"{b['min_ml']:g}-<{b['max_ml']:g} cm3: {b['dose_gy']:g} Gy" for b in bins[:-1]]
    parts.append(f">= {bins[-1]['min_ml']:g} cm3 (cavity < 5 cm): {bins[-1]['dose_gy']:g} Gy")
    return "after resection, single fraction by cavity volume (N107C): " + ", ".join(parts)


def cavity_notes(c: Ctx) -> list[str]:
    t = dosing()["cavity_single_fraction"]
    return [
        "Confirm the cavity can be safely treated and consider the remaining intracranial disease "
        "(ASCO R3.3).",
        t["risk_note"],
        "Fractionated cavity SRS: non-randomised data (ASTRO22); " + t["fractionated"],
    ]


def surgery_notes(c: Ctx) -> list[str]:
    out = ["Surgery and RT both planned: no recommendation on the sequence (ASCO R4.1); durable "
           "local control needs RT (SRS or WBRT) shortly after surgery."]
    multiple = c.count is not None and c.count > 1
    uncontrolled = (c.patient.extracranial_metastases is True
                    or c.patient.primary.controlled is False)
    if multiple or uncontrolled:
        out.append("ASCO R1.1: multiple BM and/or uncontrolled systemic disease: less likely to "
                   "benefit from surgery unless the remaining disease is controllable by other "
                   "measures.")
    out.append("ASCO22: surgery is more reasonable for larger tumours with mass effect, less for "
               "smaller metastases SRS can treat; no numeric size threshold.")
    return out


def mild_note(c: Ctx) -> list[str]:
    if c.symptom == "mild_controlled":
        return ["Mild symptoms controlled with supportive therapy: ASCO22 says such patients "
                "'may reasonably defer' on a recommended CNS-active regimen; MDT decision."]
    return []


def deferral_notes(extra: list[str] | None = None) -> Callable[[Ctx], list[str]]:
    def f(c: Ctx) -> list[str]:
        return [
            "Listed in parallel with local therapy (ASCO R3.x): deferral of local therapy is an "
            "MDT decision, never the only option shown.",
            "If local therapy is deferred, close monitoring for progression is crucial (ASCO22); "
            "brain MRI every 2-3 months (EANO21).",
            *mild_note(c), *(extra or []),
        ]
    return f


def dex_dose(c: Ctx) -> str:
    d = T()["dexamethasone"]
    if c.severe_icp is True:
        dose = (f"dexamethasone {d['severe_icp']} (severe raised ICP) with urgent "
                "local-therapy / neurosurgical review")
    else:  # decision 11: follows the symptom level only, never both doses side by side
        dose = f"dexamethasone {d['mild']} starting dose"
    return f"{dose}; {d['taper']}"


def dex_notes(c: Ctx) -> list[str]:
    d = T()["dexamethasone"]
    out = [d["eano_note"], d["moravan_note"]]
    if c.severe_icp is True:  # a regimen above 4-8 mg/day: never beside the mild dose (dec. 11)
        out.append(d["moravan_regimen"])
    if c.severe_icp is None:
        out.insert(0, "symptoms.severe_icp not recorded: the starting dose above is the one for "
                      "mild symptoms; a higher dose is reserved for severe raised ICP (record "
                      "symptoms.severe_icp).")
    return out


def memantine_dose(c: Ctx) -> str:
    m = T()["memantine"]
    return f"{m['schedule']}; titration: " + "; ".join(m["titration"])


def hippo_reason(c: Ctx) -> str:
    close = c.hippocampal_lesions() or []
    where = ", ".join(f"L{i} at {d:g} mm" for i, d in close)
    lim = T()["asco_r35"]["hippocampus_exclusion_mm"]
    return (f"ASCO22 R3.5 / ASTRO KQ3.2: hippocampal avoidance not eligible: lesion within "
            f"{lim:g} mm of the hippocampus ({where}).")


def ha_reject(c: Ctx) -> str:
    if c.hippocampal_lesions():
        return hippo_reason(c)
    if c.patient.brain_metastases.leptomeningeal is True:
        return "HA-WBRT: not used with leptomeningeal disease (ASTRO KQ3.2 remark)."
    s = c.survival
    surv = T()["asco_r35"]["min_expected_survival_months"]
    kps_min = T()["asco_r34"]["kps_min"]
    if s.months is not None and s.months >= surv and c.kps is not None and c.kps < kps_min:
        # the survival condition holds; the unmet one is the favourable-prognosis PS (say which)
        return (f"HA-WBRT: needs favourable prognosis (KPS >= {kps_min}, ASCO R3.4 'better "
                f"performance status'; ASTRO KQ3.2); here KPS {c.kps} (expected survival "
                f"{s.months:g} months meets the ASCO R3.5 >= {surv:g} months).")
    return (f"HA-WBRT: needs favourable prognosis / expected survival >= {surv:g} months "
            f"(ASCO R3.5); here {s.basis or 'KPS ' + str(c.kps)}.")


def r35_notes(c: Ctx) -> list[str]:
    out = []
    if c.survival.note:
        out.append(c.survival.note)
    if c.patient.brain_metastases.leptomeningeal is None:
        out.append("leptomeningeal status not given (HA is not used with LMD)")
    return out


def poor_text(c: Ctx) -> str:
    basis = (f"KPS {c.kps}" if c.kps is not None else "") + (
        f"; expected survival {c.survival.months:g} months ({c.survival.index}, primary "
        "estimate)" if c.survival.months is not None else "")
    return (f"Poor prognosis ({basis.strip('; ')}): early palliative care, supportive care "
            "alone or a short WBRT course (ASTRO KQ3.5; EANO21 [I,B]; CNS19-WBRT Level 3).")


def egfr_variant_notes(c: Ctx) -> list[str]:
    """EGFR-mutant options: say when the variant is not recorded or uncommon (decision 3)."""
    if c.egfr() is not True:
        return []
    v = c.mk.egfr_variant
    if v in (None, "unknown"):
        return ["EGFR variant not recorded: R2.3 applies to EGFR-mutant NSCLC; an exon 20 "
                "insertion is not 'EGFR-mutant' for R2.3 (decision 3): confirm the variant."]
    if v == "other":
        return ["Uncommon EGFR variant (not exon 19 del / L858R): MDT review of the drug choice."]
    return []
