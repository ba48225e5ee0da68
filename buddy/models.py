"""Database tables (SQLModel). One Person per member, one User per login.

Base classes hold the fields people may see or edit; table classes add keys, hashes and
bookkeeping, so that password hashes never reach a template through an input/output model.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from buddy.dbtypes import UTCDateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


def _utc_column(nullable: bool = False, **kw) -> sa.Column:
    return sa.Column(UTCDateTime(), nullable=nullable, **kw)


class User(SQLModel, table=True):
    """A login: a member (with a Person), a DA lead (with a region) or an admin."""

    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    # Stored trimmed and lower-cased so that " A@NHS.uk" and "a@nhs.uk" are one account.
    email: str = Field(max_length=254, sa_column_kwargs={"unique": True, "nullable": False})
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=16, index=True)  # member | lead | admin
    full_name: str = Field(max_length=120)
    region: str | None = Field(default=None, max_length=40, index=True)  # leads only
    # Bumped on password change or sign-out everywhere: older sessions stop working.
    session_version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    last_login_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class PersonBase(SQLModel):
    """Profile fields a member gives at sign-up and may edit."""

    full_name: str = Field(max_length=120)
    role: str = Field(max_length=16, index=True)  # newcomer | buddy | ambassador
    phone: str | None = Field(default=None, max_length=20)  # E.164
    phone_country: str | None = Field(default=None, max_length=2)
    channel: str = Field(default="email", max_length=10)  # sms | whatsapp | email
    timezone: str = Field(default="Europe/London", max_length=64)
    region: str = Field(max_length=40, index=True)
    scheme: str | None = Field(default=None, max_length=60)
    stage: str = Field(max_length=10)  # ST1 | ST2 | ST3 | qualified
    arrival_date: date | None = None
    wants_ambassador: bool = False
    interests: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    # Volunteers only.
    setting: str | None = Field(default=None, max_length=10)  # primary | secondary
    capacity: int | None = None
    can_anchor: bool = False
    gmc_number: str | None = Field(default=None, max_length=7)
    # Sensitive: stored only while sensitive_consent_at is set (UK GDPR art. 9).
    country: str | None = Field(default=None, max_length=2)
    languages: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    gender: str | None = Field(default=None, max_length=20)
    same_gender_anchor: bool = False
    support_needs: list[str] = Field(
        default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False)
    )


class Person(PersonBase, table=True):
    """A member of the scheme: newcomer, buddy or ambassador."""

    __tablename__ = "people"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), unique=True, nullable=False
        )
    )
    # pending (volunteer awaiting approval) | active | declined | paused | withdrawn
    status: str = Field(default="active", max_length=12, index=True)
    contact_consent_at: datetime = Field(sa_column=_utc_column())
    sensitive_consent_at: datetime | None = Field(
        default=None, sa_column=_utc_column(nullable=True)
    )
    decided_by: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class LoginThrottle(SQLModel, table=True):
    """Failed logins per email address, in the database so every worker sees them."""

    __tablename__ = "login_throttle"

    email: str = Field(primary_key=True, max_length=254)
    failures: int = 0
    window_start: datetime = Field(sa_column=_utc_column())
    locked_until: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class AuditEvent(SQLModel, table=True):
    """Who did what, when. Kept when an account is deleted, without personal data."""

    __tablename__ = "audit_events"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=_utc_column(index=True))
    actor_id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
    )
    region: str | None = Field(default=None, max_length=40, index=True)
    action: str = Field(max_length=40)
    person_id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("people.id", ondelete="SET NULL")),
    )
    detail: dict = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))


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
