"""Every page, as each role sees it: axe-core finds no serious or critical problem, and the
page fits a 360-pixel-wide phone. Keyboard alone is enough to sign in and act on a flag."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from buddy.messaging.models import Flag
from buddy.models import Family, MatchRun, User, VolunteerConfirmation
from buddy.services import publishing, runs
from tests.conftest import ROOT
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
REGION = "wessex"


@pytest.fixture
def world(app, session, factory):
    """A lead, an admin, volunteers, newcomers, a published family, a draft run and a flag."""
    kw = {"region": REGION, "scheme": "wessex:poole"}
    lead = factory.staff("lead", region=REGION, email="lead@example.org")
    factory.staff("admin", email="admin@example.org")
    for i in range(2):
        anchor = factory.volunteer(capacity="2", full_name=f"Anchor {i}", share_email="y", **kw)
        # Confirmed for the newcomers' intake (they arrive on 4 August 2027).
        session.add(VolunteerConfirmation(person_id=anchor.id, intake="2027-08",
                                          available=True, channel="web"))
    pending = factory.volunteer(status="pending", full_name="Pending Volunteer", **kw)
    newcomers = [factory.newcomer(full_name=f"Newcomer {i}", email=f"n{i}@example.org", **kw)
                 for i in range(3)]
    with app.app_context():
        first = runs.start_run(session, lead=lead, region=REGION, time_limit_s=5,
                               intake="2027-08")
        runs.execute_run(session, first.id)
        publishing.publish(session, lead=lead, run_id=first.id)
        factory.newcomer(full_name="Late Newcomer", **kw)
        draft = runs.start_run(session, lead=lead, region=REGION, time_limit_s=5,
                               intake="2027-08")
        runs.execute_run(session, draft.id)
    flag = Flag(person_id=newcomers[0].id, region=REGION, reason="asked_for_call", text="2")
    session.add(flag)
    session.commit()
    return {"volunteer": pending.id, "run": draft.id, "published": first.id, "flag": flag.id,
            "family": session.exec(select(Family)).first().id}


def pages(world) -> dict[str | None, list[str]]:
    return {
        None: ["/", "/join/", "/join/newcomer", "/join/volunteer/buddy",
               "/join/volunteer/ambassador", "/login", "/forgot-password", "/privacy",
               "/no-such-page"],
        "n0@example.org": ["/account/", "/account/edit", "/account/password",
                           "/account/delete", "/family/"],
        "lead@example.org": ["/lead/", "/lead/volunteers", f"/lead/volunteers/{world['volunteer']}",
                             "/lead/runs/", f"/lead/runs/{world['run']}", "/lead/runs/audit",
                             f"/lead/runs/{world['published']}",
                             "/lead/flags", f"/lead/flags/{world['flag']}",
                             "/messages/problems", "/lead/invitations/"],
        "admin@example.org": ["/admin/", "/admin/indicators"],
    }


def sign_in(page, base: str, email: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def test_every_page_passes_axe_and_fits_a_phone(world, live_server, browser):
    problems = []
    for who, urls in pages(world).items():
        # bypass_csp only so that the test can inject axe; the app's CSP forbids inline script.
        context = browser.new_context(viewport={"width": 360, "height": 740}, bypass_csp=True)
        page = context.new_page()
        if who:
            sign_in(page, live_server, who)
        for url in urls:
            page.goto(live_server + url)
            page.add_script_tag(path=str(AXE))
            found = page.evaluate("""async () => (await axe.run(document, {
                resultTypes: ['violations']})).violations
                .filter(v => ['serious', 'critical'].includes(v.impact))
                .map(v => `${v.id}: ${v.help} (${v.nodes.length})`)""")
            problems += [f"{url} as {who or 'anonymous'}: {p}" for p in found]
            if not page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"):
                problems.append(f"{url} as {who or 'anonymous'}: wider than 360 px")
        context.close()
    assert problems == [], "\n".join(problems)


def test_keyboard_alone_signs_in_and_handles_a_flag(world, live_server, browser, session):
    context = browser.new_context(viewport={"width": 1024, "height": 800})
    page = context.new_page()
    page.goto(live_server + "/login")
    # Tab from the top: skip link first, as the NHS service manual expects.
    page.keyboard.press("Tab")
    expect(page.locator(".nhsuk-skip-link")).to_be_focused()
    page.get_by_label("Email address").focus()
    page.keyboard.type("lead@example.org")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Wessex")).to_be_visible()
    link = page.locator("#flag-queue a").first
    link.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Mark as contacted")).to_be_visible()
    page.get_by_role("button", name="Mark as contacted").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Flag updated")).to_be_visible()
    context.close()
    session.expire_all()
    assert session.get(Flag, world["flag"]).status == "contacted"
    assert session.get(MatchRun, world["run"]).status == "draft"
    assert session.exec(select(User).where(User.role == "admin")).one()
