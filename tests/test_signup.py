"""Newcomer and volunteer sign-up: happy paths and every bad input a person might give."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from sqlmodel import func, select

from buddy.messaging.models import Message
from buddy.models import Person, SignupDraft, User
from tests.factories import join, mobile, newcomer_form, volunteer_form


def error_summary(response) -> list[str]:
    page = response.get_data(as_text=True)
    block = re.search(r'nhsuk-error-summary__list">(.*?)</ul>', page, re.S)
    assert block, "expected an error summary on the page"
    items = re.findall(r"<li>(.*?)</li>", block.group(1), re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", item)).strip() for item in items]


def draft_of(session) -> SignupDraft:
    session.expire_all()
    return session.exec(select(SignupDraft).order_by(SignupDraft.id.desc())).first()


def open_page(client, url: str, form: dict, page: str):
    """Answer the pages before `page` with `form` (from the first page at `url`); GET it."""
    response = client.post(url, data={"email": form["email"]})
    for _ in range(30):
        location = response.headers["Location"]
        if location.startswith(f"/join/step/{page}"):
            return client.get(location)
        if location.startswith("/join/continue/"):
            response = client.get(location)
        else:
            assert location.startswith("/join/step/"), (location, page)
            response = client.post(location, data=form)
            assert response.status_code == 302, error_summary(response)
    raise AssertionError(f"never reached {page}")


def count(session, model) -> int:
    session.expire_all()
    return session.exec(select(func.count()).select_from(model)).one()


def test_newcomer_signs_up_and_lands_on_next_steps(client, session):
    form = newcomer_form(email="  Amina.Yusuf@NHS.uk ", phone_country="NG", phone="0803 123 4567",
                         timezone="Africa/Lagos",
                         sensitive_consent="y", country="NG", languages=["yo"],
                         other_languages="Igbo, hausa", gender="female",
                         same_gender_anchor="y", support_needs=["housing", "exams"],
                         wants_ambassador="y")
    response = join(client, "/join/newcomer", form)
    assert response.status_code == 302
    assert response.headers["Location"] == "/join/done"
    page = client.get("/join/done").get_data(as_text=True)
    assert "You have joined Buddy" in page
    assert "introduce you to an ambassador" in page

    user = session.exec(select(User)).one()
    person = session.exec(select(Person)).one()
    assert user.email == "amina.yusuf@nhs.uk"
    assert user.password_hash.startswith("$argon2id$")
    assert person.phone == "+2348031234567"
    assert person.status == "active"
    assert person.languages == ["yo", "ig", "ha"]
    assert person.country == "NG" and person.gender == "female"
    assert person.same_gender_anchor is True
    assert person.support_needs == ["housing", "exams"]
    assert person.sensitive_consent_at is not None
    assert str(person.arrival_date) == "2027-08-04"


@pytest.mark.parametrize("role", ["buddy", "ambassador"])
def test_volunteer_signs_up_and_waits_for_approval(client, session, role):
    response = join(client, f"/join/volunteer/{role}", volunteer_form(setting="secondary"))
    assert response.status_code == 302
    person = session.exec(select(Person)).one()
    assert (person.role, person.status, person.setting, person.capacity) == (
        role, "pending", "secondary", 3)
    assert person.gmc_number == "7123456"
    assert "check your details" in client.get("/join/done").get_data(as_text=True)


def test_sensitive_questions_are_asked_only_after_agreeing(client, session):
    """Country, languages, gender and help sit behind their own agreement: without it they
    are not asked, a page sent anyway is refused, and nothing of them is stored."""
    response = join(client, "/join/newcomer", newcomer_form(country="EG", languages=["ar"],
                                                           gender="female"))
    assert response.headers["Location"] == "/join/done"
    person = session.exec(select(Person)).one()
    assert (person.country, person.languages, person.gender, person.sensitive_consent_at) == (
        None, [], None, None)
    other = client.application.test_client()
    open_page(other, "/join/newcomer", newcomer_form(), "optional")
    for page in ("country", "languages", "gender", "support"):
        assert other.get(f"/join/step/{page}").status_code == 404
        assert other.post(f"/join/step/{page}", data={"country": "EG"}).status_code == 404


def test_answers_given_then_unagreed_are_forgotten(client, session):
    form = newcomer_form(sensitive_consent="y", country="EG", languages=["ar"])
    open_page(client, "/join/newcomer", form, "gender")
    assert draft_of(session).answers["country"] == "EG"
    # Back to the agreement, untick it: the optional answers leave the draft at once.
    response = client.post("/join/step/optional", data={})
    assert response.headers["Location"] == "/join/check"  # every page left is answered
    answers = draft_of(session).answers
    assert not {"country", "languages", "gender", "support_needs"} & set(answers)
    assert client.get("/join/step/country").status_code == 404


def test_without_sensitive_answers_no_consent_is_needed(client, session):
    assert join(client, "/join/newcomer", newcomer_form()).status_code == 302
    person = session.exec(select(Person)).one()
    assert person.sensitive_consent_at is None and person.languages == []


@pytest.mark.parametrize(
    ("phone", "country", "message"),
    [
        # Ofcom drama range
        ("07700 900123", "GB", "Enter a real mobile number for the United Kingdom"),
        ("07700 900123", "", "Enter a UK mobile number, like 07911 123456"),
        ("020 7946 0000", "GB", "not a landline"),
        ("020 7946 0000", "", "Enter a UK mobile number, like 07911 123456"),
        ("+44 20 7946 0000", "", "not a landline"),
        (mobile("GB") + " ext. 12", "GB", "without an extension"),
        ("", "GB", "Enter a mobile number, or choose email"),
        # An Indian number without +91: the message says how to give a number from abroad.
        ("98765 43210", "", "start it with + and the country code"),
        ("98765 43210", "GB", "Enter a real mobile number for the United Kingdom"),
        ("+63 12", "", "Enter a real mobile number for the Philippines"),
        ("not a number", "GB", "digits only"),
    ],
)
def test_bad_mobile_numbers_get_a_clear_message(client, session, phone, country, message):
    response = join(client, "/join/newcomer", newcomer_form(phone=phone,
                                                               phone_country=country))
    assert response.status_code == 200
    assert any(message in e for e in error_summary(response)), error_summary(response)
    assert count(session, User) == 0


def test_foreign_number_with_its_country_is_stored_in_e164(client, session):
    join(client, "/join/newcomer", newcomer_form(phone="98765 43210", phone_country="IN"))
    assert session.exec(select(Person.phone)).one() == "+919876543210"


@pytest.mark.parametrize(
    ("overrides", "field_message"),
    [
        ({"full_name": ""}, "Enter your full name"),
        ({"full_name": "Amina\r\nBcc: x@evil.example"}, "without line breaks"),
        ({"email": "not-an-email"}, "correct format"),
        ({"password": "short"}, "at least 10 characters"),
        ({"contact_consent": None}, "agree that we may contact you"),
        ({"channel": None}, "how you would like us to contact you"),
        ({"timezone": "Mars/Olympus"}, "time zone"),
        ({"region": "atlantis"}, "region"),
        ({"scheme": "wessex:poole"}, "scheme is in another region"),
        ({"stage": "ST9"}, "training stage"),
        ({"arrival_day": "31", "arrival_month": "2"}, "real date"),
        ({"arrival_day": None, "arrival_month": None, "arrival_year": None}, "expect to arrive"),
        ({"arrival_year": "2031"}, "within the next 2 years"),
        ({"interests": ["paediatrics", "education", "research", "frailty"]}, "up to 3"),
        ({"sensitive_consent": "y", "other_languages": "Klingon"}, "do not recognise 'Klingon'"),
        ({"sensitive_consent": "y", "same_gender_anchor": "y"}, "tell us your gender"),
    ],
)
def test_bad_newcomer_input_is_explained(client, session, overrides, field_message):
    response = join(client, "/join/newcomer", newcomer_form(**overrides))
    assert response.status_code == 200
    errors = error_summary(response)
    assert any(field_message.lower() in e.lower() for e in errors), errors
    assert count(session, User) == 0


@pytest.mark.parametrize(
    ("overrides", "field_message"),
    [
        ({"gmc_number": "12345"}, "7 digits"),
        ({"gmc_number": "71234567"}, "7 digits"),
        ({"setting": None}, "primary or secondary"),
        ({"capacity": "9"}, "from 0 to 4"),
        ({"stage": "ST1"}, "training stage"),
    ],
)
def test_bad_volunteer_input_is_explained(client, session, overrides, field_message):
    response = join(client, "/join/volunteer/buddy", volunteer_form(**overrides))
    assert response.status_code == 200
    assert any(field_message in e for e in error_summary(response)), error_summary(response)
    assert count(session, Person) == 0


def test_email_differing_only_in_case_and_spaces_is_one_account(app, session):
    first = join(app.test_client(), "/join/newcomer", newcomer_form(email=" A@NHS.uk"))
    second = join(app.test_client(), "/join/newcomer", newcomer_form(email="a@nhs.uk"))
    assert first.status_code == second.status_code == 302
    assert session.exec(select(User.email)).all() == ["a@nhs.uk"]


def test_double_clicked_submit_makes_one_account_and_no_error(app, session):
    form = newcomer_form(email="twice@example.org")
    clients = [app.test_client() for _ in range(2)]
    responses = [join(c, "/join/newcomer", form) for c in clients]
    assert [r.headers["Location"] for r in responses] == ["/join/done"] * 2
    assert count(session, User) == 1 and count(session, Person) == 1
    # The account the first click made is not warned about the second.
    assert session.exec(select(Message).where(Message.kind == "signup_attempt")).all() == []


def main_content(client) -> str:
    """What /join/done shows inside <main>, the parts that do not depend on being signed in."""
    page = client.get("/join/done").get_data(as_text=True)
    return re.search(r'<main .*?</main>', page, re.S).group(0)


def owner_with_an_old_account(factory, session, email: str) -> User:
    user = factory.user_of(factory.newcomer(email=email))
    user.created_at -= timedelta(days=30)
    session.add(user)
    session.commit()
    return user


@pytest.mark.parametrize("role_url", ["/join/newcomer", "/join/volunteer/buddy"])
def test_signing_up_with_a_taken_address_answers_the_same_as_a_new_one(
        app, factory, session, role_url):
    """Nobody learns from the sign-up whether an address has an account; its owner is told."""
    owner = owner_with_an_old_account(factory, session, "taken@example.org")
    form = newcomer_form if role_url.endswith("newcomer") else volunteer_form
    new_client, taken_client = app.test_client(), app.test_client()
    new = join(new_client, role_url, form(email="fresh@example.org", full_name="Sam Lee"))
    taken = join(taken_client, role_url, form(email=" Taken@Example.org",
                                                  full_name="Sam Lee"))
    assert (taken.status_code, taken.headers["Location"]) == (
        new.status_code, new.headers["Location"]) == (302, "/join/done")
    assert main_content(taken_client) == main_content(new_client).replace(
        "fresh@example.org", "taken@example.org")
    assert "already exists" not in main_content(taken_client)
    # The taken address is not signed in, and its account is unchanged.
    assert taken_client.get("/account/").status_code == 302
    session.expire_all()
    assert session.exec(select(func.count()).select_from(User)
                        .where(User.email == "taken@example.org")).one() == 1
    assert session.get(User, owner.id).password_hash == owner.password_hash
    notice = session.exec(select(Message).where(Message.kind == "signup_attempt")).one()
    assert (notice.user_id, notice.to_address, notice.channel) == (
        owner.id, "taken@example.org", "email")
    assert "http://localhost/login" in notice.body
    assert "http://localhost/forgot-password" in notice.body


def test_a_taken_address_with_other_mistakes_shows_only_the_mistakes(factory, session, client):
    owner_with_an_old_account(factory, session, "taken@example.org")
    response = join(client, "/join/newcomer", newcomer_form(email="taken@example.org",
                                                                password="short"))
    assert response.status_code == 200
    assert error_summary(response) == ["Password must be at least 10 characters"]
    assert session.exec(select(Message).where(Message.kind == "signup_attempt")).all() == []


def test_warnings_to_the_owner_of_a_taken_address_are_limited(app, factory, session):
    owner_with_an_old_account(factory, session, "popular@example.org")
    for _ in range(5):
        response = join(app.test_client(), "/join/newcomer",
                        newcomer_form(email="popular@example.org"))
        assert response.headers["Location"] == "/join/done"
    session.expire_all()
    notices = session.exec(select(Message).where(Message.kind == "signup_attempt")).all()
    assert len(notices) == 3


@pytest.mark.parametrize(
    "name",
    ["محمد عبد الله", "אברהם כהן", "Nguyễn Thị Ánh", "Chidi 🙂 Okafor", "Zoë O'Brien-Łukasz",
     "王小明", "अर्जुन शर्मा", "ਗੁਰਪ੍ਰੀਤ ਕੌਰ", "சுப்பிரமணியன்", "Dr. J. R. Smith Jr",
     # ZWNJ in Persian, ZWJ in Malayalam and Devanagari: joiners that shape the letters.
     "مهر\u200cانگیز", "ശ്രീ\u200dകുമാർ", "क्\u200dष", "Sam 👩\u200d⚕️ Lee"],
)
def test_names_in_any_script_are_kept_exactly(client, session, name):
    assert join(client, "/join/newcomer", newcomer_form(full_name=name)).status_code == 302
    assert session.exec(select(Person.full_name)).one() == name
    assert name in html.unescape(client.get("/account/").get_data(as_text=True))


@pytest.mark.parametrize(("typed", "stored"), [
    ("  Ana   María\tLópez  ", "Ana María López"),
    ("Zoe\u0308", "Zoë"),  # decomposed: stored composed (NFC), so it sorts and matches once
    ("Ana\u00a0Lopez", "Ana Lopez"),
    ("Ana\u3000Lopez", "Ana Lopez"),
])
def test_names_are_stored_composed_with_single_spaces(client, session, typed, stored):
    assert join(client, "/join/newcomer", newcomer_form(full_name=typed)).status_code == 302
    assert session.exec(select(Person.full_name)).one() == stored


INVISIBLE_NAMES = [
    ("Amina\u2028Yusuf", "one line"),  # line separator
    ("Amina\u2029Yusuf", "one line"),  # paragraph separator
    ("\u202eanimA", "text-direction"),  # right-to-left override: shows reversed
    ("Amina \u202aYusuf\u202c", "text-direction"),
    ("Amina \u202dYusuf", "text-direction"),
    ("\u2066Amina\u2069 Yusuf", "text-direction"),  # isolates
    ("\u2067Amina\u2069", "text-direction"),
    ("\u2068Amina\u2069", "text-direction"),
    ("Amina\u200fYusuf", "text-direction"),
    ("Ami\u200bna", "U+200B"),  # zero-width space
    ("\ufeffAmina", "U+FEFF"),
    ("Ami\u00adna", "U+00AD"),  # soft hyphen
    ("\u00ad", "U+00AD"),
    ("Amina\u2060", "U+2060"),  # word joiner
    ("\u200dAmina", "U+200D"),  # a joiner at an edge joins nothing
    ("Amina \u200c Yusuf", "U+200C"),
    ("\u3164", "U+3164"),  # Hangul filler: a letter that draws nothing
    ("   ", "Enter your full name"),
    ("\u3000\u00a0", "Enter your full name"),
    ("\u200b\u200b", "U+200B"),
    ("\U000e0041mina", "U+E0041"),  # tag character
    ("\ue000Amina", "U+E000"),  # private use
    ("123 456", "in letters"),
]


@pytest.mark.parametrize(("name", "message"), INVISIBLE_NAMES)
def test_invisible_or_reordering_names_are_refused_with_a_reason(client, session, name,
                                                                 message):
    response = join(client, "/join/newcomer", newcomer_form(full_name=name))
    assert response.status_code == 200
    assert any(message in e for e in error_summary(response)), error_summary(response)
    assert count(session, User) == 0


def test_markup_in_any_field_is_shown_as_text_never_run(client, session):
    script = '<script>alert("x")</script>'
    join(client, "/join/newcomer", newcomer_form(full_name=script))
    page = client.get("/account/").get_data(as_text=True)
    assert script not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    response = client.post("/account/edit", data={**newcomer_form(), "full_name": script,
                                                   "gmc_number": script,
                                                   "other_languages": script,
                                                   "sensitive_consent": "y"})
    assert script not in response.get_data(as_text=True)


def test_signup_pages_are_built_for_phones(client):
    page = client.get("/join/newcomer").get_data(as_text=True)
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in page
    assert 'type="email"' in page and 'autocomplete="email"' in page
    form = newcomer_form()
    mobile_page = open_page(client, "/join/newcomer", form, "mobile").get_data(as_text=True)
    assert 'type="tel"' in mobile_page and 'autocomplete="tel"' in mobile_page
    arrival = open_page(client, "/join/newcomer", form, "arrival").get_data(as_text=True)
    assert 'inputmode="numeric"' in arrival
    # No "IMG" label for anyone: the service is for everyone new to the NHS.
    for url in ["/join/newcomer"] + [f"/join/step/{p}" for p in (
            "name", "contact", "mobile", "time-zone", "share", "region", "scheme", "stage",
            "arrival", "ambassador", "interests", "optional")]:
        assert "IMG" not in client.get(url).get_data(as_text=True)


def test_unknown_volunteer_role_is_not_found(client):
    assert client.get("/join/volunteer/admin").status_code == 404


def test_a_taken_address_costs_the_same_password_hash_as_a_new_one(app, factory, session,
                                                                    monkeypatch):
    """Hashing the password is most of a sign-up's time: a taken address must not skip it.

    Counts argon2's own hash calls (the real ones still run).
    """
    from argon2 import PasswordHasher

    owner_with_an_old_account(factory, session, "taken@example.org")
    hashes: list[str] = []
    real_hash = PasswordHasher.hash

    def counted(self, password, **kw):
        hashes.append(password)
        return real_hash(self, password, **kw)

    monkeypatch.setattr(PasswordHasher, "hash", counted)
    join(app.test_client(), "/join/newcomer", newcomer_form(email="fresh@example.org"))
    join(app.test_client(), "/join/newcomer", newcomer_form(email="taken@example.org"))
    assert len(hashes) == 2


# Issue 15: UK mobiles, time zones in words, passwords asked for again.

def selected_option(page: str, select_id: str) -> tuple[str, str] | None:
    """(value, label) of the option the browser would show chosen, or None."""
    block = re.search(rf'<select[^>]*id="{select_id}".*?</select>', page, re.S).group(0)
    chosen = re.findall(r'<option value="([^"]*)" selected>([^<]*)</option>', block)
    return (chosen[0][0], html.unescape(chosen[0][1])) if chosen else None


@pytest.mark.parametrize("typed", ["07911 123456", "07911123456", "+44 7911 123456",
                                   "447911123456", "0044 7911 123456"])
def test_a_uk_mobile_is_accepted_without_choosing_a_country(client, session, typed):
    response = join(client, "/join/volunteer/buddy", volunteer_form(
        channel="sms", phone=typed, phone_country=""))
    assert response.status_code == 302, error_summary(response)
    assert session.exec(select(Person.phone)).one() == "+447911123456"


def test_the_hint_shows_only_numbers_that_are_accepted(client, session):
    page = open_page(client, "/join/newcomer", newcomer_form(), "mobile").get_data(
        as_text=True)
    hint = html.unescape(re.search(r'id="phone-hint">([^<]*)<', page).group(1))
    examples = re.findall(r"\+?[0-9][0-9 ]{8,}[0-9]", hint)
    assert examples == ["07911 123456", "+63 917 123 4567"]
    for n, number in enumerate(examples):
        zone = "Asia/Manila" if number.startswith("+63") else "Europe/London"
        response = join(client, "/join/newcomer", newcomer_form(
            email=f"hint{n}@example.org", phone=number, phone_country="", timezone=zone))
        assert response.status_code == 302, error_summary(response)
        client.post("/logout")
    assert sorted(session.exec(select(Person.phone)).all()) == ["+447911123456",
                                                                "+639171234567"]


def test_a_number_from_abroad_without_its_code_says_what_to_fix_and_keeps_it(client, session):
    response = join(client, "/join/newcomer", newcomer_form(phone="0917 123 4567",
                                                               phone_country=""))
    errors = error_summary(response)
    assert any("start it with + and the country code" in e for e in errors), errors
    assert 'value="0917 123 4567"' in response.get_data(as_text=True)
    assert count(session, Person) == 0
    # With its country chosen, the same digits are a Philippine mobile.
    response = join(client, "/join/newcomer", newcomer_form(
        phone="0917 123 4567", phone_country="PH", timezone="Asia/Manila"))
    assert response.status_code == 302
    assert session.exec(select(Person.phone)).one() == "+639171234567"


def test_time_zones_are_in_words_and_nothing_is_chosen_without_a_mobile(client):
    page = open_page(client, "/join/newcomer", newcomer_form(
        channel="email", phone=None, phone_country=None), "time-zone").get_data(as_text=True)
    assert selected_option(page, "timezone") == ("", "Choose your time zone")
    labels = [html.unescape(x) for x in re.findall(
        r'<option value="[A-Z][^"]*/[^"]*"[^>]*>([^<]*)</option>', page)]
    for words in ("Philippines (Manila time, UTC+8)", "United Kingdom (UK time)",
                  "Nigeria (West Africa time, UTC+1)", "India (India time, UTC+5:30)"):
        assert words in labels
    assert "Africa/Abidjan" not in labels and not any("_" in label for label in labels)


@pytest.mark.parametrize("role", ["buddy", "ambassador"])
def test_uk_volunteers_start_from_uk_time(client, role):
    page = open_page(client, f"/join/volunteer/{role}", volunteer_form(),
                     "time-zone").get_data(as_text=True)
    assert selected_option(page, "timezone") == ("Europe/London", "United Kingdom (UK time)")


def test_without_a_time_zone_a_newcomer_must_choose(client, session):
    response = join(client, "/join/newcomer", newcomer_form(
        channel="email", phone=None, phone_country=None, timezone=""))
    assert "Choose the time zone where you live now" in error_summary(response)
    assert selected_option(response.get_data(as_text=True), "timezone")[0] == ""
    assert count(session, Person) == 0


def test_a_philippine_number_proposes_manila_time_to_confirm(client, session):
    form = newcomer_form(phone="+63 917 123 4567", phone_country="", timezone="")
    response = join(client, "/join/newcomer", form)
    assert any(e.startswith("Check your time zone: we chose Philippines (Manila time, UTC+8)")
               for e in error_summary(response)), error_summary(response)
    page = response.get_data(as_text=True)
    assert selected_option(page, "timezone") == (
        "Asia/Manila", "Philippines (Manila time, UTC+8)")
    suggested = re.search(r'<optgroup label="Suggested for you">(.*?)</optgroup>', page).group(1)
    assert re.findall(r'value="([^"]+)"', suggested)[:2] == ["Asia/Manila", "Europe/London"]
    assert count(session, Person) == 0  # proposed, not saved: the person sends it
    response = join(client, "/join/newcomer", {**form, "timezone": "Asia/Manila"})
    assert response.status_code == 302
    assert session.exec(select(Person.timezone)).one() == "Asia/Manila"


def test_a_zone_far_from_the_phone_is_asked_about_once(client, session):
    form = newcomer_form(phone="+63 917 123 4567", phone_country="", timezone="Europe/London")
    response = join(client, "/join/newcomer", form)
    question = ("Your phone number is from the Philippines but you chose UK time: is that"
                " right?")
    assert any(e.startswith(question) for e in error_summary(response)), error_summary(response)
    page = response.get_data(as_text=True)
    assert 'id="timezone_confirmed" name="timezone_confirmed" type="checkbox"' \
           ' value="Europe/London"' in page
    assert "Yes, UK time is right" in page
    assert count(session, Person) == 0
    # Ticking "Yes" saves it; the same answer is not asked again.
    response = join(client, "/join/newcomer", {**form, "timezone_confirmed": "Europe/London"})
    assert response.status_code == 302
    assert session.exec(select(Person.timezone)).one() == "Europe/London"


def test_a_yes_for_one_zone_does_not_confirm_another(client, session):
    form = newcomer_form(phone="+63 917 123 4567", phone_country="",
                         timezone="America/New_York", timezone_confirmed="Europe/London")
    errors = error_summary(join(client, "/join/newcomer", form))
    assert any("but you chose New York time" in e for e in errors), errors
    # Choosing the phone's own zone needs no question.
    response = join(client, "/join/newcomer", {**form, "timezone": "Asia/Manila"})
    assert response.status_code == 302


@pytest.mark.parametrize(("phone", "zone"), [
    ("07911 123456", "Europe/London"),     # a UK mobile that phonenumbers files under Guernsey
    ("+353 85 123 4567", "Europe/London"),  # an Irish number: the same clock as the UK's
    ("+234 803 123 4567", "Africa/Lagos"),
])
def test_zones_that_keep_the_phones_hours_are_not_questioned(client, session, phone, zone):
    response = join(client, "/join/newcomer", newcomer_form(
        phone=phone, phone_country="", timezone=zone))
    assert response.status_code == 302, error_summary(response)


@pytest.mark.parametrize(("zone", "stored"), [
    ("Asia/Calcutta", "Asia/Kolkata"), ("Asia/Kolkata", "Asia/Kolkata")])
def test_the_stored_zone_is_always_a_valid_iana_name(client, session, zone, stored):
    assert join(client, "/join/newcomer", newcomer_form(timezone=zone)).status_code == 302
    assert session.exec(select(Person.timezone)).one() == stored


@pytest.mark.parametrize(("phone", "country", "zone"), [
    ("+63 917 123 4567", "", "Asia/Manila"),
    ("0917 123 4567", "PH", "Asia/Manila"),
    ("07911 123456", "", "Europe/London"),
    ("+61 412 345 678", "", None),  # Australia has several zones: the person chooses
    ("12", "", None),
])
def test_the_page_script_asks_which_zone_a_number_points_to(client, phone, country, zone):
    response = client.post("/join/time-zone", data={"phone": phone, "phone_country": country})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json["zone"] == zone
    if phone.startswith("+61"):
        assert "Australia (Sydney time, UTC+11)" in [
            label for _zone, label in response.json["suggested"]]


def test_a_password_is_asked_for_again_with_a_word_after_any_error(client, session):
    typed = "my own secret passphrase"
    response = join(client, "/join/newcomer", newcomer_form(password=typed,
                                                           contact_consent=None))
    errors = error_summary(response)
    assert errors == ["For your security, enter your password again",
                      "Tick the box to agree that we may contact you, or we cannot match you"]
    page = response.get_data(as_text=True)
    assert typed not in page
    assert re.search(r'id="password-error">.*For your security, enter your password again',
                     page)
    # A password that was itself wrong gets only its own message.
    errors = error_summary(client.post("/join/check", data={"password": "short"}))
    assert "at least 10" in errors[0], errors
    assert not any("For your security" in e for e in errors)
    # The password is never kept: not in the draft, the outbox or the session cookie.
    assert typed not in str(draft_of(session).answers)
    assert not [m for m in session.exec(select(Message)) if typed in m.body]
    assert typed not in str(client.get_cookie("session").value)


def test_the_time_zone_page_comes_with_the_mobile_numbers_zone_chosen(client, session):
    """The page after the number shows the zone it points to, to be seen and sent (or
    changed): nothing is saved until the person sends the page."""
    page = open_page(client, "/join/newcomer", newcomer_form(
        phone="+63 917 123 4567", phone_country="", timezone=""), "time-zone").get_data(
        as_text=True)
    assert selected_option(page, "timezone") == ("Asia/Manila",
                                                 "Philippines (Manila time, UTC+8)")
    assert 'data-phone-zone="Asia/Manila"' in page
    assert "We chose this from your mobile number" in page
    assert "timezone" not in draft_of(session).answers
    assert client.post("/join/step/time-zone", data={"timezone": "Asia/Manila"}).status_code \
        == 302
    assert draft_of(session).answers["timezone"] == "Asia/Manila"


@pytest.mark.parametrize(("phone", "country", "zone", "shown"), [
    ("+91 98765 43210", "AF", "Asia/Kolkata", "+91 98765 43210 (India)"),
    ("98765 43210", "IN", "Asia/Kolkata", "+91 98765 43210 (India)"),
    ("07911 123456", "", "Europe/London", "+44 7911 123456 (United Kingdom)"),
])
def test_check_your_answers_shows_the_number_and_its_own_country(client, session, phone,
                                                                 country, zone, shown):
    """The country beside a number is the number's own: a "+91" number is India's whatever
    country was chosen beside it, and a UK mobile is not Guernsey's."""
    form = newcomer_form(phone=phone, phone_country=country, channel="sms", timezone=zone)
    open_page(client, "/join/newcomer", form, "ambassador")  # answers every page before it
    response = client.post("/join/step/ambassador", data=form)
    location = response.headers["Location"]
    while location != "/join/check":
        location = client.post(location, data=form).headers["Location"]
    page = html.unescape(re.sub(r"\s+", " ", client.get("/join/check").get_data(as_text=True)))
    assert shown in page
