"""The cadence: what is queued when, in the recipient's time zone, moved and never doubled."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime

from sqlmodel import select

from buddy.messaging import cadence
from buddy.messaging.models import Message
from buddy.services import people
from buddy.statuses import MessageStatus
from tests.factories import volunteer_form
from tests.messaging.conftest import at, publish_family, publish_pair, rows, run


def keyed(session, person) -> dict[tuple[str, str, str], Message]:
    return {(m.channel, m.kind, m.subject): m for m in rows(session, person_id=person.id)}


def test_sign_up_queues_confirmation_and_what_to_expect_in_local_time(session, factory):
    person = factory.newcomer(timezone="Asia/Kolkata")  # arrives 4 August 2027
    # (By email until the number was confirmed, then by SMS; the code itself went at once.)
    queued = {k: m for k, m in keyed(session, person).items() if m.status == "pending"}
    assert set(queued) == {("email", "email_confirm", f"email:newcomer{person.full_name.split()[1]}"
                                                      "@example.org"),
                           ("sms", "what_to_expect", "arrival"), ("sms", "survey", "hello")}
    expect = queued["sms", "what_to_expect", "arrival"]
    # 14 July 2027, 10:00 in Kolkata (UTC+5:30), stored in UTC; expires on arrival day.
    assert expect.due_at == datetime(2027, 7, 14, 4, 30, tzinfo=UTC)
    assert expect.expires_at == datetime(2027, 8, 3, 18, 30, tzinfo=UTC)
    assert expect.to_address.startswith("+91") and "4 August 2027" in expect.body


def test_volunteers_get_the_confirmation_only(session, factory):
    volunteer = factory.volunteer()
    assert [m.kind for m in rows(session, person_id=volunteer.id)] == ["email_confirm"]


def test_family_publication_queues_the_whole_cadence(app, session, factory):
    newcomer = factory.newcomer(timezone="Asia/Kolkata")
    anchor = factory.volunteer(role="buddy")
    buddy = factory.volunteer(role="buddy", stage="ST2")
    publish_family(app, session, [(anchor, "anchor"), (buddy, "buddy"), (newcomer, "newcomer")],
                   published_at=at(2027, 5, 1))
    mine = keyed(session, newcomer)
    # Introduction at arrival - 14 days (later than publication), 10:00 Kolkata.
    intro = mine["sms", "family_intro", "family:1"] if ("sms", "family_intro", "family:1") in mine \
        else next(m for k, m in mine.items() if k[1] == "family_intro")
    assert intro.due_at == datetime(2027, 7, 21, 4, 30, tzinfo=UTC)
    assert anchor.full_name in intro.body and buddy.full_name in intro.body
    checkins = sorted((m for m in mine.values() if m.kind == "checkin"), key=lambda m: m.due_at)
    assert [m.subject for m in checkins] == ["day:7", "day:28", "day:56", "day:91"]
    assert [m.due_at.date() for m in checkins] == [
        date(2027, 8, 11), date(2027, 9, 1), date(2027, 9, 29), date(2027, 11, 3)]
    assert "Reply 1" in checkins[0].body
    close = [m for m in mine.values() if m.kind == "close_continue"]
    assert [m.due_at.date() for m in close] == [date(2028, 2, 2)]
    nudges = [m for m in rows(session, person_id=buddy.id) if m.kind == "buddy_nudge"]
    assert len(nudges) == 4 and all(newcomer.full_name in m.body for m in nudges)
    # The buddy is in London: 10:00 BST on 11 August is 09:00 UTC.
    assert min(m.due_at for m in nudges) == datetime(2027, 8, 11, 9, 0, tzinfo=UTC)
    assert {m.kind for m in rows(session, person_id=anchor.id)} == {
        "email_confirm", "family_intro", "buddy_nudge", "survey", "close_continue"}
    # The eight-week survey, the day after the 8-week check-in, for newcomer and volunteers.
    for person in (newcomer, anchor, buddy):
        [survey] = [m for m in rows(session, person_id=person.id)
                    if m.kind == "survey" and m.subject == "eight_weeks:2027-08"]
        assert survey.due_at.date() == date(2027, 9, 30)


def test_family_published_twice_queues_nothing_twice(app, session, factory):
    newcomer, anchor = factory.newcomer(), factory.volunteer()
    family = publish_family(app, session, [(anchor, "anchor"), (newcomer, "newcomer")])
    before = len(rows(session))
    with app.app_context():
        cadence.family_published(session, family, [(anchor, "anchor"), (newcomer, "newcomer")])
    session.commit()
    assert len(rows(session)) == before


def test_changed_arrival_moves_every_pending_message_without_a_second_week_one(
        app, session, factory):
    """RELIABILITY.md item 11."""
    newcomer, anchor = factory.newcomer(timezone="Europe/London"), factory.volunteer()
    publish_family(app, session, [(anchor, "anchor"), (newcomer, "newcomer")])
    ids_before = {k: m.id for k, m in keyed(session, newcomer).items()}
    with app.app_context():
        people.update_profile(session=session, person=newcomer, data={
            **_profile(newcomer), "arrival_date": date(2027, 9, 1)})
    after = keyed(session, newcomer)
    assert {k: m.id for k, m in after.items()} == ids_before  # the same rows, moved
    week_one = after["sms", "checkin", "day:7"]
    assert week_one.due_at == datetime(2027, 9, 8, 9, 0, tzinfo=UTC)
    assert len([m for m in rows(session) if m.kind == "checkin" and m.subject == "day:7"]) == 1
    # The buddy's nudges follow the newcomer's new date too.
    nudge = next(m for m in rows(session, person_id=anchor.id)
                 if m.subject == f"newcomer:{newcomer.id}:day:7")
    assert nudge.due_at == datetime(2027, 9, 8, 9, 0, tzinfo=UTC)


def test_pause_cancels_resume_requeues_withdraw_cancels(app, session, factory):
    newcomer, anchor = factory.newcomer(), factory.volunteer()
    publish_family(app, session, [(anchor, "anchor"), (newcomer, "newcomer")])
    # (Cancelled already: the emails planned before the number was confirmed, and the code.)
    planned = [m for m in rows(session, person_id=newcomer.id)
               if m.kind != "email_confirm" and m.status == "pending"]
    with app.app_context():
        people.change_status(session=session, person=newcomer, action="pause")
    assert {m.status for m in rows(session, person_id=newcomer.id)
            if m.kind != "email_confirm"} == {"cancelled"}
    with app.app_context():
        people.change_status(session=session, person=newcomer, action="resume")
    again = [m for m in rows(session, person_id=newcomer.id)
             if m.kind != "email_confirm" and m.status == "pending"]
    assert sorted(m.id for m in again) == sorted(m.id for m in planned)
    with app.app_context():
        people.change_status(session=session, person=newcomer, action="withdraw")
    assert {m.status for m in rows(session, person_id=newcomer.id)
            if m.kind != "email_confirm"} == {"cancelled"}


def test_a_sent_message_is_never_queued_again_even_on_another_channel(
        app, session, factory, fake_twilio):
    newcomer = factory.newcomer()
    run(app, at(2027, 7, 14, 9))  # "what to expect" goes by SMS (09:00 UTC is 14:30 in India)
    assert [r["Body"][:5] for r in fake_twilio.accepted()] == ["Hello"]
    with app.app_context():
        people.update_profile(session=session, person=newcomer,
                              data={**_profile(newcomer), "channel": "email"})
    expect = [m for m in rows(session, person_id=newcomer.id) if m.kind == "what_to_expect"]
    # The email one was planned before the number was confirmed, and cancelled then.
    assert [(m.channel, m.status) for m in expect] == [("email", "cancelled"), ("sms", "sent")]


def test_channel_change_moves_pending_messages_to_the_new_channel(app, session, factory):
    newcomer = factory.newcomer()
    with app.app_context():
        people.update_profile(session=session, person=newcomer,
                              data={**_profile(newcomer), "channel": "whatsapp"})
    expect = {m.channel: m.status for m in rows(session, person_id=newcomer.id)
              if m.kind == "what_to_expect"}
    assert expect == {"email": "cancelled", "sms": "cancelled", "whatsapp": "pending"}


def test_ambassador_introduction_only_with_a_week_to_go(app, session, factory):
    from datetime import timedelta

    far = factory.newcomer(**_arrival(date.today() + timedelta(days=60)))
    near = factory.newcomer(**_arrival(date.today() + timedelta(days=3)))
    ambassador = factory.volunteer(role="ambassador")
    publish_pair(app, session, ambassador, far)
    publish_pair(app, session, ambassador, near)
    session.commit()
    intros = [m for m in rows(session) if m.kind == "ambassador_intro"]
    assert sorted((m.person_id, m.subject) for m in intros) == sorted([
        (far.id, f"ambassador:{ambassador.id}"), (ambassador.id, f"newcomer:{far.id}")])
    assert ambassador.full_name in next(m.body for m in intros if m.person_id == far.id)


def test_region_override_changes_the_cadence(monkeypatch):
    cfg = dict(cadence._config())
    cfg["regions"] = {"wessex": {"cadence": {"checkin_days": [7, 21]}}}
    cadence.cadence_for.cache_clear()
    monkeypatch.setattr(cadence, "_config", lambda: cfg)
    try:
        assert cadence.cadence_for("wessex").checkin_days == (7, 21)
        assert cadence.cadence_for("london").checkin_days == (7, 28, 56, 91)
    finally:
        cadence.cadence_for.cache_clear()


# Every text's length and characters: tests/messaging/test_texts.py.


def _profile(person) -> dict:
    return {
        "full_name": person.full_name, "channel": person.channel, "phone": person.phone,
        "phone_country": "IN", "timezone": person.timezone, "region": person.region,
        "scheme": person.scheme, "stage": person.stage, "arrival_date": person.arrival_date,
        "interests": person.interests,
    }


def _arrival(day: date) -> dict:
    return {"arrival_day": str(day.day), "arrival_month": str(day.month),
            "arrival_year": str(day.year)}


def test_nothing_but_the_confirmation_goes_to_an_unconfirmed_address(
        app, session, factory, fake_smtp, client):
    volunteer = factory.volunteer()
    newcomer = factory.newcomer()
    publish_family(app, session, [(volunteer, "anchor"), (newcomer, "newcomer")])
    run(app, at(2027, 7, 21, 12))
    intro = next(m for m in rows(session, person_id=volunteer.id) if m.kind == "family_intro")
    assert intro.status == "pending" and "confirmed" in intro.last_error
    assert [m["to"] for m in fake_smtp.received].count(intro.to_address) == 1  # confirmation
    link = next(m for m in rows(session, person_id=volunteer.id) if m.kind == "email_confirm")
    path = re.search(r"http://localhost(/messages/confirm-email/\S+)", link.body)[1]
    assert "Email address confirmed" in client.get(path).get_data(as_text=True)
    run(app, at(2027, 7, 21, 12))
    assert [m["to"] for m in fake_smtp.received if b"buddy family" in m["content"]] == [
        intro.to_address]


def test_two_requests_queueing_the_same_message_at_once_make_one_row(app, session, factory):
    """Found by the load test: two family members edit their details at the same moment and
    both re-plan the family's messages; the second insert met the unique key (a 500)."""
    import threading

    from sqlmodel import Session

    from buddy.messaging import outbox
    from buddy.models import User

    person = factory.newcomer()
    engine = app.extensions["buddy.engine"]
    errors: list[BaseException] = []

    def queue(hold: float) -> None:
        try:
            with app.app_context(), Session(engine) as s:
                user = s.get(User, person.user_id)
                outbox.enqueue(s, user=user, channel="email", kind="family_intro",
                               subject="family:race", to_address="x@example.org",
                               title="Hello", body=f"held {hold}")
                time.sleep(hold)  # the first keeps its transaction open while the second queues
                s.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    first = threading.Thread(target=queue, args=(1.0,))
    second = threading.Thread(target=queue, args=(0.0,))
    first.start()
    time.sleep(0.3)
    second.start()
    first.join(30)
    second.join(30)
    assert errors == []
    rows = session.exec(select(Message).where(Message.subject == "family:race")).all()
    assert len(rows) == 1


def test_saving_an_unchanged_profile_rewrites_no_message(app, session, factory):
    """A save that changes nothing rewrites no message, however much later it comes: no
    message's text or time may depend on the moment it was planned (a survey link's token,
    a late newcomer's what to expect, an ambassador introduction), and an unchanged message
    costs no UPDATE (the load test saves profiles in families all the time)."""
    # Arrival 4 August 2027, so at 20 July "what to expect" (21 days before) is already late.
    app.config["BUDDY_NOW"] = "2027-07-20T10:00:00+00:00"
    newcomer = factory.newcomer(timezone="Europe/London", wants_ambassador="y")
    anchor, ambassador = factory.volunteer(), factory.volunteer(role="ambassador")
    publish_family(app, session, [(anchor, "anchor"), (newcomer, "newcomer")],
                   published_at=at(2027, 7, 20, 10))
    publish_pair(app, session, ambassador, newcomer, published_at=at(2027, 7, 20, 10))
    session.commit()
    before = {m.id: (m.updated_at, m.due_at, m.body) for m in rows(session)}
    planned = {m.kind for m in rows(session) if m.status == "pending"}
    assert {"what_to_expect", "ambassador_intro", "survey", "family_intro",
            "close_continue"} <= planned
    app.config["BUDDY_NOW"] = "2027-07-20T11:00:01.5+00:00"
    with app.app_context():
        people.update_profile(session=session, person=newcomer, data=_profile(newcomer))
    session.commit()
    assert {m.id: (m.updated_at, m.due_at, m.body) for m in rows(session)} == before


def test_a_row_claimed_by_a_dispatcher_after_it_was_read_is_left_to_it(app, session, factory):
    """The re-plan reads the user's rows first; a claim in between must win, or it is sent twice."""
    import sqlalchemy as sa
    from sqlmodel import Session

    from buddy.messaging import outbox
    from buddy.models import User

    newcomer = factory.newcomer()
    message = keyed(session, newcomer)["sms", "what_to_expect", "arrival"]
    with app.app_context(), Session(app.extensions["buddy.engine"]) as replan:
        known = {(m.channel, m.kind, m.subject): m for m in replan.exec(
            select(Message).where(Message.person_id == newcomer.id)).all()}
        with Session(app.extensions["buddy.engine"]) as dispatcher:  # claims it meanwhile
            dispatcher.execute(sa.update(Message).where(Message.id == message.id)
                               .values(status=MessageStatus.SENDING))
            dispatcher.commit()
        outbox.enqueue(replan, user=replan.get(User, newcomer.user_id), channel="sms",
                       kind="what_to_expect", subject="arrival", to_address=message.to_address,
                       title=message.title, body="moved", due_at=at(2027, 7, 1), known=known)
        replan.commit()
    session.expire_all()
    claimed = session.get(Message, message.id)
    assert (claimed.status, claimed.body) == ("sending", message.body)


def test_a_buddy_who_changes_their_name_is_introduced_by_the_new_name(app, session, factory):
    newcomer, anchor = factory.newcomer(), factory.volunteer(full_name="Old Name")
    publish_family(app, session, [(anchor, "anchor"), (newcomer, "newcomer")])
    with app.app_context():
        people.update_profile(session=session, person=anchor, data=factory._service_data(
            volunteer_form(full_name="New Name")))
    session.expire_all()
    intro = next(m for m in rows(session, person_id=newcomer.id) if m.kind == "family_intro")
    assert "New Name" in intro.body and "Old Name" not in intro.body
