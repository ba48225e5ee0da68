"""The six-month question by email (two signed links) and by text (CARRY / FINISH)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from email import message_from_bytes, policy

import pytest
from sqlmodel import select

from buddy.messaging import tokens
from buddy.messaging.models import Flag, Message
from buddy.models import FamilyAnswer
from buddy.services import endings
from tests.messaging.conftest import at, confirm, publish_family, rows, run, sign

INBOUND = "http://localhost/messages/twilio/inbound"
ASKED = date(2027, 8, 4) + timedelta(days=182)  # 2 February 2028
CLOSES = ASKED + timedelta(days=30)


def _family(app, session, factory):
    anchor = confirm(session, factory.volunteer(channel="email"))
    newcomer = factory.newcomer()  # texts by SMS from a verified number
    family = publish_family(app, session, [(anchor, "anchor"), (newcomer, "newcomer")])
    return family, anchor, newcomer


def _ask(app, session, factory):
    family, anchor, newcomer = _family(app, session, factory)
    app.config["BUDDY_NOW"] = at(2028, 2, 2, 12).isoformat()
    run(app, at(2028, 2, 2, 12))
    return family, anchor, newcomer


def _links(fake_smtp, address: str) -> dict[str, str]:
    for received in fake_smtp.messages_to(address):
        text = message_from_bytes(received["content"], policy=policy.default).get_content()
        found = re.findall(r"http://localhost(/messages/family-answer/\S+)", text)
        if found:
            return {"carry_on": found[0], "finish": found[1]}
    raise AssertionError("no six-month question by email")


def _text(client, person, body: str, sid: str):
    form = {"MessageSid": sid, "From": person.phone, "To": "+15005550006", "Body": body}
    return client.post(INBOUND, data=form, headers=sign(INBOUND, form))


def _answers(session) -> list[tuple[int, str, str]]:
    session.expire_all()
    return [(a.person_id, a.answer, a.channel)
            for a in session.exec(select(FamilyAnswer).order_by(FamilyAnswer.id)).all()]


def test_the_question_goes_once_to_each_member_with_links_by_email(app, session, factory,
                                                                   client, fake_smtp,
                                                                   fake_twilio):
    family, anchor, newcomer = _ask(app, session, factory)
    sent = [(m.person_id, m.channel) for m in rows(session, kind="close_continue", status="sent")]
    assert sorted(sent) == sorted([(anchor.id, "email"), (newcomer.id, "sms")])
    [sms] = [m for m in fake_twilio.accepted() if "CARRY" in m.get("Body", "")]
    assert "Reply CARRY to carry on or FINISH to finish" in sms["Body"]
    links = _links(fake_smtp, factory.user_of(anchor).email)
    page = client.get(links["carry_on"])
    assert page.status_code == 200 and "Send my answer" in page.get_data(as_text=True)
    assert _answers(session) == []  # a GET (a mail scanner) is no answer
    done = client.post(links["carry_on"])
    assert done.status_code == 200 and "carry on" in done.get_data(as_text=True)
    assert _answers(session) == [(anchor.id, "carry_on", "email")]
    client.post(links["finish"])  # changed their mind: the latest answer counts
    assert _answers(session) == [(anchor.id, "finish", "email")]
    run(app, at(2028, 2, 3, 12))  # a second pass sends nothing again
    assert len(rows(session, kind="close_continue", status="sent")) == 2


def test_links_refuse_tampering_and_strangers_and_close_with_the_question(app, session, factory,
                                                                         client, fake_smtp):
    family, anchor, newcomer = _ask(app, session, factory)
    links = _links(fake_smtp, factory.user_of(anchor).email)
    assert client.get(links["finish"][:-3] + "abc").status_code == 400
    stranger = factory.volunteer()
    with app.test_request_context():
        forged = tokens.sign(tokens.FAMILY, {"f": family.id, "p": stranger.id, "a": "finish"})
    assert client.get(f"/messages/family-answer/{forged}").status_code == 400
    app.config["BUDDY_NOW"] = at(2028, 3, 3, 12).isoformat()  # the question has closed
    page = client.get(links["finish"])
    assert "question is closed" in page.get_data(as_text=True)
    refused = client.post(links["finish"])
    assert refused.status_code == 409 and _answers(session) == []
    app.config["BUDDY_NOW"] = at(2028, 5, 3, 12).isoformat()  # 91 days on: the link itself
    expired = client.get(links["finish"])
    assert expired.status_code == 400 and "expired" in expired.get_data(as_text=True)


@pytest.mark.parametrize(("body", "answer"), [("CARRY", "carry_on"), (" carry on ", "carry_on"),
                                              ("Finish", "finish")])
def test_carry_and_finish_replies_answer_for_the_verified_owner(app, session, factory, client,
                                                                body, answer):
    family, anchor, newcomer = _ask(app, session, factory)
    assert _text(client, newcomer, body, "SM1").status_code == 200
    assert _answers(session) == [(newcomer.id, answer, "sms")]
    assert session.exec(select(Flag)).all() == []


def test_a_reply_with_no_open_question_is_flagged_not_recorded(app, session, factory, client):
    family, anchor, newcomer = _family(app, session, factory)
    app.config["BUDDY_NOW"] = at(2027, 9, 1, 12).isoformat()  # months before the question
    _text(client, newcomer, "CARRY", "SM2")
    assert _answers(session) == []
    assert [(f.reason, f.text) for f in session.exec(select(Flag)).all()] == [
        ("unclear_reply", "CARRY")]


def test_a_reply_from_an_unverified_number_touches_nobody(app, session, factory, client):
    family, anchor, newcomer = _ask(app, session, factory)
    newcomer.phone_verified_at = None
    session.add(newcomer)
    session.commit()
    _text(client, newcomer, "FINISH", "SM3")
    assert _answers(session) == []


def test_after_a_family_ends_dispatch_sends_nothing_for_it(app, session, factory, fake_twilio,
                                                           fake_smtp):
    family, anchor, newcomer = _family(app, session, factory)
    app.config["BUDDY_NOW"] = at(2027, 9, 10, 12).isoformat()
    with app.app_context():
        endings.end(session, family, "Test", now=at(2027, 9, 10, 12))
    before = {m.id for m in rows(session) if m.status == "sent"}
    for day in (date(2027, 9, 29), date(2027, 11, 3), ASKED, CLOSES):
        app.config["BUDDY_NOW"] = at(day.year, day.month, day.day, 12).isoformat()
        run(app, at(day.year, day.month, day.day, 12))
    sent_after = [m.kind for m in rows(session, status="sent") if m.id not in before]
    assert [kind for kind in sent_after if kind != "email_confirm"] == []
    assert not session.exec(select(Message).where(
        Message.status == "pending", Message.kind.in_(("checkin", "buddy_nudge",
                                                       "close_continue")))).all()
