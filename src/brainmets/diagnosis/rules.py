"""Interpretation rules (diagnosis.md §1.4, §2.7, §3.5, §4.3): advisory, never a diagnosis.

Every statement says whether an entered value *supports* or *does not support* a reading, with the
cut-off, its study, population, performance and confidence; missing inputs give
``not assessable: needs <field>``. Cut-offs live in knowledge/data/diagnosis/thresholds.toml.
"""

from __future__ import annotations

import operator
from typing import Any, Literal

from pydantic import BaseModel, Field

from brainmets.diagnosis import _kb
from brainmets.model import AdvancedImaging, Patient

StatementStatus = Literal[
    "supports", "does_not_support", "not_assessable", "not_applicable", "display_only"
]

_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_PERFUSION_FIELDS = ("dsc_leakage_corrected", "dsc_te_ms", "dsc_field_strength_t")
_ADC_THRESHOLDS = {"T1", "T1b", "T2c"}
ADVISORY = "Advisory flag from a published study, not a diagnosis."


class Statement(BaseModel):
    """One interpretation statement (a flag with text and citation, never a diagnosis)."""

    rule_id: str
    threshold_id: str | None = None
    question: str
    status: StatementStatus
    text: str
    metric: str | None = None
    value: float | None = None
    cutoff: float | None = None
    direction: str | None = None
    unit: str | None = None
    default_cutoff: float | None = Field(
        default=None, description="set when the user changed the cut-off"
    )
    sources: list[str] = Field(default_factory=list)
    citations: list[str] = Field(default_factory=list)
    confidence: str | None = None
    population: str | None = None
    performance: str | None = None
    reliability: Literal["standard", "low"] = "standard"
    notes: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _context_flags(patient: Patient, ai: AdvancedImaging) -> dict[str, bool | None]:
    """Clinical context, falling back on the lesion list where the entry is absent."""
    lesions = patient.brain_metastases.lesions
    prior = ai.prior_srs
    if prior is None and any(le.prior_srs for le in lesions):
        prior = True
    ring = ai.ring_enhancing
    if ring is None and any(le.enhancement == "ring" for le in lesions):
        ring = True
    solitary = ai.solitary_enhancing_lesion
    if solitary is None and patient.brain_metastases.effective_count is not None:
        solitary = patient.brain_metastases.effective_count == 1
    return {"prior_srs": prior, "ring_enhancing": ring, "solitary_enhancing_lesion": solitary}


def _base(t: dict[str, Any]) -> dict[str, Any]:
    return {
        "rule_id": t["rule"], "threshold_id": t["id"], "question": t["question"],
        "metric": t["metric"], "cutoff": float(t["cutoff"]), "direction": t["direction"],
        "unit": t["unit"], "default_cutoff": t.get("default_cutoff"),
        "sources": list(t["sources"]), "citations": [_kb.citation(s) for s in t["sources"]],
        "confidence": t["confidence"], "population": t["population"],
        "performance": t["performance"], "notes": [t["note"]] if t.get("note") else [],
    }


def _provenance(t: dict[str, Any]) -> str:
    text = (
        f"Cut-off {t['direction']} {_fmt(t['cutoff'])} from {_kb.short(t['sources'][0])} "
        f"[{t['sources'][0]}] ({t['n']}; "
        f"{t['performance']}); confidence: {t['confidence'].replace('_', '-')}."
    )
    if "default_cutoff" in t:
        text += f" Cut-off changed by the user from the default {_fmt(t['default_cutoff'])}."
    return text


def _perfusion_gate(ai: AdvancedImaging, qc: dict[str, Any]) -> tuple[bool, list[str]]:
    """R-PWI-4: (low reliability?, reasons/notes)."""
    low, notes = False, []
    if ai.dsc_leakage_corrected is False:
        low = True
        notes.append("low reliability: no leakage correction (R-PWI-4)")
    elif ai.dsc_leakage_corrected is None:
        notes.append("leakage correction not recorded; reliability not checked")
    te, field = ai.dsc_te_ms, ai.dsc_field_strength_t
    if te is None or field is None:
        notes.append("DSC TE or field strength not recorded; TE not checked against the consensus")
    else:
        ranges = [r for r in qc["dsc_te_ms"]["ranges"] if abs(r[0] - field) < 0.26]
        if not ranges:
            notes.append(f"no consensus TE range for {field} T; TE not checked")
        elif not ranges[0][1] <= te <= ranges[0][2]:
            low = True
            notes.append(
                f"low reliability: TE {_fmt(te)} ms outside the consensus {_fmt(ranges[0][1])}-"
                f"{_fmt(ranges[0][2])} ms at {_fmt(field)} T (Boxerman 2020; R-PWI-4)"
            )
    return low, notes


def _missing_value(value: Any) -> bool:
    return value is None or value == "unknown"


def _threshold_statement(
    t: dict[str, Any], ai: AdvancedImaging | None, ctx: dict[str, bool | None],
    kb: dict[str, Any],
) -> Statement | None:
    base = _base(t)
    tracer = t.get("tracer")
    if tracer and ai is not None and ai.pet_tracer not in (None, tracer):
        return None  # another tracer's rule: irrelevant
    missing: list[str] = []
    if ai is None:
        missing.append(f"advanced_imaging.{t['metric']}")
    else:
        if tracer and ai.pet_tracer is None:
            missing.append("advanced_imaging.pet_tracer")
        if getattr(ai, t["metric"]) is None:
            missing.append(f"advanced_imaging.{t['metric']}")
    for cond in t.get("requires_true", []):
        if ctx.get(cond) is False:
            return Statement(
                **base, status="not_applicable",
                text=f"{t['label']}: not applicable ({cond.replace('_', ' ')} is false). "
                f"Rule: {t['question']}.",
            )
        if ctx.get(cond) is None:
            missing.append(f"advanced_imaging.{cond}")
    value = None if ai is None else getattr(ai, t["metric"])
    shown = f" (value {_fmt(value)} shown only)" if value is not None else ""
    for field in t.get("requires_recorded", []):
        if ai is None or _missing_value(getattr(ai, field)):
            missing.append(f"advanced_imaging.{field}")
    if missing:
        return Statement(
            **base, status="not_assessable", value=value, missing=missing,
            text=f"{t['label']}: not assessable: needs {', '.join(missing)}{shown}. "
            f"Rule: {t['question']}.",
        )
    assert ai is not None and value is not None
    notes = list(base.pop("notes"))
    reliability: Literal["standard", "low"] = "standard"
    if t.get("perfusion"):
        low, gate_notes = _perfusion_gate(ai, kb["qc"])
        notes.extend(gate_notes)
        reliability = "low" if low else "standard"
    fires = _OPS[t["direction"]](value, float(t["cutoff"]))
    label = f"{t['label']} {_fmt(value)} {t['unit']}".replace(" ratio", "")
    if fires:
        text = (
            f"{label} {t['direction']} {_fmt(t['cutoff'])}: supports \"{t['supports']}\" "
            f"({t['question']}). {_provenance(t)} {ADVISORY}"
        )
    else:
        text = (
            f"{label} does not meet {t['direction']} {_fmt(t['cutoff'])}: does not support "
            f"\"{t['supports']}\" ({t['question']}); a value on the other side of a study "
            f"cut-off does not exclude it. {_provenance(t)} {ADVISORY}"
        )
    if reliability == "low":
        text += " LOW RELIABILITY: " + "; ".join(n for n in notes if n.startswith("low "))
    if t.get("perfusion") and "prior_srs" in t.get("requires_true", []) \
            and ai.pre_srs_hyperperfused is False:
        hyp = kb["context"]["baseline_hypoperfusion"]
        notes.append(f"{hyp['rule']}: {hyp['text']}")
        text += f" Note ({hyp['rule']}): {hyp['text']}."
    return Statement(
        **base, status="supports" if fires else "does_not_support", value=value, text=text,
        reliability=reliability, notes=notes,
    )


def _adc_gate(ai: AdvancedImaging | None, qc: dict[str, Any]) -> Statement | None:
    """R-DWI-3: NAWM ADC outside the plausible window blocks the ADC cut-offs."""
    if ai is None or ai.nawm_adc is None:
        return None
    g = qc["adc_nawm_range"]
    if g["low"] <= ai.nawm_adc <= g["high"]:
        return None
    return Statement(
        rule_id=g["rule"], question="ADC unit/scaling check", status="display_only",
        metric="nawm_adc", value=ai.nawm_adc, unit=g["unit"], sources=list(g["sources"]),
        citations=[_kb.citation(s) for s in g["sources"]], confidence=g["confidence"],
        text=f"NAWM ADC {_fmt(ai.nawm_adc)} x10^-3 mm^2/s lies outside {_fmt(g['low'])}-"
        f"{_fmt(g['high'])}: ADC scaling/unit error suspected; ADC cut-offs not applied. "
        f"{g['note']}",
    )


def _romano_combined(
    ai: AdvancedImaging | None, ctx: dict[str, bool | None], kb: dict[str, Any]
) -> Statement:
    table = kb["threshold"]
    t2, t3, tadc = table["T2"], table["T3"], table["T2c"]
    base = _base(tadc)
    base["rule_id"] = "R-PWI-1c"
    base["metric"] = "perilesional_max_rcbv+lesion_psr_percent+lesion_adc"
    base["cutoff"] = None
    base["direction"] = None
    base["unit"] = None
    parts = [(t2, "perilesional_max_rcbv"), (t3, "lesion_psr_percent"), (tadc, "lesion_adc")]
    if ctx["solitary_enhancing_lesion"] is False:
        return Statement(**base, status="not_applicable",
                         text="Romano combined rule: not applicable (not a solitary lesion).")
    missing = [f"advanced_imaging.{m}" for _, m in parts if ai is None or getattr(ai, m) is None]
    if ctx["solitary_enhancing_lesion"] is None:
        missing.append("advanced_imaging.solitary_enhancing_lesion")
    for field in t3.get("requires_recorded", []):
        if ai is None or _missing_value(getattr(ai, field)):
            missing.append(f"advanced_imaging.{field}")
    if missing:
        return Statement(**base, status="not_assessable", missing=missing,
                         text=f"Romano combined rule: not assessable: needs {', '.join(missing)}.")
    assert ai is not None
    met = [_OPS[t["direction"]](getattr(ai, m), float(t["cutoff"])) for t, m in parts]
    crit = "; ".join(
        f"{t['label']} {_fmt(getattr(ai, m))} {t['direction']} {_fmt(t['cutoff'])}: "
        f"{'met' if ok else 'not met'}" for (t, m), ok in zip(parts, met, strict=True)
    )
    low, gate_notes = _perfusion_gate(ai, kb["qc"])
    fires = all(met)
    verdict = "supports" if fires else "does not support"
    text = (f"Combined rule ({crit}) {verdict} \"{tadc['supports']}\". {_provenance(tadc)} "
            f"{ADVISORY}")
    notes = list(base.pop("notes")) + gate_notes
    return Statement(**base, status="supports" if fires else "does_not_support", text=text,
                     reliability="low" if low else "standard", notes=notes)


def _context_statements(
    ai: AdvancedImaging | None, ctx: dict[str, bool | None], kb: dict[str, Any]
) -> list[Statement]:
    out: list[Statement] = []
    c = kb["context"]
    if ctx["prior_srs"]:
        n = c["narloch"]
        common = {"rule_id": n["rule"], "question": "recurrence vs radiation necrosis after SRS",
                  "sources": list(n["sources"]), "confidence": n["confidence"],
                  "citations": [_kb.citation(s) for s in n["sources"]]}
        pre = (f"In Narloch 2017 (35 biopsied enlarging lesions after SRS) {n['rn_only_pct']}% "
               f"showed radiation necrosis only; recurrence was found in "
               f"{n['recurrence_pct_early']}% of lesions biopsied <= {_fmt(n['months'])} months "
               f"after SRS vs {n['recurrence_pct_late']}% later.")
        months = None if ai is None else ai.months_since_srs
        if months is None:
            out.append(Statement(**common, status="not_assessable",
                                 missing=["advanced_imaging.months_since_srs"],
                                 text="Time since SRS: not assessable: needs "
                                 f"advanced_imaging.months_since_srs. {pre}"))
        else:
            out.append(Statement(**common, status="display_only", metric="months_since_srs",
                                 value=months, unit="months",
                                 text=f"{_fmt(months)} months since SRS. {pre}"))
        m = c["mrs_after_srs"]
        if ai is not None and (ai.lesional_cho_cr is not None or ai.lesional_cho_naa is not None):
            vals = ", ".join(
                f"{k} {_fmt(v)}" for k, v in (("Cho/Cr", ai.lesional_cho_cr),
                                              ("Cho/NAA", ai.lesional_cho_naa)) if v is not None)
            out.append(Statement(rule_id=m["rule"], question="recurrence vs radiation necrosis",
                                 status="display_only", text=f"Lesional {vals}: {m['text']}.",
                                 sources=list(m["sources"]), confidence=m["confidence"],
                                 citations=[_kb.citation(s) for s in m["sources"]]))
    a = c["abscess_peaks"]
    common = {"rule_id": a["rule"], "question": "pyogenic abscess vs necrotic tumour (MRS)",
              "sources": list(a["sources"]), "confidence": a["confidence"],
              "citations": [_kb.citation(s) for s in a["sources"]]}
    peaks = None if ai is None else ai.abscess_peaks
    if peaks is None:
        out.append(Statement(**common, status="not_assessable",
                             missing=["advanced_imaging.abscess_peaks"],
                             text="Abscess MRS peaks: not assessable: needs "
                             "advanced_imaging.abscess_peaks."))
    else:
        verdict = "supports" if peaks else "does_not_support"
        word = "recorded" if peaks else "not recorded"
        out.append(Statement(**common, status=verdict,
                             text=f"Amino-acid/acetate/succinate peaks {word}: "
                             f"{verdict.replace('_', ' ')} \"{a['text']}\" (Lai 2002, n = 14). "
                             f"{ADVISORY}"))
    return out


def interpret(
    patient: Patient | dict[str, Any], overrides: dict[str, float] | None = None
) -> list[Statement]:
    """All diagnosis-aid statements for one patient (advisory; cut-offs configurable)."""
    from brainmets.model import parse_patient

    if not isinstance(patient, Patient):
        patient = parse_patient(patient)
    kb = _kb.thresholds(overrides)
    ai = patient.advanced_imaging
    ctx = _context_flags(patient, ai or AdvancedImaging())
    out: list[Statement] = []
    gate = _adc_gate(ai, kb["qc"])
    if gate is not None:
        out.append(gate)
    for tid, t in kb["threshold"].items():
        if tid == "T2c":
            continue  # only inside the combined rule
        if tid == "T1b" and ai is not None and ai.cavity_adc_ratio is not None:
            continue  # absolute fallback only without a NAWM ratio
        if tid == "T1" and ai is not None and ai.cavity_adc_ratio is None \
                and ai.cavity_adc is not None:
            continue  # the fallback T1b speaks instead
        st = _threshold_statement(t, ai, ctx, kb)
        if st is None:
            continue
        if gate is not None and tid in _ADC_THRESHOLDS and st.status in (
                "supports", "does_not_support"):
            st = st.model_copy(update={
                "status": "not_assessable", "missing": ["advanced_imaging.nawm_adc (plausible)"],
                "text": f"{t['label']}: not assessable: ADC scaling/unit error suspected "
                        f"(R-DWI-3).",
            })
        out.append(st)
    out.append(_romano_combined(ai, ctx, kb))
    out.extend(_context_statements(ai, ctx, kb))
    return out


def possible_treatment_effect(statements: list[Statement]) -> list[Statement]:
    """The statements about recurrence vs radiation necrosis (for the response engine)."""
    return [s for s in statements if "recurrence" in s.question or "progression" in s.question]
