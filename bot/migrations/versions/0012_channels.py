"""The channel of every message and case (wechat today; web, open311 and hotline join the same loop).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 22:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A server default: existing rows are WeChat's, and the message path's inserts need not name the column.
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=16), server_default='wechat', nullable=False))
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=16), server_default='wechat', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('channel')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('channel')
