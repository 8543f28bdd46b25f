"""a hash chain over the contact-tracing audit log (trace_audit.previous, trace_audit.digest)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 02:40:00.000000

Records written before the chain are linked into it here, in id order. The append-only triggers
are lifted for that one backfill and put back.
"""
import hashlib
from datetime import UTC
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0010'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_MESSAGE = "the contact tracing audit log is append-only"
_GENESIS = "0" * 64
_AUDIT = sa.table("trace_audit", sa.column("id", sa.Integer), sa.column("at", sa.DateTime),
                  sa.column("asked_by", sa.String), sa.column("question", sa.String),
                  sa.column("cases", sa.Integer), sa.column("revealed", sa.Integer),
                  sa.column("outcome", sa.String), sa.column("previous", sa.String),
                  sa.column("digest", sa.String))


def _digest(row, previous: str) -> str:
    # The format of occupancy.privacy.audit_chain.digest, frozen here as this migration wrote it.
    at = row.at.replace(tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    fields = (previous, at, row.asked_by, row.question, str(row.cases), str(row.revealed),
              row.outcome)
    return hashlib.sha256("".join(f"{len(f)}:{f}" for f in fields).encode()).hexdigest()


def _triggers(sqlite: bool, on: bool) -> None:
    if not sqlite:
        op.execute(f"ALTER TABLE trace_audit {'ENABLE' if on else 'DISABLE'} TRIGGER "
                   "trace_audit_append_only")
        return
    for action in ("UPDATE", "DELETE"):
        if on:
            op.execute(f"CREATE TRIGGER trace_audit_no_{action.lower()} BEFORE {action} ON "
                       f"trace_audit BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END")
        else:
            op.execute(f"DROP TRIGGER trace_audit_no_{action.lower()}")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    _triggers(sqlite, on=False)
    with op.batch_alter_table('trace_audit', schema=None) as batch_op:
        batch_op.add_column(sa.Column('previous', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('digest', sa.String(length=64), nullable=True))
    bind, previous = op.get_bind(), _GENESIS
    for row in bind.execute(sa.select(_AUDIT).order_by(_AUDIT.c.id)).all():
        digest = _digest(row, previous)
        bind.execute(_AUDIT.update().where(_AUDIT.c.id == row.id)
                     .values(previous=previous, digest=digest))
        previous = digest
    with op.batch_alter_table('trace_audit', schema=None) as batch_op:
        batch_op.alter_column('previous', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('digest', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_trace_audit_previous'), ['previous'])
    _triggers(sqlite, on=True)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    _triggers(sqlite, on=False)
    with op.batch_alter_table('trace_audit', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_trace_audit_previous'), type_='unique')
        batch_op.drop_column('digest')
        batch_op.drop_column('previous')
    _triggers(sqlite, on=True)
