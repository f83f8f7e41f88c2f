"""Batch runs on Dask distributed: a LocalCluster by default, an existing cluster by address.

Only this module imports dask. A batch is a list of :class:`Job` (an input path and an output
folder); the task function receives the two paths (never arrays) and writes its files into a
private temporary folder that is renamed into place when it succeeds. A completion marker
(``.brainmets-done.json``, holding the input's size and mtime) is written last, so a re-run skips
finished jobs and redoes interrupted or changed ones. A failing job is reported with its path and
error and does not stop the batch.

Cluster choice: ``scheduler`` argument, else ``DASK_SCHEDULER_ADDRESS``, else a LocalCluster
(worker processes, one thread each, a memory limit per worker, dashboard off, loopback only).
"""

from __future__ import annotations

import json
import os
import shutil
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from brainmets.cohort.batch import Job  # the unit of work is defined by the engine

MARKER = ".brainmets-done.json"
ENV_ADDRESS = "DASK_SCHEDULER_ADDRESS"

TaskFn = Callable[[str, str], dict[str, Any] | None]


def scheduler_address(explicit: str | None = None) -> str | None:
    """The scheduler to connect to: the argument, else $DASK_SCHEDULER_ADDRESS, else None."""
    return explicit or os.environ.get(ENV_ADDRESS) or None


@contextmanager
def dask_client(
    scheduler: str | None = None,
    workers: int | None = None,
    *,
    processes: bool = True,
    memory_limit: str = "2GiB",
    threads_per_worker: int = 1,
) -> Iterator[Any]:
    """A dask ``Client``: connected to ``scheduler`` (or $DASK_SCHEDULER_ADDRESS) or to a fresh
    LocalCluster that is shut down on exit."""
    import logging

    from dask.distributed import Client, LocalCluster

    address = scheduler_address(scheduler)
    if address:
        client = Client(address, timeout="20s")
        client.brainmets_description = f"cluster at {address}"  # type: ignore[attr-defined]
        try:
            yield client
        finally:
            client.close()
        return
    n = workers or max(1, min(2, os.cpu_count() or 1))
    # dashboard off; the scheduler's health endpoint on a free loopback port (not :8787);
    # worker processes listen on loopback only; threads use in-process comms
    network: dict[str, Any] = {"scheduler_kwargs": {"dashboard_address": "127.0.0.1:0"}}
    if processes:
        network["host"] = "127.0.0.1"
    # a thread worker lives in this process: a memory limit would measure the whole host
    # process (e.g. a test runner holding other data) and pause the worker for good
    cluster = LocalCluster(
        n_workers=n, threads_per_worker=threads_per_worker, processes=processes,
        memory_limit=memory_limit if processes else 0, dashboard_address=None,
        silence_logs=logging.ERROR, **network,
    )
    client = Client(cluster)
    client.brainmets_description = (  # type: ignore[attr-defined]
        f"LocalCluster: {n} worker {'processes' if processes else 'threads'}, "
        f"{threads_per_worker} thread(s) each, "
        f"memory limit {memory_limit if processes else 'none (threads)'}")
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def _fingerprint(path: str) -> dict[str, Any]:
    p = Path(path)
    if p.is_dir():
        files = [f for f in p.rglob("*") if f.is_file()]
        return {"size": sum(f.stat().st_size for f in files), "files": len(files),
                "mtime_ns": max((f.stat().st_mtime_ns for f in files), default=0)}
    st = p.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _job_fingerprint(job: Job) -> dict[str, Any]:
    """The input's fingerprint, plus the files it depends on (e.g. a patient record beside a
    scan: a changed record redoes the case)."""
    fp = _fingerprint(job.input)
    deps = getattr(job, "depends", ())
    if deps:
        fp["depends"] = {d: _fingerprint(d) if Path(d).exists() else None for d in deps}
    return fp


def is_done(job: Job) -> bool:
    """True when the job's marker exists and matches the current input."""
    marker = Path(job.output) / MARKER
    if not marker.is_file():
        return False
    try:
        saved = json.loads(marker.read_text())
        return saved.get("input_fingerprint") == _job_fingerprint(job)
    except (OSError, ValueError):
        return False


def run_job(fn: TaskFn, job: Job) -> dict[str, Any]:
    """Run one job on a worker; never raises (errors come back as a failed record)."""
    start = time.perf_counter()
    out = Path(job.output)
    tmp = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
    record: dict[str, Any] = {"key": job.key, "input": job.input, "output": job.output}
    try:
        fingerprint = _job_fingerprint(job)
        tmp.mkdir(parents=True)
        info = fn(job.input, str(tmp)) or {}
        if out.exists():  # stale output of an interrupted or changed run
            shutil.rmtree(out)
        os.replace(tmp, out)
        record.update(status="done", seconds=round(time.perf_counter() - start, 3), info=info)
        marker = {**record, "input_fingerprint": fingerprint,
                  "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        tmp_marker = out / f".{MARKER}.tmp"
        tmp_marker.write_text(json.dumps(marker, indent=2, default=str))
        os.replace(tmp_marker, out / MARKER)  # written last: the job is complete
        return record
    except Exception as exc:  # reported, the batch goes on
        shutil.rmtree(tmp, ignore_errors=True)
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" (at {Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
        record.update(status="failed", seconds=round(time.perf_counter() - start, 3),
                      error=f"{type(exc).__name__}: {exc}{where}")
        return record


def run_batch(
    fn: TaskFn,
    jobs: list[Job],
    client: Any,
    *,
    progress: bool = True,
    label: str = "batch",
) -> dict[str, Any]:
    """Run the jobs not yet done on the client's cluster; returns the summary dict.

    ``client`` may be None when every job is already done."""
    from dask.distributed import as_completed

    start = time.perf_counter()
    todo = [j for j in jobs if not is_done(j)]
    skipped = [j for j in jobs if j not in todo]
    records: list[dict[str, Any]] = []
    futures = client.map(run_job, [fn] * len(todo), todo, pure=False) if todo else []
    by_future = dict(zip(futures, todo, strict=True))
    bar = _Progress(len(todo), label, enabled=progress)
    with bar:
        # as_completed([]) looks for a default client: with nothing to do there may be none
        for fut in as_completed(futures) if futures else ():
            job = by_future[fut]
            try:
                rec = fut.result()
            except Exception as exc:  # worker died (memory limit) or cluster error
                rec = {"key": job.key, "input": job.input, "output": job.output,
                       "status": "failed", "error": f"{type(exc).__name__}: {exc}"}
            records.append(rec)
            bar.update(rec["status"] == "done")
            fut.release()
    failed = [r for r in records if r["status"] != "done"]
    return {
        "label": label,
        "cluster": (getattr(client, "brainmets_description", str(client)) if client is not None
                    else "none started (nothing to do)"),
        "total": len(jobs),
        "skipped_already_done": len(skipped),
        "done": len(records) - len(failed),
        "failed": len(failed),
        "failures": [{"input": r["input"], "error": r.get("error")} for r in failed],
        "outputs": sorted(r["output"] for r in records if r["status"] == "done"),
        "seconds": round(time.perf_counter() - start, 3),
    }


class _Progress:
    """rich progress bar on stderr: done / failed / remaining."""

    def __init__(self, total: int, label: str, enabled: bool) -> None:
        self.total, self.done, self.failed = total, 0, 0
        self._p = None
        if enabled and total:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._p = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(),
                TextColumn("done {task.fields[ok]}  failed {task.fields[bad]}  "
                           "remaining {task.fields[left]}"),
                TimeElapsedColumn(), console=Console(stderr=True))
            self._task = self._p.add_task(label, total=total, ok=0, bad=0, left=total)

    def __enter__(self) -> _Progress:
        if self._p:
            self._p.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._p:
            self._p.stop()

    def update(self, ok: bool) -> None:
        self.done += ok
        self.failed += not ok
        if self._p:
            self._p.update(self._task, advance=1, ok=self.done, bad=self.failed,
                           left=self.total - self.done - self.failed)
