"""line_entries and line_settings: the waiting line of a full venue (issue 18)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 00:30:00.000000

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0018'
down_revision: Union[str, Sequence[str], None] = '0017'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

OPEN = sa.text("claimed_at IS NULL AND left_at IS NULL AND passed_at IS NULL")


def upgrade() -> None:
    op.create_table(
        'line_entries',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('venue_id', sa.Integer(), nullable=False),
        sa.Column('entry_hash', sa.String(length=64), nullable=False),
        sa.Column('party_size', sa.Integer(), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('joined_at', sa.DateTime(), nullable=False),
        sa.Column('offered_at', sa.DateTime(), nullable=True),
        sa.Column('offer_until', sa.DateTime(), nullable=True),
        sa.Column('claimed_at', sa.DateTime(), nullable=True),
        sa.Column('left_at', sa.DateTime(), nullable=True),
        sa.Column('passed_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['venue_id'], ['venues.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('entry_hash'),
    )
    with op.batch_alter_table('line_entries', schema=None) as batch_op:
        batch_op.create_index('ix_line_entries_venue_seq', ['venue_id', 'seq'], unique=False)
        batch_op.create_index('ix_line_entries_open', ['venue_id'], unique=False,
                              sqlite_where=OPEN, postgresql_where=OPEN)
    op.create_table(
        'line_settings',
        sa.Column('venue_id', sa.Integer(), nullable=False),
        sa.Column('paused', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['venue_id'], ['venues.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('venue_id'),
    )


def downgrade() -> None:
    op.drop_table('line_settings')
    with op.batch_alter_table('line_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_line_entries_open')
        batch_op.drop_index('ix_line_entries_venue_seq')
    op.drop_table('line_entries')
