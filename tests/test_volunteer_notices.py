"""Volunteers are told the DA lead's decision: approved or declined, once, through the outbox.

Sign-up promises "we will let you know when you are approved"; these check the promise as
the volunteer sees it (the email or text that arrives), not only the row.
"""

from __future__ import annotations

import email
from email import policy

import pytest
from sqlmodel import select

from buddy.messaging.models import Message
from buddy.models import Person
from buddy.statuses import PersonStatus
from tests.factories import login, mobile
from tests.messaging.conftest import confirm, rows, run

NOW = "2027-03-01T10:00:00+00:00"  # inside everyone's sending window


@pytest.fixture
def app(make_app, channel_settings):
    return make_app(**channel_settings, BUDDY_NOW=NOW)


@pytest.fixture
def lead(factory):
    return factory.staff("lead", region="wessex", email="sarah.jones@example.org",
                         full_name="Dr Sarah Jones")


@pytest.fixture
def lead_client(app, lead):
    client = app.test_client()
    login(client, "sarah.jones@example.org")
    return client


def _pending(factory, session, **kw) -> Person:
    person = factory.volunteer(status=PersonStatus.PENDING, region="wessex", scheme="wessex:poole",
                               full_name="Dr Sam Lee", **kw)
    return confirm(session, person)


def _notices(session, person) -> list[Message]:
    return [m for m in rows(session, person_id=person.id)
            if m.kind in ("volunteer_approved", "volunteer_declined")]


def _emails(fake_smtp, address) -> list:
    """The emails that arrived at `address`, apart from the sign-up's address confirmation."""
    received = [email.message_from_bytes(m["content"], policy=policy.default)
                for m in fake_smtp.messages_to(address)]
    return [m for m in received if "Confirm your email" not in m["Subject"]]


def _text(message) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def _decide(client, person, decision):
    return client.post(f"/lead/volunteers/{person.id}/decision", data={"decision": decision},
                       follow_redirects=True)


def test_an_approved_volunteer_is_told_once(app, lead_client, factory, session, fake_smtp):
    person = _pending(factory, session)
    address = factory.user_of(person).email
    page = _decide(lead_client, person, "approve").get_data(as_text=True)
    assert "Dr Sam Lee has been approved" in page and "We will tell them by email" in page
    assert [m.kind for m in _notices(session, person)] == ["volunteer_approved"]

    # Approving again is refused, and tells nobody anything new.
    again = _decide(lead_client, person, "approve").get_data(as_text=True)
    assert "is already approved" in again
    assert len(_notices(session, person)) == 1

    run(app)
    run(app)
    [sent] = _emails(fake_smtp, address)
    assert sent["Subject"] == "You are now a Buddy volunteer"
    body = _text(sent)
    assert body.startswith("Hello Sam,\n")
    assert "the DA lead for Wessex has approved you as a buddy" in body
    assert "http://localhost/account/" in body


def test_a_declined_volunteer_is_told_kindly_and_who_to_ask(app, lead_client, factory, session,
                                                           fake_smtp):
    person = _pending(factory, session, role="ambassador")
    page = _decide(lead_client, person, "decline").get_data(as_text=True)
    assert "Dr Sam Lee has been declined" in page
    run(app)  # sent, although their status is now "declined"
    [sent] = _emails(fake_smtp, factory.user_of(person).email)
    body = _text(sent)
    assert body.startswith("Hello Sam,\n")
    assert "Thank you for offering to help new doctors in Wessex" in body
    assert "cannot add you as a ambassador" not in body
    assert "cannot add you as an ambassador this time" in body
    assert "contact Dr Sarah Jones, the DA lead, at sarah.jones@example.org" in body
    assert [m.status for m in _notices(session, person)] == ["sent"]


def test_the_notice_goes_by_text_to_a_confirmed_number_and_by_email_after_stop(
        app, lead_client, factory, session, fake_twilio, fake_smtp):
    texted = _pending(factory, session, channel="sms", phone=mobile("GB", 1),
                      phone_country="GB")
    _decide(lead_client, texted, "approve")
    run(app)
    [sms] = [r for r in fake_twilio.accepted() if r["To"] == texted.phone]
    assert sms["Body"].startswith("Hello Sam, good news: you are approved as a buddy in Wessex.")

    stopped = _pending(factory, session, channel="sms", phone=mobile("GB", 2),
                       phone_country="GB")
    _decide(lead_client, stopped, "decline")
    stopped = session.get(Person, stopped.id)
    stopped.sms_opted_out = True
    session.add(stopped)
    session.commit()
    run(app)
    assert not [r for r in fake_twilio.received if r["To"] == stopped.phone]
    assert {(m.channel, m.status) for m in _notices(session, stopped)} == {
        ("sms", "cancelled"), ("email", "sent")}
    [sent] = _emails(fake_smtp, factory.user_of(stopped).email)
    assert "sarah.jones@example.org" in _text(sent)


def test_a_volunteer_who_leaves_before_the_notice_goes_is_not_sent_it(
        app, lead_client, factory, session, fake_smtp):
    from buddy.services import people

    person = _pending(factory, session)
    _decide(lead_client, person, "approve")
    with app.app_context():
        people.change_status(session=session, person=session.get(Person, person.id),
                             action="withdraw")
    run(app)
    assert _emails(fake_smtp, factory.user_of(person).email) == []
    assert [m.status for m in _notices(session, person)] == ["cancelled"]


def test_one_notice_per_decision_even_when_the_service_runs_twice(app, factory, session, lead):
    """The outbox key holds the region and the day: the same decision queues one row."""
    from buddy.messaging import cadence

    person = _pending(factory, session)
    with app.app_context():
        from buddy.services import volunteers

        volunteers.decide(session=session, lead=lead, person_id=person.id, approve=True)
        cadence.volunteer_decided(session, session.get(Person, person.id), approved=True)
        session.commit()
    assert len(session.exec(select(Message).where(
        Message.person_id == person.id, Message.kind == "volunteer_approved")).all()) == 1
