"""Compose the engines into one :class:`~brainmets.model.Assessment` for a patient."""

from __future__ import annotations

from typing import Any

from brainmets._version import __version__
from brainmets.model import Assessment, Diagnosis, Patient, parse_patient


def assess(patient: Patient | dict[str, Any]) -> Assessment:
    """Prognosis, options and supportive care for one patient (engines only, no I/O)."""
    from brainmets.checks import blocking_checks, input_checks
    from brainmets.knowledge import knowledge_version
    from brainmets.prognosis import evaluate
    from brainmets.prognosis.primary import choose_primary
    from brainmets.treatment import recommend_full

    if not isinstance(patient, Patient):
        patient = parse_patient(patient)
    checks = input_checks(patient)
    estimates, not_computed = evaluate(patient)
    primary = choose_primary(estimates)  # decision 9: the one estimate the rules use
    tr = recommend_full(patient, estimates)
    warnings = [f"unknown field ignored: {f}" for f in patient.unknown_fields()]
    if blocking_checks(checks):  # no reading of the record is safe: list no options
        tr.options, tr.awaiting, tr.not_applicable, tr.timing = [], [], [], None
        warnings.append("No options listed: the record contradicts itself where no reading is "
                        "safe (see input_checks).")
    warnings.extend(tr.warnings)
    from brainmets.diagnosis.discordance import discordance_notes

    warnings.extend(discordance_notes(patient))  # molecular discordance (why markers differ)
    return Assessment(
        patient_id=patient.id,
        prognosis=estimates,
        not_computed=not_computed,
        options=tr.options,
        not_recommended=tr.not_recommended,
        warnings=warnings,
        primary_survival=primary,
        awaiting=tr.awaiting,
        not_applicable=tr.not_applicable,
        input_checks=checks,
        local_therapy_timing=tr.timing,
        versions={"brainmets": __version__, "knowledge_base": knowledge_version()},
        diagnosis=_diagnosis(patient),
    )


def _diagnosis(patient: Patient) -> Diagnosis:
    """Advanced-imaging statements and epidemiology context (brainmets.diagnosis.block)."""
    from brainmets.diagnosis.block import diagnosis_block

    return diagnosis_block(patient)
