"""Sign-up in question pages on a 360-pixel-wide phone in Chromium: the whole newcomer flow
with the keyboard alone, the volunteer flow, axe-core on every page (pages with errors too),
and stopping on one device to carry on from the emailed link on another."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from buddy.messaging.models import Message
from buddy.models import Person, User

pytestmark = pytest.mark.browser


def fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.fixture
def phone_at(browser):
    """A 360-pixel phone whose clock is set to `zone`; `axe` lifts the CSP, only so that the
    test can add axe-core (the app's CSP forbids inline script)."""
    contexts = []

    def make(zone: str, axe: bool = False):
        context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True,
                                      has_touch=True, timezone_id=zone, bypass_csp=axe)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def axe_problems(page) -> list[str]:
    from tests.browser.test_accessibility import AXE

    page.add_script_tag(path=str(AXE))
    return page.evaluate("""async () => (await axe.run(document, {
        resultTypes: ['violations']})).violations
        .filter(v => ['serious', 'critical'].includes(v.impact))
        .map(v => `${v.id}: ${v.help} (${v.nodes.length})`)""")


# The one-page sign-up was about 6,000 px tall on this phone; a question page is a screen or
# two (the tallest, the interests, lists 23 choices).
MOST_PIXELS_TALL = 2_000


def checked_page(page, seen: list[str]) -> None:
    """Every page: axe-core finds nothing serious, and it fits the phone's width; a question
    page is no longer than a couple of screens."""
    seen.append(page.url)
    assert axe_problems(page) == [], page.url
    assert fits_the_screen(page), page.url
    if "/join/step/" in page.url:  # "check your answers" lists them all, as it should
        tall = page.evaluate("document.documentElement.scrollHeight")
        assert tall <= MOST_PIXELS_TALL, f"{page.url} is {tall} px tall"


def tab_to(page, target) -> None:
    """Press Tab until `target` has the focus (the keyboard's way to reach it)."""
    for _ in range(80):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"Tab never reached {target}")


def continue_by_keyboard(page) -> None:
    tab_to(page, page.get_by_role("button", name="Continue"))
    page.keyboard.press("Enter")
    page.wait_for_load_state()


def choose_by_keyboard(page, select, value: str, typed: str) -> None:
    """Focus a <select> with Tab and choose by typing the start of an option, as a
    keyboard user does."""
    tab_to(page, select)
    page.keyboard.type(typed)
    expect(select).to_have_value(value)


def heading(page, text: str) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text(text)


def test_a_newcomer_joins_on_a_phone_with_the_keyboard_alone(live_server, phone_at, session):
    page = phone_at("Africa/Lagos", axe=True)
    seen: list[str] = []
    page.goto(live_server + "/")
    checked_page(page, seen)
    tab_to(page, page.get_by_role("button", name="Start now"))
    page.keyboard.press("Enter")
    tab_to(page, page.get_by_role("link", name="I am starting GP training"))
    page.keyboard.press("Enter")

    heading(page, "What is your email address?")
    expect(page.get_by_text("Question 1 of 13")).to_be_visible()
    checked_page(page, seen)
    tab_to(page, page.get_by_label("Email address"))
    page.keyboard.type("aisha.bello@example.org")
    page.keyboard.press("Enter")

    heading(page, "What is your name?")
    checked_page(page, seen)
    tab_to(page, page.get_by_label("Full name"))
    page.keyboard.type("Aisha Bello")
    page.keyboard.press("Enter")

    heading(page, "How should we contact you?")
    checked_page(page, seen)
    tab_to(page, page.get_by_label("Text message (SMS)"))
    page.keyboard.press("ArrowDown")  # radios: the arrow keys move the choice
    expect(page.get_by_label("WhatsApp", exact=True)).to_be_checked()
    continue_by_keyboard(page)

    heading(page, "What is your mobile number?")
    checked_page(page, seen)
    choose_by_keyboard(page, page.get_by_label("Country of your mobile number"), "NG",
                       "Nigeria")
    tab_to(page, page.get_by_label("Mobile number", exact=True))
    page.keyboard.type("07700 900123")  # a UK drama number, not a Nigerian mobile
    page.keyboard.press("Enter")
    summary = page.locator(".nhsuk-error-summary")
    expect(summary).to_contain_text("Enter a real mobile number")
    expect(summary).to_be_focused()  # NHS error summary takes focus for screen readers
    expect(page).to_have_title(re.compile("^Error: "))
    checked_page(page, seen)
    tab_to(page, summary.get_by_role("link"))
    page.keyboard.press("Enter")
    number = page.get_by_label("Mobile number", exact=True)
    expect(number).to_be_focused()
    expect(number).to_have_value("07700 900123")  # what was typed is kept
    page.keyboard.press("Control+A")
    page.keyboard.type("0803 123 4567")
    page.keyboard.press("Enter")

    heading(page, "Which time zone do you live in now?")
    expect(page.get_by_label("Your time zone now")).to_have_value("Africa/Lagos")
    checked_page(page, seen)
    continue_by_keyboard(page)

    heading(page, "What may your buddy family see?")
    checked_page(page, seen)
    tab_to(page, page.get_by_label("My email address"))
    page.keyboard.press("Space")
    continue_by_keyboard(page)

    heading(page, "Which region will you train or work in?")
    checked_page(page, seen)
    choose_by_keyboard(page, page.get_by_label("Region"), "yorkshire-humber", "Yorkshire")
    continue_by_keyboard(page)

    heading(page, "Which GP training scheme are you in?")
    checked_page(page, seen)
    choose_by_keyboard(page, page.get_by_label("Training scheme"), "yorkshire-humber:leeds",
                       "Leeds")
    continue_by_keyboard(page)

    heading(page, "What is your training stage?")
    checked_page(page, seen)
    tab_to(page, page.get_by_label("ST1"))
    page.keyboard.press("Space")
    continue_by_keyboard(page)

    heading(page, "When do you expect to arrive or start?")
    checked_page(page, seen)
    tab_to(page, page.get_by_label("Day"))
    page.keyboard.type("31")
    page.keyboard.press("Tab")
    page.keyboard.type("2")
    page.keyboard.press("Tab")
    page.keyboard.type("2027")
    page.keyboard.press("Enter")
    expect(page.locator(".nhsuk-error-summary")).to_contain_text("real date")
    checked_page(page, seen)
    tab_to(page, page.get_by_label("Day"))
    page.keyboard.press("Control+A")
    page.keyboard.type("5")
    page.keyboard.press("Tab")
    page.keyboard.press("Control+A")
    page.keyboard.type("8")
    page.keyboard.press("Enter")

    heading(page, "Would you like to talk to an ambassador?")
    checked_page(page, seen)
    tab_to(page, page.get_by_label("Yes, I would like to talk to a doctor"))
    page.keyboard.press("Space")
    continue_by_keyboard(page)

    heading(page, "What are you interested in?")
    checked_page(page, seen)
    tab_to(page, page.get_by_label("Paediatrics"))
    page.keyboard.press("Space")
    continue_by_keyboard(page)

    heading(page, "Optional questions to help us match you")
    checked_page(page, seen)
    tab_to(page, page.get_by_label("I agree that Buddy may store the answers"))
    page.keyboard.press("Space")
    continue_by_keyboard(page)

    heading(page, "Where did you get your primary medical qualification?")
    expect(page.get_by_text("Question 14 of 17")).to_be_visible()
    checked_page(page, seen)
    choose_by_keyboard(page, page.get_by_label("Country where you got"), "NG", "Nigeria")
    continue_by_keyboard(page)

    heading(page, "Which languages do you speak besides English?")
    checked_page(page, seen)
    tab_to(page, page.get_by_label("Yoruba"))
    page.keyboard.press("Space")
    tab_to(page, page.get_by_label("Other languages"))
    page.keyboard.type("Hausa")
    page.keyboard.press("Enter")

    heading(page, "What is your gender?")
    checked_page(page, seen)
    continue_by_keyboard(page)  # optional: left blank

    heading(page, "What would you like help with?")
    checked_page(page, seen)
    tab_to(page, page.get_by_label("Finding somewhere to live"))
    page.keyboard.press("Space")
    continue_by_keyboard(page)

    heading(page, "Check your answers")
    expect(page.locator(".nhsuk-summary-list")).to_contain_text("Aisha Bello")
    expect(page.locator(".nhsuk-summary-list")).to_contain_text("5 August 2027")
    checked_page(page, seen)
    # Change the name from here, and come back here.
    tab_to(page, page.get_by_role("link", name="Change name"))
    page.keyboard.press("Enter")
    heading(page, "What is your name?")
    name = page.get_by_label("Full name")
    tab_to(page, name)
    page.keyboard.press("Control+A")
    page.keyboard.type("Aisha O. Bello")
    page.keyboard.press("Enter")
    heading(page, "Check your answers")
    expect(page.locator(".nhsuk-summary-list")).to_contain_text("Aisha O. Bello")

    # Forget the agreement: the password is asked for again, with a word.
    tab_to(page, page.get_by_label("Create a password"))
    page.keyboard.type("lagos to leeds 2027")
    tab_to(page, page.get_by_role("button", name="Join Buddy"))
    page.keyboard.press("Enter")
    summary = page.locator(".nhsuk-error-summary")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link")).to_have_text([
        "For your security, enter your password again",
        "Tick the box to agree that we may contact you, or we cannot match you"])
    expect(page.get_by_label("Create a password")).to_have_value("")
    checked_page(page, seen)
    tab_to(page, page.get_by_label("Create a password"))
    page.keyboard.type("lagos to leeds 2027")
    tab_to(page, page.get_by_label("I agree that Buddy may contact me"))
    page.keyboard.press("Space")
    tab_to(page, page.get_by_role("button", name="Join Buddy"))
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="You have joined Buddy")).to_be_visible()
    checked_page(page, seen)
    assert len(seen) == 23  # every page of the flow, two with errors, and the start
    user = session.exec(select(User)).one()
    person = session.exec(select(Person)).one()
    assert (user.email, person.full_name) == ("aisha.bello@example.org", "Aisha O. Bello")
    assert (person.phone, person.channel, person.timezone, person.region, person.scheme) == (
        "+2348031234567", "whatsapp", "Africa/Lagos", "yorkshire-humber", "leeds")
    assert person.languages == ["yo", "ha"] and person.country == "NG"
    assert person.support_needs == ["housing"] and person.wants_ambassador
    assert str(person.arrival_date) == "2027-08-05" and person.share_email


def answer(page, *, fill: dict | None = None, check: tuple = (), select: dict | None = None,
           button: str = "Continue") -> None:
    for label, value in (fill or {}).items():
        page.get_by_label(label, exact=True).fill(value)
    for label in check:
        page.get_by_label(label, exact=True).check()
    for label, value in (select or {}).items():
        page.get_by_label(label, exact=True).select_option(value)
    page.get_by_role("button", name=button).click()
    page.wait_for_load_state()


def test_a_uk_volunteer_joins_with_a_uk_mobile_and_uk_time(live_server, phone_at, session):
    page = phone_at("Europe/London", axe=True)
    seen: list[str] = []
    page.goto(live_server + "/join/")
    page.get_by_role("link", name="I want to be a buddy").click()
    expect(page.get_by_text("Question 1 of 15")).to_be_visible()
    for step in [
        dict(fill={"Email address": "tom.baker@example.org"}),
        dict(fill={"Full name": "Tom Baker"}),
        dict(check=("Text message (SMS)",)),
        dict(fill={"Mobile number": "07911 123456"}),  # no country chosen: a UK mobile
    ]:
        checked_page(page, seen)
        answer(page, **step)
    zone = page.get_by_label("Your time zone now")
    expect(zone).to_have_value("Europe/London")
    assert zone.evaluate("s => s.selectedOptions[0].text") == "United Kingdom (UK time)"
    for step in [
        dict(),  # time zone
        dict(),  # nothing more shared
        dict(select={"Region": "london"}),
        dict(),  # scheme: not sure yet
        dict(check=("GP trainee, ST3",)),
        dict(check=("Primary care (general practice)",)),
        dict(check=("2",)),
        dict(check=("I would lead a family (be its anchor)",)),
        dict(fill={"GMC number": "712345"}),
    ]:
        checked_page(page, seen)
        answer(page, **step)
    expect(page.locator(".nhsuk-error-summary")).to_contain_text("7 digits")
    checked_page(page, seen)
    answer(page, fill={"GMC number": "7123456"})
    checked_page(page, seen)
    answer(page)  # no interests
    checked_page(page, seen)
    answer(page)  # no optional questions
    heading(page, "Check your answers")
    checked_page(page, seen)
    answer(page, fill={"Create a password": "a quiet ward at night"},
           check=("I agree that Buddy may contact me about buddying by the way I chose above",),
           button="Volunteer")
    expect(page.get_by_role("heading", name="You have joined Buddy")).to_be_visible()
    expect(page.get_by_text("will check your details")).to_be_visible()
    checked_page(page, seen)
    person = session.exec(select(Person)).one()
    assert (person.role, person.status, person.phone, person.timezone, person.capacity,
            person.can_anchor, person.gmc_number) == (
        "buddy", "pending", "+447911123456", "Europe/London", 2, True, "7123456")


def test_stop_on_a_phone_and_carry_on_from_the_emailed_link_on_a_laptop(live_server, phone_at,
                                                                        browser, session):
    page = phone_at("Asia/Manila", axe=True)
    page.goto(live_server + "/join/newcomer")
    answer(page, fill={"Email address": "maria.santos@example.org"})
    answer(page, fill={"Full name": "Maria Santos"})
    answer(page, check=("WhatsApp",))
    answer(page, fill={"Mobile number": "+63 917 123 4567"})
    # The number points to Manila, and so does the phone's own clock.
    expect(page.get_by_label("Your time zone now")).to_have_value("Asia/Manila")
    page.close()  # stopped here

    body = session.exec(select(Message.body).where(Message.kind == "signup_link")).one()
    link = re.search(r"http://localhost(/join/continue/\S+)", body)[1]
    laptop = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True,
                                 timezone_id="Europe/London")
    try:
        other = laptop.new_page()
        other.goto(live_server + link)
        heading(other, "Which time zone do you live in now?")  # the first unanswered
        assert axe_problems(other) == []
        # In the UK now, with a Philippine number: the phone's clock (UK) comes first, and
        # the zone is asked about once.
        zone = other.get_by_label("Your time zone now")
        expect(zone).to_have_value("Europe/London")
        answer(other)
        summary = other.locator(".nhsuk-error-summary")
        expect(summary).to_contain_text(
            "Your phone number is from the Philippines but you chose UK time: is that right?")
        assert axe_problems(other) == []
        answer(other, check=("Yes, UK time is right",))
        heading(other, "What may your buddy family see?")
        # Back links keep the answers.
        other.get_by_role("link", name="Back").click()
        expect(other.get_by_label("Your time zone now")).to_have_value("Europe/London")
        other.get_by_role("link", name="Back").click()
        expect(other.get_by_label("Mobile number", exact=True)).to_have_value(
            "+63 917 123 4567")
        other.get_by_role("link", name="Back").click()
        expect(other.get_by_label("WhatsApp", exact=True)).to_be_checked()
        other.goto(live_server + link)
        heading(other, "What may your buddy family see?")
        answer(other)
        answer(other, select={"Region": "kent-surrey-sussex"})
        answer(other)
        answer(other, check=("ST1",))
        answer(other, fill={"Day": "5", "Month": "8", "Year": "2027"})
        answer(other)
        answer(other)
        answer(other)
        heading(other, "Check your answers")
        answer(other, fill={"Create a password": "manila to margate 2027"},
               check=("I agree that Buddy may contact me about buddying by the way I chose "
                      "above",), button="Join Buddy")
        expect(other.get_by_role("heading", name="You have joined Buddy")).to_be_visible()
    finally:
        laptop.close()
    person = session.exec(select(Person)).one()
    assert (person.full_name, person.phone, person.timezone, person.region) == (
        "Maria Santos", "+639171234567", "Europe/London", "kent-surrey-sussex")


def test_a_member_puts_a_wrong_saved_zone_right_on_a_phone(live_server, phone_at, factory,
                                                           session):
    from tests.factories import PASSWORD

    person = factory.newcomer(email="maria@example.org", phone="+63 917 123 4567",
                              phone_country="", timezone="Asia/Manila")
    person.timezone = "Africa/Abidjan"  # what the old form saved for anyone who did not choose
    session.add(person)
    session.commit()
    page = phone_at("Asia/Manila", axe=True)
    page.goto(live_server + "/login")
    page.get_by_label("Email address").fill("maria@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(live_server + "/account/")
    expect(page.get_by_text("Your phone number is from the Philippines")).to_be_visible()
    page.get_by_role("link", name="Change your time zone").click()
    zone = page.get_by_label("Your time zone now")
    expect(zone).to_have_value("Africa/Abidjan")  # the saved zone, never changed unasked
    zone.select_option("America/New_York")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".nhsuk-error-summary")).to_contain_text(
        "Your phone number is from the Philippines but you chose New York time")
    assert fits_the_screen(page)
    assert axe_problems(page) == []
    zone.select_option("Asia/Manila")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Your details have been saved")).to_be_visible()
    expect(page.get_by_text("Philippines (Manila time, UTC+8)")).to_be_visible()
    session.expire_all()
    assert session.get(Person, person.id).timezone == "Asia/Manila"
