"""line_entries.phone_index: the phone's keyed hash, one open place in a venue's line per phone
(issue 18's "joining the line twice")

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 01:40:00.000000

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0019'
down_revision: Union[str, Sequence[str], None] = '0018'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Nullable: the entries joined before the line asked for a phone have none.
    with op.batch_alter_table('line_entries') as batch:
        batch.add_column(sa.Column('phone_index', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('line_entries') as batch:
        batch.drop_column('phone_index')
