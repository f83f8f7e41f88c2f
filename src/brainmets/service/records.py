"""Record rules shared by the REST API and the web UI (neither door calls the other's
handlers): the 422 error, scan-date checks, empty records and patient access."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import Request

from brainmets.errors import BrainmetsError
from brainmets.service.auth import check_patient
from brainmets.store.models import Patient, User


class InvalidRecord(BrainmetsError):
    def __init__(self, messages: list[str]) -> None:
        self.messages = messages


# the oldest patient the record accepts (CONTRACT §1: age 18-120): a scan older than that
# would predate the patient's birth
MAX_AGE_YEARS = 120


def parse_scan_date(date: str | None) -> dt.date:
    """The scan date (default: today, UTC); 422 naming ``date`` when it is not YYYY-MM-DD."""
    try:
        return dt.date.fromisoformat(date.strip()) if date and date.strip() else \
            dt.datetime.now(dt.UTC).date()
    except ValueError:
        raise InvalidRecord([f"date: expected YYYY-MM-DD, got {date!r}"]) from None


def check_scan_date(when: dt.date, record: dict[str, Any]) -> None:
    """Refuse scan dates in the future or before the patient's birth: the recorded birth date
    when the record has one (``birth_date``), else the oldest age the record accepts."""
    today = dt.datetime.now(dt.UTC).date()
    if when > today:
        raise InvalidRecord([f"date: {when.isoformat()} is in the future (today is "
                             f"{today.isoformat()})"])
    birth = None
    raw = record.get("birth_date")
    if isinstance(raw, str):
        try:
            birth = dt.date.fromisoformat(raw)
        except ValueError:
            birth = None
    if birth is not None and when < birth:
        raise InvalidRecord([f"date: {when.isoformat()} is before the patient's birth date"])
    earliest = today.replace(year=today.year - MAX_AGE_YEARS, day=min(today.day, 28))
    if when < earliest:
        raise InvalidRecord([f"date: {when.isoformat()} is before the patient could have been "
                             f"born (records accept ages up to {MAX_AGE_YEARS} years)"])


def is_empty_record(value: Any) -> bool:
    """True when every leaf of the record is empty (None): such a form creates nothing."""
    if isinstance(value, dict):
        return all(is_empty_record(v) for v in value.values())
    if isinstance(value, list):
        return all(is_empty_record(v) for v in value)
    return value is None


def patient_for(request: Request, s: Any, user: User, pid: str, write: bool = False) -> Patient:
    """The patient ``pid`` if this user may read it (or write it); 404/403 otherwise."""
    request.state.patient_id = pid if len(pid) <= 32 else None
    return check_patient(user, s.get(Patient, pid) if len(pid) <= 32 else None, write)
