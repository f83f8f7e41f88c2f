"""``brainmets phantom OUTDIR``: synthetic contrast-enhanced T1 scans with known metastases."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from brainmets.commands._common import fail


def _parse_voxel(text: str) -> tuple[float, float, float]:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) == 1:
        parts = parts * 3
    try:
        vals = tuple(float(p) for p in parts)
    except ValueError:
        fail(f"--voxel: expected numbers like 1,1,3, got {text!r}")
    if len(vals) != 3 or not all(0.8 <= v <= 6.0 for v in vals):
        fail(f"--voxel: need three sizes between 0.8 and 6 mm, got {text!r}")
    return vals  # type: ignore[return-value]


def register(app: typer.Typer) -> None:
    @app.command("phantom")
    def phantom(
        outdir: Path = typer.Argument(..., help="Folder to write case_XXX/ into."),
        cases: int = typer.Option(1, "--cases", help="Number of cases."),
        seed: int = typer.Option(0, "--seed", help="Seed; case i uses (seed, i)."),
        voxel: str = typer.Option("1,1,1", "--voxel", help="Voxel size in mm, e.g. 1,1,3."),
        skull_stripped: bool = typer.Option(
            False, "--skull-stripped", help="Brain-extracted 240x240x155 mm research-style scans."
        ),
        followups: int = typer.Option(
            0, "--followups", help="Follow-up scans per case (case_XXX/tp0..tpK + timeline.json)."
        ),
        lesions: int = typer.Option(
            None, "--lesions", help="Metastases per case (default: 3-8 at random)."
        ),
    ) -> None:
        """Write synthetic T1c phantoms (t1c.nii.gz, truth.nii.gz, truth.json per case)."""
        if cases < 1 or cases > 1000:
            fail("--cases: must be between 1 and 1000")
        if followups < 0 or followups > 10:
            fail("--followups: must be between 0 and 10")
        if lesions is not None and not 0 <= lesions <= 20:
            fail("--lesions: must be between 0 and 20")
        if seed < 0:
            fail("--seed: must be >= 0")
        vox = _parse_voxel(voxel)
        if outdir.exists() and not outdir.is_dir():
            fail(f"OUTDIR: exists and is not a folder: {outdir}")
        from brainmets.imaging.phantom import make_case, make_series

        summary = []
        for i in range(cases):
            case_dir = outdir / f"case_{i:03d}"
            if followups:
                doc = make_series((seed, i), case_dir, followups, voxel_mm=vox,
                                  full_head=not skull_stripped, n_lesions=lesions)
                n = [len(tp["lesions"]) for tp in doc["timepoints"]]
                summary.append({"case": case_dir.name, "timepoints": len(n), "lesions": n})
            else:
                truth = make_case((seed, i), case_dir, voxel_mm=vox,
                                  full_head=not skull_stripped, n_lesions=lesions)
                summary.append({"case": case_dir.name, "shape": truth["shape"],
                                "lesions": len(truth["lesions"])})
        typer.echo(json.dumps({"outdir": str(outdir), "cases": summary}))
