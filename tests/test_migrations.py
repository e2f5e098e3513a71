"""Migrations: the schema Alembic builds is the schema the models describe, on both databases."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from bot.extensions import services
from models import Base


def test_migrated_schema_matches_the_models(app):
    with services(app).engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_init_db_is_idempotent(app):
    from sqlalchemy import func, select

    from bot.bootstrap import initialise
    from models import ReplyTemplate, TemplateVersion

    with services(app).sessions() as session:
        before = (session.scalar(select(func.count()).select_from(ReplyTemplate)),
                  session.scalar(select(func.count()).select_from(TemplateVersion)))
    with app.app_context():
        revision, added = initialise(app)
    with services(app).sessions() as session:
        after = (session.scalar(select(func.count()).select_from(ReplyTemplate)),
                 session.scalar(select(func.count()).select_from(TemplateVersion)))
    assert (revision, added) == ("0013", 0)
    assert before == after and before[0] >= 14
