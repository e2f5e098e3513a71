"""The chains' horizon: rows are sealed up to the highest id seen half a minute earlier, never past a late commit.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 19:00:00
"""
from alembic import op
import sqlalchemy as sa

import models.base


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('chain_heads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('horizon_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('horizon_at', models.base.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('chain_heads', schema=None) as batch_op:
        batch_op.drop_column('horizon_at')
        batch_op.drop_column('horizon_id')
