"""Publishing says when introductions go, and the outbox then does what it said."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from buddy import clock
from buddy.messaging import cadence
from buddy.messaging.models import Message
from buddy.models import Family, FamilyMember, MatchRun
from tests.factories import login
from tests.test_runs import NOW, REGION, run_now

WHEN = "21 July 2027"  # 4 August 2027 arrivals, 14 days before; publishing on 1 July 2027


@pytest.fixture
def app(make_app):
    return make_app(BUDDY_NOW=NOW)


@pytest.fixture
def lead(factory):
    return factory.staff("lead", region=REGION, email="lead.wessex@example.org")


@pytest.fixture
def three_families(factory):
    """Three anchors with room for one newcomer each: one newcomer arrives within 14 days."""
    for i in range(3):
        factory.volunteer(region=REGION, scheme="wessex:poole", capacity="1",
                          full_name=f"Anchor {i}")
    soon = factory.newcomer(region=REGION, scheme="wessex:poole", full_name="Soon Arriving",
                            arrival_day="10", arrival_month="7")
    later = [factory.newcomer(region=REGION, scheme="wessex:poole", full_name=f"Later {i}")
             for i in range(2)]
    return soon, later


def test_the_words_follow_the_cadence():
    def words(now, later, kind="families", not_sent=0):
        return cadence.Introductions(kind, now, tuple(later), not_sent, 14, 7).words

    assert words(12, [(date(2027, 7, 21), 30)]) == (
        "Introductions go to 12 families now and to 30 families on 21 July 2027, 14 days "
        "before their newcomers arrive.")
    assert words(1, []) == "Introductions go to 1 family now."
    assert words(0, [(date(2027, 7, 21), 20), (date(2027, 7, 28), 8), (date(2027, 8, 4), 1),
                     (date(2027, 8, 18), 1), (date(2027, 9, 1), 2)]) == (
        "Introductions go to 32 families 14 days before their newcomers arrive: "
        "20 on 21 July 2027, 8 on 28 July 2027, 1 on 4 August 2027 and 3 up to "
        "1 September 2027.")
    assert words(25, [], "ambassadors", not_sent=1) == (
        "Introductions go to 25 newcomers and their ambassadors now. 1 newcomer arrives "
        "within 7 days, so Buddy does not introduce them: please tell them and their "
        "ambassadors yourself.")


def test_the_schedule_is_what_the_outbox_does(app, session, lead, three_families):
    from buddy.services import publishing

    run = run_now(app, session, lead)
    with app.app_context():
        planned = cadence.introductions(session, run=run, today=clock.today())
        publishing.publish(session, lead=lead, run_id=run.id)
    assert (planned.now, planned.later) == (1, ((date(2027, 7, 21), 2),))

    # Each family's first introduction, in the outbox, is on the day the words gave.
    firsts = []
    for family in session.exec(select(Family).where(Family.run_id == run.id)).all():
        people = [m.person_id for m in session.exec(
            select(FamilyMember).where(FamilyMember.family_id == family.id))]
        due = [m.due_at for m in session.exec(select(Message).where(
            Message.kind == "family_intro", Message.person_id.in_(people)))]
        firsts.append(min(due).astimezone(clock.ENGLAND).date())
    today = clock.parse(NOW).date()
    assert sorted(firsts) == [today, date(2027, 7, 21), date(2027, 7, 21)]


def test_publishing_tells_the_lead_when_introductions_go(app, session, lead, three_families,
                                                        client):
    run = run_now(app, session, lead)
    login(client, "lead.wessex@example.org")
    page = client.post(f"/lead/runs/{run.id}/publish", follow_redirects=True)
    text = " ".join(page.get_data(as_text=True).split())
    assert ("Published: members can see their families. Introductions go to 1 family now "
            f"and to 2 families on {WHEN}, 14 days before their newcomers arrive.") in text
    assert "on their way" not in text
    session.expire_all()
    assert session.get(MatchRun, run.id).status == "published"


def test_a_family_that_grows_introduces_only_its_new_members(app, session, lead, factory):
    from buddy.services import publishing

    factory.volunteer(region=REGION, scheme="wessex:poole", capacity="2", full_name="Anchor")
    factory.newcomer(region=REGION, scheme="wessex:poole", full_name="First")
    first = run_now(app, session, lead)
    with app.app_context():
        assert cadence.introductions(session, run=first, today=clock.today()).words == (
            f"Introductions go to 1 family on {WHEN}, 14 days before their newcomers "
            "arrive.")
        publishing.publish(session, lead=lead, run_id=first.id)
        # Nobody new: a second run keeps the running family as it is.
        again = run_now(app, session, lead)
        assert cadence.introductions(session, run=again, today=clock.today()).words == (
            "Nobody new to introduce: the families of this run were introduced before.")
        publishing.discard(session, lead=lead, run_id=again.id)

    # A newcomer who arrives later joins the running family: only they are introduced, on
    # their own day (the anchor met the family on 21 July).
    factory.newcomer(region=REGION, scheme="wessex:poole", full_name="Second",
                     arrival_day="1", arrival_month="9")
    grown = run_now(app, session, lead)
    with app.app_context():
        assert cadence.introductions(session, run=grown, today=clock.today()).words == (
            "Introductions go to 1 family on 18 August 2027, 14 days before their "
            "newcomers arrive.")


def test_an_ambassador_run_says_who_arrives_too_soon_to_be_introduced(app, session, lead,
                                                                      factory):
    from buddy.services import publishing

    factory.volunteer(role="ambassador", region=REGION, scheme="wessex:poole", capacity="3",
                      stage="ST3", full_name="Ambassador")
    # 1 July: 5 July is 4 days away, 8 July 7 days (less than 7 from 10:00), 4 August far.
    for name, day, month in (("Soon", "5", "7"), ("Boundary", "8", "7"), ("Later", "4", "8")):
        factory.newcomer(region=REGION, scheme="wessex:poole", full_name=name,
                         wants_ambassador="y", arrival_day=day, arrival_month=month)
    run = run_now(app, session, lead, kind="ambassadors")
    with app.app_context():
        assert cadence.introductions(session, run=run, today=clock.today()).words == (
            "Introductions go to 1 newcomer and their ambassador now. 2 newcomers arrive "
            "within 7 days, so Buddy does not introduce them: please tell them and their "
            "ambassadors yourself.")
        publishing.publish(session, lead=lead, run_id=run.id)
    introduced = session.exec(select(Message).where(
        Message.kind == "ambassador_intro", Message.subject.startswith("ambassador:"))).all()
    assert len(introduced) == 1
