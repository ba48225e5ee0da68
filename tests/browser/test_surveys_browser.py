"""Each survey answered in Chromium on a 360 px phone, keyboard alone, with axe-core on every
page (the error page and a bad link included)."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from buddy.messaging.models import Message
from buddy.models import FamilyAnswer, SurveyAnswer
from tests.browser.test_accessibility import AXE
from tests.messaging.conftest import publish_family

pytestmark = pytest.mark.browser
JOINED = "2027-06-01T09:00:00+00:00"
SIX_MONTHS = (date(2027, 8, 4) + timedelta(days=182)).isoformat() + "T12:00:00+00:00"
LINK = re.compile(r"http://localhost(/surveys/\S+)")


@pytest.fixture
def app(make_app):
    return make_app(BUDDY_NOW=JOINED)


@pytest.fixture
def small(browser):
    """A 360 px phone; bypass_csp only so that the test can inject axe (the CSP forbids it)."""
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True,
                                  has_touch=True, bypass_csp=True)
    yield context.new_page()
    context.close()


def check(page, problems: list[str]) -> None:
    """axe-core on the page (serious and critical), and nothing wider than the phone."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("""async () => (await axe.run(document, {
        resultTypes: ['violations']})).violations
        .filter(v => ['serious', 'critical'].includes(v.impact))
        .map(v => `${v.id}: ${v.help} (${v.nodes.length})`)""")
    problems += [f"{page.url}: {p}" for p in found]
    if not page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"):
        problems.append(f"{page.url}: wider than the phone")


def link_of(session, person, kind: str) -> str:
    session.expire_all()
    message = session.exec(select(Message).where(
        Message.person_id == person.id, Message.kind == kind,
        Message.status == "pending")).one()
    return LINK.search(message.body).group(1)


def choose(page, words: str, problems: list[str]) -> None:
    """Choose an answer and continue with the keyboard alone."""
    check(page, problems)
    page.get_by_label(words, exact=True).focus()
    page.keyboard.press("Space")
    page.get_by_role("button", name=re.compile("Continue|Finish")).focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_hello_on_a_phone_with_an_error_and_a_bad_link(app, session, factory, live_server,
                                                       small):
    newcomer = factory.newcomer()
    path = link_of(session, newcomer, "survey")
    problems: list[str] = []
    page = small
    page.goto(live_server + path)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "What would you most like help with in your first weeks?")
    expect(page.get_by_text("Question 1 of 4")).to_be_visible()
    # Continue with nothing chosen: the error summary names the problem and links to it.
    page.get_by_role("button", name="Continue").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("Choose one answer")
    assert page.title().startswith("Error: ")
    check(page, problems)
    choose(page, "Meeting people and making friends", problems)
    expect(page.get_by_text("Question 2 of 4")).to_be_visible()
    choose(page, "4", problems)
    # Back goes to the question before, with its answer kept.
    page.get_by_role("link", name="Back").click()
    expect(page.get_by_text("Question 2 of 4")).to_be_visible()
    expect(page.get_by_label("4", exact=True)).to_be_checked()
    choose(page, "4", problems)
    choose(page, "Online, by video call", problems)
    check(page, problems)
    page.get_by_label("Is there anything else you would like your DA lead to know?").fill(
        "I arrive with my two children.")
    page.get_by_role("button", name="Finish").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    check(page, problems)
    session.expire_all()
    assert {a.question: a.answer for a in session.exec(select(SurveyAnswer)).all()} == {
        "help_with": "people", "confidence": "4", "meet": "online",
        "anything_else": "I arrive with my two children."}
    page.goto(live_server + path[:-4] + "abcd")
    expect(page.get_by_role("heading", name="This survey link does not work")).to_be_visible()
    check(page, problems)
    assert problems == []


def test_eight_weeks_for_a_buddy_on_a_phone(app, session, factory, live_server, small):
    buddy, newcomer = factory.volunteer(), factory.newcomer()
    publish_family(app, session, [(buddy, "anchor"), (newcomer, "newcomer")])
    path = link_of(session, buddy, "survey")
    app.config["BUDDY_NOW"] = "2027-09-30T10:00:00+00:00"
    problems: list[str] = []
    small.goto(live_server + path)
    expect(small.get_by_role("heading", level=1)).to_have_text("Have you met your buddy family?")
    choose(small, "Yes, in person", problems)
    choose(small, "Every 2 weeks", problems)
    choose(small, "5 - Very useful", problems)
    expect(small.get_by_role("heading", name="Thank you")).to_be_visible()
    check(small, problems)
    assert problems == []


def test_six_months_for_a_newcomer_on_a_phone_records_carry_on(app, session, factory,
                                                               live_server, small):
    anchor, newcomer = factory.volunteer(), factory.newcomer()
    family = publish_family(app, session, [(anchor, "anchor"), (newcomer, "newcomer")])
    path = link_of(session, newcomer, "close_continue")
    app.config["BUDDY_NOW"] = SIX_MONTHS
    problems: list[str] = []
    small.goto(live_server + path)
    expect(small.get_by_role("heading", level=1)).to_have_text(
        "Would you like your buddy family to carry on or finish?")
    choose(small, "Carry on", problems)
    choose(small, "4", problems)
    choose(small, "5 - Very much", problems)
    choose(small, "Maybe", problems)
    check(small, problems)
    small.get_by_role("button", name="Finish").focus()
    with small.expect_navigation():
        small.keyboard.press("Enter")
    expect(small.get_by_role("heading", name="Thank you")).to_be_visible()
    check(small, problems)
    session.expire_all()
    [given] = session.exec(select(FamilyAnswer)).all()
    assert (given.family_id, given.person_id, given.answer) == (family.id, newcomer.id,
                                                                "carry_on")
    assert problems == []
