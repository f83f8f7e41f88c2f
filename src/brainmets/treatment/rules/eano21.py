"""EANO-ESMO 2021 rows (treatment.md §1.3): surgery, SRS, WBRT, systemic rows, follow-up aids.

Also the driver-targeted option of project decision 2 (EANO21 names ROS1; other drivers are
outside ASCO22 and are shown for MDT discussion, not graded).
"""

from __future__ import annotations

import functools

from brainmets.treatment import dosing as dz
from brainmets.treatment.context import Ctx
from brainmets.treatment.engine import Cond, Rule
from brainmets.treatment.kb import dosing
from brainmets.treatment.rules.conditions import (
    T,
    asymptomatic,
    driver_reason,
    egfr_sensitising,
    egfr_variant_notes,
    enlarging_after_srs,
    favourable,
    ici_naive,
    marker,
    no_actionable_driver,
    other_drivers,
    prior_her2,
    site_is,
    srs_dose,
    srs_notes,
    srs_size_ok,
    surgery_notes,
    symptomatic_any,
    symptomatic_gate,
    unresected_between,
    untested_drivers,
)

R = Rule


def _e() -> dict:
    return T()["eano"]


def _text_trigger(c: Ctx) -> bool:
    for _, le in c.intact():
        d = dz.lesion_diameter(le)
        big = d is not None and d > _e()["surgery_size_above_mm"]
        if big and (le.eloquent or c.severe_icp):
            return True
        if le.location == "cerebellum" and le.mass_effect:
            return True
    return False


def surgery() -> list[Rule]:
    return [
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
                "effect", _text_trigger, gate=True)],
          "EANO21 (text): large (> 3 cm) BM with raised ICP or in eloquent areas, or posterior "
          "fossa lesion with mass effect (hydrocephalus risk): consider surgery.",
          notes=surgery_notes),
    ]


def _volume_below(c: Ctx) -> bool | str:
    v = c.cumulative_volume_ml()
    if v is None:
        return "brain_metastases.lesions[].volume_ml"
    return v < _e()["srs_5_10_cumulative_volume_below_ml"]


def srs() -> list[Rule]:
    e = _e()
    not_sclc = Cond("not SCLC", lambda c: c.site != "sclc", gate=True)
    return [
        R("EANO21 SRS 1-4", "srs", "local", ["EANO21:srs-1-4"],
          [unresected_between(1, e["srs_recommended_max_count"]), not_sclc, srs_size_ok()],
          "EANO21: SRS is recommended for 1-4 brain metastases.", dose=srs_dose,
          notes=srs_notes),
        R("EANO21 SRS 5-10", "srs", "local", ["EANO21:srs-5-10"],
          [unresected_between(e["srs_consider_min_count"], e["favourable_max_count"]), not_sclc,
           Cond("cumulative volume < 15 ml", _volume_below), srs_size_ok()],
          lambda c: f"EANO21: 5-10 BM with cumulative volume {c.cumulative_volume_ml():g} ml "
          "< 15 ml: SRS may be considered.", dose=srs_dose, notes=srs_notes),
        R("EANO21 SCLC algorithm (SRS)", "srs", "local", ["EANO21:sclc-algorithm"],
          [site_is("sclc"), unresected_between(1, None), srs_size_ok()],
          "EANO21 SCLC algorithm: SRS/SRT is one option (with systemic therapy; WBRT +/- "
          "boost if no prior PCI).", dose=srs_dose,
          notes=lambda c: ["ASCO22: SCLC is excluded from the SRS-alone recommendation (R3.2); "
                           "there is no SCLC-specific ASCO recommendation.", *srs_notes(c)]),
    ]


def _not_srs_amenable(c: Ctx) -> bool | str:
    n = c.n_unresected
    if n is None:
        return "brain_metastases.count"
    if n > _e()["favourable_max_count"]:
        return True
    if n >= _e()["srs_consider_min_count"]:
        v = c.cumulative_volume_ml()
        if v is None:
            return "brain_metastases.lesions[].volume_ml"
        return v >= _e()["srs_5_10_cumulative_volume_below_ml"]
    return False


def wbrt() -> list[Rule]:
    wb = dosing()["wbrt"]
    return [
        R("EANO21 WBRT (not amenable to SRS)", "wbrt", "local",
          ["EANO21:wbrt-multiple", "ASTRO22:KQ3.1"],
          [Cond("multiple BM not amenable to SRS (> 10, or 5-10 with cumulative volume >= 15 "
                "ml)", _not_srs_amenable, gate=True), Cond("favourable prognosis", favourable)],
          "EANO21 [III,B]: multiple BM not amenable to SRS: consider WBRT; ASTRO KQ3.1: "
          "favourable prognosis and not eligible for SRS/surgery: WBRT 30 Gy/10.",
          dose=lambda c: f"{wb['standard']} ({wb['standard_note']})"),
        R("EANO21 SCLC algorithm (WBRT)", "wbrt", "local", ["EANO21:sclc-algorithm"],
          [site_is("sclc"), unresected_between(1, None)],
          "EANO21 SCLC algorithm: WBRT +/- boost if no prior PCI (one option beside systemic "
          "therapy and SRS/SRT).",
          dose=lambda c: f"{wb['standard']} +/- boost",
          notes=["Prior PCI is not a recorded field: this option applies only without prior "
                 "PCI (EANO21)."]),
        R("EANO21 WBRT after resection discouraged", "wbrt", "local",
          ["EANO21:wbrt-discouraged", "ASTRO22:KQ2.2"],
          [Cond("resected or planned resection", lambda c: c.n_resected > 0
                or "surgery" in c.fired, gate=True)],
          "EANO21 [I,A; I,E]: routine WBRT after resection should be discouraged; ASTRO KQ2.2: "
          "SRS over WBRT with limited additional BM.", negative=True),
    ]


def post_srs() -> list[Rule]:
    return [
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
    ]


def _ici_dose(c: Ctx) -> str:
    v = c.mk.pdl1_tps
    high = _e()["pdl1_high_min"]
    which = "ICI alone" if v is not None and v >= high else "chemotherapy + ICI"
    return (f"EANO21: PD-L1 >= {high:g}%: upfront ICI alone; < {high:g}%: chemotherapy + ICI "
            f"(here PD-L1 {v:g}%: {which})")


def _ici_notes(c: Ctx) -> list[str]:
    out = ["EANO21 alternative, labelled as EANO; conflict with ASCO R2.5 shown, not resolved: "
           "ASCO22 makes no deferral statement for non-driver NSCLC."]
    missing = untested_drivers(c)
    if missing:
        out.append(f"Not recorded: {', '.join(missing)}: complete driver testing; a positive "
                   "result would exclude chemo-immunotherapy (decision 1).")
    return out


def nsclc() -> list[Rule]:
    def pdl1_known(c: Ctx) -> bool | str:
        return "primary.pdl1_tps" if c.mk.pdl1_tps is None else True

    return [
        R("EANO21 NSCLC upfront ICI", "immune_checkpoint_inhibitor", "systemic",
          ["EANO21:nsclc-ici"],
          [site_is("nsclc"), no_actionable_driver(), ici_naive(), asymptomatic(),
           Cond("PD-L1 TPS known", pdl1_known)],
          "EANO21 [II,B; III,B]: asymptomatic/oligosymptomatic BM from NSCLC without driver "
          "(EGFR/ALK negative, no other driver positive): upfront ICI alone (PD-L1 >= 50%) or "
          "chemotherapy + ICI (PD-L1 < 50%).",
          dose=_ici_dose, notes=_ici_notes,
          awaiting_reason=lambda c: driver_reason(c)
          if c.egfr() is None or c.alk() is None else None,
          reject_reason=lambda c: "EANO21 upfront ICI: " + driver_reason(c)
          if other_drivers(c) or c.egfr() or c.alk() else
          "EANO21 upfront ICI: population is asymptomatic/oligosymptomatic, checkpoint-"
          "inhibitor-naive NSCLC without driver"),
        *[R(f"EANO21 targeted, symptomatic ({drug})", drug, "systemic", ["EANO21:nsclc-targeted"],
            [site_is("nsclc"), mk, symptomatic_gate()],
            f"Symptomatic BM with {label} NSCLC: {drug} stays a systemic option alongside local "
            "therapy, never instead of it (ASCO R2.1: local therapy regardless of the systemic "
            "therapy; project decision 4: symptoms restrict deferral, not the drug); EANO21 "
            "[II,B; III,B] upfront targeted therapy.", mdt=True,
            notes=lambda c: ["EANO21's targeted-therapy row is for asymptomatic/oligosymptomatic "
                             "BM; ASCO R2.3/R2.4 deferral does not apply to symptomatic BM: no "
                             "deferral.", *egfr_variant_notes(c)],
            awaiting_reason=lambda c: driver_reason(c))
          for drug, mk, label in (
              ("osimertinib", egfr_sensitising(), "EGFR-mutant"),
              ("icotinib", egfr_sensitising(), "EGFR-mutant"),
              ("alectinib", marker("alk", "ALK-rearranged"), "ALK-rearranged"),
              ("brigatinib", marker("alk", "ALK-rearranged"), "ALK-rearranged"),
              ("ceritinib", marker("alk", "ALK-rearranged"), "ALK-rearranged"))],
        # decision 2: "EANO21 [II,B; III,B] (ROS1) / outside ASCO22": the EANO21 grade only
        # where EANO21 names the driver (ROS1), never copied onto the others (decision 7)
        R("EANO21 / decision 2 driver-targeted therapy", "driver_targeted_therapy", "systemic",
          ["EANO21:nsclc-targeted", "ASCO22:outside-drivers"],
          [site_is("nsclc"), Cond("ROS1 rearranged (named by EANO21)",
                                  lambda c: c.ros1() is True, gate=True)],
          lambda c: f"Actionable driver recorded ({', '.join(other_drivers(c))}): "
          "driver-targeted systemic therapy, decided at the MDT (EANO21 [II,B; III,B] upfront "
          "targeted therapy names ROS1; outside ASCO22), with local therapy per R3.x; no "
          "chemo-immunotherapy (project decision 2).", mdt=True, notes=_driver_notes),
        R("decision 2 driver-targeted therapy (outside ASCO22)", "driver_targeted_therapy",
          "systemic", ["ASCO22:outside-drivers"],
          [site_is("nsclc"), Cond("an actionable driver other than sensitising EGFR / ALK / ROS1",
                                  lambda c: bool(_non_eano_drivers(c)), gate=True)],
          lambda c: f"Actionable driver recorded ({', '.join(_non_eano_drivers(c))}): "
          "driver-targeted systemic therapy, decided at the MDT (outside ASCO22; not graded by "
          "EANO21, which names EGFR/ALK/ROS1), with local therapy per R3.x; no "
          "chemo-immunotherapy (project decision 2).", mdt=True, notes=_driver_notes),
    ]


def _non_eano_drivers(c: Ctx) -> list[str]:
    return [d for d in other_drivers(c) if d != "ROS1"]


def _driver_notes(c: Ctx) -> list[str]:
    return ["No agent is named here: the specification cites none for this driver (see "
            "`brainmets drug` for the cards that exist)."]


def _symptomatic_mass(c: Ctx) -> bool:
    """Symptomatic with a lesion with mass effect: outside R2.7 and R7.1 (decision 8)."""
    return c.symptom == "symptomatic" and c.any_mass_effect() is True


def her2_symptomatic() -> Rule:
    """Decision 4 for HER2+ breast: symptoms restrict deferral, not the drug. R2.7 (asymptomatic)
    and R7.1 (no symptomatic mass effect) exclude the patient, so the regimen is not shown as
    their recommendation (decision 8): EANO21 HER2+ row, alongside local therapy, MDT."""
    return R("EANO21 HER2+, symptomatic (decision 4)", "tucatinib_trastuzumab_capecitabine",
             "systemic", ["EANO21:her2"],
             [site_is("breast"), marker("her2", "HER2-positive"),
              Cond("symptomatic with mass effect (outside ASCO R2.7 / ASCO-HER2-22 R7.1)",
                   _symptomatic_mass, gate=True), prior_her2(False)],
             "Symptomatic HER2+ BM with mass effect: tucatinib + trastuzumab + capecitabine "
             "stays a systemic option alongside local therapy, never instead of it (ASCO R2.1; "
             "project decision 4: symptoms restrict deferral, not the drug); EANO21 [III,C; "
             "III,B] HER2+ systemic therapy.", mdt=True,
             notes=["Not shown as ASCO22 R2.7 (asymptomatic BM) or ASCO-HER2-22 R7.1 (BM without "
                    "symptomatic mass effect): their populations exclude this patient "
                    "(decision 8); no deferral of local therapy; MDT."])


def other_systemic() -> list[Rule]:
    return [
        her2_symptomatic(),
        R("EANO21 dabrafenib + trametinib (symptomatic / dexamethasone)",
          "dabrafenib_trametinib", "systemic", ["EANO21:melanoma-dabtram"],
          [site_is("melanoma"), marker("braf", "BRAF V600-mutant"),
           Cond("symptomatic or dexamethasone >= 4 mg/day", _dabtram, gate=True)],
          lambda c: "EANO21 [IV,B; IV,B]: symptomatic BRAF-mutated melanoma BM or dexamethasone "
          ">= 4 mg: dabrafenib + trametinib (listed first in this context, treatment.md §8)"
          + (", given with local therapy (ASCO R2.1: no deferral)." if c.symptom ==
             "symptomatic" else "."),
          notes=lambda c: ["Local therapy for symptomatic BM regardless of systemic therapy "
                           "(ASCO R2.1)."] if c.symptom == "symptomatic" else []),
        R("EANO21 SCLC", "platinum_chemotherapy", "systemic", ["EANO21:sclc"],
          [site_is("sclc")],
          "EANO21 [II,B; II,B]: SCLC with BM: platinum-based chemotherapy +/- immune checkpoint "
          "inhibitor.",
          dose=lambda c: "platinum-etoposide +/- atezolizumab or durvalumab",
          notes=["ASCO22 has no SCLC-specific recommendation; only EANO21's SCLC pathway is "
                 "encoded."]),
    ]


def _dabtram(c: Ctx) -> bool | str:
    dex = c.patient.therapy.dexamethasone_mg_day
    if c.symptom == "symptomatic" or (dex is not None and dex >= _e()["dex_threshold_mg"]):
        return True
    if c.symptom is None:
        return "symptoms.status"
    return False


@functools.cache
def phases() -> dict[str, list[Rule]]:
    return {"surgery": surgery(), "srs": srs(), "wbrt": wbrt(), "post_srs": post_srs(),
            "systemic": [*nsclc(), *other_systemic()]}
