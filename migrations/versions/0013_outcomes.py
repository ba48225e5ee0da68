"""outcomes: training outcomes uploaded by leads, and uploads kept for their preview

Revision ID: 0013_outcomes
Revises: 0012_surveys
Create Date: 2026-12-04 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import buddy.dbtypes

revision: str = '0013_outcomes'
down_revision: str | None = '0012_surveys'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'outcomes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('region', sa.String(length=40), nullable=False),
        sa.Column('outcome', sa.String(length=30), nullable=False),
        sa.Column('on', sa.Date(), nullable=False),
        sa.Column('uploaded_by', sa.Integer(), nullable=True),
        sa.Column('created_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'],
                                name='fk_outcomes_person_id_people', ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['uploaded_by'], ['users.id'],
                                name='fk_outcomes_uploaded_by_users', ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('person_id', 'outcome', 'on', name='uq_outcome'),
    )
    with op.batch_alter_table('outcomes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outcomes_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outcomes_region'), ['region'], unique=False)
    op.create_table(
        'outcome_uploads',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('region', sa.String(length=40), nullable=False),
        sa.Column('filename', sa.String(length=200), nullable=False),
        sa.Column('content', sa.Text(), nullable=False),
        sa.Column('created_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name='fk_outcome_uploads_user_id_users', ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('outcome_uploads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outcome_uploads_user_id'), ['user_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outcome_uploads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outcome_uploads_user_id'))
    op.drop_table('outcome_uploads')
    with op.batch_alter_table('outcomes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outcomes_region'))
        batch_op.drop_index(batch_op.f('ix_outcomes_person_id'))
    op.drop_table('outcomes')
