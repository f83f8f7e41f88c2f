"""Per-patient evaluation of every index table (see :mod:`brainmets.prognosis.tables`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from brainmets.model import NotComputed, Patient, PrognosticEstimate
from brainmets.prognosis.features import FIELD_OF, LAB_FLAGS, patient_features
from brainmets.prognosis.tables import (
    CONFIDENCE_ORDER,
    Band,
    IndexTable,
    Variant,
    index_tables,
    not_verified,
)

ECOG_NOTE = "ECOG is given but is never converted into KPS"


def _lower(conf: str, other: str | None) -> str:
    if other is not None and CONFIDENCE_ORDER[other] < CONFIDENCE_ORDER[conf]:
        return other
    return conf


def _fmt(x: float | None) -> str:
    if x is None:
        return "not available"
    return f"{x:.1f}"


def _missing_reason(fields: list[str], patient: Patient) -> str:
    reason = "missing input(s): " + ", ".join(fields)
    if "kps" in fields and patient.ecog is not None:
        reason += f" ({ECOG_NOTE})"
    flags = [
        f"labs.{ff}"
        for vf, lf, ff, _above in LAB_FLAGS.values()
        if f"labs.{vf}" in fields or f"labs.{lf}" in fields
    ]
    if flags:
        reason += (
            "; a lab value counts with its laboratory limit (ULN/LLN), or give the flag instead: "
            + ", ".join(flags)
        )
    return reason


def _select_variant(
    table: IndexTable, patient: Patient
) -> tuple[Variant | None, NotComputed | None]:
    site = patient.primary.site
    candidates = [v for v in table.variants if v.applies_to_site(site)]
    if not candidates:
        return None, None
    if any(v.histology is not None for v in candidates):
        hist = patient.primary.histology
        if hist is None:
            return None, NotComputed(
                index=table.id,
                reason="missing input(s): primary.histology (the table depends on histology)",
                missing=["primary.histology"],
            )
        candidates = [v for v in candidates if v.histology is None or hist in v.histology]
        if not candidates:
            return None, None
    return candidates[0], None


def _band_for(factor_bands: tuple[Band, ...], value: Any) -> Band | None:
    for b in factor_bands:
        if b.cond.matches(value):
            return b
    return None


def _evaluate_table(
    table: IndexTable,
    variant: Variant,
    patient: Patient,
    values: dict[str, Any],
    missing: dict[str, list[str]],
    notes: dict[str, list[str]],
) -> PrognosticEstimate | NotComputed:
    site = patient.primary.site
    warnings: list[str] = list(table.warnings)
    if site in variant.site_warnings:
        warnings.append(variant.site_warnings[site])
    conf = _lower(table.confidence, variant.site_confidence.get(site or ""))
    refs: list[str] = list(table.references)
    if table.kind == "classes":
        return _evaluate_classes(table, variant, patient, values, missing, conf, warnings, refs)
    sc = _score_factors(variant, values, missing, notes, conf, warnings, refs)
    if sc.need:
        return NotComputed(
            index=table.id, reason=_missing_reason(sc.need, patient), missing=sc.need
        )
    if sc.outside:
        return NotComputed(
            index=table.id,
            reason="value outside the index's table: " + ", ".join(sc.outside),
            missing=[],
        )
    score = sum(sc.points.values())
    group = variant.group_for(score)
    if group is None:  # cannot happen: load-time check covers every reachable score
        raise AssertionError(f"{table.id}: score {score} has no group")
    refs.append(group.ref)
    conf = _lower(sc.conf, group.confidence)
    alternatives = _alternatives(variant, group, score, sc.alt_bands, warnings)
    iqr = None
    if group.p25 is not None and group.p75 is not None:
        iqr = (group.p25, group.p75)
    elif group.p25 is not None:
        warnings.append(
            f"25th-75th percentile: {group.p25:g} months to not given (the source gives no "
            "75th percentile for this group)."
        )
    return PrognosticEstimate(
        index=table.id,
        score=score,
        group=group.label,
        median_survival_months=group.median,
        iqr_months=iqr,
        source=table.source,
        confidence=conf,
        warnings=list(dict.fromkeys(warnings)),
        points=sc.points,
        alternatives=alternatives,
        reference_ids=list(dict.fromkeys(refs)),
    )


def _evaluate_classes(
    table: IndexTable, variant: Variant, patient: Patient, values: dict[str, Any],
    missing: dict[str, list[str]], conf: str, warnings: list[str], refs: list[str],
) -> PrognosticEstimate | NotComputed:
    """A class index (RPA): the first rule whose conditions all hold."""
    need = [f for i in table.all_inputs for f in missing.get(i, [])]
    if need:
        return NotComputed(index=table.id, reason=_missing_reason(need, patient), missing=need)
    for rule in variant.rules:
        if all(cond.matches(values[name]) for name, cond in rule.when):
            refs.append(rule.ref)
            return PrognosticEstimate(
                index=table.id, score=None, group=rule.label,
                median_survival_months=rule.median, source=table.source,
                confidence=conf, warnings=warnings,
                reference_ids=list(dict.fromkeys(refs)),
            )
    raise AssertionError(f"{table.id}: no rule matched")  # tables end with a catch-all


@dataclass
class _Scored:
    points: dict[str, float]
    need: list[str]
    outside: list[str]
    alt_bands: list[tuple[str, Band]]
    conf: str


def _score_factors(
    variant: Variant, values: dict[str, Any], missing: dict[str, list[str]],
    notes: dict[str, list[str]], conf: str, warnings: list[str], refs: list[str],
) -> _Scored:
    """Points per factor; the authors' missing-data rules; values outside every band."""
    sc = _Scored(points={}, need=[], outside=[], alt_bands=[], conf=conf)
    for f in variant.factors:
        v = values[f.input]
        if v is None:
            if f.if_missing_points is not None:
                sc.points[f.name] = f.if_missing_points
                if f.if_missing_warning:
                    warnings.append(f.if_missing_warning)
                continue
            sc.need.extend(missing.get(f.input, [f.input]))
            continue
        band = _band_for(f.bands, v)
        if band is None:
            sc.outside.append(f"{FIELD_OF.get(f.input, f.input)} = {v}")
            continue
        sc.points[f.name] = band.points
        refs.append(band.ref)
        warnings.extend(notes.get(f.input, []))
        if band.warn_at is None or v == band.warn_at:
            sc.conf = _lower(sc.conf, band.confidence)
            if band.warning:
                if band.alt_points is not None:
                    sc.alt_bands.append((f.name, band))
                else:
                    warnings.append(band.warning)
    sc.need = list(dict.fromkeys(sc.need))
    return sc


def _alternatives(
    variant: Variant, group: Any, score: float, alt_bands: list[tuple[str, Band]],
    warnings: list[str],
) -> list[dict[str, Any]]:
    """Alternative scorings (uncertain bands) and alternative survival figures of the group."""
    alternatives: list[dict[str, Any]] = []
    for fname, band in alt_bands:
        alt_score = score - band.points + (band.alt_points or 0.0)
        alt_group = variant.group_for(alt_score)
        alt_median = alt_group.median if alt_group else None
        warnings.append((band.warning or "").format(
            alt_score=_fmt(alt_score), alt_group=alt_group.label if alt_group else "?",
            alt_median=_fmt(alt_median),
        ))
        alternatives.append({
            "kind": "alternative_scoring", "factor": fname, "score": alt_score,
            "group": alt_group.label if alt_group else None,
            "median_survival_months": alt_median, "reference_id": band.ref,
        })
    if group.warning:
        warnings.append(group.warning)
    if group.note:
        warnings.append(group.note)
    for a in group.alternatives:
        alternatives.append({
            "kind": "alternative_survival", "median_survival_months": a.median,
            "reference_id": a.ref, "label": a.label,
        })
    return alternatives


def evaluate(patient: Patient) -> tuple[list[PrognosticEstimate], list[NotComputed]]:
    """Every index that applies to the patient's primary site, and those that could not be."""
    values, missing, notes = patient_features(patient)
    site = patient.primary.site
    estimates: list[PrognosticEstimate] = []
    not_computed: list[NotComputed] = []
    for table in index_tables().values():
        if not table.site_agnostic:
            if site is None:
                not_computed.append(NotComputed(
                    index=table.id,
                    reason="missing input(s): primary.site (the index applies to "
                    + ", ".join(table.sites) + ")",
                    missing=["primary.site"],
                ))
                continue
            if site not in table.sites:
                continue
        variant, nc = _select_variant(table, patient)
        if nc is not None:
            not_computed.append(nc)
            continue
        if variant is None:
            continue
        out = _evaluate_table(table, variant, patient, values, missing, notes)
        if isinstance(out, PrognosticEstimate):
            estimates.append(out)
        else:
            not_computed.append(out)
    for nv in not_verified():
        if "*" in nv.sites or site in nv.sites:
            not_computed.append(NotComputed(index=nv.id, reason=nv.reason, missing=[]))
    return estimates, not_computed
