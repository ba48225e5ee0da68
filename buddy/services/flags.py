"""The DA lead's flags queue: people who asked for help, replied unclearly, or were not reached."""

from __future__ import annotations

from sqlmodel import Session, select

from buddy import scoping
from buddy.messaging.models import Flag
from buddy.models import Person, User, utcnow
from buddy.services import NotFound, ServiceError, audit
from buddy.text import clean_note

ACTIONS = {"contacted": "contacted", "resolved": "resolved", "reopen": "open"}
REASONS = {
    "asked_for_call": "Asked for a call",
    "unclear_reply": "Replied, but we could not tell what they meant",
    "help": "Asked for help",
    "message_failed": "A message to them could not be delivered",
}


def queue(session: Session, lead: User, region: str, *, status: str = "open",
          limit: int | None = None) -> list[tuple[Flag, Person]]:
    """Flags of the region with this status, oldest first (the first `limit` of them).

    :raises NotFound: for a region outside the lead's.
    """
    scoping.check_region(lead, region)
    return list(session.exec(
        select(Flag, Person).join(Person, Person.id == Flag.person_id)
        .where(Flag.region == region, Flag.status == status)
        .order_by(Flag.created_at, Flag.id).limit(limit)).all())


def get(session: Session, lead: User, flag_id: int) -> tuple[Flag, Person]:
    """A flag the lead may see.

    :raises NotFound: when missing or of another region.
    """
    row = session.exec(select(Flag, Person).join(Person, Person.id == Flag.person_id)
                       .where(Flag.id == flag_id)).first()
    if row is None:
        raise NotFound()
    scoping.check_region(lead, row[0].region)
    return row


def colleagues(session: Session, region: str) -> list[User]:
    """Who a flag can be assigned to: the region's leads and the admins."""
    return list(session.exec(select(User).where(
        (User.role == "admin") | ((User.role == "lead") & (User.region == region)))
        .order_by(User.full_name)).all())


def act(session: Session, *, lead: User, flag_id: int, action: str | None = None,
        note: str | None = None, assign_to: int | None = None) -> Flag:
    """Mark a flag contacted or resolved (or reopen it), add a note, assign it.

    :raises NotFound: outside the lead's region; ServiceError for a bad action or colleague.
    """
    flag, _person = get(session, lead, flag_id)
    if action is not None and action not in ACTIONS:
        raise ServiceError("Choose contacted, resolved or reopen")
    if assign_to is not None and assign_to not in {u.id for u in colleagues(session, flag.region)}:
        raise ServiceError({"assign_to": "Choose a colleague from this region"})
    # Notes keep their line breaks; like names, they may not hide or reverse text.
    note = clean_note(note, limit=2000)
    changed = {}
    if action:
        flag.status = ACTIONS[action]
        flag.handled_at, flag.handled_by = utcnow(), lead.id
        changed["status"] = flag.status
    if note:
        stamp = f"{utcnow():%d %b %Y %H:%M} {lead.full_name}: {note}"
        flag.note = f"{flag.note}\n{stamp}" if flag.note else stamp
        changed["note"] = True
    if assign_to is not None:
        flag.assigned_to = assign_to
        changed["assigned_to"] = assign_to
    if not changed:
        raise ServiceError("Nothing to change: choose an action, write a note or assign it")
    session.add(flag)
    audit.record(session, actor=lead, action="flag_updated", region=flag.region,
                 person_id=flag.person_id, detail={"flag_id": flag.id, **changed})
    session.commit()
    return flag
