"""A member's own profile: edit, arrival date, pause, resume, withdraw."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, select

from buddy import intakes, states
from buddy.messaging import cadence
from buddy.models import Person, User, utcnow
from buddy.services import NotFound, ServiceError, audit, phone_verification
from buddy.services.profiles import clean_profile
from buddy.states import Action, Actor

# What a member may do from their account page; buddy/states.py says from which status.
MEMBER_ACTIONS = (Action.PAUSE, Action.RESUME, Action.WITHDRAW, Action.REJOIN)


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

    A volunteer who changes region loses the old region's approval: active, they wait
    for the new region's lead (buddy/states.py).
    :raises ServiceError: for any bad field; nothing is saved then.
    """
    values = clean_profile(data, role=person.role, today=today, stage_now=person.stage)
    consent = values.pop("sensitive_consent")
    before = {"region": person.region, "arrival_date": person.arrival_date,
              "full_name": person.full_name, "stage": person.stage}
    phone_before = person.phone
    for key, value in values.items():
        setattr(person, key, value)
    # A new arrival date or region can move a newcomer to another intake (buddy/intakes.py).
    intakes.assign(person)
    # A new number is unverified (texts go by email) until its code comes back.
    phone_verification.phone_given(session, person, before=phone_before)
    now = utcnow()
    if person.stage != before["stage"]:
        # Set by hand (less than full time, an extension): the next move leaves it alone.
        person.stage_corrected_at = now
    if consent and person.sensitive_consent_at is None:
        person.sensitive_consent_at = now
    elif not consent:
        person.sensitive_consent_at = None
    if before["region"] != person.region:
        was = person.status
        states.apply(person, Action.MOVE_REGION, Actor.SYSTEM)
        audit.record(session, actor=None, action="region_changed", region=person.region,
                     person_id=person.id, detail={"from": before["region"],
                                                  "status_before": was,
                                                  "status": person.status})
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


def change_status(*, session: Session, person: Person, action: str,
                  user: User | None = None) -> Person:
    """Pause, resume, withdraw or rejoin, as the member (`user`, when given, must be them).

    Resuming or rejoining comes back active for newcomers and approved volunteers, pending
    for anyone else (buddy/states.py).
    :raises ServiceError: when the action does not apply to the current status.
    """
    if action not in MEMBER_ACTIONS:
        raise ServiceError("Choose pause, resume, withdraw or rejoin")
    was = person.status
    states.apply(person, action, Actor.MEMBER, by=user)
    session.add(person)
    audit.record(session, actor=None, action=f"member_{action}", region=person.region,
                 person_id=person.id, detail={"status_before": was, "status": person.status})
    cadence.person_changed(session, person)  # cancels or requeues pending messages
    session.commit()
    return person
