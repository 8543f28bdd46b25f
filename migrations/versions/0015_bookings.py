"""bookings: a party's places in a slot, sealed personal data (issue 18)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 21:30:00.000000

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0015'
down_revision: Union[str, Sequence[str], None] = '0014'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'bookings',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('venue_id', sa.Integer(), nullable=False),
        sa.Column('booking_hash', sa.String(length=64), nullable=False),
        sa.Column('slot', sa.String(length=13), nullable=False),
        sa.Column('slot_starts_at', sa.DateTime(), nullable=False),
        sa.Column('slot_ends_at', sa.DateTime(), nullable=False),
        sa.Column('party_size', sa.Integer(), nullable=False),
        sa.Column('booked_at', sa.DateTime(), nullable=False),
        sa.Column('cancelled_at', sa.DateTime(), nullable=True),
        sa.Column('personal', sa.LargeBinary(), nullable=True),
        sa.Column('personal_key_id', sa.String(length=32), nullable=True),
        sa.Column('phone_index', sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(['venue_id'], ['venues.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('booking_hash'),
    )
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.create_index('ix_bookings_venue_slot', ['venue_id', 'slot'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.drop_index('ix_bookings_venue_slot')
    op.drop_table('bookings')
