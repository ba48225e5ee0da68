"""A DA lead reviews a demo region's draft on a desktop in Chromium: moves, swaps, separates
and removes people, and is refused once; every outcome appears where the lead is (in the
viewport, focused), not 15,000 pixels away."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from buddy.models import AvoidPair, Family, FamilyMember, MatchRun, User
from buddy.services import drafts, edits, runs
from buddy.services.cohorts import published_families
from tests.browser.conftest import DEMO_PASSWORD as PASSWORD
from tests.browser.test_accessibility import AXE

pytestmark = pytest.mark.browser
JULY = "2027-07-01T10:00:00+01:00"
REGION = "thames-valley"


@pytest.fixture(autouse=True)
def july(app, monkeypatch):
    """The lead matches the big August intake, as in July (the demo follows the clock)."""
    monkeypatch.setenv("BUDDY_NOW", JULY)
    app.config["BUDDY_NOW"] = JULY


@pytest.fixture
def draft(app, session, demo_data):
    """The demo's Thames Valley draft for the August 2027 intake."""
    lead = session.exec(select(User).where(User.email == f"lead.{REGION}@example.org")).one()
    with app.app_context():
        run = runs.start_run(session, lead=lead, region=REGION, time_limit_s=10)
        run = runs.execute_run(session, run.id)
    assert run.status == "draft"
    return run, lead


def sign_in(page, base: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("Email address").fill(f"lead.{REGION}@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def movable(app, session, run, lead):
    """(person, their choices) for everyone the lead may move, in page order."""
    session.expire_all()
    out = []
    with app.app_context():
        for _family, members in drafts.draft_families(session, run):
            for member, person in members:
                options = edits.choices(session, lead=lead, run_id=run.id,
                                        person_id_=person.id)
                if options.stays is None and member.place != "anchor":
                    out.append((person, options))
    return out


def outcome_in_view(page, where: str, text: str) -> None:
    """The outcome is inside `where`, on screen and focused (a screen reader reads it)."""
    outcome = page.locator("#outcome")
    expect(outcome).to_contain_text(text)
    expect(outcome).to_be_in_viewport()
    expect(outcome).to_be_focused()
    expect(page.locator(f"{where} #outcome")).to_have_count(1)


def check_axe(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    return page.evaluate("""async () => (await axe.run(document, {
        resultTypes: ['violations']})).violations
        .filter(v => ['serious', 'critical'].includes(v.impact))
        .map(v => `${v.id}: ${v.help} (${v.nodes.length})`)""")


def test_lead_moves_swaps_separates_and_sees_each_outcome(app, session, draft, live_server,
                                                         browser):
    run, lead = draft
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    sign_in(page, live_server)
    page.goto(f"{live_server}/lead/runs/{run.id}")
    expect(page.locator(".app-room").first).to_be_visible()
    assert check_axe(page) == []

    # A move that succeeds, from the person's page, chosen from families that can take them.
    person, options = next((p, o) for p, o in movable(app, session, run, lead)
                           if any(t.ok for t in o.targets) and o.family is not None)
    target = next(t for t in options.targets if t.ok)
    page.locator(f"a[href$='/lead/runs/{run.id}/people/{person.id}']").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(person.full_name)
    assert check_axe(page) == []
    expect(page.locator("#family_id option:checked")).to_have_text("Choose a family")
    page.locator("#family_id").select_option(str(target.family.id))
    page.get_by_role("button", name=f"Move {person.full_name}", exact=True).click()
    outcome_in_view(page, f"#family-{target.family.id}", f"Moved {person.full_name}")

    # A swap that succeeds.
    person, options = next((p, o) for p, o in movable(app, session, run, lead) if o.swaps)
    other, their_family = options.swaps[0]
    page.goto(f"{live_server}/lead/runs/{run.id}/people/{person.id}")
    page.locator("#swap_with").select_option(str(other.id))
    page.get_by_role("button", name="Swap", exact=True).click()
    outcome_in_view(page, f"#family-{their_family.id}", "Swapped")

    # Two people of one family kept apart: one moves to a family with room or a new family.
    person, options = next(
        (p, o) for p, o in movable(app, session, run, lead)
        if o.together and not o.leaving and (any(t.ok for t in o.targets) or o.anchors))
    apart_from = options.together[0]
    page.goto(f"{live_server}/lead/runs/{run.id}/people/{person.id}")
    page.locator("#apart_from").select_option(str(apart_from.id))
    page.locator("#where").select_option(index=1)
    page.get_by_role("button", name="Keep apart", exact=True).click()
    expect(page.locator("#outcome")).to_contain_text("Kept apart (never together)")
    session.expire_all()
    moved_to = session.exec(select(FamilyMember.family_id).join(Family).where(
        Family.run_id == run.id, FamilyMember.person_id == person.id)).one()
    outcome_in_view(page, f"#family-{moved_to}", person.full_name)
    expect(page.locator("#never-together")).to_contain_text(apart_from.full_name)

    # A removal from the run page itself: the outcome appears in that family's card.
    person, options = next((p, o) for p, o in movable(app, session, run, lead)
                           if o.family is not None and not o.leaving)
    page.goto(f"{live_server}/lead/runs/{run.id}")
    card = page.locator(f"#family-{options.family.id}")
    card.locator("li.app-member").filter(has=page.locator(
        f"a[href$='/people/{person.id}']")).get_by_role("button", name="Remove").click()
    outcome_in_view(page, f"#family-{options.family.id}", "Removed from the draft")

    # A refusal: two people who share a family cannot simply be marked never together.
    session.expire_all()
    published = {f.code for f, _ in published_families(session, REGION)}
    family, members = next((f, ms) for f, ms in drafts.draft_families(session, run)
                           if len(ms) >= 2 and f.code not in published)
    page.goto(f"{live_server}/lead/runs/{run.id}")
    page.locator("#person_a").select_option(str(members[0][1].id))
    page.locator("#person_b").select_option(str(members[1][1].id))
    page.get_by_role("button", name="Mark never together").click()
    outcome_in_view(page, "#never-together", f"are both in {family.code}")
    expect(page.locator("#outcome")).to_have_attribute("role", "alert")
    assert "rule" not in page.locator("#outcome").inner_text()
    # The undo is right there.
    pairs = len(session.exec(select(AvoidPair)).all())
    page.locator("#never-together").get_by_role("button", name="Undo").first.click()
    outcome_in_view(page, "#never-together", "No longer never together")
    session.expire_all()
    assert len(session.exec(select(AvoidPair)).all()) == pairs - 1
    assert check_axe(page) == []
    context.close()
    assert session.get(MatchRun, run.id).status == "draft"
