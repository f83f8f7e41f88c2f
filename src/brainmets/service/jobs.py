"""Background scan jobs: run the imaging pipeline on an uploaded MRI, off the request path.

Jobs live in the registry (``scans`` table, job id = scan id), so status polling works across
workers and a restarted server re-queues the jobs that were queued or running when it stopped.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import select

from brainmets.imaging.result import ScanResult
from brainmets.store.db import Store
from brainmets.store.models import Scan, utcnow

log = logging.getLogger("brainmets.service.jobs")

ScanFn = Callable[[Path, Path], Any]


def default_scan_fn(input_path: Path, out_dir: Path) -> Any:
    """The imaging pipeline (CONTRACT §3), imported lazily."""
    try:
        from brainmets.imaging.pipeline import scan
    except ImportError as exc:
        raise RuntimeError("the imaging pipeline is not available in this build") from exc
    return scan(input_path, out_dir)


def scan_dir(store: Store, scan_id: str) -> Path:
    return store.data_dir / "scans" / scan_id


def scan_input(folder: Path) -> Path:
    for name in ("input.nii.gz", "input.nii"):
        if (folder / name).exists():
            return folder / name
    return folder / "dicom"


def _dicom_to_nifti(dicom_dir: Path, out: Path) -> None:
    """A NIfTI copy of a DICOM series for the browser viewer (SimpleITK, LPS->RAS handled)."""
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(dicom_dir)))
    tmp = out.with_name(out.name + ".tmp.nii.gz")
    sitk.WriteImage(reader.Execute(), str(tmp))
    os.replace(tmp, out)


class JobRunner:
    """A small thread pool running scan jobs; safe to submit the same id twice."""

    def __init__(self, store: Store, scan_fn: ScanFn | None = None, workers: int = 1) -> None:
        self.store = store
        self.scan_fn = scan_fn or default_scan_fn
        self.pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="scan")
        self.futures: dict[str, Future[None]] = {}
        self._lock = threading.Lock()

    def submit(self, scan_id: str) -> None:
        with self._lock:  # submits come from several request threads
            for k in [k for k, f in self.futures.items() if f.done() and k != scan_id][:100]:
                del self.futures[k]  # keep the map small
            fut = self.futures.get(scan_id)
            if fut is None or fut.done():
                self.futures[scan_id] = self.pool.submit(self.run, scan_id)

    def resume(self) -> int:
        """Re-queue jobs left queued or running by a previous server process."""
        with self.store.session() as s:
            ids = list(s.scalars(select(Scan.id).where(Scan.status.in_(("queued", "running")))))
        for i in ids:
            self.submit(i)
        return len(ids)

    def wait(self, scan_id: str, timeout: float | None = None) -> None:
        with self._lock:
            fut = self.futures.get(scan_id)
        if fut is not None:
            fut.result(timeout)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def run(self, scan_id: str) -> None:
        with self.store.session() as s:
            scan = s.get(Scan, scan_id)
            if scan is None or scan.status == "done":
                return
            scan.status, scan.started_at, scan.error = "running", utcnow(), None
        folder = scan_dir(self.store, scan_id)
        out_tmp, out = folder / "out.tmp", folder / "out"
        try:
            shutil.rmtree(out_tmp, ignore_errors=True)
            out_tmp.mkdir(parents=True)
            src = scan_input(folder)
            self.scan_fn(src, out_tmp)
            if src.is_dir() and not (out_tmp / "volume.nii.gz").exists():
                _dicom_to_nifti(src, out_tmp / "volume.nii.gz")
            # the one lesions.json shape (imaging.result.ScanResult); stored as its JSON
            result = ScanResult.load(out_tmp / "lesions.json").to_json()
            if not (out_tmp / "lesions.nii.gz").exists():
                raise ValueError("the pipeline wrote no lesions.nii.gz")
            shutil.rmtree(out, ignore_errors=True)
            os.replace(out_tmp, out)
        except Exception as exc:  # a background job: any failure is stored on the scan row
            shutil.rmtree(out_tmp, ignore_errors=True)
            # ids only in logs: no PHI
            log.warning("scan job %s failed: %s", scan_id, type(exc).__name__)
            with self.store.session() as s:
                scan = s.get(Scan, scan_id)
                if scan is not None:
                    scan.status, scan.finished_at = "failed", utcnow()
                    from brainmets.service.security import redact_paths

                    scan.error = redact_paths(f"{type(exc).__name__}: {exc}")[:1000]
            return
        result.pop("input", None)  # absolute server path: not for clients
        with self.store.session() as s:
            scan = s.get(Scan, scan_id)
            if scan is not None:
                scan.status, scan.finished_at, scan.result = "done", utcnow(), result
        log.info("scan job %s done: %d lesions", scan_id, len(result["lesions"]))
