"""Match runs: start, execute (in a job), review, edit, re-optimise, publish, discard.

A run stores its cohort, settings and result, so any published match can be explained and
reproduced. Drafts are rows (families and members) that the lead edits; every edit is
checked with `matching.validate`, the same rules the optimiser keeps.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

import matching
from buddy import clock, intakes, reference, scoping
from buddy.models import (
    AmbassadorPair,
    AvoidPair,
    Family,
    FamilyMember,
    MatchRun,
    Person,
    User,
    utcnow,
)
from buddy.services import NotFound, ServiceError, audit
from buddy.services.cohorts import (
    ambassador_cohort,
    family_cohort,
    key,
    locked_entry,
    members_of,
    person_id,
    published_families,
)

KINDS = ("families", "ambassadors")
TIME_LIMITS = (10, 30, 60, 120, 300)
ACTIVE = ("queued", "running")
# A run whose progress has not moved for this long past its time limit has died.
STALE_AFTER = timedelta(minutes=5)
PROGRESS_EVERY_S = 1.0
_KEY = re.compile(r"\b[nba]-\d+\b")


# --- Starting and executing -------------------------------------------------------------

def start_run(
    session: Session, *, lead: User, region: str, kind: str = "families",
    time_limit_s: float = 30, seed: int = 0, excluded: list[int] | None = None,
    extra_locked: list[dict] | None = None, intake: str | None = None,
) -> MatchRun:
    """Queue a run for the lead's region with its cohort; the caller launches the job.

    A family run is for one intake (`YYYY-MM`; the region's next by default); an ambassador
    run draws on the national pool and is for no intake (cohorts.ambassador_cohort).
    :raises NotFound: for a region outside the lead's; ServiceError when a run is already
        going for this region or the settings or intake are out of range.
    """
    scoping.check_region(lead, region)
    if kind not in KINDS:
        raise ServiceError({"kind": "Choose families or ambassadors"})
    if not 1 <= time_limit_s <= 600:
        raise ServiceError({"time_limit": "Choose a time limit between 1 second and 10 minutes"})
    if kind == "families":
        try:
            intake = intakes.parse(intake, region) if intake else \
                intakes.next_intake(clock.today(), region)
        except intakes.BadIntake as exc:
            raise ServiceError({"intake": str(exc)}) from None
    else:
        intake = None
    fail_stale_runs(session)
    if kind == "families":
        cohort = family_cohort(session, region, intake=intake, excluded=excluded or (),
                               extra_locked=extra_locked or ())
    else:
        cohort = ambassador_cohort(session, region)
    run = MatchRun(region=region, kind=kind, intake=intake, time_limit_s=time_limit_s, seed=seed,
                   started_by=lead.id, cohort=cohort, excluded=list(excluded or []),
                   progress={"phase": "queued", "updated": utcnow().isoformat()})
    session.add(run)
    try:
        session.flush()
    except sa.exc.IntegrityError:
        # The partial unique index on (region, kind) for queued/running runs said no.
        session.rollback()
        raise ServiceError(
            f"A {kind} match run for {reference.regions()[region].name} is already running: "
            "wait for it to finish, then start another"
        ) from None
    audit.record(session, actor=lead, action="run_started", region=region,
                 detail={"run_id": run.id, "kind": kind, "intake": intake,
                         "time_limit_s": time_limit_s})
    session.commit()
    return run


def fail_stale_runs(session: Session) -> None:
    """Mark runs whose job died (no progress well past their time limit) as failed."""
    now = utcnow()
    for run in session.exec(select(MatchRun).where(MatchRun.status.in_(ACTIVE))).all():
        updated = run.progress.get("updated")
        last = run.created_at if not updated else _parse_time(updated)
        if now - last > timedelta(seconds=run.time_limit_s) + STALE_AFTER:
            run.status, run.finished_at = "failed", now
            run.error = "The run stopped unexpectedly. Start it again."
            session.add(run)
    session.commit()


def _parse_time(value: str):
    from datetime import datetime

    return datetime.fromisoformat(value)


def execute_run(session: Session, run_id: int, *, workers: int = 2) -> MatchRun:
    """Solve a queued run and store its draft. Called by the job process and the CLI."""
    run = session.get(MatchRun, run_id)
    if run is None or run.status != "queued":
        raise NotFound()
    run.status = "running"
    _save_progress(session, run, {"phase": "starting"})
    last_write = [0.0]

    def progress(event: dict) -> None:
        # The solver reports often; the page needs about one update a second.
        if time.monotonic() - last_write[0] >= PROGRESS_EVERY_S:
            last_write[0] = time.monotonic()
            _save_progress(session, run, event)

    try:
        cohort = matching.load_cohort(run.cohort)
        if run.kind == "families":
            result = matching.solve_families(cohort, time_limit_s=run.time_limit_s,
                                             seed=run.seed, workers=workers, progress=progress)
        else:
            result = matching.solve_ambassadors(cohort, time_limit_s=run.time_limit_s,
                                                seed=run.seed, progress=progress)
    except (matching.NoSolution, matching.CohortError) as exc:
        session.rollback()
        run = session.get(MatchRun, run_id)
        run.status, run.finished_at, run.error = "failed", utcnow(), str(exc)
        session.add(run)
        session.commit()
        return run
    run = session.get(MatchRun, run_id)
    # A lead must never review a draft that breaks a rule: check the solver's answer with
    # the solver-free validator before it is stored.
    problems = matching.validate(cohort, result)
    if problems:
        run.status, run.finished_at, run.result = "failed", utcnow(), result
        run.error = "The optimiser's answer broke a family rule, so it was not kept: " + \
            "; ".join(problems[:3])
        session.add(run)
        session.commit()
        return run
    run.result = result
    run.status, run.finished_at = "draft", utcnow()
    run.progress = {**run.progress, "phase": "done", "objective": result.get("objective"),
                    "bound": result.get("bound"), "elapsed": result.get("seconds"),
                    "updated": utcnow().isoformat()}
    session.add(run)
    _write_draft(session, run)
    # One draft per region and kind: a new one replaces the drafts before it.
    for older in session.exec(select(MatchRun).where(
            MatchRun.region == run.region, MatchRun.kind == run.kind,
            MatchRun.status == "draft", MatchRun.id != run.id)).all():
        _drop_draft(session, older)
        older.status = "discarded"
        session.add(older)
    session.commit()
    return run


def _save_progress(session: Session, run: MatchRun, event: dict) -> None:
    run.progress = {
        "phase": event.get("phase", run.progress.get("phase")),
        "region": event.get("region"),
        "objective": event.get("objective"),
        "bound": event.get("bound"),
        "elapsed": round(float(event.get("elapsed") or 0), 1),
        "updated": utcnow().isoformat(),
    }
    session.add(run)
    session.commit()


def _write_draft(session: Session, run: MatchRun) -> None:
    if run.kind == "ambassadors":
        for pair in run.result.get("pairs", []):
            for n_key in pair["newcomers"]:
                session.add(AmbassadorPair(
                    run_id=run.id, ambassador_id=person_id(pair["ambassador"]),
                    newcomer_id=person_id(n_key), region=run.region,
                    reasons=pair.get("reasons", {}).get(n_key, [])))
        return
    locked_codes = {entry["family"] for entry in run.cohort.get("locked", [])}
    # The optimiser numbers new families past the locked ones only: an ended family's code
    # stays its own (members see it in their history), so a new family gets the next free one.
    families = run.result.get("families", [])
    ended = set(session.exec(select(Family.code).where(Family.region == run.region,
                                                       Family.status == "ended")).all())
    taken = ended | {fam["id"] for fam in families}
    number = 0
    for fam in families:
        code = fam["id"]
        if code in ended and code not in locked_codes:
            while code in taken:
                number += 1
                code = f"{run.region}-{number:03d}"
            taken.add(code)
        family = Family(code=code, region=fam["region"], run_id=run.id, intake=run.intake,
                        locked=code in locked_codes)
        session.add(family)
        session.flush()
        reasons = fam.get("reasons", {})
        places = [(fam["anchor"], "anchor")] + [(b, "buddy") for b in fam.get("buddies", [])] + [
            (n, "newcomer") for n in fam.get("newcomers", [])]
        for member_key, place in places:
            session.add(FamilyMember(family_id=family.id, person_id=person_id(member_key),
                                     place=place, reasons=reasons.get(member_key, [])))


def _drop_draft(session: Session, run: MatchRun) -> None:
    session.execute(sa.delete(Family).where(Family.run_id == run.id,
                                            Family.status == "draft"))
    session.execute(sa.delete(AmbassadorPair).where(AmbassadorPair.run_id == run.id,
                                                    AmbassadorPair.status == "draft"))


# --- Reading ----------------------------------------------------------------------------

def runs_for(session: Session, lead: User, region: str) -> list[MatchRun]:
    """The region's runs, newest first (scoped to the lead).

    :raises NotFound: outside the lead's region.
    """
    scoping.check_region(lead, region)
    fail_stale_runs(session)
    return list(session.exec(select(MatchRun).where(MatchRun.region == region)
                             .order_by(MatchRun.id.desc()).limit(50)).all())


def get_run(session: Session, lead: User, run_id: int) -> MatchRun:
    """A run the lead may see.

    :raises NotFound: when missing or of another region.
    """
    run = session.get(MatchRun, run_id)
    if run is None:
        raise NotFound()
    scoping.check_region(lead, run.region)
    return run


def names_by_key(session: Session, run: MatchRun) -> dict[str, Person]:
    ids = [person_id(p["id"]) for p in run.cohort.get("people", [])]
    people = session.exec(select(Person).where(Person.id.in_(ids or [-1]))).all()
    return {key(p): p for p in people}


def readable(text: str, people: dict[str, Person]) -> str:
    """Replace cohort keys ("b-12") in a solver sentence with people's names."""
    return _KEY.sub(lambda m: people[m.group(0)].full_name if m.group(0) in people
                    else "someone who has since left", text)


def draft_families(session: Session, run: MatchRun) -> list[tuple[Family, list]]:
    """The run's families (draft, or published by it) with their (member, person) rows."""
    families = session.exec(select(Family).where(Family.run_id == run.id)
                            .order_by(Family.code)).all()
    return [(f, members_of(session, f.id)) for f in families]


def draft_pairs(session: Session, run: MatchRun) -> list[tuple[AmbassadorPair, Person, Person]]:
    ambassador = sa.orm.aliased(Person)
    newcomer = sa.orm.aliased(Person)
    rows = session.exec(
        select(AmbassadorPair, ambassador, newcomer)
        .join(ambassador, ambassador.id == AmbassadorPair.ambassador_id)
        .join(newcomer, newcomer.id == AmbassadorPair.newcomer_id)
        .where(AmbassadorPair.run_id == run.id).order_by(ambassador.full_name, newcomer.id)
    ).all()
    return list(rows)


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
        for family, members in draft_families(session, run):
            entry = {"id": family.code, "region": family.region, "anchor": None, "buddies": [],
                     "newcomers": [], "reasons": {}}
            for member, person in members:
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
    wanting = [p for p in run.cohort.get("people", []) if p["role"] == "newcomer"
               and (run.kind == "families" or p.get("wants_ambassador"))]
    base["unmatched"] = [
        {"id": p["id"], "reason": earlier.get(p["id"], "removed from the draft by the DA lead")}
        for p in wanting if p["id"] not in placed
    ]
    return base


def review(session: Session, run: MatchRun) -> dict:
    """Everything the review page shows: metrics (with groups), unmatched with reasons."""
    people = names_by_key(session, run)
    out = {"people": people, "metrics": None, "unmatched": [], "violations": []}
    if run.status not in ("draft", "published"):
        return out
    cohort = matching.load_cohort(run.cohort)
    result = current_result(session, run)
    out["metrics"] = matching.metrics(cohort, result)
    out["unmatched"] = [(people.get(u["id"]), readable(u["reason"], people))
                        for u in result["unmatched"]]
    out["unmatched_hint"] = _recruit_hints(run, result)
    return out


def _recruit_hints(run: MatchRun, result: dict) -> dict[str, int]:
    """For "no anchor with free capacity": how many more anchors of 4 would place everyone."""
    short = sum(1 for u in result["unmatched"] if "free capacity" in u["reason"])
    max_newcomers = (run.result.get("settings") or {}).get("max_newcomers", 4)
    return {"anchors_needed": -(-short // max_newcomers)} if short else {}


# --- Editing a draft ---------------------------------------------------------------------

def _draft_run(session: Session, lead: User, run_id: int) -> MatchRun:
    run = get_run(session, lead, run_id)
    if run.status != "draft":
        raise ServiceError("Only a draft can be changed: this run is " + run.status)
    return run


def _check(session: Session, run: MatchRun) -> None:
    """Refuse the pending edit when the draft breaks a family rule (rolls back)."""
    session.flush()
    cohort_data = dict(run.cohort)
    keys = {p["id"] for p in cohort_data["people"]}
    # Published families must keep every member; families the lead locked in an earlier
    # draft (and what a locked draft added to a published family) are the lead's to change.
    cohort_data["locked"] = [
        entry for entry in (locked_entry(f, members)
                            for f, members in published_families(session, run.region))
        if set(entry["members"]) <= keys]
    cohort_data["avoid"] = [pair for pair in _avoid_keys(session, run.region) if set(pair) <= keys]
    problems = matching.validate(matching.load_cohort(cohort_data), current_result(session, run))
    if problems:
        people = names_by_key(session, run)
        session.rollback()
        raise ServiceError("That change breaks a family rule: " + readable(problems[0], people))


def _avoid_keys(session: Session, region: str) -> list[list[str]]:
    from buddy.services.cohorts import avoid_pairs

    return avoid_pairs(session, region)


def _member_in_run(session: Session, run: MatchRun, pid: int) -> FamilyMember | None:
    return session.exec(
        select(FamilyMember).join(Family, Family.id == FamilyMember.family_id)
        .where(Family.run_id == run.id, FamilyMember.person_id == pid)
    ).first()


def _person_in_run(session: Session, lead: User, run: MatchRun, pid: int) -> Person:
    person = scoping.person_for(session, lead, pid)
    if f"{key(person)}" not in {p["id"] for p in run.cohort.get("people", [])}:
        raise ServiceError(f"{person.full_name} was not part of this run")
    return person


def move_member(session: Session, *, lead: User, run_id: int, person_id_: int,
                family_id: int) -> Family:
    """Put a newcomer or buddy into another family of the draft (locks both families).

    :raises NotFound: outside the lead's region; ServiceError when a rule would break.
    """
    run = _draft_run(session, lead, run_id)
    person = _person_in_run(session, lead, run, person_id_)
    target = session.get(Family, family_id)
    if target is None or target.run_id != run.id:
        raise NotFound()
    member = _member_in_run(session, run, person.id)
    if member is not None and member.place == "anchor":
        raise ServiceError(f"{person.full_name} anchors a family and cannot be moved")
    if member is not None and member.family_id == target.id:
        raise ServiceError(f"{person.full_name} is already in {target.code}")
    if member is not None:
        source = session.get(Family, member.family_id)
        source.locked = True
        session.add(source)
        session.delete(member)
        session.flush()
    place = "newcomer" if person.role == "newcomer" else "buddy"
    session.add(FamilyMember(family_id=target.id, person_id=person.id, place=place,
                             reasons=["placed here by the DA lead"]))
    target.locked = True
    session.add(target)
    if person.id in run.excluded:
        run.excluded = [i for i in run.excluded if i != person.id]
        session.add(run)
    _check(session, run)
    audit.record(session, actor=lead, action="run_member_moved", region=run.region,
                 person_id=person.id, detail={"run_id": run.id, "to": target.code})
    session.commit()
    return target


def remove_member(session: Session, *, lead: User, run_id: int, person_id_: int) -> None:
    """Take a newcomer or buddy out of the draft; re-optimising keeps them out.

    :raises ServiceError: for anchors, or when the family would break a rule.
    """
    run = _draft_run(session, lead, run_id)
    person = _person_in_run(session, lead, run, person_id_)
    member = _member_in_run(session, run, person.id)
    if member is None:
        raise ServiceError(f"{person.full_name} is not in a family of this draft")
    if member.place == "anchor":
        raise ServiceError(f"{person.full_name} anchors a family and cannot be removed alone")
    family = session.get(Family, member.family_id)
    family.locked = True
    session.add(family)
    session.delete(member)
    run.excluded = sorted(set(run.excluded) | {person.id})
    session.add(run)
    _check(session, run)
    audit.record(session, actor=lead, action="run_member_removed", region=run.region,
                 person_id=person.id, detail={"run_id": run.id, "from": family.code})
    session.commit()


def set_locked(session: Session, *, lead: User, run_id: int, family_id: int,
               locked: bool) -> Family:
    """Lock a draft family so that re-optimising keeps it as it is (or unlock it)."""
    run = _draft_run(session, lead, run_id)
    family = session.get(Family, family_id)
    if family is None or family.run_id != run.id:
        raise NotFound()
    family.locked = locked
    session.add(family)
    audit.record(session, actor=lead, action="run_family_locked" if locked else
                 "run_family_unlocked", region=run.region,
                 detail={"run_id": run.id, "family": family.code})
    session.commit()
    return family


def add_avoid(session: Session, *, lead: User, run_id: int, person_a: int,
              person_b: int) -> AvoidPair:
    """Mark two people of the region "never together".

    :raises ServiceError: for the same person twice, or when they share a family now.
    """
    run = get_run(session, lead, run_id)
    a = scoping.person_for(session, lead, person_a)
    b = scoping.person_for(session, lead, person_b)
    if a.id == b.id:
        raise ServiceError("Choose two different people")
    low, high = sorted((a.id, b.id))
    exists = session.exec(select(AvoidPair).where(AvoidPair.person_a == low,
                                                  AvoidPair.person_b == high)).first()
    if exists:
        raise ServiceError(f"{a.full_name} and {b.full_name} are already marked never together")
    pair = AvoidPair(region=run.region, person_a=low, person_b=high, created_by=lead.id)
    session.add(pair)
    if run.status == "draft":
        _check(session, run)
    audit.record(session, actor=lead, action="avoid_pair_added", region=run.region,
                 detail={"run_id": run.id, "people": [low, high]})
    session.commit()
    return pair


def reoptimise(session: Session, *, lead: User, run_id: int,
               time_limit_s: float | None = None) -> MatchRun:
    """Start a new run that keeps the draft's locked (and edited) families and removals."""
    run = _draft_run(session, lead, run_id)
    locked = [locked_entry(f, members) for f, members in draft_families(session, run)
              if f.locked and f.status == "draft" and members]
    return start_run(session, lead=lead, region=run.region, kind=run.kind,
                     time_limit_s=time_limit_s or run.time_limit_s, seed=run.seed,
                     excluded=run.excluded, extra_locked=locked, intake=run.intake)


# --- Publishing and discarding ----------------------------------------------------------

def publish(session: Session, *, lead: User, run_id: int) -> MatchRun:
    """Publish a draft: families become visible to members and their messages are queued.

    Families that extend a published family add their new members to it, so a published
    family is never broken.
    :raises ServiceError: when the run is not a draft or an ambassador has no room left.
    """
    from buddy.messaging import cadence

    run = _draft_run(session, lead, run_id)
    now = utcnow()
    if run.kind == "ambassadors":
        _publish_pairs(session, run, now, cadence)
    else:
        _publish_families(session, run, now, cadence)
    run.status, run.published_at = "published", now
    session.add(run)
    audit.record(session, actor=lead, action="run_published", region=run.region,
                 detail={"run_id": run.id, "kind": run.kind})
    session.commit()
    return run


def _publish_families(session: Session, run: MatchRun, now, cadence) -> None:
    for family, members in draft_families(session, run):
        if not members:
            session.delete(family)
            continue
        existing = session.exec(select(Family).where(
            Family.region == family.region, Family.code == family.code,
            Family.status == "published")).first()
        if existing is not None:
            have = {m.person_id for m, _ in members_of(session, existing.id)}
            for member, _person in members:
                if member.person_id not in have:
                    member.family_id = existing.id
                    session.add(member)
            session.flush()
            session.delete(family)
            session.flush()
            target = existing
        else:
            family.status, family.published_at = "published", now
            session.add(family)
            target = family
        session.flush()
        cadence.family_published(session, target,
                                 [(p, m.place) for m, p in members_of(session, target.id)])


def _publish_pairs(session: Session, run: MatchRun, now, cadence) -> None:
    load: dict[int, int] = defaultdict(int)
    for pair in session.exec(select(AmbassadorPair).where(AmbassadorPair.status == "published")):
        load[pair.ambassador_id] += 1
    for pair, ambassador, newcomer in draft_pairs(session, run):
        load[ambassador.id] += 1
        if load[ambassador.id] > (ambassador.capacity or 0):
            session.rollback()
            raise ServiceError(f"{ambassador.full_name} has no room left since this run: "
                               "run the ambassador match again")
        pair.status, pair.published_at = "published", now
        session.add(pair)
        cadence.ambassador_paired(session, ambassador, newcomer)


def discard(session: Session, *, lead: User, run_id: int) -> MatchRun:
    """Throw a draft away; published families are untouched."""
    run = _draft_run(session, lead, run_id)
    _drop_draft(session, run)
    run.status = "discarded"
    session.add(run)
    audit.record(session, actor=lead, action="run_discarded", region=run.region,
                 detail={"run_id": run.id})
    session.commit()
    return run


# --- What members see --------------------------------------------------------------------

# Reasons that rest on sensitive answers (languages, country, gender) stay with the DA lead:
# members are told only what they could see for themselves.
PRIVATE_REASONS = ("speaks ", "qualified in ", "same-gender")


def family_of(session: Session, person: Person) -> tuple[Family, list] | None:
    """The person's published family with its members, or None."""
    row = session.exec(
        select(Family).join(FamilyMember, FamilyMember.family_id == Family.id)
        .where(FamilyMember.person_id == person.id, Family.status == "published")
    ).first()
    if row is None:
        return None
    return row, members_of(session, row.id)


def member_reasons(reasons: list[str], people: dict[str, Person]) -> list[str]:
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
    return list(session.exec(query.where(AmbassadorPair.status == "published")).all())
