"""A newcomer signs up on a 360-pixel-wide phone in Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from buddy.models import Person, User

pytestmark = pytest.mark.browser


def fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_newcomer_signs_up_on_a_phone(live_server, phone, session, tmp_path):
    page = phone
    page.goto(live_server + "/")
    assert fits_the_screen(page)
    page.get_by_role("button", name="Start now").click()
    page.get_by_role("link", name="I am starting GP training").click()
    expect(page.get_by_role("heading", name="Join as a newcomer")).to_be_visible()
    assert fits_the_screen(page)

    page.get_by_label("Full name").fill("Aisha Bello")
    page.get_by_label("Email address", exact=True).fill("aisha.bello@example.org")
    page.get_by_label("Create a password").fill("lagos to leeds 2027")
    page.get_by_label("WhatsApp", exact=True).check()
    page.get_by_label("Country of your mobile number").select_option("NG")
    # First a UK-style number the phone country cannot have: a clear message, nothing lost.
    page.get_by_label("Mobile number", exact=True).fill("07700 900123")
    page.get_by_label("Your time zone now").select_option("Africa/Lagos")
    page.get_by_label("Region", exact=True).select_option("yorkshire-humber")
    page.get_by_label("Training scheme").select_option("yorkshire-humber:leeds")
    page.get_by_label("ST1").check()
    page.get_by_label("Day").fill("5")
    page.get_by_label("Month").fill("8")
    page.get_by_label("Year").fill("2027")
    page.get_by_label("Yes, I would like to talk to a doctor").check()
    page.get_by_label("Paediatrics").check()
    page.get_by_label("I agree that Buddy may store the answers below").check()
    page.get_by_label("Country where you got your primary medical qualification").select_option(
        "NG")
    page.get_by_label("Yoruba").check()
    page.get_by_label("Other languages").fill("Hausa")
    page.get_by_label("I agree that Buddy may contact me").check()
    page.get_by_role("button", name="Join Buddy").click()

    summary = page.locator(".nhsuk-error-summary")
    expect(summary).to_contain_text("Enter a real mobile number")
    expect(summary).to_be_focused()  # NHS error summary takes focus for screen readers
    assert fits_the_screen(page)
    page.screenshot(path=str(tmp_path / "signup-error.png"), full_page=True)
    # Everything typed is still there; only the number needs fixing.
    expect(page.get_by_label("Full name")).to_have_value("Aisha Bello")
    expect(page.get_by_label("Yoruba")).to_be_checked()
    summary.get_by_role("link", name="Enter a real mobile number").click()
    expect(page.get_by_label("Mobile number", exact=True)).to_be_focused()
    page.get_by_label("Mobile number", exact=True).fill("0803 123 4567")
    page.get_by_label("Create a password").fill("lagos to leeds 2027")
    page.get_by_role("button", name="Join Buddy").click()

    expect(page.get_by_role("heading", name="You have joined Buddy")).to_be_visible()
    assert fits_the_screen(page)
    user = session.exec(select(User)).one()
    person = session.exec(select(Person)).one()
    assert user.email == "aisha.bello@example.org"
    assert (person.phone, person.channel, person.region, person.scheme) == (
        "+2348031234567", "whatsapp", "yorkshire-humber", "leeds")
    assert person.languages == ["yo", "ha"] and person.country == "NG"
