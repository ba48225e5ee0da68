"""sign-up in question pages, saved as people go

Revision ID: 0011_signup_drafts
Revises: 0010_invitations
Create Date: 2026-12-04 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import buddy.dbtypes

revision: str = '0011_signup_drafts'
down_revision: str | None = '0010_invitations'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'signup_drafts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('answers', sa.JSON(), nullable=False),
        sa.Column('answered', sa.JSON(), nullable=False),
        sa.Column('invitation_id', sa.Integer(), nullable=True),
        sa.Column('created_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column('completed_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column('expires_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['invitation_id'], ['invitations.id'],
                                name='fk_signup_drafts_invitation_id', ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
    )
    with op.batch_alter_table('signup_drafts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signup_drafts_expires_at'), ['expires_at'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_signup_drafts_invitation_id'), ['invitation_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('signup_drafts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signup_drafts_invitation_id'))
        batch_op.drop_index(batch_op.f('ix_signup_drafts_expires_at'))
    op.drop_table('signup_drafts')
