"""A person's status changes only as buddy/states.py's table allows, and only by its actor.

Every (status, action, actor) is tried on a newcomer, an approved volunteer and a volunteer
nobody approved, through the services the pages call. What should happen is written out
here a second time (EXPECTED), apart from the table, so that neither drifts unnoticed.
"""

from __future__ import annotations

import itertools

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from buddy import states
from buddy.messaging.models import Message
from buddy.models import AuditEvent, Person, User
from buddy.services import ServiceError, people, training_year, volunteers
from buddy.states import STATUS_WORDS, TRANSITIONS, Action, Actor
from buddy.statuses import PersonStatus
from tests.factories import login, volunteer_form

STATUSES = ["pending", "active", "declined", "paused", "withdrawn"]
ACTIONS = ["pause", "resume", "withdraw", "rejoin", "approve", "decline", "move_region",
           "become_volunteer"]
ACTORS = ["member", "lead", "admin", "system"]
KINDS = ["newcomer", "approved volunteer", "unapproved volunteer"]
BACK = "back"  # active for newcomers and approved volunteers, pending for anyone else

# (status, action): (who may, status after, which people, approval after)
# approval after: "keep", "grant" (approved for their region) or "clear".
EXPECTED = {
    ("active", "pause"): ({"member"}, "paused", "all", "keep"),
    ("pending", "pause"): ({"member"}, "paused", "all", "keep"),
    ("paused", "resume"): ({"member"}, BACK, "all", "keep"),
    ("active", "withdraw"): ({"member"}, "withdrawn", "all", "clear"),
    ("pending", "withdraw"): ({"member"}, "withdrawn", "all", "clear"),
    ("paused", "withdraw"): ({"member"}, "withdrawn", "all", "clear"),
    ("declined", "withdraw"): ({"member"}, "withdrawn", "all", "clear"),
    ("withdrawn", "rejoin"): ({"member"}, BACK, "all", "keep"),
    ("pending", "approve"): ({"lead", "admin"}, "active", "volunteers", "grant"),
    ("pending", "decline"): ({"lead", "admin"}, "declined", "volunteers", "clear"),
    # A new region: an active volunteer waits for its lead; everyone else keeps their status.
    **{(status, "move_region"): ({"system"}, "same", "all", "clear") for status in STATUSES},
    # A newcomer of an earlier intake volunteers: they wait for the lead like any volunteer.
    ("active", "become_volunteer"): ({"member"}, "pending", "newcomers", "clear"),
}


def expected_after(kind: str, status: str, action: str, actor: str) -> str | None:
    """The status EXPECTED gives, or None when the change must be refused."""
    row = EXPECTED.get((status, action))
    if row is None or actor not in row[0]:
        return None
    if row[2] == "volunteers" and kind == "newcomer":
        return None
    if row[2] == "newcomers" and kind != "newcomer":
        return None
    if row[1] == BACK:
        return "pending" if kind == "unapproved volunteer" else "active"
    if row[1] == "same":
        return "pending" if status == "active" and kind != "newcomer" else status
    return row[1]


def test_the_table_is_the_expectation():
    """Same pairs, same actors, same people, same approval rule: the table has not drifted."""
    assert {(s.value, a.value) for s, a in TRANSITIONS} == set(EXPECTED)
    for (status, action), rule in TRANSITIONS.items():
        actors, _, who, approval = EXPECTED[(status.value, action.value)]
        assert {a.value for a in rule.actors} == actors, (status, action)
        assert rule.roles == {"volunteers": states.VOLUNTEER_ROLES, "newcomers": {"newcomer"}}.get(
            who, states.ALL_ROLES), (status, action)
        assert rule.approval == approval, (status, action)
    assert [s.value for s in PersonStatus] == STATUSES
    assert {a.value for a in Action} == set(ACTIONS)
    assert [a.value for a in Actor] == ACTORS


def profile_data(person: Person, **changes) -> dict:
    """The account edit form's data for `person` as saved, with `changes`."""
    data = {
        "full_name": person.full_name, "phone": person.phone,
        "phone_country": person.phone_country, "channel": person.channel,
        "timezone": person.timezone, "region": person.region, "scheme": person.scheme,
        "stage": person.stage, "arrival_date": person.arrival_date,
        "wants_ambassador": person.wants_ambassador, "interests": list(person.interests),
        "share_email": person.share_email, "share_phone": person.share_phone,
        "sensitive_consent": person.sensitive_consent_at is not None,
        "country": person.country, "languages": list(person.languages),
        "gender": person.gender, "same_gender_anchor": person.same_gender_anchor,
        "support_needs": list(person.support_needs), "setting": person.setting,
        "capacity": person.capacity, "can_anchor": person.can_anchor,
        "gmc_number": person.gmc_number,
    }
    data.update(changes)
    return data


def snapshot(session: Session, person_id: int) -> dict:
    """What the database holds about the person and around them (fresh reads)."""
    session.expire_all()
    row = session.get(Person, person_id)
    return {
        "person": row.model_dump(),
        "audit": session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)),
        "messages": session.exec(select(Message.id, Message.status)).all(),
    }


def make_person(factory, session, kind: str, status: str) -> Person:
    """A London person in `status`, set as test data (the table is what is under test)."""
    if kind == "newcomer":
        person = factory.newcomer()
    else:
        person = factory.volunteer(status=status)
    person.status = status
    person.approved_region = person.region if kind == "approved volunteer" else None
    session.add(person)
    session.commit()
    return person


def attempt(app, session, person: Person, action: str, actor: str, staff: dict) -> None:
    """Make the change as `actor` through the service a page calls (the table's own
    `apply` where no page offers it to that actor)."""
    member = session.get(User, person.user_id)
    with app.app_context():
        if actor == "member" and action in people.MEMBER_ACTIONS:
            people.change_status(session=session, person=person, action=action, user=member)
        elif actor in ("lead", "admin") and action in ("approve", "decline"):
            volunteers.decide(session=session, lead=staff[actor], person_id=person.id,
                              approve=action == "approve")
        elif actor == "member" and action == "become_volunteer":
            training_year.become_volunteer(session, person, {
                "role": "buddy", "stage": "ST2", "setting": "primary", "capacity": "2",
                "gmc_number": "7234567"}, channel="web", user=member)
        elif actor == "system" and action == "move_region":
            people.update_profile(session=session, person=person, data=profile_data(
                person, region="wessex", scheme="poole"))
        else:
            by = {"member": member, "lead": staff["lead"], "admin": staff["admin"],
                  "system": None}[actor]
            states.apply(person, action, Actor(actor), by=by)
            session.add(person)
            session.commit()


@pytest.fixture
def staff(factory) -> dict[str, User]:
    return {"lead": factory.staff("lead", region="london"), "admin": factory.staff("admin")}


@pytest.mark.parametrize(("status", "action", "actor"),
                         list(itertools.product(STATUSES, ACTIONS, ACTORS)))
def test_every_status_action_and_actor(app, session, factory, staff, status, action, actor):
    for kind in KINDS:
        person = make_person(factory, session, kind, status)
        before = snapshot(session, person.id)
        want = expected_after(kind, status, action, actor)
        rule = TRANSITIONS.get((PersonStatus(status), Action(action)))
        allowed_by_table = (rule is not None and Actor(actor) in rule.actors
                            and person.role in rule.roles)
        assert allowed_by_table == (want is not None), (kind, status, action, actor)
        if want is None:
            with pytest.raises(ServiceError) as refused:
                attempt(app, session, person, action, actor, staff)
            session.rollback()
            message = str(refused.value)
            # The refusal says why in words: who may do it, or the status as people say it.
            said = ("Only", "already", STATUS_WORDS[PersonStatus(status)])
            assert message and any(w in message for w in said), message
            assert "status is" not in message, message
            assert snapshot(session, person.id) == before, (kind, message)
            continue
        attempt(app, session, person, action, actor, staff)
        session.expire_all()
        saved = session.get(Person, person.id)
        assert saved.status == want, (kind, status, action, actor)
        approval = EXPECTED[(status, action)][3]
        if approval == "grant":
            assert saved.approved_region == saved.region
            assert saved.decided_by == staff[actor].id
        elif approval == "clear":
            assert saved.approved_region is None
        else:
            assert saved.approved_region == before["person"]["approved_region"]
        assert snapshot(session, person.id)["audit"] > before["audit"]  # on the trail


@pytest.mark.parametrize(("status", "action", "actor"), sorted(
    (s.value, a.value, actor.value) for (s, a), rule in TRANSITIONS.items()
    for actor in rule.actors))
def test_every_change_the_table_allows_does_what_the_expectation_says(
        app, session, factory, staff, status, action, actor):
    """From the table's side: each row it allows, for each actor it names, succeeds."""
    rule = TRANSITIONS[(PersonStatus(status), Action(action))]
    kinds = [k for k in KINDS if k == "newcomer" or rule.roles != {"newcomer"}]
    kinds = [k for k in kinds if rule.roles != states.VOLUNTEER_ROLES or k != "newcomer"]
    for kind in kinds:
        person = make_person(factory, session, kind, status)
        attempt(app, session, person, action, actor, staff)
        session.expire_all()
        assert session.get(Person, person.id).status == expected_after(
            kind, status, action, actor), (kind, status, action, actor)


def test_a_lead_of_another_region_cannot_decide(app, session, factory):
    person = make_person(factory, session, "unapproved volunteer", "pending")
    other = factory.staff("lead", region="wessex")
    before = snapshot(session, person.id)
    with pytest.raises(ServiceError, match="Only the DA lead of .* region may approve"):
        states.apply(person, Action.APPROVE, Actor.LEAD, by=other)
    session.rollback()
    assert snapshot(session, person.id) == before


def test_a_member_cannot_change_another_members_status(app, session, factory):
    person = make_person(factory, session, "newcomer", "active")
    someone = session.get(User, factory.newcomer().user_id)
    before = snapshot(session, person.id)
    with app.app_context(), pytest.raises(ServiceError, match="Only the member themself"):
        people.change_status(session=session, person=person, action="pause", user=someone)
    session.rollback()
    assert snapshot(session, person.id) == before


# --- The two holes, through the pages --------------------------------------------------

def volunteer_signed_in(client, factory, session, status: str, **kw) -> Person:
    person = factory.volunteer(status=status, email="vol@example.org", **kw)
    login(client, "vol@example.org")
    return person


def status_of(session, person: Person) -> tuple[str, str | None]:
    session.expire_all()
    saved = session.get(Person, person.id)
    return saved.status, saved.approved_region


def test_a_pending_volunteer_cannot_pause_and_resume_into_active(client, factory, session):
    person = volunteer_signed_in(client, factory, session, "pending")
    assert client.post("/account/status", data={"action": "pause"}).status_code == 302
    assert status_of(session, person) == ("paused", None)
    client.post("/account/status", data={"action": "resume"})
    assert status_of(session, person) == ("pending", None)
    page = client.get("/account/").get_data(as_text=True)
    assert "Waiting for your DA lead to approve you" in page


def test_a_declined_volunteer_never_approves_themself(client, factory, session):
    person = volunteer_signed_in(client, factory, session, "declined")
    client.post("/account/status", data={"action": "pause"})
    assert "You cannot pause while you are declined" in client.get(
        "/account/").get_data(as_text=True)
    assert status_of(session, person) == ("declined", None)
    for action in ("resume", "rejoin"):
        client.post("/account/status", data={"action": action})
        assert status_of(session, person) == ("declined", None)
    # Leaving and rejoining puts them back in front of the lead, not into families.
    client.post("/account/status", data={"action": "withdraw"})
    client.post("/account/status", data={"action": "rejoin"})
    assert status_of(session, person) == ("pending", None)


def edit_form(person: Person, **changes) -> dict:
    form = volunteer_form(full_name=person.full_name, capacity=str(person.capacity),
                          gmc_number=person.gmc_number, **changes)
    for key in ("email", "password", "contact_consent"):
        form.pop(key)
    return form


@pytest.mark.parametrize("paused_first", [False, True])
def test_a_volunteer_who_moves_region_waits_for_the_new_lead(client, app, factory, session,
                                                             paused_first):
    person = volunteer_signed_in(client, factory, session, "active")
    assert status_of(session, person) == ("active", "london")
    if paused_first:
        client.post("/account/status", data={"action": "pause"})
    response = client.post("/account/edit", data=edit_form(person, region="wessex",
                                                           scheme="wessex:poole"))
    assert response.status_code == 302, response.get_data(as_text=True)
    assert status_of(session, person) == ("paused" if paused_first else "pending", None)
    if paused_first:
        client.post("/account/status", data={"action": "resume"})
        assert status_of(session, person) == ("pending", None)
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "region_changed")).one()
    assert (event.person_id, event.region, event.detail["from"]) == (person.id, "wessex",
                                                                      "london")
    # The new region's lead sees them waiting and approves them for Wessex.
    factory.staff("lead", region="wessex", email="lead.wessex@example.org")
    lead = app.test_client()
    login(lead, "lead.wessex@example.org")
    assert person.full_name in lead.get("/lead/volunteers").get_data(as_text=True)
    lead.post(f"/lead/volunteers/{person.id}/decision", data={"decision": "approve"})
    assert status_of(session, person) == ("active", "wessex")


def test_a_newcomer_who_moves_region_stays_active(app, session, factory):
    person = factory.newcomer()
    with app.app_context():
        people.update_profile(session=session, person=person,
                              data=profile_data(person, region="wessex", scheme="poole"))
    assert status_of(session, person) == ("active", None)


def test_only_approved_volunteers_are_matched(app, session, factory):
    """The optimiser's cohort takes volunteers approved for the region they are in."""
    from buddy.services.cohorts import family_cohort, key

    approved = factory.volunteer(region="wessex", scheme="wessex:poole")
    moved = factory.volunteer(region="wessex", scheme="wessex:poole")
    moved.approved_region = "london"  # approved by another region's lead: not here
    session.add(moved)
    session.commit()
    cohort = family_cohort(session, "wessex")
    ids = {p["id"] for p in cohort["people"]}
    assert key(approved) in ids and key(moved) not in ids
    assert states.is_matchable(approved) and not states.is_matchable(moved)


def test_sign_up_starts_where_the_table_says(app, session, factory):
    from buddy.services import accounts

    assert factory.newcomer().status == states.initial("newcomer") == "active"
    with app.app_context():
        volunteer = accounts.register_member(
            session=session, data=factory._service_data(volunteer_form()), role="buddy")
    assert volunteer.status == states.initial("buddy") == "pending"
    assert volunteer.approved_region is None
