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


def typed_columns(schema: dict[str, Any]) -> dict[str, tuple[Any, list[tuple[Any, Any]]]]:
    """Per known column: (typed value expression, [(bad-row condition, message expression)]).

    ``schema`` is the input frame's schema (column -> polars dtype); absent columns are null.
    Conditions are cheap booleans; messages are only meant to be evaluated on bad rows.
    """
    import polars as pl

    out: dict[str, tuple[Any, list[tuple[Any, Any]]]] = {}
    for col, s in column_specs().items():
        dtype = schema.get(col)
        target: Any = {"int": pl.Int64, "float": pl.Float64, "bool": pl.Boolean}.get(
            s.kind, pl.String
        )
        if s.kind == "enum":
            target = pl.Enum(list(s.allowed or ()))
        if dtype is None or dtype == pl.Null:
            out[col] = (pl.lit(None, dtype=target).alias(col), [])
            continue
        raw = pl.col(col)
        errors: list[tuple[Any, Any]] = []
        if not (dtype == pl.String or dtype == pl.Boolean or dtype.is_numeric()):
            msg = pl.lit(f"unsupported column type {dtype}")
            out[col] = (pl.lit(None, dtype=target).alias(col), [(raw.is_not_null(), msg)])
            continue
        shown = raw.cast(pl.String)
        if s.kind in ("int", "float"):
            if dtype == pl.String:
                txt = raw.str.strip_chars()
                num = pl.when(txt == "").then(None).otherwise(txt).cast(pl.Float64, strict=False)
                present = raw.is_not_null() & (txt != "")
                errors.append((present & num.is_null(),
                               pl.format("expected a number, got '{}'", raw)))
            elif dtype == pl.Boolean:
                num = raw.cast(pl.Float64)
                if s.column in WHOLE_NUMBER_FIELDS:
                    errors.append((raw.is_not_null(), pl.lit("expected an integer, got a boolean")))
            elif dtype.is_integer():
                num = raw  # already whole numbers: compare as integers, no float round trip
            else:
                num = raw.cast(pl.Float64)
            if s.kind == "int" and not dtype.is_integer():
                errors.append((num.is_not_null() & (num != num.floor()),
                               pl.format("expected a whole number, got {}", shown)))
            cond = pl.lit(False)
            if s.ge is not None:
                cond = cond | (num < s.ge)
            if s.gt is not None:
                cond = cond | (num <= s.gt)
            if s.le is not None:
                cond = cond | (num > s.le)
            if s.lt is not None:
                cond = cond | (num >= s.lt)
            if _range_text(s):
                errors.append((cond if dtype.is_integer() else cond | num.is_nan(),
                               pl.format(f"expected {_range_text(s)}, got {{}}", shown)))
            if s.column == "kps":
                errors.append((num.is_not_null() & ((num % 10) != 0),
                               pl.format("KPS must be 0-100 in steps of 10, got {}", shown)))
            if s.kind == "float":
                typed = num.cast(pl.Float64)
            elif dtype.is_integer():
                typed = raw.cast(pl.Int64)
            else:
                typed = (pl.when(num == num.floor()).then(num).otherwise(None)
                         .cast(pl.Int64, strict=False))
        elif s.kind == "bool":
            if dtype == pl.Boolean:
                typed = raw
            elif dtype.is_numeric():
                typed = pl.when(raw == 1).then(True).when(raw == 0).then(False).otherwise(None)
                errors.append((raw.is_not_null() & typed.is_null(),
                               pl.format("expected true|false, got '{}'", shown)))
            else:
                txt = raw.str.strip_chars().str.to_lowercase()
                typed = (
                    pl.when(txt.is_in(TRUE_WORDS)).then(True)
                    .when(txt.is_in(FALSE_WORDS)).then(False)
                    .otherwise(None)
                )
                errors.append((raw.is_not_null() & (txt != "") & typed.is_null(),
                               pl.format("expected true|false, got '{}'", shown)))
        elif s.kind == "enum":
            allowed = list(s.allowed or ())
            enum = pl.Enum(allowed)
            msg = pl.format(f"expected {'|'.join(allowed)}, got '{{}}'", shown)
            if dtype == pl.String:
                typed = raw.cast(enum, strict=False)  # physical u32: fast comparisons later
                errors.append((raw.is_not_null() & (raw != "") & typed.is_null(), msg))
            else:
                typed = pl.lit(None, dtype=enum)
                errors.append((raw.is_not_null(), msg))
        else:  # free text
            typed = pl.when(shown == "").then(None).otherwise(shown) if dtype == pl.String \
                else shown
            if s.max_length is not None:
                errors.append((typed.str.len_chars() > s.max_length,
                               pl.lit(f"longer than {s.max_length} characters")))
        out[col] = (typed.alias(col), [(c.fill_null(False), m) for c, m in errors])
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
