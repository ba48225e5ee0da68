"""Match runs as a job: start (queue), execute (in the job's process), fail the ones whose
job died, re-optimise; and finding a lead's runs.

A run stores its cohort, settings and result, so any published match can be explained and
reproduced. Its answer is written as draft rows (buddy/services/drafts.py) that the lead
reviews (review.py) and edits (edits.py), then publishes or discards (publishing.py).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

import matching
from buddy import clock, intakes, reference, scoping
from buddy.models import AmbassadorPair, Family, FamilyMember, MatchRun, User, utcnow
from buddy.services import NotFound, ServiceError, audit
from buddy.services.cohorts import (
    ambassador_cohort,
    family_cohort,
    intake_counts,
    locked_entry,
    person_id,
)
from buddy.services.drafts import draft_families
from buddy.statuses import OPEN_RUN_STATUSES, FamilyStatus, PairStatus, RunStatus

KINDS = ("families", "ambassadors")
TIME_LIMITS = (10, 30, 60, 120, 300)
# A run whose progress has not moved for this long past its time limit has died.
STALE_AFTER = timedelta(minutes=5)
STOPPED = "The run stopped unexpectedly. Start it again."
PROGRESS_EVERY_S = 1.0


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
    # A job that died still holds the region's one open run: free it before asking for one.
    fail_stale_runs(session, now=utcnow())
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


def fail_stale_runs(session: Session, *, now: datetime) -> dict[str, int]:
    """Mark runs whose job died (no progress well past their time limit) as failed. Commits.

    The scheduler calls it every pass (buddy scheduler), and starting a run calls it first;
    pages that show runs only read them.
    """
    failed = 0
    for run in session.exec(select(MatchRun).where(
            MatchRun.status.in_(OPEN_RUN_STATUSES))).all():
        updated = run.progress.get("updated")
        last = run.created_at if not updated else datetime.fromisoformat(updated)
        if now - last > timedelta(seconds=run.time_limit_s) + STALE_AFTER:
            run.status, run.finished_at = RunStatus.FAILED, now
            run.error = STOPPED
            session.add(run)
            failed += 1
    session.commit()
    return {"stale_runs_failed": failed}


def execute_run(session: Session, run_id: int, *, workers: int = 2) -> MatchRun:
    """Solve a queued run and store its draft. Called by the job process and the CLI."""
    run = session.get(MatchRun, run_id)
    if run is None or run.status != RunStatus.QUEUED:
        raise NotFound()
    run.status = RunStatus.RUNNING
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
        run.status, run.finished_at, run.error = RunStatus.FAILED, utcnow(), str(exc)
        session.add(run)
        session.commit()
        return run
    run = session.get(MatchRun, run_id)
    # A lead must never review a draft that breaks a rule: check the solver's answer with
    # the solver-free validator before it is stored.
    problems = matching.validate(cohort, result)
    if problems:
        run.status, run.finished_at, run.result = RunStatus.FAILED, utcnow(), result
        run.error = "The optimiser's answer broke a family rule, so it was not kept: " + \
            "; ".join(problems[:3])
        session.add(run)
        session.commit()
        return run
    run.result = result
    run.status, run.finished_at = RunStatus.DRAFT, utcnow()
    run.progress = {**run.progress, "phase": "done", "objective": result.get("objective"),
                    "bound": result.get("bound"), "elapsed": result.get("seconds"),
                    "updated": utcnow().isoformat()}
    session.add(run)
    _write_draft(session, run)
    # One draft per region and kind: a new one replaces the drafts before it.
    for older in session.exec(select(MatchRun).where(
            MatchRun.region == run.region, MatchRun.kind == run.kind,
            MatchRun.status == RunStatus.DRAFT, MatchRun.id != run.id)).all():
        drop_draft(session, older)
        older.status = RunStatus.DISCARDED
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
    ended = set(session.exec(select(Family.code).where(
        Family.region == run.region, Family.status == FamilyStatus.ENDED)).all())
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


def drop_draft(session: Session, run: MatchRun) -> None:
    """Delete the run's draft families and pairs (what it published stays); the caller commits."""
    session.execute(sa.delete(Family).where(Family.run_id == run.id,
                                            Family.status == FamilyStatus.DRAFT))
    session.execute(sa.delete(AmbassadorPair).where(AmbassadorPair.run_id == run.id,
                                                    AmbassadorPair.status == PairStatus.DRAFT))


def reoptimise(session: Session, *, lead: User, run_id: int,
               time_limit_s: float | None = None) -> MatchRun:
    """Start a new run that keeps the draft's locked (and edited) families and removals."""
    run = draft_run(session, lead, run_id)
    locked = [locked_entry(f, members) for f, members in draft_families(session, run)
              if f.locked and f.status == FamilyStatus.DRAFT and members]
    return start_run(session, lead=lead, region=run.region, kind=run.kind,
                     time_limit_s=time_limit_s or run.time_limit_s, seed=run.seed,
                     excluded=run.excluded, extra_locked=locked, intake=run.intake)


# --- Finding runs -----------------------------------------------------------------------

def runs_for(session: Session, lead: User, region: str) -> list[MatchRun]:
    """The region's runs, newest first (scoped to the lead).

    :raises NotFound: outside the lead's region.
    """
    scoping.check_region(lead, region)
    return list(session.exec(select(MatchRun).where(MatchRun.region == region)
                             .order_by(MatchRun.id.desc()).limit(50)).all())


def intake_choices(session: Session, *, region: str) -> list[tuple[str, dict[str, int]]]:
    """The intakes a family run may be for, each with what it would start from: the next
    one (the default), then the two before it for late sign-ups and re-runs."""
    following = intakes.next_intake(clock.today(), region)
    return [(intake, intake_counts(session, region, intake))
            for intake in [following, *intakes.previous(following, region, 2)]]


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
    if run.status != RunStatus.DRAFT:
        raise ServiceError("Only a draft can be changed: this run is " + run.status)
    return run
