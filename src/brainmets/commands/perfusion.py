"""``brainmets perfusion``: DSC rCBV maps with BSW leakage correction and NAWM normalisation."""

from __future__ import annotations

from pathlib import Path

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
    ) -> None:
        """CBV (leakage corrected), rCBV to contralateral NAWM, PSR and protocol QC."""
        import json

        from brainmets.commands._common import fail
        from brainmets.diagnosis.dsc import run_perfusion
        from brainmets.diagnosis.niftiio import DiagnosisInputError

        try:
            summary = run_perfusion(dsc, te_ms=te, out=out, lesions=lesions,
                                    flip_angle=flip_angle, preload=preload,
                                    field_strength=field_strength, tr=tr, nawm_mask=nawm_mask)
        except DiagnosisInputError as exc:
            fail(str(exc))
        typer.echo(json.dumps({"out": str(out), "nawm": summary["nawm"].get("centroid_mm"),
                               "lesions": len(summary["lesions"]),
                               "warnings": summary["warnings"]}))
