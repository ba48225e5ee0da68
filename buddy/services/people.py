"""A member's own profile: edit, arrival date, pause, resume, withdraw."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, select

from buddy.messaging import cadence
from buddy.models import Person, User, utcnow
from buddy.services import NotFound, ServiceError, audit
from buddy.services.profiles import clean_profile

# What a member may do from each status.
TRANSITIONS = {
    "pause": ({"active", "pending"}, "paused"),
    "resume": ({"paused"}, "active"),
    "withdraw": ({"active", "pending", "paused", "declined"}, "withdrawn"),
    "rejoin": ({"withdrawn"}, "active"),
}


def person_of(session: Session, user: User) -> Person:
    """The member's own Person.

    :raises NotFound: for staff accounts, which have no profile.
    """
    person = session.exec(select(Person).where(Person.user_id == user.id)).first()
    if person is None:
        raise NotFound()
    return person


def update_profile(
    *, session: Session, person: Person, data: dict, today: date | None = None
) -> Person:
    """Validate and save profile edits (a changed arrival date included).

    Volunteers who change region go back to pending: the new region's lead approves them.
    :raises ServiceError: for any bad field; nothing is saved then.
    """
    values = clean_profile(data, role=person.role, today=today)
    consent = values.pop("sensitive_consent")
    before = {"region": person.region, "arrival_date": person.arrival_date,
              "full_name": person.full_name}
    for key, value in values.items():
        setattr(person, key, value)
    now = utcnow()
    if consent and person.sensitive_consent_at is None:
        person.sensitive_consent_at = now
    elif not consent:
        person.sensitive_consent_at = None
    moved = before["region"] != person.region
    if person.role != "newcomer" and moved and person.status == "active":
        person.status = "pending"
    person.updated_at = now
    session.add(person)
    changed = [k for k, v in before.items() if getattr(person, k) != v]
    audit.record(session, actor=None, action="profile_updated", region=person.region,
                 person_id=person.id, detail={"changed": changed})
    # Pending messages move with the new details; other members' messages give only the
    # name and arrival date.
    cadence.person_changed(session, person,
                           others=bool({"full_name", "arrival_date"} & set(changed)))
    session.commit()
    return person


def change_status(*, session: Session, person: Person, action: str) -> Person:
    """Pause, resume, withdraw or rejoin.

    Rejoining volunteers wait for approval again.
    :raises ServiceError: when the action does not apply to the current status.
    """
    if action not in TRANSITIONS:
        raise ServiceError("Choose pause, resume, withdraw or rejoin")
    allowed, target = TRANSITIONS[action]
    if person.status not in allowed:
        raise ServiceError(f"You cannot {action} while your status is {person.status}")
    if action == "rejoin" and person.role != "newcomer":
        target = "pending"
    person.status = target
    person.updated_at = utcnow()
    session.add(person)
    audit.record(session, actor=None, action=f"member_{action}", region=person.region,
                 person_id=person.id)
    cadence.person_changed(session, person)  # cancels or requeues pending messages
    session.commit()
    return person
