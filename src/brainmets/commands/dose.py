"""``brainmets dose``: BED/EQD2 calculator and SRS / cavity dose-table lookups."""

from __future__ import annotations

import json

import typer

from brainmets.commands._common import fail


def register(app: typer.Typer) -> None:
    @app.command("dose")
    def dose(
        regimen: list[str] = typer.Option(
            None, "--regimen", "-r",
            help="TOTAL/FRACTIONS (27/3) or DOSExFRACTIONS (9x3); repeatable.",
        ),
        alpha_beta: list[float] = typer.Option(
            None, "--alpha-beta", "-a",
            help="alpha/beta in Gy (repeatable); default: 10 (tumour) and 2 (brain).",
        ),
        diameter_mm: float = typer.Option(
            None, "--diameter-mm", help="Look up SRS dose for an intact lesion (ASTRO22)."
        ),
        cavity_ml: float = typer.Option(
            None, "--cavity-ml", help="Look up single-fraction cavity SRS dose (N107C)."
        ),
        cavity_mm: float = typer.Option(
            None, "--cavity-mm", help="Maximum cavity dimension in mm (with --cavity-ml)."
        ),
        fmt: str = typer.Option("text", "--format", "-f", help="text | json"),
    ) -> None:
        """BED/EQD2 of a regimen (LQ model, editable alpha/beta) and dose-table look-ups."""
        if fmt not in ("text", "json"):
            fail(f"--format: expected text|json, got {fmt!r}")
        if not regimen and diameter_mm is None and cavity_ml is None:
            fail("give --regimen (e.g. 27/3), --diameter-mm or --cavity-ml")
        for ab in alpha_beta or []:
            if not 0 < ab <= 100:
                fail(f"--alpha-beta: must be > 0 and <= 100 Gy, got {ab:g}")
        if diameter_mm is not None and not 0 <= diameter_mm <= 300:
            fail(f"--diameter-mm: must be 0-300, got {diameter_mm:g}")
        if cavity_ml is not None and not 0 <= cavity_ml <= 2000:
            fail(f"--cavity-ml: must be 0-2000, got {cavity_ml:g}")
        if cavity_mm is not None and not 0 <= cavity_mm <= 300:
            fail(f"--cavity-mm: must be 0-300, got {cavity_mm:g}")

        from brainmets.model import DISCLAIMER
        from brainmets.treatment import dosing, radiobiology

        out: dict = {"regimens": [], "disclaimer": DISCLAIMER}
        for text in regimen or []:
            try:
                out["regimens"].append(radiobiology.calculate(text, alpha_beta).as_dict())
            except ValueError as exc:
                fail(str(exc))
        if diameter_mm is not None:
            row = dosing.srs_dose(diameter_mm)
            out["srs"] = {"max_diameter_mm": diameter_mm, **row,
                          "rtog9005": dosing.rtog9005_limit(diameter_mm)}
        if cavity_ml is not None:
            out["cavity"] = {"cavity_volume_ml": cavity_ml, "max_dimension_mm": cavity_mm,
                             **dosing.cavity_dose(cavity_ml, cavity_mm)}
        if fmt == "json":
            typer.echo(json.dumps(out, indent=2))
            return
        typer.echo(_text(out))


def _text(out: dict) -> str:
    lines: list[str] = []
    for r in out["regimens"]:
        lines.append(f"{r['regimen']} ({r['dose_per_fraction_gy']:g} Gy per fraction)")
        for v in r["values"]:
            lines.append(f"  alpha/beta {v['alpha_beta_gy']:g} Gy [{v['tissue']}]: "
                         f"BED {v['bed_gy']:.1f} Gy, EQD2 {v['eqd2_gy']:.1f} Gy")
        for w in r["warnings"]:
            lines.append(f"  WARNING: {w}")
        for n in r["notes"]:
            lines.append(f"  note: {n}")
        lines.append(f"  sources: {', '.join(r['sources'])}")
    if "srs" in out:
        s = out["srs"]
        lines.append(f"SRS, intact lesion {s['max_diameter_mm']:g} mm ({s['label']}): "
                     f"{s['single_fraction']}; multifraction: {s['multifraction']} "
                     f"[ASTRO22 {s['rec']}: {s['strength']} {s['evidence']}]".rstrip())
        lim = s["rtog9005"]
        if lim["mtd_gy"] is not None:
            lines.append(f"  RTOG 90-05 maximum tolerated single dose: {lim['mtd_gy']:g} Gy. "
                         f"Caveat: {lim['caveat']}")
    if "cavity" in out:
        c = out["cavity"]
        lines.append(f"Cavity SRS, {c['cavity_volume_ml']:g} cm3: {c['dose_gy']:g} Gy x 1 "
                     f"({c['source']}; table {c['table_source']} Table 5)")
        for n in c["notes"]:
            lines.append(f"  note: {n}")
        if c["fractionated_note"]:
            lines.append(f"  or fractionated: {c['fractionated_note']}")
    lines.append(out["disclaimer"])
    return "\n".join(lines)
