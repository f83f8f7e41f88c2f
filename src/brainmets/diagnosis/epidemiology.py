"""Epidemiology and screening context for a primary site (display text with sources, §5)."""

from __future__ import annotations

from typing import Any

from brainmets.diagnosis import facts

#: patient-record primary sites with their own rows (gi rows are for colorectal cancer only)
SITES = ("nsclc", "sclc", "breast", "melanoma", "renal", "gi")


def _rows(section: str, site: str | None) -> list[dict[str, Any]]:
    out = []
    for row in facts.epidemiology().get(section, []):
        sites = row.get("sites", ["all"])
        if site is None or "all" in sites or site in sites:
            r = dict(row)
            r["citations"] = [facts.citation(s) for s in row.get("sources", [])]
            out.append(r)
    return out


def context(primary_site: str | None) -> dict[str, Any]:
    """Incidence proportions, peak ages, screening statements and unconfirmed claims.

    ``primary_site`` is a patient-record site (nsclc, sclc, breast, ...); other or unknown
    sites get the rows for every patient only. Unconfirmed seed claims are listed with
    ``confidence = "uncertain"``.
    """
    site = (primary_site or "").lower() or None
    key = site if site in SITES else None
    notes = []
    if key == "gi":
        notes.append("gastrointestinal primaries: registry rows are for colorectal cancer only")
    if key is None:
        notes.append(f"no site-specific epidemiology for primary site {primary_site!r}")
    return {
        "primary_site": primary_site,
        "epidemiology_key": key,
        "incidence": _rows("incidence", key or "all"),
        "peak_age": _rows("peak_age", key) if key else [],
        "screening": _rows("screening", key or "all"),
        "general": _rows("general", None),
        "unconfirmed_claims": _rows("unconfirmed", None),
        "notes": notes,
        "version": facts.epidemiology().get("version"),
    }
