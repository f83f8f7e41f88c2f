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
from brainmets.prognosis.tables import EPS, Condition, IndexTable, Variant, index_tables

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


def _variant_exprs(table: IndexTable, v: Variant) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    if table.kind == "classes":
        need = reduce(lambda a, b: a & b, [pl.col(_F + i).is_not_null() for i in table.all_inputs])
        pairs_g, pairs_m = [], []
        for rule in v.rules:
            cond = reduce(
                lambda a, b: a & b,
                [_cond(c, pl.col(_F + name)) for name, c in rule.when],
                pl.lit(True),
            )
            pairs_g.append((need & cond, rule.label))
            pairs_m.append((need & cond, rule.median))
        return (
            pl.lit(None, dtype=pl.Float64),
            _chain(pairs_g, pl.String),
            _chain(pairs_m, pl.Float64),
        )
    pts = []
    for fac in v.factors:
        x = pl.col(_F + fac.input)
        p = _chain([(_cond(b.cond, x), b.points) for b in fac.bands], pl.Float64)
        if fac.if_missing_points is not None:
            p = pl.when(x.is_null()).then(pl.lit(fac.if_missing_points)).otherwise(p)
        pts.append(p)
    score = reduce(lambda a, b: a + b, pts)
    group = _chain(
        [(score.is_between(g.min - 1e-9, g.max + 1e-9), g.label) for g in v.groups], pl.String
    )
    median = _chain(
        [(score.is_between(g.min - 1e-9, g.max + 1e-9), g.median) for g in v.groups],
        pl.Float64,
    )
    return score, group, median


def _index_exprs(table: IndexTable, valid: pl.Expr) -> list[pl.Expr]:
    per_variant = [(_variant_mask(v), *_variant_exprs(table, v)) for v in table.variants]
    out = []
    for k, (suffix, dtype) in enumerate(
        (("score", pl.Float64), ("group", pl.String), ("median_os", pl.Float64))
    ):
        pairs = [(valid & pv[0], pv[k + 1]) for pv in per_variant]
        out.append(_chain(pairs, dtype).alias(f"{table.id}_{suffix}"))
    return out


def score_frame(df: pl.DataFrame, row_offset: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Score a polars frame; returns (input + index columns, errors table row/field/reason).

    ``row`` in the errors table is 1-based over the data rows, plus ``row_offset``.
    """
    typed = typed_columns(dict(df.schema))
    err_cols = {col: e for col, (_t, e) in typed.items() if e is not None}
    work = df.select(
        [t for t, _e in typed.values()]
        + [e.alias(f"__err_{col}") for col, e in err_cols.items()]
    )
    err_names = [f"__err_{c}" for c in err_cols]
    # the model rule: histology applies to NSCLC only
    hist_err = (
        pl.when(
            pl.col("primary_histology").is_not_null()
            & pl.col("primary_site").is_not_null()
            & (pl.col("primary_site") != "nsclc")
        )
        .then(pl.format("applies to site nsclc only, got site '{}'", pl.col("primary_site")))
    )
    work = work.with_columns(
        pl.coalesce(pl.col("__err_primary_histology"), hist_err).alias("__err_primary_histology")
        if "__err_primary_histology" in err_names
        else hist_err.alias("__err_primary_histology")
    )
    if "__err_primary_histology" not in err_names:
        err_names.append("__err_primary_histology")
    any_err = reduce(lambda a, b: a | b, [pl.col(c).is_not_null() for c in err_names])
    work = work.with_columns(any_err.alias("__invalid"))
    feats = frame_features(work)
    work = work.with_columns([e.alias(_F + k) for k, e in feats.items()])
    valid = ~pl.col("__invalid")
    exprs = []
    for table in index_tables().values():
        exprs.extend(_index_exprs(table, valid))
    n_bad = int(work.get_column("__invalid").sum())
    if n_bad:
        msg = pl.concat_str(
            [pl.format(f"{c[6:]}: {{}}", pl.col(c)) for c in err_names],
            separator="; ",
            ignore_nulls=True,
        )
        exprs.append(pl.when(pl.col("__invalid")).then(msg).otherwise(None).alias(ERRORS_COLUMN))
    else:
        exprs.append(pl.lit(None, dtype=pl.String).alias(ERRORS_COLUMN))
    scores = work.select(exprs)
    out = pl.concat(
        [df.drop([c for c in scores.columns if c in df.columns]), scores], how="horizontal"
    )
    if n_bad:
        bad = work.with_row_index("row", offset=row_offset + 1).filter(pl.col("__invalid"))
        errors = (
            bad.select(["row", *err_names])
            .unpivot(index="row", variable_name="field", value_name="reason")
            .filter(pl.col("reason").is_not_null())
            .with_columns(pl.col("field").str.slice(6))
            .sort("row", maintain_order=True)
        )
    else:
        errors = pl.DataFrame(
            schema={"row": pl.UInt32, "field": pl.String, "reason": pl.String}
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
