"""The console for a working day: Chinese template titles, thread states for the inbox, threads by latest message.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 21:10:00
"""
from alembic import op
import sqlalchemy as sa

import models.base


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'thread_states',
        sa.Column('citizen_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('status_message_id', sa.Integer(), nullable=False),
        sa.Column('assignee', sa.String(length=80), nullable=True),
        sa.Column('seen_message_id', sa.Integer(), nullable=False),
        sa.Column('updated_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_by', sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], name=op.f('fk_thread_states_citizen_id_citizens')),
        sa.PrimaryKeyConstraint('citizen_id', name=op.f('pk_thread_states')),
    )
    with op.batch_alter_table('thread_states', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_thread_states_assignee'), ['assignee'], unique=False)
    with op.batch_alter_table('reply_templates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('title', sa.String(length=80), nullable=True))
    with op.batch_alter_table('citizens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_citizens_last_seen_at'), ['last_seen_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('citizens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_citizens_last_seen_at'))
    with op.batch_alter_table('reply_templates', schema=None) as batch_op:
        batch_op.drop_column('title')
    with op.batch_alter_table('thread_states', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_thread_states_assignee'))
    op.drop_table('thread_states')
