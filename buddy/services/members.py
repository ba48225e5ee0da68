"""Who is in which family and ambassador pair, as members' pages, jobs and publishing read it.

Read-only. `members_of` gives who and as what (Person, place); `family_of` gives the
memberships themselves (FamilyMember, Person), with their places and reasons.
"""

from __future__ import annotations

from sqlmodel import Session, select

from buddy.models import AmbassadorPair, Family, FamilyMember, Person
from buddy.services.cohorts import families_with_members, readable
from buddy.statuses import FamilyStatus, PairStatus

# Reasons that rest on sensitive answers (languages, country, gender) stay with the DA lead:
# members are told only what they could see for themselves.
PRIVATE_REASONS = ("speaks ", "qualified in ", "same-gender")


def members_of(session: Session, family_id: int) -> list[tuple[Person, str]]:
    """The family's members with their places, in the order they joined."""
    return list(session.exec(
        select(Person, FamilyMember.place)
        .join(FamilyMember, FamilyMember.person_id == Person.id)
        .where(FamilyMember.family_id == family_id).order_by(FamilyMember.id)
    ).all())


def family_of(session: Session, person: Person) -> tuple[Family, list] | None:
    """The person's running (published) family with its (FamilyMember, Person) rows, or None."""
    found = families_with_members(
        session, Family.status == FamilyStatus.PUBLISHED,
        Family.id.in_(select(FamilyMember.family_id).where(FamilyMember.person_id == person.id)))
    return found[0] if found else None


def member_reasons(reasons: list[str], people: dict[str, Person]) -> list[str]:
    """The reasons a member may read, with names for cohort keys."""
    return [readable(r, people) for r in reasons if not any(p in r for p in PRIVATE_REASONS)]


def ambassador_of(session: Session, person: Person) -> list[tuple[AmbassadorPair, Person]]:
    """Published ambassador pairs the person is in, with the other person."""
    if person.role == "newcomer":
        query = select(AmbassadorPair, Person).join(
            Person, Person.id == AmbassadorPair.ambassador_id).where(
            AmbassadorPair.newcomer_id == person.id)
    else:
        query = select(AmbassadorPair, Person).join(
            Person, Person.id == AmbassadorPair.newcomer_id).where(
            AmbassadorPair.ambassador_id == person.id)
    return list(session.exec(query.where(AmbassadorPair.status == PairStatus.PUBLISHED)).all())
