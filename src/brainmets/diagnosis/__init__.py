"""Diagnosis aids: ADC and DSC maps, interpretation rules, epidemiology context, discordance.

Every output is advisory (a flag with its cut-off, study and confidence), never a diagnosis.
Rules ask only the questions that fit the lesion's history (:mod:`.history`); the assessment's
``diagnosis`` block comes from :func:`brainmets.diagnosis.block.diagnosis_block`. Facts are read
through :mod:`brainmets.knowledge` (:mod:`.facts`), volumes through :mod:`brainmets.imaging.io`
(:mod:`.volumes`). Imaging code lives in :mod:`.dwi` and :mod:`.dsc`.
"""

from __future__ import annotations

from typing import Any

from brainmets.diagnosis.rules import Statement, interpret, possible_treatment_effect
from brainmets.model import Diagnosis, Patient

__all__ = ["Statement", "context", "diagnosis_block", "interpret", "possible_treatment_effect",
           "summary_lines"]


def context(primary_site: str | None) -> dict[str, Any]:
    """Epidemiology and screening context for a primary site (see :mod:`.epidemiology`)."""
    from brainmets.diagnosis.epidemiology import context as _context

    return _context(primary_site)


def diagnosis_block(patient: Patient) -> Diagnosis:
    """The assessment's ``diagnosis`` block (see :mod:`.block`)."""
    from brainmets.diagnosis.block import diagnosis_block as _block

    return _block(patient)


def summary_lines(statements: list[Statement]) -> list[str]:
    """One line per statement that a value supports or does not support (for option notes)."""
    out = []
    for s in statements:
        if s.status not in ("supports", "does_not_support"):
            continue
        flag = " [low reliability]" if s.reliability == "low" else ""
        out.append(f"{s.rule_id} ({', '.join(s.sources[:1])}, {s.confidence}){flag}: "
                   f"{s.text.split(' Cut-off')[0]}")
    return out
