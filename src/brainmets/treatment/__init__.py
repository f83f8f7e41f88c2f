"""Guideline options engine.

Interface used by :mod:`brainmets.assessment`::

    recommend(patient, estimates) -> (options, not_recommended, warnings)
"""

from __future__ import annotations

from brainmets.model import NotRecommended, Option, Patient, PrognosticEstimate


def recommend(
    patient: Patient, estimates: list[PrognosticEstimate]
) -> tuple[list[Option], list[NotRecommended], list[str]]:
    """Every guideline-supported option for the patient (placeholder until the engine lands)."""
    return [], [], []
