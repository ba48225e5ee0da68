"""phone codes, one verified owner per number, the admin's queue of replies

Revision ID: 0006_phone_codes
Revises: 0005_approval_phone
Create Date: 2026-12-04 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import buddy.dbtypes

revision: str = '0006_phone_codes'
down_revision: str | None = '0005_approval_phone'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VERIFIED = "phone_verified_at IS NOT NULL"


def upgrade() -> None:
    op.create_table('phone_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('code_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('expires_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('sent_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sends', sa.Integer(), nullable=False),
    sa.Column('window_start', buddy.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('person_id')
    )
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('handled_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('handled_by', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_inbound_messages_handled_by_users', 'users', ['handled_by'], ['id'], ondelete='SET NULL')
    # No person had a verified number before this revision, so the index builds on any data.
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.create_index('uq_people_verified_phone', ['phone'], unique=True, sqlite_where=sa.text(VERIFIED), postgresql_where=sa.text(VERIFIED))


def downgrade() -> None:
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.drop_index('uq_people_verified_phone', sqlite_where=sa.text(VERIFIED), postgresql_where=sa.text(VERIFIED))
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_constraint('fk_inbound_messages_handled_by_users', type_='foreignkey')
        batch_op.drop_column('handled_by')
        batch_op.drop_column('handled_at')
    op.drop_table('phone_codes')
