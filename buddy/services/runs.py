"""Match runs: start, execute (in a job), review, re-optimise, publish, discard.

A run stores its cohort, settings and result, so any published match can be explained and
reproduced. Drafts are rows (families and members) that the lead edits (buddy/services/
edits.py); every edit is checked with `matching.validate`, the same rules the optimiser keeps.
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
    Family,
    FamilyMember,
    MatchRun,
    Person,
    User,
    utcnow,
)
from buddy.services import NotFound, ServiceError, audit, indicators
from buddy.services.cohorts import (
    ambassador_cohort,
    families_with_members,
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
STOPPED = "The run stopped unexpectedly. Start it again."
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
            run.error = STOPPED
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


def draft_run(session: Session, lead: User, run_id: int) -> MatchRun:
    """A run the lead may see that is still a draft (the only kind anyone may change).

    :raises NotFound: when missing or of another region; ServiceError when not a draft.
    """
    run = get_run(session, lead, run_id)
    if run.status != "draft":
        raise ServiceError("Only a draft can be changed: this run is " + run.status)
    return run


def names_by_key(session: Session, run: MatchRun) -> dict[str, Person]:
    ids = [person_id(p["id"]) for p in run.cohort.get("people", [])]
    people = session.exec(select(Person).where(Person.id.in_(ids or [-1]))).all()
    return {key(p): p for p in people}


def readable(text: str, people: dict[str, Person]) -> str:
    """Replace cohort keys ("b-12") in a solver sentence with people's names."""
    return _KEY.sub(lambda m: people[m.group(0)].full_name if m.group(0) in people
                    else "someone who has since left", text)


# Why the optimiser found no families, by the rule its message names, in words a lead can act
# on; the optimiser's own sentence stays on the page for analysts.
_RULE = re.compile(r"\s*[(;]\s*rule (\d)\)?")
FAILURES = {
    "1": "a running family has members from more than one region",
    "2": "a running family's anchor can no longer lead a family (they may have paused, left "
         "or changed their answers)",
    "3": "a running family has more buddies than a family may have",
    "4": "a running family has more newcomers than its buddies have room for",
    "5": "no set of families keeps every running family, and every family you locked, as it is",
    "6": "a running family holds two people marked never together, or a newcomer whose anchor "
         "is not of the gender they asked for",
}


def failure_words(error: str | None, people: dict[str, Person]) -> str:
    """Why a run did not finish, in words a DA lead can act on (no rule numbers or keys)."""
    if error == STOPPED:
        return error
    found = _RULE.search(error or "")
    if error and error.startswith("The optimiser's answer broke a family rule"):
        return ("Buddy checked the optimiser's answer, found a family that breaks a rule and "
                "did not keep it. Start the run again; if this happens twice, tell the "
                "service team the run number.")
    if found is None:
        return ("Buddy could not make families for this run. Start it again; if this happens "
                "twice, tell the service team the run number.")
    return (f"Buddy could not make families: {FAILURES[found.group(1)]}. Open the Families "
            "page, change or end that family, then start the run again.")


def draft_families(session: Session, run: MatchRun) -> list[tuple[Family, list]]:
    """The run's families (draft, or published by it) with their (member, person) rows."""
    return families_with_members(session, Family.run_id == run.id)


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
            if run.status == "published" else "taken out of the draft by the DA lead")
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
    if run.status != "published":
        return own
    codes = {entry["family"] for entry in run.cohort.get("locked", [])} - {f.code for f, _ in own}
    return own + families_with_members(
        session, Family.region == run.region, Family.code.in_(sorted(codes) or [""]),
        Family.status.in_(["published", "ended"]))


def family_origins(session: Session, run: MatchRun) -> dict:
    """Where the run's families come from, for its page: those it makes, the running families
    it adds people to (newcomers, and buddies where a family has room: who joins, as what),
    and how many running families it keeps as they are.
    """
    own = draft_families(session, run)
    published = published_families(session, run.region)
    running = {f.code: {m.person_id for m, _ in members} for f, members in published}
    joined: dict[str, list[tuple[Person, str]]] = {}
    if run.status == "published":
        made = [f.code for f, _ in own]
        places = {(f.code, m.person_id): (p, m.place) for f, members in published
                  for m, p in members}
        joined = {code: [places[code, i] for i in ids if (code, i) in places]
                  for code, ids in run.result.get("joined", {}).items()}
    else:
        made = [f.code for f, members in own if f.code not in running and members]
        for family, members in own:
            if family.code in running:
                new = [(p, m.place) for m, p in members
                       if m.person_id not in running[family.code]]
                if new:
                    joined[family.code] = new
    given = {entry["family"] for entry in run.cohort.get("locked", [])}
    kept = len((given & set(running)) - set(joined) - set(made))
    return {"made": sorted(made), "joined": dict(sorted(joined.items())), "kept": kept}


# At this share of its time limit or more, a run is said to have stopped at the limit: the
# optimiser keeps about 8% of the limit to write reasons and figures (matching/solve.py).
AT_LIMIT = 0.8
PHASES = {
    "queued": "Waiting to start",
    "starting": "Reading the newcomers and volunteers",
    "greedy": "Building first families",
    "column generation": "Improving the families",
    "integer search": "Choosing the best set of families",
    "ambassadors": "Pairing newcomers with ambassadors",
    "done": "Writing the reasons for each family",
    "finished": "Saving the draft",
}


def phase_words(phase: str | None) -> str:
    """The optimiser's phase in words a DA lead reads."""
    return PHASES.get(phase or "queued", "Working")


def gap_words(objective: float | None, bound: float | None) -> str | None:
    """How much better a set could be, as "6%", from the best so far and the proved limit."""
    if objective is None or bound is None or bound <= 0 or objective >= bound:
        return None
    # Rounded up, so that the lead is never told a smaller gap than the true one.
    tenths = -(-(bound - objective) * 1000 // bound)
    return f"{tenths / 10:g}%"


def outcome(run: MatchRun) -> dict:
    """What the optimiser's answer means, in sentences a DA lead acts on."""
    result = run.result or {}
    seconds = float(result.get("seconds") or 0)
    at_limit = seconds >= AT_LIMIT * run.time_limit_s
    what = "set of families" if run.kind == "families" else "set of pairs"
    out = {"time": f"{_seconds(seconds)} (the limit was {_seconds(run.time_limit_s)})",
           "at_limit": at_limit}
    short = int(result.get("coverage_max") or 0) - int(
        (result.get("metrics") or {}).get("matched") or 0)
    gap = gap_words(result.get("objective"), result.get("bound"))
    if result.get("status") == "optimal" or (short <= 0 and gap is None):
        out["quality"] = f"Buddy checked: no {what} is better than this one."
    elif at_limit:
        could = (f"that gives {short} more newcomer{'s' if short != 1 else ''} a family"
                 if short > 0 else f"up to {gap} better")
        out["quality"] = (f"Buddy stopped at the time limit: a {what} {could} may exist. "
                          "Run again with more time to look for it.")
    elif short > 0:
        out["quality"] = (f"Buddy finished before the time limit, but a {what} that gives "
                          f"{short} more newcomer{'s' if short != 1 else ''} a family may "
                          "exist. Run again with more time to look for it.")
    else:
        out["quality"] = f"Buddy checked: no {what} is better by more than {gap}."
    return out


def _seconds(value: float) -> str:
    value = round(float(value)) if value >= 10 else round(float(value), 1)
    return f"{value:g} second{'' if value == 1 else 's'}"


def review(session: Session, run: MatchRun) -> dict:
    """Everything the review page shows: coverage of the intake, what the answer means,
    metrics (with groups), unmatched with reasons, where families come from."""
    people = names_by_key(session, run)
    out = {"people": people, "metrics": None, "unmatched": [], "violations": [],
           "failure": failure_words(run.error, people) if run.status == "failed" else None}
    if run.status not in ("draft", "published"):
        return out
    cohort = matching.load_cohort(run.cohort)
    result = current_result(session, run)
    out["metrics"] = matching.metrics(cohort, result)
    out["outcome"] = outcome(run)
    out["unmatched"] = [(people.get(u["id"]), readable(u["reason"], people))
                        for u in result["unmatched"]]
    out["unmatched_hint"] = _recruit_hints(run, result)
    # Read by id: people removed in an earlier draft are not in a re-optimised run's cohort.
    out["removed"] = list(session.exec(select(Person).where(
        Person.id.in_(run.excluded or [-1])).order_by(Person.full_name)).all())
    if run.kind == "families":
        placed = {person_id(n) for f in result["families"] for n in f["newcomers"]}
        out["origins"] = family_origins(session, run)
        out["coverage"] = indicators.intake_coverage(
            session, region=run.region, intake=run.intake, placed_by_draft=placed) \
            if run.intake else None
        # Newcomers with no arrival date yet are matched with the next intake but belong to
        # none, so no intake's figures count them: say how many this run places.
        out["undated"] = sum(1 for p in run.cohort.get("people", [])
                             if p["role"] == "newcomer" and not p.get("arrival")
                             and person_id(p["id"]) in placed)
    return out


def _recruit_hints(run: MatchRun, result: dict) -> dict[str, int]:
    """For "no anchor with free capacity": how many more anchors of 4 would place everyone."""
    short = sum(1 for u in result["unmatched"] if "free capacity" in u["reason"])
    max_newcomers = (run.result.get("settings") or {}).get("max_newcomers", 4)
    return {"anchors_needed": -(-short // max_newcomers)} if short else {}


# --- Re-optimising ---------------------------------------------------------------------

def reoptimise(session: Session, *, lead: User, run_id: int,
               time_limit_s: float | None = None) -> MatchRun:
    """Start a new run that keeps the draft's locked (and edited) families and removals."""
    run = draft_run(session, lead, run_id)
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

    run = draft_run(session, lead, run_id)
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
    # Who joins a running family: its draft row goes, so the run's page reads it from here.
    joined: dict[str, list[int]] = {}
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
                    joined.setdefault(existing.code, []).append(member.person_id)
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
    run.result = {**run.result, "joined": joined}


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
    run = draft_run(session, lead, run_id)
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
