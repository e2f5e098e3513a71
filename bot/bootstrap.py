"""Bringing a database to the code's level: migrate to head, install the seed reply library, tell workers.

``init-db`` runs :func:`initialise`; ``serve`` and ``seed-demo`` refuse to start while
:func:`pending_migrations` names one. :func:`bump_generation` makes every worker reload the published
library; the console and the command line call it after they change the library.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask

from bot.redis_store import client_for
from bot.services import services
from replies.library import fill_seed_titles, install_seed

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    """Alembic configuration pointing at the project's migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def migrate(app: Flask) -> str:
    """Upgrade the database to head; returns the revision it is at."""
    svc = services(app)
    cfg = alembic_config()
    with svc.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    with svc.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision() or "base"


def pending_migrations(app: Flask) -> str | None:
    """None if the database is at head, else a one-line reason (``serve`` refuses to start)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    try:
        with services(app).engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except Exception as exc:  # noqa: BLE001 (any connection error is reported in one line)
        return f"cannot connect to the database: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    if current != head:
        return f"database is at revision {current or 'none'}, code expects {head}: run `python -m bot init-db`"
    return None


def initialise(app: Flask) -> tuple[str, int]:
    """Migrate, install missing seed templates, name seed templates still untitled, bump the generation; idempotent."""
    revision = migrate(app)
    svc = services(app)
    with svc.sessions() as session:
        added = install_seed(session)
        # Databases seeded before templates had titles: titles are labels, so filling them changes no reply.
        fill_seed_titles(session)
        session.commit()
    if added:
        bump_generation(app)
    return revision, added


def bump_generation(app: Flask) -> None:
    """Make every worker reload the published library on its next message."""
    svc = services(app)
    url = app.config["REDIS_URL"] or (svc.embedded_redis.running_url() if svc.embedded_redis else None)
    if not url:
        return  # no server running: workers started later read the library afresh
    client = client_for(url)
    try:
        svc.deduper.bump_generation(client)
    finally:
        client.close()
