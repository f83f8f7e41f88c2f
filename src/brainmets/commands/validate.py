"""``brainmets validate``: validate the prognostic indices on a cohort with observed survival."""

from __future__ import annotations

from pathlib import Path

import typer

from brainmets.commands._common import fail


def register(app: typer.Typer) -> None:
    @app.command("validate")
    def validate(
        file: Path = typer.Argument(..., help="Cohort table: .csv, .tsv, .parquet or .jsonl"),
        time: str = typer.Option(..., "--time", help="Column with the survival time"),
        event: str = typer.Option(..., "--event", help="Column with the event flag (1 = died)"),
        out: Path = typer.Option(..., "--out", help="Folder for report.html and results.json"),
        unit: str = typer.Option("months", "--unit", help="Unit of --time: months | days"),
        indices: list[str] = typer.Option(
            [], "--indices", help="Only these index ids (repeat or comma-separate)"),
        group: list[str] = typer.Option(
            [], "--group",
            help="Also validate a group column you computed: COL, COL=INDEX (labels are that "
                 "index's groups, compared with its published medians) or COL:desc (lower value "
                 "= longer survival, for the C-index)"),
        column: list[str] = typer.Option(
            [], "--column",
            help="FIELD=COL: use column COL as patient field FIELD (e.g. kps=ph.karno); field "
                 "names as in docs/score-columns.md"),
        no_engine: bool = typer.Option(
            False, "--no-engine", help="Do not score with the prognosis engine"),
    ) -> None:
        """Score the cohort with every applicable index; KM, log-rank, C-index, calibration."""
        import json

        from brainmets.cohort.io import read_table
        from brainmets.cohort.report import write_outputs
        from brainmets.cohort.validate import validate_cohort
        from brainmets.model import InputError

        wanted = [i.strip() for item in indices for i in item.split(",") if i.strip()]
        try:
            df = read_table(file)
            results, images = validate_cohort(df, time, event, unit=unit, indices=wanted or None,
                                              groups=group, use_engine=not no_engine,
                                              column_map=column)
        except InputError as exc:
            fail(exc.messages)
        results["input"] = str(file)
        write_outputs(out, results, images, file.name)
        summary = {"report": str(out / "report.html"), "results": str(out / "results.json"),
                   "n_analysed": results["cohort"]["n_analysed"],
                   "indices": [{"key": r["key"], "index": r["index"], "n_scored": r["n_scored"],
                                "n_not_scored": r["n_not_scored"],
                                "logrank_p": (r.get("logrank") or {}).get("p"),
                                "cindex": (r.get("cindex") or {}).get("value")}
                               for r in results["indices"]],
                   "notes": results["notes"]}
        typer.echo(json.dumps(summary, indent=2))
