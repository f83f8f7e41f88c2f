"""Index tables loaded from ``knowledge/data/prognosis/*.toml`` and validated once.

Both the per-patient engine (:mod:`brainmets.prognosis.engine`) and the vectorised scorer
(:mod:`brainmets.prognosis.vectorized`) read these objects; no clinical number lives in code.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any, Literal, overload

from brainmets.knowledge import KnowledgeError, load_toml, require_refs

#: Index ids in output order (CONTRACT §2).
INDEX_IDS: tuple[str, ...] = (
    "rpa",
    "gpa_2008",
    "ds_gpa_2012",
    "lung_molgpa_2017",
    "melanoma_molgpa_2017",
    "breast_gpa_2020",
    "gi_gpa_2019",
    "renal_gpa_2018",
    "bsbm",
    "labbm",
)

#: Derived inputs the tables may name (see :mod:`brainmets.prognosis.features`).
FEATURES: dict[str, str] = {
    "age": "num",
    "kps": "num",
    "bm_count": "num",
    "hb_tenth": "num",
    "ecm": "bool",
    "controlled": "bool",
    "crp_high": "bool",
    "ldh_high": "bool",
    "hb_low": "bool",
    "plt_low": "bool",
    "alb_low": "bool",
    "egfr_alk": "str",
    "braf": "str",
    "breast_subtype": "str",
}

SITES = ("nsclc", "sclc", "breast", "melanoma", "renal", "gi", "other", "unknown")
CONFIDENCE_ORDER = {"uncertain": 0, "single_source": 1, "confirmed": 2}
_COND_KEYS = {"min", "max", "lt", "gt", "values"}
#: tolerance of numeric comparisons (rounded haemoglobin may differ in the last bit between paths)
EPS = 1e-9


@dataclass(frozen=True)
class Condition:
    """A test on one input: inclusive ``min``/``max``, exclusive ``lt``/``gt``, or ``values``."""

    min: float | None = None
    max: float | None = None
    lt: float | None = None
    gt: float | None = None
    values: tuple[Any, ...] | None = None

    def matches(self, v: Any) -> bool:
        if self.values is not None:
            return v in self.values
        if self.min is not None and not v >= self.min - EPS:
            return False
        if self.max is not None and not v <= self.max + EPS:
            return False
        if self.lt is not None and not v < self.lt - EPS:
            return False
        if self.gt is not None and not v > self.gt + EPS:
            return False
        return True


@dataclass(frozen=True)
class Band:
    cond: Condition
    points: float
    ref: str
    confidence: str | None = None
    warning: str | None = None
    warn_at: float | None = None
    alt_points: float | None = None


@dataclass(frozen=True)
class Factor:
    name: str
    input: str
    bands: tuple[Band, ...]
    if_missing_points: float | None = None
    if_missing_warning: str | None = None


@dataclass(frozen=True)
class Alternative:
    median: float
    ref: str
    label: str


@dataclass(frozen=True)
class Group:
    label: str
    min: float
    max: float
    median: float | None
    p25: float | None
    p75: float | None
    ref: str
    confidence: str | None = None
    warning: str | None = None
    note: str | None = None
    alternatives: tuple[Alternative, ...] = ()

    def contains(self, score: float) -> bool:
        return self.min - 1e-9 <= score <= self.max + 1e-9


@dataclass(frozen=True)
class Rule:
    label: str
    when: tuple[tuple[str, Condition], ...]
    median: float | None
    ref: str


@dataclass(frozen=True)
class Variant:
    name: str
    sites: tuple[str, ...]
    histology: tuple[str, ...] | None
    factors: tuple[Factor, ...]
    groups: tuple[Group, ...]
    rules: tuple[Rule, ...]
    score_min: float | None
    score_max: float | None
    site_warnings: dict[str, str] = field(default_factory=dict)
    site_confidence: dict[str, str] = field(default_factory=dict)

    def applies_to_site(self, site: str | None) -> bool:
        return "*" in self.sites or site in self.sites

    def group_for(self, score: float) -> Group | None:
        for g in self.groups:
            if g.contains(score):
                return g
        return None


@dataclass(frozen=True)
class IndexTable:
    id: str
    name: str
    source: str
    confidence: str
    confidence_note: str
    references: tuple[str, ...]
    kind: str
    sites: tuple[str, ...]
    variants: tuple[Variant, ...]
    inputs: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def site_agnostic(self) -> bool:
        return "*" in self.sites

    @property
    def all_inputs(self) -> tuple[str, ...]:
        seen: dict[str, None] = dict.fromkeys(self.inputs)
        for v in self.variants:
            for f in v.factors:
                seen.setdefault(f.input)
            for r in v.rules:
                for name, _ in r.when:
                    seen.setdefault(name)
        return tuple(seen)


@dataclass(frozen=True)
class NotVerified:
    id: str
    name: str
    sites: tuple[str, ...]
    ref: str
    reason: str


# ---------------------------------------------------------------- parsing


@overload
def _num(value: Any, where: str, key: str, optional: Literal[False]) -> float: ...
@overload
def _num(value: Any, where: str, key: str, optional: bool = True) -> float | None: ...
def _num(value: Any, where: str, key: str, optional: bool = True) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise KnowledgeError(f"{where}: '{key}' must be a number, got {value!r}")
    return float(value)


@overload
def _conf(value: Any, where: str, optional: Literal[False]) -> str: ...
@overload
def _conf(value: Any, where: str, optional: bool = True) -> str | None: ...
def _conf(value: Any, where: str, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if value not in CONFIDENCE_ORDER:
        raise KnowledgeError(
            f"{where}: confidence must be one of {sorted(CONFIDENCE_ORDER)}, got {value!r}"
        )
    return value


def _cond(raw: Any, where: str, kind: str) -> Condition:
    if not isinstance(raw, dict) or not raw or set(raw) - _COND_KEYS - {
        "points", "ref", "confidence", "warning", "warn_at", "alt_points"
    }:
        raise KnowledgeError(f"{where}: expected a condition with keys {sorted(_COND_KEYS)}")
    keys = set(raw) & _COND_KEYS
    if not keys:
        raise KnowledgeError(f"{where}: no condition (one of {sorted(_COND_KEYS)})")
    if "values" in keys:
        if len(keys) > 1 or not isinstance(raw["values"], list) or not raw["values"]:
            raise KnowledgeError(f"{where}: 'values' must be a non-empty list used alone")
        want = {"bool": bool, "str": str}.get(kind)
        if want is None or not all(isinstance(x, want) for x in raw["values"]):
            raise KnowledgeError(f"{where}: 'values' do not fit a {kind} input")
        return Condition(values=tuple(raw["values"]))
    if kind != "num":
        raise KnowledgeError(f"{where}: a {kind} input needs 'values'")
    lo, hi, lt, gt = (_num(raw.get(k), where, k) for k in ("min", "max", "lt", "gt"))
    return Condition(min=lo, max=hi, lt=lt, gt=gt)


def _parse_factor(raw: dict[str, Any], where: str) -> Factor:
    name = raw.get("name")
    inp = raw.get("input")
    if not isinstance(name, str) or inp not in FEATURES:
        raise KnowledgeError(f"{where}: factor needs a 'name' and an 'input' in {sorted(FEATURES)}")
    bands = []
    for j, b in enumerate(raw.get("band", [])):
        bw = f"{where} band #{j + 1}"
        if not isinstance(b.get("ref"), str):
            raise KnowledgeError(f"{bw}: every row needs a 'ref'")
        bands.append(
            Band(
                cond=_cond(b, bw, FEATURES[inp]),
                points=_num(b.get("points"), bw, "points", optional=False),
                ref=b["ref"],
                confidence=_conf(b.get("confidence"), bw),
                warning=b.get("warning"),
                warn_at=_num(b.get("warn_at"), bw, "warn_at"),
                alt_points=_num(b.get("alt_points"), bw, "alt_points"),
            )
        )
    if not bands:
        raise KnowledgeError(f"{where}: factor {name!r} has no [[band]] rows")
    for b in bands:
        if b.points * 2 != int(b.points * 2):
            raise KnowledgeError(f"{where}: points must be multiples of 0.5, got {b.points}")
    return Factor(
        name=name,
        input=inp,
        bands=tuple(bands),
        if_missing_points=_num(raw.get("if_missing_points"), where, "if_missing_points"),
        if_missing_warning=raw.get("if_missing_warning"),
    )


def _parse_group(raw: dict[str, Any], where: str) -> Group:
    if not isinstance(raw.get("label"), str) or not isinstance(raw.get("ref"), str):
        raise KnowledgeError(f"{where}: a group needs 'label' and 'ref'")
    alts = []
    for k, a in enumerate(raw.get("alternative", [])):
        aw = f"{where} alternative #{k + 1}"
        if not isinstance(a.get("ref"), str):
            raise KnowledgeError(f"{aw}: needs a 'ref'")
        alts.append(Alternative(_num(a.get("median"), aw, "median", optional=False), a["ref"],
                                str(a.get("label", ""))))
    return Group(
        label=raw["label"],
        min=_num(raw.get("min"), where, "min", optional=False),
        max=_num(raw.get("max"), where, "max", optional=False),
        median=_num(raw.get("median"), where, "median"),
        p25=_num(raw.get("p25"), where, "p25"),
        p75=_num(raw.get("p75"), where, "p75"),
        ref=raw["ref"],
        confidence=_conf(raw.get("confidence"), where),
        warning=raw.get("warning"),
        note=raw.get("note"),
        alternatives=tuple(alts),
    )


def _parse_rule(raw: dict[str, Any], where: str) -> Rule:
    when = raw.get("when", {})
    if not isinstance(when, dict) or not isinstance(raw.get("ref"), str):
        raise KnowledgeError(f"{where}: a rule needs 'when' (table) and 'ref'")
    conds = []
    for name, c in when.items():
        if name not in FEATURES:
            raise KnowledgeError(f"{where}: unknown input {name!r}")
        conds.append((name, _cond(c, f"{where} when.{name}", FEATURES[name])))
    if not isinstance(raw.get("label"), str):
        raise KnowledgeError(f"{where}: a rule needs a 'label'")
    return Rule(raw["label"], tuple(conds), _num(raw.get("median"), where, "median"), raw["ref"])


def _parse_index(index_id: str) -> IndexTable:
    rel = f"prognosis/{index_id}.toml"
    where = f"knowledge/data/{rel}"
    raw = load_toml(rel)
    if raw.get("id") != index_id:
        raise KnowledgeError(f"{where}: 'id' must be {index_id!r}, got {raw.get('id')!r}")
    for key in ("name", "source", "confidence_note"):
        if not isinstance(raw.get(key), str):
            raise KnowledgeError(f"{where}: '{key}' must be a string")
    kind = raw.get("kind")
    if kind not in ("points", "classes"):
        raise KnowledgeError(f"{where}: kind must be 'points' or 'classes'")
    sites = tuple(raw.get("sites", []))
    if not sites or any(s != "*" and s not in SITES for s in sites):
        raise KnowledgeError(f"{where}: sites must be '*' or among {SITES}")
    variants: list[Variant] = []
    by_name: dict[str, Variant] = {}
    for i, v in enumerate(raw.get("variant", [])):
        vw = f"{where} variant #{i + 1}"
        if not isinstance(v.get("name"), str):
            raise KnowledgeError(f"{vw}: needs a 'name'")
        factors = tuple(_parse_factor(f, f"{vw} factor #{j + 1}")
                        for j, f in enumerate(v.get("factor", [])))
        if "factors_from" in v:
            src = by_name.get(v["factors_from"])
            if src is None or factors:
                raise KnowledgeError(f"{vw}: factors_from must name an earlier variant "
                                     "and the variant must not define its own factors")
            excl = set(v.get("exclude_factors", []))
            factors = tuple(f for f in src.factors if f.name not in excl)
        groups = tuple(_parse_group(g, f"{vw} group #{j + 1}")
                       for j, g in enumerate(v.get("group", [])))
        rules = tuple(_parse_rule(r, f"{vw} rule #{j + 1}")
                      for j, r in enumerate(v.get("rule", [])))
        if kind == "points" and (not factors or not groups):
            raise KnowledgeError(f"{vw}: a points index needs factors and groups")
        if kind == "classes" and not rules:
            raise KnowledgeError(f"{vw}: a classes index needs rules")
        site_conf = dict(v.get("site_confidence", {}))
        for s, c in site_conf.items():
            _conf(c, f"{vw} site_confidence.{s}", optional=False)
        variant = Variant(
            name=v["name"],
            sites=tuple(v.get("sites", sites)),
            histology=tuple(v["histology"]) if "histology" in v else None,
            factors=factors,
            groups=groups,
            rules=rules,
            score_min=_num(v.get("score_min"), vw, "score_min"),
            score_max=_num(v.get("score_max"), vw, "score_max"),
            site_warnings=dict(v.get("site_warnings", {})),
            site_confidence=site_conf,
        )
        if kind == "points":
            _check_groups_cover(variant, vw)
        variants.append(variant)
        by_name[variant.name] = variant
    if not variants:
        raise KnowledgeError(f"{where}: no [[variant]]")
    table = IndexTable(
        id=index_id,
        name=raw["name"],
        source=raw["source"],
        confidence=_conf(raw.get("confidence"), where, optional=False),
        confidence_note=raw["confidence_note"],
        references=tuple(raw.get("references", [])),
        kind=kind,
        sites=sites,
        variants=tuple(variants),
        inputs=tuple(raw.get("inputs", [])),
        warnings=tuple(raw.get("warnings", [])),
    )
    refs = set(table.references)
    for v in table.variants:
        refs.update(b.ref for f in v.factors for b in f.bands)
        refs.update(g.ref for g in v.groups)
        refs.update(a.ref for g in v.groups for a in g.alternatives)
        refs.update(r.ref for r in v.rules)
    require_refs(refs, where)
    return table


def reachable_scores(v: Variant) -> list[float]:
    """Every total the variant's factors can produce (sum over one band per factor)."""
    totals = {0.0}
    for f in v.factors:
        pts = {b.points for b in f.bands}
        if f.if_missing_points is not None:
            pts.add(f.if_missing_points)
        totals = {t + p for t in totals for p in pts}
    return sorted(totals)


def _check_groups_cover(v: Variant, where: str) -> None:
    """Every reachable score lies in [score_min, score_max] and in exactly one group."""
    if v.score_min is None or v.score_max is None:
        raise KnowledgeError(f"{where}: score_min and score_max are required")
    scores = reachable_scores(v)
    if abs(scores[0] - v.score_min) > 1e-9 or abs(scores[-1] - v.score_max) > 1e-9:
        raise KnowledgeError(
            f"{where}: reachable scores {scores[0]}-{scores[-1]} differ from "
            f"score_min/score_max {v.score_min}-{v.score_max}"
        )
    for s in scores:
        hits = [g.label for g in v.groups if g.contains(s)]
        if len(hits) != 1:
            raise KnowledgeError(f"{where}: score {s} falls in groups {hits}, expected one")


@functools.cache
def index_tables() -> dict[str, IndexTable]:
    """All implemented index tables, keyed by id, in :data:`INDEX_IDS` order."""
    return {i: _parse_index(i) for i in INDEX_IDS}


@functools.cache
def not_verified() -> tuple[NotVerified, ...]:
    """Indices reported as 'not available: source table not verified'."""
    where = "knowledge/data/prognosis/not_verified.toml"
    raw = load_toml("prognosis/not_verified.toml")
    reason = raw.get("reason")
    if not isinstance(reason, str):
        raise KnowledgeError(f"{where}: 'reason' must be a string")
    out = []
    for i, e in enumerate(raw.get("index", [])):
        if not all(isinstance(e.get(k), str) for k in ("id", "name", "ref")):
            raise KnowledgeError(f"{where}: index #{i + 1} needs id, name, ref")
        out.append(NotVerified(e["id"], e["name"], tuple(e.get("sites", ["*"])), e["ref"], reason))
    require_refs([e.ref for e in out], where)
    return tuple(out)
