"""``brainmets score INPUT -o OUTPUT``: every prognostic index for a whole cohort, vectorised."""

from __future__ import annotations

from pathlib import Path

import typer

from brainmets.commands._common import fail


def register(app: typer.Typer) -> None:
    @app.command("score")
    def score(
        input_path: Path = typer.Argument(..., help="CSV, Parquet or JSON Lines (.jsonl)."),
        output: Path = typer.Option(
            ..., "--output", "-o", help="Output file; format by extension (.csv/.parquet/.jsonl)."
        ),
        batch_size: int = typer.Option(250_000, "--batch-size", help="Rows per batch."),
    ) -> None:
        """Add <index>_score/_group/_median_os columns; bad rows go to OUTPUT.errors.csv.

        For -o x.csv the errors file is x.errors.csv (row, field, reason). Rows that cannot be
        read (wrong field count, bad JSON line) are listed there and left out; invalid values
        leave the row's indices empty; missing inputs are named in the missing_inputs column.
        """
        if batch_size < 1:
            fail(f"--batch-size: must be >= 1, got {batch_size}")
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        from brainmets.prognosis.scoring_io import TableError, score_file

        err = Console(stderr=True, highlight=False)
        with Progress(
            "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal,
        ) as bar:
            task = bar.add_task("scoring", total=None)

            def _tick(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            try:
                summary = score_file(input_path, output, batch_size=batch_size, progress=_tick)
            except TableError as exc:
                bar.stop()
                fail(str(exc))
        written = summary.rows - summary.malformed_rows
        msg = f"read {summary.rows} rows, wrote {written} -> {summary.output}"
        if summary.malformed_rows:
            msg += (f"; {summary.malformed_rows} unreadable rows left out (wrong field count or "
                    "bad JSON line)")
        if summary.invalid_rows - summary.malformed_rows:
            msg += (f"; {summary.invalid_rows - summary.malformed_rows} invalid rows left "
                    "empty")
        if summary.invalid_rows:
            msg += f"; reasons in {summary.errors_path}"
        if summary.rows_missing_inputs:
            msg += (f"; {summary.rows_missing_inputs} rows with an index left blank for a "
                    "missing input (column missing_inputs)")
        typer.echo(msg, err=True)
