"""match runs families ambassador pairs avoid pairs

Revision ID: e894abfa6541
Revises: 5c86a9867c7b
Create Date: 2026-11-30 06:24:39.909091
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import buddy.dbtypes

revision: str = 'e894abfa6541'
down_revision: str | None = '5c86a9867c7b'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('match_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('region', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('time_limit_s', sa.Float(), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('started_by', sa.Integer(), nullable=True),
    sa.Column('created_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('published_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('progress', sa.JSON(), nullable=False),
    sa.Column('cohort', sa.JSON(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.Column('excluded', sa.JSON(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['started_by'], ['users.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('match_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_match_runs_region'), ['region'], unique=False)
        batch_op.create_index(batch_op.f('ix_match_runs_status'), ['status'], unique=False)
        batch_op.create_index('uq_match_runs_active', ['region', 'kind'], unique=True, sqlite_where=sa.text("status IN ('queued', 'running')"), postgresql_where=sa.text("status IN ('queued', 'running')"))

    op.create_table('ambassador_pairs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('ambassador_id', sa.Integer(), nullable=False),
    sa.Column('newcomer_id', sa.Integer(), nullable=False),
    sa.Column('region', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('published_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['ambassador_id'], ['people.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['newcomer_id'], ['people.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['match_runs.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id', 'newcomer_id', name='uq_ambassador_pair_run_newcomer')
    )
    with op.batch_alter_table('ambassador_pairs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ambassador_pairs_ambassador_id'), ['ambassador_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ambassador_pairs_newcomer_id'), ['newcomer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ambassador_pairs_region'), ['region'], unique=False)
        batch_op.create_index(batch_op.f('ix_ambassador_pairs_run_id'), ['run_id'], unique=False)

    op.create_table('avoid_pairs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('region', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('person_a', sa.Integer(), nullable=False),
    sa.Column('person_b', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['person_a'], ['people.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['person_b'], ['people.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('person_a', 'person_b', name='uq_avoid_pair')
    )
    with op.batch_alter_table('avoid_pairs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_avoid_pairs_region'), ['region'], unique=False)

    op.create_table('families',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('region', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('locked', sa.Boolean(), nullable=False),
    sa.Column('created_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('published_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['match_runs.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('families', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_families_code'), ['code'], unique=False)
        batch_op.create_index(batch_op.f('ix_families_region'), ['region'], unique=False)
        batch_op.create_index(batch_op.f('ix_families_run_id'), ['run_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_families_status'), ['status'], unique=False)

    op.create_table('family_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('family_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('place', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['family_id'], ['families.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('family_id', 'person_id', name='uq_family_member')
    )
    with op.batch_alter_table('family_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_family_members_family_id'), ['family_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_family_members_person_id'), ['person_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('family_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_family_members_person_id'))
        batch_op.drop_index(batch_op.f('ix_family_members_family_id'))

    op.drop_table('family_members')
    with op.batch_alter_table('families', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_families_status'))
        batch_op.drop_index(batch_op.f('ix_families_run_id'))
        batch_op.drop_index(batch_op.f('ix_families_region'))
        batch_op.drop_index(batch_op.f('ix_families_code'))

    op.drop_table('families')
    with op.batch_alter_table('avoid_pairs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_avoid_pairs_region'))

    op.drop_table('avoid_pairs')
    with op.batch_alter_table('ambassador_pairs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ambassador_pairs_run_id'))
        batch_op.drop_index(batch_op.f('ix_ambassador_pairs_region'))
        batch_op.drop_index(batch_op.f('ix_ambassador_pairs_newcomer_id'))
        batch_op.drop_index(batch_op.f('ix_ambassador_pairs_ambassador_id'))

    op.drop_table('ambassador_pairs')
    with op.batch_alter_table('match_runs', schema=None) as batch_op:
        batch_op.drop_index('uq_match_runs_active', sqlite_where=sa.text("status IN ('queued', 'running')"), postgresql_where=sa.text("status IN ('queued', 'running')"))
        batch_op.drop_index(batch_op.f('ix_match_runs_status'))
        batch_op.drop_index(batch_op.f('ix_match_runs_region'))

    op.drop_table('match_runs')
