"""Retention: people the programme no longer needs are anonymised, figures stay the same."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel, select

from buddy import phones
from buddy.messaging import outbox
from buddy.messaging.dispatch import dispatch
from buddy.messaging.models import CheckIn, Flag, InboundMessage, Message
from buddy.models import (
    AuditEvent,
    Family,
    FamilyMember,
    MatchRun,
    Person,
    SurveyAnswer,
    SurveyRequest,
    User,
)
from buddy.services import accounts, indicators, people, retention, volunteers
from buddy.services.cohorts import _entry, key
from buddy.services.profiles import SENSITIVE_FIELDS
from buddy.statuses import FamilyStatus, PersonStatus, RunStatus
from tests.factories import PASSWORD, login
from tests.messaging.conftest import publish_family

REGION = "london"
START = datetime(2027, 7, 1, 9, tzinfo=UTC)
LEFT = datetime(2027, 7, 2, 9, tzinfo=UTC)  # the leaver withdraws
ENDED = datetime(2028, 2, 10, 12, tzinfo=UTC)  # the alumna's family ends
NAME, EMAIL = "Zelda Quartermain", "zelda.q@example.org"
SECRETS = ("secret-marker-alpha", "secret-marker-bravo", "secret-marker-charlie",
           "secret-marker-delta")


@pytest.fixture
def app(make_app, channel_settings):
    return make_app(BUDDY_NOW=START.isoformat(), **channel_settings)


def at(app, moment: datetime) -> datetime:
    app.config["BUDDY_NOW"] = moment.isoformat()
    return moment


def daily(app, session, moment: datetime) -> dict:
    at(app, moment)
    with app.app_context():
        result = retention.daily(session, now=moment)
    session.expire_all()
    return result


def months_after(moment: datetime, months: int) -> datetime:
    return retention.months_before(moment, -months)


@pytest.fixture
def world(app, session, factory):
    """A leaver, an alumna whose family ended, an anchor, a newcomer in a running family,
    with everything that can hold the alumna's personal data."""
    leaver = factory.newcomer(full_name="Wilhelmina Leaver", email="w.leaver@example.org")
    at(app, LEFT)
    with app.app_context():
        people.change_status(session=session, person=leaver, action="withdraw")
    at(app, START)
    alumna = factory.newcomer(full_name=NAME, email=EMAIL)
    alumna.country, alumna.languages, alumna.gender = "PK", ["ur"], "female"
    alumna.support_needs, alumna.sensitive_consent_at = ["housing"], START
    session.add(alumna)
    session.commit()
    anchor = factory.volunteer(full_name="Anchor Amadeus", capacity="3")
    runner = factory.newcomer(full_name="Ruth Running")
    ended = publish_family(app, session, [(anchor, "anchor"), (alumna, "newcomer")],
                           published_at=START)
    running = publish_family(app, session, [(anchor, "anchor"), (runner, "newcomer")],
                             published_at=START)
    running.code = "london-002"
    ended.status, ended.ended_at = FamilyStatus.ENDED, ENDED
    ended.end_reason = f"{NAME} moved to Leeds"
    session.add_all([ended, running])
    for member in session.exec(select(FamilyMember).where(
            FamilyMember.person_id == alumna.id)).all():
        member.reasons = [f"speaks Urdu, like {key(anchor)}"]
        session.add(member)
    inbound = InboundMessage(message_sid="SM" + "1" * 32, person_id=alumna.id, channel="sms",
                             from_address=alumna.phone, body=f"Hi, {SECRETS[0]}",
                             meaning="unclear", received_at=START)
    session.add(inbound)
    session.add(CheckIn(person_id=alumna.id, region=REGION, day=7, channel="sms",
                        sent_at=START, answer="ok", answered_at=START))
    session.add(Flag(person_id=alumna.id, region=REGION, reason="unclear_reply",
                     text=SECRETS[1], note=f"Called on {phones.display(alumna.phone)}",
                     created_at=START))
    session.add(Flag(person_id=anchor.id, region=REGION, reason="help",
                     text=f"Worried about {NAME}", created_at=START))
    session.add(AuditEvent(action="flag_updated", region=REGION, person_id=alumna.id,
                           detail={"said": f"{SECRETS[2]}, write to {EMAIL}"}, at=START))
    # Her eight-week survey, answered in her own words; her six-month one, still open.
    answered = SurveyRequest(person_id=alumna.id, survey="eight_weeks", edition="2026-27",
                             intake="2027-08", region=REGION, family_id=ended.id,
                             audience="newcomer", sent_at=START, answered_at=START)
    still_open = SurveyRequest(person_id=alumna.id, survey="six_months", edition="2026-27",
                               intake="2027-08", region=REGION, family_id=ended.id,
                               audience="newcomer", sent_at=START)
    session.add_all([answered, still_open])
    session.flush()
    session.add_all([
        SurveyAnswer(request_id=answered.id, question="met", kind="choice", wording="Met?",
                     answer="yes", answer_words="Yes"),
        SurveyAnswer(request_id=answered.id, question="anything_else", kind="text",
                     wording="Anything else?", answer=SECRETS[3], answer_words=SECRETS[3])])
    entries = [_entry(alumna), _entry(anchor)]
    session.add(MatchRun(region=REGION, kind="families", status=RunStatus.PUBLISHED, cohort={
        "people": entries}, result={"families": [{
            "id": ended.code, "anchor": key(anchor), "newcomers": [key(alumna)],
            "reasons": {key(alumna): [f"speaks Urdu, like {key(anchor)}"]}}],
            "unmatched": []}))
    session.commit()
    return {"leaver": leaver, "alumna": alumna, "anchor": anchor, "runner": runner,
            "ended": ended, "running": running}


def fresh(session, person: Person) -> Person:
    session.expire_all()
    return session.get(Person, person.id)


def test_a_withdrawn_person_is_anonymised_24_months_after_leaving_and_not_before(
        app, session, world):
    leaver = world["leaver"]
    daily(app, session, months_after(LEFT, 24) - timedelta(minutes=1))
    assert fresh(session, leaver).anonymised_at is None
    moment = months_after(LEFT, 24) + timedelta(minutes=1)
    daily(app, session, moment)
    leaver = fresh(session, leaver)
    assert leaver.anonymised_at == moment
    assert leaver.full_name == retention.FORMER and leaver.status == "withdrawn"


def test_the_family_clock_anonymises_the_alumna_but_not_a_running_family_or_a_volunteer(
        app, session, world):
    daily(app, session, months_after(ENDED, 24) - timedelta(minutes=1))
    assert fresh(session, world["alumna"]).anonymised_at is None
    far = months_after(ENDED, 60)
    daily(app, session, far)
    assert fresh(session, world["alumna"]).anonymised_at is not None
    # Ruth's family still runs; the anchor is an active volunteer, in it too.
    assert fresh(session, world["runner"]).anonymised_at is None
    assert fresh(session, world["anchor"]).anonymised_at is None


def test_a_sign_in_restarts_the_clock(app, session, world, client):
    late = at(app, months_after(ENDED, 12))
    login(client, EMAIL)
    assert session.exec(select(User.last_login_at).where(
        User.id == world["alumna"].user_id)).one() == late
    daily(app, session, months_after(ENDED, 24) + timedelta(days=1))
    assert fresh(session, world["alumna"]).anonymised_at is None
    daily(app, session, months_after(late, 24) + timedelta(days=1))
    assert fresh(session, world["alumna"]).anonymised_at is not None


def test_newcomers_without_a_family_and_declined_volunteers_have_a_clock_too(
        app, session, factory):
    newcomer = factory.newcomer(full_name="Nadia Neverplaced")  # intake 2027-08
    volunteer = factory.volunteer(full_name="Victor Volunteer")  # active: kept while active
    pending = factory.volunteer(full_name="Dora Declined", status=PersonStatus.PENDING)
    lead = factory.staff("lead", region=REGION)
    at(app, datetime(2027, 8, 1, 9, tzinfo=UTC))
    with app.app_context():
        volunteers.decide(session=session, lead=lead, person_id=pending.id, approve=False)
    daily(app, session, datetime(2029, 7, 31, 12, tzinfo=UTC))
    assert [fresh(session, p).anonymised_at for p in (newcomer, volunteer, pending)] == [
        None, None, None]
    # 1 August 2029: 24 months after the August 2027 intake started, and after the refusal.
    daily(app, session, datetime(2029, 8, 1, 12, tzinfo=UTC))
    assert fresh(session, newcomer).anonymised_at is not None
    assert fresh(session, pending).anonymised_at is not None
    assert fresh(session, volunteer).anonymised_at is None


def _everything(session) -> str:
    """Every row of every table, as text."""
    out = []
    for table in SQLModel.metadata.sorted_tables:
        for row in session.execute(sa.select(table)).all():
            out.append(json.dumps([str(v) for v in row], ensure_ascii=False))
    return "\n".join(out).lower()


def test_nothing_personal_is_left_in_any_table(app, session, world):
    alumna = world["alumna"]
    # She came from Wessex, where an earlier run held her answers too.
    session.add(AuditEvent(action="region_changed", region=REGION, person_id=alumna.id,
                           detail={"from": "wessex", "status_before": "active",
                                   "status": PersonStatus.ACTIVE}, at=START))
    session.add(MatchRun(region="wessex", kind="families", status=RunStatus.DISCARDED,
                         cohort={"people": [{**_entry(alumna), "region": "wessex"}]}))
    session.commit()
    needles = [NAME, EMAIL, alumna.phone, phones.display(alumna.phone), *SECRETS]
    before = _everything(session)
    assert all(n.lower() in before for n in needles)
    daily(app, session, months_after(ENDED, 24) + timedelta(days=1))
    after = _everything(session)
    left = [line for line in after.splitlines() if any(n.lower() in line for n in needles)]
    assert left == [], "\n".join(left)

    alumna = fresh(session, alumna)
    assert [f for f in SENSITIVE_FIELDS if getattr(alumna, f) not in (None, [], False)] == []
    assert alumna.sensitive_consent_at is None and alumna.gmc_number is None
    user = session.get(User, alumna.user_id)
    assert user.email == retention.anonymous_email(user.id)
    # What the figures are made of stays.
    assert (alumna.role, alumna.region, alumna.stage, alumna.intake) == (
        "newcomer", REGION, "ST1", "2027-08")
    assert session.exec(select(FamilyMember.family_id).where(
        FamilyMember.person_id == alumna.id)).all() == [world["ended"].id]
    assert session.exec(select(CheckIn.answer).where(CheckIn.person_id == alumna.id)).all() == [
        "ok"]
    # Her survey choices still count; her own words are gone, and nobody asks her again.
    answers = session.exec(select(SurveyAnswer.question, SurveyAnswer.answer).join(
        SurveyRequest).where(SurveyRequest.person_id == alumna.id)).all()
    assert sorted(answers) == [("anything_else", ""), ("met", "yes")]
    assert session.exec(select(SurveyRequest.survey, SurveyRequest.stop_reason).where(
        SurveyRequest.person_id == alumna.id, SurveyRequest.answered_at.is_(None))).all() == [
        ("six_months", "left")]
    # The runs' input no longer knows her answers; the anchor's entry is untouched.
    wessex = session.exec(select(MatchRun).where(MatchRun.region == "wessex")).one()
    assert wessex.cohort["people"][0]["languages"] == []
    run = session.exec(select(MatchRun).where(MatchRun.region == REGION)).one()
    entries = {p["id"]: p for p in run.cohort["people"]}
    assert (entries[key(alumna)]["country"], entries[key(alumna)]["languages"]) == (None, [])
    assert run.result["families"][0]["reasons"] == {key(alumna): []}
    assert entries[key(world["anchor"])]["region"] == REGION
    # Someone else's flag stays, without her name.
    assert session.exec(select(Flag.text).where(Flag.person_id == world["anchor"].id)).one() \
        == f"Worried about {retention.REMOVED}"


def test_the_figures_are_the_same_before_and_after(app, session, world):
    today = date(2030, 3, 1)
    regions = ["london", "wessex"]
    before = (indicators.summary(session, REGION, today),
              indicators.national(session, regions, today),
              indicators.check_in_response(session, REGION))
    done = daily(app, session, months_after(ENDED, 24) + timedelta(days=1))
    assert done == {"anonymised": 2}  # the leaver and the alumna
    after = (indicators.summary(session, REGION, today),
             indicators.national(session, regions, today),
             indicators.check_in_response(session, REGION))
    assert after == before
    assert before[0]["signed_up"] == 3 and before[0]["first_check_in_answered"] == 1


def test_an_anonymised_person_cannot_sign_in_and_their_sessions_end(app, session, world):
    client = app.test_client()
    login(client, EMAIL)
    assert client.get("/account/").status_code == 200
    daily(app, session, months_after(ENDED, 24) + timedelta(days=1))
    assert client.get("/account/").status_code == 302  # signed out
    for email in (EMAIL, retention.anonymous_email(world["alumna"].user_id)):
        page = login(app.test_client(), email, PASSWORD)
        assert b"Enter a correct email address and password" in page.data


def test_no_message_goes_to_an_anonymised_person(app, session, world, fake_smtp, fake_twilio):
    alumna = world["alumna"]
    user = session.get(User, alumna.user_id)
    phone = alumna.phone
    assert session.exec(select(Message).where(Message.user_id == user.id,
                                              Message.status == "pending")).all()
    moment = months_after(ENDED, 24) + timedelta(days=1)
    daily(app, session, moment)
    mine = session.exec(select(Message).where(Message.user_id == user.id)).all()
    assert {m.status for m in mine} <= {"cancelled", "sent", "expired"}
    # A job that does not know yet queues one more: the dispatcher cancels it.
    with app.app_context():
        late = outbox.enqueue(session, user=user, person=fresh(session, alumna), channel="email",
                              kind="volunteer_invite", subject="late", to_address=user.email,
                              title="Hello", body="Hello", due_at=moment)
        session.commit()
        dispatch(now=moment)
    session.expire_all()
    late = session.get(Message, late.id)
    assert (late.status, late.last_error) == ("cancelled", "Person anonymised")
    assert fake_smtp.messages_to(EMAIL) == [] and fake_smtp.messages_to(user.email) == []
    assert [r for r in fake_twilio.accepted() if phone in r.get("To", "")] == []


def test_running_it_twice_changes_nothing_the_second_time(app, session, world):
    moment = months_after(ENDED, 24) + timedelta(days=1)
    assert daily(app, session, moment) == {"anonymised": 2}
    once = _everything(session)
    assert daily(app, session, moment) == {"anonymised": 0}
    assert _everything(session) == once
    events = session.exec(select(AuditEvent).where(
        AuditEvent.action == "retention_anonymised")).all()
    assert [e.detail for e in events] == [{"people": 2}]


def test_deleting_an_account_removes_the_same_traces(app, session, world):
    alumna = world["alumna"]
    phone, alumna_key = alumna.phone, key(alumna)
    with app.app_context():
        accounts.delete_account(session=session, user=session.get(User, alumna.user_id),
                                password=PASSWORD)
    session.expire_all()
    everything = _everything(session)
    assert [n for n in (NAME, EMAIL, phone, *SECRETS) if n.lower() in everything] == []
    run = session.exec(select(MatchRun)).one()
    assert {p["id"]: p for p in run.cohort["people"]}[alumna_key]["languages"] == []
    assert session.get(Family, world["ended"].id).end_reason == \
        f"{retention.REMOVED} moved to Leeds"


def test_the_rule_covers_every_sensitive_field_and_counts_calendar_months():
    assert set(SENSITIVE_FIELDS) <= set(retention.PERSON_FIELDS)
    assert retention.months_before(datetime(2029, 3, 31, tzinfo=UTC), 1) == \
        datetime(2029, 2, 28, tzinfo=UTC)
    assert retention.months_before(datetime(2029, 8, 1, tzinfo=UTC), 24) == \
        datetime(2027, 8, 1, tzinfo=UTC)


def test_the_privacy_page_says_how_long_we_keep_information(client):
    page = client.get("/privacy").get_data(as_text=True)
    assert "How long we keep your information" in page
    assert "24 months after you last took part" in page
    assert "figures" in page
