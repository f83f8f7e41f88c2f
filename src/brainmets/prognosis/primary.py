"""One primary survival estimate (treatment.md project decision 9).

Rules that depend on expected survival (ASTRO KQ3.5, palliative care, memantine / HA-WBRT) use
one estimate: the most specific applicable index, never the most optimistic of several:

    molecular / 2020 GPA of the primary  >  DS-GPA 2012  >  GPA 2008  >  RPA

Every other computed index stays in the output, marked ``role: secondary``. BSBM and LabBM are not
in decision 9's list and are never chosen (secondary only).
"""

from __future__ import annotations

from brainmets.model import PrimarySurvival, PrognosticEstimate

# decision 9, most specific first; each tier: (index ids, label used in the reason)
TIERS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("lung_molgpa_2017", "melanoma_molgpa_2017", "breast_gpa_2020", "gi_gpa_2019",
      "renal_gpa_2018"), "the molecular/2020 diagnosis-specific GPA of the primary"),
    (("ds_gpa_2012",), "the diagnosis-specific GPA 2012"),
    (("gpa_2008",), "the GPA 2008 (not diagnosis-specific)"),
    (("rpa",), "the RTOG RPA (least specific)"),
)
PROGNOSIS_ONLY = "prognosis only: treatment rules never read unknown as negative, decision 1"
# the population each index was built for (named in the reason, CONTRACT §2 example)
FOR = {"lung_molgpa_2017": "NSCLC", "melanoma_molgpa_2017": "melanoma",
       "breast_gpa_2020": "breast cancer", "gi_gpa_2019": "gastrointestinal cancers",
       "renal_gpa_2018": "renal cell carcinoma", "ds_gpa_2012": "the primary's diagnosis table",
       "gpa_2008": "all primaries", "rpa": "all primaries"}
ORDER_TEXT = "molecular/2020 GPA of the primary > DS-GPA 2012 > GPA 2008 > RPA"


def _candidates(estimates: list[PrognosticEstimate]) -> list[tuple[PrognosticEstimate, str, int]]:
    out = []
    for rank, (ids, label) in enumerate(TIERS):
        for e in estimates:
            if e.index in ids and e.median_survival_months is not None:
                out.append((e, label, rank))
    return out


def _warnings(e: PrognosticEstimate) -> list[str]:
    # an input scored by the authors' missing-data rule (prognosis.md decision 6, e.g. EGFR/ALK
    # unknown scored as negative): the primary estimate says so, not only its index row
    out = [f"{e.index}: {w} ({PROGNOSIS_ONLY})" for w in e.warnings if "unknown" in w.lower()]
    if e.confidence == "uncertain":
        out.append(f"the {e.index} median used as expected survival is marked uncertain")
    for alt in e.alternatives:
        if alt.get("kind") == "alternative_survival" and alt.get("median_survival_months"):
            out.append(
                f"sources disagree for {e.index} group {e.group}: also "
                f"{alt['median_survival_months']:g} months ({alt.get('reference_id', '')})"
            )
    return out


def primary_survival(estimates: list[PrognosticEstimate]) -> PrimarySurvival | None:
    """The primary estimate with its reason (or None); the estimates are not changed."""
    cands = _candidates(estimates)
    if not cands:
        return None
    best, label, _ = cands[0]
    others = [e.index for e in estimates if e is not best]
    scored = [w for w in best.warnings if "unknown" in w.lower()]
    reason = (
        f"{best.index} is {label} (built for {FOR.get(best.index, 'this primary')}), the most "
        f"specific applicable index (project decision 9: {ORDER_TEXT}); never the most "
        "optimistic of several."
    )
    if scored:
        reason += " Computed with an input scored by the authors' missing-data rule (see warnings)."
    if others:
        reason += f" Shown as secondary: {', '.join(others)}."
    return PrimarySurvival(
        index=best.index,
        median_survival_months=best.median_survival_months,
        reason=reason,
        group=best.group,
        source=best.source,
        confidence=best.confidence,
        warnings=_warnings(best),
    )


def choose_primary(estimates: list[PrognosticEstimate]) -> PrimarySurvival | None:
    """Mark each estimate ``role`` primary/secondary; return the primary one (or None)."""
    chosen = primary_survival(estimates)
    for e in estimates:
        e.role = "primary" if chosen is not None and e.index == chosen.index else "secondary"
    return chosen


def not_available_reason(estimates: list[PrognosticEstimate]) -> str:
    """Why no primary survival estimate exists (for rules that need it)."""
    if estimates:
        return ("no index of decision 9's list (" + ORDER_TEXT + ") has a median survival for "
                "this patient; see not_computed")
    return "no prognostic index could be computed; see not_computed"
