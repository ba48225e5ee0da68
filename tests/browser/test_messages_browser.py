"""What people are told, seen in Chromium: the lead approves a volunteer and publishes a run,
each outcome says who is told and when, and the messages (the development message log) greet
people by name and describe a hospital doctor as one. The volunteer then checks on a phone."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from buddy.models import VolunteerConfirmation
from buddy.services import runs
from buddy.statuses import PersonStatus
from tests.browser.test_accessibility import AXE, sign_in

pytestmark = pytest.mark.browser
REGION = "wessex"
NOW = "2027-07-01T10:00:00+01:00"  # newcomers arrive on 4 August 2027


@pytest.fixture
def app(make_app):
    return make_app(BUDDY_NOW=NOW)


@pytest.fixture
def world(app, session, factory):
    kw = {"region": REGION, "scheme": "wessex:poole"}
    lead = factory.staff("lead", region=REGION, email="lead@example.org",
                         full_name="Dr Sarah Jones")
    anchor = factory.volunteer(capacity="2", full_name="Dr Ngozi Nwosu", stage="qualified",
                               setting="secondary", can_anchor="y", channel="email", **kw)
    session.add(VolunteerConfirmation(person_id=anchor.id, intake="2027-08", available=True,
                                      channel="web"))
    factory.newcomer(full_name="Dr Priya Raman", email="priya@example.org", channel="email",
                     **kw)
    pending = factory.volunteer(status=PersonStatus.PENDING, full_name="Dr Sam Lee",
                                email="sam@example.org", **kw)
    session.commit()
    with app.app_context():
        run = runs.start_run(session, lead=lead, region=REGION, time_limit_s=5,
                             intake="2027-08")
        runs.execute_run(session, run.id)
    return {"run": run.id, "volunteer": pending.id}


def _in_view(page, locator) -> None:
    expect(locator).to_be_visible()
    box = locator.bounding_box()
    assert box is not None and 0 <= box["y"] < page.viewport_size["height"], box


def _axe(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    return page.evaluate("""async () => (await axe.run(document, {
        resultTypes: ['violations']})).violations
        .filter(v => ['serious', 'critical'].includes(v.impact)).map(v => v.id)""")


def test_the_lead_sees_who_is_told_and_when(world, live_server, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    sign_in(page, live_server, "lead@example.org")

    page.goto(f"{live_server}/lead/volunteers/{world['volunteer']}")
    page.get_by_role("button", name="Approve").click()
    _in_view(page, page.get_by_text("Dr Sam Lee has been approved. We will tell them by email"))

    page.goto(f"{live_server}/lead/runs/{world['run']}")
    page.get_by_role("button", name="Publish").click()
    _in_view(page, page.get_by_text(
        "Introductions go to 1 family on 21 July 2027, 14 days before their newcomers arrive."))
    assert _axe(page) == []

    page.goto(f"{live_server}/messages/log")
    approved = page.locator(".nhsuk-card").filter(has_text="You are now a Buddy volunteer")
    expect(approved).to_contain_text("Hello Sam,")
    expect(approved).to_contain_text("the DA lead for Wessex has approved you as a buddy")
    intro = page.locator(".nhsuk-card").filter(has_text="To priya@example.org").filter(
        has_text="Meet your buddy family")
    expect(intro).to_contain_text("Hello Priya,")
    expect(intro).to_contain_text("Dr Ngozi Nwosu: a hospital doctor, and the family's main "
                                  "contact")
    expect(page.locator("body")).not_to_contain_text("Hello Dr")
    expect(page.locator("body")).not_to_contain_text("GP trainees")
    context.close()


def test_the_approved_volunteer_sees_it_on_a_phone(world, live_server, browser, session, app,
                                                   factory):
    from buddy.services import volunteers

    with app.app_context():
        lead = factory.staff("lead", region="wessex", email="second.lead@example.org")
        volunteers.decide(session=session, lead=lead, person_id=world["volunteer"],
                          approve=True)
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True,
                                  has_touch=True, bypass_csp=True)
    page = context.new_page()
    sign_in(page, live_server, "sam@example.org")
    page.goto(f"{live_server}/account/")
    expect(page.locator("main")).not_to_contain_text("Waiting for your DA lead")
    assert _axe(page) == []
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    context.close()
