"""Families that end: the six-month question, the daily decision, a lead's hand, history.

The answers by email link and text are in tests/messaging/test_family_answers.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import select

from buddy.messaging.models import Message
from buddy.models import AuditEvent, Family, FamilyAnswer
from buddy.services import ServiceError, endings
from tests.factories import login
from tests.messaging.conftest import publish_family

ARRIVAL = date(2027, 8, 4)  # the factory's newcomers arrive then
ASKED = ARRIVAL + timedelta(days=182)  # 2 February 2028
CLOSES = ASKED + timedelta(days=30)  # 3 March 2028
LIMIT = date(2028, 8, 2)  # the first Wednesday of August 2028: the next training-year change


def noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def make_family(app, session, factory, region="london"):
    """An anchor, a buddy and a newcomer (4 August 2027) in a published family."""
    anchor, buddy = factory.volunteer(region=region), factory.volunteer(region=region)
    newcomer = factory.newcomer(region=region)
    family = publish_family(app, session, [(anchor, "anchor"), (buddy, "buddy"),
                                           (newcomer, "newcomer")], region=region)
    family.intake = "2027-08"
    session.add(family)
    session.commit()
    return family, {"anchor": anchor, "buddy": buddy, "newcomer": newcomer}


def answer(app, session, family, person, value, day=ASKED):
    with app.app_context():
        endings.record_answer(session, family, person, value, "web", now=noon(day))
    session.commit()


def daily(app, session, day):
    app.config["BUDDY_NOW"] = noon(day).isoformat()
    with app.app_context():
        return endings.daily(session, now=noon(day))


def fresh(session, family) -> Family:
    session.expire_all()
    return session.get(Family, family.id)


def audits(session, action) -> list[AuditEvent]:
    return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)).all())


# --- The question ------------------------------------------------------------------------------

def test_the_question_is_asked_once_per_family_at_the_last_arrival(app, session, factory):
    anchor = factory.volunteer()
    early = factory.newcomer()
    late = factory.newcomer(arrival_day="1", arrival_month="9")
    family = publish_family(app, session, [(anchor, "anchor"), (early, "newcomer"),
                                           (late, "newcomer")])
    asked = date(2027, 9, 1) + timedelta(days=182)
    for person in (anchor, early, late):
        rows = session.exec(select(Message).where(Message.person_id == person.id,
                                                  Message.kind == "close_continue")).all()
        assert [(m.subject, m.status) for m in rows] == [(f"family:{family.id}", "pending")]
        assert "Reply CARRY to carry on or FINISH to finish" in rows[0].body or (
            rows[0].channel == "email")
        assert "2 August 2028" in rows[0].body  # carries on until the training-year change
        local = rows[0].due_at.astimezone(endings.cadence.zone(person.timezone))
        assert (local.date(), local.hour) == (asked, 10)


def test_answers_count_only_while_the_question_is_open(app, session, factory):
    family, people = make_family(app, session, factory)
    with app.app_context():
        for day in (ASKED - timedelta(days=1), CLOSES):
            with pytest.raises(ServiceError, match="question is closed"):
                endings.record_answer(session, family, people["anchor"], "carry_on", "web",
                                      now=noon(day))
        with pytest.raises(ServiceError, match="carry on or finish"):
            endings.record_answer(session, family, people["anchor"], "maybe", "web",
                                  now=noon(ASKED))
    answer(app, session, family, people["anchor"], "carry_on")
    answer(app, session, family, people["anchor"], "finish", ASKED + timedelta(days=3))
    [row] = session.exec(select(FamilyAnswer)).all()  # the latest answer counts: one row
    assert (row.person_id, row.answer) == (people["anchor"].id, "finish")


# --- The rule ----------------------------------------------------------------------------------

def test_anchor_and_a_newcomer_carry_on_until_the_training_year_change(app, session, factory):
    family, people = make_family(app, session, factory)
    answer(app, session, family, people["anchor"], "carry_on")
    answer(app, session, family, people["newcomer"], "carry_on")
    assert daily(app, session, CLOSES - timedelta(days=1)) == {"carried_on": 0, "ended": 0}
    assert daily(app, session, CLOSES) == {"carried_on": 1, "ended": 0}
    family = fresh(session, family)
    assert (family.status, family.carry_on_until) == ("published", LIMIT)
    assert audits(session, "family_carries_on")[0].detail["until"] == "2028-08-02"
    assert daily(app, session, LIMIT - timedelta(days=1)) == {"carried_on": 0, "ended": 0}
    assert daily(app, session, LIMIT) == {"carried_on": 0, "ended": 1}
    family = fresh(session, family)
    assert (family.status, family.end_reason) == ("ended", endings.YEAR_END)
    assert endings.england_day(family.ended_at) == LIMIT


@pytest.mark.parametrize(("answers", "reason"), [
    ({"anchor": "finish", "newcomer": "carry_on"}, endings.CHOSE_TO_FINISH),
    ({"buddy": "carry_on", "newcomer": "carry_on"}, endings.NOT_BOTH),
    ({"anchor": "carry_on"}, endings.NOT_BOTH),
    ({}, endings.NOBODY_ANSWERED),
])
def test_otherwise_the_family_ends_when_the_question_closes(app, session, factory, answers,
                                                            reason):
    family, people = make_family(app, session, factory)
    for place, value in answers.items():
        answer(app, session, family, people[place], value)
    assert daily(app, session, CLOSES) == {"carried_on": 0, "ended": 1}
    family = fresh(session, family)
    assert (family.status, family.end_reason, family.locked) == ("ended", reason, False)
    [event] = audits(session, "family_ended")
    assert event.detail == {"family_id": family.id, "reason": reason}


def test_daily_twice_changes_nothing_and_a_missed_week_catches_up(app, session, factory):
    carrying, people = make_family(app, session, factory)
    answer(app, session, carrying, people["anchor"], "carry_on")
    answer(app, session, carrying, people["newcomer"], "carry_on")
    ending, _ = make_family(app, session, factory)
    late = CLOSES + timedelta(days=7)  # the server was down the week the question closed
    assert daily(app, session, late) == {"carried_on": 1, "ended": 1}
    before = len(session.exec(select(AuditEvent)).all())
    assert daily(app, session, late) == {"carried_on": 0, "ended": 0}
    assert len(session.exec(select(AuditEvent)).all()) == before
    assert fresh(session, carrying).carry_on_until == LIMIT
    assert fresh(session, ending).status == "ended"
    # Long after the limit (down for months): the carrying-on family ends once, too.
    assert daily(app, session, LIMIT + timedelta(days=40)) == {"carried_on": 0, "ended": 1}
    assert daily(app, session, LIMIT + timedelta(days=40)) == {"carried_on": 0, "ended": 0}


def test_an_ended_family_gets_no_more_messages(app, session, factory):
    family, people = make_family(app, session, factory)
    pending = session.exec(select(Message).where(
        Message.kind == "close_continue", Message.status == "pending")).all()
    assert len(pending) == 3
    app.config["BUDDY_NOW"] = noon(date(2027, 8, 20)).isoformat()
    with app.app_context():
        endings.end(session, family, "Test", now=noon(date(2027, 8, 20)))
    session.expire_all()
    left = session.exec(select(Message).where(
        Message.person_id.in_([p.id for p in people.values()]), Message.status == "pending",
        Message.kind.in_(("close_continue", "checkin", "buddy_nudge")))).all()
    assert left == []
    # Re-planning a member (an edit of their details) plans nothing for the ended family.
    with app.app_context():
        endings.cadence.person_changed(session, people["newcomer"])
    session.commit()
    assert session.exec(select(Message).where(
        Message.person_id == people["newcomer"].id, Message.status == "pending",
        Message.kind.in_(("close_continue", "checkin")))).all() == []


# --- A lead's hand -----------------------------------------------------------------------------

def test_a_lead_ends_a_family_with_a_reason(app, session, factory, client):
    family, _ = make_family(app, session, factory)
    lead = factory.staff("lead", region="london", email="lead@example.org")
    factory.staff("lead", region="wessex", email="other@example.org")
    app.config["BUDDY_NOW"] = "2027-10-01T10:00:00+01:00"
    login(client, "lead@example.org")
    page = client.get(f"/lead/families/{family.id}")
    assert page.status_code == 200 and "End the family" in page.get_data(as_text=True)
    refused = client.post(f"/lead/families/{family.id}/end", data={"reason": "  "})
    assert refused.status_code == 400 and "Enter a reason" in refused.get_data(as_text=True)
    assert fresh(session, family).status == "published"
    done = client.post(f"/lead/families/{family.id}/end",
                       data={"reason": "The anchor moved away"})
    assert done.status_code == 302
    family = fresh(session, family)
    assert family.status == "ended"
    assert family.end_reason == "Ended by its DA lead: The anchor moved away"
    [event] = audits(session, "family_ended")
    assert (event.actor_id, event.region) == (lead.id, "london")
    other = app.test_client()
    login(other, "other@example.org")
    assert other.get(f"/lead/families/{family.id}").status_code == 404
    assert other.post(f"/lead/families/{family.id}/end", data={"reason": "x"}).status_code == 404


def test_a_lead_extends_a_family_up_to_a_year_after_the_next_change(app, session, factory,
                                                                   client):
    family, _ = make_family(app, session, factory)
    lead = factory.staff("lead", region="london", email="lead@example.org")
    app.config["BUDDY_NOW"] = "2027-10-01T10:00:00+01:00"
    login(client, "lead@example.org")
    url = f"/lead/families/{family.id}/extend"
    too_late = client.post(url, data={"until_day": "3", "until_month": "8",
                                      "until_year": "2029", "reason": "Going well"})
    # The next change is 2 August 2028; a year after it, 1 August 2029.
    assert too_late.status_code == 400
    assert "on or before 1 August 2029" in too_late.get_data(as_text=True)
    bad = client.post(url, data={"until_day": "31", "until_month": "2", "until_year": "2028",
                                 "reason": ""})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "Enter the date" in text and "Enter a reason" in text
    ok = client.post(url, data={"until_day": "1", "until_month": "8", "until_year": "2029",
                                "reason": "Going well"})
    assert ok.status_code == 302
    assert fresh(session, family).carry_on_until == date(2029, 8, 1)
    [event] = audits(session, "family_carries_on")
    assert event.actor_id == lead.id and event.detail["reason"] == "Extended by its DA lead: " \
        "Going well"
    # Extended: no question goes, and it ends on the lead's date.
    assert session.exec(select(Message).where(Message.kind == "close_continue",
                                              Message.status == "pending")).all() == []
    assert daily(app, session, CLOSES) == {"carried_on": 0, "ended": 0}
    assert daily(app, session, date(2029, 8, 1)) == {"carried_on": 0, "ended": 1}
    assert fresh(session, family).end_reason == endings.LEAD_DATE


# --- The member's view -------------------------------------------------------------------------

def test_the_family_page_asks_the_question_and_records_the_button(app, session, factory,
                                                                  client):
    family, people = make_family(app, session, factory)
    email = factory.user_of(people["anchor"]).email
    login(client, email)
    app.config["BUDDY_NOW"] = noon(ASKED - timedelta(days=1)).isoformat()
    assert "Carry on or finish?" not in client.get("/family/").get_data(as_text=True)
    app.config["BUDDY_NOW"] = noon(ASKED).isoformat()
    page = client.get("/family/").get_data(as_text=True)
    assert "Carry on or finish?" in page and "3 March 2028" in page
    response = client.post(f"/family/{family.id}/answer", data={"answer": "carry_on"})
    assert response.status_code == 302
    [row] = session.exec(select(FamilyAnswer)).all()
    assert (row.person_id, row.answer, row.channel) == (people["anchor"].id, "carry_on", "web")
    assert "Your answer: carry on" in client.get("/family/").get_data(as_text=True)
    other, _ = make_family(app, session, factory)
    assert client.post(f"/family/{other.id}/answer",
                       data={"answer": "finish"}).status_code == 404


def test_an_ended_family_is_history_and_a_new_one_comes_first(app, session, factory, client):
    family, people = make_family(app, session, factory)
    daily(app, session, CLOSES)  # nobody answered: it ends on 3 March 2028
    login(client, factory.user_of(people["buddy"]).email)
    page = client.get("/family/").get_data(as_text=True)
    assert "Your buddy family, August 2027 to March 2028" in page
    assert endings.NOBODY_ANSWERED in page and "not in a running buddy family" in page
    newcomer = factory.newcomer(arrival_day="3", arrival_month="8", arrival_year="2028")
    new = publish_family(app, session, [(people["buddy"], "anchor"), (newcomer, "newcomer")])
    new.code = "london-new"
    session.add(new)
    session.commit()
    page = client.get("/family/").get_data(as_text=True)
    assert page.index(new.code) < page.index("Your earlier buddy families") < page.index(
        "Your buddy family, August 2027 to March 2028")
    assert newcomer.full_name in page
