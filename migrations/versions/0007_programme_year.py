"""the programme year: intakes, families that end, stage moves, volunteer confirmations

Revision ID: 0007_programme_year
Revises: 0006_phone_codes
Create Date: 2026-12-04 15:00:00
"""

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

import buddy.dbtypes

revision: str = '0007_programme_year'
down_revision: str | None = '0006_phone_codes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.add_column(sa.Column('intake', sa.String(length=7), nullable=True))
        batch_op.add_column(sa.Column('stage_corrected_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('anonymised_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_people_intake'), ['intake'], unique=False)
    with op.batch_alter_table('families', schema=None) as batch_op:
        batch_op.add_column(sa.Column('intake', sa.String(length=7), nullable=True))
        batch_op.add_column(sa.Column('carry_on_until', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('ended_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('end_reason', sa.String(length=200), nullable=True))
        batch_op.create_index(batch_op.f('ix_families_intake'), ['intake'], unique=False)
    with op.batch_alter_table('match_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('intake', sa.String(length=7), nullable=True))
    op.create_table('family_answers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('family_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('answer', sa.String(length=10), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('answered_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['family_id'], ['families.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('family_id', 'person_id', name='uq_family_answer')
    )
    op.create_table('stage_moves',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('from_stage', sa.String(length=10), nullable=False),
    sa.Column('to_stage', sa.String(length=10), nullable=False),
    sa.Column('moved_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('person_id', 'due_on', name='uq_stage_move')
    )
    op.create_table('volunteer_confirmations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('intake', sa.String(length=7), nullable=False),
    sa.Column('available', sa.Boolean(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('answered_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('person_id', 'intake', name='uq_volunteer_confirmation')
    )
    # Existing newcomers get the intake of their arrival date (buddy/intakes.py), and existing
    # families the intake of their newcomers.
    from buddy import intakes

    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT id, arrival_date, region FROM people WHERE role = 'newcomer' "
        "AND arrival_date IS NOT NULL")).all()
    for pid, arrival, region in rows:
        if isinstance(arrival, str):  # SQLite returns dates as text here
            arrival = date.fromisoformat(arrival)
        conn.execute(sa.text("UPDATE people SET intake = :i WHERE id = :p"),
                     {"i": intakes.intake_of(arrival, region), "p": pid})
    conn.execute(sa.text(
        "UPDATE families SET intake = (SELECT MIN(p.intake) FROM family_members m "
        "JOIN people p ON p.id = m.person_id WHERE m.family_id = families.id "
        "AND m.place = 'newcomer')"))


def downgrade() -> None:
    op.drop_table('volunteer_confirmations')
    op.drop_table('stage_moves')
    op.drop_table('family_answers')
    with op.batch_alter_table('match_runs', schema=None) as batch_op:
        batch_op.drop_column('intake')
    with op.batch_alter_table('families', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_families_intake'))
        batch_op.drop_column('end_reason')
        batch_op.drop_column('ended_at')
        batch_op.drop_column('carry_on_until')
        batch_op.drop_column('intake')
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_people_intake'))
        batch_op.drop_column('anonymised_at')
        batch_op.drop_column('stage_corrected_at')
        batch_op.drop_column('intake')
