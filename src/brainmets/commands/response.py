"""``brainmets response``: RANO-BM category over time (CONTRACT §4).

The result is built by the case composer's response helpers
(:func:`brainmets.case.response_from_timepoints`, :func:`brainmets.case.response_from_scan_dirs`),
the same code that gives the response block of a case on the web.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import typer

from brainmets.commands._common import fail, read_json

_CLINICAL = ("improved", "stable", "worse")


def _split(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [x.strip() for x in text.split(",")]


def _config(option: list[str]) -> Any:
    """``--option KEY=VALUE`` readings -> a ResponseConfig (exit 2 naming the bad one)."""
    from brainmets.response.config import get_config

    overrides: dict[str, str] = {}
    for item in option:
        key, sep, value = item.partition("=")
        if not sep:
            fail(f"--option: expected KEY=VALUE, got {item!r}")
        overrides[key.strip()] = value.strip()
    try:
        return get_config(overrides or None)
    except ValueError as exc:
        fail(f"--option: {exc}")


def _dates(dates: str | None, errs: list[str]) -> list[dt.date] | None:
    if dates is None:
        return None
    out = []
    for i, d in enumerate(_split(dates) or []):
        try:
            out.append(dt.date.fromisoformat(d))
        except ValueError:
            errs.append(f"--dates[{i}]: expected YYYY-MM-DD, got {d!r}")
    return out


def _steroids(steroids: str | None, errs: list[str]) -> list[float | None] | None:
    if steroids is None:
        return None
    out: list[float | None] = []
    for i, s in enumerate(_split(steroids) or []):
        try:
            out.append(None if s == "" else float(s))
        except ValueError:
            errs.append(f"--steroids[{i}]: expected a number (mg/day), got {s!r}")
            continue
        if out[-1] is not None and out[-1] < 0:
            errs.append(f"--steroids[{i}]: must be >= 0, got {s!r}")
    return out


def _clinical(clinical: str | None, errs: list[str]) -> list[str | None] | None:
    if clinical is None:
        return None
    out: list[str | None] = []
    for i, c in enumerate(_split(clinical) or []):
        if c and c not in _CLINICAL:
            errs.append(f"--clinical[{i}]: expected {'|'.join(_CLINICAL)}, got {c!r}")
        out.append(c or None)
    return out


def _from_dirs(inputs: list[Path], dates: str | None, steroids: str | None,
               clinical: str | None, on_io: bool, io_start: str | None, cfg: Any) -> Any:
    """Scan folders -> the composer's response (registration, matching, RANO-BM/iRANO)."""
    from brainmets.case import response_from_scan_dirs
    from brainmets.model import InputError

    errs: list[str] = []
    date_list = _dates(dates, errs)
    st_list = _steroids(steroids, errs)
    cl_list = _clinical(clinical, errs)
    start = None
    if io_start is not None:
        try:
            start = dt.date.fromisoformat(io_start)
        except ValueError:
            errs.append(f"--immunotherapy-start: expected YYYY-MM-DD, got {io_start!r}")
    if errs:
        raise InputError(errs)
    return response_from_scan_dirs(list(inputs), date_list, st_list, cl_list, on_io, start, cfg)


def _evaluate(inputs: list[Path], folder_opts: dict[str, Any], cfg: Any) -> Any:
    """FILE or scan folders -> CaseResponse; exit 2 naming the bad input."""
    from brainmets.case import response_from_timepoints
    from brainmets.model import InputError

    try:
        if any(p.is_dir() for p in inputs):
            bad = [str(p) for p in inputs if not p.is_dir()]
            if bad:
                fail(f"DIRS: not scan output folders: {', '.join(bad)} (give one FILE or "
                     "only folders)")
            return _from_dirs(inputs, folder_opts["--dates"], folder_opts["--steroids"],
                              folder_opts["--clinical"], folder_opts["on_io"],
                              folder_opts["--immunotherapy-start"], cfg)
        if len(inputs) != 1:
            fail("FILE: give one time-points JSON file, or scan folders only")
        for name in ("--dates", "--steroids", "--clinical", "--save-record",
                     "--immunotherapy-start"):
            if folder_opts.get(name) is not None:
                fail(f"{name}: applies to scan folders only; put it in FILE")
        return response_from_timepoints(read_json(inputs[0]), cfg)
    except InputError as exc:
        fail(exc.messages)


def _emit(res: Any, fmt: str, plot: Path | None, save_record: Path | None, cfg: Any) -> None:
    plot_path = None
    if plot is not None:
        from brainmets.response.plot import plot_trajectory

        try:
            plot_path = plot_trajectory(res, plot, cfg)
        except OSError as exc:
            fail(f"--plot: cannot write {plot}: {exc.strerror}")
    if save_record is not None and res.timepoints_record is not None:
        from brainmets._atomic import atomic_write_text

        atomic_write_text(save_record, json.dumps(res.timepoints_record, indent=2) + "\n")
    if fmt == "json":
        exclude = {"tracking", "timepoints_record"} if res.tracking is None else set()
        out = res.model_dump(mode="json", exclude=exclude)
        if plot_path is not None:
            out["plot"] = str(plot_path)
        typer.echo(json.dumps(out, indent=2, default=str))
        return
    from brainmets.response.text import render_text

    text = render_text(res, res.tracking)
    if plot_path is not None:
        text += f"  plot: {plot_path}\n"
    typer.echo(text, nl=False)


def register(app: typer.Typer) -> None:
    @app.command("response")
    def response(
        inputs: list[Path] = typer.Argument(  # noqa: B008
            ...,
            help="FILE: measured time points (CONTRACT §4 JSON, '-' for stdin); or DIR0 DIR1 "
            "...: 'brainmets scan' output folders, oldest first.",
        ),
        fmt: str = typer.Option("json", "--format", help="json | text"),
        plot: Path | None = typer.Option(  # noqa: B008
            None, "--plot", help="write the trajectory plot to OUT.png or OUT.svg"
        ),
        dates: str | None = typer.Option(
            None, "--dates",
            help="scan folders: one YYYY-MM-DD per folder, comma-separated (default: 'date' "
            "in each lesions.json, else the DICOM header)"
        ),
        steroids: str | None = typer.Option(
            None, "--steroids", help="scan folders: dexamethasone mg/day per scan, e.g. 0,0,4"
        ),
        clinical: str | None = typer.Option(
            None, "--clinical", help="scan folders: improved|stable|worse per scan"
        ),
        on_immunotherapy: bool = typer.Option(
            False, "--on-immunotherapy", help="scan folders: patient on immunotherapy (iRANO)"
        ),
        immunotherapy_start: str | None = typer.Option(
            None, "--immunotherapy-start", help="scan folders: YYYY-MM-DD immunotherapy start"
        ),
        option: list[str] = typer.Option(  # noqa: B008
            [], "--option",
            help="uncertain-point reading KEY=VALUE (small_lesion_rule=actual|recist_5mm, "
            "absolute_increase_reference=nadir|prior, steroid_reference=baseline|previous)",
        ),
        save_record: Path | None = typer.Option(  # noqa: B008
            None, "--save-record", help="scan folders: also write the built time-points record"
        ),
    ) -> None:
        """RANO-BM response (with iRANO) of the latest time point, with its reasons."""
        if fmt not in ("json", "text"):
            fail(f"--format: expected json|text, got {fmt!r}")
        if plot is not None and plot.suffix.lower() not in (".png", ".svg"):
            fail(f"--plot: expected a .png or .svg file name, got {plot.name!r}")
        cfg = _config(option)
        folder_opts = {"--dates": dates, "--steroids": steroids, "--clinical": clinical,
                       "--save-record": save_record, "on_io": on_immunotherapy,
                       "--immunotherapy-start": immunotherapy_start}
        res = _evaluate(inputs, folder_opts, cfg)
        _emit(res, fmt, plot, save_record, cfg)
