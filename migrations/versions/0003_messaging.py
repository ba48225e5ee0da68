"""messaging outbox replies flags

Revision ID: b3173fe23c6d
Revises: e894abfa6541
Create Date: 2026-11-30 06:33:56.466425
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import buddy.dbtypes

revision: str = 'b3173fe23c6d'
down_revision: str | None = 'e894abfa6541'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('check_ins',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('region', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('sent_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('answer', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
    sa.Column('answered_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('answer_channel', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('person_id', 'day', name='uq_check_ins_person_day')
    )
    with op.batch_alter_table('check_ins', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_check_ins_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_check_ins_region'), ['region'], unique=False)
        batch_op.create_index(batch_op.f('ix_check_ins_sent_at'), ['sent_at'], unique=False)

    op.create_table('flags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('region', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('check_in_id', sa.Integer(), nullable=True),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('created_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('handled_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('handled_by', sa.Integer(), nullable=True),
    sa.Column('assigned_to', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['assigned_to'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['check_in_id'], ['check_ins.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['handled_by'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('flags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_flags_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_flags_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_flags_region'), ['region'], unique=False)
        batch_op.create_index(batch_op.f('ix_flags_status'), ['status'], unique=False)

    op.create_table('inbound_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_sid', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('from_address', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('meaning', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('check_in_id', sa.Integer(), nullable=True),
    sa.Column('received_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['check_in_id'], ['check_ins.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_sid')
    )
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbound_messages_person_id'), ['person_id'], unique=False)

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('person_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('region', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))
        batch_op.add_column(sa.Column('timezone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('expires_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('next_attempt_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('claimed_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('handed_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('sent_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('provider_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('provider_status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
        batch_op.add_column(sa.Column('error_code', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
        batch_op.add_column(sa.Column('last_error', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('updated_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=True))

    # Rows queued before this revision: last touched when they were created.
    op.execute("UPDATE messages SET updated_at = created_at")
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.alter_column('updated_at', existing_type=buddy.dbtypes.UTCDateTime(timezone=True), nullable=False)
        batch_op.create_index('ix_messages_due', ['status', 'due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_region'), ['region'], unique=False)
        batch_op.create_unique_constraint('uq_messages_provider_id', ['provider_id'])
        batch_op.create_foreign_key('fk_messages_person_id_people', 'people', ['person_id'], ['id'], ondelete='CASCADE')

    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sms_opted_out', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('email_confirmed_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.drop_column('email_confirmed_at')
        batch_op.drop_column('sms_opted_out')

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_constraint('fk_messages_person_id_people', type_='foreignkey')
        batch_op.drop_constraint('uq_messages_provider_id', type_='unique')
        batch_op.drop_index(batch_op.f('ix_messages_region'))
        batch_op.drop_index(batch_op.f('ix_messages_person_id'))
        batch_op.drop_index('ix_messages_due')
        batch_op.drop_column('updated_at')
        batch_op.drop_column('last_error')
        batch_op.drop_column('error_code')
        batch_op.drop_column('provider_status')
        batch_op.drop_column('provider_id')
        batch_op.drop_column('sent_at')
        batch_op.drop_column('handed_at')
        batch_op.drop_column('claimed_at')
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('attempts')
        batch_op.drop_column('expires_at')
        batch_op.drop_column('timezone')
        batch_op.drop_column('region')
        batch_op.drop_column('person_id')

    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbound_messages_person_id'))

    op.drop_table('inbound_messages')
    with op.batch_alter_table('flags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_flags_status'))
        batch_op.drop_index(batch_op.f('ix_flags_region'))
        batch_op.drop_index(batch_op.f('ix_flags_person_id'))
        batch_op.drop_index(batch_op.f('ix_flags_created_at'))

    op.drop_table('flags')
    with op.batch_alter_table('check_ins', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_check_ins_sent_at'))
        batch_op.drop_index(batch_op.f('ix_check_ins_region'))
        batch_op.drop_index(batch_op.f('ix_check_ins_person_id'))

    op.drop_table('check_ins')
