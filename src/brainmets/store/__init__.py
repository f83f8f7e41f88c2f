"""brainmets.store: the patient registry (SQLAlchemy 2 + Alembic).

SQLite under the data directory by default (``BRAINMETS_DATA_DIR``), any SQLAlchemy URL
(PostgreSQL) with ``BRAINMETS_DATABASE_URL``. Migrations are applied by :func:`open_store`.
"""

from __future__ import annotations

from brainmets.store.db import Store, data_dir, database_url, migrate, open_store

__all__ = ["Store", "data_dir", "database_url", "migrate", "open_store"]
