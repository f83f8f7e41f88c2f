"""Shared helpers for prognosis tests (fixtures, since tests import nothing from each other)."""

from __future__ import annotations

from typing import Any

import pytest

from brainmets.model import parse_patient
from brainmets.prognosis import evaluate


def _make(**kw: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {"primary": {}, "brain_metastases": {}, "labs": {}}
    for key, value in kw.items():
        if key in ("site", "histology", "controlled", "egfr", "alk", "braf", "er", "pr", "her2"):
            rec["primary"][key] = value
        elif key == "count":
            rec["brain_metastases"]["count"] = value
        elif key == "ecm":
            rec["extracranial_metastases"] = value
        elif key.startswith("labs_"):
            rec["labs"][key[5:]] = value
        else:
            rec[key] = value
    return rec


@pytest.fixture
def make():
    """Build a CONTRACT §1 record from flat keyword arguments."""
    return _make


@pytest.fixture
def run():
    """Evaluate a record: returns ({index: estimate}, {index: not_computed})."""

    def _run(**kw: Any):
        est, nc = evaluate(parse_patient(_make(**kw)))
        return {e.index: e for e in est}, {n.index: n for n in nc}

    return _run
