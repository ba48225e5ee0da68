"""the lead's review and every word a person reads: a family's group chat link

Revision ID: 0008_review_words
Revises: 0007_programme_year
Create Date: 2026-12-04 17:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008_review_words'
down_revision: str | None = '0007_programme_year'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('families', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chat_link', sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('families', schema=None) as batch_op:
        batch_op.drop_column('chat_link')
