"""The guideline rules, one small predicate list per recommendation (treatment.md §1-§5).

Read top to bottom: order matters only where a rule reads ``ctx.fired`` (e.g. memantine needs
WBRT to be listed) or where a MUST-NOT rule vetoes radiation (ASCO R3.1). Thresholds come from
``knowledge/data/treatment/thresholds.toml``; grading from ``recommendations.toml``.
"""

from __future__ import annotations

import functools

from brainmets.treatment import dosing as dz
from brainmets.treatment.context import Ctx
from brainmets.treatment.engine import Cond, Rule
from brainmets.treatment.kb import dosing, settings

LOCAL_RT = ("srs", "cavity_srs", "wbrt", "ha_wbrt", "srs_plus_wbrt")
HER2_PRIOR_NAMES = {"trastuzumab", "pertuzumab", "t-dm1", "tdm1", "trastuzumab emtansine"}


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
    def test(c: Ctx) -> bool | str:
        v = getattr(c, name)()
        return f"primary.{name}" if v is None else v
    return Cond(label, test, gate=True)


def no_driver() -> Cond:
    def test(c: Ctx) -> bool | str:
        if c.egfr() is True or c.alk() is True:
            return False
        return True
    return Cond("no EGFR/ALK driver alteration", test, gate=True)


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
    def test(c: Ctx) -> bool:
        names = {p.strip().lower() for p in c.patient.therapy.prior_her2_therapies}
        return bool(names & HER2_PRIOR_NAMES) if strict else bool(names)
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


def deferral_notes(extra: list[str] | None = None) -> callable:
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
    elif c.severe_icp is False:
        dose = f"dexamethasone {d['mild']} starting dose"
    else:
        dose = (f"dexamethasone {d['mild']} (mild symptoms); {d['severe_icp']} if severe raised "
                "ICP (needs: symptoms.severe_icp)")
    return f"{dose}; {d['taper']}"


def memantine_dose(c: Ctx) -> str:
    m = T()["memantine"]
    return f"{m['schedule']}; titration: " + "; ".join(m["titration"])


# ------------------------------------------------------------------ the rules


@functools.cache
def rules() -> list[Rule]:
    t = T()
    r31 = t["asco_r31"]
    wb = dosing()["wbrt"]
    eano = t["eano"]

    def r31_kps(c: Ctx) -> bool | str:
        if c.kps is None:
            return "kps"
        if c.kps <= r31["kps_very_poor_max"]:
            return True
        if c.kps < r31["kps_poor_below"]:
            s = c.patient.therapy.systemic_options_available
            return "therapy.systemic_options_available" if s is None else s is False
        return False

    def r31_text(c: Ctx) -> str:
        why = (f"KPS {c.kps} <= {r31['kps_very_poor_max']}" if c.kps <= r31["kps_very_poor_max"]
               else f"KPS {c.kps} < {r31['kps_poor_below']} with no systemic therapy options")
        return (f"ASCO22 R3.1: asymptomatic BM with {why}: radiation therapy is not routinely "
                "offered; supportive/palliative care instead (QUARTZ: no OS or QALY gain).")

    r31_conds = [asymptomatic(strict=True),
                 Cond("KPS <= 50, or KPS < 70 with no systemic therapy options", r31_kps)]
    r31_gates = [Cond(c.label, c.test, gate=True) for c in r31_conds]

    def large(c: Ctx) -> bool | str:
        ds = c.intact_diameters()
        if not ds:
            return "brain_metastases.lesions[].diameter_mm" if c.n_unresected else False
        return max(ds) > t["astro_kq1"]["surgery_above_mm"]

    def mass(c: Ctx) -> bool | str:
        if not c.intact():
            return False
        v = c.any_mass_effect()
        return "brain_metastases.lesions[].mass_effect" if v is None else v

    def eano_text_trigger(c: Ctx) -> bool:
        for _, le in c.intact():
            d = dz.lesion_diameter(le)
            big = d is not None and d > eano["surgery_size_above_mm"]
            if big and (le.eloquent or c.severe_icp):
                return True
            if le.location == "cerebellum" and le.mass_effect:
                return True
        return False

    def not_srs_amenable(c: Ctx) -> bool | str:
        n = c.n_unresected
        if n is None:
            return "brain_metastases.count"
        if n > eano["favourable_max_count"]:
            return True
        if n >= 5:
            v = c.cumulative_volume_ml()
            if v is None:
                return "brain_metastases.lesions[].volume_ml"
            return v >= eano["srs_5_10_cumulative_volume_below_ml"]
        return False

    def eano_volume(c: Ctx) -> bool | str:
        v = c.cumulative_volume_ml()
        if v is None:
            return "brain_metastases.lesions[].volume_ml"
        return v < eano["srs_5_10_cumulative_volume_below_ml"]

    def r34_gate(c: Ctx) -> bool | str:
        if c.n_unresected is None:
            return "brain_metastases.count"
        return (c.n_unresected > t["asco_r34"]["unresected_above"]
                or c.n_resected > t["asco_r34"]["resected_above"])

    r34 = Cond("more than 4 unresected or more than 2 resected BM", r34_gate, gate=True)

    def r34_srs_notes(c: Ctx) -> list[str]:
        out = ["ASCO R3.4: SRS may be preferred with better prognosis or when a CNS-active "
               "systemic therapy is available; no thresholds for volume, number or velocity."]
        if c.n_unresected and c.n_unresected > t["astro_kq1"]["srs_max_count_conditional"]:
            out.append("ASTRO conditional recommendation covers only 5-10 BM (not extended to "
                       "11-15).")
        return out

    def her2_r71_mass(c: Ctx) -> bool | str:
        if c.symptom is None:
            return "symptoms.status"
        return not (c.symptom == "symptomatic" and c.any_mass_effect() is True)

    def dabtram_eano(c: Ctx) -> bool | str:
        dex = c.patient.therapy.dexamethasone_mg_day
        if c.symptom == "symptomatic" or (dex is not None and dex >= eano["dex_threshold_mg"]):
            return True
        if c.symptom is None:
            return "symptoms.status"
        return False

    def pdl1_expressing(c: Ctx) -> bool | str:
        v = c.mk.pdl1_tps
        return "primary.pdl1_tps" if v is None else v > 0

    def pdl1_known(c: Ctx) -> bool | str:
        return "primary.pdl1_tps" if c.mk.pdl1_tps is None else True

    def ici_dose(c: Ctx) -> str:
        v = c.mk.pdl1_tps
        high = eano["pdl1_high_min"]
        which = ("ICI alone" if v is not None and v >= high else "chemotherapy + ICI")
        return (f"EANO21: PD-L1 >= {high:g}%: upfront ICI alone; < {high:g}%: chemotherapy + ICI "
                f"(here PD-L1 {v:g}%: {which})")

    def poor_text(c: Ctx) -> str:
        basis = (f"KPS {c.kps}" if c.kps is not None else "") + (
            f"; expected survival {c.survival.months:g} months" if c.survival.months is not None
            else "")
        return (f"Poor prognosis ({basis.strip('; ')}): early palliative care, supportive care "
                "alone or a short WBRT course (ASTRO KQ3.5; EANO21 [I,B]; CNS19-WBRT Level 3).")

    def hippo_reason(c: Ctx) -> str:
        close = c.hippocampal_lesions() or []
        where = ", ".join(f"L{i} at {d:g} mm" for i, d in close)
        return (f"ASCO22 R3.5 / ASTRO KQ3.2: hippocampal avoidance not eligible: lesion within "
                f"{t['asco_r35']['hippocampus_exclusion_mm']:g} mm of the hippocampus ({where}).")

    def ha_reject(c: Ctx) -> str:
        close = c.hippocampal_lesions()
        if close:
            return hippo_reason(c)
        if c.patient.brain_metastases.leptomeningeal is True:
            return "HA-WBRT: not used with leptomeningeal disease (ASTRO KQ3.2 remark)."
        s = c.survival
        return (f"HA-WBRT: needs favourable prognosis / expected survival >= "
                f"{t['asco_r35']['min_expected_survival_months']:g} months (ASCO R3.5); here "
                f"{s.basis or 'KPS ' + str(c.kps)}.")

    def r35_notes(c: Ctx) -> list[str]:
        out = []
        if c.survival.note:
            out.append(c.survival.note)
        if c.patient.brain_metastases.leptomeningeal is None:
            out.append("leptomeningeal status not given (HA is not used with LMD)")
        return out

    def litt_notes(c: Ctx) -> list[str]:
        idx = ", ".join(f"L{i}" for i in c.enlarging_after_srs())
        return [f"Enlarging after SRS: {idx}. Choose individually by location (deep/eloquent) and "
                "clinical status / surgical candidacy (CNS25).",
                "ASCO22 R1.3: no recommendation for or against LITT; EANO21: role requires "
                "further study.",
                "LITT is not listed for untreated newly diagnosed BM (no source; UNCERTAIN)."]

    surv = t["asco_r35"]["min_expected_survival_months"]
    R = Rule
    return [
        # ---------------- MUST-NOT / veto first (ASCO R3.1)
        R("ASCO22 R3.1 (no RT)", "radiation_therapy", "local", ["ASCO22:R3.1"], r31_conds,
          r31_text, negative=True, veto=LOCAL_RT),
        R("ASCO22 R3.1 (palliative care)", "palliative_care", "supportive", ["ASCO22:R3.1"],
          r31_gates, r31_text),
        # ---------------- surgery
        R("ASCO22 R1.1 (no known primary)", "surgery", "local",
          ["ASCO22:R1.1", "EANO21:surgery-diagnosis"],
          [Cond("no known primary", lambda c: "primary.site" if c.site is None
                else c.site == "unknown", gate=True), unresected_between(1, None)],
          "ASCO22 R1.1 / EANO21: no known primary: resection for diagnosis and tumour removal.",
          notes=surgery_notes),
        R("ASCO22 R1.1 (mass effect)", "surgery", "local",
          ["ASCO22:R1.1", "ASTRO22:KQ1.5-MDT"],
          [Cond("a lesion with mass effect", mass)],
          "ASCO22 R1.1: large tumour with mass effect: surgery for mass effect; neurosurgical "
          "MDT discussion (ASTRO KQ1.5).", mdt=True, notes=surgery_notes),
        R("ASTRO22 KQ1.6 (> 4 cm)", "surgery", "local", ["ASTRO22:KQ1.6"],
          [Cond("an intact lesion > 4 cm", large, gate=True)],
          lambda c: f"ASTRO22 KQ1.6: lesion {c.largest_intact_mm():g} mm > 4 cm: surgery "
          "(conditional); if not feasible, multifraction SRS rather than single fraction.",
          notes=surgery_notes),
        R("EANO21 single BM", "surgery", "local", ["EANO21:surgery-single"],
          [Cond("single brain metastasis", lambda c: "brain_metastases.count" if c.count is None
                else c.count == 1 and c.n_unresected == 1, gate=True)],
          "EANO21: a single brain metastasis should be considered for resection.",
          notes=surgery_notes),
        R("EANO21 raised ICP", "surgery", "local", ["EANO21:surgery-icp"],
          [Cond("symptomatic", lambda c: c.symptom in ("mild_controlled", "symptomatic"),
                gate=True), unresected_between(1, None),
           Cond("severe raised intracranial pressure", lambda c: "symptoms.severe_icp"
                if c.severe_icp is None else c.severe_icp, gate=True)],
          "EANO21: surgery for acute raised intracranial pressure.", mdt=True,
          notes=surgery_notes),
        R("EANO21 size/location triggers", "surgery", "local", ["EANO21:surgery-text"],
          [Cond("> 3 cm with raised ICP or eloquent location, or posterior fossa with mass "
                "effect", eano_text_trigger, gate=True)],
          "EANO21 (text): large (> 3 cm) BM with raised ICP or in eloquent areas, or posterior "
          "fossa lesion with mass effect (hydrocephalus risk): consider surgery.",
          notes=surgery_notes),
        R("CNS25 enlarging after SRS (craniotomy)", "surgery", "local", ["CNS25:litt-tumour"],
          [enlarging_after_srs()],
          "Enlarging lesion after SRS: craniotomy (resection also gives tissue to separate "
          "tumour from necrosis); CNS25 found LITT equivalent to it for tumour progression.",
          mdt=True),
        # ---------------- cavity SRS
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
        # ---------------- SRS
        R("ASCO22 R3.2", "srs", "local", ["ASCO22:R3.2", "ASTRO22:KQ1.3"],
          [unresected_between(1, t["asco_r32"]["max_unresected"]), site_not_sclc(),
           srs_size_ok()],
          lambda c: f"ASCO22 R3.2: {_n(c)} unresected brain metastases (1-4), not small-cell: "
          "SRS alone rather than WBRT or WBRT + SRS.",
          dose=srs_dose,
          notes=lambda c: ["Trials behind R3.2 enrolled tumours < 3-4 cm without memantine/HA; "
                           "the abstract's 'asymptomatic, no systemic options' framing is context "
                           "only (formal text encoded).", *srs_notes(c)]),
        R("ASTRO22 KQ1.1", "srs", "local", ["ASTRO22:KQ1.1", "ASTRO22:KQ1.3"],
          [unresected_between(1, t["astro_kq1"]["srs_max_count_strong"]),
           ecog_at_most(t["astro_kq1"]["ecog_max"]), srs_size_ok()],
          lambda c: f"ASTRO22 KQ1.1: ECOG {c.ecog} with {_n(c)} intact BM: SRS.",
          dose=srs_dose, notes=srs_notes),
        R("ASTRO22 KQ1.2", "srs", "local", ["ASTRO22:KQ1.2", "ASTRO22:KQ1.3"],
          [unresected_between(5, t["astro_kq1"]["srs_max_count_conditional"]),
           ecog_at_most(t["astro_kq1"]["ecog_max"]), srs_size_ok()],
          lambda c: f"ASTRO22 KQ1.2: ECOG {c.ecog} with {_n(c)} intact BM (5-10): SRS "
          "(conditional).", dose=srs_dose, notes=srs_notes),
        R("EANO21 SRS 1-4", "srs", "local", ["EANO21:srs-1-4"],
          [unresected_between(1, 4),
           Cond("not SCLC", lambda c: c.site != "sclc", gate=True), srs_size_ok()],
          "EANO21: SRS is recommended for 1-4 brain metastases.", dose=srs_dose,
          notes=srs_notes),
        R("EANO21 SRS 5-10", "srs", "local", ["EANO21:srs-5-10"],
          [unresected_between(5, eano["favourable_max_count"]),
           Cond("not SCLC", lambda c: c.site != "sclc", gate=True),
           Cond("cumulative volume < 15 ml", eano_volume), srs_size_ok()],
          lambda c: f"EANO21: 5-10 BM with cumulative volume {c.cumulative_volume_ml():g} ml "
          "< 15 ml: SRS may be considered.", dose=srs_dose, notes=srs_notes),
        R("ASCO22 R3.4 (SRS)", "srs", "local", ["ASCO22:R3.4"],
          [r34, kps_at_least(t["asco_r34"]["kps_min"]), srs_size_ok()],
          lambda c: f"ASCO22 R3.4: {_n(c)} unresected / {c.n_resected} resected BM with KPS "
          f"{c.kps}: SRS is a reasonable option.", dose=srs_dose,
          notes=lambda c: [*r34_srs_notes(c), *srs_notes(c)]),
        R("EANO21 SCLC algorithm (SRS)", "srs", "local", ["EANO21:sclc-algorithm"],
          [site_is("sclc"), unresected_between(1, None), srs_size_ok()],
          "EANO21 SCLC algorithm: SRS/SRT is one option (with systemic therapy; WBRT +/- "
          "boost if no prior PCI).", dose=srs_dose,
          notes=lambda c: ["ASCO22: SCLC is excluded from the SRS-alone recommendation (R3.2); "
                           "there is no SCLC-specific ASCO recommendation.", *srs_notes(c)]),
        # ---------------- WBRT family
        R("ASCO22 R3.4 (WBRT)", "wbrt", "local", ["ASCO22:R3.4", "CNS19-WBRT:30-10"],
          [r34, kps_at_least(t["asco_r34"]["kps_min"])],
          lambda c: f"ASCO22 R3.4: {_n(c)} unresected / {c.n_resected} resected BM with KPS "
          f"{c.kps}: WBRT is a reasonable option (offer memantine and hippocampal avoidance "
          "where eligible, R3.5).",
          dose=lambda c: f"{wb['standard']} ({wb['standard_note']})"),
        R("EANO21 WBRT (not amenable to SRS)", "wbrt", "local",
          ["EANO21:wbrt-multiple", "ASTRO22:KQ3.1"],
          [Cond("multiple BM not amenable to SRS (> 10, or 5-10 with cumulative volume >= 15 "
                "ml)", not_srs_amenable, gate=True), Cond("favourable prognosis", favourable)],
          "EANO21 [III,B]: multiple BM not amenable to SRS: consider WBRT; ASTRO KQ3.1: "
          "favourable prognosis and not eligible for SRS/surgery: WBRT 30 Gy/10.",
          dose=lambda c: f"{wb['standard']} ({wb['standard_note']})"),
        R("ASTRO22 KQ3.5 (short-course WBRT)", "wbrt", "local",
          ["ASTRO22:KQ3.5", "EANO21:supportive", "CNS19-WBRT:short"],
          [unresected_between(5, None), Cond("poor prognosis (KPS < 70 or expected survival "
                                             "< 3 months)", poor)],
          lambda c: poor_text(c) + " If WBRT is used: a brief schedule.",
          dose=lambda c: f"{wb['short_course']} ({wb['short_course_note']})",
          mdt=lambda c: c.symptom == "symptomatic"),
        R("EANO21 SCLC algorithm (WBRT)", "wbrt", "local", ["EANO21:sclc-algorithm"],
          [site_is("sclc"), unresected_between(1, None)],
          "EANO21 SCLC algorithm: WBRT +/- boost if no prior PCI (one option beside systemic "
          "therapy and SRS/SRT).",
          dose=lambda c: f"{wb['standard']} +/- boost",
          notes=["Prior PCI is not a recorded field: this option applies only without prior "
                 "PCI (EANO21)."]),
        R("ASCO22 R3.4 (SRS + WBRT)", "srs_plus_wbrt", "local", ["ASCO22:R3.4"],
          [r34, kps_at_least(t["asco_r34"]["kps_min"])],
          lambda c: f"ASCO22 R3.4: {_n(c)} unresected / {c.n_resected} resected BM with KPS "
          f"{c.kps}: SRS + WBRT is a reasonable option.",
          notes=lambda c: ["If WBRT is part of the plan, memantine and hippocampal avoidance "
                           "where eligible (R3.5)."]),
        R("ASCO22 R3.2 (not WBRT)", "wbrt", "local", ["ASCO22:R3.2"],
          [unresected_between(1, 4), site_not_sclc()],
          "ASCO22 R3.2: for 1-4 unresected BM, SRS alone rather than WBRT (N0574: cognitive "
          "deterioration at 3 months 91.7% with SRS + WBRT vs 63.5% with SRS).",
          negative=True),
        R("ASCO22 R3.2 / ASTRO KQ3.4 (not SRS + WBRT)", "srs_plus_wbrt", "local",
          ["ASCO22:R3.2", "ASTRO22:KQ3.4"],
          [unresected_between(1, 4), site_not_sclc()],
          "ASCO22 R3.2 / ASTRO KQ3.4: limited BM: routine WBRT added to SRS is not recommended "
          "(SRS alone; close MRI surveillance).", negative=True),
        R("EANO21 WBRT after resection discouraged", "wbrt", "local",
          ["EANO21:wbrt-discouraged", "ASTRO22:KQ2.2"],
          [Cond("resected or planned resection", lambda c: c.n_resected > 0
                or "surgery" in c.fired, gate=True)],
          "EANO21 [I,A; I,E]: routine WBRT after resection should be discouraged; ASTRO KQ2.2: "
          "SRS over WBRT with limited additional BM.", negative=True),
        R("ASTRO22 KQ2.1 (no observation alone)", "observation_alone", "local",
          ["ASTRO22:KQ2.1"],
          [Cond("resected or planned resection", lambda c: c.n_resected > 0
                or "surgery" in c.fired, gate=True)],
          "ASTRO22 KQ2.1 (Strong/High): after resection, radiation (SRS or WBRT) improves "
          "intracranial control; observation alone is not a guideline option (MAHAJ17: 12-month "
          "freedom from local recurrence 72% with SRS vs 43% with observation).",
          negative=True),
        # ---------------- HA-WBRT and memantine (need WBRT listed)
        R("ASCO22 R3.5 (HA)", "ha_wbrt", "local", ["ASCO22:R3.5", "ASTRO22:KQ3.2"],
          [fired("wbrt"), no_hippocampal_lesion(), survival_at_least(surv), not_leptomeningeal(),
           Cond("favourable prognosis", favourable)],
          lambda c: f"ASCO22 R3.5 / ASTRO KQ3.2: WBRT planned, no lesion within "
          f"{t['asco_r35']['hippocampus_exclusion_mm']:g} mm of the hippocampus, expected "
          f"survival {c.survival.months:g} months >= {surv:g}: hippocampal avoidance with "
          "memantine (CC001: cognitive failure HR 0.74).",
          dose=lambda c: f"{wb['standard']} with hippocampal avoidance ({wb['ha_dose_note']})",
          notes=r35_notes, reject_reason=ha_reject),
        R("ASCO22 R3.5 (memantine)", "memantine", "supportive", ["ASCO22:R3.5", "EANO21:memantine"],
          [fired("wbrt"), no_hippocampal_lesion(), survival_at_least(surv)],
          lambda c: f"ASCO22 R3.5: WBRT planned with expected survival {c.survival.months:g} "
          f"months >= {surv:g} and no hippocampal lesion: memantine.",
          dose=memantine_dose,
          notes=lambda c: [T()["memantine"]["trial_note"], T()["memantine"]["renal_note"],
                           "Grades differ (shown, not resolved): ASCO R3.5 strong/high (with "
                           "HA); ASTRO KQ3.3 Strong/Low; EANO21: role 'unclear'.", *r35_notes(c)],
          reject_reason=lambda c: "memantine (ASCO R3.5): " + ha_reject(c)),
        R("ASTRO22 KQ3.3 (memantine)", "memantine", "supportive",
          ["ASTRO22:KQ3.3", "EANO21:memantine"],
          [fired("wbrt"), Cond("favourable prognosis (KPS >= 70; expected survival, if known, "
                               ">= 3 months)", favourable)],
          "ASTRO22 KQ3.3: patient receiving WBRT with favourable prognosis: memantine.",
          dose=memantine_dose,
          notes=lambda c: [T()["memantine"]["trial_note"], T()["memantine"]["renal_note"],
                           "Grades differ (shown, not resolved): ASCO R3.5 strong/high (with "
                           "HA); ASTRO KQ3.3 Strong/Low; EANO21: role 'unclear'."]),
        # ---------------- LITT, advanced imaging (lesion enlarging after SRS)
        R("CNS25 LITT", "litt", "local",
          ["CNS25:litt-tumour", "CNS25:litt-necrosis", "ASCO22:R1.3", "EANO21:litt"],
          [enlarging_after_srs()],
          "CNS25 (Level III): lesion enlarging after SRS: LITT may be considered, equivalent to "
          "craniotomy for tumour progression and to medical management for radiation necrosis.",
          mdt=True, notes=litt_notes),
        R("LITT only after SRS", "litt", "local", ["CNS25:litt-tumour"],
          [Cond("lesions listed and none enlarging after SRS", lambda c: bool(c.lesions)
                and not c.enlarging_after_srs(), gate=True)],
          "LITT is listed only for lesions enlarging after SRS (CNS25 Level III); no source "
          "supports LITT for newly diagnosed BM: no guideline recommendation encoded.",
          negative=True),
        R("EANO21 advanced imaging", "advanced_imaging", "supportive",
          ["EANO21:advanced-imaging"], [enlarging_after_srs()],
          "EANO21 [III,C; IV,C]: lesion enlarging after SRS: advanced imaging (perfusion MRI, "
          "MRS, amino-acid PET) and/or short-interval repeat MRI to separate treatment effect "
          "from progression, with MDT review.", mdt=True,
          notes=["Size increase alone does not establish progression: no automatic 'PD -> "
                 "switch systemic therapy' (RANO-BM working group via Moravan 2020; EANO21)."]),
        R("EANO21 radionecrosis (bevacizumab)", "bevacizumab", "supportive", ["EANO21:necrosis"],
          [enlarging_after_srs(), symptomatic_any()],
          "EANO21: if the enlargement is symptomatic radiation necrosis: dexamethasone or "
          "bevacizumab ('probably the best agent' for radionecrosis after SRT).", mdt=True,
          notes=["Supportive use only (radiation necrosis), not antitumour therapy.",
                 "Levin 2011 (randomised, n = 14) did not enrol brain-metastasis patients: "
                 "applying it to radionecrosis after SRS for BM is an extrapolation."]),
        # ---------------- systemic: EGFR / ALK (ASCO R2.3 / R2.4)
        *[R(f"ASCO22 R2.3 ({drug})", drug, "systemic",
            ["ASCO22:R2.3", "ASTRO22:KQ1.8", "EANO21:nsclc-targeted"],
            [site_is("nsclc"), marker("egfr", "EGFR-mutant"), asymptomatic()],
            f"ASCO22 R2.3: asymptomatic BM with EGFR-mutant NSCLC: {drug}; local therapy may "
            "be delayed until intracranial progression (MDT).", mdt=True, defers=True,
            notes=deferral_notes(extra),
            reject_reason=f"ASCO22 R2.3 ({drug} with deferral) applies to asymptomatic BM only: "
            "symptomatic BM need local therapy first (R2.1; ASTRO KQ1.7).")
          for drug, extra in (("osimertinib", []),
                              ("icotinib", ["Icotinib was not FDA/EMA-approved when the "
                                            "guideline was published."]))],
        *[R(f"ASCO22 R2.4 ({drug})", drug, "systemic",
            ["ASCO22:R2.4", "ASTRO22:KQ1.8", "EANO21:nsclc-targeted"],
            [site_is("nsclc"), marker("alk", "ALK-rearranged"), asymptomatic()],
            f"ASCO22 R2.4: asymptomatic BM with ALK-rearranged NSCLC: {drug}; local therapy "
            "may be delayed until intracranial progression (MDT).", mdt=True, defers=True,
            notes=deferral_notes(["Crizotinib was deliberately not included (ALESIA/ALEX); "
                                  "lorlatinib is not in the R2.4 list (no guideline "
                                  "recommendation encoded; see `brainmets drug lorlatinib`)."]),
            reject_reason=f"ASCO22 R2.4 ({drug} with deferral) applies to asymptomatic BM only: "
            "symptomatic BM need local therapy first (R2.1; ASTRO KQ1.7).")
          for drug in ("alectinib", "brigatinib", "ceritinib")],
        R("ASCO22 R2.4 (crizotinib excluded)", "crizotinib", "systemic", ["ASCO22:R2.4"],
          [site_is("nsclc"), marker("alk", "ALK-rearranged")],
          "ASCO22 R2.4: crizotinib was deliberately not included as a regimen that justifies "
          "deferring local therapy (ALESIA/ALEX favour alectinib, brigatinib, ceritinib).",
          negative=True),
        # ---------------- systemic: non-driver NSCLC
        R("ASCO22 R2.5", "pembrolizumab_pemetrexed_platinum", "systemic",
          ["ASCO22:R2.5", "ASCO22:R2.2"],
          [site_is("nsclc"), no_driver(), asymptomatic(strict=True),
           therapy_flag("immunotherapy_naive", "immunotherapy-naive"),
           Cond("PD-L1 expressing (TPS > 0%)", pdl1_expressing),
           therapy_flag("planned_pemetrexed_platinum", "receiving pemetrexed plus a platinum")],
          "ASCO22 R2.5: asymptomatic BM, immunotherapy-naive PD-L1-expressing NSCLC receiving "
          "pemetrexed-platinum: add pembrolizumab, together with local therapy (no deferral).",
          defers=False,
          notes=["ASCO22 makes no deferral statement for R2.5 (the panel reached no consensus): "
                 "local therapy per R2.2/R3.x is listed alongside.",
                 "ASCO22 gives no numeric PD-L1 cut-off for 'expressing'; any TPS > 0% is "
                 "treated as expressing."]),
        R("EANO21 NSCLC upfront ICI", "immune_checkpoint_inhibitor", "systemic",
          ["EANO21:nsclc-ici"],
          [site_is("nsclc"), no_driver(),
           Cond("no ROS1 alteration", lambda c: c.ros1() is not True, gate=True),
           Cond("not already on immunotherapy (EANO21 'upfront')",
                lambda c: c.patient.therapy.on_immunotherapy is not True, gate=True),
           asymptomatic(), Cond("PD-L1 TPS known", pdl1_known)],
          "EANO21 [II,B; III,B]: asymptomatic/oligosymptomatic BM from NSCLC without driver: "
          "upfront ICI alone (PD-L1 >= 50%) or chemotherapy + ICI (PD-L1 < 50%).",
          dose=ici_dose,
          notes=["EANO21 alternative, labelled as EANO; conflict with ASCO R2.5 shown, not "
                 "resolved: ASCO22 makes no deferral statement for non-driver NSCLC."]),
        # ---------------- systemic: melanoma
        R("ASCO22 R2.6 (ipi + nivo)", "ipilimumab_nivolumab", "systemic",
          ["ASCO22:R2.6", "EANO21:melanoma-ipinivo", "ASTRO22:KQ1.8"],
          [site_is("melanoma"), asymptomatic()],
          "ASCO22 R2.6: asymptomatic melanoma BM (any BRAF status): ipilimumab + nivolumab; "
          "local therapy may be delayed until intracranial progression (MDT). EANO21: preferred "
          "first line, also when BRAF-mutated and asymptomatic.", mdt=True, defers=True,
          notes=deferral_notes(),
          reject_reason="ASCO22 R2.6 (ipilimumab + nivolumab with deferral) applies to "
          "asymptomatic melanoma BM only: symptomatic BM need local therapy first (R2.1)."),
        R("ASCO22 R2.6 (dabrafenib + trametinib)", "dabrafenib_trametinib", "systemic",
          ["ASCO22:R2.6", "ASTRO22:KQ1.8"],
          [site_is("melanoma"), marker("braf", "BRAF V600-mutant"), asymptomatic()],
          "ASCO22 R2.6: asymptomatic BRAF V600E melanoma BM: dabrafenib + trametinib; local "
          "therapy may be delayed until intracranial progression (MDT).", mdt=True, defers=True,
          notes=deferral_notes(["R2.6 names BRAF V600E; primary.braf 'positive' means a V600 "
                                "mutation (COMBI-MB also enrolled V600D/K/R cohorts)."])),
        R("EANO21 dabrafenib + trametinib (symptomatic / dexamethasone)",
          "dabrafenib_trametinib", "systemic", ["EANO21:melanoma-dabtram"],
          [site_is("melanoma"), marker("braf", "BRAF V600-mutant"),
           Cond("symptomatic or dexamethasone >= 4 mg/day", dabtram_eano)],
          "EANO21 [IV,B; IV,B]: symptomatic BRAF-mutated melanoma BM or dexamethasone >= 4 mg: "
          "dabrafenib + trametinib, given with local therapy (no deferral).",
          notes=["Local therapy for symptomatic BM regardless of systemic therapy (ASCO R2.1)."]),
        # ---------------- systemic: HER2+ breast
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
           Cond("no symptomatic mass effect", her2_r71_mass), prior_her2(False)],
          "ASCO-HER2-22 R7.1 (2022 update, most recent): HER2+ BM without symptomatic mass "
          "effect after at least one prior HER2-directed therapy: tucatinib + trastuzumab + "
          "capecitabine.",
          notes=["Both versions shown: ASCO22 R2.7 (2022 JCO guideline) and ASCO-HER2-22 R7.1 "
                 "(later HER2 update); Rec 8.2: may also be offered with stable BM after local "
                 "therapy. ASCO-HER2-22 citation details unconfirmed."]),
        # ---------------- systemic: SCLC
        R("EANO21 SCLC", "platinum_chemotherapy", "systemic", ["EANO21:sclc"],
          [site_is("sclc")],
          "EANO21 [II,B; II,B]: SCLC with BM: platinum-based chemotherapy +/- immune checkpoint "
          "inhibitor.",
          dose=lambda c: "platinum-etoposide +/- atezolizumab or durvalumab",
          notes=["ASCO22 has no SCLC-specific recommendation; only EANO21's SCLC pathway is "
                 "encoded."]),
        # ---------------- never options
        R("ASCO22 temozolomide", "temozolomide", "systemic", ["ASCO22:R2.2-TMZ"], [],
          "ASCO22: temozolomide is not recommended (two small trials of WBRT +/- "
          "temozolomide); RTOG 0320 (n = 126): median survival 13.4 months with WBRT + SRS vs "
          "6.3 months with added temozolomide, grade 3-5 toxicity 11% vs 41%.", negative=True),
        R("ASCO22 R3.6", "radiosensitizer", "systemic", ["ASCO22:R3.6"], [],
          "ASCO22 R3.6 (strong): radiation-sensitising agents should not be offered "
          "(simvastatin, motexafin gadolinium and chloroquine trials were negative).",
          negative=True),
        # ---------------- supportive
        R("RYKEN10 / EANO21 dexamethasone", "dexamethasone", "supportive",
          ["RYKEN10:mild", "RYKEN10:severe", "EANO21:steroids"],
          [symptomatic_any()],
          lambda c: f"Symptomatic brain metastases ({c.symptom}): dexamethasone at the lowest "
          "effective dose for the shortest time, with a taper (RYKEN10 Level 3; EANO21).",
          dose=dex_dose,
          notes=lambda c: [T()["dexamethasone"]["eano_note"],
                           T()["dexamethasone"]["moravan_note"]]),
        R("EANO21 no steroids if asymptomatic", "dexamethasone", "supportive",
          ["EANO21:steroids", "MORAVAN20:steroids", "RYKEN10:asymptomatic"],
          [asymptomatic(strict=True)],
          "Asymptomatic: steroids are not recommended (EANO21; Moravan 2020); CNS 2010 "
          "(RYKEN10): insufficient evidence to recommend them.", negative=True),
        R("EANO21 / WALB21 AED after seizure", "antiseizure_medication", "supportive",
          ["EANO21:aed-after-seizure", "WALB21:levetiracetam"],
          [Cond("seizure history", lambda c: "symptoms.seizure_history" if c.seizure is None
                else c.seizure)],
          "After a seizure: antiseizure medication (secondary prophylaxis, at least "
          "transiently), preferring agents without interactions (EANO21; WALB21 Level C).",
          dose=lambda c: "prefer " + ", ".join(T()["antiseizure"]["preferred"]),
          notes=lambda c: ["Not first preference: " + ", ".join(T()["antiseizure"]["not_first"])
                           + " (enzyme-inducing / interacting; EANO21)."]),
        R("No AED prophylaxis", "antiseizure_medication", "supportive",
          ["WALB21:prophylaxis", "EANO21:aed-prophylaxis", "MIKK10:prophylaxis",
           "CHEN19:prophylaxis"],
          [Cond("no seizure history", lambda c: "symptoms.seizure_history"
                if c.seizure is None else not c.seizure)],
          "No seizure: prophylactic antiseizure medication is not recommended (WALB21 Level A; "
          "EANO21 [I,A]; MIKK10 Level 3), including around craniotomy (CHEN19 Level 3; "
          "peri-operative evidence insufficient, WALB21 Level C).", negative=True),
        R("ASTRO22 KQ3.5 / EANO21 palliative care", "palliative_care", "supportive",
          ["ASTRO22:KQ3.5", "EANO21:supportive"],
          [Cond("poor prognosis (KPS < 70 or expected survival < 3 months)", poor, gate=True)],
          poor_text, mdt=lambda c: c.symptom == "symptomatic"),
        # ---------------- follow-up (after systemic and SRS rules)
        R("EANO21 / ASTRO MRI surveillance", "mri_surveillance", "supportive",
          ["EANO21:followup", "ASTRO22:KQ3.4"],
          [Cond("local therapy deferred or SRS/cavity SRS listed",
                lambda c: c.defer_fired or bool({"srs", "cavity_srs"} & c.fired), gate=True)],
          lambda c: ("Local therapy may be deferred: close monitoring is crucial (ASCO22); "
                     if c.defer_fired else "") + "neurological examination and brain MRI every "
          "2-3 months (EANO21; ASTRO KQ3.4: every 2-3 months in year 1 after SRS).",
          dose=lambda c: "brain MRI every 2-3 months"),
    ]
