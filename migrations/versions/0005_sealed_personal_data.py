"""visitors' personal data sealed (data_keys; visits.personal, personal_key_id, phone_index)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 21:50:00.000000

Rows written before this revision hold names, phones and emails in plaintext: they are sealed
here, with a data key sealed to the configured health office public key, and the plaintext
columns are dropped. There is no way back: the downgrade cannot decrypt.
"""
import os
from datetime import UTC, datetime
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('data_keys',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('office_key_id', sa.String(length=16), nullable=False),
    sa.Column('sealed_key', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('used_until', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_keys'))
    )
    with op.batch_alter_table('data_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_keys_used_until'), ['used_until'], unique=False)

    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.add_column(sa.Column('personal', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('personal_key_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('phone_index', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_visits_phone_index'), ['phone_index'], unique=False)

    if op.get_bind().dialect.name == "sqlite":
        # Deleted pages are zeroed, so the plaintext does not linger in the file's free pages.
        op.execute("PRAGMA secure_delete = ON")
    _seal_plaintext_rows()

    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_column('visitor_email')
        batch_op.drop_column('visitor_phone')
        batch_op.drop_column('visitor_name')


def _seal_plaintext_rows() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT id, visitor_name, visitor_phone, visitor_email FROM visits "
        "WHERE visitor_phone IS NOT NULL AND visitor_phone != ''")).all()
    if not rows:
        return
    from occupancy.privacy.blind_index import index_key, phone_index
    from occupancy.privacy.sealing import (
        Personal,
        office_key_id,
        office_public_key,
        seal_data_key,
        seal_with,
    )
    from occupancy.settings import get_settings

    settings = get_settings()
    office = office_public_key(settings)
    key, key_id, now = os.urandom(32), os.urandom(16).hex(), datetime.now(UTC).replace(tzinfo=None)
    conn.execute(sa.text(
        "INSERT INTO data_keys (id, office_key_id, sealed_key, created_at, used_until) "
        "VALUES (:id, :office, :sealed, :now, :now)"),
        {"id": key_id, "office": office_key_id(office), "sealed": seal_data_key(office, key),
         "now": now})
    index = index_key(settings.secret_key)
    for visit_id, name, phone, email in rows:
        conn.execute(sa.text(
            "UPDATE visits SET personal = :box, personal_key_id = :key, phone_index = :ix "
            "WHERE id = :id"),
            {"box": seal_with(key, visit_id, Personal(name, phone, email)), "key": key_id,
             "ix": phone_index(index, phone), "id": visit_id})


def downgrade() -> None:
    # The sealed data cannot be opened here: the plaintext columns come back empty.
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.add_column(sa.Column('visitor_name', sa.VARCHAR(length=100), nullable=True))
        batch_op.add_column(sa.Column('visitor_phone', sa.VARCHAR(length=20), nullable=True))
        batch_op.add_column(sa.Column('visitor_email', sa.VARCHAR(length=254), nullable=True))
        batch_op.drop_index(batch_op.f('ix_visits_phone_index'))
        batch_op.drop_column('phone_index')
        batch_op.drop_column('personal_key_id')
        batch_op.drop_column('personal')
    with op.batch_alter_table('data_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_keys_used_until'))
    op.drop_table('data_keys')
