"""Region scoping: every record a DA lead reaches goes through here.

Outside the lead's region a record does not exist for them (404, never 403), so that ids
cannot be probed.
"""

from __future__ import annotations

from sqlmodel import Session, select
from sqlmodel.sql.expression import SelectOfScalar

from buddy.models import Person, User
from buddy.services import NotFound


def regions_of(user: User) -> list[str] | None:
    """The regions `user` may see: None means all (admin); a lead sees their own."""
    if user.role == "admin":
        return None
    if user.role == "lead" and user.region:
        return [user.region]
    return []


def people_query(user: User) -> SelectOfScalar[Person]:
    """A select of the people `user` may see."""
    query = select(Person)
    allowed = regions_of(user)
    if allowed is not None:
        query = query.where(Person.region.in_(allowed))
    return query


def person_for(session: Session, user: User, person_id: int) -> Person:
    """The person with this id, if `user` may see them.

    :raises NotFound: when missing or outside the user's regions.
    """
    person = session.exec(people_query(user).where(Person.id == person_id)).first()
    if person is None:
        raise NotFound()
    return person


def check_region(user: User, region: str) -> str:
    """Return `region` when `user` may act on it.

    :raises NotFound: otherwise.
    """
    allowed = regions_of(user)
    if allowed is not None and region not in allowed:
        raise NotFound()
    return region
