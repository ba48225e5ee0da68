"""DA leads approving or declining volunteers of their region."""

from __future__ import annotations

from sqlmodel import Session, func, select

from buddy import scoping, states
from buddy.messaging import cadence
from buddy.models import Person, User
from buddy.services import audit
from buddy.states import Action
from buddy.statuses import PersonStatus


def volunteers(session: Session, *, lead: User,
               status: str = PersonStatus.PENDING) -> list[Person]:
    """Volunteers the lead may see with this status, oldest first."""
    query = (
        scoping.people_query(lead).where(*_with_status(status))
        .order_by(Person.created_at, Person.id)
    )
    return list(session.exec(query).all())


def pending_count(session: Session, region: str) -> int:
    """How many volunteers of the region wait for approval (the caller checked the region)."""
    return session.scalar(select(func.count()).select_from(Person).where(
        Person.region == region, *_with_status(PersonStatus.PENDING))) or 0


def _with_status(status: str):
    return Person.role.in_(["buddy", "ambassador"]), Person.status == status


def decide(*, session: Session, lead: User, person_id: int, approve: bool) -> Person:
    """Approve or decline a pending volunteer of the lead's region, and tell them.

    :raises NotFound: outside the lead's region; ServiceError when not pending or not a
        volunteer.
    """
    person = scoping.person_for(session, lead, person_id)
    # Approval is for the lead's region (approved_region); the table says who and when.
    states.apply(person, Action.APPROVE if approve else Action.DECLINE,
                 states.actor_of(lead), by=lead)
    session.add(person)
    # Sign-up promised "we will let you know": the notice goes with the decision or not at all.
    cadence.volunteer_decided(session, person, approved=approve)
    audit.record(session, actor=lead, action="volunteer_approved" if approve else
                 "volunteer_declined", region=person.region, person_id=person.id)
    session.commit()
    return person
