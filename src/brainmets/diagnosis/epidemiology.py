"""Epidemiology and screening context for a primary site (display text with sources)."""

from __future__ import annotations

from typing import Any

from brainmets.diagnosis import _kb

#: Patient-record primary sites -> epidemiology keys.
SITE_KEYS = {"nsclc": "lung", "sclc": "lung", "lung": "lung", "breast": "breast",
             "melanoma": "melanoma", "renal": "renal", "gi": "colorectal",
             "colorectal": "colorectal"}


def _rows(section: str, key: str | None) -> list[dict[str, Any]]:
    out = []
    for row in _kb.epidemiology().get(section, []):
        if key is None or row.get("site") in (key, "all"):
            r = dict(row)
            r["citations"] = [_kb.citation(s) for s in row.get("sources", [])]
            out.append(r)
    return out


def context(primary_site: str | None) -> dict[str, Any]:
    """Incidence proportions, peak ages, screening statements and unconfirmed claims.

    ``primary_site`` is a patient-record site (nsclc, sclc, breast, ...); unknown sites get the
    general rows only. Unconfirmed seed claims are listed with ``confidence = "uncertain"``.
    """
    key = SITE_KEYS.get((primary_site or "").lower())
    notes = []
    if primary_site == "gi":
        notes.append("gastrointestinal primaries: registry rows are for colorectal cancer only")
    if key is None:
        notes.append(f"no site-specific epidemiology for primary site {primary_site!r}")
    data = _kb.epidemiology()
    return {
        "primary_site": primary_site,
        "epidemiology_key": key,
        "incidence": _rows("incidence", key) if key else _rows("incidence", "all"),
        "peak_age": [r for r in _rows("peak_age", key) if key],
        "screening": _rows("screening", key) if key else _rows("screening", "all"),
        "general": _rows("general", None),
        "unconfirmed_claims": _rows("unconfirmed", None),
        "notes": notes,
        "version": data.get("version"),
    }
