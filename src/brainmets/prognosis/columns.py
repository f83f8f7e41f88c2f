"""Flattened patient columns for cohort scoring, derived from the patient model.

A nested field ``primary.her2`` becomes the column ``primary_her2``; see ``docs/score-columns.md``.
Only the sections the indices read are flattened (top-level scalars, ``primary``,
``brain_metastases`` scalars, ``labs``); other columns pass through untouched.

:func:`typed_columns` casts and validates every known column with polars expressions (no
per-row Python) and returns, per column, the typed expression and an error-reason expression
(null where the value is fine). The rules mirror :func:`brainmets.model.parse_patient`.
"""

from __future__ import annotations

import functools
import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from brainmets.model import Patient

FLATTENED_SECTIONS = ("primary", "brain_metastases", "labs")
TRUE_WORDS = ("true", "t", "yes", "y", "on", "1")
FALSE_WORDS = ("false", "f", "no", "n", "off", "0")
WHOLE_NUMBER_FIELDS = ("age", "kps", "ecog")  # model rejects booleans and fractions here


@dataclass(frozen=True)
class ColumnSpec:
    column: str
    path: str
    kind: str  # int | float | bool | enum | str
    allowed: tuple[str, ...] | None = None
    ge: float | None = None
    le: float | None = None
    gt: float | None = None
    lt: float | None = None
    max_length: int | None = None


def _unwrap(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else None
    return annotation


def _spec(column: str, path: str, finfo: Any) -> ColumnSpec | None:
    ann = _unwrap(finfo.annotation)
    if typing.get_origin(ann) is typing.Literal:
        kind, allowed = "enum", tuple(str(a) for a in typing.get_args(ann))
    elif ann is bool:
        kind, allowed = "bool", None
    elif ann is int:
        kind, allowed = "int", None
    elif ann is float:
        kind, allowed = "float", None
    elif ann is str:
        kind, allowed = "str", None
    else:
        return None
    bounds: dict[str, Any] = {}
    for m in finfo.metadata:
        for key in ("ge", "le", "gt", "lt", "max_length"):
            if getattr(m, key, None) is not None:
                bounds[key] = getattr(m, key)
    return ColumnSpec(column, path, kind, allowed, **bounds)


@functools.cache
def column_specs() -> dict[str, ColumnSpec]:
    """Column name -> spec, in model order."""
    out: dict[str, ColumnSpec] = {}
    for name, finfo in Patient.model_fields.items():
        ann = _unwrap(finfo.annotation)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            if name not in FLATTENED_SECTIONS:
                continue
            for sub, sinfo in ann.model_fields.items():
                spec = _spec(f"{name}_{sub}", f"{name}.{sub}", sinfo)
                if spec:
                    out[spec.column] = spec
        else:
            spec = _spec(name, name, finfo)
            if spec:
                out[spec.column] = spec
    return out


def _range_text(s: ColumnSpec) -> str | None:
    parts = []
    if s.ge is not None:
        parts.append(f">= {s.ge:g}")
    if s.gt is not None:
        parts.append(f"> {s.gt:g}")
    if s.le is not None:
        parts.append(f"<= {s.le:g}")
    if s.lt is not None:
        parts.append(f"< {s.lt:g}")
    return " and ".join(parts) or None


def typed_columns(schema: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Per known column: (typed value expression, error reason expression or None).

    ``schema`` is the input frame's schema (column -> polars dtype); absent columns are null.
    """
    import polars as pl

    out: dict[str, tuple[Any, Any]] = {}
    for col, s in column_specs().items():
        dtype = schema.get(col)
        if dtype is None or dtype == pl.Null:
            target = {"int": pl.Int64, "float": pl.Float64, "bool": pl.Boolean}.get(
                s.kind, pl.String
            )
            out[col] = (pl.lit(None, dtype=target).alias(col), None)
            continue
        raw = pl.col(col)
        errors: list[Any] = []
        if s.kind in ("int", "float"):
            if dtype == pl.String:
                txt = raw.str.strip_chars()
                num = pl.when(txt == "").then(None).otherwise(txt).cast(pl.Float64, strict=False)
                present = raw.is_not_null() & (txt != "")
                errors.append(
                    pl.when(present & num.is_null())
                    .then(pl.format("expected a number, got '{}'", raw))
                )
            elif dtype == pl.Boolean:
                num = raw.cast(pl.Float64)
                if s.column in WHOLE_NUMBER_FIELDS:
                    msg = pl.lit("expected an integer, got a boolean")
                    errors.append(pl.when(raw.is_not_null()).then(msg))
            elif dtype.is_numeric():
                num = raw.cast(pl.Float64)
            else:
                num = pl.lit(None, dtype=pl.Float64)
                msg = pl.lit(f"expected a number, got {dtype}")
                errors.append(pl.when(raw.is_not_null()).then(msg))
            shown = raw.cast(pl.String)
            if s.kind == "int":
                errors.append(
                    pl.when(num.is_not_null() & (num != num.floor()))
                    .then(pl.format("expected a whole number, got {}", num))
                )
            cond = pl.lit(False)
            if s.ge is not None:
                cond = cond | (num < s.ge)
            if s.gt is not None:
                cond = cond | (num <= s.gt)
            if s.le is not None:
                cond = cond | (num > s.le)
            if s.lt is not None:
                cond = cond | (num >= s.lt)
            if s.ge is not None or s.gt is not None or s.le is not None or s.lt is not None:
                errors.append(
                    pl.when(cond.fill_null(False) | num.is_nan().fill_null(False))
                    .then(pl.format(f"expected {_range_text(s)}, got {{}}", shown))
                )
            if s.column == "kps":
                errors.append(
                    pl.when(num.is_not_null() & ((num % 10) != 0))
                    .then(pl.format("KPS must be 0-100 in steps of 10, got {}", shown))
                )
            typed = num if s.kind == "float" else (
                pl.when(num == num.floor()).then(num).otherwise(None).cast(pl.Int64, strict=False)
            )
        elif s.kind == "bool":
            if dtype == pl.Boolean:
                typed = raw
            elif dtype == pl.String or dtype.is_numeric():
                txt = raw.cast(pl.String).str.strip_chars().str.to_lowercase()
                typed = (
                    pl.when(txt.is_in(TRUE_WORDS)).then(True)
                    .when(txt.is_in(FALSE_WORDS)).then(False)
                    .otherwise(None)
                )
                if dtype.is_numeric():
                    txt = raw.cast(pl.Float64).cast(pl.String)
                    typed = pl.when(raw == 1).then(True).when(raw == 0).then(False).otherwise(None)
                    present = raw.is_not_null()
                else:
                    present = raw.is_not_null() & (txt != "")
                errors.append(
                    pl.when(present & typed.is_null())
                    .then(pl.format("expected true|false, got '{}'", raw.cast(pl.String)))
                )
            else:
                typed = pl.lit(None, dtype=pl.Boolean)
                msg = pl.lit(f"expected true|false, got {dtype}")
                errors.append(pl.when(raw.is_not_null()).then(msg))
        else:  # enum | str
            txt = raw.cast(pl.String)
            if dtype == pl.String:
                typed = pl.when(txt == "").then(None).otherwise(txt)
            else:
                typed = txt
            if s.kind == "enum":
                errors.append(
                    pl.when(typed.is_not_null() & ~typed.is_in(list(s.allowed or ())))
                    .then(pl.format(f"expected {'|'.join(s.allowed or ())}, got '{{}}'", typed))
                )
                typed = pl.when(typed.is_in(list(s.allowed or ()))).then(typed).otherwise(None)
            if s.max_length is not None:
                errors.append(
                    pl.when(typed.str.len_chars() > s.max_length)
                    .then(pl.lit(f"longer than {s.max_length} characters"))
                )
        err = pl.coalesce(errors) if errors else None
        out[col] = (typed.alias(col), err)
    return out


def row_to_record(row: dict[str, Any]) -> dict[str, Any]:
    """A flattened row (column -> value) back to a nested CONTRACT §1 record (nulls dropped)."""
    specs = column_specs()
    rec: dict[str, Any] = {}
    for col, value in row.items():
        spec = specs.get(col)
        if spec is None or value is None or (isinstance(value, str) and value == ""):
            continue
        if isinstance(value, float) and value != value:  # NaN = missing in pandas
            continue
        head, _, tail = spec.path.partition(".")
        if tail:
            rec.setdefault(head, {})[tail] = value
        else:
            rec[head] = value
    return rec
