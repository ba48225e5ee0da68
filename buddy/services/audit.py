"""The audit trail: who did what, when."""

from __future__ import annotations

from sqlmodel import Session

from buddy.models import AuditEvent, User


def record(
    session: Session,
    *,
    actor: User | None,
    action: str,
    region: str | None = None,
    person_id: int | None = None,
    detail: dict | None = None,
) -> AuditEvent:
    """Add an audit event to the caller's transaction (no personal data in `detail`)."""
    event = AuditEvent(
        actor_id=actor.id if actor else None,
        action=action,
        region=region,
        person_id=person_id,
        detail=detail or {},
    )
    session.add(event)
    return event
