"""Per-lesion dose lookups: SRS by maximum diameter (ASTRO22), RTOG 90-05 limits, cavity SRS by
cavity volume (N107C / ASTRO22 Table 5). Tables live in ``knowledge/data/treatment/dosing.toml``."""

from __future__ import annotations

from typing import Any

from brainmets.treatment.kb import dosing


def srs_dose(max_diameter_mm: float) -> dict[str, Any]:
    """ASTRO22 KQ1.3-1.6 row for a lesion of this maximum diameter (mm)."""
    if max_diameter_mm < 0:
        raise ValueError(f"max_diameter_mm: must be >= 0, got {max_diameter_mm}")
    table = dosing()["srs_single_fraction"]
    for row in table["bin"]:
        lo, hi = row["min_mm"], row["max_mm"]
        above_lo = max_diameter_mm > lo if row.get("lower_exclusive") else max_diameter_mm >= lo
        below_hi = max_diameter_mm <= hi if row.get("upper_inclusive") else max_diameter_mm < hi
        ok = above_lo and below_hi
        if ok:
            return {**row, "source": table["source"]}
    raise ValueError(f"max_diameter_mm: outside the dose table, got {max_diameter_mm}")


def rtog9005_limit(max_diameter_mm: float) -> dict[str, Any]:
    """RTOG 90-05 maximum tolerated single-fraction dose (None above 40 mm) with its caveat."""
    t = dosing()["rtog9005"]
    mtd = next((b["mtd_gy"] for b in t["bin"] if max_diameter_mm <= b["max_mm"]), None)
    return {"mtd_gy": mtd, "source": t["source"], "caveat": t["caveat"]}


def cavity_dose(cavity_volume_ml: float, max_dimension_mm: float | None = None) -> dict[str, Any]:
    """N107C single-fraction cavity dose by cavity volume (cm3) with its eligibility notes."""
    if cavity_volume_ml < 0:
        raise ValueError(f"cavity_volume_ml: must be >= 0, got {cavity_volume_ml}")
    t = dosing()["cavity_single_fraction"]
    row = next(b for b in t["bin"] if b["min_ml"] <= cavity_volume_ml < b["max_ml"])
    notes = []
    if row.get("note"):
        notes.append(row["note"])
    limit = t["max_cavity_dimension_mm"]
    if max_dimension_mm is None:
        notes.append(f"N107C enrolled cavities < {limit / 10:g} cm: maximum cavity dimension "
                     "not given")
    elif max_dimension_mm >= limit:
        notes.append(
            f"cavity {max_dimension_mm / 10:g} cm is outside the N107C table "
            f"(cavity < {limit / 10:g} cm)"
        )
    fractionated = (max_dimension_mm is not None
                    and max_dimension_mm > t["fractionated_threshold_mm"])
    return {"dose_gy": row["dose_gy"], "source": t["source"], "table_source": t["table_source"],
            "notes": notes, "fractionated_note": t["fractionated"] if fractionated else None}


def lesion_diameter(lesion: Any) -> float | None:
    """A lesion's maximum diameter: ``max_diameter_mm`` (from ``scan``) else ``diameter_mm``."""
    return lesion.max_diameter_mm if lesion.max_diameter_mm is not None else lesion.diameter_mm


def srs_plan_line(index: int, lesion: Any) -> str:
    """One line per intact lesion: dose row (ASTRO22 KQ1.3-1.6) plus the RTOG 90-05 limit."""
    dia = lesion_diameter(lesion)
    if dia is None:
        return (f"L{index} (diameter not given): dose by maximum diameter needs "
                f"brain_metastases.lesions[{index - 1}].diameter_mm")
    row = srs_dose(dia)
    lim = rtog9005_limit(dia)
    mtd = f"; RTOG 90-05 MTD {lim['mtd_gy']:g} Gy" if lim["mtd_gy"] is not None else ""
    return (
        f"L{index} {dia:g} mm ({row['label']}): {row['single_fraction']}; multifraction: "
        f"{row['multifraction']} [ASTRO22 {row['rec']}: {row['strength']}"
        f"{'/' + row['evidence'] if row['evidence'] else ''}{mtd}]"
    )


def srs_plan(lesions: list[tuple[int, Any]]) -> str:
    """Per-lesion SRS dosing; lesions sharing a dose row are grouped (``L1 6 mm, L2 9 mm``)."""
    groups: dict[tuple[str, float | None], list[str]] = {}
    rows: dict[tuple[str, float | None], dict[str, Any]] = {}
    missing = []
    for i, le in lesions:
        dia = lesion_diameter(le)
        if dia is None:
            missing.append(i)
            continue
        row = srs_dose(dia)
        mtd = rtog9005_limit(dia)["mtd_gy"]
        key = (row["label"], mtd)
        groups.setdefault(key, []).append(f"L{i} {dia:g} mm")
        rows[key] = row
    parts = []
    for key, names in groups.items():
        row, mtd = rows[key], key[1]
        lim = f"; RTOG 90-05 MTD {mtd:g} Gy" if mtd is not None else ""
        grade = row["strength"] + ("/" + row["evidence"] if row["evidence"] else "")
        parts.append(f"{', '.join(names)} ({row['label']}): {row['single_fraction']}; "
                     f"multifraction: {row['multifraction']} [ASTRO22 {row['rec']}: {grade}{lim}]")
    parts += [srs_plan_line(i, le) for i, le in lesions if i in missing]
    return "; ".join(parts)


def cavity_plan_line(index: int, lesion: Any) -> str:
    """One line per resected lesion: N107C dose by cavity volume, or what is needed."""
    vol = lesion.cavity_volume_ml
    dia = lesion_diameter(lesion)
    if vol is None:
        return (f"L{index} cavity: dose by cavity volume needs "
                f"brain_metastases.lesions[{index - 1}].cavity_volume_ml")
    c = cavity_dose(vol, dia)
    text = f"L{index} cavity {vol:g} cm3: {c['dose_gy']:g} Gy x 1 (N107C dosing, ASTRO22 Table 5)"
    extra = list(c["notes"])
    if c["fractionated_note"]:
        extra.append("or fractionated: " + c["fractionated_note"])
    return text + ("; " + "; ".join(extra) if extra else "")
