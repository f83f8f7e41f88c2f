"""Interpretation rules (diagnosis.md §1.4, §2.7, §3.5, §4.3): advisory, never a diagnosis.

Each rule declares the clinical question it answers (``question_id``) and the lesion history it
applies to (``applies_to``); :func:`interpret` asks only the questions that fit the lesion's
history (:mod:`.history`): untreated and undiagnosed -> glioblastoma vs metastasis and abscess;
irradiated -> recurrence vs radiation necrosis. Every statement says whether an entered value
*supports* or *does not support* a reading, with the cut-off, its study, population,
performance and confidence (``interpolated`` for the toolkit's own cut-offs); missing inputs give
``not assessable: needs <field>``. Cut-offs live in knowledge/data/diagnosis/thresholds.toml.
"""

from __future__ import annotations

import operator
from typing import Any, Literal

from pydantic import BaseModel, Field

from brainmets.diagnosis import facts
from brainmets.diagnosis.history import LesionHistory, history_text, lesion_history
from brainmets.model import AdvancedImaging, Patient

StatementStatus = Literal[
    "supports", "does_not_support", "not_assessable", "not_applicable", "display_only"
]

_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_ADC_THRESHOLDS = {"T1", "T1b", "T2c"}
_RCBV_METRICS = {"perilesional_max_rcbv", "lesion_max_rcbv_wm", "lesion_max_rcbv_gm"}
ADVISORY = "Advisory flag from a published study, not a diagnosis."
ADVISORY_OWN = "Advisory flag on the toolkit's own interpolated cut-off, not a diagnosis."
QUESTION_TEXT = {
    "glioblastoma_vs_metastasis": "glioblastoma (or high-grade glioma) vs metastasis, for an "
                                  "untreated lesion whose diagnosis is open",
    "abscess": "pyogenic abscess vs necrotic/cystic tumour, for an untreated ring-enhancing "
               "lesion whose diagnosis is open",
    "recurrence_vs_necrosis": "recurrence vs radiation necrosis, for an irradiated lesion",
    "qc": "measurement quality check",
}


class Statement(BaseModel):
    """One interpretation statement (a flag with text and citation, never a diagnosis)."""

    rule_id: str
    threshold_id: str | None = None
    question: str
    question_id: str = "qc"
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

    @property
    def id(self) -> str:
        return f"{self.rule_id}:{self.threshold_id}" if self.threshold_id else self.rule_id


class Plan(BaseModel):
    """The questions asked for this lesion (with a caveat where the history is not recorded)."""

    history: LesionHistory
    asked: dict[str, str | None] = Field(default_factory=dict, description="question -> caveat")
    not_asked: list[str] = Field(default_factory=list)


def _fmt(x: float) -> str:
    return f"{x:.4g}"


#: inputs read only by the display rules of one question (besides the thresholds' metrics)
_CONTEXT_INPUTS = {
    "recurrence_vs_necrosis": ("months_since_srs", "pre_srs_hyperperfused", "lesional_cho_cr",
                               "lesional_cho_naa", "pet_tac_pattern"),
    "abscess": ("abscess_peaks", "lipid_lactate"),
}


def question_inputs() -> dict[str, set[str]]:
    """The advanced-imaging fields each question reads (threshold metrics + display inputs)."""
    out: dict[str, set[str]] = {q: set(v) for q, v in _CONTEXT_INPUTS.items()}
    for t in facts.thresholds()["threshold"].values():
        out.setdefault(t["question_id"], set()).add(t["metric"])
    return out


def _entered(ai: AdvancedImaging | None, fields: set[str]) -> list[str]:
    return sorted(f for f in fields if ai is not None and getattr(ai, f, None) is not None)


def _unused_note(p: Plan, ai: AdvancedImaging | None) -> None:
    """Nothing silent: values entered only for questions not asked are named."""
    inputs = question_inputs()
    used = set().union(*(inputs.get(q, set()) for q in p.asked))
    unused = [f for q, fields in inputs.items() if q not in p.asked
              for f in _entered(ai, fields - used)]
    if unused:
        p.not_asked.append(
            "Entered values not interpreted (they answer only a question not asked for this "
            f"lesion): {', '.join(f'advanced_imaging.{f}' for f in sorted(set(unused)))}.")


def plan(patient: Patient) -> Plan:
    """Which questions fit the lesion's history (diagnosis.md §2.5 vs §2.6 populations).

    History not recorded (no treatment listed, histology open or not recorded): the
    differential of an untreated lesion is asked, saying what it assumes; recurrence vs
    radiation necrosis is asked only for an irradiated lesion, or, with a caveat, when the
    treatment is not recorded but values that only this question reads were entered.
    """
    ai = patient.advanced_imaging
    h = lesion_history(patient, ai)
    p = Plan(history=h)
    known = history_text(h)
    if h.treated is True or h.undiagnosed is False:
        why = "treated" if h.treated else "histology known"
        p.not_asked.append(
            f"Differential-diagnosis questions for an untreated lesion whose diagnosis is open "
            f"are not asked: the lesion is {why} ({known}).")
    else:
        caveat = None if (h.treated is False and h.undiagnosed is True) else (
            f"history not fully recorded ({known}): read as untreated with its diagnosis open, "
            "as this question applies only to an untreated lesion whose diagnosis is open; if "
            "not, record radiation_history, lesions[].resected or prior_srs, or "
            "advanced_imaging.histology_confirmed")
        p.asked["glioblastoma_vs_metastasis"] = caveat
        p.asked["abscess"] = caveat
    recurrence_values = _entered(ai, question_inputs()["recurrence_vs_necrosis"])
    if h.irradiated is True:
        p.asked["recurrence_vs_necrosis"] = None
    elif h.irradiated is None and (h.treated_unspecified or recurrence_values):
        why = ("treated, modality not recorded" if h.treated_unspecified else
               f"values entered for it: {', '.join(recurrence_values)}")
        p.asked["recurrence_vs_necrosis"] = (
            f"irradiation not recorded ({known}; {why}): this question applies only to an "
            "irradiated lesion")
    else:
        why = ("the lesion was not irradiated" if h.irradiated is False else
               "no irradiation of this lesion is recorded (radiation_history, prior_srs) and "
               "no value that only this question reads was entered")
        p.not_asked.append(f"Recurrence vs radiation necrosis is not asked: {why} ({known}).")
    _unused_note(p, ai)
    return p


def _context_flags(patient: Patient, ai: AdvancedImaging) -> dict[str, bool | None]:
    """Ring enhancement (entered, or seen on a recorded lesion) and solitary: entered as
    ``advanced_imaging.solitary_enhancing_lesion``, or an entered ``brain_metastases.count``;
    never inferred from the number of lesions listed."""
    ring = ai.ring_enhancing
    if ring is None and any(le.enhancement == "ring" for le in patient.brain_metastases.lesions):
        ring = True
    solitary = ai.solitary_enhancing_lesion
    if solitary is None and patient.brain_metastases.count is not None:
        solitary = patient.brain_metastases.count == 1
    return {"ring_enhancing": ring, "solitary_enhancing_lesion": solitary}


def _base(t: dict[str, Any]) -> dict[str, Any]:
    return {
        "rule_id": t["rule"], "threshold_id": t["id"], "question": t["question"],
        "question_id": t["question_id"],
        "metric": t["metric"], "cutoff": float(t["cutoff"]), "direction": t["direction"],
        "unit": t["unit"], "default_cutoff": t.get("default_cutoff"),
        "sources": list(t["sources"]), "citations": [facts.citation(s) for s in t["sources"]],
        "confidence": t["confidence"], "population": t["population"],
        "performance": t["performance"], "notes": [t["note"]] if t.get("note") else [],
    }


def _provenance(t: dict[str, Any]) -> str:
    src = t["sources"][0]
    if t["confidence"] == "interpolated":
        text = (f"Cut-off {t['direction']} {_fmt(t['cutoff'])} is the toolkit's own interpolated "
                f"value, not a published threshold (group values from {facts.short(src)} "
                f"[{src}], {t['n']}); confidence: interpolated. {ADVISORY_OWN}")
    else:
        text = (f"Cut-off {t['direction']} {_fmt(t['cutoff'])} from {facts.short(src)} [{src}] "
                f"({t['n']}; {t['performance']}); confidence: "
                f"{t['confidence'].replace('_', '-')}. {ADVISORY}")
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


def _measurement_gate(t: dict[str, Any], ai: AdvancedImaging,
                      qc: dict[str, Any] | None = None) -> tuple[bool, list[str]]:
    """Was the value measured the way the study measured it? (low reliability?, notes)."""
    metric = t["metric"]
    over = (qc or {}).get("psr_above_baseline")
    if metric == "lesion_psr_percent" and over and (ai.lesion_psr_percent or 0) > over["above"]:
        return True, [f"low reliability: {over['text']} ({over['rule']})"]
    if metric in _RCBV_METRICS:
        how = ai.rcbv_measurement
        if how is None:
            return False, ["rCBV measurement method not recorded (advanced_imaging."
                           "rcbv_measurement); the study used hot-spot ROIs"]
        if how != "hot_spot_roi":
            return True, [f"low reliability: max rCBV measured as {how.replace('_', ' ')}; the "
                          "study used hot-spot ROIs, so the cut-off may not transfer"]
    if metric == "lesion_adc":
        where = ai.lesion_adc_region
        if where is None:
            return False, ["lesion ADC region not recorded (advanced_imaging.lesion_adc_region);"
                           " the study measured the solid enhancing part"]
        if where != "solid_enhancing":
            return True, [f"low reliability: lesion ADC measured over the "
                          f"{where.replace('_', ' ')}; the study measured the solid enhancing "
                          "part (a cavity raises the mean)"]
    return False, []


def _population_note(t: dict[str, Any], h: LesionHistory) -> list[str]:
    want = t.get("study_treatment")
    if want != "srs" or not h.modalities or {"srs", "fsrt"} & set(h.modalities):
        return []
    return [f"the study population was treated by radiosurgery; this lesion had "
            f"{', '.join(h.modalities)}: the cut-off may not transfer"]


def _missing_value(value: Any) -> bool:
    return value is None or value == "unknown"


def _missing_inputs(t: dict[str, Any], ai: AdvancedImaging | None,
                    ctx: dict[str, bool | None]) -> list[str] | str:
    """Missing fields, or the name of a context flag that is false (rule not applicable)."""
    missing: list[str] = []
    tracer = t.get("tracer")
    if ai is None:
        missing.append(f"advanced_imaging.{t['metric']}")
    else:
        if tracer and ai.pet_tracer is None:
            missing.append("advanced_imaging.pet_tracer")
        if getattr(ai, t["metric"]) is None:
            missing.append(f"advanced_imaging.{t['metric']}")
    for cond in t.get("requires_true", []):
        if ctx.get(cond) is False:
            return cond
        if ctx.get(cond) is None:
            missing.append(f"advanced_imaging.{cond}")
    for field in t.get("requires_recorded", []):
        if ai is None or _missing_value(getattr(ai, field)):
            missing.append(f"advanced_imaging.{field}")
    return missing


def _threshold_statement(
    t: dict[str, Any], ai: AdvancedImaging | None, ctx: dict[str, bool | None],
    kb: dict[str, Any], h: LesionHistory,
) -> Statement | None:
    base = _base(t)
    tracer = t.get("tracer")
    if tracer and ai is not None and ai.pet_tracer not in (None, tracer):
        return None  # another tracer's rule: irrelevant
    missing = _missing_inputs(t, ai, ctx)
    if isinstance(missing, str):
        return Statement(**base, status="not_applicable",
                         text=f"{t['label']}: not applicable ({missing.replace('_', ' ')} is "
                         f"false). Rule: {t['question']}.")
    value = None if ai is None else getattr(ai, t["metric"])
    if missing:
        shown = f" (value {_fmt(value)} shown only)" if value is not None else ""
        return Statement(
            **base, status="not_assessable", value=value, missing=missing,
            text=f"{t['label']}: not assessable: needs {', '.join(missing)}{shown}. "
            f"Rule: {t['question']}.",
        )
    assert ai is not None and value is not None
    notes = list(base.pop("notes")) + _population_note(t, h)
    low, gate_notes = _perfusion_gate(ai, kb["qc"]) if t.get("perfusion") else (False, [])
    low_m, m_notes = _measurement_gate(t, ai, kb["qc"])
    notes.extend(gate_notes + m_notes)
    fires = _OPS[t["direction"]](value, float(t["cutoff"]))
    label = f"{t['label']} {_fmt(value)} {t['unit']}".replace(" ratio", "")
    verdict = (f"{t['direction']} {_fmt(t['cutoff'])}: supports" if fires else
               f"does not meet {t['direction']} {_fmt(t['cutoff'])}: does not support")
    text = f"{label} {verdict} \"{t['supports']}\" ({t['question']})."
    if not fires:
        text += " A value on the other side of a study cut-off does not exclude it."
    text += f" {_provenance(t)}"
    if low or low_m:
        text += " LOW RELIABILITY: " + "; ".join(n for n in notes if n.startswith("low "))
    if t.get("perfusion") and t["question_id"] == "recurrence_vs_necrosis" \
            and ai.pre_srs_hyperperfused is False:
        hyp = kb["context"]["baseline_hypoperfusion"]
        notes.append(f"{hyp['rule']}: {hyp['text']}")
        text += f" Note ({hyp['rule']}): {hyp['text']}."
    return Statement(
        **base, status="supports" if fires else "does_not_support", value=value, text=text,
        reliability="low" if (low or low_m) else "standard", notes=notes,
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
        citations=[facts.citation(s) for s in g["sources"]], confidence=g["confidence"],
        text=f"NAWM ADC {_fmt(ai.nawm_adc)} x10^-3 mm^2/s lies outside {_fmt(g['low'])}-"
        f"{_fmt(g['high'])} (the toolkit's own interpolated window): ADC scaling/unit error "
        f"suspected; ADC cut-offs not applied. {g['note']}",
    )


def _romano_combined(
    ai: AdvancedImaging | None, ctx: dict[str, bool | None], kb: dict[str, Any]
) -> Statement:
    table = kb["threshold"]
    t2, t3, tadc = table["T2"], table["T3"], table["T2c"]
    base = _base(tadc)
    base.update(rule_id="R-PWI-1c", cutoff=None, direction=None, unit=None,
                metric="perilesional_max_rcbv+lesion_psr_percent+lesion_adc")
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
    lows = [_measurement_gate(t, ai, kb["qc"]) for t in (t2, t3, tadc)]
    low = low or any(x[0] for x in lows)
    notes = list(base.pop("notes")) + gate_notes + [n for x in lows for n in x[1]]
    fires = all(met)
    verdict = "supports" if fires else "does not support"
    src = tadc["sources"][0]
    text = (f"Combined rule ({crit}) {verdict} \"{tadc['supports']}\". Rule from "
            f"{facts.short(src)} [{src}] ({tadc['n']}; {tadc['performance']}); confidence: "
            f"{tadc['confidence'].replace('_', '-')}. {ADVISORY}")
    if any("default_cutoff" in t for t, _ in parts):
        text += " A cut-off of this rule was changed by the user."
    if low:
        text += " LOW RELIABILITY: " + "; ".join(n for n in notes if n.startswith("low "))
    return Statement(**base, status="supports" if fires else "does_not_support", text=text,
                     reliability="low" if low else "standard", notes=notes)


def _gate_adc(st: Statement, t: dict[str, Any]) -> Statement:
    if st.status not in ("supports", "does_not_support"):
        return st
    return st.model_copy(update={
        "status": "not_assessable", "missing": ["advanced_imaging.nawm_adc (plausible)"],
        "text": f"{t['label']}: not assessable: ADC scaling/unit error suspected (R-DWI-3)."})


def _skip(tid: str, ai: AdvancedImaging | None) -> bool:
    if tid == "T2c":
        return True  # only inside the combined rule
    if tid == "T1b" and ai is not None and ai.cavity_adc_ratio is not None:
        return True  # absolute fallback only without a NAWM ratio
    return tid == "T1" and ai is not None and ai.cavity_adc_ratio is None \
        and ai.cavity_adc is not None  # the fallback T1b speaks instead


def interpret(
    patient: Patient | dict[str, Any], overrides: dict[str, float] | None = None
) -> list[Statement]:
    """The statements for the questions that fit the lesion's history (advisory; configurable)."""
    from brainmets.diagnosis.context_rules import context_statements
    from brainmets.model import parse_patient

    if not isinstance(patient, Patient):
        patient = parse_patient(patient)
    kb = facts.thresholds(overrides)
    ai = patient.advanced_imaging
    ctx = _context_flags(patient, ai or AdvancedImaging())
    p = plan(patient)
    out: list[Statement] = []
    gate = _adc_gate(ai, kb["qc"])
    if gate is not None:
        out.append(gate)
    for tid, t in kb["threshold"].items():
        if t["question_id"] not in p.asked or _skip(tid, ai):
            continue
        st = _threshold_statement(t, ai, ctx, kb, p.history)
        if st is None:
            continue
        if gate is not None and tid in _ADC_THRESHOLDS:
            st = _gate_adc(st, t)
        out.append(st)
    if "glioblastoma_vs_metastasis" in p.asked:
        st = _romano_combined(ai, ctx, kb)
        out.append(_gate_adc(st, kb["threshold"]["T2c"]) if gate is not None else st)
    out.extend(context_statements(ai, p.asked, kb, p.history.srs_dates))
    for st in out:
        caveat = p.asked.get(st.question_id)
        if caveat:
            st.notes.append(caveat)
        if st.confidence == "interpolated" and "interpolated" not in st.text:
            st.text += (" Its cut-off is the toolkit's own interpolated value, not a published "
                        "threshold (confidence: interpolated).")
    return out


def possible_treatment_effect(statements: list[Statement]) -> list[Statement]:
    """The statements about recurrence vs radiation necrosis (for the response engine)."""
    return [s for s in statements if s.question_id == "recurrence_vs_necrosis"]
