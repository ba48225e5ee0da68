"""Email through smtplib to a real local SMTP server (aiosmtpd). RELIABILITY.md item 10."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest
from sqlmodel import select

from buddy.messaging import outbox
from buddy.messaging.channels import EmailChannel
from buddy.messaging.models import Flag, Message
from buddy.models import User
from tests.fakes import FakeSMTP
from tests.messaging.conftest import at, rows, run

NOW = at(2027, 1, 10, 12)


def _user(session) -> User:
    user = User(email="staff@example.org", password_hash="x", role="admin", full_name="Staff")
    session.add(user)
    session.flush()
    return user


def _queue(session, user, to: str, n: int = 1, title: str = "Hello") -> None:
    outbox.enqueue(session, user=user, channel="email", kind="test", subject=f"{to}:{n}",
                   to_address=to, title=title, body=f"Body for {to}, café ok", due_at=NOW)
    session.commit()


def test_email_is_delivered_with_its_headers(app, session, fake_smtp):
    _queue(session, _user(session), "someone@example.org")
    assert run(app, NOW) == {"sent": 1}
    [received] = fake_smtp.received
    email = message_from_bytes(received["content"], policy=policy.default)
    assert email["To"] == "someone@example.org" and email["Subject"] == "Hello"
    assert email["From"] == "Buddy <buddy@example.org>"
    assert email.get_content().strip() == "Body for someone@example.org, café ok"
    [row] = rows(session)
    assert row.status == "sent" and email["Message-ID"].strip("<>") == row.provider_id


def test_550_is_permanent_and_flags_the_person_for_their_lead(app, session, factory, fake_smtp):
    person = factory.newcomer(channel="email", phone=None, phone_country=None,
                              email="gone@example.org")
    fake_smtp.refuse["gone@example.org"] = "550 5.1.1 No such user"
    run(app, NOW)
    confirmation = next(m for m in rows(session, person_id=person.id)
                        if m.kind == "email_confirm")
    assert confirmation.status == "failed" and confirmation.error_code == "550"
    assert "No such user" in confirmation.last_error
    [flag] = session.exec(select(Flag)).all()
    assert (flag.person_id, flag.region, flag.reason) == (person.id, "london", "message_failed")
    run(app, at(2027, 1, 12, 12))
    assert confirmation.attempts == 1 and fake_smtp.received == []


def test_4xx_refusal_is_retried(app, session, fake_smtp):
    _queue(session, _user(session), "busy@example.org")
    fake_smtp.refuse["busy@example.org"] = "451 4.3.0 Mailbox busy, try later"
    assert run(app, NOW) == {"retry": 1}
    [row] = rows(session)
    assert row.status == "pending" and row.next_attempt_at > NOW and row.error_code == "451"
    del fake_smtp.refuse["busy@example.org"]
    run(app, at(2027, 1, 10, 13))
    assert len(fake_smtp.received) == 1 and rows(session)[0].status == "sent"


def test_data_refusals(app, session, fake_smtp):
    user = _user(session)
    _queue(session, user, "a@example.org")
    fake_smtp.data_reply = "452 4.3.1 Insufficient system storage"
    assert run(app, NOW) == {"retry": 1}
    fake_smtp.data_reply = "554 5.6.0 Message refused"
    assert run(app, at(2027, 1, 10, 13)) == {"failed": 1}
    assert rows(session)[0].error_code == "554"


def test_partial_refusal_sends_the_others(app, session, fake_smtp):
    user = _user(session)
    for to in ("one@example.org", "refused@example.org", "three@example.org"):
        _queue(session, user, to)
    fake_smtp.refuse["refused@example.org"] = "550 5.1.1 User unknown"
    assert run(app, NOW) == {"sent": 2, "failed": 1}
    assert sorted(m["to"] for m in fake_smtp.received) == ["one@example.org",
                                                           "three@example.org"]
    assert {m.to_address: m.status for m in rows(session)}["refused@example.org"] == "failed"


def test_smtp_down_is_retried(app, session, fake_smtp):
    _queue(session, _user(session), "later@example.org")
    fake_smtp.stop()
    assert run(app, NOW) == {"retry": 1}
    [row] = rows(session)
    assert row.status == "pending" and "unreachable" in row.last_error


def test_header_injection_is_refused_and_nothing_sent(app, session, fake_smtp):
    """Item 3: CR/LF in a header never adds a recipient."""
    _queue(session, _user(session), "victim@example.org",
           title="Hi\r\nBcc: evil@example.org")
    assert run(app, NOW) == {"failed": 1}
    assert fake_smtp.received == []


# --- One bad message never stops the others (RELIABILITY.md item 17) -------------------------

INTERNATIONAL = ["josé@exámple.org", "用户@例子.广告"]


@pytest.mark.parametrize("address", INTERNATIONAL)
def test_internationalised_address_goes_with_smtputf8(app, session, fake_smtp, address):
    """Sign-up accepts these addresses; a server that offers SMTPUTF8 gets them as they are."""
    _queue(session, _user(session), address)
    assert run(app, NOW) == {"sent": 1}
    [received] = fake_smtp.received
    assert received["to"] == address
    email = message_from_bytes(received["content"], policy=policy.default)
    assert email["To"] == address and "café ok" in email.get_content()
    assert rows(session)[0].status == "sent"


def test_an_international_domain_alone_needs_no_smtputf8(make_app, channel_settings, session):
    """The domain goes as IDNA (xn--), so any server takes it."""
    server = FakeSMTP(smtputf8=False).start()
    try:
        app = make_app(**{**channel_settings, "BUDDY_SMTP_PORT": server.port})
        _queue(session, _user(session), "jose@exámple.org")
        assert run(app, NOW) == {"sent": 1}
        assert [m["to"] for m in server.received] == ["jose@xn--exmple-qta.org"]
    finally:
        server.stop()


def test_without_smtputf8_an_internationalised_address_fails_alone(make_app, channel_settings,
                                                                    session):
    """Finding 3: the address crashed the dispatcher and held up every message behind it."""
    server = FakeSMTP(smtputf8=False).start()
    try:
        app = make_app(**{**channel_settings, "BUDDY_SMTP_PORT": server.port})
        user = _user(session)
        for to in ("first@example.org", *INTERNATIONAL, "last@example.org"):
            _queue(session, user, to)
        assert run(app, NOW) == {"sent": 2, "failed": 2}
        assert sorted(m["to"] for m in server.received) == ["first@example.org",
                                                            "last@example.org"]
        for row in rows(session):
            if row.to_address in INTERNATIONAL:
                assert row.status == "failed" and "SMTPUTF8" in row.last_error
            else:
                assert row.status == "sent"
    finally:
        server.stop()


def test_text_that_cannot_be_encoded_fails_before_the_server_is_spoken_to(fake_smtp):
    """No database stores a lone surrogate (the outbox replaces it), but a body composed at
    send time could carry one: the channel fails that message with the reason."""
    channel = EmailChannel(host=fake_smtp.host, port=fake_smtp.port,
                           mail_from="buddy@example.org")
    message = Message(id=1, user_id=1, channel="email", kind="test", subject="s",
                      to_address="a@example.org", title="Hello", body="", due_at=NOW)
    try:
        outcome = channel.send(message, "Hello \udc80 there")
    finally:
        channel.close()
    assert (outcome.status, outcome.error) == (
        "failed", "Cannot encode the email: the text contains an unpaired surrogate (U+DC80), "
                  "which no email can carry")
    assert fake_smtp.received == []


@pytest.mark.parametrize("odd", ["\udc80", "\x00"])
def test_the_outbox_stores_what_no_database_takes_as_a_replacement_character(
        app, session, fake_smtp, odd):
    """A lone surrogate (refused by both databases) and NUL (refused by PostgreSQL)."""
    _queue(session, _user(session), "a@example.org", title=f"Hi {odd}")
    assert run(app, NOW) == {"sent": 1}
    [row] = rows(session)
    assert row.title == "Hi \ufffd"
    email = message_from_bytes(fake_smtp.received[0]["content"], policy=policy.default)
    assert email["Subject"] == "Hi \ufffd"


def test_sign_up_with_an_internationalised_address_gets_its_confirmation(app, session, factory,
                                                                         fake_smtp):
    """Sign-up keeps accepting these addresses (SMTPUTF8 is widely offered)."""
    person = factory.newcomer(channel="email", phone=None, phone_country=None,
                              email="José@Exámple.org")
    confirmation = next(m for m in rows(session, person_id=person.id)
                        if m.kind == "email_confirm")
    assert confirmation.to_address == "josé@exámple.org"
    run(app, NOW)
    assert rows(session, id=confirmation.id)[0].status == "sent"
    [received] = fake_smtp.messages_to("josé@exámple.org")
    assert b"confirm" in received["content"].lower()
