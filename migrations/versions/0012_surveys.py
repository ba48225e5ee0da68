"""surveys: who was asked which survey, and their answers

Revision ID: 0012_surveys
Revises: 0011_signup_drafts
Create Date: 2026-12-04 18:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import buddy.dbtypes

revision: str = '0012_surveys'
down_revision: str | None = '0011_signup_drafts'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'survey_requests',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('survey', sa.String(length=30), nullable=False),
        sa.Column('edition', sa.String(length=10), nullable=False),
        sa.Column('intake', sa.String(length=7), nullable=False),
        sa.Column('region', sa.String(length=40), nullable=False),
        sa.Column('family_id', sa.Integer(), nullable=True),
        sa.Column('audience', sa.String(length=12), nullable=False),
        sa.Column('created_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column('sent_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column('reminders_sent', sa.Integer(), server_default='0', nullable=False),
        sa.Column('started_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column('answered_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column('stopped_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column('stop_reason', sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'],
                                name='fk_survey_requests_person_id_people', ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['family_id'], ['families.id'],
                                name='fk_survey_requests_family_id_families',
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('person_id', 'survey', 'intake', name='uq_survey_request'),
    )
    with op.batch_alter_table('survey_requests', schema=None) as batch_op:
        for column in ('person_id', 'survey', 'intake', 'region', 'family_id'):
            batch_op.create_index(batch_op.f(f'ix_survey_requests_{column}'), [column],
                                  unique=False)
    op.create_table(
        'survey_answers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('request_id', sa.Integer(), nullable=False),
        sa.Column('question', sa.String(length=40), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('wording', sa.Text(), nullable=False),
        sa.Column('answer', sa.Text(), nullable=False),
        sa.Column('answer_words', sa.Text(), nullable=False),
        sa.Column('answered_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['request_id'], ['survey_requests.id'],
                                name='fk_survey_answers_request_id_survey_requests',
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('request_id', 'question', name='uq_survey_answer'),
    )
    with op.batch_alter_table('survey_answers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_answers_request_id'), ['request_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('survey_answers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_answers_request_id'))
    op.drop_table('survey_answers')
    with op.batch_alter_table('survey_requests', schema=None) as batch_op:
        for column in ('family_id', 'region', 'intake', 'survey', 'person_id'):
            batch_op.drop_index(batch_op.f(f'ix_survey_requests_{column}'))
    op.drop_table('survey_requests')
