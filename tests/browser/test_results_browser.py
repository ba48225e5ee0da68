"""Survey results in Chromium: the lead's page on a desktop, keyboard alone, with axe-core on
every page (the outcomes upload, its preview and its errors included); the lead's and the
admin's pages on a 360-pixel phone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from buddy import clock
from buddy.services import surveys as survey_service
from tests.browser.test_invitations_browser import axe_problems, fits
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser
INTAKE = "2027-08"
OUTCOMES = (b"GMC number,Email,Outcome,Date\r\n"
            b",t0@example.org,ARCP outcome 1,30/06/2026\r\n"
            b",t1@example.org,Outcome 9,30/06/2026\r\n")


@pytest.fixture
def app(make_app):
    # Before the August 2027 intake arrives: its newcomers sign up, and the intake is a choice.
    return make_app(BUDDY_NOW="2027-05-03T10:00:00+01:00")


@pytest.fixture
def answered(app, session, factory):
    factory.staff("lead", region="wessex", email="lead@example.org")
    factory.staff("admin", email="admin@example.org")
    kw = {"region": "wessex", "scheme": "wessex:poole"}
    with app.app_context():
        for i in range(8):
            person = factory.newcomer(email=f"t{i}@example.org", **kw)
            request = survey_service.ensure_request(
                session, person=person, survey="hello", intake=INTAKE, family_id=None,
                audience="newcomer", sent_at=clock.now())
            session.commit()
            answers = [("help_with", "training" if i < 6 else "living"),
                       ("confidence", str(1 + i % 5)), ("meet", "online" if i % 2 else "any"),
                       ("anything_else", "Where can I park?" if i == 0 else "")]
            for key, value in answers[: 4 if i < 7 else 1]:
                survey_service.answer(session, request=request, question_key=key, value=value)


def _sign_in(page, base: str, email: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/login" not in url)


def test_a_lead_reads_results_and_uploads_outcomes_with_the_keyboard(
        answered, live_server, browser, tmp_path):
    path = tmp_path / "outcomes.csv"
    path.write_bytes(OUTCOMES)
    # bypass_csp only so that the test can inject axe; the app's CSP forbids inline script.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    problems: list[str] = []
    _sign_in(page, live_server, "lead@example.org")
    page.get_by_role("link", name="Survey results and outcomes").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=re.compile("Survey results and outcomes"))) \
        .to_be_visible()
    # The intake chooser, by keyboard: the newcomers arrive in August 2027.
    page.get_by_label("Intake").focus()
    page.get_by_label("Intake").select_option(INTAKE)
    page.get_by_role("button", name="Show").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#response-hello")).to_contain_text("Asked: 8")
    expect(page.locator("#response-hello")).to_contain_text("Answered every question: 7")
    expect(page.get_by_text("Where can I park?")).to_be_visible()
    table = page.locator("#answers-hello-help_with")
    expect(table).to_contain_text("GP training: portfolio, exams and ARCP")
    expect(table.get_by_role("row", name=re.compile("GP training"))).to_contain_text("6")
    expect(table.locator("abbr[title='fewer than 5']").first).to_be_visible()
    problems += axe_problems(page)

    page.get_by_role("link", name="Upload training outcomes (optional)").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=re.compile("Upload training outcomes"))) \
        .to_be_visible()
    problems += axe_problems(page)
    # No file: the error says what to do, and the summary link leads to the field.
    page.get_by_role("button", name="Upload and check").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("Choose the CSV file of the outcomes")
    problems += axe_problems(page)
    page.get_by_label(re.compile("The outcomes")).set_input_files(str(path))
    page.get_by_role("button", name="Upload and check").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#outcomes-summary")).to_contain_text("1 outcome will be stored")
    expect(page.locator("#problems")).to_be_visible()
    expect(page.get_by_role("cell", name=re.compile("\"Outcome 9\" is not an outcome"))) \
        .to_be_visible()
    problems += axe_problems(page)
    page.get_by_role("button", name="Store 1 outcome").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("1 outcome is stored")).to_be_visible()
    expect(page.locator("#outcome-counts")).to_be_visible()
    problems += axe_problems(page)

    page.get_by_role("link", name="How every figure is counted").first.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="How every figure is counted", level=1)) \
        .to_be_visible()
    problems += axe_problems(page)
    context.close()
    assert problems == [], "\n".join(problems)


def test_the_results_pages_fit_a_phone_and_pass_axe(answered, live_server, browser):
    problems: list[str] = []
    for who, urls in (("lead@example.org", [f"/lead/results?intake={INTAKE}", "/lead/outcomes/",
                                            "/lead/figures"]),
                      ("admin@example.org", [f"/admin/results?intake={INTAKE}",
                                             f"/lead/results?intake={INTAKE}&region=wessex"])):
        context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True,
                                      has_touch=True, bypass_csp=True)
        page = context.new_page()
        _sign_in(page, live_server, who)
        for url in urls:
            page.goto(live_server + url)
            expect(page.get_by_role("heading", level=1)).to_be_visible()
            problems += axe_problems(page)
            if not fits(page):
                problems.append(f"{url} as {who}: wider than 360 px")
        context.close()
    assert problems == [], "\n".join(problems)
