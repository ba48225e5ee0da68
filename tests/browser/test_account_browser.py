"""A member's account on a 360-pixel-wide phone: change the email address, move region out
of a running family, keep the family's group chat link, read their data in words. Every page
passes axe-core and fits the screen; every outcome shows where the member is looking."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from buddy.messaging.models import Message
from buddy.models import Family, Person, User
from tests.conftest import ROOT
from tests.factories import PASSWORD
from tests.messaging.conftest import publish_family

pytestmark = pytest.mark.browser
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
LINK = "https://chat.whatsapp.com/Fa7Kq2Lr9XyZ0123abcd"


@pytest.fixture
def mobile(browser):
    """A 360 x 740 phone; CSP bypassed only so that the test can inject axe."""
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True,
                                  has_touch=True, bypass_csp=True)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def family(app, session, factory):
    factory.staff("lead", region="london", email="lead.london@example.org")
    factory.staff("lead", region="wessex", email="lead.wessex@example.org")
    anchor = factory.volunteer(full_name="Grace Mensah", email="anchor@example.org",
                               share_email="y")
    newcomer = factory.newcomer(full_name="Aisha Bello", email="aisha@example.org")
    return publish_family(app, session, [(anchor, "anchor"), (newcomer, "newcomer")])


def sign_in(page, base: str, email: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def check_page(page) -> None:
    """axe-core finds nothing serious or critical, and the page fits the phone."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("""async () => (await axe.run(document, {
        resultTypes: ['violations']})).violations
        .filter(v => ['serious', 'critical'].includes(v.impact))
        .map(v => `${v.id}: ${v.help} (${v.nodes.length})`)""")
    assert found == [], f"{page.url}: {found}"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), page.url


def test_a_member_changes_their_email_on_a_phone(live_server, mobile, session, family):
    page = mobile
    sign_in(page, live_server, "aisha@example.org")
    page.goto(live_server + "/account/")
    page.get_by_role("link", name="Change your email address").click()
    expect(page.get_by_role("heading", name="Change your email address")).to_be_visible()
    check_page(page)
    page.get_by_label("New email address").fill("aisha.bello@example.org")
    page.get_by_label("Your password").fill("not my password")
    page.get_by_role("button", name="Send the link").click()
    summary = page.locator(".nhsuk-error-summary")
    expect(summary).to_contain_text("Your password is not right")
    expect(summary).to_be_in_viewport()
    expect(page.get_by_label("New email address")).to_have_value("aisha.bello@example.org")
    check_page(page)
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Send the link").click()
    sent = page.get_by_text("We have sent a link to aisha.bello@example.org")
    expect(sent).to_be_in_viewport()

    body = session.exec(select(Message.body).where(Message.kind == "email_change_link")).one()
    path = re.search(r"http://localhost(/account/email/confirm/\S+)", body)[1]
    page.goto(live_server + path)
    expect(page.get_by_role("heading", name="Confirm your new email address")).to_be_visible()
    check_page(page)
    page.get_by_role("button", name="Use this email address").click()
    done = page.get_by_role("heading", name="Your email address has changed")
    expect(done).to_be_in_viewport()
    check_page(page)
    session.expire_all()
    person = session.exec(select(Person).where(Person.full_name == "Aisha Bello")).one()
    assert session.get(User, person.user_id).email == "aisha.bello@example.org"


def test_moving_region_asks_first_on_a_phone(live_server, mobile, session, family):
    page = mobile
    sign_in(page, live_server, "aisha@example.org")
    page.goto(live_server + "/account/edit")
    page.get_by_label("Region", exact=True).select_option("wessex")
    page.get_by_label("Training scheme").select_option("wessex:poole")
    page.get_by_role("button", name="Save changes").click()
    heading = page.get_by_role("heading", name="Do you want to move to Wessex?")
    expect(heading).to_be_in_viewport()
    expect(page.get_by_text("You are in a buddy family in London")).to_be_visible()
    check_page(page)
    session.expire_all()
    person = session.exec(select(Person).where(Person.full_name == "Aisha Bello")).one()
    assert person.region == "london"  # nothing saved yet
    page.get_by_role("button", name="Yes, move to Wessex").click()
    expect(page.get_by_text("Your details have been saved")).to_be_in_viewport()
    session.expire_all()
    assert session.get(Person, person.id).region == "wessex"
    told = session.exec(select(Message.kind).where(Message.kind.like("region_move%"))).all()
    assert sorted(told) == ["region_move_lead_from", "region_move_lead_to"]


def test_the_anchor_adds_the_group_chat_and_the_family_sees_it(live_server, mobile, browser,
                                                              session, family):
    page = mobile
    sign_in(page, live_server, "anchor@example.org")
    page.goto(live_server + "/family/")
    page.get_by_label("Link to your family's group chat").fill("https://example.org/group")
    page.get_by_role("button", name="Save the link").click()
    summary = page.locator(".nhsuk-error-summary")
    expect(summary).to_contain_text("Enter a link to a group chat on WhatsApp")
    expect(summary).to_be_in_viewport()
    expect(page.get_by_label("Link to your family's group chat")).to_have_value(
        "https://example.org/group")
    check_page(page)
    page.get_by_label("Link to your family's group chat").fill(LINK)
    page.get_by_role("button", name="Save the link").click()
    expect(page.get_by_text("The link has been saved: the family can see it now")
           ).to_be_in_viewport()
    session.expire_all()
    assert session.get(Family, family.id).chat_link == LINK

    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True,
                                  has_touch=True, bypass_csp=True)
    other = context.new_page()
    sign_in(other, live_server, "aisha@example.org")
    other.goto(live_server + "/family/")
    join = other.get_by_role("link", name="Join the family's WhatsApp group")
    expect(join).to_have_attribute("href", LINK)
    check_page(other)
    context.close()


def test_the_data_in_words_on_a_phone(live_server, mobile, family):
    page = mobile
    sign_in(page, live_server, "aisha@example.org")
    page.goto(live_server + "/account/")
    page.get_by_role("link", name="See all your data, in words").click()
    expect(page.get_by_role("heading", name="Your data in Buddy")).to_be_visible()
    expect(page.locator("#in-words").get_by_text("Wessex", exact=True).or_(
        page.locator("#in-words").get_by_text("London", exact=True)).first).to_be_visible()
    check_page(page)


def test_the_lead_changes_the_chat_link_on_the_family_page(live_server, browser, session,
                                                           family):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    sign_in(page, live_server, "lead.london@example.org")
    page.goto(f"{live_server}/lead/families/{family.id}")
    page.get_by_label("Link to the family's group chat").fill("https://signal.group/#CjQKIAbc")
    page.get_by_role("button", name="Save the link").click()
    expect(page.get_by_text("The link has been saved: the family can see it now")
           ).to_be_in_viewport()
    expect(page.get_by_role("link", name="Join the family's Signal group")).to_be_visible()
    check_page(page)
    context.close()
    session.expire_all()
    assert session.get(Family, family.id).chat_link == "https://signal.group/#CjQKIAbc"
