"""``brainmets demo``: the main job end to end on embedded defaults.

Bundled example patient -> synthetic contrast-enhanced T1 MRI of that patient (phantom) ->
``scan`` (lesions found and measured) -> lesions merged into the record -> ``assess``
(prognosis, options) -> JSON, a readable summary and the tumour-board PDF in ``demo-output/``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

DEMO_SEED = 20260110


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        out: Path = typer.Option(Path("demo-output"), "--out", help="Output folder."),
        no_mri: bool = typer.Option(
            False, "--no-mri", help="Skip the synthetic MRI; assess the bundled record as is."
        ),
        seed: int = typer.Option(DEMO_SEED, "--seed", help="Seed of the synthetic MRI."),
    ) -> None:
        """Run the whole flow on a bundled example patient and write demo-output/."""
        from rich.console import Console

        console = Console(highlight=False)
        summary = run_demo(out, with_mri=not no_mri, seed=seed, log=console.print)
        console.print(f"\n[bold]Demo finished[/bold] in {summary['seconds']:.1f} s:")
        for name in summary["files"]:
            console.print(f"  {out / name}")


def run_demo(out: Path, with_mri: bool = True, seed: int = DEMO_SEED, log=print,
             voxel_mm: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> dict:
    """Run the demo flow into ``out``; returns {"files": [...], "seconds": ...}."""
    from brainmets.assessment import assess
    from brainmets.examples import EXAMPLE_PATIENT
    from brainmets.model import parse_patient
    from brainmets.report.text import render_assessment

    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    record = json.loads(EXAMPLE_PATIENT.read_text(encoding="utf-8"))
    files: list[str] = []
    scan_result = None
    if with_mri:
        from brainmets.imaging.phantom import make_case
        from brainmets.imaging.pipeline import scan

        mri_dir = out / "mri"
        log(f"1/4 synthetic T1c MRI of the demo patient (phantom seed {seed}) ...")
        truth = make_case(seed, mri_dir, voxel_mm=voxel_mm, full_head=True)
        log(f"    {len(truth['lesions'])} simulated metastases; scanning ...")
        # the MRI defines the lesions of the demo: the scan's count replaces the bundled one
        record.setdefault("brain_metastases", {}).pop("count", None)
        scan_result = scan(mri_dir / "t1c.nii.gz", out / "scan", patient=record)
        record = json.loads((out / "scan" / "patient.json").read_text(encoding="utf-8"))
        log(f"2/4 scan found {scan_result['count']} lesion(s) "
            f"(truth: {len(truth['lesions'])})")
        files += ["mri/t1c.nii.gz", "scan/lesions.json", "scan/lesions.nii.gz",
                  "scan/overlay.png"]
    patient = parse_patient(record)
    log("3/4 assessing (prognostic indices, guideline options) ...")
    assessment = assess(patient)
    payload = assessment.model_dump(mode="json")
    _write(out / "patient.json", json.dumps(record, indent=2) + "\n")
    _write(out / "assessment.json", json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    _write(out / "summary.txt", render_assessment(assessment))
    files += ["patient.json", "assessment.json", "summary.txt"]
    log("4/4 tumour-board report (PDF) ...")
    from brainmets.report.context import standalone_context
    from brainmets.report.pdf import render_pdf

    ctx = standalone_context(record, assessment, scan_result,
                             overlay=(out / "scan" / "overlay.png") if with_mri else None)
    pdf = render_pdf(ctx)
    _write_bytes(out / "report.pdf", pdf)
    files.append("report.pdf")
    return {"files": files, "seconds": time.perf_counter() - t0}


def _write(path: Path, text: str) -> None:
    _write_bytes(path, text.encode("utf-8"))


def _write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
