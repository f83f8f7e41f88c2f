"""Supportive care (treatment.md §5): steroids, antiseizure drugs, palliative care, follow-up."""

from __future__ import annotations

import functools

from brainmets.treatment.engine import Cond, Rule
from brainmets.treatment.rules.conditions import (
    T,
    asymptomatic,
    dex_dose,
    dex_notes,
    poor,
    poor_text,
    symptomatic_any,
)

R = Rule


def steroids() -> list[Rule]:
    return [
        # decision 11: the dose follows the symptom level only; each level cites its own
        # RYKEN10 statement (the >= 16 mg/day text never sits beside the 4-8 mg/day dose)
        R("RYKEN10 / EANO21 dexamethasone", "dexamethasone", "supportive",
          ["RYKEN10:mild", "EANO21:steroids"],
          [symptomatic_any(), Cond("no severe raised intracranial pressure recorded",
                                   lambda c: c.severe_icp is not True, gate=True)],
          lambda c: f"Symptomatic brain metastases ({c.symptom}): dexamethasone at the lowest "
          "effective dose for the shortest time, with a taper (RYKEN10 Level 3; EANO21).",
          dose=dex_dose, notes=dex_notes),
        R("RYKEN10 / EANO21 dexamethasone (severe raised ICP)", "dexamethasone", "supportive",
          ["RYKEN10:severe", "EANO21:steroids"],
          [symptomatic_any(), Cond("severe raised intracranial pressure",
                                   lambda c: c.severe_icp is True, gate=True)],
          "Severe symptoms of raised intracranial pressure: dexamethasone with urgent "
          "local-therapy / neurosurgical review (RYKEN10 Level 3; EANO21).",
          dose=dex_dose, notes=dex_notes),
        R("EANO21 no steroids if asymptomatic", "dexamethasone", "supportive",
          ["EANO21:steroids", "MORAVAN20:steroids", "RYKEN10:asymptomatic"],
          [asymptomatic(strict=True)],
          "Asymptomatic: steroids are not recommended (EANO21; Moravan 2020); CNS 2010 "
          "(RYKEN10): insufficient evidence to recommend them.", negative=True),
    ]


def antiseizure() -> list[Rule]:
    return [
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
    ]


def palliative() -> list[Rule]:
    return [
        R("ASTRO22 KQ3.5 / EANO21 palliative care", "palliative_care", "supportive",
          ["ASTRO22:KQ3.5", "EANO21:supportive"],
          [Cond("poor prognosis (KPS < 70 or expected survival < 3 months)", poor, gate=True)],
          poor_text, mdt=lambda c: c.symptom == "symptomatic"),
    ]


def followup() -> list[Rule]:
    return [
        R("EANO21 / ASTRO MRI surveillance", "mri_surveillance", "supportive",
          ["EANO21:followup", "ASTRO22:KQ3.4"],
          [Cond("local therapy deferred or SRS/cavity SRS listed",
                lambda c: c.defer_fired or bool({"srs", "cavity_srs"} & c.fired), gate=True)],
          lambda c: ("Local therapy may be deferred: close monitoring is crucial (ASCO22); "
                     if c.defer_fired else "") + "neurological examination and brain MRI every "
          "2-3 months (EANO21; ASTRO KQ3.4: every 2-3 months in year 1 after SRS).",
          dose=lambda c: "brain MRI every 2-3 months"),
    ]


@functools.cache
def phases() -> dict[str, list[Rule]]:
    return {"supportive": [*steroids(), *antiseizure(), *palliative()], "followup": followup()}
