"""Reading cohort tables (CSV / Parquet / JSON Lines) into polars, with clear column errors."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from brainmets.model import InputError

SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet",
            ".jsonl": "jsonl", ".ndjson": "jsonl"}

DAYS_PER_MONTH = 365.25 / 12  # calendar conversion, not a clinical number


def table_format(path: Path) -> str:
    """The table format implied by a file name (error naming the allowed suffixes)."""
    fmt = SUFFIXES.get(Path(path).suffix.lower())
    if fmt is None:
        raise InputError([f"FILE: unsupported file type {Path(path).suffix!r} "
                          f"(expected one of {', '.join(sorted(SUFFIXES))})"])
    return fmt


def scan_table(path: Path) -> pl.LazyFrame:
    """A lazy polars frame over the file (nothing is loaded row by row)."""
    path = Path(path)
    fmt = table_format(path)
    if not path.is_file():
        raise InputError([f"FILE: no such file: {path}"])
    try:
        if fmt == "csv":
            return pl.scan_csv(path, null_values=["", "NA", "NaN", "nan", "null"],
                               infer_schema_length=10000)
        if fmt == "tsv":
            return pl.scan_csv(path, separator="\t", null_values=["", "NA", "NaN", "nan", "null"],
                               infer_schema_length=10000)
        if fmt == "parquet":
            return pl.scan_parquet(path)
        return pl.scan_ndjson(path, infer_schema_length=10000)
    except (pl.exceptions.PolarsError, OSError) as exc:  # unreadable or malformed file
        raise InputError([f"FILE: cannot read {path}: {exc}"]) from exc


def read_table(path: Path, columns: list[str] | None = None) -> pl.DataFrame:
    """Read the table (optionally only ``columns``); unknown columns name the field."""
    lf = scan_table(path)
    try:
        names = lf.collect_schema().names()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError([f"FILE: cannot read {path}: {_short(exc)}"]) from exc
    if columns:
        missing = [c for c in dict.fromkeys(columns) if c not in names]
        if missing:
            raise InputError([f"{c}: no such column in {Path(path).name} "
                              f"(columns: {', '.join(names[:30])})" for c in missing])
        lf = lf.select(list(dict.fromkeys(columns)))
    try:
        return lf.collect()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError([f"FILE: cannot read {path}: {_short(exc)}"]) from exc


def _short(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__


def survival_columns(df: pl.DataFrame, time: str, event: str) -> tuple[pl.Series, pl.Series]:
    """Validated (time float, event 0/1 int) series; errors name the column and the bad value."""
    errors: list[str] = []
    t = df.get_column(time)
    if not t.dtype.is_numeric():
        try:
            t = t.cast(pl.Float64, strict=True)
        except pl.exceptions.PolarsError:
            errors.append(f"{time}: expected numbers (survival time), got {t.dtype}")
    if not errors:
        t = t.cast(pl.Float64)
        if (t < 0).any():
            errors.append(f"{time}: negative survival time (must be >= 0)")
    ev = df.get_column(event)
    if ev.dtype == pl.Boolean:
        ev = ev.cast(pl.Int8)
    elif not ev.dtype.is_numeric():
        lowered = ev.cast(pl.Utf8).str.to_lowercase()
        mapping = {"true": 1, "false": 0, "dead": 1, "alive": 0, "yes": 1, "no": 0,
                   "1": 1, "0": 0, "event": 1, "censored": 0}
        bad = lowered.filter(~lowered.is_in(list(mapping)) & lowered.is_not_null()).unique()
        if bad.len():
            errors.append(f"{event}: expected 0/1 (1 = event), got {bad.to_list()[:5]}")
        else:
            ev = lowered.replace_strict(mapping, default=None, return_dtype=pl.Int8)
    if not errors:
        vals = ev.drop_nulls().unique().to_list()
        if any(v not in (0, 1) for v in vals):
            errors.append(f"{event}: expected 0/1 (1 = event), got values {sorted(vals)[:6]}")
    if errors:
        raise InputError(errors)
    return t, ev.cast(pl.Int8)
