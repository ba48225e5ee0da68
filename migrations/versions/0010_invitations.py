"""trainee lists and invitations (and people.gmc_number)

Revision ID: 0010_invitations
Revises: 0009_guides
Create Date: 2026-12-04 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import buddy.dbtypes

revision: str = '0010_invitations'
down_revision: str | None = '0009_guides'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status = 'invited'"


def upgrade() -> None:
    op.create_table(
        'invitations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('region', sa.String(length=40), nullable=False),
        sa.Column('intake', sa.String(length=7), nullable=False),
        sa.Column('role', sa.String(length=12), nullable=False),
        sa.Column('full_name', sa.String(length=120), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('phone', sa.String(length=20), nullable=True),
        sa.Column('gmc_number', sa.String(length=7), nullable=True),
        sa.Column('scheme', sa.String(length=60), nullable=True),
        sa.Column('start_date', sa.Date(), nullable=True),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('reminders_sent', sa.Integer(), server_default='0', nullable=False),
        sa.Column('next_reminder_on', sa.Date(), nullable=True),
        sa.Column('person_id', sa.Integer(), nullable=True),
        sa.Column('imported_by', sa.Integer(), nullable=True),
        sa.Column('batch_id', sa.String(length=32), nullable=False),
        sa.Column('answered_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'], ondelete='SET NULL',
                                name='fk_invitations_person_id_people'),
        sa.ForeignKeyConstraint(['imported_by'], ['users.id'], ondelete='SET NULL',
                                name='fk_invitations_imported_by_users'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        for column in ('region', 'intake', 'email', 'gmc_number', 'status', 'next_reminder_on',
                       'batch_id'):
            batch_op.create_index(f'ix_invitations_{column}', [column], unique=False)
        batch_op.create_index('uq_invitations_open_email', ['region', 'email'], unique=True,
                              sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))

    op.create_table(
        'trainee_uploads',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('region', sa.String(length=40), nullable=False),
        sa.Column('role', sa.String(length=12), nullable=False),
        sa.Column('filename', sa.String(length=200), nullable=False),
        sa.Column('content', sa.Text(), nullable=False),
        sa.Column('created_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('trainee_uploads', schema=None) as batch_op:
        batch_op.create_index('ix_trainee_uploads_user_id', ['user_id'], unique=False)

    # An invitation's messages go before the person has a user: user_id may be empty.
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.alter_column('user_id', existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column('invitation_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_messages_invitation_id', ['invitation_id'], unique=False)
        batch_op.create_foreign_key('fk_messages_invitation_id_invitations', 'invitations',
                                    ['invitation_id'], ['id'], ondelete='CASCADE')
        batch_op.create_unique_constraint('uq_messages_invitation_key',
                                          ['invitation_id', 'channel', 'kind', 'subject'])

    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.create_index('ix_people_gmc_number', ['gmc_number'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.drop_index('ix_people_gmc_number')
    # Messages without a user (invitations) cannot stay once user_id is required again.
    op.execute("DELETE FROM messages WHERE user_id IS NULL")
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_constraint('uq_messages_invitation_key', type_='unique')
        batch_op.drop_constraint('fk_messages_invitation_id_invitations', type_='foreignkey')
        batch_op.drop_index('ix_messages_invitation_id')
        batch_op.drop_column('invitation_id')
        batch_op.alter_column('user_id', existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table('trainee_uploads', schema=None) as batch_op:
        batch_op.drop_index('ix_trainee_uploads_user_id')
    op.drop_table('trainee_uploads')
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_index('uq_invitations_open_email', sqlite_where=sa.text(OPEN),
                            postgresql_where=sa.text(OPEN))
        for column in ('region', 'intake', 'email', 'gmc_number', 'status', 'next_reminder_on',
                       'batch_id'):
            batch_op.drop_index(f'ix_invitations_{column}')
    op.drop_table('invitations')
