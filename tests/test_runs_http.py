"""Match runs through the pages and the command line, as a DA lead and a member use them."""

from __future__ import annotations

import json
import re
import time

import pytest
from sqlmodel import select

import matching
from buddy.models import AvoidPair, Family, MatchRun, User
from tests.factories import login
from tests.test_runs import NOW, REGION, confirm_all


@pytest.fixture
def app(make_app):
    return make_app(BUDDY_NOW=NOW)


@pytest.fixture
def lead_client(app, factory):
    factory.staff("lead", region=REGION, email="lead.wessex@example.org")
    client = app.test_client()
    login(client, "lead.wessex@example.org")
    return client


@pytest.fixture
def small_region(factory, session):
    for i in range(2):
        factory.volunteer(region=REGION, scheme="wessex:poole", capacity="2",
                          full_name=f"Anchor {i}", share_email="y")
    confirm_all(session)
    return [factory.newcomer(region=REGION, scheme="wessex:poole", full_name=f"Newcomer {i}",
                             share_email="y") for i in range(4)]


def wait_for(session, run_id: int, timeout: float = 60) -> MatchRun:
    """The job runs in its own process: wait for its row to leave queued/running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        session.expire_all()
        run = session.get(MatchRun, run_id)
        if run.status not in ("queued", "running"):
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} still {run.status} after {timeout} s")


def start(client, session, kind="families") -> MatchRun:
    confirm_all(session)
    response = client.post("/lead/runs/", data={"kind": kind, "time_limit": "10"})
    assert response.status_code == 302
    run_id = int(response.headers["Location"].rsplit("/", 1)[1])
    return wait_for(session, run_id)


def test_lead_starts_a_run_and_watches_it_finish(lead_client, session, small_region):
    response = lead_client.post("/lead/runs/", data={"kind": "families", "time_limit": "10"})
    page = lead_client.get(response.headers["Location"]).get_data(as_text=True)
    if "Working" in page or "Waiting to start" in page:
        assert '<meta http-equiv="refresh" content="2">' in page
    run = wait_for(session, int(response.headers["Location"].rsplit("/", 1)[1]))
    assert run.status == "draft"
    page = lead_client.get(f"/lead/runs/{run.id}").get_data(as_text=True)
    assert "Draft: not yet visible to members" in page
    assert "Newcomers of August 2027 with a family if you publish" in page
    assert 'id="with-family">4</strong> of 4 (100%)' in page
    assert "By country of qualification" in page
    assert "same scheme as Anchor" in page  # reasons use names, not cohort keys
    assert 'http-equiv="refresh"' not in page


def test_second_run_while_one_is_going_is_refused_with_a_message(lead_client, session, app,
                                                                  small_region):
    from buddy.services import runs

    lead = session.exec(select(runs.User).where(runs.User.role == "lead")).one()
    with app.app_context():
        runs.start_run(session, lead=lead, region=REGION, time_limit_s=5)  # queued, no job
    response = lead_client.post("/lead/runs/", data={"kind": "families", "time_limit": "10"},
                                follow_redirects=True)
    assert "already running" in response.get_data(as_text=True)


def test_lead_edits_and_publishes_then_members_see_their_family(lead_client, app, session,
                                                                 small_region):
    run = start(lead_client, session)
    families = session.exec(select(Family).where(Family.run_id == run.id)
                            .order_by(Family.code)).all()
    response = lead_client.post(f"/lead/runs/{run.id}/lock",
                                data={"family_id": families[0].id, "locked": "1"},
                                follow_redirects=True)
    assert "Family locked" in response.get_data(as_text=True)
    response = lead_client.post(f"/lead/runs/{run.id}/publish", follow_redirects=True)
    assert "Published: members can see their families" in response.get_data(as_text=True)

    member = app.test_client()
    login(member, small_region[0].__dict__.get("email") or _email_of(session, small_region[0]))
    page = member.get("/family/").get_data(as_text=True)
    assert "Your buddy family" in page and "Leads the family" in page
    assert "same scheme as Anchor" in page
    assert "@example.org" in page  # the anchor agreed to share an email address


def _email_of(session, person) -> str:
    from buddy.models import User

    return session.get(User, person.user_id).email


def test_another_regions_lead_gets_404_everywhere(app, session, lead_client, factory,
                                                 small_region):
    run = start(lead_client, session)
    factory.staff("lead", region="london", email="lead.london@example.org")
    other = app.test_client()
    login(other, "lead.london@example.org")
    family = session.exec(select(Family).where(Family.run_id == run.id)).first()
    assert other.get(f"/lead/runs/{run.id}").status_code == 404
    for action, data in [("move", {"person_id": small_region[0].id, "family_id": family.id}),
                         ("remove", {"person_id": small_region[0].id}),
                         ("lock", {"family_id": family.id, "locked": "1"}),
                         ("avoid", {"person_a": small_region[0].id,
                                    "person_b": small_region[1].id}),
                         ("reoptimise", {}), ("publish", {}), ("discard", {})]:
        assert other.post(f"/lead/runs/{run.id}/{action}", data=data).status_code == 404
    session.expire_all()
    assert session.get(MatchRun, run.id).status == "draft"
    # The London lead's run list and audit trail show London only.
    assert f"Run {run.id}" not in other.get("/lead/runs/?region=wessex").get_data(as_text=True)
    assert "Started a match run" not in other.get("/lead/runs/audit?region=wessex").get_data(
        as_text=True)
    assert "Started a match run" in lead_client.get("/lead/runs/audit").get_data(as_text=True)


def test_members_cannot_reach_run_pages(app, factory, small_region, session):
    member = app.test_client()
    login(member, _email_of(session, small_region[0]))
    assert member.get("/lead/runs/").status_code == 404


def test_member_without_a_family_is_told_what_happens_next(app, factory, session):
    person = factory.newcomer(region=REGION, scheme="wessex:poole")
    member = app.test_client()
    login(member, _email_of(session, person))
    assert "You do not have a family yet" in member.get("/family/").get_data(as_text=True)


def test_cli_export_cohort_is_what_the_next_run_sees(runner, small_region, tmp_path):
    out = tmp_path / "wessex.json"
    result = runner.invoke(args=["export-cohort", REGION, "--out", str(out)])
    assert result.exit_code == 0, result.output
    cohort = json.loads(out.read_text())
    loaded = matching.load_cohort(cohort)
    assert len(loaded.role("newcomer")) == 4 and len(loaded.role("buddy")) == 2
    assert runner.invoke(args=["export-cohort", "atlantis"]).exit_code == 2


def test_cli_match_prints_a_summary_and_publishes(runner, session, factory, small_region):
    factory.staff("lead", region=REGION)
    result = runner.invoke(args=["match", REGION, "--time-limit", "5", "--publish"])
    assert result.exit_code == 0, result.output
    assert "coverage 1.0" in result.output and "Published run" in result.output
    assert f"{REGION}-" in result.output
    assert len(session.exec(select(Family).where(Family.status == "published")).all()) == 2


# --- The lead's edits on the review page (buddy/services/edits.py) ------------------------

@pytest.fixture
def edit_world(app, session, factory):
    from tests.test_edits import make_world

    lead = session.exec(select(User).where(User.email == "lead.wessex@example.org")).one()
    return make_world(app, session, factory, lead)


def card(page: str, family_id: int) -> str:
    """The HTML of one family's card on the run page."""
    start = page.index(f'id="family-{family_id}"')
    end = page.find('class="nhsuk-card app-family"', start)
    return page[start:end if end > 0 else len(page)]


def test_run_page_shows_free_places_and_choosers_that_choose_nothing(lead_client, edit_world):
    run, fam = edit_world["run"], edit_world["families"]
    page = lead_client.get(f"/lead/runs/{run.id}").get_data(as_text=True)
    assert "Room for 1 more newcomer and 2 more buddies" in card(page, fam["wessex-002"].id)
    assert "Room for 1 more buddy" in card(page, fam["wessex-003"].id)
    # Both never-together choosers start on a placeholder; people are told apart.
    assert page.count('<option value="" selected>Choose a person</option>') == 2
    assert "Newcomer 1 (newcomer, ST1, Poole, wessex-001)" in page
    assert re.search(r'<option value="\d+" selected', page) is None


def test_person_page_offers_only_families_that_can_take_them(lead_client, edit_world):
    run, p, fam = edit_world["run"], edit_world["people"], edit_world["families"]
    page = lead_client.get(f"/lead/runs/{run.id}/people/{p['N6'].id}").get_data(as_text=True)
    chooser = page[page.index('name="family_id"'):page.index("</select>",
                                                              page.index('name="family_id"'))]
    assert '<option value="" selected>Choose a family</option>' in chooser
    assert f'value="{fam["wessex-001"].id}">wessex-001: room for 1 more newcomer' in chooser
    assert "wessex-003" not in chooser
    assert "Cal Anchor can support 1 newcomer, and wessex-003 would have 2" in page
    assert "rule" not in page.lower().replace("the rules", "")
    # Every person's page answers: anchors, buddies, newcomers, people without a family.
    for name, person in p.items():
        page = lead_client.get(f"/lead/runs/{run.id}/people/{person.id}").get_data(as_text=True)
        assert person.full_name in page, name
    anchor = lead_client.get(f"/lead/runs/{run.id}/people/{p['Ada'].id}").get_data(as_text=True)
    assert "an anchor stays with their family" in anchor and "Keep apart from someone" in anchor


def test_an_edit_shows_its_outcome_in_the_edited_family(lead_client, session, edit_world):
    run, p, fam = edit_world["run"], edit_world["people"], edit_world["families"]
    unchosen = lead_client.post(f"/lead/runs/{run.id}/move", data={
        "person_id": p["N6"].id, "family_id": "", "from": "person"})
    assert unchosen.headers["Location"].endswith(f"/people/{p['N6'].id}#outcome")
    page = lead_client.get(unchosen.headers["Location"]).get_data(as_text=True)
    assert "Choose a family to move Newcomer 6 to" in page and 'id="outcome"' in page

    response = lead_client.post(f"/lead/runs/{run.id}/move", data={
        "person_id": p["N6"].id, "family_id": fam["wessex-002"].id, "from": "person"})
    target = fam["wessex-002"].id
    assert response.headers["Location"].endswith(f"?at=family-{target}#outcome")
    page = lead_client.get(response.headers["Location"]).get_data(as_text=True)
    inside = card(page, target)
    assert 'id="outcome" tabindex="-1" autofocus' in inside
    assert "Moved Newcomer 6 (newcomer, ST1, Poole) to wessex-002" in inside
    assert page.count('id="outcome"') == 1

    refused = lead_client.post(f"/lead/runs/{run.id}/remove", data={
        "person_id": p["N5"].id, "at": f"family-{fam['wessex-003'].id}"})
    page = lead_client.get(refused.headers["Location"]).get_data(as_text=True)
    assert "wessex-003 would be left with no newcomer" in card(page, fam["wessex-003"].id)


def test_never_together_undo_and_another_regions_lead(app, lead_client, session, factory,
                                                       edit_world):
    run, p = edit_world["run"], edit_world["people"]
    response = lead_client.post(f"/lead/runs/{run.id}/avoid", data={
        "person_a": p["N1"].id, "person_b": p["N5"].id, "at": "never-together"})
    assert response.headers["Location"].endswith("?at=never-together#outcome")
    page = lead_client.get(response.headers["Location"]).get_data(as_text=True)
    section = page[page.index('id="never-together"'):]
    assert "Never together: Newcomer 1" in section and "Undo" in section
    pair = session.exec(select(AvoidPair)).one()
    refused = lead_client.post(f"/lead/runs/{run.id}/avoid", data={
        "person_a": p["N1"].id, "person_b": p["N2"].id, "at": "never-together"})
    assert refused.headers["Location"].endswith("?at=never-together#outcome")
    page = lead_client.get(refused.headers["Location"]).get_data(as_text=True)
    assert page.index('id="never-together"') < page.index('id="outcome"')
    assert "Newcomer 1 and Newcomer 2 are both in wessex-001" in page
    factory.staff("lead", region="london", email="lead.london@example.org")
    other = app.test_client()
    login(other, "lead.london@example.org")
    assert other.post(f"/lead/runs/{run.id}/never-together/remove",
                      data={"pair_id": pair.id}).status_code == 404
    assert other.get(f"/lead/runs/{run.id}/people/{p['N1'].id}").status_code == 404
    lead_client.post(f"/lead/runs/{run.id}/never-together/remove", data={"pair_id": pair.id})
    session.expire_all()
    assert session.exec(select(AvoidPair)).all() == []


def test_person_page_shows_a_newcomers_hello_answers(lead_client, edit_world, app, session,
                                                      factory):
    from buddy.services import surveys

    run, newcomer = edit_world["run"], edit_world["people"]["N6"]
    with app.app_context():
        request = surveys.ensure_request(session, person=newcomer, survey="hello",
                                         intake=surveys.hello_intake(newcomer), family_id=None,
                                         audience="newcomer")
        session.commit()
        surveys.answer(session, request=request, question_key="help_with", value="living")
        surveys.answer(session, request=request, question_key="anything_else",
                       value="I arrive with two children.")
    page = lead_client.get(f"/lead/runs/{run.id}/people/{newcomer.id}").get_data(as_text=True)
    assert "Their hello survey" in page
    assert "Living in the area: housing, schools, transport" in page
    assert "I arrive with two children." in page  # free text: the region's own lead only
    admin = factory.staff("admin", region=None)
    with app.app_context():
        seen = surveys.hello_for(session, viewer=admin, person=newcomer)
    assert seen == [("What would you most like help with in your first weeks?",
                     "Living in the area: housing, schools, transport")]
