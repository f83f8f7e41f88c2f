"""Engine, sessions and start-up migrations for the registry.

Default: a SQLite file ``registry.sqlite3`` under the data directory (``BRAINMETS_DATA_DIR``,
default ``./brainmets-data``) with WAL, foreign keys and ``synchronous=FULL``
(``BRAINMETS_SQLITE_SYNCHRONOUS=NORMAL`` trades durability on power loss, not on a process
crash, for write throughput).
PostgreSQL (or any SQLAlchemy URL) with ``BRAINMETS_DATABASE_URL``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def data_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The data directory (created if missing)."""
    d = Path(path or os.environ.get("BRAINMETS_DATA_DIR") or "brainmets-data").resolve()
    d.mkdir(parents=True, exist_ok=True)
    return d


def database_url(url: str | None = None, directory: Path | None = None) -> str:
    """Explicit URL, else ``BRAINMETS_DATABASE_URL``, else SQLite in the data directory."""
    url = url or os.environ.get("BRAINMETS_DATABASE_URL")
    if url:
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        return url
    return f"sqlite:///{(directory or data_dir()) / 'registry.sqlite3'}"


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001 - DBAPI connection
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    sync = os.environ.get("BRAINMETS_SQLITE_SYNCHRONOUS", "FULL").upper()
    cur.execute(f"PRAGMA synchronous={sync if sync in ('FULL', 'NORMAL', 'EXTRA') else 'FULL'}")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine with the SQLite pragmas installed on every connection."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 10}, pool_pre_ping=True
        )
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    return engine


def migrate(engine: Engine) -> None:
    """Apply every Alembic migration (idempotent; run at start-up)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


@dataclass
class Store:
    """The registry: an engine, a session factory and the data directory for files."""

    engine: Engine
    sessionmaker: sessionmaker[Session]
    data_dir: Path

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with self.sessionmaker() as s, s.begin():
            yield s

    def tables(self) -> set[str]:
        return set(inspect(self.engine).get_table_names())

    def dispose(self) -> None:
        self.engine.dispose()


def open_store(
    url: str | None = None, directory: str | os.PathLike[str] | None = None, upgrade: bool = True
) -> Store:
    """Open (and by default migrate) the registry."""
    d = data_dir(directory)
    engine = make_engine(database_url(url, d))
    if upgrade:
        migrate(engine)
    return Store(engine, sessionmaker(engine, expire_on_commit=False), d)
