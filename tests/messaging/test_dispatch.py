"""Dispatch through the real twilio client and smtplib against local servers.

RELIABILITY.md items 7, 8, 9, 12 and 16; two dispatchers racing; a dispatcher killed
mid-batch and restarted.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from buddy.messaging import outbox
from buddy.messaging.channels import build_channels
from buddy.messaging.dispatch import MAX_ATTEMPTS, status_callback_url
from buddy.messaging.models import Flag, Message
from buddy.models import Person, User
from tests.conftest import TEST_SETTINGS
from tests.factories import join, newcomer_form
from tests.fakes import free_port
from tests.messaging.conftest import at, confirm, rows, run, sign

# 14 July 2027 09:00 UTC is 14:30 in India: "what to expect" for a 4 August arrival is due.
DUE = at(2027, 7, 14, 9)


def expect_row(session, person) -> Message:
    """The person's "what to expect" on the channel they chose (a copy queued by email
    before their phone was confirmed is another row)."""
    return next(m for m in rows(session, person_id=person.id)
                if m.kind == "what_to_expect" and m.channel == person.channel)


def test_sms_goes_through_twilio_once_with_its_status_callback(app, session, factory,
                                                               fake_twilio):
    person = factory.newcomer()
    counts = run(app, DUE)
    assert counts["sent"] == 2  # the SMS and the email confirmation
    [request] = fake_twilio.accepted()
    row = expect_row(session, person)
    assert row.status == "sent" and row.provider_id == request["sid"]
    assert request["To"] == person.phone and request["From"] == "+15005550006"
    assert request["StatusCallback"] == f"http://localhost/messages/twilio/status/{row.id}"
    assert request["Body"] == row.body
    assert run(app, DUE + timedelta(hours=1)) == {}  # nothing twice
    assert len(fake_twilio.received) == 1


def test_whatsapp_uses_the_whatsapp_addresses(app, session, factory, fake_twilio):
    factory.newcomer(channel="whatsapp")
    run(app, DUE)
    [request] = fake_twilio.accepted()
    assert request["To"].startswith("whatsapp:+91") and request["From"] == "whatsapp:+14155238886"


def test_invalid_number_fails_at_once_and_falls_back_to_email(app, session, factory,
                                                              fake_twilio, fake_smtp):
    """Item 9: 21211 is permanent."""
    person = confirm(session, factory.newcomer())
    fake_twilio.mode = "invalid"
    run(app, DUE)
    assert len(fake_twilio.received) == 1
    sms, email = sorted((m for m in rows(session, person_id=person.id)
                         if m.kind == "what_to_expect"), key=lambda m: m.channel != "sms")
    assert sms.status == "failed" and sms.error_code == "21211" and sms.attempts == 1
    assert "21211" in sms.last_error
    # The same pass sends the email copy.
    assert email.channel == "email" and email.status == "sent"
    assert any(b"first weeks" in m["content"] for m in fake_smtp.messages_to(email.to_address))


def test_error_21610_sets_our_opt_out(app, session, factory, fake_twilio):
    """Item 6: Twilio's 21610 (the person texted STOP to Twilio)."""
    person = factory.newcomer()
    fake_twilio.mode = "opted_out"
    run(app, DUE)
    session.expire_all()
    assert session.get(Person, person.id).sms_opted_out is True
    assert expect_row(session, person).status == "failed"


@pytest.mark.parametrize("mode", ["throttled", "error"])
def test_429_and_5xx_are_retried_with_backoff(app, session, factory, fake_twilio, mode):
    """Item 9."""
    person = factory.newcomer()
    fake_twilio.mode = mode
    run(app, DUE)
    row = expect_row(session, person)
    assert row.status == "pending" and row.attempts == 1
    assert DUE + timedelta(seconds=40) <= row.next_attempt_at <= DUE + timedelta(seconds=80)
    run(app, DUE + timedelta(seconds=30))
    assert len(fake_twilio.received) == 1  # not yet due again
    fake_twilio.mode = "ok"
    run(app, DUE + timedelta(minutes=2))
    row = expect_row(session, person)
    assert row.status == "sent" and row.attempts == 2
    assert len(fake_twilio.accepted()) == 1


def test_retries_give_up_after_about_eight_tries(app, session, factory, fake_twilio):
    person = factory.newcomer()
    fake_twilio.mode = "error"
    moment = DUE
    for _ in range(MAX_ATTEMPTS):
        run(app, moment)
        moment += timedelta(days=1)  # past any backoff, inside the window
    row = expect_row(session, person)
    assert row.status == "failed" and row.attempts == MAX_ATTEMPTS
    assert row.last_error.startswith(f"Gave up after {MAX_ATTEMPTS} tries")
    assert len(fake_twilio.received) == MAX_ATTEMPTS


def test_a_hanging_twilio_times_out_as_uncertain_and_is_not_resent(app, session, factory,
                                                                   fake_twilio):
    """Items 8 and 9: a read timeout may mean Twilio has it."""
    person = factory.newcomer()
    fake_twilio.mode = "hang"
    with app.app_context():
        channels = build_channels(app.config, status_callback=status_callback_url)
        channels["sms"].http.timeout = 1  # production uses 10 s
        started = time.monotonic()
        run(app, DUE, channels=channels)
        assert time.monotonic() - started < 5
        for channel in channels.values():
            channel.close()
    row = expect_row(session, person)
    assert row.status == "uncertain" and "ReadTimeout" in row.last_error
    fake_twilio.mode = "ok"
    run(app, DUE + timedelta(days=1))
    assert len(fake_twilio.received) == 1


def test_connection_dropped_after_the_request_is_uncertain(app, session, factory, fake_twilio):
    """Item 8: the provider accepted, then the connection died before its answer."""
    person = factory.newcomer()
    fake_twilio.mode = "drop"
    run(app, DUE)
    row = expect_row(session, person)
    assert row.status == "uncertain"
    run(app, DUE + timedelta(days=1))
    assert len(fake_twilio.received) == 1


def test_twilio_unreachable_is_retried(make_app, channel_settings, session, factory):
    app = make_app(**{**channel_settings,
                      "BUDDY_TWILIO_API_URL": f"http://127.0.0.1:{free_port()}"})
    person = factory.newcomer()
    run(app, DUE)
    row = expect_row(session, person)
    assert row.status == "pending" and row.attempts == 1 and "unreachable" in row.last_error


def test_uncertain_row_is_settled_by_the_status_callback(app, session, factory, fake_twilio,
                                                         client):
    person = factory.newcomer()
    fake_twilio.mode = "drop"
    run(app, DUE)
    row = expect_row(session, person)
    [request] = fake_twilio.received
    url = request["StatusCallback"]
    form = {"MessageSid": request["sid"], "MessageStatus": "delivered", "To": person.phone}
    assert client.post(url, data=form, headers=sign(url, form)).status_code == 204
    row = expect_row(session, person)
    assert row.status == "sent" and row.provider_id == request["sid"]
    assert row.provider_status == "delivered"


# --- Windows, expiry, a dispatcher that was down ---------------------------------------------

def test_outside_the_window_waits_for_the_recipients_morning(app, session, factory,
                                                             fake_twilio):
    person = factory.newcomer()
    night = at(2027, 7, 14, 20)  # 01:30 in India
    run(app, night)
    assert fake_twilio.received == []
    row = expect_row(session, person)
    assert row.status == "pending" and row.attempts == 0
    assert row.next_attempt_at == datetime(2027, 7, 15, 3, 30, tzinfo=UTC)  # 09:00 IST
    run(app, datetime(2027, 7, 15, 3, 29, tzinfo=UTC))
    assert fake_twilio.received == []
    run(app, datetime(2027, 7, 15, 3, 30, tzinfo=UTC))
    assert len(fake_twilio.accepted()) == 1


@pytest.mark.parametrize(("moment", "sent"), [
    # 27 March 2027 is GMT: 08:30 UTC is 08:30 in London, before the window.
    (datetime(2027, 3, 27, 8, 30, tzinfo=UTC), False),
    # 29 March 2027 is BST (clocks went forward on the 28th): 08:30 UTC is 09:30 local.
    (datetime(2027, 3, 29, 8, 30, tzinfo=UTC), True),
    # 30 October 2027 is BST: 17:30 UTC is 18:30 local, inside the window.
    (datetime(2027, 10, 30, 17, 30, tzinfo=UTC), True),
    # 1 November 2027 is GMT again (clocks went back on 31 October): 19:30 local, outside.
    (datetime(2027, 11, 1, 19, 30, tzinfo=UTC), False),
])
def test_daylight_saving_weeks_keep_the_window(app, session, factory, fake_twilio, moment, sent):
    """Item 12."""
    person = factory.newcomer(timezone="Europe/London", phone_country="GB",
                              phone=_gb_mobile())
    _direct(session, person, due_at=moment - timedelta(minutes=1), tz="Europe/London")
    run(app, moment)
    assert bool(fake_twilio.received) is sent


def test_check_in_times_follow_daylight_saving(app, session, factory):
    from buddy.messaging import cadence
    from tests.messaging.conftest import publish_family

    newcomer = factory.newcomer(timezone="Europe/London", arrival_day="20", arrival_month="3")
    publish_family(app, session, [(factory.volunteer(), "anchor"), (newcomer, "newcomer")])
    due = {m.subject: m.due_at for m in rows(session, person_id=newcomer.id)
           if m.kind == "checkin"}
    assert due["day:7"] == datetime(2027, 3, 27, 10, 0, tzinfo=UTC)  # 10:00 GMT
    assert due["day:28"] == datetime(2027, 4, 17, 9, 0, tzinfo=UTC)  # 10:00 BST
    rules = cadence.cadence_for("london")
    for when in due.values():
        assert cadence.in_window(when, "Europe/London", rules)


def test_dispatcher_down_across_due_times_sends_overdue_once_and_expires_stale(
        app, session, factory, fake_twilio):
    """Item 7: overdue rows go out once or expire by policy; none silently skipped."""
    from tests.messaging.conftest import publish_family

    newcomer = factory.newcomer()
    publish_family(app, session, [(factory.volunteer(), "anchor"), (newcomer, "newcomer")])
    # Down from before "what to expect" until three days after the first check-in was due.
    back = at(2027, 8, 14, 8)
    counts = run(app, back)
    mine = {m.kind + (m.subject if m.kind == "checkin" else ""): m
            for m in rows(session, person_id=newcomer.id)}
    assert mine["what_to_expect"].status == "expired"  # after arrival: not sent late
    assert mine["family_intro"].status == "sent"
    assert mine["checkinday:7"].status == "sent"  # 3 days late, within its 7 days
    assert mine["checkinday:28"].status == "pending"
    # "What to expect", and the hello survey asked when they joined (its link lasts 60 days).
    assert counts["expired"] == 2
    bodies = [r["Body"] for r in fake_twilio.accepted()]
    assert len(bodies) == len(set(bodies)) == 2
    assert run(app, back + timedelta(minutes=1)) == {}


def test_a_row_stuck_after_the_hand_over_becomes_uncertain(app, session, factory):
    person = factory.newcomer()
    row = expect_row(session, person)
    session.execute(sa.update(Message).where(Message.id == row.id)
                    .values(status="sending", claimed_at=DUE, handed_at=DUE))
    session.commit()
    run(app, DUE + timedelta(minutes=5))
    assert expect_row(session, person).status == "sending"
    run(app, DUE + timedelta(minutes=11))
    assert expect_row(session, person).status == "uncertain"


def test_a_row_stuck_before_the_hand_over_is_queued_again_and_sent_once(app, session,
                                                                        factory):
    """The dispatcher died after claiming the row and before calling the provider."""
    person = factory.newcomer()
    row = expect_row(session, person)
    session.execute(sa.update(Message).where(Message.id == row.id)
                    .values(status="sending", claimed_at=DUE, attempts=1))
    session.commit()
    run(app, DUE + timedelta(minutes=11))
    again = expect_row(session, person)
    assert again.status == "sent" and again.attempts == 1


# --- Concurrency -------------------------------------------------------------------------------

def _staff_rows(session, count: int) -> User:
    """`count` due messages, half SMS and half email, for one staff user (no window)."""
    user = User(email="bulk@example.org", password_hash="x", role="admin", full_name="Bulk")
    session.add(user)
    session.flush()
    for n in range(count):
        channel = "sms" if n % 2 else "email"
        outbox.enqueue(session, user=user, channel=channel, kind="bulk", subject=str(n),
                       to_address=_e164() if channel == "sms" else f"p{n}@example.org",
                       title=f"Message {n}", body=f"Message number {n}", due_at=DUE)
    session.commit()
    return user


def test_two_dispatchers_at_once_send_each_message_once(make_app, channel_settings, session,
                                                        fake_twilio, fake_smtp):
    """Item 7."""
    _staff_rows(session, 120)
    apps = [make_app(**channel_settings) for _ in range(2)]
    results, errors = [], []

    def work(app):
        try:
            results.append(run(app, DUE))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(a,)) for a in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sum(r["sent"] for r in results) == 120
    assert all(r["sent"] > 0 for r in results), results  # both took part
    assert len(fake_twilio.accepted()) == 60 and fake_twilio.duplicates() == {}
    assert len(fake_smtp.received) == 60 and fake_smtp.duplicates() == {}
    assert {m.status for m in rows(session)} == {"sent"}


def test_dispatcher_killed_mid_batch_and_restarted_loses_and_doubles_nothing(
        app, settings, channel_settings, session, fake_twilio, fake_smtp, client):
    user = _staff_rows(session, 20)
    sms_total = 10
    # The 4th text hangs inside Twilio: the dispatcher is killed while it waits.
    fake_twilio.script = ["ok", "ok", "ok", "hang"]
    env = {**os.environ, **{k: str(v) for k, v in {**TEST_SETTINGS, **settings,
                                                   **channel_settings}.items()}}
    buddy = os.path.join(os.path.dirname(sys.executable), "buddy")
    process = subprocess.Popen([buddy, "dispatch", "--now", DUE.isoformat()], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while len(fake_twilio.received) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(fake_twilio.received) == 4
    finally:
        process.kill()
        process.wait(10)
    statuses = [m.status for m in rows(session, user_id=user.id)]
    assert statuses.count("sending") == 1 and "pending" in statuses

    # Restarted eleven minutes later: the row it died on is uncertain, the rest go once.
    run(app, DUE + timedelta(minutes=11))
    final = rows(session, user_id=user.id)
    assert [m.status for m in final].count("uncertain") == 1
    assert [m.status for m in final].count("sent") == 19
    # Twilio's status callback for the hung request settles the uncertain row.
    hung = next(r for r in fake_twilio.received if r["mode"] == "hang")
    form = {"MessageSid": hung["sid"], "MessageStatus": "delivered"}
    url = hung["StatusCallback"]
    assert client.post(url, data=form, headers=sign(url, form)).status_code == 204
    assert {m.status for m in rows(session, user_id=user.id)} == {"sent"}
    assert len(fake_twilio.accepted()) == sms_total and fake_twilio.duplicates() == {}
    assert len(fake_smtp.received) == 20 - sms_total and fake_smtp.duplicates() == {}


def test_web_app_and_dispatcher_write_at_once(app, make_app, channel_settings, session,
                                              fake_twilio, fake_smtp):
    """Item 16: no unhandled "database is locked"; foreign keys still enforced."""
    _staff_rows(session, 150)
    worker = make_app(**channel_settings)
    errors: list[Exception] = []

    def dispatcher():
        try:
            run(worker, DUE)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=dispatcher)
    thread.start()
    # Eight people signing up, page by page, while the dispatcher writes.
    statuses = [join(app.test_client(), "/join/newcomer", newcomer_form()).status_code
                for _ in range(8)]
    thread.join(60)
    assert errors == [] and set(statuses) == {302}
    assert len([m for m in rows(session) if m.kind == "bulk" and m.status == "sent"]) == 150
    session.add(Message(user_id=999_999, channel="email", kind="x", subject="y",
                        to_address="a", body="", due_at=DUE))
    with pytest.raises(sa.exc.IntegrityError):
        session.commit()
    session.rollback()


def _direct(session, person: Person, *, due_at: datetime, tz: str) -> Message:
    user = session.get(User, person.user_id)
    message = outbox.enqueue(session, user=user, channel=person.channel, kind="checkin",
                             subject="day:7", to_address=person.phone, title="Check-in",
                             body="Hello, reply 1 or 2", due_at=due_at, person=person,
                             timezone=tz)
    session.commit()
    return message


def _gb_mobile() -> str:
    """A valid UK mobile in national format (as typed in a form)."""
    from tests.factories import mobile

    return mobile("GB")


def _e164() -> str:
    import phonenumbers

    return phonenumbers.format_number(
        phonenumbers.example_number_for_type("GB", phonenumbers.PhoneNumberType.MOBILE),
        phonenumbers.PhoneNumberFormat.E164)


# --- One bad message never stops the others (RELIABILITY.md item 17) -------------------------

LONE_SURROGATE = "Hello \udc80 there"
GOOD_EMAILS = {  # address -> title
    "first@example.org": "Hello",
    "josé@exámple.org": "Hello",  # SMTPUTF8: the fake server offers it, as many do
    "用户@例子.广告": "Hello",
    "zoë@example.org": "Zoë Çelik, مرحبا, 你好 👋",
    "long@example.org": "x" * 200,  # the longest title the outbox holds, one word
    "surrogate@example.org": LONE_SURROGATE,  # stored with U+FFFD: no database takes it
    "nul@example.org": "Hi\x00there",  # the same: PostgreSQL takes no NUL
    "last@example.org": "Hello",
}
BAD_EMAILS = {  # address, title, body -> what the reason says
    ("a@", "Hello", "Body"): "not of the form name@domain",
    ("a b@example.org", "Hello", "Body"): "contains a space",
    ("x@example.org\u2028", "Hello", "Body"): "line break (U+2028)",
    ("a(note)@example.org", "Hello", "Body"): "not a plain name@domain",
    ("nl@example.org", "Hi\u2028Bcc: evil@example.org", "Body"): "subject contains a line break",
    ("crlf@example.org", "Hi\r\nBcc: evil@example.org", "Body"): "subject contains a line brea",
    ("ctl@example.org", "Hi\x07there", "Body"): "control character (U+0007)",
}
GOOD_TEXTS = {"+447400123456": "sms", "+14155550123": "whatsapp"}
CHECKIN = ("Hello Sam, how are things going in your first week? Reply 1 if all is good, or 2 if "
           "you would like a call from us.")
BAD_TEXTS = {  # address, channel, body, kind -> reason
    ("not a phone", "sms", "Hello", "test"): "not in international format",
    ("+44 7700 900123", "sms", "Hello", "test"): "not in international format",
    ("", "whatsapp", CHECKIN, "checkin"): "not in international format",
    ("+447400123458", "whatsapp", "Hello", "no_such_kind"): "No WhatsApp template",
}


def test_hostile_messages_fail_alone_and_every_good_one_is_delivered_once(
        app, session, factory, fake_twilio, fake_smtp):
    """Finding 3: one message that cannot be built or sent fails with its reason; the pass
    sends every other message, and nothing is left `sending`."""
    staff = User(email="staff@example.org", password_hash="x", role="admin", full_name="Staff")
    session.add(staff)
    session.flush()
    n = 0

    def queue(channel, to, title, body, kind="test"):
        nonlocal n
        n += 1
        outbox.enqueue(session, user=staff, channel=channel, kind=kind, subject=str(n),
                       to_address=to, title=title, body=body, due_at=DUE)

    bad = list(BAD_EMAILS.items())
    for i, (to, title) in enumerate(GOOD_EMAILS.items()):
        queue("email", to, title, f"Body for {to}, café ok {LONE_SURROGATE}")
        if i < len(bad):  # bad ones between the good ones
            (bad_to, bad_title, bad_body), _ = bad[i]
            queue("email", bad_to, bad_title, bad_body)
    for (bad_to, bad_title, bad_body), _ in bad[len(GOOD_EMAILS):]:
        queue("email", bad_to, bad_title, bad_body)
    for (to, channel, body, kind), _ in BAD_TEXTS.items():
        queue(channel, to, "Text", body, kind)
        for good_to, good_channel in GOOD_TEXTS.items():
            queue(good_channel, good_to, "Text", CHECKIN, "checkin")
    # The dispatcher's own step fails too: a check-in whose subject names no day.
    person = confirm(session, factory.newcomer(channel="email", phone=None,
                                               phone_country=None))
    outbox.enqueue(session, user=session.get(User, person.user_id), channel="email",
                   kind="checkin", subject="day:seven", to_address="broken@example.org",
                   title="How are things going?", body="Hello", due_at=DUE, person=person)
    session.commit()

    counts = run(app, DUE)

    outbox_rows = rows(session)
    # (The newcomer's hello survey, asked when they joined months before DUE, expired.)
    assert [(m.to_address, m.status) for m in outbox_rows
            if m.status not in ("sent", "failed")
            and (m.kind, m.status) != ("survey", "expired")] == []
    received = Counter(m["to"] for m in fake_smtp.received)
    assert {to: received[to] for to in GOOD_EMAILS} == dict.fromkeys(GOOD_EMAILS, 1)
    assert not {to for to, _, _ in BAD_EMAILS} & set(received)
    texts = sorted((r["To"], "ContentSid" in r) for r in fake_twilio.delivered())
    assert texts == sorted([("+447400123456", False)] * len(BAD_TEXTS)
                           + [("whatsapp:+14155550123", True)] * len(BAD_TEXTS))
    by_address = {}
    for row in outbox_rows:
        by_address.setdefault(row.to_address, []).append(row)
    for (to, title, _body), reason in BAD_EMAILS.items():
        [row] = [r for r in by_address[to] if r.title == title]
        assert row.status == "failed" and reason in row.last_error, (to, row.last_error)
    for (to, _channel, _body, _kind), reason in BAD_TEXTS.items():
        [row] = by_address[to]
        assert row.status == "failed" and reason in row.last_error, (to, row.last_error)
    [broken] = by_address["broken@example.org"]
    assert broken.status == "failed" and "ValueError" in broken.last_error
    assert counts["failed"] == len(BAD_EMAILS) + len(BAD_TEXTS) + 1
    # A failed email of a person is on their lead's list, as any permanent failure is.
    [flag] = session.exec(select(Flag).where(Flag.message_id == broken.id)).all()
    assert (flag.reason, flag.region) == ("message_failed", "london")
    assert fake_smtp.duplicates() == {} and fake_twilio.duplicates() == {}


# --- Provider-call logs ---------------------------------------------------------------------

def test_each_provider_call_logs_one_line_without_personal_data(app, session, factory,
                                                               fake_twilio, caplog):
    person = factory.newcomer(full_name="Ada Quartermaine")
    caplog.set_level(logging.INFO, logger="buddy.provider")
    run(app, DUE)
    row = expect_row(session, person)
    calls = [r for r in caplog.records if r.name == "buddy.provider"]
    assert len(calls) == 2  # the text and the email confirmation, one line each
    [text] = [r for r in calls if r.message_id == row.id]
    assert (text.getMessage(), text.kind, text.channel, text.outcome) == (
        "provider_call", "what_to_expect", "sms", "sent")
    assert isinstance(text.ms, float) and text.ms >= 0
    user = session.get(User, person.user_id)
    for record in calls:
        logged = repr(vars(record))
        for private in (person.phone, user.email, "Ada", "Quartermaine", row.body[:20]):
            assert private not in logged, private
