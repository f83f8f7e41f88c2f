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
        history: str | None = typer.Option(
            None, "--history", help="lesion history: untreated | srs | fsrt | wbrt | ha_wbrt "
            "(decides the questions asked; not given: read as untreated, with a caveat)"
        ),
    ) -> None:
        """ADC map in 10^-3 mm^2/s; per-lesion ADC and the cited statements the values trigger."""
        from brainmets.commands._common import fail
        from brainmets.commands.perfusion import echo_result
        from brainmets.diagnosis.block import HISTORY_CHOICES
        from brainmets.diagnosis.dwi import run_adc
        from brainmets.imaging.volume import ImagingInputError

        if history is not None and history not in HISTORY_CHOICES:
            fail(f"--history: expected {'|'.join(HISTORY_CHOICES)}, got {history!r}")
        try:
            summary = run_adc(dwi, bval, bvec, out, lesions, nawm_mask, history=history)
        except ImagingInputError as exc:
            fail(str(exc))
        echo_result({"out": str(out), "nawm_median_adc": summary["nawm"]["median_adc"]},
                    summary, history)
