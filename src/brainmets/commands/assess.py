"""``brainmets assess FILE [--scan T1C ...]``: prognosis, options and supportive care.

Every case goes through :func:`brainmets.case.assess_case`, the composer the web service uses,
so the same record and the same MRI give the same lesions, indices and options on both.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import typer

from brainmets.commands._common import fail, read_json


def load_patients(data: Any) -> tuple[list[Any], bool]:
    """Validate one record or a list; (patients, was_list). Exits 2 naming every bad field."""
    from brainmets.model import InputError, parse_patient

    if isinstance(data, list):
        patients, errors = [], []
        for i, item in enumerate(data):
            try:
                patients.append(parse_patient(item, prefix=f"[{i}]."))
            except InputError as exc:
                errors.extend(exc.messages)
        if errors:
            fail(errors)
        return patients, True
    if isinstance(data, dict):
        try:
            return [parse_patient(data)], False
        except InputError as exc:
            fail(exc.messages)
    fail(f"FILE: expected a patient object or a list of them, got {type(data).__name__}")


def _dates(raw: list[str], n: int) -> list[dt.date | None]:
    """``--scan-date`` values, one per ``--scan`` (or none at all)."""
    if not raw:
        return [None] * n
    if len(raw) != n:
        fail(f"--scan-date: {len(raw)} date(s) for {n} --scan; give one per scan, in order")
    out: list[dt.date | None] = []
    errors = []
    for i, d in enumerate(raw):
        try:
            out.append(dt.date.fromisoformat(d))
        except ValueError:
            errors.append(f"--scan-date[{i}]: expected YYYY-MM-DD, got {d!r}")
    if errors:
        fail(errors)
    return out


def scan_inputs(paths: list[Path], dates: list[dt.date | None], out: Path) -> list[Any]:
    """Run ``brainmets scan`` on each MRI into ``out/scan-<k>`` and return the composer's
    :class:`~brainmets.case.ScanInput` list (exits 2 naming the scan on bad input)."""
    from brainmets.case import ScanInput
    from brainmets.imaging.pipeline import scan
    from brainmets.imaging.result import ScanResult
    from brainmets.imaging.volume import ImagingInputError
    from brainmets.model import InputError
    from brainmets.response.tracking import dicom_date

    inputs = []
    for k, (path, date) in enumerate(zip(paths, dates, strict=True), start=1):
        folder = out / f"scan-{k}"
        try:
            result = ScanResult.parse(scan(path, folder))
        except (ImagingInputError, InputError) as exc:
            fail(f"--scan {path}: {exc}")
        except OSError as exc:
            fail(f"--scan {path}: {exc.strerror}: {exc.filename} (input or --out {folder})")
        if date is None and path.is_dir():
            date = dicom_date(path)
        inputs.append(ScanInput(id=f"scan-{k}", date=date, result=result, folder=folder))
    return inputs


def _assess(patients: list[Any], scans: list[Path], scan_dates: list[str],
            out: Path | None) -> list[Any]:
    from brainmets.case import assess_case
    from brainmets.model import InputError

    if not scans:
        if scan_dates or out is not None:
            fail(f"{'--scan-date' if scan_dates else '--out'}: applies to --scan only")
        return [assess_case(p) for p in patients]
    if len(patients) != 1:
        fail("--scan: give FILE with one patient object when assessing with scans")
    dates = _dates(scan_dates, len(scans))
    with tempfile.TemporaryDirectory(prefix="brainmets-assess-") as tmp:
        where = out if out is not None else Path(tmp)
        inputs = scan_inputs(scans, dates, where)
        try:
            return [assess_case(patients[0], inputs)]
        except InputError as exc:
            fail(exc.messages)


def _refuse_unsafe(results: list[Any], was_list: bool) -> None:
    """Exit 2 where no reading of a record is safe (decision 12, e.g. count < lesions listed)."""
    from brainmets.checks import blocking_checks

    msgs = [f"{f'[{i}].' if was_list else ''}{c.fields[0]}: {c.message}"
            for i, r in enumerate(results) for c in blocking_checks(r.input_checks)]
    if msgs:
        fail(msgs)


def register(app: typer.Typer) -> None:
    @app.command("assess")
    def assess(
        file: Path = typer.Argument(
            ..., help="JSON file with one patient or a list ('-' = stdin)."
        ),
        fmt: str = typer.Option("text", "--format", "-f", help="text | json"),
        scans: list[Path] = typer.Option(  # noqa: B008
            [], "--scan",
            help="contrast-enhanced T1 MRI (NIfTI or DICOM folder); repeat for a time line. "
            "Its measured lesions are assessed with the record (as the web service does).",
        ),
        scan_dates: list[str] = typer.Option(  # noqa: B008
            [], "--scan-date", help="YYYY-MM-DD of each --scan, in the same order"
        ),
        out: Path | None = typer.Option(  # noqa: B008
            None, "--out", help="keep the scan outputs in OUT/scan-<k>/ (default: discarded)"
        ),
    ) -> None:
        """Every applicable prognostic index and the guideline-based options (CONTRACT §2)."""
        if fmt not in ("text", "json"):
            fail(f"--format: expected text|json, got {fmt!r}")
        patients, was_list = load_patients(read_json(file))
        results = _assess(patients, scans, scan_dates, out)
        _refuse_unsafe(results, was_list)
        if fmt == "json":
            import json

            payload = [r.model_dump(mode="json") for r in results]
            typer.echo(json.dumps(payload if was_list else payload[0], indent=2,
                                  ensure_ascii=False))
            return
        from rich.console import Console
        from rich.rule import Rule

        from brainmets.report.text import assessment_renderable

        console = Console(highlight=False)
        for i, r in enumerate(results):
            if i:
                console.print(Rule())
            for line in case_lines(r):  # what the case rests on comes first
                console.print(line, markup=False)
            console.print(assessment_renderable(r))


def case_lines(case: Any) -> list[str]:
    """The lesions a case used, whether it is provisional, and its response (text output)."""
    lines = [f"Lesions used ({case.lesion_source}): {len(case.lesions)}"
             + ("  [PROVISIONAL: detected lesions not yet reviewed]" if case.provisional else "")]
    for les in case.lesions:
        where = f" scan {les.scan.id}" + (f" {les.scan.date}" if les.scan.date else "") \
            if les.scan else ""
        size = f"{les.diameter_mm:.1f} mm" if les.diameter_mm is not None else "size unknown"
        status = f", {les.status}" if les.status else ""
        lines.append(f"  {les.id}: {size}, {les.location or 'location unknown'} "
                     f"({les.source}{where}{status})")
    if case.response is not None:
        lines.append(f"Response ({case.response.source}): {case.response.category}"
                     + (" (provisional)" if case.response.provisional else ""))
    if case.response_note:
        lines.append(f"Response: {case.response_note}")
    return lines
