"""``brainmets response``: RANO-BM category over time (CONTRACT §4)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from brainmets.commands._common import fail, read_json

_CLINICAL = ("improved", "stable", "worse")


def _split(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [x.strip() for x in text.split(",")]


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
        from brainmets.model import InputError
        from brainmets.response.config import get_config
        from brainmets.response.rano import evaluate
        from brainmets.response.text import render_text

        if fmt not in ("json", "text"):
            fail(f"--format: expected json|text, got {fmt!r}")
        if plot is not None and plot.suffix.lower() not in (".png", ".svg"):
            fail(f"--plot: expected a .png or .svg file name, got {plot.name!r}")
        overrides: dict[str, str] = {}
        for item in option:
            key, sep, value = item.partition("=")
            if not sep:
                fail(f"--option: expected KEY=VALUE, got {item!r}")
            overrides[key.strip()] = value.strip()
        try:
            cfg = get_config(overrides or None)
        except ValueError as exc:
            fail(f"--option: {exc}")
        dir_mode = any(p.is_dir() for p in inputs)
        tracking = None
        record = None
        try:
            if dir_mode:
                if not all(p.is_dir() for p in inputs):
                    bad = [str(p) for p in inputs if not p.is_dir()]
                    fail(f"DIRS: not scan output folders: {', '.join(bad)} (give one FILE or "
                         "only folders)")
                record, tracking = _from_dirs(
                    inputs, dates, steroids, clinical, on_immunotherapy, immunotherapy_start, cfg
                )
                data = record
            else:
                if len(inputs) != 1:
                    fail("FILE: give one time-points JSON file, or scan folders only")
                for name, val in (("--dates", dates), ("--steroids", steroids),
                                  ("--clinical", clinical), ("--save-record", save_record),
                                  ("--immunotherapy-start", immunotherapy_start)):
                    if val is not None:
                        fail(f"{name}: applies to scan folders only; put it in FILE")
                data = read_json(inputs[0])
            res = evaluate(data, cfg)
        except InputError as exc:
            fail(exc.messages)
        if tracking:
            res.flags_for_review = tracking["flags_for_review"] + res.flags_for_review
        plot_path = None
        if plot is not None:
            from brainmets.response.plot import plot_trajectory

            try:
                plot_path = plot_trajectory(res, plot, cfg)
            except OSError as exc:
                fail(f"--plot: cannot write {plot}: {exc.strerror}")
        if save_record is not None and record is not None:
            _write_atomic(save_record, json.dumps(record, indent=2) + "\n")
        if fmt == "json":
            out = res.model_dump(mode="json")
            if tracking is not None:
                out["tracking"] = tracking
                out["timepoints_record"] = record
            if plot_path is not None:
                out["plot"] = str(plot_path)
            typer.echo(json.dumps(out, indent=2, default=str))
        else:
            text = render_text(res, tracking)
            if plot_path is not None:
                text += f"  plot: {plot_path}\n"
            typer.echo(text, nl=False)


def _write_atomic(path: Path, text: str) -> None:
    import os
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".rec-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _from_dirs(inputs, dates, steroids, clinical, on_io, io_start, cfg):
    import datetime as dt

    from brainmets.model import InputError
    from brainmets.response.tracking import build_record

    errs: list[str] = []
    date_list = None
    if dates is not None:
        date_list = []
        for i, d in enumerate(_split(dates) or []):
            try:
                date_list.append(dt.date.fromisoformat(d))
            except ValueError:
                errs.append(f"--dates[{i}]: expected YYYY-MM-DD, got {d!r}")
    st_list = None
    if steroids is not None:
        st_list = []
        for i, s in enumerate(_split(steroids) or []):
            try:
                st_list.append(None if s == "" else float(s))
                if st_list[-1] is not None and st_list[-1] < 0:
                    errs.append(f"--steroids[{i}]: must be >= 0, got {s!r}")
            except ValueError:
                errs.append(f"--steroids[{i}]: expected a number (mg/day), got {s!r}")
    cl_list = None
    if clinical is not None:
        cl_list = []
        for i, c in enumerate(_split(clinical) or []):
            if c and c not in _CLINICAL:
                errs.append(f"--clinical[{i}]: expected {'|'.join(_CLINICAL)}, got {c!r}")
            cl_list.append(c or None)
    start = None
    if io_start is not None:
        try:
            start = dt.date.fromisoformat(io_start)
        except ValueError:
            errs.append(f"--immunotherapy-start: expected YYYY-MM-DD, got {io_start!r}")
    if errs:
        raise InputError(errs)
    return build_record(
        list(inputs), date_list, st_list, cl_list, on_io, start, cfg
    )
