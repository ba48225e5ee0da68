"""Messaging tables: the outbox (and, with the messaging capability, replies and flags)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from buddy.models import _utc_column, utcnow


class Message(SQLModel, table=True):
    """The outbox: one row per message, written in the transaction that causes it.

    Unique on (recipient, channel, kind, subject) so that a moved arrival date moves the row
    instead of adding a second one (RELIABILITY.md, Outbox).
    """

    __tablename__ = "messages"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "channel", "kind", "subject", name="uq_messages_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    channel: str = Field(max_length=10)  # email | sms | whatsapp
    kind: str = Field(max_length=40)
    subject: str = Field(max_length=80)  # what the message is about, e.g. "reset:<nonce>"
    to_address: str = Field(max_length=254)
    title: str = Field(default="", max_length=200)
    body: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    due_at: datetime = Field(sa_column=_utc_column(index=True))
    # pending | sending | sent | failed | uncertain | cancelled | expired
    status: str = Field(default="pending", max_length=12, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
