"""Help, accessibility and privacy on a phone; a flag that says what a reply means and how to
reach the person; an admin removing a DA lead. axe-core finds no serious problem on any."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from buddy.messaging.models import Flag
from buddy.models import User
from tests.browser.test_accessibility import AXE, sign_in

pytestmark = pytest.mark.browser
REGION = "wessex"


def axe_problems(page) -> list[str]:
    """Serious and critical axe-core findings on the page, and a page wider than its screen."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("""async () => (await axe.run(document, {
        resultTypes: ['violations']})).violations
        .filter(v => ['serious', 'critical'].includes(v.impact))
        .map(v => `${v.id}: ${v.help} (${v.nodes.map(n => n.target.join(' ')).join(', ')})`)""")
    if not page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"):
        found.append("wider than the screen")
    return [f"{page.url}: {p}" for p in found]


@pytest.fixture
def phone_axe(browser):
    """A 360 px phone that lets the test inject axe (the app's CSP forbids inline script)."""
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True,
                                  has_touch=True, bypass_csp=True)
    yield context.new_page()
    context.close()


@pytest.fixture
def desktop(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    yield context.new_page()
    context.close()


@pytest.fixture
def world(factory, session):
    kw = {"region": REGION, "scheme": "wessex:poole"}
    lead = factory.staff("lead", region=REGION, email="lead@example.org",
                         full_name="Dr Priya Shah")
    factory.staff("admin", email="admin@example.org")
    newcomer = factory.newcomer(full_name="Ngozi Okafor", email="ngozi@example.org", **kw)
    flag = Flag(person_id=newcomer.id, region=REGION, reason="asked_for_call", text="2")
    session.add(flag)
    session.commit()
    return {"lead": lead.id, "flag": flag.id, "newcomer": newcomer.id}


def test_help_accessibility_and_privacy_on_a_phone(world, live_server, phone_axe):
    page, problems = phone_axe, []
    page.goto(live_server + "/")
    page.locator("footer").get_by_role("link", name="Help and contact").click()
    expect(page.get_by_role("heading", name="Help and contact", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="111", exact=True)).to_have_attribute("href", "tel:111")
    problems += axe_problems(page)
    page.locator("footer").get_by_role("link", name="Accessibility statement").click()
    expect(page.get_by_role("heading", name="Accessibility statement for Buddy")).to_be_visible()
    expect(page.get_by_text("partially compliant", exact=False)).to_be_visible()
    problems += axe_problems(page)
    page.locator("footer").get_by_role("link", name="How we use your information").click()
    expect(page.get_by_role("heading", name="How to complain")).to_be_attached()
    expect(page.get_by_role("link", name="0303 123 1113")).to_have_attribute(
        "href", "tel:03031231113")
    problems += axe_problems(page)
    assert problems == []


def test_a_member_asks_their_lead_from_the_help_page_on_a_phone(world, live_server, phone_axe,
                                                                session):
    page = phone_axe
    sign_in(page, live_server, "ngozi@example.org")
    page.goto(live_server + "/help")
    expect(page.get_by_text("Your DA lead is Dr Priya Shah")).to_be_visible()
    page.get_by_label("What would you like to talk about? (optional)").fill(
        "Where do I register with a GP?")
    page.get_by_role("button", name="Ask my DA lead to contact me").click()
    expect(page.get_by_text("We have asked your DA lead to contact you")).to_be_in_viewport()
    assert axe_problems(page) == []
    assert session.exec(select(Flag).where(Flag.reason == "help")).one().text == (
        "Where do I register with a GP?")


def test_a_lead_reads_what_a_reply_means_and_reaches_the_person(world, live_server, desktop,
                                                                session):
    page = desktop
    sign_in(page, live_server, "lead@example.org")
    page.goto(live_server + f"/lead/flags/{world['flag']}")
    expect(page.locator("#reply-text")).to_have_text("“2”")
    expect(page.locator("#reply-meaning")).to_contain_text("They would like a call from you")
    email = page.get_by_role("link", name="ngozi@example.org")
    expect(email).to_be_visible()
    expect(email).to_have_attribute("href", "mailto:ngozi@example.org")
    # The browser parses it as a mailto: address of the person (what a mail program gets).
    assert email.evaluate("a => [new URL(a.href).protocol, new URL(a.href).pathname]") == [
        "mailto:", "ngozi@example.org"]
    phone = page.locator('a[href^="tel:+"]')
    expect(phone).to_be_visible()
    assert axe_problems(page) == []
    email.focus()  # reached by keyboard (after axe: a focused link is styled apart)
    expect(email).to_be_focused()


def test_an_admin_removes_a_lead_after_reading_what_changes(world, live_server, desktop,
                                                            session):
    page = desktop
    sign_in(page, live_server, "admin@example.org")
    page.get_by_role("link", name="Move or remove Dr Priya Shah").click()
    problems = axe_problems(page)
    page.get_by_role("link", name="Remove Dr Priya Shah").click()
    expect(page.get_by_text("Wessex will have no DA lead")).to_be_visible()
    problems += axe_problems(page)
    page.get_by_role("button", name="Yes, remove Dr Priya Shah").click()
    expect(page.get_by_text("Dr Priya Shah is no longer a DA lead")).to_be_in_viewport()
    expect(page.get_by_text("Wessex now has no DA lead")).to_be_in_viewport()
    problems += axe_problems(page)
    assert problems == []
    session.expire_all()
    assert session.get(User, world["lead"]).role == "former_lead"
