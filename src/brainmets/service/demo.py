"""Demo seeding for ``brainmets serve --demo`` / ``brainmets demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from brainmets.store import repo
from brainmets.store.db import Store

DEMO_PATIENT: dict[str, Any] = {
    "id": "DEMO-001",
    "age": 62,
    "sex": "female",
    "kps": 80,
    "ecog": 1,
    "primary": {"site": "nsclc", "histology": "adenocarcinoma", "controlled": True,
                "egfr": "positive", "alk": "negative", "ros1": "negative"},
    "extracranial_metastases": False,
    "symptoms": {"status": "asymptomatic"},
    "therapy": {"systemic_options_available": True},
}


def seed(store: Store, mri: Path | None = None, user_name: str = "demo",
         record: dict[str, Any] | None = None, scan_fn: Any = None, run_scan: bool = True,
         phantom: bool = False) -> dict[str, Any]:
    """Create a demo clinician (new token each call), the demo patient and, when ``mri`` is
    given (a NIfTI file) or ``phantom`` is true (a synthetic MRI from the imaging phantom), a
    scan of it: run now (``run_scan``) or left queued for the server's job runner.
    Returns {"token", "patient_id", "scan_id", "scan_status"}."""
    import datetime as dt
    import shutil

    from brainmets.model import parse_patient
    from brainmets.service.jobs import JobRunner, scan_dir
    from brainmets.store.models import Scan, TimePoint, User

    rec = parse_patient(record or DEMO_PATIENT).model_dump(mode="json", exclude_none=True)
    if mri is None and phantom:
        mri = demo_mri(store.data_dir / "demo")
    with store.session() as s:
        user = s.query(User).filter(User.name == user_name).one_or_none()
        if user is None:
            user, token = repo.create_user(s, user_name, "clinician")
        else:  # rotate the demo token so it can be printed again
            import secrets

            token = repo.TOKEN_PREFIX + secrets.token_urlsafe(32)
            user.token_hash, user.active = repo.hash_token(token), True
        p = repo.create_patient(s, user, rec, "Demo Patient")
        pid = p.id
        scan_id = None
        if mri is not None:
            import hashlib

            tp = TimePoint(patient_id=pid, date=dt.datetime.now(dt.UTC).date())
            s.add(tp)
            s.flush()
            data = Path(mri).read_bytes()
            scan = Scan(patient_id=pid, timepoint_id=tp.id, kind="nifti", status="queued",
                        sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))
            s.add(scan)
            s.flush()
            scan_id = scan.id
            folder = scan_dir(store, scan_id)
            folder.mkdir(parents=True, exist_ok=True)
            name = "input.nii.gz" if str(mri).endswith(".gz") else "input.nii"
            shutil.copyfile(mri, folder / name)
    status = None
    if scan_id is not None:
        status = "queued"
        if run_scan:
            runner = JobRunner(store, scan_fn)
            try:
                runner.run(scan_id)
            finally:
                runner.shutdown()
            with store.session() as s:
                row = s.get(Scan, scan_id)
                status = row.status if row is not None else "missing"
    return {"token": token, "patient_id": pid, "scan_id": scan_id, "scan_status": status}


def demo_mri(folder: Path, seed_value: int = 20260101) -> Path | None:
    """A small synthetic T1c MRI for the demo (None when the imaging phantom is missing)."""
    try:
        from brainmets.imaging.phantom import make_case
    except ImportError:
        return None
    out = Path(folder) / "phantom"
    if not (out / "t1c.nii.gz").exists():
        make_case(seed_value, out, voxel_mm=(2.0, 2.0, 2.0), full_head=False,
                  random_orientation=False, n_lesions=3, diameter_range=(6.0, 25.0))
    return out / "t1c.nii.gz"


def write_pdf(store: Store, patient_id: str, out: Path, user_name: str = "demo") -> Path:
    """Render a patient's tumour-board PDF to ``out`` (atomic write), as ``user_name`` sees it
    (for ``brainmets demo``; no server needed)."""
    import os

    from brainmets.report.pdf import render_pdf
    from brainmets.service import core
    from brainmets.store.models import Patient, User

    with store.session() as s:
        user = s.query(User).filter(User.name == user_name).one()
        p = s.get(Patient, patient_id)
        if p is None:
            raise ValueError(f"patient_id: no patient {patient_id!r}")
        ctx = core.report_context(store, s, p, user)
    pdf = render_pdf(ctx)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(pdf)
    os.replace(tmp, out)
    return out
