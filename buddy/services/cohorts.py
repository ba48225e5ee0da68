"""Cohorts for the optimiser (spec/matching.md, version 1) from the database.

Person keys in a cohort are "n-<id>", "b-<id>" and "a-<id>" (newcomer, buddy, ambassador),
so a result maps back to rows without a lookup table.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import sqlalchemy as sa
from sqlmodel import Session, select

from buddy import states
from buddy.models import AmbassadorPair, AvoidPair, Family, FamilyMember, Person

PREFIX = {"newcomer": "n", "buddy": "b", "ambassador": "a"}
GENDER = {"female": "F", "male": "M", "other": "X"}


def key(person: Person) -> str:
    return f"{PREFIX[person.role]}-{person.id}"


def person_id(cohort_key: str) -> int:
    """The database id behind a cohort key like "n-12"."""
    return int(cohort_key.split("-", 1)[1])


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


def published_families(session: Session, region: str) -> list[tuple[Family, list]]:
    """Published families of `region` with (FamilyMember, Person) rows, by family code."""
    rows = session.exec(
        select(Family, FamilyMember, Person)
        .join(FamilyMember, FamilyMember.family_id == Family.id)
        .join(Person, Person.id == FamilyMember.person_id)
        .where(Family.region == region, Family.status == "published")
        .order_by(Family.code, FamilyMember.id)
    ).all()
    grouped: dict[int, tuple[Family, list]] = {}
    for family, member, person in rows:
        grouped.setdefault(family.id, (family, []))[1].append((member, person))
    return list(grouped.values())


def members_of(session: Session, family_id: int) -> list[tuple[FamilyMember, Person]]:
    rows = session.exec(
        select(FamilyMember, Person).join(Person, Person.id == FamilyMember.person_id)
        .where(FamilyMember.family_id == family_id).order_by(FamilyMember.id)
    ).all()
    return list(rows)


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


def family_cohort(
    session: Session, region: str, *, excluded: Iterable[int] = (),
    extra_locked: Iterable[dict] = (), published: list | None = None,
) -> dict:
    """The region's active newcomers and buddies, published families locked, avoid pairs.

    Members of published families stay in the cohort even if they have since paused, so that
    a published family is never broken; `excluded` people (removed by the lead) are left out.
    `published` saves a query when the caller already has published_families().
    """
    excluded = set(excluded)
    if published is None:
        published = published_families(session, region)
    in_published = {p.id for _, members in published for _, p in members}
    # Only the columns a cohort needs, as plain rows: a region's 1,000 people load about
    # four times faster than as ORM objects (the dashboard's match quality reads this too).
    people = session.exec(
        select(*COHORT_COLUMNS).where(
            Person.region == region,
            Person.role.in_(["newcomer", "buddy"]),
            sa.or_(states.matchable(), Person.id.in_(list(in_published) or [-1])),
        ).order_by(Person.id)
    ).all()
    people = [p for p in people if p.id not in excluded or p.id in in_published]
    keys = {key(p) for p in people}
    locked = merge_locked([locked_entry(f, members) for f, members in published]
                          + [entry for entry in extra_locked if set(entry["members"]) <= keys])
    return {
        "version": 1,
        "people": [_entry(p) for p in people],
        "locked": locked,
        "avoid": [pair for pair in avoid_pairs(session, region) if set(pair) <= keys],
    }


def ambassador_cohort(session: Session, region: str) -> dict:
    """The national pool of ambassadors (capacity less their published pairs) and the region's
    active newcomers who asked for an ambassador and do not have one yet."""
    load: dict[int, int] = defaultdict(int)
    paired: set[int] = set()
    for pair in session.exec(select(AmbassadorPair).where(AmbassadorPair.status == "published")):
        load[pair.ambassador_id] += 1
        paired.add(pair.newcomer_id)
    ambassadors = session.exec(
        select(Person).where(Person.role == "ambassador", states.matchable())
        .order_by(Person.id)
    ).all()
    newcomers = session.exec(
        select(Person).where(Person.role == "newcomer", states.matchable(),
                             Person.region == region, Person.wants_ambassador.is_(True))
        .order_by(Person.id)
    ).all()
    people = [_entry(p) for p in newcomers if p.id not in paired]
    for a in ambassadors:
        entry = _entry(a)
        entry["capacity"] = max(0, (a.capacity or 0) - load[a.id])
        people.append(entry)
    keys = {p["id"] for p in people}
    return {"version": 1, "people": people, "locked": [],
            "avoid": [pair for pair in avoid_pairs(session, region) if set(pair) <= keys]}
