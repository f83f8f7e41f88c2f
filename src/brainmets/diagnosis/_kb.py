"""Load the diagnosis knowledge files (thresholds, epidemiology, references) once, validated."""

from __future__ import annotations

import copy
import functools
import os
import tomllib
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "knowledge" / "data"
THRESHOLDS_FILE = DATA / "diagnosis" / "thresholds.toml"
EPIDEMIOLOGY_FILE = DATA / "diagnosis" / "epidemiology.toml"
DISCORDANCE_FILE = DATA / "diagnosis" / "discordance.toml"
REFERENCES_FILE = DATA / "references" / "diagnosis.toml"
ENV_OVERRIDES = "BRAINMETS_DIAGNOSIS_THRESHOLDS"

_CONFIDENCE = {"confirmed", "single_source", "uncertain"}
_DIRECTIONS = {"<", "<=", ">", ">="}
_THRESHOLD_KEYS = (
    "id", "rule", "metric", "label", "unit", "cutoff", "direction", "question", "supports",
    "population", "n", "performance", "sources", "confidence",
)


class DiagnosisKnowledgeError(RuntimeError):
    """A diagnosis knowledge file is malformed (raised at load time, naming the file)."""


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise DiagnosisKnowledgeError(f"{path}: missing knowledge file") from None
    except tomllib.TOMLDecodeError as exc:
        raise DiagnosisKnowledgeError(f"{path}: invalid TOML: {exc}") from None


@functools.cache
def references() -> dict[str, dict[str, Any]]:
    """Diagnosis references by id (own copy; also readable through brainmets.knowledge)."""
    out: dict[str, dict[str, Any]] = {}
    for entry in _read(REFERENCES_FILE).get("reference", []):
        rid = entry.get("id")
        if not rid or not entry.get("title"):
            raise DiagnosisKnowledgeError(f"{REFERENCES_FILE}: reference without id/title: {entry}")
        if rid in out:
            raise DiagnosisKnowledgeError(f"{REFERENCES_FILE}: duplicate reference id {rid!r}")
        out[rid] = entry
    return out


def citation(ref_id: str) -> str:
    """Short formatted citation for a diagnosis reference id."""
    r = references()[ref_id]
    parts = [r.get("authors", "").rstrip("."), r["title"].rstrip(".")]
    venue = r.get("journal", "")
    if r.get("year"):
        venue = f"{venue} ({r['year']})" if venue else str(r["year"])
    parts.append(venue)
    text = ". ".join(p for p in parts if p) + "."
    if r.get("doi"):
        text += f" doi:{r['doi']}"
    return text


def short(ref_id: str) -> str:
    """``Surname Year`` (or the title when no authors were captured)."""
    r = references()[ref_id]
    who = r["authors"].split()[0].rstrip(",") if r.get("authors") else r["title"]
    return f"{who} {r['year']}" if r.get("year") else who


def require(ids: list[str], where: str) -> None:
    unknown = [i for i in ids if i not in references()]
    if unknown:
        raise DiagnosisKnowledgeError(f"{where}: unknown reference id(s) {unknown}")


@functools.cache
def _thresholds_default() -> dict[str, Any]:
    data = _read(THRESHOLDS_FILE)
    table: dict[str, dict[str, Any]] = {}
    for t in data.get("threshold", []):
        where = f"{THRESHOLDS_FILE.name} threshold {t.get('id')!r}"
        missing = [k for k in _THRESHOLD_KEYS if k not in t]
        if missing:
            raise DiagnosisKnowledgeError(f"{where}: missing keys {missing}")
        if t["direction"] not in _DIRECTIONS:
            raise DiagnosisKnowledgeError(f"{where}: direction must be one of {_DIRECTIONS}")
        if t["confidence"] not in _CONFIDENCE:
            raise DiagnosisKnowledgeError(f"{where}: confidence must be one of {_CONFIDENCE}")
        if not isinstance(t["cutoff"], int | float) or isinstance(t["cutoff"], bool):
            raise DiagnosisKnowledgeError(f"{where}: cutoff must be a number")
        require(t["sources"], where)
        if t["id"] in table:
            raise DiagnosisKnowledgeError(f"{where}: duplicate id")
        table[t["id"]] = t
    for name, section in {**data.get("qc", {}), **data.get("context", {})}.items():
        require(section.get("sources", []), f"{THRESHOLDS_FILE.name} [{name}]")
    return {"threshold": table, "qc": data.get("qc", {}), "context": data.get("context", {})}


def _env_overrides() -> dict[str, float]:
    path = os.environ.get(ENV_OVERRIDES)
    if not path:
        return {}
    data = _read(Path(path))
    cut = data.get("cutoffs", {})
    if not isinstance(cut, dict):
        raise DiagnosisKnowledgeError(f"{path}: expected a [cutoffs] table")
    return cut


def thresholds(overrides: dict[str, float] | None = None) -> dict[str, Any]:
    """Thresholds with user overrides applied (env file first, then ``overrides``).

    Overridden entries keep their default in ``default_cutoff`` so output can say so.
    """
    kb = copy.deepcopy(_thresholds_default())
    table = kb["threshold"]
    for source, over in (("env", _env_overrides()), ("argument", overrides or {})):
        for tid, value in over.items():
            if tid not in table:
                raise DiagnosisKnowledgeError(
                    f"threshold override ({source}): unknown id {tid!r}; known: {sorted(table)}"
                )
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise DiagnosisKnowledgeError(
                    f"threshold override ({source}) {tid}: expected a number, got {value!r}"
                )
            table[tid].setdefault("default_cutoff", table[tid]["cutoff"])
            table[tid]["cutoff"] = float(value)
    return kb


@functools.cache
def epidemiology() -> dict[str, Any]:
    data = _read(EPIDEMIOLOGY_FILE)
    for section in ("incidence", "peak_age", "screening", "general", "unconfirmed"):
        for i, row in enumerate(data.get(section, [])):
            require(row.get("sources", []), f"{EPIDEMIOLOGY_FILE.name} {section}[{i}]")
            if row.get("confidence") not in _CONFIDENCE:
                raise DiagnosisKnowledgeError(
                    f"{EPIDEMIOLOGY_FILE.name} {section}[{i}]: bad confidence"
                )
    return data


@functools.cache
def discordance() -> dict[str, Any]:
    data = _read(DISCORDANCE_FILE)
    for name, section in data.items():
        if isinstance(section, dict):
            require(section.get("sources", []), f"{DISCORDANCE_FILE.name} [{name}]")
    return data
