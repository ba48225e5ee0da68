"""What a run's page shows a DA lead: how the run went, in words, and its draft to review.

`page` gathers everything the page needs in one call; `summary` is the part the command
line prints too (coverage of the intake, what the answer means, metrics, unmatched with
reasons, where the families come from).
"""

from __future__ import annotations

import re

from sqlmodel import Session, select

import matching
from buddy.models import MatchRun, Person, User
from buddy.services import edits, indicators
from buddy.services.cohorts import person_id, published_families, readable
from buddy.services.drafts import current_result, draft_families, draft_pairs, names_by_key
from buddy.services.runs import STOPPED, get_run
from buddy.statuses import RESULT_RUN_STATUSES, RunStatus

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
# At this share of its time limit or more, a run is said to have stopped at the limit: the
# optimiser keeps a little of the limit to write reasons and figures (matching/solve.py).
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


def page(session: Session, *, lead: User, run_id: int) -> dict:
    """Everything a run's page shows: the run, its summary, its families (with the running
    ones, their members and the buddies left over) or pairs, free places and never-together
    pairs. Reads only: a run whose job died is failed by the scheduler, not here.

    :raises NotFound: when missing or of another region.
    """
    run = get_run(session, lead, run_id)
    out = {"run": run, "review": summary(session, run)}
    if run.kind == "families":
        out["families"] = draft_families(session, run)
        placed = {m.person_id for _, members in out["families"] for m, _ in members}
        published = published_families(session, run.region)
        out["published_codes"] = {f.code for f, _ in published}
        out["published_members"] = {m.person_id for _, ms in published for m, _ in ms}
        out["spare_buddies"] = [p for p in out["review"]["people"].values()
                                if p.role == "buddy" and p.id not in placed]
    else:
        out["pairs"] = draft_pairs(session, run)
    # The lead's edits (buddy/services/edits.py): free places, never-together pairs.
    out["rooms"] = edits.family_rooms(session, run)
    out["avoid_pairs"] = edits.avoid_pairs(session, lead=lead, region=run.region)
    return out


def summary(session: Session, run: MatchRun) -> dict:
    """Coverage of the intake, what the answer means, metrics (with groups), unmatched with
    reasons, where families come from."""
    people = names_by_key(session, run)
    out = {"people": people, "metrics": None, "unmatched": [], "violations": [],
           "failure": failure_words(run.error, people) if run.status == RunStatus.FAILED
           else None}
    if run.status not in RESULT_RUN_STATUSES:
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


def family_origins(session: Session, run: MatchRun) -> dict:
    """Where the run's families come from, for its page: those it makes, the running families
    it adds people to (newcomers, and buddies where a family has room: who joins, as what),
    and how many running families it keeps as they are.
    """
    own = draft_families(session, run)
    published = published_families(session, run.region)
    running = {f.code: {m.person_id for m, _ in members} for f, members in published}
    joined: dict[str, list[tuple[Person, str]]] = {}
    if run.status == RunStatus.PUBLISHED:
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
