"""``brainmets evaluate PRED_DIR TRUTH_DIR``: lesion-wise metrics of scans vs phantom truth."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from brainmets.commands._common import fail


def find_pairs(pred_dir: Path, truth_dir: Path) -> tuple[list[tuple[str, Path, Path]], list[str]]:
    """(case name, prediction file, truth folder) for every truth.nii.gz under TRUTH_DIR."""
    pairs, missing = [], []
    for t in sorted(truth_dir.rglob("truth.nii.gz")):
        rel = t.parent.relative_to(truth_dir)
        p = pred_dir / rel / "lesions.nii.gz"
        name = rel.as_posix() or "."
        if p.is_file():
            pairs.append((name, p, t.parent))
        else:
            missing.append(name)
    return pairs, missing


def _fmt(v) -> str:
    return "n/a" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))


def render_text(result: dict) -> str:
    s = result["summary"]
    lines = [f"scans: {s['scans']}   truth lesions: {s['lesions']}", "",
             f"{'size bin (equiv. diameter)':<28}{'detected':>10}{'total':>8}{'sensitivity':>13}"]
    for b, (hit, tot) in s["detected_of_total"].items():
        lines.append(f"{b + ' mm':<28}{hit:>10}{tot:>8}{_fmt(s['sensitivity'][b]):>13}")
    lines += [
        f"{'all':<28}{sum(h for h, _ in s['detected_of_total'].values()):>10}"
        f"{s['lesions']:>8}{_fmt(s['sensitivity_overall']):>13}",
        "",
        f"false positives per scan:        {_fmt(s['fp_per_scan'])}",
        f"median |volume error| >= 10 mm:  {_fmt(s['median_volume_error_ge10mm'])}",
        f"mean Dice of detected lesions:   {_fmt(s['mean_dice_detected'])}",
        f"BraTS lesion-wise Dice (mean):   {_fmt(s['brats_lesionwise_dice'])}",
        f"BraTS lesion-wise HD95 mm:       {_fmt(s['brats_lesionwise_hd95'])}",
    ]
    if s.get("fp_by_cause"):
        lines.append("false positives by cause:        "
                     + ", ".join(f"{k} {v}" for k, v in s["fp_by_cause"].items()))
    lines += [
        "",
        f"{'case':<24}{'lesions':>8}{'detected':>10}{'FP':>5}{'BraTS Dice':>12}{'HD95':>9}",
    ]
    for c in result["cases"]:
        n = len(c["lesions"])
        d = sum(le["detected"] for le in c["lesions"])
        lines.append(f"{c['case']:<24}{n:>8}{d:>10}{len(c['false_positives']):>5}"
                     f"{c['brats']['lesionwise_dice']:>12.3f}{c['brats']['lesionwise_hd95']:>9.1f}")
    lines += ["", "conventions: " + "; ".join(f"{k}: {v}" for k, v in s["conventions"].items())]
    return "\n".join(lines)


def evaluate_dirs(pred_dir: Path, truth_dir: Path, allow_missing: bool = False) -> dict:
    """Evaluate every case; raises ValueError with a clear message on bad input."""
    from brainmets.imaging.metrics import load_case, summarise

    pairs, missing = find_pairs(pred_dir, truth_dir)
    if not pairs and not missing:
        raise ValueError(f"TRUTH_DIR: no truth.nii.gz found under {truth_dir}")
    if missing and not allow_missing:
        raise ValueError(f"PRED_DIR: no lesions.nii.gz for {', '.join(missing[:5])}"
                         + (" ..." if len(missing) > 5 else ""))
    cases = []
    for name, p, t in pairs:
        res = load_case(p, t)
        res["case"] = name
        cases.append(res)
    return {"summary": summarise(cases), "cases": cases, "missing": missing}


def register(app: typer.Typer) -> None:
    @app.command("evaluate")
    def evaluate(
        pred_dir: Path = typer.Argument(..., help="Scan outputs: case_XXX/lesions.nii.gz"),
        truth_dir: Path = typer.Argument(..., help="Phantom cases: case_XXX/truth.nii.gz"),
        fmt: str = typer.Option("text", "--format", help="text | json"),
        allow_missing: bool = typer.Option(
            False, "--allow-missing", help="Skip truth cases without a prediction."
        ),
    ) -> None:
        """Lesion-wise sensitivity by size, FP per scan, BraTS-2023 lesion-wise Dice/HD95."""
        if fmt not in ("text", "json"):
            fail(f"--format: expected text or json, got {fmt!r}")
        for label, d in (("PRED_DIR", pred_dir), ("TRUTH_DIR", truth_dir)):
            if not d.is_dir():
                fail(f"{label}: not a folder: {d}")
        try:
            result = evaluate_dirs(pred_dir, truth_dir, allow_missing)
        except (ValueError, OSError) as exc:
            fail(str(exc))
        except Exception as exc:  # nibabel raises its own errors on truncated/non-NIfTI files
            fail(f"cannot read an image: {exc}")
        if fmt == "json":
            typer.echo(json.dumps(result, indent=1))
        else:
            typer.echo(render_text(result))
