"""the city's peak per hour (city_hours), for the city history

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 14:30:00.000000

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('city_hours',
    sa.Column('hour_start', sa.DateTime(), nullable=False),
    sa.Column('peak_count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('hour_start', name=op.f('pk_city_hours'))
    )
    # Hours rolled up before this revision keep what the history showed for them: the sum of the
    # venues' peaks (an upper bound). `occupancy rollup` rewrites those Redis still has (two
    # days); the periodic rollup rewrites only the current and the previous hour.
    op.execute("INSERT INTO city_hours (hour_start, peak_count) "
               "SELECT hour_start, SUM(peak_count) FROM venue_hours GROUP BY hour_start")


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('city_hours')
