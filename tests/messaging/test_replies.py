"""Twilio webhooks, replies to check-ins, one-click email answers and email confirmation.

RELIABILITY.md items 4, 5 and 6.
"""

from __future__ import annotations

import re
import time
from email import message_from_bytes, policy

import pytest
from sqlmodel import select

from buddy.messaging import tokens
from buddy.messaging.models import CheckIn, Flag, InboundMessage
from buddy.models import Person
from tests.messaging.conftest import at, confirm, publish_family, rows, run, sign

INBOUND = "http://localhost/messages/twilio/inbound"
WEEK_ONE = at(2027, 8, 11, 9)  # the first check-in of a 4 August arrival, 14:30 in India


def _with_check_in(app, session, factory, **kw) -> Person:
    newcomer = factory.newcomer(**kw)
    publish_family(app, session, [(factory.volunteer(), "anchor"), (newcomer, "newcomer")])
    run(app, WEEK_ONE)
    return newcomer


def _text(client, person, body: str, sid: str = "SM1", channel: str = "sms"):
    sender = person.phone if channel == "sms" else f"whatsapp:{person.phone}"
    form = {"MessageSid": sid, "From": sender, "To": "+15005550006", "Body": body}
    return client.post(INBOUND, data=form, headers=sign(INBOUND, form))


def _flags(session) -> list[tuple[str, str]]:
    session.expire_all()
    return [(f.reason, f.text) for f in session.exec(select(Flag).order_by(Flag.id)).all()]


@pytest.mark.parametrize("headers", [
    {},  # unsigned
    {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},  # forged
])
def test_unsigned_or_forged_inbound_is_refused_and_nothing_written(client, session, headers):
    form = {"MessageSid": "SMx", "From": "+919876543210", "Body": "2"}
    assert client.post(INBOUND, data=form, headers=headers).status_code == 403
    assert session.exec(select(InboundMessage)).all() == []


def test_tampered_inbound_is_refused(app, session, factory, client):
    person = factory.newcomer()
    form = {"MessageSid": "SMt", "From": person.phone, "Body": "1"}
    headers = sign(INBOUND, form)
    assert client.post(INBOUND, data={**form, "Body": "STOP"}, headers=headers).status_code == 403
    signed_elsewhere = sign("http://localhost/other", form)
    assert client.post(INBOUND, data=form, headers=signed_elsewhere).status_code == 403
    assert session.exec(select(InboundMessage)).all() == []
    session.expire_all()
    assert session.get(Person, person.id).sms_opted_out is False


def test_status_callback_unsigned_is_refused(app, session, factory, client, fake_twilio):
    person = factory.newcomer()
    run(app, at(2027, 7, 14, 9))
    [row] = rows(session, person_id=person.id, kind="what_to_expect", channel="sms")
    url = f"http://localhost/messages/twilio/status/{row.id}"
    form = {"MessageSid": row.provider_id, "MessageStatus": "failed", "ErrorCode": "30003"}
    assert client.post(url, data=form).status_code == 403
    assert rows(session, id=row.id)[0].status == "sent"


@pytest.mark.parametrize(("body", "answer"), [("1", "ok"), (" 1 ", "ok"), ("2", "call"),
                                              ("\t2\n", "call")])
def test_check_in_replies_are_recorded(app, session, factory, client, body, answer):
    person = _with_check_in(app, session, factory)
    response = _text(client, person, body)
    assert response.status_code == 200 and "<Response>" in response.get_data(as_text=True)
    [check_in] = session.exec(select(CheckIn)).all()
    assert (check_in.person_id, check_in.day, check_in.answer) == (person.id, 7, answer)
    assert check_in.answer_channel == "sms" and check_in.sent_at is not None
    assert [r for r, _ in _flags(session)] == (["asked_for_call"] if answer == "call" else [])


def test_whatsapp_reply_is_recorded_as_whatsapp(app, session, factory, client):
    person = _with_check_in(app, session, factory, channel="whatsapp")
    _text(client, person, "1", channel="whatsapp")
    [check_in] = session.exec(select(CheckIn)).all()
    assert check_in.answer == "ok" and check_in.answer_channel == "whatsapp"


@pytest.mark.parametrize(("body", "reason"), [("HELP", "help"), (" help ", "help"),
                                              ("Stop please", "unclear_reply"),
                                              ("maybe tomorrow?", "unclear_reply")])
def test_help_and_unrecognised_replies_flag_the_region_lead(app, session, factory, client,
                                                            body, reason):
    person = _with_check_in(app, session, factory)
    _text(client, person, body)
    assert _flags(session) == [(reason, body)]
    flag = session.exec(select(Flag)).one()
    assert flag.region == person.region and flag.status == "open"
    session.expire_all()
    assert session.get(Person, person.id).sms_opted_out is False  # "Stop please" is no keyword


def test_a_text_with_control_characters_is_kept_not_refused(app, session, factory, client):
    """A GSM form feed or a NUL in a real text: stored (as spaces) and acted on, never a 400."""
    person = _with_check_in(app, session, factory)
    assert _text(client, person, "HELP\x0cmy visa\x00was refused", sid="SMctl").status_code == 200
    inbound = session.exec(select(InboundMessage)).one()
    assert inbound.body == "HELP my visa was refused" and inbound.person_id == person.id
    assert _flags(session) == [("unclear_reply", "HELP my visa was refused")]


def test_the_same_message_sid_twice_is_stored_once(app, session, factory, client):
    """Item 5."""
    person = _with_check_in(app, session, factory)
    assert _text(client, person, "2", sid="SMdup").status_code == 200
    assert _text(client, person, "2", sid="SMdup").status_code == 200
    assert len(session.exec(select(InboundMessage)).all()) == 1
    assert len(_flags(session)) == 1


@pytest.mark.parametrize("stop", ["STOP", " stop ", "Unsubscribe"])
def test_stop_moves_texts_to_email_and_start_moves_them_back(app, session, factory, client,
                                                             stop):
    """Item 6."""
    person = _with_check_in(app, session, factory)
    _text(client, person, stop, sid="SMstop")
    session.expire_all()
    assert session.get(Person, person.id).sms_opted_out is True
    pending = {(m.channel, m.subject) for m in rows(session, person_id=person.id, kind="checkin",
                                                     status="pending")}
    assert pending == {("email", "day:28"), ("email", "day:56"), ("email", "day:91")}
    _text(client, person, "START", sid="SMstart")
    session.expire_all()
    assert session.get(Person, person.id).sms_opted_out is False
    pending = {(m.channel, m.subject) for m in rows(session, person_id=person.id, kind="checkin",
                                                     status="pending")}
    assert pending == {("sms", "day:28"), ("sms", "day:56"), ("sms", "day:91")}
    assert _flags(session) == []


def test_status_callbacks_duplicated_or_out_of_order_end_right(app, session, factory, client,
                                                               fake_twilio):
    """Item 5."""
    person = factory.newcomer()
    run(app, at(2027, 7, 14, 9))
    [row] = rows(session, person_id=person.id, kind="what_to_expect", channel="sms")
    url = f"http://localhost/messages/twilio/status/{row.id}"
    for status in ("delivered", "sent", "queued", "delivered", "sending"):
        form = {"MessageSid": row.provider_id, "MessageStatus": status}
        assert client.post(url, data=form, headers=sign(url, form)).status_code == 204
    row = rows(session, id=row.id)[0]
    assert (row.status, row.provider_status) == ("sent", "delivered")
    other = {"MessageSid": "SM" + "f" * 32, "MessageStatus": "failed"}
    client.post(url, data=other, headers=sign(url, other))  # another message's sid: ignored
    assert rows(session, id=row.id)[0].status == "sent"


def test_undelivered_callback_with_21610_opts_out_and_falls_back(app, session, factory, client):
    person = confirm(session, factory.newcomer())
    run(app, at(2027, 7, 14, 9))
    [row] = rows(session, person_id=person.id, kind="what_to_expect", channel="sms")
    url = f"http://localhost/messages/twilio/status/{row.id}"
    form = {"MessageSid": row.provider_id, "MessageStatus": "undelivered", "ErrorCode": "21610"}
    client.post(url, data=form, headers=sign(url, form))
    session.expire_all()
    assert session.get(Person, person.id).sms_opted_out is True
    by_channel = {m.channel: m.status for m in rows(session, person_id=person.id,
                                                     kind="what_to_expect")}
    assert by_channel == {"sms": "failed", "email": "pending"}


# --- Email check-ins: two signed one-click links ---------------------------------------------

def _email_links(fake_smtp, address: str) -> dict[str, str]:
    for received in fake_smtp.messages_to(address):
        text = message_from_bytes(received["content"], policy=policy.default).get_content()
        found = re.findall(r"http://localhost(/messages/check-in/\S+)", text)
        if found:
            return {"ok": found[0], "call": found[1]}
    raise AssertionError("no check-in email")


def _email_newcomer(app, session, factory):
    person = factory.newcomer(channel="email", phone=None, phone_country=None)
    confirm(session, person)
    publish_family(app, session, [(factory.volunteer(), "anchor"), (person, "newcomer")])
    run(app, WEEK_ONE)
    return person


def test_email_check_in_links_answer_without_a_login(app, session, factory, client, fake_smtp):
    person = _email_newcomer(app, session, factory)
    links = _email_links(fake_smtp, rows(session, person_id=person.id)[0].to_address)
    page = client.get(links["call"])
    assert page.status_code == 200 and "Send my answer" in page.get_data(as_text=True)
    assert session.exec(select(CheckIn)).one().answer is None  # a GET (mail scanner) is no answer
    done = client.post(links["call"])
    assert "call you soon" in done.get_data(as_text=True)
    check_in = session.exec(select(CheckIn)).one()
    session.refresh(check_in)
    assert (check_in.answer, check_in.answer_channel) == ("call", "email")
    assert [r for r, _ in _flags(session)] == ["asked_for_call"]
    client.post(links["ok"])
    session.refresh(check_in)
    assert check_in.answer == "ok"


def test_email_links_refuse_tampering_other_people_and_expiry(make_app, channel_settings, app,
                                                              session, factory, client,
                                                              fake_smtp):
    person = _email_newcomer(app, session, factory)
    links = _email_links(fake_smtp, rows(session, person_id=person.id)[0].to_address)
    assert client.get(links["ok"][:-3] + "abc").status_code == 400
    check_in = session.exec(select(CheckIn)).one()
    with app.test_request_context():
        someone_else = tokens.sign(tokens.CHECKIN, {"c": check_in.id, "p": person.id + 1,
                                                    "a": "call"})
    assert client.get(f"/messages/check-in/{someone_else}").status_code == 400
    short = make_app(**channel_settings, BUDDY_CHECKIN_LINK_DAYS=0).test_client()
    time.sleep(1.1)
    expired = short.post(links["call"])
    assert expired.status_code == 400 and "expired" in expired.get_data(as_text=True)
    session.refresh(check_in)
    assert check_in.answer is None and _flags(session) == []


def test_email_confirmation_link(app, session, factory, client):
    person = factory.newcomer()
    message = rows(session, person_id=person.id, kind="email_confirm")[0]
    path = re.search(r"http://localhost(/\S+)", message.body)[1]
    assert client.get(path + "x").status_code == 400
    assert client.get(path).status_code == 200
    session.expire_all()
    assert session.get(Person, person.id).email_confirmed_at is not None
