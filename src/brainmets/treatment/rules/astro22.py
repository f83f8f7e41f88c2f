"""ASTRO 2022 radiation guideline (treatment.md §1.2, §3): KQ1 intact, KQ2 resected, KQ3 WBRT.

KQ1.7/KQ1.8 (upfront local therapy / deferral) belong to the timing statement (:mod:`.timing`).
"""

from __future__ import annotations

import functools

from brainmets.treatment.context import Ctx
from brainmets.treatment.engine import Cond, Rule
from brainmets.treatment.kb import dosing
from brainmets.treatment.rules.conditions import (
    T,
    _n,
    ecog_at_most,
    favourable,
    fired,
    hippo_reason,
    memantine_dose,
    poor,
    poor_text,
    srs_dose,
    srs_notes,
    srs_size_ok,
    surgery_notes,
    unresected_between,
)

R = Rule


def _large(c: Ctx) -> bool | str:
    ds = c.intact_diameters()
    if not ds:
        return "brain_metastases.lesions[].diameter_mm" if c.n_unresected else False
    return max(ds) > T()["astro_kq1"]["surgery_above_mm"]


def surgery() -> list[Rule]:
    return [
        R("ASTRO22 KQ1.6 (> 4 cm)", "surgery", "local", ["ASTRO22:KQ1.6"],
          [Cond("an intact lesion > 4 cm", _large, gate=True)],
          lambda c: f"ASTRO22 KQ1.6: lesion {c.largest_intact_mm():g} mm > 4 cm: surgery "
          "(conditional); if not feasible, multifraction SRS rather than single fraction.",
          notes=surgery_notes),
    ]


def srs() -> list[Rule]:
    k = T()["astro_kq1"]
    ecog = ecog_at_most(k["ecog_max"])
    return [
        R("ASTRO22 KQ1.1", "srs", "local", ["ASTRO22:KQ1.1", "ASTRO22:KQ1.3"],
          [unresected_between(1, k["srs_max_count_strong"]), ecog, srs_size_ok()],
          lambda c: f"ASTRO22 KQ1.1: ECOG {c.ecog} with {_n(c)} intact BM: SRS.",
          dose=srs_dose, notes=srs_notes),
        R("ASTRO22 KQ1.2", "srs", "local", ["ASTRO22:KQ1.2", "ASTRO22:KQ1.3"],
          [unresected_between(k["srs_max_count_strong"] + 1, k["srs_max_count_conditional"]),
           ecog, srs_size_ok()],
          lambda c: f"ASTRO22 KQ1.2: ECOG {c.ecog} with {_n(c)} intact BM (5-10): SRS "
          "(conditional).", dose=srs_dose, notes=srs_notes),
    ]


def wbrt() -> list[Rule]:
    wb = dosing()["wbrt"]
    few = T()["astro_kq1"]["srs_max_count_strong"]
    return [
        R("ASTRO22 KQ3.5 (short-course WBRT)", "wbrt", "local",
          ["ASTRO22:KQ3.5", "EANO21:supportive", "CNS19-WBRT:short"],
          [unresected_between(few + 1, None), Cond("poor prognosis (KPS < 70 or expected "
                                                   "survival < 3 months)", poor)],
          lambda c: poor_text(c) + " If WBRT is used: a brief schedule.",
          dose=lambda c: f"{wb['short_course']} ({wb['short_course_note']})",
          mdt=lambda c: c.symptom == "symptomatic"),
        R("ASTRO22 KQ2.1 (no observation alone)", "observation_alone", "local",
          ["ASTRO22:KQ2.1"],
          [Cond("resected or planned resection", lambda c: c.n_resected > 0
                or "surgery" in c.fired, gate=True)],
          "ASTRO22 KQ2.1 (Strong/High): after resection, radiation (SRS or WBRT) improves "
          "intracranial control; observation alone is not a guideline option (MAHAJ17: 12-month "
          "freedom from local recurrence 72% with SRS vs 43% with observation).",
          negative=True),
    ]


def _close_or_lmd(c: Ctx) -> bool:
    return bool(c.hippocampal_lesions()) or c.patient.brain_metastases.leptomeningeal is True


def _no_ha_text(c: Ctx) -> str:
    if c.hippocampal_lesions():
        return hippo_reason(c) + " ASTRO KQ3.2: do not use HA with BM close to the hippocampi."
    return "ASTRO KQ3.2: hippocampal avoidance is not used with leptomeningeal disease."


def ha() -> list[Rule]:
    mem = ("Grades differ (shown, not resolved): ASCO R3.5 strong/high (with HA); ASTRO KQ3.3 "
           "Strong/Low; EANO21: role 'unclear'.")
    return [
        R("ASTRO22 KQ3.2 (no HA near hippocampus / LMD)", "ha_wbrt", "local", ["ASTRO22:KQ3.2"],
          [fired("wbrt"), Cond("a lesion close to the hippocampus, or leptomeningeal disease",
                               _close_or_lmd, gate=True)],
          _no_ha_text, negative=True),
        R("ASTRO22 KQ3.3 (memantine)", "memantine", "supportive",
          ["ASTRO22:KQ3.3", "EANO21:memantine"],
          [fired("wbrt"), Cond("favourable prognosis (KPS >= 70; expected survival, if known, "
                               ">= 3 months)", favourable)],
          "ASTRO22 KQ3.3: patient receiving WBRT with favourable prognosis: memantine.",
          dose=memantine_dose,
          notes=lambda c: [T()["memantine"]["trial_note"], T()["memantine"]["renal_note"], mem]),
    ]


@functools.cache
def phases() -> dict[str, list[Rule]]:
    return {"surgery": surgery(), "srs": srs(), "wbrt": wbrt(), "ha": ha()}
