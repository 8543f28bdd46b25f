"""line_settings.offer_minutes: a venue's own time for the head of its line to claim the places
offered (issue 18; empty: OCCUPANCY_LINE_OFFER_MINUTES)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 04:00:00.000000

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0020'
down_revision: Union[str, Sequence[str], None] = '0019'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('line_settings') as batch:
        batch.add_column(sa.Column('offer_minutes', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('line_settings') as batch:
        batch.drop_column('offer_minutes')
