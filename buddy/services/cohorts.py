"""Cohorts for the optimiser (spec/matching.md, version 1) from the database.

Person keys in a cohort are "n-<id>", "b-<id>" and "a-<id>" (newcomer, buddy, ambassador),
so a result maps back to rows without a lookup table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import sqlalchemy as sa
from sqlmodel import Session, select

from buddy import clock, intakes, states
from buddy.models import (
    AmbassadorPair,
    AvoidPair,
    Family,
    FamilyMember,
    Person,
    VolunteerConfirmation,
)
from buddy.statuses import FamilyStatus, PairStatus

PREFIX = {"newcomer": "n", "buddy": "b", "ambassador": "a"}
GENDER = {"female": "F", "male": "M", "other": "X"}


def key(person: Person) -> str:
    return f"{PREFIX[person.role]}-{person.id}"


def person_id(cohort_key: str) -> int:
    """The database id behind a cohort key like "n-12"."""
    return int(cohort_key.split("-", 1)[1])


_KEY = re.compile(r"\b[nba]-\d+\b")


def readable(text: str, people: dict[str, Person]) -> str:
    """Replace cohort keys ("b-12") in a solver sentence with people's names."""
    return _KEY.sub(lambda m: people[m.group(0)].full_name if m.group(0) in people
                    else "someone who has since left", text)


COHORT_COLUMNS = (
    Person.id, Person.role, Person.region, Person.scheme, Person.stage, Person.languages,
    Person.interests, Person.country, Person.gender, Person.arrival_date,
    Person.same_gender_anchor, Person.wants_ambassador, Person.setting, Person.capacity,
    Person.can_anchor,
)


def _entry(p: Person) -> dict:
    """A cohort person from a Person, or from a row of COHORT_COLUMNS."""
    entry = {
        "id": key(p),
        "role": p.role,
        "region": p.region,
        "scheme": p.scheme,
        "stage": p.stage,
        "languages": list(p.languages),
        "interests": list(p.interests),
        "country": p.country,
        "gender": GENDER.get(p.gender or ""),
    }
    if p.role == "newcomer":
        entry.update(arrival=p.arrival_date.isoformat() if p.arrival_date else None,
                     same_gender_anchor=p.same_gender_anchor,
                     wants_ambassador=p.wants_ambassador)
    else:
        entry.update(setting=p.setting, capacity=p.capacity or 0)
    if p.role == "buddy":
        entry["can_anchor"] = p.can_anchor
    return entry


def families_with_members(session: Session, *where) -> list[tuple[Family, list]]:
    """Families matching `where`, by code, each with its (FamilyMember, Person) rows in the
    order they joined (a family with no member yet has an empty list): one query, however
    many families a large region's page shows."""
    rows = session.exec(
        select(Family, FamilyMember, Person)
        .outerjoin(FamilyMember, FamilyMember.family_id == Family.id)
        .outerjoin(Person, Person.id == FamilyMember.person_id)
        .where(*where)
        .order_by(Family.code, Family.id, FamilyMember.id)
    ).all()
    grouped: dict[int, tuple[Family, list]] = {}
    for family, member, person in rows:
        members = grouped.setdefault(family.id, (family, []))[1]
        if member is not None:
            members.append((member, person))
    return list(grouped.values())


def published_families(session: Session, region: str) -> list[tuple[Family, list]]:
    """Published families of `region` with (FamilyMember, Person) rows, by family code."""
    return [(f, members) for f, members in families_with_members(
        session, Family.region == region, Family.status == FamilyStatus.PUBLISHED) if members]


def locked_entry(family: Family, members: Iterable[tuple[FamilyMember, Person]]) -> dict:
    members = list(members)
    anchor = next((key(p) for m, p in members if m.place == "anchor"), None)
    entry = {"family": family.code, "members": [key(p) for _, p in members]}
    if anchor:
        entry["anchor"] = anchor
    return entry


def merge_locked(entries: Iterable[dict]) -> list[dict]:
    """One locked entry per family code and one locked family per person, earlier entries first.

    A draft that extends a published family carries its code too, and the lead may lock it:
    its entry then adds the newcomers it gained to the published one instead of locking the
    family a second time. Published entries come first, so a published place always wins.
    """
    merged: dict[str, dict] = {}
    owner: dict[str, str] = {}
    for entry in entries:
        code = entry["family"]
        target = merged.setdefault(code, {"family": code, "members": []})
        for member in entry["members"]:
            if owner.setdefault(member, code) == code and member not in target["members"]:
                target["members"].append(member)
        if "anchor" not in target and entry.get("anchor") in target["members"] and \
                owner.get(entry["anchor"]) == code:
            target["anchor"] = entry["anchor"]
    return [entry for entry in merged.values() if entry["members"]]


def avoid_pairs(session: Session, region: str) -> list[list[str]]:
    rows = session.exec(
        select(AvoidPair, Person).join(Person, Person.id == AvoidPair.person_a)
        .where(AvoidPair.region == region).order_by(AvoidPair.id)
    ).all()
    people = {p.id: p for p in session.exec(select(Person).where(Person.id.in_(
        [a.person_b for a, _ in rows]))).all()}
    return [[key(p), key(people[a.person_b])] for a, p in rows if a.person_b in people]


def _in_intake(region: str, intake: str):
    """Newcomers of `intake` (and those with no arrival date yet when it is the next one)
    who were never in a family that ended: theirs was their buddy family."""
    same = Person.intake == intake
    if intake == intakes.next_intake(clock.today(), region):
        same = sa.or_(same, Person.intake.is_(None))
    return sa.and_(same, Person.id.not_in(_members(region, (FamilyStatus.ENDED,))))


def confirmed(session: Session, region: str, intake: str) -> dict[int, int | None]:
    """Matchable volunteers of `region` who confirmed they can buddy for `intake`: id -> the
    capacity they gave (None: keep their profile's)."""
    rows = session.exec(
        select(Person.id, VolunteerConfirmation.capacity)
        .join(VolunteerConfirmation, VolunteerConfirmation.person_id == Person.id)
        .where(Person.region == region, Person.role == "buddy", states.matchable(),
               VolunteerConfirmation.intake == intake,
               VolunteerConfirmation.available.is_(True))).all()
    return dict(rows)


def intake_counts(session: Session, region: str, intake: str) -> dict[str, int]:
    """What a run for `intake` would start from: its newcomers without a running family
    and the buddies who confirmed for it."""
    newcomers = session.exec(
        select(sa.func.count()).select_from(Person).where(
            Person.region == region, Person.role == "newcomer", states.matchable(),
            _in_intake(region, intake), Person.id.not_in(_members(region)))).one()
    return {"newcomers": int(newcomers), "volunteers": len(confirmed(session, region, intake))}


def _members(region: str, statuses: tuple[str, ...] = (FamilyStatus.PUBLISHED,)):
    """People in a family of `region` with one of `statuses` (running: published), as a
    subquery."""
    return (select(FamilyMember.person_id).join(Family, Family.id == FamilyMember.family_id)
            .where(Family.region == region, Family.status.in_(statuses)))


def family_cohort(
    session: Session, region: str, *, intake: str | None = None, excluded: Iterable[int] = (),
    extra_locked: Iterable[dict] = (), published: list | None = None,
) -> dict:
    """The cohort of a family run for `intake`: its newcomers, the buddies who confirmed for
    it, the running families locked, avoid pairs.

    Newcomers are the intake's active ones not in a running family and never in one that
    ended (with those who have no arrival date yet when it is the next intake); newcomers of
    other intakes never are.
    Buddies are the matchable ones with a VolunteerConfirmation saying available for the
    intake, at the capacity they confirmed; nobody who did not confirm joins a new family.
    Running families (status published; ended ones are history) are locked with all their
    members, even members who have since paused, so that a running family is never broken;
    a member who did not confirm keeps their place but gets no room for more newcomers.
    Without `intake` (the dashboard's match quality): every active newcomer and buddy of the
    region, as they stand. `excluded` people (removed by the lead) are left out.
    `published` saves a query when the caller already has published_families().
    """
    excluded = set(excluded)
    if published is None:
        published = published_families(session, region)
    in_published = {p.id for _, members in published for _, p in members}
    if intake is None:
        wanted = sa.true()
        capacities: dict[int, int | None] = {}
    else:
        capacities = confirmed(session, region, intake)
        wanted = sa.or_(
            sa.and_(Person.role == "newcomer", _in_intake(region, intake)),
            Person.id.in_(list(capacities) or [-1]))
    # Only the columns a cohort needs, as plain rows: a region's 1,000 people load about
    # four times faster than as ORM objects (the dashboard's match quality reads this too).
    people = session.exec(
        select(*COHORT_COLUMNS).where(
            Person.region == region,
            Person.role.in_(["newcomer", "buddy"]),
            sa.or_(sa.and_(states.matchable(), wanted),
                   Person.id.in_(list(in_published) or [-1])),
        ).order_by(Person.id)
    ).all()
    people = [p for p in people if p.id not in excluded or p.id in in_published]
    entries = [_entry(p) for p in people]
    if intake is not None:
        load = _newcomers_held(published)
        for entry, p in zip(entries, people, strict=True):
            if p.role != "buddy":
                continue
            if p.id in capacities:
                given = capacities[p.id]
                # Never below what their running family holds: that family is not broken.
                entry["capacity"] = max(entry["capacity"] if given is None else given,
                                        load.get(p.id, 0))
            else:
                # In a running family without confirming: the family stays as it is.
                entry["capacity"] = load.get(p.id, 0)
    keys = {key(p) for p in people}
    locked = merge_locked([locked_entry(f, members) for f, members in published]
                          + [entry for entry in extra_locked if set(entry["members"]) <= keys])
    return {
        "version": 1,
        "people": entries,
        "locked": locked,
        "avoid": [pair for pair in avoid_pairs(session, region) if set(pair) <= keys],
    }


def _newcomers_held(published: list) -> dict[int, int]:
    """Volunteer id -> the newcomers of the running family they are in."""
    load: dict[int, int] = {}
    for _, members in published:
        newcomers = sum(1 for m, _ in members if m.place == "newcomer")
        for m, p in members:
            if m.place != "newcomer":
                load[p.id] = load.get(p.id, 0) + newcomers
    return load


def ambassador_load(session: Session) -> dict[int, int]:
    """Ambassador id -> how many newcomers they are introduced to (published pairs), in
    every region: an ambassador's capacity is national."""
    return dict(session.exec(
        select(AmbassadorPair.ambassador_id, sa.func.count())
        .where(AmbassadorPair.status == PairStatus.PUBLISHED)
        .group_by(AmbassadorPair.ambassador_id)).all())


def ambassador_cohort(session: Session, region: str) -> dict:
    """The national pool of ambassadors (capacity less their published pairs) and the region's
    active newcomers who asked for an ambassador and do not have one yet.

    National, so not for one intake; but an ambassador is for before arrival, so newcomers of
    intakes before the region's next one are left out ('YYYY-MM' sorts as the dates do).
    """
    upcoming = intakes.next_intake(clock.today(), region)
    load = ambassador_load(session)
    paired = set(session.exec(select(AmbassadorPair.newcomer_id).where(
        AmbassadorPair.status == PairStatus.PUBLISHED)).all())
    ambassadors = session.exec(
        select(Person).where(Person.role == "ambassador", states.matchable())
        .order_by(Person.id)
    ).all()
    newcomers = session.exec(
        select(Person).where(Person.role == "newcomer", states.matchable(),
                             Person.region == region, Person.wants_ambassador.is_(True),
                             sa.or_(Person.intake.is_(None), Person.intake >= upcoming))
        .order_by(Person.id)
    ).all()
    people = [_entry(p) for p in newcomers if p.id not in paired]
    for a in ambassadors:
        entry = _entry(a)
        entry["capacity"] = max(0, (a.capacity or 0) - load.get(a.id, 0))
        people.append(entry)
    keys = {p["id"] for p in people}
    return {"version": 1, "people": people, "locked": [],
            "avoid": [pair for pair in avoid_pairs(session, region) if set(pair) <= keys]}
