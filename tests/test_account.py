"""A member's own account: edits, arrival date, status, consent, export and deletion."""

from __future__ import annotations

import json

from sqlmodel import select

from buddy.messaging.models import Message
from buddy.models import AuditEvent, Person, User
from tests.factories import PASSWORD, join, login, newcomer_form


def edit_form(**overrides) -> dict:
    form = newcomer_form()
    for key in ("email", "password", "contact_consent"):
        form.pop(key)
    form.update(overrides)
    return form


def signed_in(client, factory, **kw) -> Person:
    person = factory.newcomer(email="me@example.org", **kw)
    login(client, "me@example.org")
    return person


def test_edit_form_shows_saved_answers(client, factory):
    signed_in(client, factory, sensitive_consent=True, languages=["ur", "so"], country="PK")
    page = client.get("/account/edit").get_data(as_text=True)
    assert 'value="ur" checked' in page
    assert 'value="Somali"' in page
    assert 'value="PK" selected' in page
    assert 'value="2027"' in page


def test_member_changes_arrival_date_and_details(client, factory, session):
    person = signed_in(client, factory)
    response = client.post("/account/edit", data=edit_form(
        full_name="New Name", arrival_day="3", arrival_month="2", arrival_year="2028",
        channel="whatsapp"))
    assert response.headers["Location"] == "/account/"
    assert "Your details have been saved" in client.get("/account/").get_data(as_text=True)
    session.expire_all()
    saved = session.get(Person, person.id)
    assert (saved.full_name, str(saved.arrival_date), saved.channel) == (
        "New Name", "2028-02-03", "whatsapp")
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "profile_updated")).one()
    assert event.detail == {"changed": ["arrival_date", "full_name"]}


def test_a_newcomer_moved_on_to_qualified_keeps_it_and_can_save(app, client, factory, session):
    """Three training-year changes move a newcomer past ST3; their details still save."""
    person = signed_in(client, factory)
    person.stage = "qualified"
    session.add(person)
    session.commit()
    page = client.get("/account/edit").get_data(as_text=True)
    assert 'value="qualified" checked' in page
    response = client.post("/account/edit", data=edit_form(stage="qualified", full_name="Still Me"))
    assert response.headers["Location"] == "/account/"
    session.expire_all()
    assert session.get(Person, person.id).stage == "qualified"
    signup = join(app.test_client(), "/join/newcomer", newcomer_form(stage="qualified"))
    assert "Choose your training stage" in signup.get_data(as_text=True)


def test_bad_edit_saves_nothing(client, factory, session):
    person = signed_in(client, factory)
    response = client.post("/account/edit", data=edit_form(full_name="Changed",
                                                           phone="07700 900123",
                                                           phone_country="GB"))
    assert response.status_code == 200
    assert "Enter a real mobile number" in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(Person, person.id).full_name == person.full_name


def test_pause_resume_withdraw_rejoin(client, factory, session):
    person = signed_in(client, factory)
    for action, status in [("pause", "paused"), ("resume", "active"),
                           ("withdraw", "withdrawn"), ("rejoin", "active")]:
        assert client.post("/account/status", data={"action": action}).status_code == 302
        session.expire_all()
        assert session.get(Person, person.id).status == status
    # Resuming when not paused is refused with a message, and changes nothing.
    client.post("/account/status", data={"action": "resume"})
    assert "You cannot resume" in client.get("/account/").get_data(as_text=True)


def test_volunteer_who_rejoins_waits_for_approval_again(client, factory, session):
    person = factory.volunteer(email="vol@example.org")
    login(client, "vol@example.org")
    client.post("/account/status", data={"action": "withdraw"})
    client.post("/account/status", data={"action": "rejoin"})
    session.expire_all()
    assert session.get(Person, person.id).status == "pending"


def test_withdrawing_consent_deletes_sensitive_answers(client, factory, session):
    person = signed_in(client, factory, sensitive_consent=True, country="EG",
                       languages=["ar"], gender="female", same_gender_anchor=True,
                       support_needs=["visa"])
    client.post("/account/consent/withdraw")
    session.expire_all()
    saved = session.get(Person, person.id)
    assert (saved.country, saved.languages, saved.gender, saved.same_gender_anchor,
            saved.support_needs, saved.sensitive_consent_at) == (None, [], None, False, [], None)


def test_export_holds_everything_but_secrets(client, factory):
    signed_in(client, factory, sensitive_consent=True, country="SD", languages=["ar"])
    response = client.get("/account/export")
    assert response.headers["Content-Disposition"].startswith("attachment")
    data = json.loads(response.get_data(as_text=True))
    assert data["account"]["email"] == "me@example.org"
    assert data["profile"]["country"] == "SD" and data["profile"]["languages"] == ["ar"]
    assert data["activity"][0]["action"] == "signed_up_newcomer"
    assert data["check_ins"] == [] and data["flags"] == [] and data["texts_received"] == []
    assert any(m["kind"] for m in data["messages"])  # e.g. the email confirmation
    assert "password_hash" not in json.dumps(data) and "$argon2" not in json.dumps(data)


def test_delete_account_keeps_an_anonymous_audit_entry(client, factory, session):
    region = signed_in(client, factory).region
    client.post("/forgot-password", data={"email": "me@example.org"})  # a queued message
    wrong = client.post("/account/delete", data={"password": "wrong password"})
    assert "Your password is not right" in wrong.get_data(as_text=True)
    response = client.post("/account/delete", data={"password": PASSWORD})
    assert "Your account has been deleted" in response.get_data(as_text=True)
    session.expire_all()
    assert session.exec(select(User)).all() == []
    assert session.exec(select(Person)).all() == []
    assert session.exec(select(Message)).all() == []
    events = session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == ["signed_up_newcomer", "phone_verified",
                                          "account_deleted"]
    assert all(e.actor_id is None and e.person_id is None for e in events)
    assert events[-1].detail == {"role": "newcomer"} and events[-1].region == region
    assert login(client, "me@example.org").status_code == 200  # cannot sign in any more


def test_staff_have_no_member_account_pages(client, factory):
    factory.staff("lead", email="lead@example.org")
    login(client, "lead@example.org")
    assert client.get("/account/").status_code == 404
    assert client.get("/account/export").status_code == 200


# Issue 15: time zones in words on the edit page, UK mobiles, passwords asked for again.

def test_edit_page_shows_the_saved_zone_in_words(client, factory, session):
    person = signed_in(client, factory)
    page = client.get("/account/edit").get_data(as_text=True)
    assert '<option value="Asia/Kolkata" selected>India (India time, UTC+5:30)</option>' in page
    # A zone saved under its old name (demo data, older sign-ups) shows as today's name.
    person.timezone = "Asia/Calcutta"
    session.add(person)
    session.commit()
    page = client.get("/account/edit").get_data(as_text=True)
    assert '<option value="Asia/Kolkata" selected>' in page


def test_saving_other_details_does_not_question_a_saved_zone(client, factory, session):
    person = signed_in(client, factory, timezone="Europe/London")  # an Indian number
    response = client.post("/account/edit", data=edit_form(
        full_name="Still In London", phone=person.phone, timezone="Europe/London"))
    assert response.status_code == 302
    session.expire_all()
    assert session.get(Person, person.id).full_name == "Still In London"


def test_a_new_zone_far_from_the_phone_is_asked_about_once_on_edit(client, factory, session):
    person = signed_in(client, factory)  # an Indian number in India time
    form = edit_form(phone=person.phone, timezone="America/New_York")
    response = client.post("/account/edit", data=form)
    page = response.get_data(as_text=True)
    assert "Your phone number is from India but you chose New York time: is that right?" in page
    session.expire_all()
    assert session.get(Person, person.id).timezone == "Asia/Kolkata"
    response = client.post("/account/edit",
                           data={**form, "timezone_confirmed": "America/New_York"})
    assert response.status_code == 302
    session.expire_all()
    assert session.get(Person, person.id).timezone == "America/New_York"


def test_a_uk_mobile_is_accepted_on_edit_without_a_country(client, factory, session):
    person = signed_in(client, factory)
    response = client.post("/account/edit", data=edit_form(
        phone="07911 123456", phone_country="", timezone="Europe/London"))
    assert response.status_code == 302
    session.expire_all()
    assert session.get(Person, person.id).phone == "+447911123456"


def test_change_password_asks_again_for_the_password_that_was_right(client, factory):
    signed_in(client, factory)
    page = client.post("/account/password", data={
        "current_password": "not my password", "password": "a brand new password"},
    ).get_data(as_text=True)
    assert "Your current password is not right" in page
    assert "For your security, enter your new password again" in page
    assert "a brand new password" not in page and "not my password" not in page
    page = client.post("/account/password", data={
        "current_password": PASSWORD, "password": "short"}).get_data(as_text=True)
    assert "For your security, enter your current password again" in page
    assert PASSWORD not in page


def test_a_wrong_password_to_delete_says_so_once(client, factory):
    signed_in(client, factory)
    page = client.post("/account/delete", data={"password": "not it at all"}).get_data(
        as_text=True)
    assert "Your password is not right" in page
    assert "For your security" not in page and "not it at all" not in page


def test_a_zone_saved_before_the_question_is_shown_to_check(client, factory, session):
    """The form once saved the first zone of its list (Africa/Abidjan) for anyone who
    did not choose: the account page says so in words, with a way to put it right."""
    person = signed_in(client, factory, phone="+63 917 123 4567", phone_country="",
                       timezone="Asia/Manila")
    page = client.get("/account/").get_data(as_text=True)
    assert "Philippines (Manila time, UTC+8)" in page and "Is this right?" not in page
    person.timezone = "Africa/Abidjan"
    session.add(person)
    session.commit()
    page = client.get("/account/").get_data(as_text=True)
    assert "Côte d&#39;Ivoire (Abidjan time, UTC+0)" in page
    assert "Your phone number is from the Philippines" in page
    assert 'href="/account/edit#timezone"' in page
    # Choosing the phone's zone needs no question, and the page stops asking.
    response = client.post("/account/edit", data=edit_form(
        phone=person.phone, phone_country="", timezone="Asia/Manila"))
    assert response.status_code == 302
    assert "Is this right?" not in client.get("/account/").get_data(as_text=True)
