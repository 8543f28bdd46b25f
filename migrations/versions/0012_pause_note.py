"""while a venue is paused: the note visitors see and when entry should reopen

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 04:10:00.000000

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0012'
down_revision: Union[str, Sequence[str], None] = '0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('venues', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pause_note', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('reopens_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('venues', schema=None) as batch_op:
        batch_op.drop_column('reopens_at')
        batch_op.drop_column('pause_note')
