"""access_tokens.expires_at (every token expires) and session_of (page sessions)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 22:20:00.000000

Tokens issued before this revision expire 90 days from now.
"""
from datetime import UTC, datetime, timedelta
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('access_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(), nullable=True))
    op.execute(sa.text("UPDATE access_tokens SET expires_at = :at").bindparams(
        at=(datetime.now(UTC) + timedelta(days=90)).replace(tzinfo=None)))
    with op.batch_alter_table('access_tokens', schema=None) as batch_op:
        batch_op.alter_column('expires_at', existing_type=sa.DateTime(), nullable=False)
        batch_op.add_column(sa.Column('session_of', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_access_tokens_session_of_access_tokens'),
                                    'access_tokens', ['session_of'], ['id'], ondelete='CASCADE')


def downgrade() -> None:
    with op.batch_alter_table('access_tokens', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_access_tokens_session_of_access_tokens'),
                                 type_='foreignkey')
        batch_op.drop_column('session_of')
        batch_op.drop_column('expires_at')
