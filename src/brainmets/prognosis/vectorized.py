"""Vectorised cohort scoring: every index over a table of flattened patients.

Same TOML tables as the per-patient engine (:mod:`brainmets.prognosis.tables`), compiled into
polars expressions; no per-row Python. Invalid rows get empty index columns and their problems
in the ``input_errors`` column (and, via :func:`score_frame`, a long errors table).
"""

from __future__ import annotations

from functools import reduce
from typing import Any

import polars as pl

from brainmets.prognosis.columns import column_specs, typed_columns
from brainmets.prognosis.features import frame_features
from brainmets.prognosis.tables import (
    EPS,
    Condition,
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


def _chain(pairs: list[tuple[pl.Expr, Any]], dtype: pl.DataType) -> pl.Expr:
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


def _variant_stage(table: IndexTable, k: int, v: Variant) -> list[pl.Expr]:
    """Stage 1: the variant's score (points) or class label (classes) as a temp column."""
    name = f"__v_{table.id}_{k}"
    if table.kind == "classes":
        need = reduce(lambda a, b: a & b, [pl.col(_F + i).is_not_null() for i in table.all_inputs])
        pairs = []
        for rule in v.rules:
            cond = reduce(lambda a, b: a & b,
                          [_cond(c, pl.col(_F + n)) for n, c in rule.when], pl.lit(True))
            pairs.append((need & cond, rule.label))
        return [_chain(pairs, pl.String).alias(name)]
    pts = []
    for fac in v.factors:
        x = pl.col(_F + fac.input)
        p = _chain([(_cond(b.cond, x), b.points) for b in fac.bands], pl.Float64)
        if fac.if_missing_points is not None:
            p = pl.when(x.is_null()).then(pl.lit(fac.if_missing_points)).otherwise(p)
        pts.append(p)
    return [reduce(lambda a, b: a + b, pts).alias(name)]


def _variant_outputs(table: IndexTable, k: int, v: Variant) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """Stage 2: (score, group, median) from the temp column, via look-up tables."""
    col = pl.col(f"__v_{table.id}_{k}")
    if table.kind == "classes":
        medians = {r.label: r.median for r in v.rules}
        return (
            pl.lit(None, dtype=pl.Float64),
            col,
            col.replace_strict(medians, default=None, return_dtype=pl.Float64),
        )
    labels: dict[int, str] = {}
    medians_by_key: dict[int, float | None] = {}
    for sc in reachable_scores(v):
        g = v.group_for(sc)
        labels[_key(sc)] = g.label if g else None
        medians_by_key[_key(sc)] = g.median if g else None
    key = (col * 2).round().cast(pl.Int64)
    return (
        col,
        key.replace_strict(labels, default=None, return_dtype=pl.String),
        key.replace_strict(medians_by_key, default=None, return_dtype=pl.Float64),
    )


def score_frame(df: pl.DataFrame, row_offset: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Score a polars frame; returns (input + index columns, errors table row/field/reason).

    ``row`` in the errors table is 1-based over the data rows, plus ``row_offset``.
    """
    typed = typed_columns(dict(df.schema))
    # the model rule: histology applies to NSCLC only (checked on the typed values)
    hist_rule = (
        pl.col("primary_histology").is_not_null()
        & pl.col("primary_site").is_not_null()
        & (pl.col("primary_site") != "nsclc")
    )
    hist_msg = pl.format("applies to site nsclc only, got site '{}'", pl.col("primary_site"))
    bad_cols = [c for c, (_t, errs) in typed.items() if errs]
    work = df.select(
        [t for t, _e in typed.values()]
        + [reduce(lambda a, b: a | b, [c for c, _m in typed[col][1]]).alias(f"__bad_{col}")
           for col in bad_cols]
    )
    work = work.with_columns(hist_rule.alias("__bad_histology_rule"))
    flags = [f"__bad_{c}" for c in bad_cols] + ["__bad_histology_rule"]
    work = work.with_columns(pl.any_horizontal(flags).alias("__invalid"))
    work = work.with_columns([e.alias(_F + k) for k, e in frame_features(work).items()])
    tables = list(index_tables().values())
    work = work.with_columns(
        [e for t in tables for k, v in enumerate(t.variants) for e in _variant_stage(t, k, v)]
    )
    valid = ~pl.col("__invalid")
    exprs = []
    for t in tables:
        outs = [(_variant_mask(v), *_variant_outputs(t, k, v)) for k, v in enumerate(t.variants)]
        for j, (suffix, dtype) in enumerate(
            (("score", pl.Float64), ("group", pl.String), ("median_os", pl.Float64))
        ):
            if len(outs) == 1:
                e = pl.when(valid & outs[0][0]).then(outs[0][j + 1]).otherwise(
                    pl.lit(None, dtype=dtype))
            else:
                e = _chain([(valid & o[0], o[j + 1]) for o in outs], dtype)
            exprs.append(e.alias(f"{t.id}_{suffix}"))
    scores = work.select(exprs)
    n_bad = int(work.get_column("__invalid").sum())
    if n_bad:
        # messages only for the bad rows (string formatting is the expensive part)
        mask = work["__invalid"]
        bad_in = df.with_row_index("__row", offset=row_offset + 1).filter(mask)
        msgs = [
            pl.coalesce([pl.when(c).then(m) for c, m in typed[col][1]]).alias(col)
            for col in bad_cols
        ]
        errs_wide = bad_in.select([pl.col("__row").alias("row"), *msgs])
        rule_msgs = work.filter(mask).select(  # the cross-field rule reads typed values
            pl.when(hist_rule).then(hist_msg).alias("primary_histology__rule")
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
