"""Vectorised cohort scoring: every index over a table of flattened patients.

Same TOML tables as the per-patient engine (:mod:`brainmets.prognosis.tables`), compiled into
polars expressions; no per-row Python. Invalid rows get empty index columns and their problems
in the ``input_errors`` column (and, via :func:`score_frame`, a long errors table).
"""

from __future__ import annotations

import functools
from functools import reduce
from typing import Any

import polars as pl

from brainmets.prognosis.columns import column_specs, typed_columns
from brainmets.prognosis.features import frame_features
from brainmets.prognosis.tables import (
    EPS,
    Condition,
    Factor,
    IndexTable,
    Variant,
    index_tables,
    reachable_scores,
)

ERRORS_COLUMN = "input_errors"
_F = "__f_"  # prefix of temporary feature columns


def output_columns() -> list[str]:
    """Names of the columns :func:`score_table` adds, in order."""
    cols = []
    for i in index_tables():
        cols += [f"{i}_score", f"{i}_group", f"{i}_median_os"]
    return cols


def _cond(c: Condition, x: pl.Expr) -> pl.Expr:
    if c.values is not None:
        if len(c.values) == 1:
            v = c.values[0]
            if isinstance(v, bool):
                return x if v else ~x
            return x == v
        return x.is_in(list(c.values))
    parts = []
    if c.min is not None:
        parts.append(x >= c.min - EPS)
    if c.max is not None:
        parts.append(x <= c.max + EPS)
    if c.lt is not None:
        parts.append(x < c.lt - EPS)
    if c.gt is not None:
        parts.append(x > c.gt + EPS)
    return reduce(lambda a, b: a & b, parts)


def _chain(pairs: list[tuple[pl.Expr, Any]], dtype: Any) -> pl.Expr:
    """when(c1).then(v1).when(c2)... otherwise null, with an explicit dtype."""
    expr: Any = pl
    for cond, value in pairs:
        value = value if isinstance(value, pl.Expr) else pl.lit(value, dtype=dtype)
        expr = expr.when(cond).then(value)
    if expr is pl:
        return pl.lit(None, dtype=dtype)
    return expr.otherwise(pl.lit(None, dtype=dtype))


def _variant_mask(v: Variant) -> pl.Expr:
    mask = pl.lit(True) if "*" in v.sites else pl.col("primary_site").is_in(list(v.sites))
    if v.histology is not None:
        mask = mask & pl.col("primary_histology").is_in(list(v.histology))
    return mask.fill_null(False)


def _key(score: float) -> int:
    return int(round(score * 2))


_STRIDE = 100  # code = variant number * _STRIDE + (2 * score, or the rule number)


def _variant_stage(table: IndexTable, k: int, v: Variant) -> pl.Expr:
    """Stage 1: the variant's local code (2 x score, or the matching rule number), Int32."""
    if table.kind == "classes":
        need = reduce(lambda a, b: a & b, [pl.col(_F + i).is_not_null() for i in table.all_inputs])
        pairs = []
        for r, rule in enumerate(v.rules):
            cond = reduce(lambda a, b: a & b,
                          [_cond(c, pl.col(_F + n)) for n, c in rule.when], pl.lit(True))
            pairs.append((need & cond, r))
        return _chain(pairs, pl.Int32)
    return reduce(lambda a, b: a + b, [pl.col(_factor_column(f)) for f in v.factors])


def _factor_signature(f: Factor) -> tuple:
    return (f.input, f.if_missing_points,
            tuple((b.cond, b.points) for b in f.bands))


def _factor_column(f: Factor) -> str:
    """Temp column holding 2 x points of this factor; equal factors share one column."""
    return "__p_" + str(abs(hash(_factor_signature(f))))


def _factor_expr(f: Factor) -> pl.Expr:
    x = pl.col(_F + f.input)
    p = _chain([(_cond(b.cond, x), _key(b.points)) for b in f.bands], pl.Int32)
    if f.if_missing_points is not None:
        fill = pl.lit(_key(f.if_missing_points), pl.Int32)
        p = pl.when(x.is_null()).then(fill).otherwise(p)
    return p.alias(_factor_column(f))


def _factor_stage(tables: list[IndexTable]) -> list[pl.Expr]:
    """Stage 0: every distinct factor's points, computed once for all indices."""
    seen: dict[str, pl.Expr] = {}
    for t in tables:
        for v in t.variants:
            for f in v.factors:
                name = _factor_column(f)
                if name not in seen:
                    seen[name] = _factor_expr(f)
    return list(seen.values())


def _lookup(table: IndexTable) -> tuple[dict[int, str], dict[int, float | None], list[str]]:
    """code -> group label and code -> median, for every variant of the index."""
    labels: dict[int, str] = {}
    medians: dict[int, float | None] = {}
    for k, v in enumerate(table.variants):
        if table.kind == "classes":
            for r, rule in enumerate(v.rules):
                labels[k * _STRIDE + r] = rule.label
                medians[k * _STRIDE + r] = rule.median
            continue
        for sc in reachable_scores(v):
            g = v.group_for(sc)
            if g is not None:
                labels[k * _STRIDE + _key(sc)] = g.label
                medians[k * _STRIDE + _key(sc)] = g.median
    return labels, medians, list(dict.fromkeys(labels.values()))


@functools.cache
def _lookup_series(index_id: str) -> tuple[pl.Series, pl.Series]:
    """Look-up arrays indexed by code: group label and median (null where unused)."""
    labels, medians, _order = _lookup(index_tables()[index_id])
    size = max(labels) + 1
    lab: list[str | None] = [None] * size
    med: list[float | None] = [None] * size
    for code, label in labels.items():
        lab[code] = label
        med[code] = medians[code]
    order: list[str] = list(dict.fromkeys(x for x in lab if x is not None))
    return pl.Series(lab, dtype=pl.Enum(order)), pl.Series(med, dtype=pl.Float64)


def _code_expr(table: IndexTable, valid: pl.Expr) -> pl.Expr:
    """Stage 2: one Int32 code per index (null where not applicable or not computable)."""
    pairs = [
        (valid & _variant_mask(v), _variant_stage(table, k, v) + k * _STRIDE)
        for k, v in enumerate(table.variants)
    ]
    return _chain(pairs, pl.Int32).alias(f"__c_{table.id}")


_HIST_RULE = (  # the model rule: histology applies to NSCLC only (on the typed values)
    pl.col("primary_histology").is_not_null()
    & pl.col("primary_site").is_not_null()
    & (pl.col("primary_site") != "nsclc")
)


@functools.cache
def _plan(schema_key: tuple) -> tuple[dict, list[str], list[list[pl.Expr]], list[pl.Expr]]:
    """Expressions for one input schema, built once: (typed, bad columns, stages, outputs)."""
    typed = typed_columns(dict(schema_key))
    bad_cols = [c for c, (_t, errs) in typed.items() if errs]
    flags = [f"__bad_{c}" for c in bad_cols] + ["__bad_histology_rule"]
    tables = list(index_tables().values())
    valid = ~pl.col("__invalid")
    stages = [
        [t for t, _e in typed.values()]
        + [reduce(lambda a, b: a | b, [c for c, _m in typed[col][1]]).alias(f"__bad_{col}")
           for col in bad_cols],
        [_HIST_RULE.alias("__bad_histology_rule")],
        [pl.any_horizontal(flags).alias("__invalid")],
        [e.alias(_F + k) for k, e in frame_features(None).items()],
        _factor_stage(tables),
        [_code_expr(t, valid) for t in tables],
    ]
    outputs: list[pl.Expr] = []
    for t in tables:
        code = pl.col(f"__c_{t.id}")
        label_lut, median_lut = _lookup_series(t.id)
        if t.kind == "classes":
            score = pl.lit(None, dtype=pl.Float64)
        else:
            score = (code % _STRIDE).cast(pl.Float64) / 2
        outputs += [  # gathers from small look-up arrays: no hashing, no per-row Python
            score.alias(f"{t.id}_score"),
            pl.lit(label_lut).gather(code).alias(f"{t.id}_group"),
            pl.lit(median_lut).gather(code).alias(f"{t.id}_median_os"),
        ]
    outputs.append(pl.col("__invalid"))
    return typed, bad_cols, stages, outputs


def score_frame(df: pl.DataFrame, row_offset: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Score a polars frame; returns (input + index columns, errors table row/field/reason).

    ``row`` in the errors table is 1-based over the data rows, plus ``row_offset``.
    """
    typed, bad_cols, stages, outputs = _plan(tuple(df.schema.items()))
    lf = df.lazy().select(stages[0])
    for stage in stages[1:]:
        lf = lf.with_columns(stage)
    res = lf.select(outputs).collect()
    invalid = res.get_column("__invalid")
    scores = res.drop("__invalid")
    hist_msg = pl.format("applies to site nsclc only, got site '{}'", pl.col("primary_site"))
    n_bad = int(invalid.sum())
    if n_bad:
        # messages only for the bad rows (string formatting is the expensive part)
        mask = invalid
        bad_in = df.with_row_index("__row", offset=row_offset + 1).filter(mask)
        msgs = [
            pl.coalesce([pl.when(c).then(m) for c, m in typed[col][1]]).alias(col)
            for col in bad_cols
        ]
        errs_wide = bad_in.select([pl.col("__row").alias("row"), *msgs])
        rule_msgs = (  # the cross-field rule reads typed values
            # with_columns broadcasts a literal (absent column) to every bad row
            bad_in.with_columns(typed["primary_site"][0], typed["primary_histology"][0])
            .select(pl.when(_HIST_RULE).then(hist_msg).alias("primary_histology__rule"))
        )
        errs_wide = pl.concat([errs_wide, rule_msgs], how="horizontal")
        errors = (
            errs_wide.unpivot(index="row", variable_name="field", value_name="reason")
            .filter(pl.col("reason").is_not_null())
            .with_columns(pl.col("field").str.replace("__rule", "", literal=True))
            .sort("row", maintain_order=True)
        )
        joined = errors.group_by("row", maintain_order=True).agg(
            pl.format("{}: {}", "field", "reason").str.join("; ").alias(ERRORS_COLUMN)
        )
        err_col = (
            pl.DataFrame({"row": pl.int_range(row_offset + 1, row_offset + 1 + df.height,
                                              eager=True, dtype=pl.UInt32)})
            .join(joined, on="row", how="left", maintain_order="left")
            .get_column(ERRORS_COLUMN)
        )
        scores = scores.with_columns(err_col)
    else:
        errors = pl.DataFrame(schema={"row": pl.UInt32, "field": pl.String, "reason": pl.String})
        scores = scores.with_columns(pl.lit(None, dtype=pl.String).alias(ERRORS_COLUMN))
    out = pl.concat(
        [df.drop([c for c in scores.columns if c in df.columns]), scores], how="horizontal"
    )
    return out, errors


def score_table(table: Any) -> Any:
    """Score a polars or pandas DataFrame; returns the same kind with the index columns added.

    Columns: ``<index>_score``, ``<index>_group``, ``<index>_median_os`` for every index and
    ``input_errors`` (null for valid rows). See ``docs/score-columns.md``.
    """
    if isinstance(table, pl.DataFrame):
        return score_frame(table)[0]
    if isinstance(table, pl.LazyFrame):
        return score_frame(table.collect())[0].lazy()
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover
        pd = None
    if pd is not None and isinstance(table, pd.DataFrame):
        return score_frame(pl.from_pandas(table))[0].to_pandas()
    raise TypeError(f"score_table expects a polars or pandas DataFrame, got {type(table).__name__}")


__all__ = ["ERRORS_COLUMN", "column_specs", "output_columns", "score_frame", "score_table"]
