"""Diagnosis aids: ADC and DSC maps, interpretation rules, epidemiology context, discordance.

Every output is advisory (a flag with its cut-off, study and confidence), never a diagnosis.
Heavy imaging code lives in :mod:`brainmets.diagnosis.dwi` and :mod:`brainmets.diagnosis.dsc`.
"""

from __future__ import annotations

from typing import Any

from brainmets.diagnosis.rules import Statement, interpret, possible_treatment_effect

__all__ = ["Statement", "context", "interpret", "possible_treatment_effect"]


def context(primary_site: str | None) -> dict[str, Any]:
    """Epidemiology and screening context for a primary site (see :mod:`.epidemiology`)."""
    from brainmets.diagnosis.epidemiology import context as _context

    return _context(primary_site)
