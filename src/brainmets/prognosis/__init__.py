"""Prognostic indices (RPA, GPA family, BSBM, LabBM) driven by the knowledge base.

Interface used by the rest of the package::

    evaluate(patient: Patient) -> tuple[list[PrognosticEstimate], list[NotComputed]]

Tables: ``knowledge/data/prognosis/*.toml`` (see :mod:`brainmets.prognosis.tables`).
Cohorts: :func:`brainmets.prognosis.vectorized.score_table` (same tables, vectorised).
"""

from __future__ import annotations

from brainmets.prognosis.engine import evaluate
from brainmets.prognosis.tables import INDEX_IDS, index_tables

__all__ = ["INDEX_IDS", "evaluate", "index_tables"]
