"""The diagnosis facts (cut-offs, epidemiology, discordance, processing settings), read and
validated through :mod:`brainmets.knowledge` (one loader, one reference registry).

Cut-offs are configurable: ``thresholds(overrides={"T4": 2.2})`` or a TOML file named by
``BRAINMETS_DIAGNOSIS_THRESHOLDS`` holding ``[cutoffs]`` (diagnosis.md §0.2, §7.8).
"""

from __future__ import annotations

import functools
import os
from typing import Any

from brainmets.knowledge import KnowledgeError, load_toml, reference, require_refs
from brainmets.knowledge.loader import load_override_toml

THRESHOLDS = "diagnosis/thresholds.toml"
EPIDEMIOLOGY = "diagnosis/epidemiology.toml"
DISCORDANCE = "diagnosis/discordance.toml"
PROCESSING = "diagnosis/processing.toml"
ENV_OVERRIDES = "BRAINMETS_DIAGNOSIS_THRESHOLDS"

#: confidence words; ``interpolated`` marks the toolkit's own cut-offs (no published threshold)
CONFIDENCE = {"confirmed", "single_source", "uncertain", "interpolated"}
#: clinical questions and the lesion history each one is asked for
QUESTIONS = {
    "glioblastoma_vs_metastasis": "untreated_undiagnosed",
    "abscess": "untreated_undiagnosed",
    "recurrence_vs_necrosis": "irradiated",
}
_DIRECTIONS = {"<", "<=", ">", ">="}
_THRESHOLD_KEYS = (
    "id", "rule", "metric", "label", "unit", "cutoff", "direction", "question", "question_id",
    "applies_to", "supports", "population", "n", "performance", "sources", "confidence",
)


class DiagnosisKnowledgeError(KnowledgeError):
    """A diagnosis knowledge file is malformed (raised at load time, naming the file)."""


def citation(ref_id: str) -> str:
    """Formatted citation for a reference id (from the shared registry)."""
    return reference(ref_id).citation


def short(ref_id: str) -> str:
    """``Surname Year`` (or the title when no authors were captured)."""
    r = reference(ref_id)
    journal = (getattr(r, "journal", None) or "").split(" 1")[0].split(" 2")[0].strip()
    who = r.authors.split()[0].rstrip(",") if r.authors else (journal or r.title)
    return f"{who} {r.year}" if r.year else who


def _check_threshold(t: dict[str, Any]) -> None:
    where = f"{THRESHOLDS} threshold {t.get('id')!r}"
    missing = [k for k in _THRESHOLD_KEYS if k not in t]
    if missing:
        raise DiagnosisKnowledgeError(f"{where}: missing keys {missing}")
    if t["direction"] not in _DIRECTIONS:
        raise DiagnosisKnowledgeError(f"{where}: direction must be one of {sorted(_DIRECTIONS)}")
    if t["confidence"] not in CONFIDENCE:
        raise DiagnosisKnowledgeError(f"{where}: confidence must be one of {sorted(CONFIDENCE)}")
    if QUESTIONS.get(t["question_id"]) != t["applies_to"]:
        raise DiagnosisKnowledgeError(
            f"{where}: question_id/applies_to must be one of {QUESTIONS}")
    if not isinstance(t["cutoff"], int | float) or isinstance(t["cutoff"], bool):
        raise DiagnosisKnowledgeError(f"{where}: cutoff must be a number")
    if t["confidence"] == "interpolated" and "interpolat" not in t.get("note", ""):
        raise DiagnosisKnowledgeError(f"{where}: an interpolated cut-off must say so in its note")
    require_refs(t["sources"], where)


@functools.cache
def _thresholds_default() -> dict[str, Any]:
    data = load_toml(THRESHOLDS)
    table: dict[str, dict[str, Any]] = {}
    for t in data.get("threshold", []):
        _check_threshold(t)
        if t["id"] in table:
            raise DiagnosisKnowledgeError(f"{THRESHOLDS}: duplicate threshold id {t['id']!r}")
        table[t["id"]] = t
    for name, section in {**data.get("qc", {}), **data.get("context", {})}.items():
        require_refs(section.get("sources", []), f"{THRESHOLDS} [{name}]")
        if "confidence" in section and section["confidence"] not in CONFIDENCE:
            raise DiagnosisKnowledgeError(f"{THRESHOLDS} [{name}]: bad confidence")
    return {"threshold": table, "qc": data.get("qc", {}), "context": data.get("context", {})}


def _env_overrides() -> dict[str, Any]:
    path = os.environ.get(ENV_OVERRIDES)
    if not path:
        return {}
    try:
        data = load_override_toml(path)
    except KnowledgeError as exc:
        raise DiagnosisKnowledgeError(f"{ENV_OVERRIDES}={path}: {exc}") from None
    cut = data.get("cutoffs", {})
    if not isinstance(cut, dict):
        raise DiagnosisKnowledgeError(f"{path}: expected a [cutoffs] table")
    return cut


def thresholds(overrides: dict[str, float] | None = None) -> dict[str, Any]:
    """Cut-offs with user overrides applied (env file first, then ``overrides``).

    An overridden entry keeps its default in ``default_cutoff`` so the output can say so.
    """
    import copy

    kb = copy.deepcopy(_thresholds_default())
    table = kb["threshold"]
    for origin, over in (("env", _env_overrides()), ("argument", overrides or {})):
        for tid, value in over.items():
            if tid not in table:
                raise DiagnosisKnowledgeError(
                    f"threshold override ({origin}): unknown id {tid!r}; known: {sorted(table)}")
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise DiagnosisKnowledgeError(
                    f"threshold override ({origin}) {tid}: expected a number, got {value!r}")
            table[tid].setdefault("default_cutoff", table[tid]["cutoff"])
            table[tid]["cutoff"] = float(value)
    return kb


@functools.cache
def epidemiology() -> dict[str, Any]:
    """Epidemiology and screening rows, each with resolvable sources and a confidence word."""
    data = load_toml(EPIDEMIOLOGY)
    for section in ("incidence", "peak_age", "screening", "general", "unconfirmed"):
        for i, row in enumerate(data.get(section, [])):
            where = f"{EPIDEMIOLOGY} {section}[{i}]"
            if not row.get("sources"):
                raise DiagnosisKnowledgeError(f"{where}: every row needs a source")
            require_refs(row["sources"], where)
            if row.get("confidence") not in CONFIDENCE:
                raise DiagnosisKnowledgeError(f"{where}: bad confidence {row.get('confidence')!r}")
            if not isinstance(row.get("sites", []), list):
                raise DiagnosisKnowledgeError(f"{where}: 'sites' must be a list")
    return data


@functools.cache
def discordance() -> dict[str, Any]:
    """Molecular-discordance texts (diagnosis.md §6), each with resolvable sources."""
    data = load_toml(DISCORDANCE)
    for name, section in data.items():
        if isinstance(section, dict):
            require_refs(section.get("sources", []), f"{DISCORDANCE} [{name}]")
    return data


@functools.cache
def settings() -> dict[str, Any]:
    """Processing settings for the ADC and DSC maps (engineering choices, labelled as such)."""
    return load_toml(PROCESSING)
