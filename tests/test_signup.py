"""Newcomer and volunteer sign-up: happy paths and every bad input a person might give."""

from __future__ import annotations

import html
import re

import pytest
from sqlmodel import func, select

from buddy.models import Person, User
from tests.factories import mobile, newcomer_form, volunteer_form


def error_summary(response) -> list[str]:
    page = response.get_data(as_text=True)
    block = re.search(r'nhsuk-error-summary__list">(.*?)</ul>', page, re.S)
    assert block, "expected an error summary on the page"
    items = re.findall(r"<li>(.*?)</li>", block.group(1), re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", item)).strip() for item in items]


def count(session, model) -> int:
    session.expire_all()
    return session.exec(select(func.count()).select_from(model)).one()


def test_newcomer_signs_up_and_lands_on_next_steps(client, session):
    form = newcomer_form(email="  Amina.Yusuf@NHS.uk ", phone_country="NG", phone="0803 123 4567",
                         sensitive_consent="y", country="NG", languages=["yo"],
                         other_languages="Igbo, hausa", gender="female",
                         same_gender_anchor="y", support_needs=["housing", "exams"],
                         wants_ambassador="y")
    response = client.post("/join/newcomer", data=form)
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
    response = client.post(f"/join/volunteer/{role}", data=volunteer_form(setting="secondary"))
    assert response.status_code == 302
    person = session.exec(select(Person)).one()
    assert (person.role, person.status, person.setting, person.capacity) == (
        role, "pending", "secondary", 3)
    assert person.gmc_number == "7123456"
    assert "check your details" in client.get("/join/done").get_data(as_text=True)


def test_sensitive_answers_are_not_stored_without_consent(client, session):
    response = client.post("/join/newcomer", data=newcomer_form(country="EG", languages=["ar"]))
    assert response.status_code == 200
    assert any("Tick the box to let us use your country" in e for e in error_summary(response))
    assert count(session, Person) == 0
    # The answers are still on the page, so nothing typed is lost.
    assert 'value="EG" selected' in response.get_data(as_text=True)


def test_without_sensitive_answers_no_consent_is_needed(client, session):
    assert client.post("/join/newcomer", data=newcomer_form()).status_code == 302
    person = session.exec(select(Person)).one()
    assert person.sensitive_consent_at is None and person.languages == []


@pytest.mark.parametrize(
    ("phone", "country", "message"),
    [
        ("07700 900123", "GB", "Enter a real mobile number for GB"),  # Ofcom drama range
        ("020 7946 0000", "GB", "not a landline"),
        (mobile("GB") + " ext. 12", "GB", "without an extension"),
        ("", "GB", "Enter a mobile number, or choose email"),
        ("98765 43210", "", "Choose the country of your mobile number"),
        ("98765 43210", "GB", "Enter a real mobile number for GB"),  # Indian number, no +91
        ("not a number", "GB", "digits only"),
    ],
)
def test_bad_mobile_numbers_get_a_clear_message(client, session, phone, country, message):
    response = client.post("/join/newcomer", data=newcomer_form(phone=phone,
                                                               phone_country=country))
    assert response.status_code == 200
    assert any(message in e for e in error_summary(response)), error_summary(response)
    assert count(session, User) == 0


def test_foreign_number_with_its_country_is_stored_in_e164(client, session):
    client.post("/join/newcomer", data=newcomer_form(phone="98765 43210", phone_country="IN"))
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
    response = client.post("/join/newcomer", data=newcomer_form(**overrides))
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
    response = client.post("/join/volunteer/buddy", data=volunteer_form(**overrides))
    assert response.status_code == 200
    assert any(field_message in e for e in error_summary(response)), error_summary(response)
    assert count(session, Person) == 0


def test_email_differing_only_in_case_and_spaces_is_one_account(app, session):
    first = app.test_client().post("/join/newcomer", data=newcomer_form(email=" A@NHS.uk"))
    second = app.test_client().post("/join/newcomer", data=newcomer_form(email="a@nhs.uk"))
    assert first.status_code == 302
    assert second.status_code == 200
    assert any("already exists" in e for e in error_summary(second))
    assert session.exec(select(User.email)).all() == ["a@nhs.uk"]


def test_double_clicked_submit_makes_one_account_and_no_error(app, session):
    form = newcomer_form(email="twice@example.org")
    responses = [app.test_client().post("/join/newcomer", data=form) for _ in range(2)]
    assert sorted(r.status_code for r in responses) == [200, 302]
    assert count(session, User) == 1 and count(session, Person) == 1


@pytest.mark.parametrize(
    "name",
    ["محمد عبد الله", "אברהם כהן", "Nguyễn Thị Ánh", "Chidi 🙂 Okafor", "Zoë O'Brien-Łukasz"],
)
def test_names_in_any_script_are_kept_exactly(client, session, name):
    assert client.post("/join/newcomer", data=newcomer_form(full_name=name)).status_code == 302
    assert session.exec(select(Person.full_name)).one() == name
    assert name in html.unescape(client.get("/account/").get_data(as_text=True))


def test_markup_in_any_field_is_shown_as_text_never_run(client, session):
    script = '<script>alert("x")</script>'
    client.post("/join/newcomer", data=newcomer_form(full_name=script))
    page = client.get("/account/").get_data(as_text=True)
    assert script not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    response = client.post("/account/edit", data={**newcomer_form(), "full_name": script,
                                                   "gmc_number": script,
                                                   "other_languages": script,
                                                   "sensitive_consent": "y"})
    assert script not in response.get_data(as_text=True)


def test_signup_page_is_built_for_phones(client):
    page = client.get("/join/newcomer").get_data(as_text=True)
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in page
    assert 'type="tel"' in page and 'autocomplete="tel"' in page
    assert 'inputmode="numeric"' in page
    # No "IMG" label for anyone: the service is for everyone new to the NHS.
    assert "IMG" not in page


def test_unknown_volunteer_role_is_not_found(client):
    assert client.get("/join/volunteer/admin").status_code == 404
