"""The end of a draft: publish it (members see their families, messages are queued), or
discard it. Published families are never broken: a draft that adds people to a running
family moves them into it.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from buddy.messaging import cadence
from buddy.models import Family, MatchRun, User, utcnow
from buddy.services import ServiceError, audit
from buddy.services.cohorts import ambassador_load
from buddy.services.drafts import draft_families, draft_pairs
from buddy.services.members import members_of
from buddy.services.runs import draft_run, drop_draft
from buddy.statuses import FamilyStatus, PairStatus, RunStatus


def publish(session: Session, *, lead: User, run_id: int) -> MatchRun:
    """Publish a draft: families become visible to members and their messages are queued.

    Families that extend a published family add their new members to it, so a published
    family is never broken.
    :raises ServiceError: when the run is not a draft or an ambassador has no room left.
    """
    run = draft_run(session, lead, run_id)
    now = utcnow()
    if run.kind == "ambassadors":
        _publish_pairs(session, run, now)
    else:
        _publish_families(session, run, now)
    run.status, run.published_at = RunStatus.PUBLISHED, now
    session.add(run)
    audit.record(session, actor=lead, action="run_published", region=run.region,
                 detail={"run_id": run.id, "kind": run.kind})
    session.commit()
    return run


def _publish_families(session: Session, run: MatchRun, now: datetime) -> None:
    # Who joins a running family: its draft row goes, so the run's page reads it from here.
    joined: dict[str, list[int]] = {}
    for family, members in draft_families(session, run):
        if not members:
            session.delete(family)
            continue
        existing = session.exec(select(Family).where(
            Family.region == family.region, Family.code == family.code,
            Family.status == FamilyStatus.PUBLISHED)).first()
        if existing is not None:
            have = {p.id for p, _ in members_of(session, existing.id)}
            for member, _person in members:
                if member.person_id not in have:
                    member.family_id = existing.id
                    session.add(member)
                    joined.setdefault(existing.code, []).append(member.person_id)
            session.flush()
            session.delete(family)
            session.flush()
            target = existing
        else:
            family.status, family.published_at = FamilyStatus.PUBLISHED, now
            session.add(family)
            target = family
        session.flush()
        cadence.family_published(session, target, members_of(session, target.id))
    run.result = {**run.result, "joined": joined}


def _publish_pairs(session: Session, run: MatchRun, now: datetime) -> None:
    load = ambassador_load(session)
    for pair, ambassador, newcomer in draft_pairs(session, run):
        load[ambassador.id] = load.get(ambassador.id, 0) + 1
        if load[ambassador.id] > (ambassador.capacity or 0):
            session.rollback()
            raise ServiceError(f"{ambassador.full_name} has no room left since this run: "
                               "run the ambassador match again")
        pair.status, pair.published_at = PairStatus.PUBLISHED, now
        session.add(pair)
        cadence.ambassador_paired(session, pair, ambassador, newcomer)


def discard(session: Session, *, lead: User, run_id: int) -> MatchRun:
    """Throw a draft away; published families are untouched."""
    run = draft_run(session, lead, run_id)
    drop_draft(session, run)
    run.status = RunStatus.DISCARDED
    session.add(run)
    audit.record(session, actor=lead, action="run_discarded", region=run.region,
                 detail={"run_id": run.id})
    session.commit()
    return run
