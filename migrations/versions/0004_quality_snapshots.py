"""quality snapshots

Revision ID: fbe2c9f6fdea
Revises: b3173fe23c6d
Create Date: 2026-11-30 09:57:20.407789
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import buddy.dbtypes

revision: str = 'fbe2c9f6fdea'
down_revision: str | None = 'b3173fe23c6d'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('quality_snapshots',
    sa.Column('region', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('version', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('computed_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('value', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('region')
    )


def downgrade() -> None:
    op.drop_table('quality_snapshots')
