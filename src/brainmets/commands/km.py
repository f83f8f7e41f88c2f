"""``brainmets km``: Kaplan-Meier per group with the log-rank test (lifelines)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from brainmets.commands._common import fail


def _fmt(x: float | None) -> str:
    return "not reached" if x is None else f"{x:.4g}"


def register(app: typer.Typer) -> None:
    @app.command("km")
    def km(
        file: Path = typer.Argument(..., help="Cohort table: .csv, .tsv, .parquet or .jsonl"),
        time: str = typer.Option(..., "--time", help="Column with the survival time"),
        event: str = typer.Option(..., "--event", help="Column with the event flag (1 = died)"),
        group: str | None = typer.Option(None, "--group", help="Column to stratify by"),
        fmt: str = typer.Option("json", "--format", help="json | text"),
        plot: Path | None = typer.Option(None, "--plot", help="Write the KM curves to this PNG"),
    ) -> None:
        """Kaplan-Meier per group (n, events, median with 95 % CI) and the log-rank p."""
        from brainmets._atomic import atomic_write_bytes
        from brainmets.cohort.io import read_table, survival_columns
        from brainmets.cohort.km import km_by_group, plot_km
        from brainmets.model import InputError

        if fmt not in ("json", "text"):
            fail(f"--format: expected json|text, got {fmt!r}")
        if plot is not None and plot.suffix.lower() != ".png":
            fail(f"--plot: expected a .png file name, got {plot.name!r}")
        try:
            df = read_table(file, [time, event] + ([group] if group else []))
            t, e = survival_columns(df, time, event)
        except InputError as exc:
            fail(exc.messages)
        df = df.with_columns(t.alias(time), e.alias(event))
        result = km_by_group(df, time, event, group, keep_fitters=plot is not None)
        if not result.groups:
            fail(f"FILE: no rows with {time}, {event}" + (f" and {group}" if group else ""))
        if plot is not None:
            png = plot_km(result, title=f"{file.name} by {group}" if group else file.name,
                          xlabel=time)
            atomic_write_bytes(plot, png)
        if fmt == "json":
            typer.echo(json.dumps(result.as_dict(), indent=2))
            return
        typer.echo(f"{'group':<16}{'n':>7}{'events':>8}{'median':>12}   95% CI")
        for g in result.groups:
            typer.echo(f"{g.group:<16}{g.n:>7}{g.events:>8}{_fmt(g.median):>12}   "
                       f"[{_fmt(g.ci[0])}, {_fmt(g.ci[1])}]")
        if result.logrank_p is not None:
            typer.echo(f"log-rank chi2 = {result.logrank_chi2:.3f} (df {result.logrank_df}), "
                       f"p = {result.logrank_p:.4g}")
        if result.excluded["total"]:
            typer.echo(f"excluded rows (missing values): {result.excluded}")
