"""Registry operations shared by the REST service and the CLI (no web framework here)."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from brainmets.store.models import (
    ROLES,
    AuditEntry,
    LesionReview,
    Patient,
    Scan,
    TimePoint,
    User,
    utcnow,
)

TOKEN_PREFIX = "bm_"


def hash_token(token: str) -> str:
    """SHA-256 of a token (tokens carry 256 bits of entropy, so no slow KDF is needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_user(s: Session, name: str, role: str) -> tuple[User, str]:
    """Add a user; returns the user and the clear-text token (shown once, stored hashed)."""
    name = name.strip()
    if role not in ROLES:
        raise ValueError(f"role: expected {'|'.join(ROLES)}, got {role!r}")
    if not name or len(name) > 100 or not name.isprintable():
        raise ValueError("name: expected 1-100 printable characters")
    if s.scalar(select(User).where(User.name == name)) is not None:
        raise ValueError(f"name: user {name!r} already exists")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    user = User(name=name, role=role, token_hash=hash_token(token), active=True)
    s.add(user)
    s.flush()
    return user, token


def user_by_token(s: Session, token: str) -> User | None:
    """The active user holding this token, or None (constant-time compare of the hash)."""
    if not token or len(token) > 200:
        return None
    digest = hash_token(token)
    user = s.scalar(select(User).where(User.token_hash == digest))
    if user is None or not user.active or not secrets.compare_digest(user.token_hash, digest):
        return None
    return user


def revoke_user(s: Session, name: str) -> bool:
    user = s.scalar(select(User).where(User.name == name))
    if user is None:
        return False
    user.active = False
    return True


def list_users(s: Session) -> list[User]:
    return list(s.scalars(select(User).order_by(User.id)))


def create_patient(
    s: Session, owner: User, record: dict[str, Any], display_name: str | None = None
) -> Patient:
    p = Patient(owner_id=owner.id, record=record, display_name=display_name, version=1)
    s.add(p)
    s.flush()
    return p


def update_patient(
    s: Session, p: Patient, record: dict[str, Any], display_name: str | None = None
) -> Patient:
    p.record = record
    if display_name is not None:
        p.display_name = display_name
    p.version += 1
    p.updated_at = utcnow()
    s.flush()
    return p


def visible_patients(s: Session, user: User, limit: int = 200, offset: int = 0) -> list[Patient]:
    """Patients this user may read: own records for clinicians, all for researcher/admin."""
    q = select(Patient).order_by(Patient.created_at.desc(), Patient.id)
    if user.role == "clinician":
        q = q.where(Patient.owner_id == user.id)
    return list(s.scalars(q.limit(limit).offset(offset)))


def count_patients(s: Session) -> int:
    return int(s.scalar(select(func.count()).select_from(Patient)) or 0)


def latest_done_scan(s: Session, patient_id: str) -> Scan | None:
    """The patient's current scan: the completed scan with the latest scan date (CONTRACT §5),
    not the last job to finish; on the same date, the one finished last."""
    return s.scalar(
        select(Scan)
        .join(TimePoint, Scan.timepoint_id == TimePoint.id)
        .where(Scan.patient_id == patient_id, Scan.status == "done")
        .order_by(TimePoint.date.desc(), Scan.finished_at.desc(), Scan.created_at.desc())
        .limit(1)
    )


def lesion_reviews(s: Session, patient_id: str) -> list[LesionReview]:
    """Every review row of one patient, oldest first."""
    return list(s.scalars(select(LesionReview).where(LesionReview.patient_id == patient_id)
                          .order_by(LesionReview.id)))


def lesion_review(s: Session, patient_id: str, scan_id: str | None,
                  lesion_id: str) -> LesionReview | None:
    q = select(LesionReview).where(LesionReview.patient_id == patient_id,
                                   LesionReview.lesion_id == lesion_id)
    q = q.where(LesionReview.scan_id.is_(None) if scan_id is None
                else LesionReview.scan_id == scan_id)
    return s.scalar(q)


def audit(
    s: Session,
    user: User | None,
    action: str,
    resource: str,
    outcome: str,
    status_code: int,
    patient_id: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Append one audit row (never holds PHI: ids, route, outcome; for review actions the
    lesion's state before and after)."""
    s.add(
        AuditEntry(
            user_id=user.id if user else None,
            user_name=user.name if user else None,
            role=user.role if user else None,
            action=action,
            resource=resource[:300],
            patient_id=patient_id,
            outcome=outcome,
            status_code=status_code,
            before=before,
            after=after,
        )
    )


def audit_entries(s: Session, patient_id: str | None = None, limit: int = 100) -> list[AuditEntry]:
    q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if patient_id is not None:
        q = q.where(AuditEntry.patient_id == patient_id)
    return list(s.scalars(q))
