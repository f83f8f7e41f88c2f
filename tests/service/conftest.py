"""Fixtures for the service tests: registries on SQLite (always) and PostgreSQL (when
``BRAINMETS_TEST_PG_URL`` is set, e.g. by scripts/ci-services.sh), an app with users, helpers."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_URL = os.environ.get("BRAINMETS_TEST_PG_URL")


def _pg_schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file, or a private schema on the test PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.sqlite3'}"
        return
    if not PG_URL:
        pytest.skip("BRAINMETS_TEST_PG_URL not set (scripts/ci-services.sh starts PostgreSQL)")
    from sqlalchemy import create_engine, text

    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(PG_URL)
    with admin.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield _pg_schema_url(PG_URL, schema)
    finally:
        with admin.begin() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def store(db_url: str, tmp_path: Path):
    from brainmets.store import open_store

    s = open_store(db_url, tmp_path / "data")
    yield s
    s.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def port() -> int:
    return free_port()


PATIENT = {
    "id": "MRN-0042",
    "age": 62,
    "sex": "female",
    "kps": 80,
    "ecog": 1,
    "primary": {"site": "nsclc", "histology": "adenocarcinoma", "controlled": True,
                "egfr": "positive", "alk": "negative"},
    "extracranial_metastases": False,
    "brain_metastases": {"count": 2, "lesions": [
        {"diameter_mm": 12.0, "volume_ml": 0.9, "location": "supratentorial"},
        {"diameter_mm": 8.0, "volume_ml": 0.3, "location": "cerebellum"}]},
    "symptoms": {"status": "asymptomatic"},
}


@pytest.fixture
def patient_record() -> dict:
    import copy

    return copy.deepcopy(PATIENT)
