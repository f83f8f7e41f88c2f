"""Scan submission and stored volumes, shared by the REST API and the web UI.

Both doors call these functions (the UI never calls an API route handler): an upload is
staged under the size/voxel ceilings, its time point and scan rows are written with the files
in place before the commit, and the job is queued.
"""

from __future__ import annotations

import os
import shutil
from typing import Any, BinaryIO

from fastapi import HTTPException, Request
from sqlalchemy import select

from brainmets.service.jobs import scan_dir
from brainmets.service.records import InvalidRecord, check_scan_date, parse_scan_date, patient_for
from brainmets.service.uploads import UploadError, stage_upload
from brainmets.store.models import Scan, TimePoint, User


def volume_path(store: Any, scan: Scan) -> Any:
    """The stored MRI of a scan as NIfTI (converted volume for DICOM input), or None."""
    folder = scan_dir(store, scan.id)
    for cand in (folder / "out" / "volume.nii.gz", folder / "input.nii.gz",
                 folder / "input.nii"):
        if cand.exists():
            return cand
    return None


def submit_scan(request: Request, pid: str, fileobj: BinaryIO, date: str | None,
                steroid_mg_day: float | None, clinical_status: str | None,
                user: User) -> str:
    """Stage, store and queue one uploaded scan; returns the scan (job) id.

    Bad input raises :class:`~brainmets.service.records.InvalidRecord` (422), an oversized or
    unreadable upload :class:`HTTPException` with its status; access is checked before a byte
    is read.
    """
    store = request.app.state.store
    settings = request.app.state.settings
    when = parse_scan_date(date)
    with store.session() as s:  # access check before reading a byte of the upload
        p = patient_for(request, s, user, pid, write=True)
        check_scan_date(when, p.record)
    tmp_root = store.data_dir / "tmp"
    tmp_root.mkdir(exist_ok=True)
    try:
        staged = stage_upload(fileobj, tmp_root, settings)
    except UploadError as exc:
        if exc.status == 422:
            raise InvalidRecord([exc.message]) from None
        raise HTTPException(exc.status, exc.message) from None
    final = None
    try:
        with store.session() as s:
            p = patient_for(request, s, user, pid, write=True)
            tp = s.scalar(select(TimePoint).where(TimePoint.patient_id == p.id,
                                                  TimePoint.date == when))
            if tp is None:
                tp = TimePoint(patient_id=p.id, date=when)
                s.add(tp)
            if steroid_mg_day is not None:
                tp.steroid_mg_day = steroid_mg_day
            if clinical_status is not None:
                tp.clinical_status = clinical_status
            s.flush()
            scan = Scan(patient_id=p.id, timepoint_id=tp.id, kind=staged.kind, status="queued",
                        sha256=staged.sha256, size_bytes=staged.size_bytes)
            s.add(scan)
            s.flush()
            final = scan_dir(store, scan.id)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged.folder, final)  # files in place before the row is committed
            scan_id = scan.id
    except BaseException:
        staged.discard()
        if final is not None:
            shutil.rmtree(final, ignore_errors=True)
        raise
    request.app.state.jobs.submit(scan_id)
    return scan_id
