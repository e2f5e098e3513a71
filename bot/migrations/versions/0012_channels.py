"""The channel of every message and case (wechat today; web, open311 and hotline join the same loop); the inbox's
indexes: a citizen's cases in order, and the few messages with an emergency by thread; the dashboard's two
covering indexes carry citizen_id and channel (the try-it chat left out and channels counted from the index).

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


_CASE_INCLUDE = ['status', 'case_type', 'owner_department', 'transfer_to', 'due_at', 'answered_at', 'closed_at',
                 'rating']


def _covering(with_new: bool) -> None:
    extra = ['citizen_id', 'channel'] if with_new else []
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_direction_received')
        batch_op.create_index('ix_messages_direction_received', ['direction', 'received_at', 'intent', 'department'],
                              unique=False, postgresql_include=extra)
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_opened_at')
        batch_op.create_index('ix_cases_opened_at', ['opened_at'], unique=False,
                              postgresql_include=_CASE_INCLUDE + extra)


def upgrade() -> None:
    # A server default: existing rows are WeChat's, and the message path's inserts need not name the column.
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=16), server_default='wechat', nullable=False))
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=16), server_default='wechat', nullable=False))
        batch_op.create_index('ix_cases_citizen_id_id', ['citizen_id', 'id'], unique=False)
        batch_op.drop_index('ix_cases_citizen_id')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index(
            'ix_messages_emergency_citizen', ['citizen_id'], unique=False,
            postgresql_where=sa.text('emergency_kind IS NOT NULL'), sqlite_where=sa.text('emergency_kind IS NOT NULL'),
        )
    _covering(True)


def downgrade() -> None:
    _covering(False)
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_emergency_citizen')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_citizen_id', ['citizen_id'], unique=False)
        batch_op.drop_index('ix_cases_citizen_id_id')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('channel')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('channel')
