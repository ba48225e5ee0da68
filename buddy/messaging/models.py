"""Messaging tables: the outbox, check-ins and answers, inbound replies, flags, phone codes."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from buddy.models import _utc_column, utcnow
from buddy.statuses import FlagStatus, MessageStatus


class Message(SQLModel, table=True):
    """The outbox: one row per message, written in the transaction that causes it.

    Unique on (recipient, channel, kind, subject) so that a moved arrival date moves the row
    instead of adding a second one (RELIABILITY.md, Outbox).
    """

    __tablename__ = "messages"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "channel", "kind", "subject", name="uq_messages_key"),
        sa.UniqueConstraint("provider_id", name="uq_messages_provider_id"),
        # An invitation's messages have no user yet: the same key, on the invitation.
        sa.UniqueConstraint("invitation_id", "channel", "kind", "subject",
                            name="uq_messages_invitation_key"),
        sa.Index("ix_messages_due", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # Every message has a user, except an invitation to someone not yet in Buddy.
    user_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
        )
    )
    # An invitation (buddy/services/invitations.py): deleting it deletes its messages.
    invitation_id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey(
            "invitations.id", ondelete="CASCADE", name="fk_messages_invitation_id_invitations"),
            index=True),
    )
    # Set for members (staff have no Person): region scoping and the re-checks use it.
    person_id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("people.id", ondelete="CASCADE",
                                                      name="fk_messages_person_id_people"),
                            index=True),
    )
    region: str | None = Field(default=None, max_length=40, index=True)
    channel: str = Field(max_length=10)  # email | sms | whatsapp
    kind: str = Field(max_length=40)
    subject: str = Field(max_length=80)  # what the message is about, e.g. "reset:<nonce>"
    to_address: str = Field(max_length=254)
    title: str = Field(default="", max_length=200)
    body: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    due_at: datetime = Field(sa_column=_utc_column(index=True))
    # The recipient's zone for the 09:00-19:00 sending window; None sends at any hour
    # (sign-in links and email confirmations are wanted at once).
    timezone: str | None = Field(default=None, max_length=64)
    # After this moment the message is no longer relevant: expired, never sent late.
    expires_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    status: str = Field(default=MessageStatus.PENDING, max_length=12, index=True)
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # A retry (or a wait for the sending window) is not tried before this moment.
    next_attempt_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    claimed_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    # Committed just before the provider call: a dispatcher that dies without it never
    # handed the message over, so the row can safely go back to pending.
    handed_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    sent_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    # Twilio's MessageSid or the SMTP Message-ID; unique so a callback finds one row.
    provider_id: str | None = Field(default=None, max_length=64)
    provider_status: str | None = Field(default=None, max_length=20)
    error_code: str | None = Field(default=None, max_length=20)
    last_error: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class CheckIn(SQLModel, table=True):
    """One check-in sent to a newcomer (arrival + `day` days) and their answer."""

    __tablename__ = "check_ins"
    __table_args__ = (sa.UniqueConstraint("person_id", "day", name="uq_check_ins_person_day"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("people.id", ondelete="CASCADE"),
                            nullable=False, index=True)
    )
    region: str = Field(max_length=40, index=True)
    day: int  # days after arrival: 7, 28, 56, 91
    message_id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("messages.id", ondelete="SET NULL")),
    )
    channel: str = Field(max_length=10)
    # Set when the check-in was sent; the row exists from the first try, for its links.
    sent_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True,
                                                                         index=True))
    answer: str | None = Field(default=None, max_length=8)  # ok | call
    answered_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    answer_channel: str | None = Field(default=None, max_length=10)  # sms | whatsapp | email


class InboundMessage(SQLModel, table=True):
    """A text or WhatsApp message a person sent us, stored once per Twilio MessageSid."""

    __tablename__ = "inbound_messages"

    id: int | None = Field(default=None, primary_key=True)
    message_sid: str = Field(sa_column=sa.Column(sa.String(64), unique=True, nullable=False))
    person_id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("people.id", ondelete="CASCADE"),
                            index=True),
    )
    channel: str = Field(max_length=10)  # sms | whatsapp
    from_address: str = Field(max_length=64)
    body: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    # ok | call | stop | start | help | unclear (unknown_sender on rows from before 0006)
    meaning: str = Field(max_length=16)
    check_in_id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("check_ins.id", ondelete="SET NULL")),
    )
    received_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    # A text from a number without exactly one verified owner has no person: it waits in the
    # admin's queue (/admin/replies) until an admin marks it handled.
    handled_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    handled_by: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey(
            "users.id", ondelete="SET NULL", name="fk_inbound_messages_handled_by_users")),
    )


class PhoneCode(SQLModel, table=True):
    """The live code that proves a person holds `phone`: one per person, only its HMAC stored.

    Single use, it expires, allows a few wrong tries, and a new one is throttled
    (buddy/services/phone_verification.py).
    """

    __tablename__ = "phone_codes"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("people.id", ondelete="CASCADE"),
                            unique=True, nullable=False)
    )
    phone: str = Field(max_length=20)  # the E.164 number the code was sent to
    # HMAC-SHA256 of the code keyed by the app's secret; None once used or given up.
    code_hash: str | None = Field(default=None, max_length=64)
    expires_at: datetime = Field(sa_column=_utc_column())
    attempts: int = Field(default=0)  # wrong tries on the live code
    sent_at: datetime = Field(sa_column=_utc_column())  # the latest code
    # Codes sent since window_start: at most a few an hour.
    sends: int = Field(default=1)
    window_start: datetime = Field(sa_column=_utc_column())


class Flag(SQLModel, table=True):
    """Something a region's DA lead should look at: a call asked for, an unclear reply..."""

    __tablename__ = "flags"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("people.id", ondelete="CASCADE"),
                            nullable=False, index=True)
    )
    region: str = Field(max_length=40, index=True)
    # asked_for_call | unclear_reply | help | message_failed
    reason: str = Field(max_length=20)
    text: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False))
    check_in_id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("check_ins.id", ondelete="SET NULL")),
    )
    message_id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("messages.id", ondelete="SET NULL")),
    )
    status: str = Field(default=FlagStatus.OPEN, max_length=12, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column(index=True))
    handled_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    handled_by: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
    )
    assigned_to: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
    )
    note: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
