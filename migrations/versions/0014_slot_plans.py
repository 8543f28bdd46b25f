"""slot plans: a venue run by time slots (issue 18)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 21:00:00.000000

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0014'
down_revision: Union[str, Sequence[str], None] = '0013'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'slot_plans',
        sa.Column('venue_id', sa.Integer(), nullable=False),
        sa.Column('ranges', sa.String(length=600), nullable=False),
        sa.Column('weekdays', sa.String(length=7), nullable=False),
        sa.Column('capacity', sa.Integer(), nullable=False),
        sa.Column('advance_percent', sa.Integer(), nullable=False),
        sa.Column('hold_minutes', sa.Integer(), nullable=False),
        sa.Column('per_phone', sa.Integer(), nullable=False),
        sa.Column('days_ahead', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['venue_id'], ['venues.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('venue_id'),
    )


def downgrade() -> None:
    op.drop_table('slot_plans')
