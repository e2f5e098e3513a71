"""Opinion-solicitation campaigns (征集): campaigns, their themes, and the campaign an opinion belongs to.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-09 10:00:00
"""
from alembic import op
import sqlalchemy as sa

import models.base


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'campaigns',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('title', sa.String(length=120), nullable=False),
        sa.Column('questions', sa.Text(), nullable=False),
        sa.Column('join_keyword', sa.String(length=40), nullable=True),
        sa.Column('join_click_key', sa.String(length=64), nullable=True),
        sa.Column('join_scene', sa.String(length=64), nullable=True),
        sa.Column('starts_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('ends_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('intro_key', sa.String(length=80), nullable=False),
        sa.Column('thanks_key', sa.String(length=80), nullable=False),
        sa.Column('outcome_key', sa.String(length=80), nullable=True),
        sa.Column('status', sa.Enum('draft', 'open', 'closed', name='campaignstatus', native_enum=False, length=12),
                  nullable=False),
        sa.Column('created_by', sa.String(length=80), nullable=False),
        sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('opened_at', models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('closed_at', models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('themes_at', models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('outcome_sent_at', models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('outcome_sent_by', sa.String(length=80), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns')),
    )
    op.create_table(
        'campaign_themes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('label', sa.String(length=200), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('share', sa.Float(), nullable=False),
        sa.Column('keywords', sa.Text(), nullable=False),
        sa.Column('quotes', sa.Text(), nullable=False),
        sa.Column('adopted', sa.Boolean(), nullable=True),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('marked_by', sa.String(length=80), nullable=True),
        sa.Column('marked_at', models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('computed_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_themes_campaign_id_campaigns')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_themes')),
    )
    with op.batch_alter_table('campaign_themes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_themes_campaign_id'), ['campaign_id'], unique=False)
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('campaign_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_messages_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_messages_campaign_id_campaigns'), 'campaigns', ['campaign_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_messages_campaign_id_campaigns'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_messages_campaign_id'))
        batch_op.drop_column('campaign_id')
    with op.batch_alter_table('campaign_themes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_themes_campaign_id'))
    op.drop_table('campaign_themes')
    op.drop_table('campaigns')
