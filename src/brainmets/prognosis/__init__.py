"""Prognostic indices (RPA, GPA family, BSBM, LabBM) driven by the knowledge base.

Interface used by the rest of the package::

    evaluate(patient: Patient) -> tuple[list[PrognosticEstimate], list[NotComputed]]
"""

from __future__ import annotations

from brainmets.model import NotComputed, Patient, PrognosticEstimate


def evaluate(patient: Patient) -> tuple[list[PrognosticEstimate], list[NotComputed]]:
    """Every index applicable to the patient's primary site (placeholder until the engine lands)."""
    return [], []
