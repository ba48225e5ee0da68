"""Writing messages to the outbox, inside the caller's transaction."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import Session, select

from buddy.messaging.models import Message
from buddy.models import User, utcnow

log = logging.getLogger(__name__)


def enqueue(
    session: Session,
    *,
    user: User,
    channel: str,
    kind: str,
    subject: str,
    to_address: str,
    title: str,
    body: str,
    due_at: datetime | None = None,
) -> Message:
    """Add (or move) the message for (user, channel, kind, subject); the caller commits.

    A message already pending for the same key is updated in place, so a repeated cause
    never queues it twice.
    """
    existing = session.exec(
        select(Message).where(
            Message.user_id == user.id,
            Message.channel == channel,
            Message.kind == kind,
            Message.subject == subject,
        )
    ).first()
    if existing is not None:
        if existing.status == "pending":
            existing.due_at = due_at or utcnow()
            existing.body, existing.title, existing.to_address = body, title, to_address
            session.add(existing)
        return existing
    message = Message(
        user_id=user.id,
        channel=channel,
        kind=kind,
        subject=subject,
        to_address=to_address,
        title=title,
        body=body,
        due_at=due_at or utcnow(),
    )
    session.add(message)
    # Until a channel sends it, a developer reads it here (debug level: in development only).
    log.debug("outbox %s to %s: %s\n%s", kind, to_address, title, body)
    return message
