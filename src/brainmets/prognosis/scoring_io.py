"""Read a cohort table (CSV, Parquet, JSON Lines), score it in batches, write the result.

Invalid rows never abort the run: they get empty index columns and one line per bad field in
``OUTPUT.errors.csv`` (row, field, reason; ``row`` is the 1-based data row). Output is written
to a temporary file and renamed, so a failed run leaves nothing half-written.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from brainmets.errors import BrainmetsError
from brainmets.prognosis.columns import column_specs
from brainmets.prognosis.vectorized import score_frame

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl",
           ".ndjson": "jsonl"}
DEFAULT_BATCH = 250_000


class TableError(BrainmetsError, ValueError):
    """The input or output file itself is unusable (exit 2)."""


@dataclass
class ScoreSummary:
    rows: int
    invalid_rows: int
    errors_path: Path
    output: Path


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
            fields = [f.name for f in df.schema[c].fields]
            df = df.with_columns(
                [pl.col(c).struct.field(f).alias(f"{c}_{f}") for f in fields if f"{c}_{f}"
                 not in df.columns]
            ).drop(c)


def read_table(path: Path) -> pl.DataFrame:
    """Read CSV (all columns as text, validated later), Parquet or JSON Lines."""
    fmt = table_format(path, "INPUT")
    if not path.exists():
        raise TableError(f"INPUT: no such file: {path}")
    if path.is_dir():
        raise TableError(f"INPUT: is a directory: {path}")
    try:
        if fmt == "csv":
            df = pl.read_csv(path, infer_schema=False)
        elif fmt == "parquet":
            df = pl.read_parquet(path)
        else:
            df = pl.read_ndjson(path, infer_schema_length=None)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TableError(f"INPUT: cannot read {path} as {fmt}: {first}") from None
    df = _unnest_structs(df)
    known = set(column_specs())
    if df.width and not known & set(df.columns):
        raise TableError(
            f"INPUT: none of the columns {df.columns[:8]} is a patient column "
            "(e.g. age, kps, primary_site, brain_metastases_count; see docs/score-columns.md)"
        )
    return df


def _writer(fmt: str, fh, first: bool, batch: pl.DataFrame, state: dict) -> None:
    if fmt == "csv":
        batch.write_csv(fh, include_header=first)
    elif fmt == "jsonl":
        batch.write_ndjson(fh)
    else:
        import pyarrow.parquet as pq

        table = batch.to_arrow()
        if "pq" not in state:
            state["pq"] = pq.ParquetWriter(fh, table.schema)
        state["pq"].write_table(table)


def score_file(
    input_path: Path,
    output_path: Path,
    batch_size: int = DEFAULT_BATCH,
    progress: Callable[[int, int], None] | None = None,
) -> ScoreSummary:
    """Score ``input_path`` into ``output_path`` (+ ``.errors.csv``); returns a summary."""
    out_fmt = table_format(output_path, "OUTPUT")
    if input_path.resolve() == output_path.resolve():
        raise TableError("OUTPUT: must differ from INPUT")
    if not output_path.parent.is_dir():
        raise TableError(f"OUTPUT: folder does not exist: {output_path.parent}")
    df = read_table(input_path)
    n = df.height
    errors_path = output_path.with_name(output_path.name + ".errors.csv")
    tmp_out = tempfile.NamedTemporaryFile(
        "wb", dir=output_path.parent, prefix=f".{output_path.name}.", delete=False
    )
    tmp_err = tempfile.NamedTemporaryFile(
        "wb", dir=output_path.parent, prefix=f".{errors_path.name}.", delete=False
    )
    state: dict = {}
    invalid = 0
    try:
        with tmp_out, tmp_err:
            err_header = True
            for start in range(0, max(n, 1), batch_size):
                batch = df.slice(start, batch_size)
                scored, errors = score_frame(batch, row_offset=start)
                _writer(out_fmt, tmp_out, start == 0, scored, state)
                errors.write_csv(tmp_err, include_header=err_header)
                err_header = False
                invalid += errors.get_column("row").n_unique() if errors.height else 0
                if progress:
                    progress(min(start + batch_size, n), n)
            if "pq" in state:
                state["pq"].close()
        os.replace(tmp_out.name, output_path)
        os.replace(tmp_err.name, errors_path)
    except BaseException:
        for name in (tmp_out.name, tmp_err.name):
            try:
                os.unlink(name)
            except FileNotFoundError:
                pass
        raise
    return ScoreSummary(rows=n, invalid_rows=invalid, errors_path=errors_path, output=output_path)
