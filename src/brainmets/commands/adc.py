"""``brainmets adc``: ADC map from a DWI (NIfTI + FSL bval/bvec, or a DICOM folder)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("adc")
    def adc(
        dwi: Path = typer.Argument(..., help="4-D DWI NIfTI, or a folder with one DWI series"),
        bval: Path | None = typer.Option(None, "--bval", help="FSL .bval file (NIfTI input)"),
        bvec: Path | None = typer.Option(None, "--bvec", help="FSL .bvec file (checked only)"),
        out: Path = typer.Option(..., "--out", help="output folder (adc.nii.gz, adc.json)"),
        lesions: Path | None = typer.Option(
            None, "--lesions", help="lesion label map (scan output); resampled by affine"
        ),
        nawm_mask: Path | None = typer.Option(
            None, "--nawm-mask", help="your own NAWM mask instead of the automatic one"
        ),
    ) -> None:
        """ADC map in 10^-3 mm^2/s; per-lesion, peritumoral and cavity/NAWM ADC with --lesions."""
        import json

        from brainmets.commands._common import fail
        from brainmets.diagnosis.dwi import run_adc
        from brainmets.diagnosis.niftiio import DiagnosisInputError

        try:
            summary = run_adc(dwi, bval, bvec, out, lesions, nawm_mask)
        except DiagnosisInputError as exc:
            fail(str(exc))
        typer.echo(json.dumps({"out": str(out), "nawm_median_adc": summary["nawm"]["median_adc"],
                               "lesions": len(summary["lesions"]),
                               "warnings": summary["warnings"]}))
