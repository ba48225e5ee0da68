"""approval for a region, verified phone numbers

Revision ID: 0005_approval_phone
Revises: fbe2c9f6fdea
Create Date: 2026-12-04 14:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import buddy.dbtypes

revision: str = '0005_approval_phone'
down_revision: str | None = 'fbe2c9f6fdea'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.add_column(sa.Column('approved_region', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('phone_verified_at', buddy.dbtypes.UTCDateTime(timezone=True), nullable=True))
    # An active volunteer was approved for the region they are in (demo volunteers have no
    # deciding lead); a paused one only if a lead decided, since pausing while pending was
    # possible before.
    op.execute("UPDATE people SET approved_region = region "
               "WHERE role IN ('buddy', 'ambassador') AND (status = 'active' "
               "OR (status = 'paused' AND decided_by IS NOT NULL))")


def downgrade() -> None:
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.drop_column('phone_verified_at')
        batch_op.drop_column('approved_region')
