"""Guideline options engine.

Interface used by :mod:`brainmets.assessment`::

    recommend(patient, estimates) -> (options, not_recommended, warnings)

Every option that a rule fires is listed with why (rationale + sources with their own grading);
every option considered and rejected is in ``not_recommended`` with why not; missing inputs give
``needs: <field>`` warnings, never a guess. See ``docs/treatment-rules.md``.
"""

from __future__ import annotations

from brainmets.model import NotRecommended, Option, Patient, PrognosticEstimate


def recommend(
    patient: Patient, estimates: list[PrognosticEstimate]
) -> tuple[list[Option], list[NotRecommended], list[str]]:
    """Every guideline-supported option for the patient, the rejected ones, and warnings."""
    from brainmets.treatment.assemble import run

    return run(patient, estimates)
