"""ASCO22 R2.1 / R2.2 (with ASTRO KQ1.7 / KQ1.8): may local therapy be deferred?

Their grades belong to this statement only, never copied onto each local option (project
decision 7). Each rule is a small predicate with the statement it produces; the first that holds
wins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from brainmets.model import LocalTherapyTiming
from brainmets.treatment.context import Ctx
from brainmets.treatment.engine import source_ref


@dataclass(frozen=True)
class TimingRule:
    name: str
    applies: Callable[[Ctx, bool], bool]   # (ctx, a deferral option is listed)
    may_defer: bool
    recs: tuple[str, ...]
    statement: Callable[[Ctx], str]
    mdt: bool = False


def _on_or_after_ici(c: Ctx) -> bool:
    t = c.patient.therapy
    return t.on_immunotherapy is True or t.immunotherapy_naive is False


def _ici_mdt(c: Ctx) -> str:
    if c.site == "melanoma" and _on_or_after_ici(c):
        return (" On or after checkpoint inhibitors: local therapy; the systemic question is "
                "flagged for MDT discussion (decision 5).")
    return ""


RULES: tuple[TimingRule, ...] = (
    TimingRule(
        "leptomeningeal", lambda c, d: c.patient.brain_metastases.leptomeningeal is True, False,
        ("ASCO22:R2.2",),
        lambda c: "Leptomeningeal disease is outside the populations of these rules: no deferral "
        "statement applies; local and systemic choices need MDT discussion (decision 8).",
        mdt=True),
    TimingRule(
        "ASCO22 R2.1", lambda c, d: c.symptom == "symptomatic", False,
        ("ASCO22:R2.1", "ASTRO22:KQ1.7"),
        lambda c: "Symptomatic brain metastases: local therapy (SRS/RT and/or surgery) "
        "regardless of the systemic therapy used; a systemic option is given alongside, never "
        "instead (ASCO22 R2.1; ASTRO KQ1.7 upfront local therapy)." + _ici_mdt(c)),
    TimingRule(
        "ASCO22 R2.2 (deferral allowed)", lambda c, d: c.symptom in ("asymptomatic",
                                                                      "mild_controlled") and d,
        True, ("ASCO22:R2.2", "ASTRO22:KQ1.8"),
        lambda c: "Local therapy may be deferred only under R2.3/R2.4/R2.6/R2.7, after MDT "
        "discussion, and is listed in parallel with local therapy; if deferred, close "
        "monitoring (brain MRI every 2-3 months) is crucial (ASCO22 R2.2; ASTRO KQ1.8)."
        + (" Mild symptoms controlled with supportive therapy: ASCO22 gives no formal "
           "definition of symptomatic; deferral only after MDT discussion."
           if c.symptom == "mild_controlled" else ""),
        mdt=True),
    TimingRule(
        "ASCO22 R2.2 (no deferral)", lambda c, d: c.symptom in ("asymptomatic",
                                                                 "mild_controlled"),
        False, ("ASCO22:R2.2",),
        lambda c: "Asymptomatic brain metastases: local therapy is not deferred, because no "
        "driver-specific deferral rule (R2.3/R2.4/R2.6/R2.7) applies (ASCO22 R2.2)."
        + _ici_mdt(c)),
    TimingRule(
        "symptoms not recorded", lambda c, d: c.symptom is None, False,
        ("ASCO22:R2.1", "ASCO22:R2.2"),
        lambda c: "symptoms.status not recorded: whether local therapy may be deferred cannot "
        "be evaluated (ASCO22 R2.1 symptomatic: local therapy; R2.2 asymptomatic: deferral only "
        "under R2.3/2.4/2.6/2.7)."),
)


def local_therapy_timing(ctx: Ctx, deferral_listed: bool) -> LocalTherapyTiming | None:
    """The statement on local therapy versus deferral (None: no brain metastasis recorded)."""
    if ctx.count == 0:
        return None
    for rule in RULES:
        if rule.applies(ctx, deferral_listed):
            return LocalTherapyTiming(
                may_defer=rule.may_defer, statement=rule.statement(ctx),
                sources=[source_ref(k) for k in rule.recs],
                mdt=rule.mdt or bool(_ici_mdt(ctx)))
    return None
