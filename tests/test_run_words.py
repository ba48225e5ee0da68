"""A run's page in words a DA lead acts on, one definition of "has a family", and figures
that add up: reasons that are whole sentences, the run page agreeing with the dashboard
after publishing, a funnel that never rises, and an audit trail that names people."""

from __future__ import annotations

import html
import re

import pytest
from sqlmodel import select

import matching
from buddy import clock, demo, reference
from buddy.messaging.models import Message
from buddy.models import Family, FamilyMember, MatchRun, Person, User
from buddy.services import cohorts, indicators, review, runs
from buddy.settings import ROOT
from matching.ambassadors import _reasons as ambassador_reasons
from matching.reasons import newcomer_reasons, unmatched_reason
from tests.factories import login
from tests.test_runs import NOW, REGION, confirm_all

# Words of the optimiser a lead should not need a manual for (outside "For analysts").
JARGON = re.compile(r"\b(score|bound|column generation|feasible|optimal|objective|"
                    r"integer search|greedy|avoid list|avoid pair)\b", re.IGNORECASE)
# A sentence cut off mid-way ends on one of these ("... Ngozi Nwosu is").
DANGLING = {"is", "are", "a", "an", "the", "and", "or", "of", "to", "with", "for", "in", "like",
            "has", "by", "as", "but"}
LONG = "Oluwaseun-Adebayo Chukwuemeka Nwachukwu-Okonkwo Abimbola Fernandes-Ramaswamy"


@pytest.fixture
def app(make_app):
    return make_app(BUDDY_NOW=NOW)


def main_text(page: str) -> str:
    """The words of a page's <main> (or of a piece of one), as a person reads them."""
    if "<main" in page:
        page = page[page.index("<main"):page.index("</main>")]
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))).strip()


def without_analysts(page: str) -> str:
    return re.sub(r'<details class="nhsuk-details" id="for-analysts">.*?</details>', "", page,
                  flags=re.DOTALL)


# --- Reasons -----------------------------------------------------------------------------

def _person(pid, role="newcomer", **kw):
    base = {"id": pid, "role": role, "region": REGION, "scheme": "poole",
            "stage": "ST1" if role == "newcomer" else "qualified", "languages": ["yo"],
            "interests": ["education"], "country": "NG", "gender": "F"}
    if role == "newcomer":
        base.update(same_gender_anchor=True, wants_ambassador=True, arrival="2027-08-04")
    else:
        base.update(setting="primary", capacity=4, can_anchor=True)
    if role == "ambassador":
        base.update(region="london", scheme=None)
    return base | kw


def every_reason() -> list[str]:
    """Every kind of reason the optimiser and the review give, each from its source."""
    out = []
    cohort = matching.load_cohort({"version": 1, "people": [
        _person("n-1"), _person("n-2", languages=[], interests=[], country=None, scheme=None,
                                same_gender_anchor=False),
        _person("b-1", "buddy"), _person("b-2", "buddy", stage="ST2", can_anchor=False),
        _person("a-1", "ambassador"), _person("a-2", "ambassador", languages=[], country=None),
    ], "locked": [], "avoid": [["n-1", "b-1"]]})
    n1, n2, b1, b2 = (cohort.person(k) for k in ("n-1", "n-2", "b-1", "b-2"))
    out += newcomer_reasons(cohort, n1, b1, [b2])  # language, scheme, interest, country, gender
    out += newcomer_reasons(cohort, n2, b1, [])  # nothing shared
    a1, a2 = cohort.person("a-1"), cohort.person("a-2")
    out += ambassador_reasons(n1, a1) + ambassador_reasons(n2, a2)
    full = [{"anchor": "b-1", "buddies": [], "newcomers": ["n-3", "n-4", "n-5", "n-6"]}]

    def unmatched(people, families=(), avoid=(), newcomer="n-9", **kw):
        data = {"version": 1, "people": [_person(newcomer, **kw), *people], "locked": [],
                "avoid": list(avoid)}
        c = matching.load_cohort(data)
        return unmatched_reason(c, c.person(newcomer), list(families), 4)

    out.append(unmatched([]))  # no anchor at all
    out.append(unmatched([_person("b-1", "buddy")], gender=None))  # same gender, none given
    out.append(unmatched([_person("b-1", "buddy", gender="M")]))  # no same-gender anchor
    out.append(unmatched([_person("b-1", "buddy")], full))  # same gender, all full
    out.append(unmatched([_person("b-1", "buddy")], full, same_gender_anchor=False))
    out.append(unmatched([_person("b-1", "buddy")], avoid=[["n-9", "b-1"]]))
    out.append(unmatched([_person("b-1", "buddy")]))  # room, but a rule stops it
    for people, avoid in (([], ()), ([_person("a-1", "ambassador")], [["n-1", "a-1"]]),
                          ([_person("a-1", "ambassador", capacity=1)], ())):
        data = {"version": 1, "people": [_person("n-1"), _person("n-2"), *people],
                "locked": [], "avoid": list(avoid)}
        result = matching.solve_ambassadors(matching.load_cohort(data), time_limit_s=2)
        out += [u["reason"] for u in result["unmatched"]]
    return out


def test_every_reason_kind_is_a_whole_sentence_with_long_names(app):
    reasons = every_reason()
    assert any("same-gender" in r for r in reasons)
    assert len({r.split(" ")[0] for r in reasons}) >= 8  # every kind, not one kind many times
    people = {k: Person(id=int(k[2:]), role={"n": "newcomer", "b": "buddy",
                                             "a": "ambassador"}[k[0]],
                        full_name=f"{LONG} {k.upper().replace('-', '')}")
              for k in ("n-1", "n-2", "n-9", "b-1", "b-2", "a-1", "a-2")}
    for reason in reasons:
        text = cohorts.readable(reason, people)
        last = text.rstrip(".").split()[-1].lower()
        assert last not in DANGLING and not text.endswith((":", ";", ",")), text
        assert not re.search(r"\b[nba]-\d+\b", text), text
        assert not JARGON.search(text), text
        for key_ in re.findall(r"\b[nba]-\d+\b", reason):
            assert people[key_].full_name in text  # the whole name, never cut


def test_the_same_gender_reason_reads_as_a_sentence_on_the_run_page(app, session, factory):
    lead = factory.staff("lead", region=REGION, email="lead.wessex@example.org")
    anchor = factory.volunteer(region=REGION, scheme="wessex:poole", capacity="2",
                               full_name="Ngozi Nwosu", gender="female", sensitive_consent="y")
    factory.newcomer(region=REGION, scheme="wessex:poole", full_name="Amaka Obi",
                     gender="female", same_gender_anchor="y", sensitive_consent="y")
    confirm_all(session)
    with app.app_context():
        run = runs.start_run(session, lead=lead, region=REGION, time_limit_s=5)
        run = runs.execute_run(session, run.id)
    client = app.test_client()
    login(client, "lead.wessex@example.org")
    text = main_text(client.get(f"/lead/runs/{run.id}").get_data(as_text=True))
    assert f"asked for a same-gender anchor; {anchor.full_name} is the same gender" in text


# --- What the answer means -------------------------------------------------------------

def _run(status="feasible", objective=980, bound=1000, seconds=3.9, limit=60, short=0):
    return MatchRun(region=REGION, kind="families", time_limit_s=limit, result={
        "status": status, "objective": objective, "bound": bound, "seconds": seconds,
        "coverage_max": 10, "metrics": {"matched": 10 - short}})


@pytest.mark.parametrize(("run", "says", "never"), [
    (_run("optimal", 1000, 1000), "Buddy checked: no set of families is better than this one.",
     "time limit"),
    (_run(seconds=3.9, limit=60), "Buddy checked: no set of families is better by more than 2%.",
     "time limit"),
    (_run(objective=1016, bound=1080, seconds=59.2, limit=60),
     "Buddy stopped at the time limit: a set of families up to 6% better may exist. "
     "Run again with more time to look for it.", "checked"),
    (_run(seconds=59.5, short=2), "Buddy stopped at the time limit: a set of families that "
     "gives 2 more newcomers a family may exist.", "checked"),
    (_run(seconds=4.0, short=1), "Buddy finished before the time limit, but a set of families "
     "that gives 1 more newcomer a family may exist.", "stopped"),
])
def test_the_answer_is_said_in_words_a_lead_acts_on(run, says, never):
    words = review.outcome(run)
    assert says in words["quality"]
    assert never not in words["quality"]
    assert not JARGON.search(words["quality"] + words["time"])
    assert str(run.result["objective"]) not in words["quality"]


def test_the_gap_is_rounded_up_never_down():
    assert review.gap_words(710, 721) == "1.6%"  # 1.53%: a lead is never told less than is true
    assert review.gap_words(1000, 1000) is None and review.gap_words(None, 5) is None


def test_every_phase_the_optimiser_reports_has_words(app):
    seen = set()
    data = {"version": 1, "people": [_person(f"n-{i}", same_gender_anchor=False)
                                     for i in range(1, 7)]
            + [_person(f"b-{i}", "buddy") for i in range(1, 4)], "locked": [], "avoid": []}
    matching.solve_families(matching.load_cohort(data), time_limit_s=3, workers=1,
                            progress=lambda e: seen.add(e["phase"]))
    matching.solve_ambassadors(matching.load_cohort(
        {"version": 1, "people": [_person("n-1"), _person("a-1", "ambassador")], "locked": [],
         "avoid": []}), progress=lambda e: seen.add(e["phase"]))
    seen |= {"queued", "starting"}
    assert {"greedy", "finished"} <= seen
    for phase in seen:
        assert phase in review.PHASES, phase
        assert not JARGON.search(review.phase_words(phase))


# --- One definition of "has a family", on demo data ----------------------------------------

JULY = "2027-07-01T10:00:00+01:00"
INTAKE_AUG = "2027-08"
DEMO_PASSWORD = "demo password 123"


@pytest.fixture
def demo_app(make_app):
    return make_app(BUDDY_NOW=JULY)


def test_the_funnel_never_rises_for_any_region_or_intake(demo_app, session):
    with demo_app.app_context():
        demo.load(session=session, seed=2027, password=DEMO_PASSWORD)
        today = clock.today()
        checked = 0
        for region in reference.regions():
            for intake in [None, *indicators.intake_choices(today, region)]:
                row = indicators.summary(session, region, today, intake)
                steps = [row[k] for k in indicators.PIPELINE]
                assert steps == sorted(steps, reverse=True), (region, intake, steps)
                checked += sum(steps[3:])
        assert checked > 100  # the demo's past intakes did answer check-ins
        national = indicators.series(session, list(reference.regions()), today,
                                     indicators.intake_choices(today))
        for intake, row in national.items():
            steps = [row[k] for k in indicators.PIPELINE if row[k] != "<5"]
            assert steps == sorted(steps, reverse=True), (intake, steps)


def test_after_publishing_the_run_page_agrees_with_the_dashboard(demo_app, session):
    """Thames Valley has families running from February 2027; August 2027 is matched."""
    with demo_app.app_context():
        demo.load(session=session, seed=2027, password=DEMO_PASSWORD)
        lead = session.exec(select(User).where(
            User.email == "lead.thames-valley@example.org")).one()
        running = {f.code for f in session.exec(select(Family).where(
            Family.region == "thames-valley", Family.status == "published"))}
        assert running
        members_before = set(session.exec(
            select(FamilyMember.person_id, FamilyMember.family_id)
            .join(Family, Family.id == FamilyMember.family_id)
            .where(Family.region == "thames-valley", Family.status == "published")).all())
        run = runs.start_run(session, lead=lead, region="thames-valley", time_limit_s=10)
        run = runs.execute_run(session, run.id)
    client = demo_app.test_client()
    login(client, lead.email, DEMO_PASSWORD)
    draft = client.get(f"/lead/runs/{run.id}").get_data(as_text=True)
    assert "removed from the draft" not in draft
    assert client.post(f"/lead/runs/{run.id}/publish").status_code == 302
    # Members of the families that were already running were introduced when those were
    # published: publishing a later run introduces only the people it adds.
    with demo_app.app_context():
        session.expire_all()
        again = [(m.person_id, m.subject) for m in session.exec(select(Message).where(
            Message.kind == "family_intro", Message.status == "pending")).all()
            if (m.person_id, int(m.subject.split(":")[1])) in members_before]
    assert again == []

    page = client.get(f"/lead/runs/{run.id}").get_data(as_text=True)
    text = main_text(page)
    assert "removed from the draft" not in text and "taken out" not in text
    with_family = int(re.search(r'id="with-family">(\d+)<', page).group(1))
    dashboard = main_text(client.get(f"/lead/?region=thames-valley&intake={run.intake}")
                          .get_data(as_text=True))
    assert re.search(rf"In a family {with_family} ", dashboard), dashboard
    with demo_app.app_context():
        summary = indicators.summary(session, "thames-valley", clock.today(), run.intake)
    assert with_family == summary["matched"]
    assert f"{with_family} of {summary['signed_up']}" in text
    # Earlier intakes' families are named as running, not as anything the lead removed.
    origins = text[text.index("Where the families come from"):text.index("For analysts")]
    assert "already running" in origins or "keep running as they are" in origins \
        or "keeps running as it is" in origins
    assert "Newcomers without a family (0)" in text
    assert not JARGON.search(main_text(without_analysts(page)))
    assert "For analysts" in text


# --- The audit trail names who and whom ------------------------------------------------------

def audit_actions_in_code() -> set[str]:
    """Every kind of audit event the code writes, read from the source."""
    import pathlib

    found = {f"member_{a}" for a in ("pause", "resume", "withdraw", "rejoin")} | {
        f"{verb}_{role}" for verb, roles in (("signed_up", ("newcomer", "buddy", "ambassador")),
                                             ("created", ("lead", "admin"))) for role in roles}
    for path in pathlib.Path("buddy").rglob("*.py"):
        text = path.read_text()
        found |= set(re.findall(r'action="([a-z]+(?:_[a-z]+)+)"', text))
        for span in re.findall(r"(?:audit\.record\(|_record\()(.{0,400}?)\)\n", text, re.S):
            act = re.search(r"action=([^,]*(?:\n[^,]*)?),", span)
            found |= set(re.findall(r'"([a-z]+(?:_[a-z]+)+)"', act.group(1) if act else span[:200]))
        for span in re.findall(r"action = \(([^)]*)\)", text):
            found |= set(re.findall(r'"([a-z]+(?:_[a-z]+)+)"', span))
    return found


def test_every_kind_of_audit_event_has_words():
    from buddy.services import audit

    found = audit_actions_in_code()
    assert {"avoid_pair_added", "run_published", "family_ended", "member_pause"} <= found
    assert sorted(found - set(audit.ACTIONS)) == []


def test_the_audit_trail_names_who_and_whom_for_old_events(app, session, factory):
    """Events written before edits carried their own text still say whom they were about."""
    from buddy.models import AuditEvent

    lead = factory.staff("lead", region=REGION, email="lead.wessex@example.org")
    ngozi = factory.newcomer(region=REGION, scheme="wessex:poole", full_name="Ngozi Nwosu")
    lucy = factory.volunteer(region=REGION, scheme="wessex:poole", full_name="Lucy Smith")
    old = [
        ("avoid_pair_added", None, {"run_id": 7, "people": [ngozi.id, lucy.id]}),
        ("run_member_moved", ngozi.id, {"run_id": 7, "to": "wessex-004"}),
        ("run_member_removed", ngozi.id, {"run_id": 7, "from": "wessex-002"}),
        ("run_family_locked", None, {"run_id": 7, "family": "wessex-003"}),
        ("lead_region_changed", None, {"user_id": lead.id, "from": "london", "to": REGION}),
        ("some_future_kind", ngozi.id, {}),
    ]
    for action, person, detail in old:
        session.add(AuditEvent(actor_id=lead.id, action=action, region=REGION,
                               person_id=person, detail=detail))
    session.add(AuditEvent(actor_id=None, action="stages_moved", region=REGION, detail={}))
    session.commit()
    client = app.test_client()
    login(client, "lead.wessex@example.org")
    page = client.get("/lead/runs/audit").get_data(as_text=True)
    rows = [main_text(r) for r in re.findall(r'<tr class="nhsuk-table__row">(.*?)</tr>', page,
                                              flags=re.DOTALL)]

    def row(what: str) -> str:
        return next(r for r in rows if what in r)

    assert "Ngozi Nwosu and Lucy Smith" in row("Marked two people never together")
    assert "Ngozi Nwosu; family wessex-004" in row("Moved someone to another family")
    assert "Ngozi Nwosu; family wessex-002" in row("Took someone out of a draft")
    assert "family wessex-003" in row("Locked a family")
    assert "from London to Wessex" in row("Moved a DA lead") and lead.full_name in row(
        "Moved a DA lead")
    assert "Ngozi Nwosu" in row("Some future kind")
    assert "Buddy, on its own" in row("Moved trainees up a stage")
    assert "run 7" in row("Marked two people never together")
    assert not any(re.search(r"\b[a-z]+_[a-z_]+\b", r) for r in rows)  # no raw event names


# --- Progress and the list of runs, in words ----------------------------------------------

def test_progress_and_the_run_list_say_what_is_happening_in_words(app, session, factory):
    lead = factory.staff("lead", region=REGION, email="lead.wessex@example.org")
    finished = MatchRun(region=REGION, kind="families", intake=INTAKE_AUG, status="failed",
                        started_by=lead.id, error="The run stopped unexpectedly.")
    session.add(finished)
    session.commit()
    with app.app_context():
        running = MatchRun(region=REGION, kind="families", intake=INTAKE_AUG, status="running",
                           time_limit_s=60, started_by=lead.id, progress={
                               "phase": "column generation", "objective": 900, "bound": 1000,
                               "elapsed": 3.9, "updated": clock.now().isoformat()})
        session.add(running)
        session.commit()
    client = app.test_client()
    login(client, "lead.wessex@example.org")
    text = main_text(client.get(f"/lead/runs/{running.id}").get_data(as_text=True))
    assert "Now Improving the families" in text
    assert "A set of families up to 10% better may still exist" in text
    assert "Time 3.9 of 60 seconds" in text
    assert not JARGON.search(text)
    listing = main_text(client.get("/lead/runs/").get_data(as_text=True))
    assert "Working on it" in listing and "Did not finish: start it again" in listing
    assert "Buddy families" in listing and not re.search(r"\b(Running|Failed)\b", listing)


@pytest.mark.parametrize(("error", "says"), [
    ("locked family wessex-003: b-12 cannot anchor a family (rule 2)",
     "a running family's anchor can no longer lead a family"),
    ("a locked family in wessex cannot get a newcomer under the rules (n-4, n-5; rule 4)",
     "more newcomers than its buddies have room for"),
    ("no family arrangement in wessex keeps every locked family (rule 5)",
     "no set of families keeps every running family, and every family you locked"),
    ("The optimiser's answer broke a family rule, so it was not kept: wessex-001 (rule 4)",
     "found a family that breaks a rule and did not keep it"),
    ("ambassador flow failed: infeasible", "Buddy could not make families for this run"),
    (runs.STOPPED, runs.STOPPED),
])
def test_a_run_that_did_not_finish_says_why_in_words(app, session, factory, error, says):
    lead = factory.staff("lead", region=REGION, email="lead.wessex@example.org")
    run = MatchRun(region=REGION, kind="families", intake=INTAKE_AUG, status="failed",
                   started_by=lead.id, error=error)
    session.add(run)
    session.commit()
    client = app.test_client()
    login(client, "lead.wessex@example.org")
    page = client.get(f"/lead/runs/{run.id}").get_data(as_text=True)
    said = main_text(page).split("For analysts", 1)[0]
    assert says in said
    assert not re.search(r"\brule \d|\b[nba]-\d+\b|locked family", said), said


def test_every_rule_the_optimiser_can_fail_on_has_words():
    """A new "no solution" rule in matching/ needs words for leads before it ships."""
    source = "".join(path.read_text() for path in (ROOT / "matching").glob("*.py"))
    named = set(re.findall(r"NoSolution\([^)]*?rule (\d)", source, re.S))
    named |= set(re.findall(r"\(rule (\d)\)\"", source))
    assert named and named <= set(review.FAILURES), named - set(review.FAILURES)
