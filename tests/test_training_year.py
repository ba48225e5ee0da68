"""The training year (issue 14): stages that move once a year, newcomers of earlier intakes who
become volunteers, and volunteers who confirm before each intake."""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import date

import pytest
import sqlalchemy as sa
from sqlmodel import select

from buddy import clock
from buddy.messaging import replies, tokens
from buddy.messaging.models import Message
from buddy.models import (
    AuditEvent,
    Family,
    FamilyMember,
    Person,
    StageMove,
    VolunteerConfirmation,
)
from buddy.services import cohorts, confirmations, people, training_year
from buddy.statuses import FamilyStatus, PersonStatus
from tests.factories import login, mobile

REGION = "london"


@contextmanager
def at(app, moment: str):
    """The app's clock fixed at `moment` (ISO 8601), inside an app context."""
    app.config["BUDDY_NOW"] = moment
    with app.app_context():
        yield clock.now()


def daily(app, session, moment: str) -> dict[str, int]:
    with at(app, moment) as now:
        return {**training_year.daily(session, now=now), **confirmations.daily(session, now=now)}


def stages(session, *people_) -> list[str]:
    session.expire_all()
    return [session.get(Person, p.id).stage for p in people_]


def moves(session, person) -> list[tuple[date, str, str]]:
    return [(m.due_on, m.from_stage, m.to_stage) for m in session.exec(
        select(StageMove).where(StageMove.person_id == person.id).order_by(StageMove.due_on))]


def profile_data(person: Person, **changes) -> dict:
    data = {k: getattr(person, k) for k in (
        "full_name", "channel", "phone", "phone_country", "timezone", "region", "scheme",
        "stage", "arrival_date", "interests", "setting", "capacity", "can_anchor",
        "gmc_number", "share_email", "share_phone", "wants_ambassador")}
    data.update(changes)
    return data


def messages(session, kind: str, person=None) -> list[Message]:
    query = select(Message).where(Message.kind == kind).order_by(Message.id)
    if person is not None:
        query = query.where(Message.person_id == person.id)
    return list(session.exec(query))


def path_of(message: Message) -> str:
    return re.search(r"http://localhost(/\S+)", message.body)[1]


@pytest.fixture
def year(app, session, factory):
    """Volunteers at ST2, ST3 and qualified and an August 2027 newcomer, all joined in July
    2027; a newcomer starting in August 2028 and a February 2028 starter."""
    with at(app, "2027-07-01T09:00:00+01:00"):
        st2 = factory.volunteer(stage="ST2")
        st3 = factory.volunteer(stage="ST3")
        done = factory.volunteer(stage="qualified")
        august = factory.newcomer(arrival_day="4", arrival_month="8", arrival_year="2027")
        later = factory.newcomer(arrival_day="10", arrival_month="8", arrival_year="2028")
        february = factory.newcomer(arrival_day="3", arrival_month="2", arrival_year="2028")
    return {"st2": st2, "st3": st3, "done": done, "august": august, "later": later,
            "february": february}


# --- Stage moves ---------------------------------------------------------------------------

def test_each_stage_moves_once_a_year_for_two_years(app, session, year):
    st2, st3, done, august = year["st2"], year["st3"], year["done"], year["august"]
    assert august.intake == "2027-08" and year["february"].intake == "2028-02"
    # The change is the first Wednesday of August: 4 August 2027, 2 August 2028.
    daily(app, session, "2027-08-03T09:00:00+01:00")
    assert stages(session, st2, st3, done, august) == ["ST2", "ST3", "qualified", "ST1"]
    first = daily(app, session, "2027-08-04T09:00:00+01:00")
    assert first["stages_moved"] == 2
    assert stages(session, st2, st3, done, august) == ["ST3", "qualified", "qualified", "ST1"]
    # The same moment again, and the next days: nothing changes.
    again = daily(app, session, "2027-08-04T09:00:00+01:00")
    assert again["stages_moved"] == again["stages_kept"] == 0
    daily(app, session, "2027-08-05T09:00:00+01:00")
    daily(app, session, "2028-02-01T09:00:00+00:00")
    assert stages(session, st2, st3, done, august) == ["ST3", "qualified", "qualified", "ST1"]
    daily(app, session, "2028-08-02T09:00:00+01:00")
    daily(app, session, "2028-08-02T18:00:00+01:00")
    assert stages(session, st2, st3, done, august) == [
        "qualified", "qualified", "qualified", "ST2"]
    assert moves(session, st2) == [(date(2027, 8, 4), "ST2", "ST3"),
                                   (date(2028, 8, 2), "ST3", "qualified")]
    assert moves(session, august) == [(date(2028, 8, 2), "ST1", "ST2")]
    # Qualified doctors keep their stage; the date is still dealt with once.
    assert moves(session, done) == [(date(2027, 8, 4), "qualified", "qualified"),
                                    (date(2028, 8, 2), "qualified", "qualified")]
    audits = session.exec(select(AuditEvent).where(AuditEvent.action == "stages_moved")).all()
    assert [(a.region, a.detail.get("moved")) for a in audits] == [(REGION, 2), (REGION, 2)]


def test_newcomers_not_started_and_february_starters(app, session, year):
    later, february = year["later"], year["february"]
    daily(app, session, "2028-08-02T09:00:00+01:00")
    # Arrives 10 August 2028: not started at the change, and the change is their first day.
    assert stages(session, later, february) == ["ST1", "ST1"]
    daily(app, session, "2029-01-31T09:00:00+00:00")
    assert stages(session, february) == ["ST1"]
    daily(app, session, "2029-02-01T09:00:00+00:00")
    assert stages(session, later, february) == ["ST1", "ST2"]
    assert moves(session, february) == [(date(2029, 2, 1), "ST1", "ST2")]
    daily(app, session, "2029-08-01T09:00:00+01:00")
    assert stages(session, later, february) == ["ST2", "ST2"]


def test_a_missed_week_catches_up_once(app, session, year):
    daily(app, session, "2028-08-09T09:00:00+01:00")
    # Down for a week across 2 August 2028: both changes since July 2027 are made, in order.
    assert stages(session, year["st2"], year["august"]) == ["qualified", "ST2"]
    assert moves(session, year["st2"]) == [(date(2027, 8, 4), "ST2", "ST3"),
                                           (date(2028, 8, 2), "ST3", "qualified")]
    assert daily(app, session, "2028-08-10T09:00:00+01:00")["stages_moved"] == 0


def test_a_daily_that_died_halfway_is_finished_by_the_next(app, session, year, monkeypatch):
    monkeypatch.setattr(training_year, "BATCH", 1)  # one person per transaction
    commits = []

    def die_on_third_commit(_session):
        commits.append(1)
        if len(commits) == 3:
            raise RuntimeError("the server stopped")

    sa.event.listen(session, "before_commit", die_on_third_commit)
    with pytest.raises(RuntimeError), at(app, "2027-08-04T09:00:00+01:00") as now:
        training_year.move_stages(session, now=now)
    sa.event.remove(session, "before_commit", die_on_third_commit)
    session.rollback()
    assert stages(session, year["st2"], year["st3"]) == ["ST3", "ST3"]  # one of two done
    daily(app, session, "2027-08-04T10:00:00+01:00")
    daily(app, session, "2027-08-04T11:00:00+01:00")
    assert stages(session, year["st2"], year["st3"]) == ["ST3", "qualified"]
    assert len(moves(session, year["st2"])) == len(moves(session, year["st3"])) == 1


def test_a_correction_is_never_overwritten(app, session, year):
    st2, august = year["st2"], year["august"]
    daily(app, session, "2027-08-04T09:00:00+01:00")
    # In September she goes less than full time and sets her stage back to ST2.
    with at(app, "2027-09-15T12:00:00+01:00"):
        people.update_profile(session=session, person=st2, data=profile_data(st2, stage="ST2"))
    assert session.get(Person, st2.id).stage_corrected_at is not None
    # The August 2028 newcomer's move is due; he corrects it the week before.
    with at(app, "2028-07-25T12:00:00+01:00"):
        people.update_profile(session=session, person=august,
                              data=profile_data(august, stage="ST1"))
        assert session.get(Person, august.id).stage_corrected_at is None  # unchanged stage
    daily(app, session, "2028-08-02T09:00:00+01:00")
    assert stages(session, st2, august) == ["ST2", "ST2"]
    assert moves(session, st2)[-1] == (date(2028, 8, 2), "ST2", "ST2")  # dealt with, kept
    # The year after, she moves as usual.
    daily(app, session, "2029-08-01T09:00:00+01:00")
    assert stages(session, st2) == ["ST3"]


def test_a_correction_during_an_outage_wins(app, session, year):
    st2 = year["st2"]
    with at(app, "2027-08-06T12:00:00+01:00"):  # the daily job has not run since 3 August
        people.update_profile(session=session, person=st2, data=profile_data(st2, stage="ST3"))
    daily(app, session, "2027-08-09T09:00:00+01:00")
    assert stages(session, st2) == ["ST3"]
    assert moves(session, st2) == [(date(2027, 8, 4), "ST3", "ST3")]
    daily(app, session, "2028-08-02T09:00:00+01:00")
    assert stages(session, st2) == ["qualified"]


def test_the_profile_form_lets_members_correct_their_stage(app, session, year):
    client = app.test_client()
    login(client, factory_email(session, year["st3"]))
    page = client.get("/account/edit").get_data(as_text=True)
    assert 'name="stage"' in page


def factory_email(session, person) -> str:
    from buddy.models import User

    return session.get(User, person.user_id).email


# --- Newcomers of earlier intakes become volunteers -----------------------------------------

def test_alumni_are_invited_once_and_become_buddies_the_lead_approves(app, session, year,
                                                                      factory):
    august = year["august"]
    daily(app, session, "2028-08-02T09:00:00+01:00")
    daily(app, session, "2028-08-15T09:00:00+01:00")
    assert messages(session, "volunteer_invite") == []
    daily(app, session, "2028-08-16T09:00:00+01:00")
    daily(app, session, "2028-08-16T09:00:00+01:00")
    daily(app, session, "2028-09-20T09:00:00+01:00")
    invites = messages(session, "volunteer_invite")
    assert [m.person_id for m in invites] == [august.id]  # not the later or February starters
    path = path_of(invites[0])
    client = app.test_client()
    app.config["BUDDY_NOW"] = "2028-08-20T09:00:00+01:00"
    page = client.get(path)
    assert page.status_code == 200 and "Volunteer with Buddy" in page.get_data(as_text=True)
    assert session.get(Person, august.id).role == "newcomer"  # GET changes nothing
    bad = client.post(path, data={"role": "buddy", "stage": "ST2", "setting": "primary",
                                  "capacity": "9", "gmc_number": "12"})
    assert bad.status_code == 200
    text = bad.get_data(as_text=True)
    assert "from 0 to 4" in text and "GMC number" in text
    done = client.post(path, data={"role": "buddy", "stage": "ST2", "setting": "primary",
                                   "capacity": "2", "can_anchor": "y",
                                   "gmc_number": "7234567"})
    assert done.status_code == 200 and "Thank you for volunteering" in done.get_data(
        as_text=True)
    session.expire_all()
    person = session.get(Person, august.id)
    assert (person.role, person.status, person.stage, person.capacity, person.intake) == (
        "buddy", "pending", "ST2", 2, "2027-08")
    assert person.approved_region is None and person.contact_consent_at is not None
    # The lead approves them like any volunteer.
    lead = factory.staff("lead", region=REGION)
    lead_client = app.test_client()
    login(lead_client, lead.email)
    assert person.full_name in lead_client.get("/lead/volunteers").get_data(as_text=True)
    lead_client.post(f"/lead/volunteers/{person.id}/decision", data={"decision": "approve"})
    session.expire_all()
    assert session.get(Person, august.id).status == "active"
    # Stages go on moving with their intake, now as a volunteer.
    daily(app, session, "2029-08-01T09:00:00+01:00")
    assert stages(session, august) == ["ST3"]


def test_the_invitation_link_refuses_tampering_expiry_and_someone_else(app, session, year,
                                                                       factory):
    august = year["august"]
    daily(app, session, "2028-08-16T09:00:00+01:00")
    path = path_of(messages(session, "volunteer_invite")[0])
    client = app.test_client()
    assert client.get(path[:-3] + "abc").status_code == 400
    with at(app, "2028-08-16T09:00:00+01:00"):
        other = tokens.sign(tokens.CHECKIN, {"p": august.id})  # signed for another purpose
    assert client.get(f"/volunteer/{other}").status_code == 400
    someone = factory.newcomer(arrival_month="9", arrival_year="2028")
    login(client, factory_email(session, someone))
    assert client.get(path).status_code == 400
    app.config["BUDDY_NOW"] = "2028-10-20T09:00:00+01:00"  # 65 days on: expired
    expired = app.test_client().post(path, data={"role": "buddy"})
    assert expired.status_code == 400 and "expired" in expired.get_data(as_text=True)
    assert session.get(Person, august.id).role == "newcomer"


def test_no_invitation_while_the_family_runs_and_the_account_page_waits(app, session, year):
    august = year["august"]
    family = Family(code="london-001", region=REGION, status=FamilyStatus.PUBLISHED,
                    intake="2027-08")
    session.add(family)
    session.flush()
    session.add(FamilyMember(family_id=family.id, person_id=august.id, place="newcomer"))
    session.commit()
    daily(app, session, "2028-08-16T09:00:00+01:00")
    assert messages(session, "volunteer_invite") == []
    client = app.test_client()
    login(client, factory_email(session, august))
    page = client.get("/account/volunteer").get_data(as_text=True)
    assert "once their buddy family has finished" in page
    family.status = FamilyStatus.ENDED
    session.add(family)
    session.commit()
    daily(app, session, "2028-08-17T09:00:00+01:00")
    assert len(messages(session, "volunteer_invite")) == 1
    form = client.get("/account/volunteer")
    assert 'name="gmc_number"' in form.get_data(as_text=True)
    client.post("/account/volunteer", data={"role": "ambassador", "stage": "ST2",
                                            "setting": "primary", "capacity": "1",
                                            "gmc_number": "7234567"})
    session.expire_all()
    assert session.get(Person, august.id).role == "ambassador"
    # Their family stays as history.
    assert session.exec(select(FamilyMember).where(
        FamilyMember.person_id == august.id)).one().place == "newcomer"


# --- Volunteers confirm before each intake ---------------------------------------------------

@pytest.fixture
def volunteers(app, session, factory):
    with at(app, "2027-03-01T09:00:00+00:00"):
        ana = factory.volunteer(capacity="3")
        ben = factory.volunteer(capacity="2", channel="sms", phone_country="GB",
                                phone=mobile("GB", 4321))
        cy = factory.volunteer(capacity="1")
        waiting = factory.volunteer(status=PersonStatus.PENDING)
    ben.phone_verified_at = clock.now()
    session.add(ben)
    session.commit()
    return ana, ben, cy, waiting


def test_volunteers_are_asked_once_per_intake_and_answer_by_link_and_reply(
        app, session, volunteers, factory):
    ana, ben, cy, waiting = volunteers
    # August 2027 starts on 1 August; volunteers are asked 70 days before: 23 May 2027.
    assert daily(app, session, "2027-05-22T09:00:00+01:00")["availability_asked"] == 0
    assert daily(app, session, "2027-05-23T09:00:00+01:00")["availability_asked"] == 3
    assert daily(app, session, "2027-05-23T09:00:00+01:00")["availability_asked"] == 0
    asks = messages(session, "availability_ask")
    assert sorted(m.person_id for m in asks) == sorted([ana.id, ben.id, cy.id])
    assert {m.subject for m in asks} == {"confirm:2027-08"}
    # Ana answers by the link in her email.
    path = path_of(messages(session, "availability_ask", ana)[0])
    client = app.test_client()
    app.config["BUDDY_NOW"] = "2027-05-24T09:00:00+01:00"
    assert "Can you be a buddy for August 2027?" in client.get(path).get_data(as_text=True)
    assert client.post(path, data={"available": "yes", "capacity": "7"}).status_code == 200
    assert session.exec(select(VolunteerConfirmation)).all() == []
    client.post(path, data={"available": "yes", "capacity": "2"})
    # Ben replies by text.
    with at(app, "2027-05-25T09:00:00+01:00"):
        assert replies.meaning_of("not available") == "not_available"
        assert replies.meaning_of("Available 3") == "available"
        replies.receive_text(session, sid="SM1", from_=ben.phone, body="available 3")
    rows = {r.person_id: r for r in session.exec(select(VolunteerConfirmation))}
    assert (rows[ana.id].available, rows[ana.id].capacity, rows[ana.id].channel) == (
        True, 2, "email")
    assert (rows[ben.id].available, rows[ben.id].capacity, rows[ben.id].channel) == (
        True, 3, "sms")
    session.expire_all()
    assert session.get(Person, ben.id).capacity == 3
    # A week before the intake, one reminder to Cy, who has not answered.
    assert daily(app, session, "2027-07-25T09:00:00+01:00")["availability_reminded"] == 1
    assert daily(app, session, "2027-07-26T09:00:00+01:00")["availability_reminded"] == 0
    assert [m.person_id for m in messages(session, "availability_reminder")] == [cy.id]
    # The next intake is asked about separately: February 2028, from 23 November 2027.
    assert daily(app, session, "2027-11-23T09:00:00+00:00")["availability_asked"] == 3
    assert len(messages(session, "availability_ask")) == 6


def test_the_lead_sees_who_has_not_answered_and_records_an_answer(app, session, volunteers,
                                                                  factory):
    ana, ben, cy, _ = volunteers
    daily(app, session, "2027-05-23T09:00:00+01:00")
    with at(app, "2027-05-24T09:00:00+01:00"):
        confirmations.answer(session, ana, "2027-08", available="no", capacity=None,
                             channel="email")
    lead = factory.staff("lead", region=REGION)
    client = app.test_client()
    login(client, lead.email)
    page = client.get("/lead/volunteers").get_data(as_text=True)
    assert "Not yet confirmed for August 2027: 2" in page
    assert ben.full_name in page and cy.full_name in page
    assert "Not available for August 2027: 1" in page
    # Cy said yes on the phone.
    response = client.post(f"/lead/volunteers/{cy.id}/availability",
                           data={"intake": "2027-08", "available": "yes", "capacity": "1"})
    assert response.status_code == 302
    row = session.exec(select(VolunteerConfirmation).where(
        VolunteerConfirmation.person_id == cy.id)).one()
    assert (row.available, row.capacity, row.channel) == (True, 1, "lead")
    event = session.exec(select(AuditEvent).where(
        AuditEvent.action == "availability_recorded")).one()
    assert (event.actor_id, event.person_id) == (lead.id, cy.id)
    assert "Not yet confirmed for August 2027: 1" in client.get("/lead/volunteers").get_data(
        as_text=True)
    # A lead of another region cannot.
    other = factory.staff("lead", region="wessex")
    other_client = app.test_client()
    login(other_client, other.email)
    assert other_client.post(f"/lead/volunteers/{ben.id}/availability",
                             data={"intake": "2027-08", "available": "yes",
                                   "capacity": "1"}).status_code == 404


def test_only_volunteers_who_confirmed_are_in_the_next_cohort(app, session, volunteers,
                                                              factory):
    ana, ben, cy, _ = volunteers
    daily(app, session, "2027-05-23T09:00:00+01:00")
    with at(app, "2027-05-24T09:00:00+01:00"):
        confirmations.answer(session, ana, "2027-08", available="yes", capacity="2",
                             channel="email")
        confirmations.answer(session, ben, "2027-08", available="no", capacity=None,
                             channel="email")
        # Dee joins after the question went out: her sign-up is her answer.
        dee = factory.volunteer(capacity="2")
    daily(app, session, "2027-05-25T09:00:00+01:00")
    with at(app, "2027-06-01T09:00:00+01:00"):
        cohort = cohorts.family_cohort(session, REGION, intake="2027-08")
    volunteers_in = {p["id"] for p in cohort["people"] if p["role"] != "newcomer"}
    assert volunteers_in == {f"b-{ana.id}", f"b-{dee.id}"}
    # Nobody is deleted or paused for not answering.
    session.expire_all()
    assert session.get(Person, cy.id).status == "active"


def test_availability_link_refuses_tampering_someone_else_and_a_started_intake(
        app, session, volunteers, factory):
    ana, ben, *_ = volunteers
    daily(app, session, "2027-05-23T09:00:00+01:00")
    path = path_of(messages(session, "availability_ask", ana)[0])
    client = app.test_client()
    assert client.get(path[:-2] + "xx").status_code == 400
    login(client, factory_email(session, ben))
    assert client.get(path).status_code == 400
    app.config["BUDDY_NOW"] = "2027-08-02T09:00:00+01:00"
    started = app.test_client().post(path, data={"available": "yes", "capacity": "1"})
    assert "has started" in started.get_data(as_text=True)
    assert session.exec(select(VolunteerConfirmation)).all() == []


def test_reply_words_are_not_confused(app):
    assert [replies.meaning_of(w) for w in ("1", "2", "YES", "STOP", "available",
                                            "AVAILABLE 9", "unavailable", "availability")] == [
        "ok", "call", "start", "stop", "available", "unclear", "not_available", "unclear"]


def test_questions_wait_for_the_sending_window_and_for_people_who_paused(app, session,
                                                                        volunteers):
    from buddy.messaging import dispatch

    ana, ben, cy, _ = volunteers
    for person in (ana, cy):  # their email addresses are confirmed (else emails wait for it)
        person.email_confirmed_at = clock.now()
        session.add(person)
    cy.status = PersonStatus.PAUSED
    session.add(cy)
    session.commit()
    daily(app, session, "2027-05-23T02:00:00+01:00")  # the scheduler runs at night
    with at(app, "2027-05-23T02:00:00+01:00") as now:
        dispatch.dispatch(now=now)
    session.expire_all()
    assert {m.status for m in messages(session, "availability_ask", ana)} == {"pending"}
    assert messages(session, "availability_ask", cy) == []
    with at(app, "2027-05-23T10:00:00+01:00") as now:
        dispatch.dispatch(now=now)
    session.expire_all()
    assert [m.status for m in messages(session, "availability_ask", ana)] == ["sent"]
    # Cy comes back: asked then, once.
    with at(app, "2027-06-01T09:00:00+01:00"):
        people.change_status(session=session, person=cy, action="resume")
    daily(app, session, "2027-06-02T09:00:00+01:00")
    daily(app, session, "2027-06-03T09:00:00+01:00")
    assert len(messages(session, "availability_ask", cy)) == 1
