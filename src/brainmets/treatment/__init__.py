"""Guideline options engine.

Interface used by :mod:`brainmets.assessment`::

    recommend_full(patient, estimates) -> TreatmentResult   # the four lists + timing statement
    recommend(patient, estimates) -> (options, not_recommended, warnings)

Every option that a rule fires is listed with why (rationale + sources with their own grading +
the population it checked); an option waiting on a missing field is under ``awaiting`` (which
test to order), one whose trigger is unmet under ``not_applicable``, and only a source's MUST-NOT
under ``not_recommended``. See ``docs/treatment-rules.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from brainmets.model import NotRecommended, Option, Patient, PrognosticEstimate

if TYPE_CHECKING:
    from brainmets.treatment.assemble import TreatmentResult


def recommend_full(patient: Patient, estimates: list[PrognosticEstimate]) -> TreatmentResult:
    """Options, awaiting, not applicable, not recommended, warnings, local-therapy timing."""
    from brainmets.treatment.assemble import run_full

    return run_full(patient, estimates)


def recommend(
    patient: Patient, estimates: list[PrognosticEstimate]
) -> tuple[list[Option], list[NotRecommended], list[str]]:
    """Every guideline-supported option for the patient, the advised-against ones, warnings."""
    from brainmets.treatment.assemble import run

    return run(patient, estimates)
