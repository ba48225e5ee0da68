"""DA leads as an admin manages them: move one to another region, or remove one.

A removed lead keeps their account row with the role FORMER (never deleted), so the audit
trail, the flags they handled and the runs they published still name them; every query for
a region's leads asks for role "lead" and so no longer finds them. They cannot sign in
(buddy/auth.py, accounts.authenticate) and every session they had ends.

Either change happens whole, in one transaction with its audit event: the lead's region
changes or their account closes, their sessions end (removal), the flags assigned to them
that they can no longer reach go back to their region's queue, and messages still waiting
for a removed lead (a link to set a password) are cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, func, select

from buddy import reference
from buddy.messaging.models import Flag, Message
from buddy.models import User, utcnow
from buddy.services import NotFound, ServiceError, audit
from buddy.statuses import FlagStatus, MessageStatus

LEAD = "lead"
FORMER = "former_lead"  # a DA lead an admin removed: cannot sign in, keeps their name


@dataclass(frozen=True)
class Impact:
    """What moving or removing a lead changes, for the admin to read before confirming."""

    lead: User
    flags: int  # flags of their region assigned to them and not resolved
    last: bool  # they are their region's only DA lead


def get(session: Session, lead_id: int) -> User:
    """The DA lead with this id.

    :raises NotFound: no such account, or one that is not a current DA lead.
    """
    lead = session.get(User, lead_id)
    if lead is None or lead.role != LEAD:
        raise NotFound()
    return lead


def leads_of(session: Session, region: str) -> list[User]:
    """The region's current DA leads, by name."""
    return list(session.exec(select(User).where(User.role == LEAD, User.region == region)
                             .order_by(User.full_name, User.id)).all())


def current_leads(session: Session) -> list[User]:
    """Every current DA lead, by region and name."""
    return list(session.exec(select(User).where(User.role == LEAD)
                             .order_by(User.region, User.full_name)).all())


def former_leads(session: Session) -> list[User]:
    """Every DA lead an admin removed, by name."""
    return list(session.exec(select(User).where(User.role == FORMER)
                             .order_by(User.full_name)).all())


def impact(session: Session, lead: User) -> Impact:
    """What moving or removing `lead` would change."""
    assigned = session.exec(select(func.count()).select_from(Flag).where(
        Flag.assigned_to == lead.id, Flag.region == lead.region,
        Flag.status != FlagStatus.RESOLVED)).one()
    return Impact(lead=lead, flags=assigned,
                  last=[u.id for u in leads_of(session, lead.region or "")] == [lead.id])


def regions_without_lead(session: Session) -> list[str]:
    """Slugs of the regions that have no current DA lead, in the order of config/regions.toml."""
    led = set(session.exec(select(User.region).where(User.role == LEAD)).all())
    return [slug for slug in reference.regions() if slug not in led]


def _release_flags(session: Session, lead: User, region: str) -> int:
    """Unassign the flags of `region` assigned to `lead` and not resolved: they go back to
    the region's queue, where its other leads see them."""
    ids = session.exec(select(Flag.id).where(Flag.assigned_to == lead.id, Flag.region == region,
                                             Flag.status != FlagStatus.RESOLVED)).all()
    if ids:
        session.execute(sa.update(Flag).where(Flag.id.in_(ids)).values(assigned_to=None))
    return len(ids)


def check_move(lead: User, region: str) -> None:
    """Whether `lead` can move to `region` (before the admin is asked to confirm).

    :raises ServiceError: on "region" for an unknown region or the one they already lead.
    """
    regions = reference.regions()
    if region not in regions:
        raise ServiceError({"region": "Choose a region from the list"})
    if region == lead.region:
        raise ServiceError({"region": f"{lead.full_name} already leads {regions[region].name}: "
                                      "choose another region"})


def move(*, session: Session, actor: User, lead_id: int, region: str) -> User:
    """Make a DA lead the lead of another region. Commits.

    :raises NotFound: no such current lead; ServiceError on "region" for an unknown region
        or the one they already lead.
    """
    lead = get(session, lead_id)
    check_move(lead, region)
    before = lead.region
    released = _release_flags(session, lead, before) if before else 0
    lead.region = region
    session.add(lead)
    audit.record(session, actor=actor, action="lead_region_changed", region=region,
                 detail={"user_id": lead.id, "from": before, "to": region,
                         "flags_released": released})
    session.commit()
    return lead


def remove(*, session: Session, actor: User, lead_id: int) -> User:
    """Close a DA lead's account: they cannot sign in and their sessions end, while what
    they did keeps their name. Commits.

    :raises NotFound: no such current lead.
    """
    lead = get(session, lead_id)
    released = _release_flags(session, lead, lead.region) if lead.region else 0
    # A link to set a password, still waiting, would lead nowhere now.
    session.execute(sa.update(Message).where(Message.user_id == lead.id,
                                             Message.status == MessageStatus.PENDING)
                    .values(status=MessageStatus.CANCELLED, updated_at=utcnow(),
                            last_error="The DA lead was removed"))
    lead.role = FORMER
    lead.session_version += 1
    session.add(lead)
    audit.record(session, actor=actor, action="lead_removed", region=lead.region,
                 detail={"user_id": lead.id, "flags_released": released})
    session.commit()
    return lead
