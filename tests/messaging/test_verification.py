"""Verified phone numbers: codes, and replies believed only from a number's one verified owner.

RELIABILITY.md item 19. Codes go through the real twilio client to the local fake Twilio;
emails through a real local SMTP server.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from buddy.messaging.models import CheckIn, Flag, InboundMessage, Message, PhoneCode
from buddy.models import AuditEvent, Person, utcnow
from buddy.services import ServiceError, people, phone_verification
from tests.factories import login
from tests.messaging.conftest import at, confirm, publish_family, rows, run, sign

INBOUND = "http://localhost/messages/twilio/inbound"
WEEK_ONE = at(2027, 8, 11, 9)  # the first check-in of a 4 August arrival, 14:30 in India


def _text(client, number: str, body: str, sid: str):
    form = {"MessageSid": sid, "From": number, "To": "+15005550006", "Body": body}
    return client.post(INBOUND, data=form, headers=sign(INBOUND, form))


def _state(session, person: Person) -> tuple:
    """What a text could have changed on a person: opt-out, flags, check-in answers."""
    session.expire_all()
    fresh = session.get(Person, person.id)
    flags = session.exec(select(Flag.reason).where(Flag.person_id == person.id)).all()
    answers = session.exec(select(CheckIn.answer).where(CheckIn.person_id == person.id)).all()
    return fresh.sms_opted_out, sorted(flags), answers


def _fresh(session, person: Person) -> Person:
    session.expire_all()
    return session.get(Person, person.id)


def _code_messages(session, person: Person) -> list[Message]:
    return rows(session, person_id=person.id, kind="phone_code")


def _live_code(session, person: Person) -> str:
    """The code in the person's pending code message (what their phone would show)."""
    [pending] = [m for m in _code_messages(session, person) if m.status == "pending"]
    return re.search(r"\b(\d{6})\b", pending.body)[1]


def _verify(app, session, person: Person, code: str, now=None) -> Person:
    with app.app_context():
        return phone_verification.verify_code(session=session, person=_fresh(session, person),
                                              code=code, now=now)


def _send(app, session, person: Person, now=None) -> Message:
    with app.app_context():
        return phone_verification.send_code(session=session, person=_fresh(session, person),
                                            now=now)


def _with_check_in(app, session, factory, **kw) -> Person:
    newcomer = confirm(session, factory.newcomer(**kw))  # so that emails go too
    publish_family(app, session, [(factory.volunteer(), "anchor"), (newcomer, "newcomer")])
    run(app, WEEK_ONE)
    return newcomer


# --- Replies: believed only from the number's one verified owner -------------------------------

@pytest.mark.parametrize("body", ["STOP", "HELP", "2"])
def test_a_reply_never_lands_on_a_later_sign_up_with_the_same_number(app, session, factory,
                                                                     client, body):
    """The reproduction: the owner's reply went to whoever signed up last with the number."""
    owner = _with_check_in(app, session, factory)
    later = factory.newcomer(phone=owner.phone, phone_country="IN", phone_verified=False)
    assert later.phone == owner.phone and later.id > owner.id
    _text(client, owner.phone, body, sid="SMrepro")
    # STOP is about the number: nobody texts it any more; nothing else touches the later one.
    assert _state(session, later) == (body == "STOP", [], [])
    assert _state(session, owner) == {
        "STOP": (True, [], [None]), "HELP": (False, ["help"], [None]),
        "2": (False, ["asked_for_call"], ["call"]),
    }[body]
    assert session.exec(select(InboundMessage)).one().person_id == owner.id


@pytest.mark.parametrize("body", ["2", "1", "HELP", "maybe tomorrow?"])
def test_a_text_from_an_unverified_number_goes_to_the_queue_and_touches_nobody(
        app, session, factory, client, body):
    first = _with_check_in(app, session, factory, phone_verified=False)
    second = factory.newcomer(phone=first.phone, phone_country="IN", phone_verified=False)
    stranger = "+919812345678"
    _text(client, first.phone, body, sid="SMunverified")
    _text(client, stranger, body, sid="SMunknown")
    for person in (first, second):
        assert _state(session, person) == (False, [], [None] if person is first else [])
    queued = session.exec(select(InboundMessage).order_by(InboundMessage.id)).all()
    assert [(m.from_address, m.person_id, m.check_in_id) for m in queued] == [
        (first.phone, None, None), (stranger, None, None)]
    assert session.exec(select(Flag)).all() == []


def test_stop_and_start_from_an_unverified_number_act_on_the_number_only(
        app, session, factory, client, fake_twilio):
    first = _with_check_in(app, session, factory, phone_verified=False)
    second = factory.newcomer(phone=first.phone, phone_country="IN", phone_verified=False)
    other = factory.newcomer(phone_verified=False)  # another number: untouched
    _text(client, f"whatsapp:{first.phone}", " stop ", sid="SMstop")
    assert [_state(session, p) for p in (first, second, other)] == [
        (True, [], [None]), (True, [], []), (False, [], [])]
    # A code still waiting for the number is not sent after STOP.
    assert [m.status for m in _code_messages(session, second)] == ["cancelled"]
    assert [m.status for m in _code_messages(session, other)] == ["pending"]
    # No code goes to a number that said STOP (Twilio would refuse it with 21610 anyway).
    with pytest.raises(ServiceError, match="Text START to \\+15005550006"):
        _send(app, session, second, now=utcnow() + timedelta(minutes=2))
    _text(client, first.phone, "START", sid="SMstart")
    assert [_state(session, p)[0] for p in (first, second, other)] == [False, False, False]
    assert session.exec(select(Flag)).all() == []
    assert {m.meaning for m in session.exec(select(InboundMessage))} == {"stop", "start"}
    assert session.exec(select(InboundMessage.person_id)).all() == [None, None]


def test_admin_sees_the_queue_and_marks_a_text_handled(app, session, factory, client):
    admin = factory.staff("admin", email="admin@example.org")
    factory.staff("lead", email="lead@example.org")
    owner = _with_check_in(app, session, factory)
    unverified = factory.newcomer(phone_verified=False)
    _text(client, unverified.phone, "HELP, my visa was refused <b>", sid="SMq1")
    _text(client, owner.phone, "1", sid="SMbelieved")
    login(client, "admin@example.org")
    page = client.get("/admin/replies").get_data(as_text=True)
    assert "HELP, my visa was refused &lt;b&gt;" in page and unverified.phone in page
    assert "1 member, none confirmed" in page
    believed = session.exec(select(InboundMessage).where(InboundMessage.message_sid
                                                         == "SMbelieved")).one()
    assert client.post(f"/admin/replies/{believed.id}/handled").status_code == 404
    queued = session.exec(select(InboundMessage).where(InboundMessage.message_sid
                                                       == "SMq1")).one()
    done = client.post(f"/admin/replies/{queued.id}/handled", follow_redirects=True)
    assert "Marked as handled" in done.get_data(as_text=True)
    assert "No texts are waiting" in done.get_data(as_text=True)
    session.refresh(queued)
    assert queued.handled_by == admin.id and queued.handled_at is not None
    lead = app.test_client()
    login(lead, "lead@example.org")
    assert lead.get("/admin/replies").status_code == 404
    assert lead.post(f"/admin/replies/{queued.id}/handled").status_code == 404


# --- Until verified, texts go by email; the code is the one exception ------------------------

def test_sign_up_texts_a_code_and_sends_everything_else_by_email_until_it_comes_back(
        app, session, factory, client, fake_twilio, fake_smtp):
    person = factory.newcomer(email="me@example.org", phone_verified=False)
    [code_message] = _code_messages(session, person)
    assert (code_message.channel, code_message.to_address, code_message.timezone) == (
        "sms", person.phone, None)  # at once, at any hour
    assert code_message.expires_at - code_message.due_at == timedelta(minutes=15)
    publish_family(app, session, [(factory.volunteer(), "anchor"), (person, "newcomer")])
    pending = {(m.kind, m.channel) for m in rows(session, person_id=person.id, status="pending")}
    assert pending >= {("what_to_expect", "email"), ("checkin", "email"), ("phone_code", "sms")}
    assert not {c for k, c in pending if k != "phone_code"} & {"sms", "whatsapp"}

    run(app)  # now: the code goes through the real twilio client to the fake
    [request] = fake_twilio.accepted()
    assert request["To"] == person.phone and request["From"] == "+15005550006"
    code = re.search(r"\b(\d{6})\b", request["Body"])[1]
    stored = session.exec(select(PhoneCode).where(PhoneCode.person_id == person.id)).one()
    assert code not in json.dumps(stored.model_dump(), default=str)  # only an HMAC is kept
    assert len(stored.code_hash) == 64

    login(client, "me@example.org")
    account = client.get("/account/").get_data(as_text=True)
    assert "Not yet" in account and "/account/phone" in account
    form_page = client.get("/account/phone").get_data(as_text=True)
    assert 'autocomplete="one-time-code"' in form_page and 'inputmode="numeric"' in form_page
    done = client.post("/account/phone", data={"code": f" {code[:3]} {code[3:]} "},
                       follow_redirects=True)
    assert "Your mobile number is confirmed" in done.get_data(as_text=True)
    assert _fresh(session, person).phone_verified_at is not None
    pending = {(m.kind, m.channel) for m in rows(session, person_id=person.id, status="pending")}
    assert ("what_to_expect", "sms") in pending and ("checkin", "sms") in pending
    assert {c for k, c in pending if k != "email_confirm"} == {"sms"}
    # The code is single use, and its text does not stay in the outbox.
    assert {m.body for m in _code_messages(session, person)} == {phone_verification.REMOVED}
    again = client.post("/account/phone", data={"code": code}, follow_redirects=True)
    assert "is confirmed" in again.get_data(as_text=True)
    assert [e.action for e in session.exec(select(AuditEvent))].count("phone_verified") == 1


def test_an_unverified_number_gets_its_check_ins_by_email(app, session, factory, fake_twilio,
                                                          fake_smtp):
    person = _with_check_in(app, session, factory, phone_verified=False)
    assert [m.channel for m in rows(session, person_id=person.id, kind="checkin",
                                    status="sent")] == ["email"]
    # The code was never sent that late: it expired after 15 minutes.
    assert [m.status for m in _code_messages(session, person)] == ["expired"]
    assert fake_twilio.accepted() == []


def test_a_whatsapp_member_gets_the_code_on_whatsapp(app, session, factory, fake_twilio):
    person = factory.newcomer(channel="whatsapp", phone_verified=False)
    [message] = _code_messages(session, person)
    assert message.channel == "whatsapp"
    code = _live_code(session, person)
    run(app)
    [request] = fake_twilio.accepted()
    assert request["To"] == f"whatsapp:{person.phone}"
    assert code in request.get("Body", "") + request.get("ContentVariables", "")


# --- Wrong, expired, used up, throttled, changed ------------------------------------------------

def test_a_wrong_code_counts_and_five_wrong_codes_use_the_code_up(app, session, factory):
    person = factory.newcomer(phone_verified=False)
    code = _live_code(session, person)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    messages = []
    for _ in range(5):
        with pytest.raises(ServiceError) as caught:
            _verify(app, session, person, wrong)
        messages.append(caught.value.errors["code"])
    assert messages[0] == "That code is not right. You can try 4 more times"
    assert messages[3] == "That code is not right. You can try 1 more time"
    assert messages[4] == "That code is not right. That was the last try: ask for a new code"
    with pytest.raises(ServiceError, match="Too many wrong codes"):
        _verify(app, session, person, code)  # even the right one, now
    assert _fresh(session, person).phone_verified_at is None


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "abcdef", "１２３４５６", "12345\x00"])
def test_a_badly_typed_code_says_what_to_type_and_costs_no_try(app, session, factory, typed):
    person = factory.newcomer(phone_verified=False)
    with pytest.raises(ServiceError, match="Enter the 6-digit code"):
        _verify(app, session, person, typed)
    session.expire_all()
    assert session.exec(select(PhoneCode.attempts)).one() == 0


def test_an_expired_code_is_refused(app, session, factory):
    person = factory.newcomer(phone_verified=False)
    code = _live_code(session, person)
    with pytest.raises(ServiceError, match="That code has expired. Ask for a new one"):
        _verify(app, session, person, code, now=utcnow() + timedelta(minutes=16))
    assert _fresh(session, person).phone_verified_at is None


def test_new_codes_are_throttled_and_replace_the_old_one(app, session, factory):
    person = factory.newcomer(phone_verified=False)
    first = _live_code(session, person)
    start = utcnow()
    with pytest.raises(ServiceError, match="less than a minute ago"):
        _send(app, session, person, now=start + timedelta(seconds=30))
    for n in range(1, 5):  # the sign-up's code was the first of five an hour
        _send(app, session, person, now=start + timedelta(seconds=61 * n))
    statuses = [m.status for m in _code_messages(session, person)]
    assert statuses == ["cancelled"] * 4 + ["pending"]
    latest = _live_code(session, person)
    with pytest.raises(ServiceError, match="5 codes in the last hour. Try again in"):
        _send(app, session, person, now=start + timedelta(seconds=61 * 5))
    if first != latest:
        with pytest.raises(ServiceError, match="not right"):
            _verify(app, session, person, first, now=start + timedelta(seconds=250))
    _send(app, session, person, now=start + timedelta(hours=1, seconds=1))
    newest = _live_code(session, person)
    _verify(app, session, person, newest, now=start + timedelta(hours=1, seconds=2))
    assert _fresh(session, person).phone_verified_at is not None


def test_a_code_for_a_number_since_changed_is_refused(app, session, factory):
    person = factory.newcomer(phone_verified=False)
    old_number, old_code = person.phone, _live_code(session, person)
    new_number = "+919812300001"
    with app.app_context():
        people.update_profile(session=session, person=_fresh(session, person), data={
            "full_name": person.full_name, "channel": "sms", "phone": new_number,
            "phone_country": "IN", "timezone": person.timezone, "region": person.region,
            "scheme": person.scheme, "stage": person.stage,
            "arrival_date": person.arrival_date, "interests": person.interests})
    codes = _code_messages(session, person)
    assert [(m.to_address, m.status) for m in codes] == [(old_number, "cancelled"),
                                                         (new_number, "pending")]
    new_code = _live_code(session, person)
    if new_code != old_code:
        with pytest.raises(ServiceError, match="not right"):
            _verify(app, session, person, old_code)
    _verify(app, session, person, new_code)
    fresh = _fresh(session, person)
    assert (fresh.phone, fresh.phone_verified_at is not None) == (new_number, True)


def test_changing_a_verified_number_unverifies_it_and_texts_go_by_email(app, session, factory):
    person = factory.newcomer()
    assert _fresh(session, person).phone_verified_at is not None
    [expect] = rows(session, person_id=person.id, kind="what_to_expect", status="pending")
    assert expect.channel == "sms"
    with app.app_context():
        people.update_profile(session=session, person=_fresh(session, person), data={
            "full_name": person.full_name, "channel": "sms", "phone": "+919812300002",
            "phone_country": "IN", "timezone": person.timezone, "region": person.region,
            "scheme": person.scheme, "stage": person.stage,
            "arrival_date": person.arrival_date, "interests": person.interests})
    assert _fresh(session, person).phone_verified_at is None
    [expect] = rows(session, person_id=person.id, kind="what_to_expect", status="pending")
    assert expect.channel == "email"
    # Saving again without a change sends no second code.
    before = len(_code_messages(session, person))
    with app.app_context():
        people.update_profile(session=session, person=_fresh(session, person), data={
            "full_name": person.full_name, "channel": "sms", "phone": "+919812300002",
            "phone_country": "IN", "timezone": person.timezone, "region": person.region,
            "scheme": person.scheme, "stage": person.stage,
            "arrival_date": person.arrival_date, "interests": person.interests})
    assert len(_code_messages(session, person)) == before


def test_the_code_page_through_http(app, session, factory, client):
    person = factory.newcomer(email="me@example.org", phone_verified=False)
    login(client, "me@example.org")
    wrong = client.post("/account/phone", data={"code": "12"})
    assert wrong.status_code == 200
    assert "Enter the 6-digit code from the text message" in wrong.get_data(as_text=True)
    resend = client.post("/account/phone/code", follow_redirects=True)
    assert "less than a minute ago" in resend.get_data(as_text=True)
    _fresh(session, person)
    session.execute(sa.update(PhoneCode).values(sent_at=utcnow() - timedelta(minutes=2)))
    session.commit()
    resend = client.post("/account/phone/code", follow_redirects=True)
    assert "We have sent you a new code" in resend.get_data(as_text=True)
    assert len(_code_messages(session, person)) == 2


def test_no_text_channel_means_no_code_and_a_clear_message(make_app, channel_settings, session,
                                                           factory):
    app = make_app(**channel_settings, BUDDY_CHANNELS="email")
    from tests.factories import Factory

    person = Factory(app, session).newcomer(phone_verified=False)
    assert _code_messages(session, person) == []
    with pytest.raises(ServiceError, match="not sending text messages at the moment"):
        _send(app, session, person)


# --- One verified owner per number -------------------------------------------------------------

def test_a_second_person_verifying_a_number_takes_it_over(app, session, factory, client):
    """The latest proof of holding the phone wins; the older verification is dropped."""
    first = factory.newcomer()
    assert rows(session, person_id=first.id, kind="what_to_expect", status="pending")[0] \
        .channel == "sms"
    second = factory.newcomer(phone=first.phone, phone_country="IN")  # verifies it too
    first, second = _fresh(session, first), _fresh(session, second)
    assert first.phone_verified_at is None and second.phone_verified_at is not None
    dropped = session.exec(select(AuditEvent).where(
        AuditEvent.action == "phone_verification_dropped")).one()
    assert (dropped.person_id, dropped.detail) == (first.id, {"verified_by_person": second.id})
    [expect] = rows(session, person_id=first.id, kind="what_to_expect", status="pending")
    assert expect.channel == "email"
    _text(client, first.phone, "HELP", sid="SMowner")
    assert session.exec(select(Flag.person_id)).all() == [second.id]


def test_the_database_keeps_one_verified_owner_per_number(app, session, factory):
    first = factory.newcomer()
    second = factory.newcomer(phone=first.phone, phone_country="IN", phone_verified=False)
    second = _fresh(session, second)
    second.phone_verified_at = utcnow()
    session.add(second)
    with pytest.raises(sa.exc.IntegrityError):
        session.commit()
    session.rollback()


def test_the_old_code_is_refused_when_the_new_number_got_none(app, session, factory, client):
    person = _fresh(session, factory.newcomer(phone_verified=False))
    old_number, old_code = person.phone, _live_code(session, person)
    _text(client, person.phone, "STOP", sid="SMstop")  # no code can go until START
    with app.app_context():
        people.update_profile(session=session, person=_fresh(session, person), data={
            "full_name": person.full_name, "channel": "sms", "phone": "+919812300003",
            "phone_country": "IN", "timezone": person.timezone, "region": person.region,
            "scheme": person.scheme, "stage": person.stage,
            "arrival_date": person.arrival_date, "interests": person.interests})
    assert [m.to_address for m in _code_messages(session, person)] == [old_number]
    with pytest.raises(ServiceError, match="That code was for the number you had before"):
        _verify(app, session, person, old_code)
    assert _fresh(session, person).phone_verified_at is None
