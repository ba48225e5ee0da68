"""A DA lead imports a trainee list in Chromium (desktop), keyboard alone where a keyboard
can act, with axe-core on every page, errors included; the invited person opens their link
on a phone."""

from __future__ import annotations

import io
import re

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from buddy.messaging.models import Message
from buddy.models import Invitation
from tests.browser.test_accessibility import AXE
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser
NOW = "2027-05-03T10:00:00+01:00"
LIST = ("Name;E-mail address;Starting;Scheme\r\n"
        "Zoë Ndiaye;zoe@example.org;04/08/2027;Poole\r\n"
        "José Álvarez;jose@example.org;3 Aug 2027;\r\n"
        "Bad Date;bad@example.org;31/02/2027;\r\n").encode("cp1252")


@pytest.fixture
def app(make_app):
    return make_app(BUDDY_NOW=NOW)


def axe_problems(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("""async () => (await axe.run(document, {
        resultTypes: ['violations']})).violations
        .filter(v => ['serious', 'critical'].includes(v.impact))
        .map(v => `${v.id}: ${v.help} (${v.nodes.length})`)""")
    return [f"{page.url}: {p}" for p in found]


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_lead_uploads_previews_and_confirms_a_list(app, session, factory, live_server,
                                                     browser, tmp_path):
    factory.staff("lead", region="wessex", email="lead@example.org")
    path = tmp_path / "trainees.csv"
    path.write_bytes(LIST)
    # bypass_csp only so that the test can inject axe; the app's CSP forbids inline script.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    problems: list[str] = []
    page.goto(live_server + "/login")
    page.get_by_label("Email address").fill("lead@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Wessex")).to_be_visible()
    page.get_by_role("link", name="Invitations").click()
    expect(page.get_by_role("heading", name=re.compile("Trainee lists and invitations"))) \
        .to_be_visible()
    problems += axe_problems(page)

    # No file: the error summary says what to do and keeps the choice made.
    page.get_by_label("New trainees starting GP training").focus()
    page.keyboard.press("Space")
    page.get_by_role("button", name="Upload and preview").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
    expect(page.get_by_role("link", name="Choose the CSV file of your trainee list")) \
        .to_be_visible()
    expect(page.get_by_label("New trainees starting GP training")).to_be_checked()
    problems += axe_problems(page)

    page.get_by_label("The list (a CSV file, at most 1 MB)").set_input_files(str(path))
    page.get_by_role("button", name="Upload and preview").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=re.compile("Check the list before you invite"))) \
        .to_be_visible()
    expect(page.get_by_text("2 people", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name=re.compile("is not a real date"))).to_be_visible()
    problems += axe_problems(page)
    page.get_by_text("Show the 2 people").click()
    expect(page.get_by_text("Row 2: Zoë Ndiaye, zoe@example.org")).to_be_visible()
    assert session.exec(select(Invitation)).all() == []

    page.get_by_role("button", name="Invite 2 people").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("2 people are invited")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("August 2027"))).to_contain_text("2")
    problems += axe_problems(page)
    context.close()
    assert problems == [], "\n".join(problems)
    names = sorted(i.full_name for i in session.exec(select(Invitation)))
    assert names == ["José Álvarez", "Zoë Ndiaye"]


def test_the_invited_person_reads_their_invitation_on_a_phone_and_says_no(
        app, session, factory, live_server, browser):
    factory.staff("lead", region="wessex", email="lead@example.org")
    client = app.test_client()
    client.post("/login", data={"email": "lead@example.org", "password": PASSWORD})
    response = client.post("/lead/invitations/", data={
        "role": "newcomer", "file": (io.BytesIO(LIST), "list.csv")},
        content_type="multipart/form-data")
    client.post(response.location)
    zoe = session.exec(select(Invitation).where(Invitation.email == "zoe@example.org")).one()
    body = session.exec(select(Message).where(Message.invitation_id == zoe.id,
                                              Message.channel == "email")).one().body
    link = re.search(r"http://localhost(/invited/\S+)", body)[1]

    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True,
                                  has_touch=True, bypass_csp=True)
    page = context.new_page()
    page.goto(live_server + link)
    expect(page.get_by_role("heading", name="Zoë Ndiaye, you are invited to Buddy")) \
        .to_be_visible()
    problems = axe_problems(page)
    assert fits(page)
    page.get_by_role("button", name="No, thank you").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("You told us you are not interested")).to_be_visible()
    expect(page.get_by_role("button", name="Start my sign-up")).to_be_visible()
    problems += axe_problems(page)
    assert fits(page)
    # Changed their mind: the sign-up opens, filled in from the list.
    page.get_by_role("button", name="Start my sign-up").click()
    page.wait_for_load_state()
    assert "/join/" in page.url
    problems += axe_problems(page)
    assert fits(page)
    page.goto(live_server + link[:-3] + "xyz")
    expect(page.get_by_role("heading", name="This invitation link cannot be used")) \
        .to_be_visible()
    problems += axe_problems(page)
    context.close()
    assert problems == [], "\n".join(problems)
    session.expire_all()
    assert session.get(Invitation, zoe.id).status == "declined"
