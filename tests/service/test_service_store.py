"""Registry (store) tests on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from brainmets.store import open_store, repo
from brainmets.store.models import AuditEntry, Patient, Scan, TimePoint


def test_migrations_create_every_table_and_are_idempotent(store, db_url, tmp_path):
    tables = store.tables()
    assert {"users", "patients", "timepoints", "scans", "assessments", "audit_log",
            "lesion_reviews", "alembic_version"} <= tables
    again = open_store(db_url, tmp_path / "data")  # second start-up: no error, same head
    with again.engine.connect() as c:
        assert c.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0002"
    again.dispose()


def test_sqlite_uses_wal_and_foreign_keys(tmp_path):
    s = open_store(None, tmp_path)  # default: SQLite under the data dir
    assert (tmp_path / "registry.sqlite3").exists()
    with s.engine.connect() as c:
        assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert c.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert c.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
    s.dispose()


def test_users_tokens_are_hashed_and_roles_checked(store):
    with store.session() as s:
        user, token = repo.create_user(s, "dr-a", "clinician")
        assert token.startswith("bm_") and len(token) > 40
        assert user.token_hash == repo.hash_token(token) and token not in user.token_hash
    with store.session() as s:
        assert repo.user_by_token(s, token).name == "dr-a"
        assert repo.user_by_token(s, token + "x") is None
        assert repo.user_by_token(s, "") is None
        with pytest.raises(ValueError, match="already exists"):
            repo.create_user(s, "dr-a", "admin")
        with pytest.raises(ValueError, match="role"):
            repo.create_user(s, "dr-b", "superuser")
    with store.session() as s:
        assert repo.revoke_user(s, "dr-a")
    with store.session() as s:
        assert repo.user_by_token(s, token) is None


def test_patient_crud_versions_and_visibility(store, patient_record):
    with store.session() as s:
        a, _ = repo.create_user(s, "a", "clinician")
        b, _ = repo.create_user(s, "b", "clinician")
        r, _ = repo.create_user(s, "r", "researcher")
        p = repo.create_patient(s, a, patient_record, display_name="Jane Doe")
        pid = p.id
    with store.session() as s:
        p = s.get(Patient, pid)
        assert p.record["primary"]["egfr"] == "positive" and p.version == 1
        rec = dict(p.record, kps=70)
        repo.update_patient(s, p, rec)
    with store.session() as s:
        p = s.get(Patient, pid)
        assert p.record["kps"] == 70 and p.version == 2 and p.updated_at >= p.created_at
        a, b, r = (s.scalar(select(repo.User).where(repo.User.name == n)) for n in "abr")
        assert [x.id for x in repo.visible_patients(s, a)] == [pid]
        assert repo.visible_patients(s, b) == []
        assert [x.id for x in repo.visible_patients(s, r)] == [pid]


def test_failed_transaction_leaves_nothing(store, patient_record):
    with store.session() as s:
        a, _ = repo.create_user(s, "a", "clinician")
    with pytest.raises(RuntimeError), store.session() as s:
        repo.create_patient(s, s.merge(a), patient_record)
        raise RuntimeError("boom")
    with store.session() as s:
        assert repo.count_patients(s) == 0


def test_foreign_keys_are_enforced(store):
    import datetime as dt

    with pytest.raises(IntegrityError), store.session() as s:
        s.add(TimePoint(patient_id="nope", date=dt.date(2026, 1, 1)))
        s.flush()
    with pytest.raises(IntegrityError), store.session() as s:
        s.add(Scan(patient_id="nope", timepoint_id="nope", kind="nifti", sha256="0" * 64,
                   size_bytes=1))
        s.flush()


def test_audit_rows_hold_ids_not_phi(store, patient_record):
    with store.session() as s:
        a, _ = repo.create_user(s, "a", "clinician")
        p = repo.create_patient(s, a, patient_record, display_name="Jane Doe")
        repo.audit(s, a, "read", f"GET /api/patients/{p.id}", "ok", 200, p.id)
        repo.audit(s, None, "read", "GET /api/patients/x", "unauthenticated", 401)
    with store.session() as s:
        rows = repo.audit_entries(s)
        assert [r.outcome for r in rows] == ["unauthenticated", "ok"]
        assert rows[1].user_name == "a" and rows[1].role == "clinician"
        for r in s.scalars(select(AuditEntry)):
            assert "Jane" not in (r.resource or "")
    cols = {c["name"] for c in inspect(store.engine).get_columns("audit_log")}
    assert {"at", "user_id", "action", "resource", "outcome", "patient_id"} <= cols
