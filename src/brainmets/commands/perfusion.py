"""``brainmets perfusion``: DSC rCBV maps with BSW leakage correction and NAWM normalisation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def register(app: typer.Typer) -> None:
    @app.command("perfusion")
    def perfusion(
        dsc: Path = typer.Argument(..., help="4-D DSC NIfTI (last axis = time)"),
        te: float = typer.Option(..., "--te", help="echo time in ms"),
        out: Path = typer.Option(..., "--out", help="output folder (cbv, rcbv, perfusion.json)"),
        lesions: Path | None = typer.Option(None, "--lesions", help="lesion label map"),
        flip_angle: float | None = typer.Option(None, "--flip-angle", help="degrees"),
        preload: str = typer.Option("unknown", "--preload", help="yes | no | unknown"),
        field_strength: float | None = typer.Option(
            None, "--field-strength", help="tesla (1.5 or 3), for the TE check"
        ),
        tr: float | None = typer.Option(
            None, "--tr", help="seconds between frames (default: from the NIfTI header)"
        ),
        nawm_mask: Path | None = typer.Option(
            None, "--nawm-mask", help="your own NAWM mask instead of the automatic one"
        ),
        history: str | None = typer.Option(
            None, "--history", help="lesion history: untreated | srs | fsrt | wbrt | ha_wbrt "
            "(decides the questions asked; not given: read as untreated, with a caveat)"
        ),
        solitary: bool | None = typer.Option(
            None, "--solitary/--not-solitary", help="a solitary enhancing lesion (an input, "
            "never inferred)"
        ),
    ) -> None:
        """CBV (leakage corrected), rCBV to NAWM, PSR, protocol QC and the cited statements."""
        from brainmets.commands._common import fail
        from brainmets.diagnosis.block import HISTORY_CHOICES
        from brainmets.diagnosis.dsc import run_perfusion
        from brainmets.imaging.volume import ImagingInputError

        if history is not None and history not in HISTORY_CHOICES:
            fail(f"--history: expected {'|'.join(HISTORY_CHOICES)}, got {history!r}")
        try:
            summary = run_perfusion(dsc, te_ms=te, out=out, lesions=lesions,
                                    flip_angle=flip_angle, preload=preload,
                                    field_strength=field_strength, tr=tr, nawm_mask=nawm_mask,
                                    history=history, solitary=solitary)
        except ImagingInputError as exc:
            fail(str(exc))
        echo_result({"out": str(out), "nawm": summary["nawm"].get("centroid_mm")}, summary,
                    history)


def echo_result(head: dict[str, Any], summary: dict[str, Any], history: str | None) -> None:
    """One JSON line (output folder, lesions, warnings, statements per lesion), then one line
    per statement the measured values trigger."""
    import json

    statements = {str(e["id"]): e.get("statements", []) for e in summary["lesions"]}
    typer.echo(json.dumps({**head, "lesions": len(summary["lesions"]),
                           "warnings": summary["warnings"], "statements": statements}))
    for e in summary["lesions"]:
        lid, rows = str(e["id"]), statements[str(e["id"])]
        for s in rows:
            flag = ", low reliability" if s["reliability"] == "low" else ""
            typer.echo(f"lesion {lid}: [{s['status']}{flag}] {s['text']}")
            for note in s.get("notes", []):  # caveats follow per lesion; low ones are in text
                if not note.startswith(("history not fully recorded", "irradiation not recorded",
                                        "low reliability")):
                    typer.echo(f"    note: {note}")
        if not rows:
            typer.echo(f"lesion {lid}: no interpretation statement: no cut-off of the questions "
                       "asked applies to these values")
        if any("advanced_imaging.solitary_enhancing_lesion" in s.get("missing", []) for s in rows):
            typer.echo(f"  lesion {lid}: give --solitary or --not-solitary (an input, never "
                       "inferred) to apply the rules for a solitary lesion")
        for note in e.get("statement_notes", []):
            typer.echo(f"  lesion {lid}: {note}")
    if history is None and summary["lesions"]:
        typer.echo("note: lesion history not given (--history): each question above applies "
                   "only to its own history (see what was assumed); give --history untreated, "
                   "or srs|fsrt|wbrt|ha_wbrt for an irradiated lesion")
