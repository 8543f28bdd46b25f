"""tracing's index by time then blind index (ix_visits_checked_in_at_phone), instead of one on the
blind index alone and one on the time alone

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 03:05:00.000000

A new visit went to a random page of the blind index's own index; this one only grows at its end.
"""
from typing import Sequence, Union

from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0011'
down_revision: Union[str, Sequence[str], None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.create_index('ix_visits_checked_in_at_phone', ['checked_in_at', 'phone_index'],
                              unique=False)
        batch_op.drop_index('ix_visits_phone_index')
        batch_op.drop_index('ix_visits_checked_in_at')


def downgrade() -> None:
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.create_index('ix_visits_checked_in_at', ['checked_in_at'], unique=False)
        batch_op.create_index('ix_visits_phone_index', ['phone_index'], unique=False)
        batch_op.drop_index('ix_visits_checked_in_at_phone')
