"""Read a cohort table (CSV, Parquet, JSON Lines), score it in batches, write the result.

Invalid rows never abort the run: they get empty index columns and one line per bad field in
the errors file (row, field, reason; ``row`` is the 1-based data row). For ``OUT.csv`` the
errors file is ``OUT.errors.csv`` (the output's extension replaced). Rows that cannot be read at
all (a CSV record with the wrong number of fields, a JSON Lines line that is not a JSON object)
are left out of the output and listed in the errors file with field ``(row)``; the other rows
are scored. An index left blank on a valid row because an input it needs is empty is explained
in the ``missing_inputs`` column (``index: column, column; ...``). Output is written to a
temporary file and renamed, so a failed run leaves nothing half-written.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from brainmets.errors import BrainmetsError
from brainmets.prognosis.columns import column_specs
from brainmets.prognosis.features import LAB_FLAGS
from brainmets.prognosis.tables import index_tables
from brainmets.prognosis.vectorized import _F, _plan, _variant_mask, score_frame

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl",
           ".ndjson": "jsonl"}
DEFAULT_BATCH = 250_000


class TableError(BrainmetsError, ValueError):
    """The input or output file itself is unusable (exit 2)."""


MISSING_COLUMN = "missing_inputs"
MALFORMED_FIELD = "(row)"
#: prognostic feature -> the table column(s) that feed it (names used in ``missing_inputs``)
FEATURE_COLUMNS: dict[str, str] = {
    "age": "age", "kps": "kps", "bm_count": "brain_metastases_count",
    "ecm": "extracranial_metastases", "controlled": "primary_controlled",
    "hb_tenth": "labs_hemoglobin_g_dl", "egfr_alk": "primary_egfr/primary_alk",
    "braf": "primary_braf", "breast_subtype": "primary_er/primary_pr/primary_her2",
    **{f: f"labs_{v} with labs_{lim} (or labs_{flag})"
       for f, (v, lim, flag, _above) in LAB_FLAGS.items()},
}


@dataclass
class ScoreSummary:
    rows: int
    invalid_rows: int
    errors_path: Path
    output: Path
    malformed_rows: int = 0
    rows_missing_inputs: int = 0


def errors_path_for(output_path: Path) -> Path:
    """``OUT.csv`` -> ``OUT.errors.csv`` (the documented name; any output extension)."""
    return output_path.with_name(output_path.stem + ".errors.csv")


def table_format(path: Path, what: str) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise TableError(
            f"{what}: unsupported extension {path.suffix or '(none)'!r}; "
            f"expected one of {', '.join(sorted(FORMATS))}"
        )
    return fmt


def _unnest_structs(df: pl.DataFrame) -> pl.DataFrame:
    """Nested records (JSON Lines / Parquet structs) -> flattened ``section_field`` columns."""
    while True:
        structs = [c for c, t in df.schema.items() if isinstance(t, pl.Struct)]
        if not structs:
            return df
        for c in structs:
            dt = df.schema[c]
            fields = [f.name for f in dt.fields] if isinstance(dt, pl.Struct) else []
            df = df.with_columns(
                [pl.col(c).struct.field(f).alias(f"{c}_{f}") for f in fields if f"{c}_{f}"
                 not in df.columns]
            ).drop(c)


def _scan_csv(path: Path) -> tuple[Path | None, list[tuple[int, str]], list[int]]:
    """Stream the CSV once: records whose field count differs from the header's.

    Returns (a cleaned copy or None when every record is well-formed, [(row, reason)], the
    original 1-based row number of every kept record)."""
    bad: list[tuple[int, str]] = []
    kept: list[int] = []
    csv.field_size_limit(max(csv.field_size_limit(), 2**28))  # long text cells are data too
    with path.open(newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return None, [], []
        for row_no, rec in enumerate(reader, start=1):
            if not rec:
                continue  # blank line: not a record (as polars reads it)
            if len(rec) != len(header):
                bad.append((row_no, f"malformed CSV record: expected {len(header)} fields "
                                    f"(as the header), got {len(rec)}; row not scored"))
            else:
                kept.append(row_no)
    if not bad:
        return None, [], kept
    bad_rows = {r for r, _ in bad}
    tmp = tempfile.NamedTemporaryFile("w", suffix=".csv", newline="", encoding="utf-8",
                                      delete=False)
    with tmp, path.open(newline="", encoding="utf-8", errors="replace") as f:
        reader, writer = csv.reader(f), csv.writer(tmp)
        writer.writerow(next(reader))
        for row_no, rec in enumerate(reader, start=1):
            if rec and row_no not in bad_rows:
                writer.writerow(rec)
    return Path(tmp.name), bad, kept


def _scan_jsonl(path: Path) -> tuple[Path, list[tuple[int, str]], list[int]]:
    """Line by line: lines that are not one JSON object are reported, the rest kept."""
    bad: list[tuple[int, str]] = []
    kept: list[int] = []
    tmp = tempfile.NamedTemporaryFile("w", suffix=".jsonl", encoding="utf-8", delete=False)
    with tmp, path.open(encoding="utf-8", errors="replace") as f:
        row_no = 0
        for line in f:
            if not line.strip():
                continue
            row_no += 1
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                bad.append((row_no, f"invalid JSON at column {exc.colno}: {exc.msg}; "
                                    "row not scored"))
                continue
            except RecursionError:
                bad.append((row_no, "JSON nested too deeply; row not scored"))
                continue
            if not isinstance(obj, dict):
                bad.append((row_no, f"expected a JSON object, got {type(obj).__name__}; "
                                    "row not scored"))
                continue
            kept.append(row_no)
            tmp.write(json.dumps(obj) + "\n")
    return Path(tmp.name), bad, kept


def _read(path: Path, fmt: str) -> pl.DataFrame:
    if fmt == "csv":
        return pl.read_csv(path, infer_schema=False)
    if fmt == "parquet":
        return pl.read_parquet(path)
    return pl.read_ndjson(path, infer_schema_length=None)


def read_table_rows(path: Path) -> tuple[pl.DataFrame, list[tuple[int, str]], list[int] | None]:
    """Read CSV (all columns as text), Parquet or JSON Lines, setting unreadable rows aside.

    Returns (frame, [(row, reason)] for rows left out, original row number of each frame row or
    None when no row was left out)."""
    fmt = table_format(path, "INPUT")
    if not path.exists():
        raise TableError(f"INPUT: no such file: {path}")
    if path.is_dir():
        raise TableError(f"INPUT: is a directory: {path}")
    bad: list[tuple[int, str]] = []
    kept: list[int] | None = None
    clean: Path | None = None
    try:
        try:
            if fmt == "csv":
                clean, bad, kept_rows = _scan_csv(path)
                kept = kept_rows if bad else None
            df = _read(clean or path, fmt)
        except (pl.exceptions.PolarsError, ValueError) as first_exc:
            if fmt != "jsonl":
                raise first_exc
            clean, bad, kept = _scan_jsonl(path)  # a bad line: read the others
            df = _read(clean, fmt) if kept else pl.DataFrame()
            kept = kept if bad else None
    except (pl.exceptions.PolarsError, OSError, ValueError, UnicodeError, csv.Error) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TableError(f"INPUT: cannot read {path} as {fmt}: {first}") from None
    finally:
        if clean is not None:
            clean.unlink(missing_ok=True)
    df = _unnest_structs(df)
    known = set(column_specs())
    if df.width and not known & set(df.columns):
        raise TableError(
            f"INPUT: none of the columns {df.columns[:8]} is a patient column "
            "(e.g. age, kps, primary_site, brain_metastases_count; see docs/score-columns.md)"
        )
    return df, bad, kept


def read_table(path: Path) -> pl.DataFrame:
    """Read CSV (all columns as text, validated later), Parquet or JSON Lines."""
    return read_table_rows(path)[0]


def missing_inputs(df: pl.DataFrame, scored: pl.DataFrame) -> pl.Series:
    """Per row: for every index that applies to the row but stayed blank, the empty inputs."""
    typed, _bad, stages, _out = _plan(tuple(df.schema.items()))
    lf = df.lazy().select(stages[0])
    for stage in stages[1:4]:  # typed values, validity flags, features
        lf = lf.with_columns(stage)
    valid = ~pl.col("__invalid")
    parts = []
    for t in index_tables().values():
        blank = pl.lit(scored.get_column(f"{t.id}_group").is_null())
        per_variant = []
        for v in t.variants:
            need = t.all_inputs if t.kind == "classes" else [
                f.input for f in v.factors if f.if_missing_points is None]
            names = [pl.when(pl.col(_F + i).is_null()).then(pl.lit(FEATURE_COLUMNS.get(i, i)))
                     for i in dict.fromkeys(need)]
            if names:
                per_variant.append(pl.when(valid & _variant_mask(v) & blank).then(
                    pl.concat_str(names, separator=", ", ignore_nulls=True)))
        if per_variant:
            listed = pl.coalesce(per_variant)
            parts.append(pl.when(listed != "").then(pl.lit(f"{t.id}: ") + listed))
    out = lf.select(pl.concat_str(parts, separator="; ", ignore_nulls=True).alias(
        MISSING_COLUMN)).collect().get_column(MISSING_COLUMN)
    return out.replace("", None)


def _flat_for_csv(batch: pl.DataFrame) -> pl.DataFrame:
    """CSV holds no nested values: list/struct cells (from JSON Lines input) become JSON text."""
    nested = [c for c, t in batch.schema.items() if t.is_nested() or t == pl.Object]
    if not nested:
        return batch
    return batch.with_columns([
        pl.Series(c, [None if v is None else json.dumps(v, default=str, allow_nan=True)
                      for v in batch.get_column(c).to_list()], dtype=pl.String)
        for c in nested])


def _writer(fmt: str, fh, first: bool, batch: pl.DataFrame, state: dict) -> None:
    if fmt == "csv":
        _flat_for_csv(batch).write_csv(fh, include_header=first)
    elif fmt == "jsonl":
        batch.write_ndjson(fh)
    else:
        import pyarrow.parquet as pq

        table = batch.to_arrow()
        if "pq" not in state:
            state["pq"] = pq.ParquetWriter(fh, table.schema)
        state["pq"].write_table(table)


def _malformed_frame(bad: list[tuple[int, str]]) -> pl.DataFrame:
    return pl.DataFrame({"row": [r for r, _ in bad], "field": [MALFORMED_FIELD] * len(bad),
                         "reason": [m for _, m in bad]},
                        schema={"row": pl.UInt32, "field": pl.String, "reason": pl.String})


def _check_paths(input_path: Path, output_path: Path) -> tuple[str, Path]:
    out_fmt = table_format(output_path, "OUTPUT")
    errors_path = errors_path_for(output_path)
    if input_path.resolve() in (output_path.resolve(), errors_path.resolve()):
        raise TableError("OUTPUT: must differ from INPUT (and from INPUT's errors file)")
    if not output_path.parent.is_dir():
        raise TableError(f"OUTPUT: folder does not exist: {output_path.parent}")
    if output_path.is_dir():
        raise TableError(f"OUTPUT: is a directory: {output_path}")
    if not os.access(output_path.parent, os.W_OK):
        raise TableError(f"OUTPUT: folder is not writable: {output_path.parent}")
    return out_fmt, errors_path


def _score_batches(df: pl.DataFrame, bad: list[tuple[int, str]], kept: list[int] | None,
                   batch_size: int, emit: Callable[[pl.DataFrame, pl.DataFrame, int], None]
                   ) -> tuple[int, int]:
    """Score in batches; ``emit(scored, errors, start)``; returns (invalid rows, rows missing)."""
    n = df.height
    pending = _malformed_frame(bad)
    row_map = pl.Series("row", kept, dtype=pl.UInt32) if kept is not None else None
    invalid = len(bad)
    n_missing = 0
    # score_frame needs these two columns present (its cross-field rule); added for scoring only
    pad = [c for c in ("primary_site", "primary_histology") if c not in df.columns]
    for start in range(0, max(n, 1), batch_size):
        batch = df.slice(start, batch_size)
        if pad and batch.height:
            batch = batch.with_columns([pl.lit(None, dtype=pl.String).alias(c) for c in pad])
        scored, errors = score_frame(batch, row_offset=start)
        if batch.width:
            miss = missing_inputs(batch, scored)
            n_missing += miss.len() - miss.null_count()
            scored = scored.with_columns(miss)
        if pad and batch.height:
            scored = scored.drop(pad)
        if row_map is not None and errors.height:
            errors = errors.with_columns(row_map.gather(errors.get_column("row") - 1))
        invalid += errors.get_column("row").n_unique() if errors.height else 0
        last = start + batch_size >= n
        upto = None if last else (row_map[start + batch.height - 1] if row_map is not None
                                  else start + batch.height)
        take = pending if upto is None else pending.filter(pl.col("row") <= upto)
        pending = pending.clear() if upto is None else pending.filter(pl.col("row") > upto)
        if take.height:
            errors = pl.concat([errors, take]).sort("row", maintain_order=True)
        emit(scored, errors, start)
    return invalid, n_missing


def score_file(
    input_path: Path,
    output_path: Path,
    batch_size: int = DEFAULT_BATCH,
    progress: Callable[[int, int], None] | None = None,
) -> ScoreSummary:
    """Score ``input_path`` into ``output_path`` (+ ``OUT.errors.csv``); returns a summary."""
    out_fmt, errors_path = _check_paths(input_path, output_path)
    df, bad, kept = read_table_rows(input_path)
    n = df.height
    try:
        tmp_out = tempfile.NamedTemporaryFile(
            "wb", dir=output_path.parent, prefix=f".{output_path.name}.", delete=False)
        tmp_err = tempfile.NamedTemporaryFile(
            "wb", dir=output_path.parent, prefix=f".{errors_path.name}.", delete=False)
    except OSError as exc:
        raise TableError(f"OUTPUT: cannot write in {output_path.parent}: "
                         f"{exc.strerror or exc}") from None
    state: dict = {}
    try:
        with tmp_out, tmp_err:

            def emit(scored: pl.DataFrame, errors: pl.DataFrame, start: int) -> None:
                _writer(out_fmt, tmp_out, start == 0, scored, state)
                errors.write_csv(tmp_err, include_header=start == 0)
                if progress:
                    progress(min(start + batch_size, n), n)

            invalid, n_missing = _score_batches(df, bad, kept, batch_size, emit)
            if "pq" in state:
                state["pq"].close()
        os.replace(tmp_err.name, errors_path)
        os.replace(tmp_out.name, output_path)  # the output last: it exists only when complete
    except BaseException:
        for name in (tmp_out.name, tmp_err.name):
            try:
                os.unlink(name)
            except FileNotFoundError:
                pass
        raise
    return ScoreSummary(rows=n + len(bad), invalid_rows=invalid, errors_path=errors_path,
                        output=output_path, malformed_rows=len(bad),
                        rows_missing_inputs=n_missing)
