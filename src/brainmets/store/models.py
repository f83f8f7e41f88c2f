"""SQLAlchemy 2 models of the registry: users, patients, time points, scans, assessments, audit.

The patient record itself is stored as CONTRACT §1 JSON (``Patient.record``) so new optional
fields need no migration; everything queried on (owner, status, dates) is a real column.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

ROLES = ("clinician", "researcher", "admin")
SCAN_STATUSES = ("queued", "running", "done", "failed")


def utcnow() -> dt.datetime:
    """Timezone-aware UTC now (stored as naive UTC for SQLite/PostgreSQL parity)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def new_id() -> str:
    """Random opaque identifier (32 hex chars); never derived from patient data."""
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    display_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    record: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    owner: Mapped[User] = relationship()
    timepoints: Mapped[list[TimePoint]] = relationship(
        back_populates="patient", order_by="TimePoint.date", cascade="all, delete-orphan"
    )
    scans: Mapped[list[Scan]] = relationship(
        back_populates="patient", order_by="Scan.created_at", cascade="all, delete-orphan"
    )


class TimePoint(Base):
    __tablename__ = "timepoints"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    date: Mapped[dt.date] = mapped_column(Date)
    steroid_mg_day: Mapped[float | None] = mapped_column(nullable=True)
    clinical_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    patient: Mapped[Patient] = relationship(back_populates="timepoints")
    scans: Mapped[list[Scan]] = relationship(back_populates="timepoint")


class Scan(Base):
    """One uploaded MRI and its background scan job (the job id is the scan id)."""

    __tablename__ = "scans"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    timepoint_id: Mapped[str] = mapped_column(ForeignKey("timepoints.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))  # nifti | dicom
    status: Mapped[str] = mapped_column(String(10), default="queued", index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)

    patient: Mapped[Patient] = relationship(back_populates="scans")
    timepoint: Mapped[TimePoint] = relationship(back_populates="scans")


class AssessmentRow(Base):
    """A stored assessment snapshot (CONTRACT §2 JSON) for one version of the record."""

    __tablename__ = "assessments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    record_version: Mapped[int] = mapped_column(Integer)
    scan_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    software_version: Mapped[str] = mapped_column(String(40))
    knowledge_version: Mapped[str] = mapped_column(String(40))
    # fingerprint of the lesion review state the assessment was made with (None: no review)
    review_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AuditEntry(Base):
    """Who did what to which patient's data, when, and the outcome. Holds no PHI."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    user_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    role: Mapped[str | None] = mapped_column(String(20), nullable=True)
    action: Mapped[str] = mapped_column(String(20))  # read | create | update | upload | ...
    resource: Mapped[str] = mapped_column(String(300))
    patient_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    outcome: Mapped[str] = mapped_column(String(20))  # ok | denied | not_found | invalid | ...
    status_code: Mapped[int] = mapped_column(Integer)
    # review actions only: the lesion's state before and after (measurements, no PHI)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    __table_args__ = (Index("ix_audit_patient_at", "patient_id", "at"),)


REVIEW_STATUSES = ("detected", "confirmed", "rejected", "added")


class LesionReview(Base):
    """A clinician's review of one lesion of one scan (CONTRACT §5), or a lesion added by hand.

    ``lesion_id`` is ``L<k>`` for lesion k of the scan's lesions.json, ``A<n>`` for added ones.
    ``measurements`` holds corrected (or, for added lesions, all) CONTRACT §1 lesion fields.
    """

    __tablename__ = "lesion_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    scan_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    lesion_id: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12))
    measurements: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    method: Mapped[str | None] = mapped_column(String(40), nullable=True)
    reviewed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("patient_id", "scan_id", "lesion_id", name="uq_review_lesion"),
    )
