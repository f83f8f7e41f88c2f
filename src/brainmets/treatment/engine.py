"""Rule engine: each guideline recommendation is a :class:`Rule` of small named conditions.

A rule's conditions are evaluated in order. ``gate`` conditions decide whether the rule is
relevant at all (e.g. "EGFR-mutant NSCLC"); if a gate is false the rule stays silent. If all
gates hold and another condition is false, the option is recorded as *not applicable* with the
failing condition (unless another rule lists it). A condition that cannot be evaluated (input
missing) puts the option under *awaiting* that field, never a guess. A ``negative`` rule (a
source's MUST-NOT) that fires puts its option in ``not_recommended``; with ``veto`` it also blocks
the listed option ids. An ``inapplicable`` rule that fires records its option as not applicable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from brainmets.model import NotRecommended, Option, SourceRef
from brainmets.treatment.context import Ctx
from brainmets.treatment.kb import recommendations

Test = Callable[[Ctx], "bool | None | str | list[str]"]
# the deferral wording of R2.3/R2.4/R2.6/R2.7 options, replaced where deferral is withheld
DEFER_PHRASE = "local therapy may be delayed until intracranial progression (MDT)"
Text = str | Callable[[Ctx], str]


@dataclass(frozen=True)
class Cond:
    """One named condition; ``test`` returns True, False or None (cannot evaluate)."""

    label: str
    test: Test
    needs: tuple[str, ...] = ()
    gate: bool = False


@dataclass
class Rule:
    """One guideline recommendation applied to one option id."""

    name: str
    option: str
    kind: str
    recs: list[str]
    conds: list[Cond]
    rationale: Text
    mdt: bool | Callable[[Ctx], bool] = False
    defers: bool | Callable[[Ctx], bool] = False
    dose: Callable[[Ctx], str | None] | None = None
    notes: Callable[[Ctx], list[str]] | list[str] = field(default_factory=list)
    negative: bool = False
    veto: tuple[str, ...] = ()
    reject_reason: Text | None = None  # text when a condition is unmet (not applicable)
    inapplicable: bool = False  # fires -> the option is recorded as not applicable (no MUST-NOT)
    # text when an input is missing (awaiting); a callable may return None (no reason to add)
    awaiting_reason: str | Callable[[Ctx], str | None] | None = None

    def population(self) -> str:
        """The population check this rule applies (its condition labels)."""
        return f"{self.name}: " + "; ".join(c.label for c in self.conds) if self.conds else (
            f"{self.name}: no population condition")


def _text(t: Text, ctx: Ctx) -> str:
    return t(ctx) if callable(t) else t


def source_ref(key: str) -> SourceRef:
    """SourceRef for a recommendation key, grading copied as published."""
    r = recommendations()[key]
    return SourceRef(
        id=r["source"], rec=r["rec"], grading=r["grading"], strength=r.get("strength"),
        evidence=r.get("evidence"), type=r.get("type"), text=r["text"],
        grade_reason=r.get("grade_reason"),
    )


@dataclass
class Outcome:
    options: dict[str, Option] = field(default_factory=dict)
    rejected: dict[str, list[tuple[str, list[str]]]] = field(default_factory=dict)
    negatives: dict[str, NotRecommended] = field(default_factory=dict)
    vetoed: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    needs: dict[str, list[str]] = field(default_factory=dict)
    awaiting: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # option -> info
    inapplicable: dict[str, list[tuple[str, list[str]]]] = field(default_factory=dict)
    trace: list[tuple[str, str]] = field(default_factory=list)  # (rule name, fired|rejected|...)


def evaluate(rules: list[Rule], ctx: Ctx) -> Outcome:
    """Run every rule in order; later rules may read ``ctx.fired``."""
    out = Outcome()
    for rule in rules:
        verdict, failed, missing = _check(rule, ctx)
        out.trace.append((rule.name, verdict))
        if verdict == "silent":
            continue
        if verdict == "needs":
            _await(rule, ctx, out, missing)
            continue
        if verdict == "rejected":
            if not rule.negative:
                unmet = f"{rule.name}: condition not met: {'; '.join(failed)}"
                reason = (f"{_text(rule.reject_reason, ctx)} [{unmet}]" if rule.reject_reason
                          else unmet)
                out.rejected.setdefault(rule.option, []).append((reason, rule.recs))
            continue
        # fired
        if rule.negative:
            _negative(rule, ctx, out)
            continue
        if rule.inapplicable:
            out.inapplicable.setdefault(rule.option, []).append(
                (_text(rule.rationale, ctx), rule.recs))
            continue
        if rule.option in out.vetoed:
            continue
        _fire(rule, ctx, out)
    return out


def _check(rule: Rule, ctx: Ctx) -> tuple[str, list[str], list[str]]:
    failed: list[str] = []
    missing: list[str] = []
    for c in rule.conds:
        v = c.test(ctx)
        if isinstance(v, str):  # the test names the missing field itself
            missing.append(v)
            continue
        if isinstance(v, list):  # several missing fields
            missing.extend(v)
            continue
        if v is False:
            if c.gate:
                return "silent", [], []
            failed.append(c.label)
        elif v is None:
            missing.extend(c.needs or (c.label,))
    if failed:
        return "rejected", failed, []
    if missing:
        return "needs", [], missing
    return "fired", [], []


def _await(rule: Rule, ctx: Ctx, out: Outcome, missing: list[str]) -> None:
    for f in missing:
        out.needs.setdefault(f, []).append(rule.name)
    if rule.negative:
        return
    info = out.awaiting.setdefault(rule.option, {"needs": [], "rules": [], "recs": [],
                                                 "reasons": [], "kind": [rule.kind]})
    info["needs"].extend(f for f in missing if f not in info["needs"])
    info["rules"].append(rule.name)
    info["recs"].extend(k for k in rule.recs if k not in info["recs"])
    if rule.awaiting_reason is not None:
        ar = rule.awaiting_reason
        text = ar(ctx) if callable(ar) else ar
        if text and text not in info["reasons"]:
            info["reasons"].append(text)


def _negative(rule: Rule, ctx: Ctx, out: Outcome) -> None:
    reason = _text(rule.rationale, ctx)
    refs = [source_ref(k) for k in rule.recs]
    prev = out.negatives.get(rule.option)
    if prev is None:
        out.negatives[rule.option] = NotRecommended(id=rule.option, reason=reason, sources=refs)
    else:
        prev.reason += " " + reason
        prev.sources.extend(r for r in refs if r not in prev.sources)
    if rule.veto:
        out.negatives.pop(rule.option, None)
    for oid in rule.veto:  # a MUST-NOT on these options: not_recommended, with its source
        out.vetoed.setdefault(oid, (reason, list(rule.recs)))
        if oid in out.options:  # listed by an earlier rule: withdraw it
            out.options.pop(oid)
            ctx.fired.discard(oid)


def _fire(rule: Rule, ctx: Ctx, out: Outcome) -> None:
    rationale = _text(rule.rationale, ctx)
    refs = [source_ref(k) for k in rule.recs]
    mdt = rule.mdt(ctx) if callable(rule.mdt) else rule.mdt
    defers = rule.defers(ctx) if callable(rule.defers) else rule.defers
    notes = rule.notes(ctx) if callable(rule.notes) else list(rule.notes)
    if defers and ctx.count == 0:
        # nothing to defer: no brain metastasis is recorded (brain_metastases.count = 0)
        defers = False
        rationale = rationale.replace(DEFER_PHRASE, "no brain metastasis is recorded "
                                      "(brain_metastases.count 0), so no local therapy to defer")
    if defers and ctx.patient.brain_metastases.leptomeningeal is True:
        defers = False  # leptomeningeal disease is outside every deferral population (decision 8)
        rationale = rationale.replace(DEFER_PHRASE, "local therapy is NOT deferred here: "
                                      "leptomeningeal disease is outside this rule's population "
                                      "(decision 8; MDT)")
    dose = rule.dose(ctx) if rule.dose else None
    opt = out.options.get(rule.option)
    if opt is None:
        opt = Option(id=rule.option, kind=rule.kind, rationale=rationale, sources=refs, mdt=mdt,
                     defers_local_therapy=defers, dose=dose, notes=notes)
        out.options[rule.option] = opt
        opt.population.append(rule.population())
    else:
        if rationale not in opt.rationale:
            opt.rationale += " Also: " + rationale
        opt.sources.extend(r for r in refs if r not in opt.sources)
        opt.mdt = opt.mdt or mdt
        opt.defers_local_therapy = opt.defers_local_therapy or defers
        if dose and not opt.dose:
            opt.dose = dose
        elif dose and opt.dose and dose not in opt.dose:
            opt.dose += "; or " + dose
        opt.notes.extend(n for n in notes if n not in opt.notes)
        opt.population.append(rule.population())
    ctx.fired.add(rule.option)
    if opt.defers_local_therapy:
        ctx.defer_fired = True
