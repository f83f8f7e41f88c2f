"""Treatment knowledge: dose tables, recommendation metadata and drug cards (TOML, cited)."""

from __future__ import annotations

import functools
from typing import Any

from brainmets.knowledge import DATA_DIR, KnowledgeError, load_toml, require_refs


@functools.cache
def dosing() -> dict[str, Any]:
    """``treatment/dosing.toml`` with its reference ids checked."""
    data = load_toml("treatment/dosing.toml")
    ids = [data["srs_single_fraction"]["source"], data["rtog9005"]["source"],
           data["cavity_single_fraction"]["source"], data["cavity_single_fraction"]["table_source"],
           data["radiobiology"]["alpha_beta_tumour_source"],
           data["radiobiology"]["alpha_beta_brain_source"]]
    ids += data["cavity_single_fraction"]["fractionated_sources"]
    ids += data["radiobiology"]["warn_sources"] + data["necrosis"]["sources"]
    ids += data["wbrt"]["standard_sources"] + data["wbrt"]["short_course_sources"]
    ids += data["srs_other_fractionations"]["sources"]
    require_refs(ids, "treatment/dosing.toml")
    return data


@functools.cache
def recommendations() -> dict[str, dict[str, Any]]:
    """Guideline recommendations keyed ``SOURCE:REC`` (``treatment/recommendations.toml``)."""
    data = load_toml("treatment/recommendations.toml")
    out: dict[str, dict[str, Any]] = {}
    for i, rec in enumerate(data.get("rec", [])):
        where = f"treatment/recommendations.toml: rec #{i + 1}"
        for key in ("key", "source", "rec", "grading", "text"):
            if not isinstance(rec.get(key), str) or not rec[key]:
                raise KnowledgeError(f"{where}: '{key}' is required")
        if rec["key"] in out:
            raise KnowledgeError(f"{where}: duplicate key {rec['key']!r}")
        require_refs([rec["source"], *rec.get("also", [])], where)
        out[rec["key"]] = rec
    return out


@functools.cache
def settings() -> dict[str, Any]:
    """Engine thresholds taken from the spec (``treatment/thresholds.toml``)."""
    return load_toml("treatment/thresholds.toml")


def drug_files() -> list[str]:
    """Relative paths of every drug card file."""
    return sorted(f"drugs/{p.name}" for p in (DATA_DIR / "drugs").glob("*.toml"))
