"""Rising-issue incidents (舆情预警) with their public-opinion clock; a citizen's messages indexed in order.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 21:40:00
"""
from alembic import op
import sqlalchemy as sa

import models.base


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'opinion_incidents',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('theme', sa.String(length=20), nullable=True),
        sa.Column('place', sa.String(length=40), nullable=True),
        sa.Column('raised_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('first_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('citizens', sa.Integer(), nullable=False),
        sa.Column('expected', sa.Float(), nullable=False),
        sa.Column('message_ids', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('info_at', models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('briefing_at', models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('response_at', models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('closed_at', models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('notified', sa.Text(), nullable=False),
        sa.Column('updated_by', sa.String(length=80), nullable=False),
        sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_opinion_incidents')),
    )
    with op.batch_alter_table('opinion_incidents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_opinion_incidents_raised_at'), ['raised_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_opinion_incidents_status'), ['status'], unique=False)
    # The inbox reads each citizen's newest messages: (citizen_id, id) instead of citizen_id alone.
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_citizen_id_id', ['citizen_id', 'id'], unique=False)
        batch_op.drop_index('ix_messages_citizen_id')


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_citizen_id', ['citizen_id'], unique=False)
        batch_op.drop_index('ix_messages_citizen_id_id')
    with op.batch_alter_table('opinion_incidents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_opinion_incidents_status'))
        batch_op.drop_index(batch_op.f('ix_opinion_incidents_raised_at'))
    op.drop_table('opinion_incidents')
