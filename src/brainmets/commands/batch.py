"""``brainmets batch``: scan image folders / score cohort tables on a Dask cluster."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from brainmets.commands._common import fail

SCHEDULER_HELP = ("Dask scheduler address (tcp://host:8786); default $DASK_SCHEDULER_ADDRESS, "
                  "else a LocalCluster on this machine")


def _run(kind: str, jobs: list, ignored: list[str], out: Path, scheduler: str | None,
         workers: int | None, memory_limit: str, progress: bool, threads: bool = False) -> None:
    from brainmets._atomic import atomic_write_bytes
    from brainmets.cohort import batch as tasks
    from brainmets.distributed import dask_client, is_done, run_batch

    fn = tasks.scan_task if kind == "scan" else tasks.score_task
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    if all(is_done(j) for j in jobs):  # resume with nothing left: no cluster needed
        summary = run_batch(fn, jobs, None, progress=False, label=f"batch {kind}")
    else:
        try:
            with dask_client(scheduler, workers, memory_limit=memory_limit,
                             processes=not threads) as client:
                summary = run_batch(fn, jobs, client, progress=progress, label=f"batch {kind}")
        except OSError as exc:  # scheduler unreachable: leave nothing behind
            if created and not any(out.iterdir()):
                out.rmdir()
            fail(f"--scheduler: cannot connect: {exc}")
    summary["ignored_inputs"] = ignored
    body = json.dumps(summary, indent=2)
    atomic_write_bytes(out / "batch-summary.json", body.encode())
    typer.echo(body)
    if summary["failed"]:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    batch_app = typer.Typer(help="Batch runs on Dask (LocalCluster by default, or a scheduler).",
                            no_args_is_help=True)
    app.add_typer(batch_app, name="batch")

    @batch_app.command("scan")
    def batch_scan(
        in_dir: Path = typer.Argument(..., help="Folder of NIfTI files / DICOM series folders"),
        out: Path = typer.Option(..., "--out", help="Output folder (one sub-folder per case)"),
        scheduler: str | None = typer.Option(None, "--scheduler", help=SCHEDULER_HELP),
        workers: int | None = typer.Option(None, "--workers", min=1,
                                           help="LocalCluster worker processes (default 2)"),
        memory_limit: str = typer.Option("2GiB", "--memory-limit", help="Per local worker"),
        progress: bool = typer.Option(True, "--progress/--no-progress"),
        threads: bool = typer.Option(
            False, "--threads", help="Local workers as threads in this process (small runs)"),
    ) -> None:
        """Run `brainmets scan` on every case of IN_DIR; failures are reported, re-runs resume.

        Writes OUT/<case>/ (lesions.json, lesions.nii.gz, overlay.png, a completion marker) and
        OUT/batch-summary.json. Exit status 1 when any case failed.
        """
        from brainmets.cohort.batch import scan_jobs

        if not in_dir.is_dir():
            fail(f"IN_DIR: not a folder: {in_dir}")
        jobs, ignored = scan_jobs(in_dir, out)
        if not jobs:
            fail(f"IN_DIR: no NIfTI files (.nii, .nii.gz) or DICOM folders in {in_dir}")
        _run("scan", jobs, ignored, out, scheduler, workers, memory_limit, progress, threads)

    @batch_app.command("score")
    def batch_score(
        files: list[Path] = typer.Argument(..., help="Cohort tables (.csv/.parquet/.jsonl)"),
        out: Path = typer.Option(..., "--out", help="Output folder (one sub-folder per table)"),
        scheduler: str | None = typer.Option(None, "--scheduler", help=SCHEDULER_HELP),
        workers: int | None = typer.Option(None, "--workers", min=1,
                                           help="LocalCluster worker processes (default 2)"),
        memory_limit: str = typer.Option("2GiB", "--memory-limit", help="Per local worker"),
        progress: bool = typer.Option(True, "--progress/--no-progress"),
        threads: bool = typer.Option(
            False, "--threads", help="Local workers as threads in this process (small runs)"),
    ) -> None:
        """Score every table with every index (OUT/<table>/scored.parquet); re-runs resume.

        Exit status 1 when any table failed (listed in OUT/batch-summary.json).
        """
        from brainmets.cohort.batch import TABLE_SUFFIXES, score_jobs

        bad = [f for f in files if not f.is_file()]
        if bad:
            fail([f"FILES: no such file: {f}" for f in bad])
        wrong = [f for f in files if not f.name.lower().endswith(TABLE_SUFFIXES)]
        if wrong:
            fail([f"FILES: unsupported file type: {f.name} (expected "
                  f"{', '.join(TABLE_SUFFIXES)})" for f in wrong])
        _run("score", score_jobs(files, out), [], out, scheduler, workers, memory_limit,
             progress, threads)
