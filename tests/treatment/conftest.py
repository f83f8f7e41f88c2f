"""Fixtures for the treatment tests: patient builder, prognostic-estimate builder, runner."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from brainmets.model import PrognosticEstimate, parse_patient
from brainmets.treatment import recommend_full


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def lesions(*diams: float, **common: Any) -> list[dict[str, Any]]:
    return [{"diameter_mm": d, "location": "supratentorial", "mass_effect": False,
             "hippocampus_distance_mm": 30.0, **common} for d in diams]


BASE: dict[str, Any] = {
    "age": 60, "kps": 90, "ecog": 1,
    "primary": {"site": "nsclc", "histology": "adenocarcinoma", "egfr": "negative",
                "alk": "negative", "ros1": "negative", "controlled": True},
    "extracranial_metastases": False,
    "brain_metastases": {"count": 2, "leptomeningeal": False, "lesions": lesions(8, 12)},
    "symptoms": {"status": "asymptomatic", "severe_icp": False, "seizure_history": False},
    "therapy": {"systemic_options_available": True, "immunotherapy_naive": True,
                "planned_pemetrexed_platinum": False, "dexamethasone_mg_day": 0},
}


class Result:
    def __init__(self, full):
        self.options = full.options
        self.not_recommended = full.not_recommended
        self.warnings = full.warnings
        self.awaiting = {a.id: a for a in full.awaiting}
        self.na = {n.id: n for n in full.not_applicable}
        self.timing = full.timing
        self.ids = [o.id for o in self.options]
        self.by_id = {o.id: o for o in self.options}
        self.nr = {n.id: n for n in self.not_recommended}

    def src(self, oid: str) -> set[str]:
        return {f"{s.id} {s.rec}" for s in self.by_id[oid].sources}

    def text(self) -> str:
        parts = [w for w in self.warnings]
        for o in self.options:
            parts += [o.rationale, o.dose or "", *o.notes]
        parts += [n.reason for n in self.not_recommended]
        parts += [a.reason for a in self.awaiting.values()]
        parts += [n.reason for n in self.na.values()]
        if self.timing is not None:
            parts.append(self.timing.statement)
        return "\n".join(parts)

    def timing_src(self) -> set[str]:
        return {f"{s.id} {s.rec}" for s in self.timing.sources} if self.timing else set()


@pytest.fixture
def est():
    def make(index: str = "ds_gpa_2012", months: float = 12.0, conf: str = "confirmed"):
        return PrognosticEstimate(index=index, score=2.5, group="2.5-3.0",
                                  median_survival_months=months, source=f"{index} source",
                                  confidence=conf)
    return make


@pytest.fixture
def run():
    def go(over: dict[str, Any] | None = None, estimates=None, replace_lesions=None) -> Result:
        data = _merge(BASE, over or {})
        if replace_lesions is not None:
            data["brain_metastases"]["lesions"] = replace_lesions
        p = parse_patient(data)
        return Result(recommend_full(p, list(estimates or [])))
    return go


@pytest.fixture
def mk_lesions():
    return lesions


@pytest.fixture
def patient_data():
    """Merge overrides into the minimal patient (section dicts are merged, lists replaced)."""
    def make(over: dict[str, Any] | None = None) -> dict[str, Any]:
        return _merge(BASE, over or {})
    return make
