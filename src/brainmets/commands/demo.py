"""``brainmets demo``: the main job end to end on embedded defaults.

Bundled example patient -> synthetic contrast-enhanced T1 MRI of that patient (phantom) ->
``scan`` (lesions found and measured) -> lesions merged into the record -> ``assess``
(prognosis, options) -> JSON, a readable summary and the tumour-board PDF in ``demo-output/``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

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
    """Run the demo flow into ``out``; returns {"files": [...], "seconds": ...}.

    The case is composed by :func:`brainmets.case.assess_case`, as on the web and the CLI."""
    from brainmets.case import assess_case, assessed_record
    from brainmets.examples import EXAMPLE_PATIENT
    from brainmets.report.text import render_assessment

    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    record = json.loads(EXAMPLE_PATIENT.read_text(encoding="utf-8"))
    files: list[str] = []
    scans = []
    if with_mri:
        scans = [_demo_scan(out, seed, voxel_mm, log)]
        # the MRI defines the lesions of the demo: its lesions replace the bundled ones
        bm = record.setdefault("brain_metastases", {})
        bm.pop("count", None)
        bm.pop("lesions", None)
        files += ["mri/t1c.nii.gz", "scan/lesions.json", "scan/lesions.nii.gz",
                  "scan/overlay.png"]
    log("3/4 assessing (prognostic indices, guideline options) ...")
    case = assess_case(record, scans)
    assessed = assessed_record(record, scans)
    _write(out / "patient.json", json.dumps(assessed, indent=2) + "\n")
    _write(out / "assessment.json",
           json.dumps(case.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n")
    from brainmets.commands.assess import case_lines

    _write(out / "summary.txt", render_assessment(case) + "\n".join(case_lines(case)) + "\n")
    files += ["patient.json", "assessment.json", "summary.txt"]
    log("4/4 tumour-board report (PDF) ...")
    from brainmets.report.context import case_context
    from brainmets.report.pdf import render_pdf

    ctx = case_context(assessed, case,
                       overlay=(out / "scan" / "overlay.png") if with_mri else None)
    _write_bytes(out / "report.pdf", render_pdf(ctx))
    files.append("report.pdf")
    return {"files": files, "seconds": time.perf_counter() - t0}


def _demo_scan(out: Path, seed: int, voxel_mm: tuple[float, float, float], log) -> Any:
    """Synthetic T1c MRI of the demo patient, scanned into ``out/scan``."""
    from brainmets.case import ScanInput
    from brainmets.imaging.phantom import make_case
    from brainmets.imaging.pipeline import scan
    from brainmets.imaging.result import ScanResult

    mri_dir = out / "mri"
    log(f"1/4 synthetic T1c MRI of the demo patient (phantom seed {seed}) ...")
    truth = make_case(seed, mri_dir, voxel_mm=voxel_mm, full_head=True)
    log(f"    {len(truth['lesions'])} simulated metastases; scanning ...")
    result = ScanResult.parse(scan(mri_dir / "t1c.nii.gz", out / "scan"))
    log(f"2/4 scan found {len(result.lesions)} lesion(s) (truth: {len(truth['lesions'])})")
    return ScanInput(id="demo-mri", result=result, folder=out / "scan")


def _write(path: Path, text: str) -> None:
    _write_bytes(path, text.encode("utf-8"))


def _write_bytes(path: Path, data: bytes) -> None:
    from brainmets._atomic import atomic_write_bytes

    atomic_write_bytes(path, data)
