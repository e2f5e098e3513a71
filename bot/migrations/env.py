"""Alembic environment: migrates the connection handed over by ``init-db``, or DATABASE_URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from models import Base

target_metadata = Base.metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Use the caller's connection if given (init-db, tests), else connect to DATABASE_URL."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from bot.config import load_config

    engine = create_engine(load_config()["DATABASE_URL"])
    with engine.connect() as conn:
        _run(conn)


run_migrations_online()
