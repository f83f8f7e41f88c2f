"""The assessment's ``diagnosis`` block (CONTRACT §2): statements for the questions that fit the
lesion's history, and the epidemiology and screening context for the primary, all sourced."""

from __future__ import annotations

from typing import Any

from brainmets.diagnosis.history import history_text
from brainmets.diagnosis.rules import QUESTION_TEXT, Statement, interpret, plan
from brainmets.model import (
    Diagnosis,
    DiagnosisContext,
    DiagnosisContextRow,
    DiagnosisQuestion,
    DiagnosisStatement,
    Patient,
)

_SHOWN = ("supports", "does_not_support", "display_only")


def _cutoff(s: Statement) -> str | None:
    if s.cutoff is None or s.direction is None:
        return None
    return f"{s.direction} {s.cutoff:g}" + (f" {s.unit}" if s.unit else "")


def to_contract(s: Statement) -> DiagnosisStatement:
    """A rules statement in the CONTRACT §2 shape (plus status, value and citations)."""
    return DiagnosisStatement(
        id=s.id, text=s.text, question=s.question_id, cutoff=_cutoff(s),
        source=s.sources[0] if s.sources else None, confidence=s.confidence,
        status=s.status, value=s.value, unit=s.unit, sources=list(s.sources),
        citations=list(s.citations), reliability=s.reliability, missing=list(s.missing),
        notes=list(s.notes))


def _row(text: str, row: dict[str, Any]) -> DiagnosisContextRow:
    sources = list(row.get("sources", []))
    return DiagnosisContextRow(text=text, source=sources[0] if sources else None,
                               sources=sources, confidence=row.get("confidence"))


def context_block(primary_site: str | None) -> DiagnosisContext:
    """Epidemiology (incidence, peak age, general figures) and screening rows with sources."""
    from brainmets.diagnosis.epidemiology import context

    c = context(primary_site)
    epi = []
    for r in c["incidence"]:
        pct = f"{r['percent']:g}%: " if "percent" in r else ""
        epi.append(_row(f"{pct}{r['measure']}", r))
    for r in c["peak_age"]:
        epi.append(_row(f"{r['measure']}: {r['ages']}", r))
    epi.extend(_row(r["text"], r) for r in c["general"])
    return DiagnosisContext(
        primary_site=primary_site, epidemiology=epi,
        screening=[_row(r["text"], r) for r in c["screening"]],
        unconfirmed=[_row(f"{r['claim']}: {r['display']}", r) for r in c["unconfirmed_claims"]],
        notes=list(c["notes"]))


def _summary(statements: list[DiagnosisStatement], questions: list[DiagnosisQuestion],
             has_values: bool, site: str | None) -> str:
    shown = [s for s in statements if s.status in ("supports", "does_not_support")]
    support = sum(1 for s in shown if s.status == "supports")
    missing = sum(1 for s in statements if s.status == "not_assessable")
    asked = ", ".join(q.id.replace("_", " ") for q in questions) or "none"
    if not has_values:
        open_q = sorted({s.question.replace("_", " ") for s in statements})
        return ("Diagnosis aids: no advanced-imaging values entered (advanced_imaging), so no "
                "interpretation statements"
                + (f"; open question(s): {', '.join(open_q)}" if open_q else "")
                + f"; epidemiology and screening context for primary {site or 'unknown'}.")
    head = (f"{len(shown)} statement(s) with a cut-off ({support} supporting), "
            f"{missing} not assessable")
    return f"Diagnosis aids: {head}; questions: {asked}; context for primary {site or 'unknown'}."


def _reminders(patient: Patient, asked: dict[str, str | None]) -> list[Statement]:
    from brainmets.diagnosis import facts
    from brainmets.diagnosis.context_rules import reminder_statements
    from brainmets.diagnosis.rules import _context_flags
    from brainmets.model import AdvancedImaging

    ctx = _context_flags(patient, AdvancedImaging())
    return reminder_statements(asked, ctx, facts.thresholds())


def diagnosis_block(patient: Patient, overrides: dict[str, float] | None = None) -> Diagnosis:
    """The ``diagnosis`` block for one patient (advisory; every statement sourced)."""
    p = plan(patient)
    questions = [DiagnosisQuestion(id=q, text=QUESTION_TEXT[q],
                                   why=caveat or f"lesion history: {history_text(p.history)}")
                 for q, caveat in p.asked.items()]
    has_values = patient.advanced_imaging is not None
    statements = [to_contract(s) for s in (interpret(patient, overrides) if has_values
                                           else _reminders(patient, p.asked))]
    site = patient.primary.site
    history: dict[str, Any] = p.history.model_dump()
    history["text"] = history_text(p.history)
    return Diagnosis(
        summary=_summary(statements, questions, has_values, site), questions=questions,
        not_asked=p.not_asked, history=history, statements=statements,
        context=context_block(site))


def statement_lines(statements: list[Statement] | list[DiagnosisStatement]) -> list[str]:
    """One line per statement that a value triggered (for the adc/perfusion commands)."""
    out = []
    for s in statements:
        if s.status not in _SHOWN:
            continue
        flag = " [low reliability]" if s.reliability == "low" else ""
        out.append(f"{s.status}{flag}: {s.text}")
    return out


#: ``--history`` choices of the adc/perfusion commands -> record fields
HISTORY_CHOICES = ("untreated", "srs", "fsrt", "wbrt", "ha_wbrt")


def _measurement_patient(values: dict[str, Any], history: str | None,
                         solitary: bool | None) -> Patient:
    from brainmets.model import parse_patient

    record: dict[str, Any] = {"advanced_imaging": dict(values)}
    if solitary is not None:
        record["advanced_imaging"]["solitary_enhancing_lesion"] = solitary
    if history == "untreated":
        record["advanced_imaging"].update(previously_treated=False, histology_confirmed=False)
    elif history is not None:
        record["radiation_history"] = [{"modality": history}]
    return parse_patient(record)


def measurement_statements(values: dict[str, Any], history: str | None = None,
                           solitary: bool | None = None) -> list[Statement]:
    """Statements that measured values trigger (``adc``/``perfusion`` commands).

    ``history``: ``untreated`` (not irradiated, not resected, histology open), a radiation
    modality the lesion received, or None (not given: read as untreated with a caveat;
    recurrence vs necrosis asked, with a caveat, only when its values were measured).
    """
    patient = _measurement_patient(values, history, solitary)
    return [s for s in interpret(patient) if s.status in _SHOWN
            or (s.status == "not_assessable" and s.value is not None)]  # measured, context missing


def measurement_notes(values: dict[str, Any], history: str | None = None,
                      solitary: bool | None = None) -> list[str]:
    """What the commands assumed about the lesion and which values they did not interpret."""
    p = plan(_measurement_patient(values, history, solitary))
    by_caveat: dict[str, list[str]] = {}
    for q, caveat in p.asked.items():
        if caveat:
            short = caveat.split("; if not, record")[0]
            by_caveat.setdefault(short, []).append(q.replace("_", " "))
    out = [f"question {' and '.join(qs)}: {c} (give --history to say)"
           for c, qs in by_caveat.items()]
    return out + list(p.not_asked)


def statement_dicts(statements: list[Statement]) -> list[dict[str, Any]]:
    """JSON form for the command output (CONTRACT §2 statement fields)."""
    return [to_contract(s).model_dump(include={"id", "text", "question", "cutoff", "source",
                                               "confidence", "status", "reliability",
                                               "notes", "missing"})
            for s in statements]
