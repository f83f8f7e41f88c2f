"""Validate prognostic indices on a cohort with observed survival.

For every index: group sizes, observed Kaplan-Meier median (95 % CI) next to the published median
of the group, multivariate log-rank p, Harrell's C-index, a calibration table (observed / published
median) and a KM plot. Patients an index cannot score are counted, never dropped silently.

Where the groups come from:
* ``brainmets.prognosis.vectorized.score_table`` (the prognosis engine) adds, for every index,
  ``<index>_score``, ``<index>_group`` and ``<index>_median_os`` (published median, months) per
  row; the published medians are read from there, never copied here.
* a user-supplied group column (``--group COL`` or ``--group COL=INDEX``): with ``=INDEX`` the
  labels are matched to that index's published group medians in the knowledge base.

C-index direction: the predictor is the published median survival of the patient's group (higher
= longer predicted survival), so C > 0.5 means the index ranks patients in the right order.
Without published medians, the numeric index score is used (higher score = longer survival, as for
every GPA); for a user column without published medians, its numeric values are used with the
direction given by the user.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from brainmets.cohort.io import DAYS_PER_MONTH
from brainmets.cohort.km import _label, figure_png
from brainmets.errors import BrainmetsError
from brainmets.model import InputError

# patient fields (flattened column names) that most indices read; absent ones are reported
CORE_FIELDS = ("age", "kps", "primary_site", "extracranial_metastases",
               "brain_metastases_count", "primary_controlled")
T = "_t_months"
E = "_event"


@dataclass
class IndexSpec:
    """Where one index's groups, published medians and score live in the scored table."""

    id: str
    group_col: str
    median_col: str | None = None
    score_col: str | None = None
    origin: str = "score_table"  # score_table | user column
    higher_is_better: bool = True
    reason_cols: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        """Unique name in the report: the index id, or the user's column."""
        return self.id if self.origin == "score_table" else self.group_col


def _index_meta(index_id: str) -> dict[str, Any]:
    """Name, source, confidence and citations of an index from the knowledge base (if present)."""
    from brainmets.knowledge import KnowledgeError, load_toml, reference

    try:
        data = load_toml(f"prognosis/{index_id}.toml")
    except KnowledgeError:  # a user's own group column that is no published index
        return {}
    cites = [{"id": r, "citation": reference(r).citation} for r in data.get("references", [])]
    return {"name": data.get("name"), "source": data.get("source"),
            "confidence": data.get("confidence"), "confidence_note": data.get("confidence_note"),
            "warnings": list(data.get("warnings", [])), "references": cites}


def published_group_medians(index_id: str) -> dict[str, float]:
    """label -> published median (months) for a single-table index, from the knowledge base."""
    from brainmets.knowledge import KnowledgeError, load_toml

    try:
        data = load_toml(f"prognosis/{index_id}.toml")
    except KnowledgeError as exc:
        raise InputError([f"--group: unknown index {index_id!r} ({exc})"]) from exc
    variants = data.get("variant", [])
    if len(variants) != 1:
        raise InputError([f"--group: index {index_id!r} has {len(variants)} site-specific "
                          "tables; map labels through the prognosis engine instead"])
    rows = variants[0].get("group", []) or variants[0].get("rule", [])
    return {str(r["label"]): float(r["median"]) for r in rows
            if r.get("median") is not None and "label" in r}


SCORE_BATCH_ROWS = 2_000_000  # rows per score_table call: bounds peak memory on huge cohorts


def score_with_engine(
    df: pl.DataFrame, indices: list[str] | None = None, batch_rows: int | None = None
) -> tuple[pl.DataFrame, list[IndexSpec], str | None]:
    """Score with the prognosis engine in row batches, keeping only the index columns (of
    ``indices`` when given); returns (table, indices found, note if unavailable)."""
    try:
        from brainmets.prognosis.vectorized import score_table
    except ImportError as exc:
        return df, [], ("automatic index scoring is unavailable "
                        f"(brainmets.prognosis.vectorized.score_table: {exc}); "
                        "only user-supplied group columns were validated")
    before = set(df.columns)
    prefixes = tuple(f"{i}_" for i in indices) if indices else None
    parts = []
    try:
        for part in df.iter_slices(max(1, batch_rows or SCORE_BATCH_ROWS)):
            scored = score_table(part)
            if not isinstance(scored, pl.DataFrame):
                scored = pl.from_pandas(scored)
            keep = [c for c in scored.columns if c not in before
                    and (prefixes is None or c.startswith(prefixes) or c == "input_errors")]
            # group labels as Categorical: a few distinct strings, cheap on 10 M rows
            parts.append(scored.select(keep).with_columns(
                pl.col(c).cast(pl.Categorical) for c in keep if c.endswith("_group")))
            del scored
    except InputError:
        raise
    except (BrainmetsError, pl.exceptions.PolarsError) as exc:  # engine rejects the table
        # reported in the validation report; the user's own group columns are still validated
        return df, [], f"the prognosis engine could not score this table: {exc}"
    added = pl.concat(parts, how="vertical_relaxed", rechunk=False) if parts else pl.DataFrame()
    out = pl.concat([df, added], how="horizontal") if added.width else df
    specs = []
    for col in added.columns:
        if not col.endswith("_group"):
            continue
        idx = col[: -len("_group")]
        median = f"{idx}_median_os" if f"{idx}_median_os" in added.columns else None
        score = f"{idx}_score" if f"{idx}_score" in added.columns else None
        reasons = [c for c in added.columns if c in (f"{idx}_missing", f"{idx}_reason",
                                                      f"{idx}_not_computed", "input_errors")]
        specs.append(IndexSpec(id=idx, group_col=col, median_col=median, score_col=score,
                               reason_cols=reasons))
    return out, specs, None


def _cindex(df: pl.DataFrame, predictor: str, sign: float) -> dict[str, Any]:
    from brainmets.cohort.cindex import concordance_counts

    sub = df.select(T, E, predictor).drop_nulls()
    if sub.height < 2:
        return {"value": None, "reason": "fewer than 2 scored patients"}
    pred = sub.get_column(predictor)
    if not pred.dtype.is_numeric():
        return {"value": None, "reason": f"{predictor} is not numeric"}
    c = concordance_counts(sub.get_column(T).to_numpy(), sign * pred.cast(pl.Float64).to_numpy(),
                           sub.get_column(E).to_numpy())
    if c.pairs == 0:
        return {"value": None, "reason": "no admissible pairs (no events?)"}
    return {"value": c.cindex, "concordant": c.concordant, "tied_predictions": c.tied,
            "admissible_pairs": c.pairs, "predictor": predictor,
            "direction": "higher predictor = longer survival"
            + ("" if sign > 0 else " (values negated: lower value = longer survival)")}


def _unscored_reasons(df: pl.DataFrame, spec: IndexSpec) -> list[dict[str, Any]]:
    """Counts of why rows got no group: invalid input (engine's message), else by primary site."""
    unscored = df.filter(pl.col(spec.group_col).is_null())
    if unscored.height == 0:
        return []
    if spec.origin == "user column":
        return [{"reason": f"column {spec.group_col} is empty", "n": unscored.height}]
    out: list[dict[str, Any]] = []
    rest = unscored
    for col in spec.reason_cols:
        bad = rest.filter(pl.col(col).is_not_null())
        rest = rest.filter(pl.col(col).is_null())
        counts = (bad.get_column(col).cast(pl.Utf8).str.slice(0, 160)
                  .value_counts(sort=True).head(8))
        out.extend({"reason": f"invalid input: {r[0]}", "n": int(r[1])}
                   for r in counts.iter_rows())
        if bad.height > counts.get_column("count").sum():
            out.append({"reason": "invalid input: other messages",
                        "n": int(bad.height - counts.get_column("count").sum())})
    if rest.height:
        if "primary_site" in rest.columns:
            counts = rest.get_column("primary_site").cast(pl.Utf8).fill_null("(missing)") \
                .value_counts(sort=True)
            out.extend({"reason": f"primary_site={r[0]}: index not applicable to this site or "
                                  "an input it needs is missing", "n": int(r[1])}
                       for r in counts.iter_rows())
        else:
            out.append({"reason": "no primary_site column; index not applicable or an input it "
                                  "needs is missing", "n": rest.height})
    return out


def validate_index(df: pl.DataFrame, spec: IndexSpec, *, plot: bool = True
                   ) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Results of one index on the cohort (``df`` has months in T and 0/1 in E)."""
    from brainmets.cohort.km import km_by_group, plot_km

    n_total = df.height
    cols = [T, E, spec.group_col, spec.median_col, spec.score_col, *spec.reason_cols,
            "primary_site"]
    df = df.select(list(dict.fromkeys(c for c in cols if c and c in df.columns)))  # used only
    scored = df.filter(pl.col(spec.group_col).is_not_null())
    res: dict[str, Any] = {"key": spec.key, "index": spec.id, "origin": spec.origin,
                           "group_column": spec.group_col,
                           "n_total": n_total, "n_scored": scored.height,
                           "n_not_scored": n_total - scored.height,
                           "not_scored_reasons": _unscored_reasons(df, spec)}
    res.update({k: v for k, v in _index_meta(spec.id).items() if v})
    plots: dict[str, bytes] = {}
    if scored.height == 0:
        res["note"] = "no patient in the cohort could be scored with this index"
        return res, plots

    km = km_by_group(scored, T, E, spec.group_col, keep_fitters=plot)
    published: dict[str, list[float]] = {}
    if spec.median_col:
        pub = (scored.group_by(spec.group_col)
               .agg(pl.col(spec.median_col).drop_nulls().unique().sort()))
        for label, vals in pub.iter_rows():
            published[_label(label)] = [float(v) for v in vals]
    groups = []
    for g in km.groups:
        row = g.as_dict()
        pubs = published.get(g.group, [])
        row["published_median"] = pubs[0] if len(pubs) == 1 else None
        if len(pubs) > 1:
            row["published_medians"] = pubs
            row["note"] = "label maps to several published medians (site-specific tables)"
        row["share"] = g.n / scored.height
        groups.append(row)
    res["groups"] = groups
    res["logrank"] = {"p": km.logrank_p, "chi2": km.logrank_chi2, "df": km.logrank_df}

    # C-index: published median of the group if known, else the score, else the numeric group
    if spec.median_col:
        res["cindex"] = _cindex(scored, spec.median_col, 1.0)
    elif spec.score_col:
        res["cindex"] = _cindex(scored, spec.score_col, 1.0)
    else:
        res["cindex"] = _cindex(scored, spec.group_col, 1.0 if spec.higher_is_better else -1.0)

    res["calibration"] = calibration(scored, spec) if spec.median_col else None
    if plot:
        plots["km"] = plot_km(km, title=spec.key, xlabel="months")
        if res["calibration"] and res["calibration"]["groups"]:
            plots["calibration"] = plot_calibration(res["calibration"], spec.key)
    return res, plots


def calibration(scored: pl.DataFrame, spec: IndexSpec) -> dict[str, Any]:
    """Observed KM median vs published median, per distinct published median (prediction)."""
    from brainmets.cohort.km import km_by_group

    assert spec.median_col is not None
    sub = scored.filter(pl.col(spec.median_col).is_not_null())
    km = km_by_group(sub, T, E, spec.median_col)
    rows: list[dict[str, Any]] = []
    for g in km.groups:
        pub = float(g.group)
        obs = g.median
        rows.append({"published_median": pub, "n": g.n, "events": g.events,
                     "observed_median": obs, "ci": g.ci,
                     "ratio_observed_to_published": None if obs is None else obs / pub,
                     "published_within_ci": (g.ci[0] is not None and g.ci[0] <= pub
                                             and (g.ci[1] is None or pub <= g.ci[1]))})
    rows.sort(key=lambda r: r["published_median"])
    ratios = [(r["ratio_observed_to_published"], r["n"]) for r in rows
              if r["ratio_observed_to_published"]]
    gm = (math.exp(sum(n * math.log(x) for x, n in ratios) / sum(n for _, n in ratios))
          if ratios else None)
    obs_known = [r for r in rows if r["observed_median"] is not None]
    ordered = all(a["observed_median"] <= b["observed_median"]
                  for a, b in zip(obs_known, obs_known[1:], strict=False))
    return {"groups": rows,
            "weighted_geometric_mean_ratio": gm,
            "observed_medians_ordered_like_published": ordered if len(obs_known) > 1 else None,
            "published_within_observed_ci": sum(r["published_within_ci"] for r in rows),
            "n_groups": len(rows),
            "method": "KM median per published-median group; ratio = observed / published; "
                      "geometric mean weighted by group size"}


def plot_calibration(cal: dict[str, Any], title: str) -> bytes:

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    try:
        xs = [r["published_median"] for r in cal["groups"]]
        hi_all = max(xs + [r["observed_median"] or 0 for r in cal["groups"]]
                     + [r["ci"][1] or 0 for r in cal["groups"]]) * 1.15
        for r in cal["groups"]:
            x, y = r["published_median"], r["observed_median"]
            lo, hi = r["ci"]
            if y is None:
                ax.annotate("not reached", (x, hi_all * 0.95), fontsize=7, ha="center")
                continue
            ax.errorbar([x], [y], yerr=[[y - (lo if lo is not None else y)],
                                        [(hi if hi is not None else hi_all) - y]],
                        fmt="o", color="C0", capsize=3)
            ax.annotate(f"n={r['n']}", (x, y), textcoords="offset points", xytext=(5, 4),
                        fontsize=7)
        ax.plot([0, hi_all], [0, hi_all], color="grey", ls="--", lw=0.8,
                label="observed = published")
        ax.set_xlim(0, hi_all)
        ax.set_ylim(0, hi_all)
        ax.set_xlabel("published median OS (months)")
        ax.set_ylabel("observed KM median OS (months, 95% CI)")
        ax.set_title(f"{title}: calibration", fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
        return figure_png(fig)
    finally:
        plt.close(fig)


def parse_group_args(values: list[str], columns: list[str]) -> list[IndexSpec]:
    """``COL``, ``COL=INDEX``, ``COL:desc`` (lower value = longer survival) -> IndexSpec."""
    specs = []
    for raw in values:
        higher = not raw.endswith(":desc")
        text = raw.removesuffix(":desc")
        col, _, index = text.partition("=")
        if col not in columns:
            raise InputError([f"--group: no such column {col!r} "
                              f"(columns: {', '.join(columns[:30])})"])
        specs.append(IndexSpec(id=index or col, group_col=col, origin="user column",
                               higher_is_better=higher))
    return specs


def prepare(df: pl.DataFrame, time: str, event: str, unit: str) -> tuple[pl.DataFrame, dict]:
    """Add months (T) and event (E) columns; drop rows without them, counting them."""
    from brainmets.cohort.io import survival_columns

    if unit not in ("months", "days"):
        raise InputError([f"--unit: expected months|days, got {unit!r}"])
    for c in (time, event):
        if c not in df.columns:
            raise InputError([f"{c}: no such column (columns: {', '.join(df.columns[:30])})"])
    t, e = survival_columns(df, time, event)
    months = t / DAYS_PER_MONTH if unit == "days" else t
    out = df.with_columns(months.alias(T), e.alias(E))
    missing = {"missing_time": int(out.get_column(T).null_count()),
               "missing_event": int(out.get_column(E).null_count())}
    out = out.filter(pl.col(T).is_not_null() & pl.col(E).is_not_null())
    missing["total_excluded"] = df.height - out.height
    return out, missing


def apply_column_map(df: pl.DataFrame, mapping: list[str]) -> pl.DataFrame:
    """``FIELD=COL``: use column COL as the patient field FIELD (e.g. ``kps=ph.karno``)."""
    exprs = []
    for item in mapping:
        field_name, sep, col = item.partition("=")
        if not sep or not field_name or not col:
            raise InputError([f"--column: expected FIELD=COLUMN, got {item!r}"])
        if col not in df.columns:
            raise InputError([f"--column: no such column {col!r} "
                              f"(columns: {', '.join(df.columns[:30])})"])
        exprs.append(pl.col(col).alias(field_name))
    return df.with_columns(exprs) if exprs else df


def validate_cohort(
    df: pl.DataFrame, time: str, event: str, *, unit: str = "months",
    indices: list[str] | None = None, groups: list[str] | None = None, plots: bool = True,
    use_engine: bool = True, column_map: list[str] | None = None,
) -> tuple[dict[str, Any], dict[str, dict[str, bytes]]]:
    """Validate every applicable index (and user group columns); returns (results, PNGs)."""
    from brainmets.cohort.km import km_by_group

    df = apply_column_map(df, column_map or [])
    data, excluded = prepare(df, time, event, unit)
    user_specs = parse_group_args(groups or [], df.columns)
    notes: list[str] = []
    specs: list[IndexSpec] = []
    if use_engine:
        scored, engine_specs, note = score_with_engine(data, indices)
        if note:
            notes.append(note)
        absent = [c for c in CORE_FIELDS if c not in df.columns]
        if engine_specs and absent:
            notes.append("patient fields most indices need are absent from this table: "
                         + ", ".join(absent) + " (map existing columns with --column FIELD=COL)")
        data = scored
        specs.extend(engine_specs)
    for s in user_specs:
        if s.id != s.group_col:  # COL=INDEX: published medians from the knowledge base
            medians = published_group_medians(s.id)
            mcol = f"_{s.group_col}_published_median"
            data = data.with_columns(
                pl.col(s.group_col).cast(pl.Utf8)
                .replace_strict(medians, default=None, return_dtype=pl.Float64).alias(mcol))
            unknown = (data.filter(pl.col(s.group_col).is_not_null() & pl.col(mcol).is_null())
                       .get_column(s.group_col).unique().to_list())
            if unknown:
                raise InputError([f"{s.group_col}: labels {unknown[:5]} are not groups of "
                                  f"{s.id} (known: {', '.join(medians)})"])
            s.median_col = mcol
        specs.append(s)
    if indices:
        known = {s.id for s in specs}
        unknown = [i for i in indices if i not in known]
        if unknown:
            raise InputError([f"--indices: {i!r} was not scored for this cohort (available: "
                              f"{', '.join(sorted(known)) or 'none'})" for i in unknown])
        specs = [s for s in specs if s.id in indices or s.origin == "user column"]

    overall = km_by_group(data, T, E, None).groups[0].as_dict()
    results: dict[str, Any] = {
        "cohort": {"n_rows": df.height, "n_analysed": data.height, "excluded": excluded,
                   "time_column": time, "event_column": event, "time_unit": unit,
                   "median_months": overall["median"], "ci": overall["ci"],
                   "events": overall["events"]},
        "indices": [], "notes": notes,
        "cindex_direction": "predictor = published median of the patient's group (or the index "
                            "score if no median is published); higher = longer survival; "
                            "0.5 = no discrimination",
    }
    images: dict[str, dict[str, bytes]] = {}
    results["column_map"] = list(column_map or [])
    for spec in specs:
        res, png = validate_index(data, spec, plot=plots)
        results["indices"].append(res)
        images[spec.key] = png
    if not specs:
        notes.append("no index could be evaluated: no scored index and no --group column")
    return results, images


def np_float(x: Any) -> Any:  # JSON helper for numpy scalars
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")
