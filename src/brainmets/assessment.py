"""Compose the engines into one :class:`~brainmets.model.Assessment` for a patient."""

from __future__ import annotations

from typing import Any

from brainmets._version import __version__
from brainmets.model import Assessment, Diagnosis, Patient, parse_patient


def assess(patient: Patient | dict[str, Any]) -> Assessment:
    """Prognosis, options and supportive care for one patient (engines only, no I/O)."""
    from brainmets.knowledge import knowledge_version
    from brainmets.prognosis import evaluate
    from brainmets.treatment import recommend

    if not isinstance(patient, Patient):
        patient = parse_patient(patient)
    estimates, not_computed = evaluate(patient)
    options, not_recommended, treatment_warnings = recommend(patient, estimates)
    warnings = [f"unknown field ignored: {f}" for f in patient.unknown_fields()]
    warnings.extend(treatment_warnings)
    from brainmets.diagnosis.discordance import discordance_notes

    warnings.extend(discordance_notes(patient))  # molecular discordance (why markers differ)
    return Assessment(
        patient_id=patient.id,
        prognosis=estimates,
        not_computed=not_computed,
        options=options,
        not_recommended=not_recommended,
        warnings=warnings,
        versions={"brainmets": __version__, "knowledge_base": knowledge_version()},
        diagnosis=_diagnosis(patient),
    )


def _diagnosis(patient: Patient) -> Diagnosis:
    """Advanced-imaging statements and epidemiology context (brainmets.diagnosis.block)."""
    from brainmets.diagnosis.block import diagnosis_block

    return diagnosis_block(patient)
