"""A run's draft as rows, and the result those rows stand for after the lead's edits.

A run writes its answer as draft families (or ambassador pairs) with their members
(buddy/services/runs.py); the lead edits the rows (buddy/services/edits.py); the run's page
(buddy/services/review.py) and every edit's check read them back here.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, select

from buddy.models import AmbassadorPair, Family, MatchRun, Person
from buddy.services.cohorts import families_with_members, key, person_id
from buddy.statuses import MATCHED_FAMILY_STATUSES, RunStatus


def draft_families(session: Session, run: MatchRun) -> list[tuple[Family, list]]:
    """The run's families (draft, or published by it) with their (member, person) rows."""
    return families_with_members(session, Family.run_id == run.id)


def draft_pairs(session: Session, run: MatchRun) -> list[tuple[AmbassadorPair, Person, Person]]:
    """The run's ambassador pairs with (ambassador, newcomer), by ambassador name."""
    ambassador = sa.orm.aliased(Person)
    newcomer = sa.orm.aliased(Person)
    rows = session.exec(
        select(AmbassadorPair, ambassador, newcomer)
        .join(ambassador, ambassador.id == AmbassadorPair.ambassador_id)
        .join(newcomer, newcomer.id == AmbassadorPair.newcomer_id)
        .where(AmbassadorPair.run_id == run.id).order_by(ambassador.full_name, newcomer.id)
    ).all()
    return list(rows)


def names_by_key(session: Session, run: MatchRun) -> dict[str, Person]:
    """The people of the run's cohort who are still in Buddy, by cohort key."""
    ids = [person_id(p["id"]) for p in run.cohort.get("people", [])]
    people = session.exec(select(Person).where(Person.id.in_(ids or [-1]))).all()
    return {key(p): p for p in people}


def current_result(session: Session, run: MatchRun) -> dict:
    """The run's result as it stands after the lead's edits (spec/matching.md shape)."""
    base = {k: run.result.get(k) for k in ("version", "kind", "settings")}
    placed: set[str] = set()
    if run.kind == "ambassadors":
        pairs: dict[str, dict] = {}
        for pair, amb, new in draft_pairs(session, run):
            entry = pairs.setdefault(key(amb), {"ambassador": key(amb), "newcomers": [],
                                                "reasons": {}})
            entry["newcomers"].append(key(new))
            entry["reasons"][key(new)] = pair.reasons
            placed.add(key(new))
        base["pairs"] = list(pairs.values())
    else:
        families = []
        in_cohort = {p["id"] for p in run.cohort.get("people", [])}
        for family, members in _result_families(session, run):
            entry = {"id": family.code, "region": family.region, "anchor": None, "buddies": [],
                     "newcomers": [], "reasons": {}}
            # A running family may have gained members in later runs: they were not part
            # of this one.
            for member, person in members:
                if key(person) not in in_cohort:
                    continue
                if member.place == "anchor":
                    entry["anchor"] = key(person)
                else:
                    entry["buddies" if member.place == "buddy" else "newcomers"].append(key(person))
                    if member.place == "newcomer":
                        entry["reasons"][key(person)] = member.reasons
                        placed.add(key(person))
            families.append(entry)
        base["families"] = families
    earlier = {u["id"]: u["reason"] for u in run.result.get("unmatched", [])}
    removed = {f"n-{i}" for i in run.excluded}
    # Solved, then gone: taken out in the draft, or out of their family since publishing.
    gone = ("not in a family now: they left it, or it ended, after this run was published"
            if run.status == RunStatus.PUBLISHED else "taken out of the draft by the DA lead")
    wanting = [p for p in run.cohort.get("people", []) if p["role"] == "newcomer"
               and (run.kind == "families" or p.get("wants_ambassador"))]
    base["unmatched"] = [
        {"id": p["id"], "reason": "removed from the draft by the DA lead" if p["id"] in removed
         else earlier.get(p["id"], gone)}
        for p in wanting if p["id"] not in placed
    ]
    return base


def _result_families(session: Session, run: MatchRun) -> list[tuple[Family, list]]:
    """The run's families with their members: its draft, or once published, the families it
    made and the running families it was given (locked), as they are now.

    Publishing moves the newcomers a draft added to a running family into that family, so
    after publishing the running families are read by their codes, not by run.
    """
    own = draft_families(session, run)
    if run.status != RunStatus.PUBLISHED:
        return own
    codes = {entry["family"] for entry in run.cohort.get("locked", [])} - {f.code for f, _ in own}
    return own + families_with_members(
        session, Family.region == run.region, Family.code.in_(sorted(codes) or [""]),
        Family.status.in_(MATCHED_FAMILY_STATUSES))
