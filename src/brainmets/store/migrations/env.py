"""Alembic environment: migrations run on the connection handed over by ``store.db.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from brainmets.store.models import Base

target_metadata = Base.metadata
config = context.config


def run() -> None:
    conn = config.attributes.get("connection")
    if conn is None:  # `alembic` command line: use sqlalchemy.url from the config
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.begin() as c:
            context.configure(connection=c, target_metadata=target_metadata, render_as_batch=True)
            context.run_migrations()
        return
    context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
    context.run_migrations()


run()
