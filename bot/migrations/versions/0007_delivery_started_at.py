"""When a customer-service message's send began: a send interrupted for good can be found and reported.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 00:40:00
"""
from alembic import op
import sqlalchemy as sa

import models.base


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivery_started_at', models.base.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('delivery_started_at')
