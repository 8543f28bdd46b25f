"""the open-visits index holds only open visits (partial index on venue_id)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 06:55:00.000000

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

OPEN = sa.text("checked_out_at IS NULL")


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_index('ix_visits_open')
        batch_op.create_index('ix_visits_open', ['venue_id'], unique=False,
                              sqlite_where=OPEN, postgresql_where=OPEN)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_index('ix_visits_open')
        batch_op.create_index('ix_visits_open', ['venue_id', 'checked_out_at'], unique=False)
