"""A member's own account: edits, arrival date, status, consent, export and deletion."""

from __future__ import annotations

import json

from sqlmodel import select

from buddy.messaging.models import Message
from buddy.models import AuditEvent, Person, User
from tests.factories import PASSWORD, login, newcomer_form


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
    signup = app.test_client().post("/join/newcomer", data=newcomer_form(stage="qualified"))
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
