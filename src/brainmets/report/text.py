"""Readable terminal rendering of an :class:`~brainmets.model.Assessment` (rich).

:func:`assessment_renderable` gives a rich renderable (colour on a terminal);
:func:`render_assessment` gives the same as plain text.
"""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from brainmets.model import Assessment, Diagnosis, Option, SourceRef

_KIND_TITLES = (("local", "Local options"), ("systemic", "Systemic options"),
                ("supportive", "Supportive care and other"))


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def _survival(e: Any) -> str:
    if e.median_survival_months is None:
        text = "n/a"
    else:
        text = f"{e.median_survival_months:g}"
    if e.iqr_months:
        text += f" ({e.iqr_months[0]:g}-{e.iqr_months[1]:g})"
    return text


def _source_line(s: SourceRef) -> str:
    parts = [s.id]
    if s.rec:
        parts.append(s.rec)
    grade = "/".join(x for x in (s.grading, s.strength) if x)
    if grade:
        parts.append(grade)
    if s.evidence:
        parts.append(f"evidence {s.evidence}")
    return " ".join(parts)


def _option_block(o: Option) -> Text:
    t = Text()
    t.append(f"- {o.id}", style="bold")
    if o.mdt:
        t.append("  [MDT discussion]", style="bold yellow")
    if o.defers_local_therapy:
        t.append("  [may defer local therapy]", style="cyan")
    t.append(f"\n    why: {o.rationale}")
    if o.sources:
        extra = f" (+{len(o.sources) - 1} more)" if len(o.sources) > 1 else ""
        t.append(f"\n    source: {_source_line(o.sources[0])}{extra}", style="dim")
    for s in o.sources:
        if s.grade_reason:
            t.append(f"\n    {s.id} {s.rec}: not graded ({s.grade_reason})", style="dim")
    if o.dose:
        t.append(f"\n    dose: {o.dose}")
    for n in o.notes:
        t.append(f"\n    note: {n}")
    if o.survival_basis:
        t.append(f"\n    survival basis: {o.survival_basis}", style="dim")
    if o.card and isinstance(o.card.get("summary_lines"), list):
        for line in o.card["summary_lines"]:
            t.append(f"\n    | {line}")
    return t


def _diagnosis_text(d: Diagnosis) -> Text:
    """Diagnosis aids: questions asked, statements with sources, epidemiology/screening context."""
    t = Text()
    t.append("Diagnosis aids (advisory, not a diagnosis)\n", style="bold")
    t.append(f"{d.summary}\n")
    for q in d.questions if d.statements else []:
        t.append(f"  question: {q.text} ({q.why})\n", style="dim")
    for line in d.not_asked:
        t.append(f"  {line}\n", style="dim")
    waiting = []
    for s in d.statements:
        if s.status == "not_assessable":
            waiting.append(s.id)
            continue
        flag = " [low reliability]" if s.reliability == "low" else ""
        t.append(f"- [{s.status}{flag}] {s.text} [{s.source}, {s.confidence}]\n")
    if waiting:
        t.append(f"  not assessable (inputs missing): {', '.join(waiting)}\n", style="dim")
    for title, rows in (("epidemiology", d.context.epidemiology),
                        ("screening", d.context.screening)):
        for r in rows:
            t.append(f"  {title}: {r.text} [{', '.join(r.sources)}; {r.confidence}]\n",
                     style="dim")
    return t


def _checks_block(a: Assessment) -> list[Any]:
    if not a.input_checks:
        return []
    t = Text()
    t.append("Input checks\n", style="bold")
    for c in a.input_checks:
        style = "bold red" if c.severity == "error" else "yellow"
        t.append(f"! {c.severity}: [{', '.join(c.fields)}] {c.message}\n", style=style)
    return [t]


def _primary_block(a: Assessment) -> Text:
    ps = a.primary_survival
    t = Text("Primary survival estimate: ", style="bold")
    if ps is None:
        t.append("none (no index of decision 9's list could be computed; see not computed)",
                 style="yellow")
        return t
    months = "n/a" if ps.median_survival_months is None else f"{ps.median_survival_months:g}"
    t.append(f"{ps.index} group {ps.group}: median {months} months\n")
    t.append(f"    why: {ps.reason}", style="dim")
    for w in ps.warnings:
        t.append(f"\n    ! {w}", style="yellow")
    return t


def _lists_block(a: Assessment) -> list[Any]:
    """awaiting / not applicable / not recommended: one meaning each (decision 6)."""
    out: list[Any] = []
    if a.awaiting:
        out.append(Text("Awaiting (would apply or not once these fields are known)",
                        style="bold"))
        out.extend(Text(f"- {w.id}: needs {', '.join(w.needs)}: {w.reason}")
                   for w in a.awaiting)
    if a.not_applicable:
        out.append(Text("Not applicable (trigger unmet)", style="bold"))
        out.extend(Text(f"- {n.id}: {n.reason}") for n in a.not_applicable)
    if a.not_recommended:
        out.append(Text("Not recommended (a source advises against it)", style="bold"))
        for r in a.not_recommended:
            line = Text(f"- {r.id}: {r.reason}")
            if r.sources:
                line.append(f" [{_source_line(r.sources[0])}]", style="dim")
            out.append(line)
    return out


def assessment_renderable(a: Assessment) -> Group:
    """A rich renderable: prognosis table, not computed, options, warnings, disclaimer."""
    parts: list[Any] = []
    title = f"Patient {a.patient_id}" if a.patient_id else "Patient (no id)"
    parts.append(Text(title, style="bold underline"))
    parts.extend(_checks_block(a))
    parts.append(_primary_block(a))

    tbl = Table(title="Prognostic indices", title_justify="left", expand=False)
    for col in ("Index", "Role", "Score", "Group", "Median OS, months (IQR)", "Confidence"):
        tbl.add_column(col, overflow="fold")
    for e in a.prognosis:
        conf_style = {"uncertain": "yellow", "single_source": "", "confirmed": "green"}
        tbl.add_row(
            e.index, e.role or "-", _num(e.score), e.group, _survival(e),
            Text(e.confidence, style=conf_style.get(e.confidence, "")),
        )
    if a.prognosis:
        parts.append(tbl)
    else:
        parts.append(Text("No prognostic index could be computed.", style="yellow"))

    notes = Text()
    for e in a.prognosis:
        notes.append(f"{e.index}: {e.source}", style="dim")
        if e.reference_ids:
            notes.append(f" [{', '.join(e.reference_ids)}]", style="dim")
        notes.append("\n")
    for e in a.prognosis:
        for w in e.warnings:
            notes.append(f"! {e.index}: {w}\n", style="yellow")
        for alt in e.alternatives:
            if alt.get("kind") == "alternative_survival":
                notes.append(
                    f"  {e.index}: also {alt['median_survival_months']:g} mo "
                    f"({alt.get('reference_id')}: {alt.get('label', '')})\n"
                )
    if notes.plain:
        parts.append(notes)

    if a.not_computed:
        nc = Table(title="Not computed", title_justify="left")
        nc.add_column("Index")
        nc.add_column("Reason", overflow="fold")
        for n in a.not_computed:
            nc.add_row(n.index, n.reason)
        parts.append(nc)

    if a.local_therapy_timing is not None:
        t = a.local_therapy_timing
        block = Text("Local therapy vs deferral: ", style="bold")
        block.append(("may be deferred (MDT)" if t.may_defer else "not deferred") + "\n")
        block.append(f"    {t.statement}")
        for src in t.sources:
            block.append(f"\n    source: {_source_line(src)}", style="dim")
        parts.append(block)
    for kind, heading in _KIND_TITLES:
        opts = [o for o in a.options if o.kind == kind]
        if opts:
            parts.append(Text(heading, style="bold"))
            parts.extend(_option_block(o) for o in opts)
    parts.extend(_lists_block(a))

    if a.diagnosis is not None:
        parts.append(_diagnosis_text(a.diagnosis))
    if a.warnings:
        warn_text = Text()
        for warning in a.warnings:
            warn_text.append(f"! {warning}\n", style="yellow")
        parts.append(Text("Warnings", style="bold"))
        parts.append(warn_text)
    if a.versions:
        parts.append(Text(
            "versions: " + ", ".join(f"{k} {v}" for k, v in a.versions.items()), style="dim"
        ))
    parts.append(Panel(Text(a.disclaimer), title="Disclaimer", expand=False))
    return Group(*parts)


def render_assessment(a: Assessment, width: int = 120) -> str:
    """Plain-text rendering (no colour codes)."""
    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system=None, force_terminal=False,
                      highlight=False, soft_wrap=False)
    console.print(assessment_renderable(a))
    return buf.getvalue()
