"""the audit log of contact tracing (trace_audit), append-only

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 22:00:00.000000

Triggers refuse every UPDATE and DELETE of the audit log, for the service and anyone else using
the database's ordinary roles.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_MESSAGE = "the contact tracing audit log is append-only"


def upgrade() -> None:
    op.create_table('trace_audit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('asked_by', sa.String(length=120), nullable=False),
    sa.Column('question', sa.String(length=200), nullable=False),
    sa.Column('cases', sa.Integer(), nullable=False),
    sa.Column('revealed', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trace_audit'))
    )
    with op.batch_alter_table('trace_audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trace_audit_at'), ['at'], unique=False)
    if op.get_bind().dialect.name == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER trace_audit_no_{action.lower()} BEFORE {action} ON "
                       f"trace_audit BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END")
    else:
        op.execute("CREATE FUNCTION trace_audit_append_only() RETURNS trigger AS $$ BEGIN "
                   f"RAISE EXCEPTION '{_MESSAGE}'; END $$ LANGUAGE plpgsql")
        op.execute("CREATE TRIGGER trace_audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
                   "ON trace_audit FOR EACH STATEMENT EXECUTE FUNCTION trace_audit_append_only()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP TRIGGER trace_audit_append_only ON trace_audit")
        op.execute("DROP FUNCTION trace_audit_append_only()")
    with op.batch_alter_table('trace_audit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trace_audit_at'))
    op.drop_table('trace_audit')
