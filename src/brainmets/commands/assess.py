"""``brainmets assess FILE``: prognosis, options and supportive care for one patient or a list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from brainmets.commands._common import fail, read_json


def load_patients(data: Any) -> tuple[list[Any], bool]:
    """Validate one record or a list; (patients, was_list). Exits 2 naming every bad field."""
    from brainmets.model import InputError, parse_patient

    if isinstance(data, list):
        patients, errors = [], []
        for i, item in enumerate(data):
            try:
                patients.append(parse_patient(item, prefix=f"[{i}]."))
            except InputError as exc:
                errors.extend(exc.messages)
        if errors:
            fail(errors)
        return patients, True
    if isinstance(data, dict):
        try:
            return [parse_patient(data)], False
        except InputError as exc:
            fail(exc.messages)
    fail(f"FILE: expected a patient object or a list of them, got {type(data).__name__}")


def register(app: typer.Typer) -> None:
    @app.command("assess")
    def assess(
        file: Path = typer.Argument(
            ..., help="JSON file with one patient or a list ('-' = stdin)."
        ),
        fmt: str = typer.Option("text", "--format", "-f", help="text | json"),
    ) -> None:
        """Every applicable prognostic index and the guideline-based options (CONTRACT §2)."""
        if fmt not in ("text", "json"):
            fail(f"--format: expected text|json, got {fmt!r}")
        patients, was_list = load_patients(read_json(file))

        import json

        from brainmets.assessment import assess as run_assess

        results = [run_assess(p) for p in patients]
        if fmt == "json":
            payload = [r.model_dump(mode="json") for r in results]
            typer.echo(json.dumps(payload if was_list else payload[0], indent=2,
                                  ensure_ascii=False))
            return
        from rich.console import Console
        from rich.rule import Rule

        from brainmets.report.text import assessment_renderable

        console = Console(highlight=False)
        for i, r in enumerate(results):
            if i:
                console.print(Rule())
            console.print(assessment_renderable(r))
