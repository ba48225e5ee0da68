"""Writing messages to the outbox, inside the caller's transaction."""

from __future__ import annotations

import functools
import logging
import re
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from buddy.messaging.models import Message
from buddy.models import Person, User, utcnow
from buddy.statuses import UNSENT_MESSAGE_STATUSES, MessageStatus

log = logging.getLogger(__name__)


@functools.cache
def _insert_new(dialect: str) -> sa.Insert:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING the new row as an object in the session.

    Built once per database kind: building it for every message cost more CPU than running it.
    """
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return (insert(Message)
            .on_conflict_do_nothing(index_elements=["user_id", "channel", "kind", "subject"])
            .returning(Message))


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(text: str) -> str:
    return _UNSTORABLE.sub("\ufffd", text)


def enqueue(
    session: Session,
    *,
    user: User | None,
    channel: str,
    kind: str,
    subject: str,
    to_address: str,
    title: str,
    body: str,
    due_at: datetime | None = None,
    person: Person | None = None,
    timezone: str | None = None,
    expires_at: datetime | None = None,
    known: dict[tuple[str, str, str], Message] | None = None,
) -> Message:
    """Add (or move) the message for (user, channel, kind, subject); the caller commits.

    A pending message for the same key is updated in place and a cancelled or expired one
    is brought back, so a repeated cause never queues it twice; a message already handed to
    a provider (sending, sent, failed, uncertain) is returned untouched. `known`, when given,
    holds all of the user's messages of this kind already loaded, keyed by (channel, kind,
    subject): re-planning a family then costs no query per unchanged message.
    """
    now = utcnow()
    # A lone surrogate (text decoded with surrogateescape somewhere) is refused by both
    # databases and every provider, NUL by PostgreSQL: each becomes U+FFFD here rather than
    # failing the caller's whole transaction (a family publication with one odd name in it).
    title, body, to_address = (_storable(title), _storable(body), _storable(to_address))
    if known is not None:
        existing = known.get((channel, kind, subject))
    else:
        existing = session.exec(
            select(Message).where(
                # No user (a sign-up's link to itself): the key is the subject alone.
                Message.user_id == (user.id if user else None),
                Message.channel == channel,
                Message.kind == kind,
                Message.subject == subject,
            )
        ).first()
    if existing is not None:
        new_due = due_at or now
        person_id = person.id if person else existing.person_id
        region = person.region if person else existing.region
        unchanged = existing.status == MessageStatus.PENDING and (
            existing.due_at, existing.body, existing.title, existing.to_address,
            existing.timezone, existing.expires_at, existing.person_id, existing.region,
        ) == (new_due, body, title, to_address, timezone, expires_at, person_id, region)
        if unchanged:
            return existing  # most re-plans change nothing: no UPDATE, no new sending window
        if existing.status in UNSENT_MESSAGE_STATUSES:
            values = dict(
                status=MessageStatus.PENDING, due_at=new_due, body=body, title=title,
                to_address=to_address, timezone=timezone, expires_at=expires_at,
                person_id=person_id, region=region, updated_at=now,
            )
            # A moved or revived message has its sending window worked out afresh.
            if existing.status != MessageStatus.PENDING or existing.due_at != new_due:
                values["next_attempt_at"] = None
            # Conditional on the status read: a dispatcher that claimed the row since then
            # keeps it (PostgreSQL re-checks the condition after waiting for its lock).
            updated = session.execute(
                sa.update(Message)
                .where(Message.id == existing.id, Message.status == existing.status)
                .values(**values)
            ).rowcount
            if not updated:
                session.refresh(existing)
        return existing
    message = Message(
        user_id=user.id if user else None,
        person_id=person.id if person else None,
        region=person.region if person else None,
        channel=channel,
        kind=kind,
        subject=subject,
        to_address=to_address,
        title=title,
        body=body,
        due_at=due_at or now,
        timezone=timezone,
        expires_at=expires_at,
    )
    # INSERT ... ON CONFLICT DO NOTHING: two requests can queue the same message at once (two
    # members of one family edit their details together). The one that finds the row taken
    # updates it like any existing message instead of failing on the unique key.
    message = session.scalars(_insert_new(session.get_bind().dialect.name),
                              [message.model_dump(exclude={"id"})]).first()
    if message is None:
        return enqueue(session, user=user, channel=channel, kind=kind, subject=subject,
                       to_address=to_address, title=title, body=body, due_at=due_at,
                       person=person, timezone=timezone, expires_at=expires_at)
    # Until a channel sends it, a developer reads it here (debug level: in development only).
    log.debug("outbox %s to %s: %s\n%s", kind, to_address, title, body)
    return message


@functools.cache
def _insert_invitation(dialect: str) -> sa.Insert:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert(Message).on_conflict_do_nothing(
        index_elements=["invitation_id", "channel", "kind", "subject"])


def enqueue_invitations(session: Session, messages: list[dict]) -> None:
    """Add messages to people not yet in Buddy (each dict: invitation_id, region, channel,
    kind, subject, to_address, title, body, due_at, timezone); the caller commits.

    Keyed on the invitation instead of a user: a message already queued for the same
    (invitation, channel, kind, subject) is left as it is, so a repeated cause (a daily step
    run twice) never queues it twice. One statement for all: an import of thousands.
    """
    if not messages:
        return
    now = utcnow()
    rows = [{**m, "title": _storable(m["title"]), "body": _storable(m["body"]),
             "to_address": _storable(m["to_address"]), "status": MessageStatus.PENDING,
             "attempts": 0, "created_at": now, "updated_at": now} for m in messages]
    session.execute(_insert_invitation(session.get_bind().dialect.name), rows)
