"""regional welcome guides (written by the region's leads; versioned)

Revision ID: 0009_guides
Revises: 0008_review_words
Create Date: 2026-12-04 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import buddy.dbtypes

revision: str = '0009_guides'
down_revision: str | None = '0008_review_words'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'guide_versions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('region', sa.String(length=40), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('written_by', sa.Integer(), nullable=True),
        sa.Column('written_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column('restored_from', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['written_by'], ['users.id'], ondelete='SET NULL',
                                name='fk_guide_versions_written_by_users'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('region', 'version', name='uq_guide_version'),
    )


def downgrade() -> None:
    op.drop_table('guide_versions')
