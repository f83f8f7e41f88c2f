"""``brainmets scan INPUT --out DIR [--patient P.json]``: find and measure brain metastases."""

from __future__ import annotations

from pathlib import Path

import typer


def _check_out(out: Path) -> None:
    """--out must be a folder we can create or write in (exit 2 before any work)."""
    import tempfile

    from brainmets.commands._common import fail

    if out.exists() and not out.is_dir():
        fail(f"--out: {out} exists and is not a folder")
    parent = out if out.is_dir() else out.absolute().parent
    if not parent.is_dir():
        fail(f"--out: the parent folder {parent} does not exist (or is not a folder)")
    try:
        tempfile.TemporaryDirectory(dir=parent).cleanup()
    except OSError as exc:
        fail(f"--out: cannot write in {parent}: {exc.strerror or exc}")


def register(app: typer.Typer) -> None:
    @app.command("scan")
    def scan_cmd(
        input_path: Path = typer.Argument(
            ..., metavar="INPUT",
            help="NIfTI file (.nii/.nii.gz) or a folder with one DICOM series",
        ),
        out: Path = typer.Option(..., "--out", help="output folder"),
        patient: Path | None = typer.Option(
            None, "--patient",
            help="patient record (JSON): writes DIR/patient.json with the lesions",
        ),
        model: Path | None = typer.Option(
            None, "--model",
            help="user-supplied TorchScript/ONNX model with MONAI-bundle metadata (optional)",
        ),
        no_overlay: bool = typer.Option(False, "--no-overlay", help="skip overlay.png"),
    ) -> None:
        """Detect, segment and measure enhancing lesions on a contrast-enhanced T1 scan.

        Writes DIR/lesions.json, DIR/lesions.nii.gz, DIR/overlay.png and DIR/seg.dcm (DICOM
        input). Research use only, not a medical device.
        """
        import json

        from brainmets.commands._common import fail, read_json
        from brainmets.imaging.volume import ImagingInputError
        from brainmets.model import InputError

        _check_out(out)
        record = read_json(patient, "--patient") if patient is not None else None
        if record is not None and not isinstance(record, dict):
            fail("--patient: expected one patient object (JSON object)")
        detector = None
        try:
            if model is not None:
                from brainmets.imaging.detect_model import ModelDetector

                detector = ModelDetector(model)
            from brainmets.imaging.pipeline import scan

            result = scan(input_path, out, detector=detector, patient=record,
                          overlay=not no_overlay)
        except ImagingInputError as exc:
            fail(str(exc))
        except InputError as exc:
            fail([f"--patient: {m}" for m in exc.messages])
        typer.echo(json.dumps({
            "out": str(out), "count": result["count"],
            "total_lesion_volume_ml": result["total_lesion_volume_ml"],
            "seconds": result["seconds"],
        }))
