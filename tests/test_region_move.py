"""A member of a running family who changes region is asked first; on yes they leave the
family, both regions' leads are told, and the figures count them once, in the new region."""

from __future__ import annotations

import email
from email import policy

import pytest
from sqlmodel import Session, select

from buddy import clock
from buddy.messaging.models import Message
from buddy.models import AuditEvent, Family, FamilyMember, Person
from buddy.services import indicators
from buddy.statuses import FamilyStatus
from tests.factories import Factory, login
from tests.messaging.conftest import publish_family
from tests.test_account import edit_form

LINK = "https://chat.whatsapp.com/Fa7Kq2Lr9XyZ0123abcd"


def volunteer_edit_form(person: Person, **overrides) -> dict:
    form = {"full_name": person.full_name, "channel": "email", "timezone": "Europe/London",
            "region": "london", "scheme": "london:barnet", "stage": "ST3",
            "setting": "primary", "capacity": "3", "can_anchor": "y", "gmc_number": "7123456",
            "interests": ["paediatrics"]}
    form.update(overrides)
    return form


def to_wessex(form: dict) -> dict:
    return {**form, "region": "wessex", "scheme": "wessex:poole"}


@pytest.fixture
def world(app, session, factory):
    return build_world(app, session, factory)


def build_world(app, session, factory) -> dict:
    """A London family (anchor, buddy, two newcomers) and the leads of London and Wessex."""
    factory.staff("lead", region="london", email="lead.london@example.org",
                  full_name="Dr Helen Price")
    factory.staff("lead", region="wessex", email="lead.wessex@example.org")
    anchor = factory.volunteer(full_name="Anchor Person", email="anchor@example.org")
    buddy = factory.volunteer(full_name="Buddy Person")
    mover = factory.newcomer(full_name="Ngozi Nwosu", email="me@example.org")
    stayer = factory.newcomer(full_name="Stays Here")
    family = publish_family(app, session, [(anchor, "anchor"), (buddy, "buddy"),
                                           (mover, "newcomer"), (stayer, "newcomer")])
    family.chat_link = LINK
    session.add(family)
    session.commit()
    return {"family": family, "anchor": anchor, "buddy": buddy, "mover": mover,
            "stayer": stayer}


def members(session, family) -> set[int]:
    session.expire_all()
    return set(session.exec(select(FamilyMember.person_id).where(
        FamilyMember.family_id == family.id)).all())


def test_the_member_is_asked_first_and_nothing_is_saved_until_yes(app, session, world):
    client = app.test_client()
    login(client, "me@example.org")
    form = to_wessex(edit_form(full_name="Ngozi Amara Nwosu"))
    response = client.post("/account/edit", data=form)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Do you want to move to Wessex?" in page
    assert "You are in a buddy family in London (family london-t)" in page
    assert "If you move to Wessex you will leave that family" in page
    assert 'href="/account/">No, stay in London and keep my family' in page
    # The answers ride along, unsaved.
    assert 'name="full_name" value="Ngozi Amara Nwosu"' in page
    session.expire_all()
    mover = session.get(Person, world["mover"].id)
    assert (mover.region, mover.full_name) == ("london", "Ngozi Nwosu")
    assert world["mover"].id in members(session, world["family"])
    assert not session.exec(select(Message).where(Message.kind.like("region_move%"))).all()

    # Saying no (the link back to the account page) keeps everything.
    assert client.get("/account/").status_code == 200
    session.expire_all()
    assert session.get(Person, world["mover"].id).region == "london"

    response = client.post("/account/edit", data={**form, "leave_family": "yes"})
    assert response.headers["Location"] == "/account/"
    session.expire_all()
    mover = session.get(Person, world["mover"].id)
    assert (mover.region, mover.status, mover.full_name) == (
        "wessex", "active", "Ngozi Amara Nwosu")
    assert mover.intake == "2027-08"  # worked out again for Wessex
    assert members(session, world["family"]) == {
        world["anchor"].id, world["buddy"].id, world["stayer"].id}
    family = session.get(Family, world["family"].id)
    assert family.status == "published" and family.chat_link == LINK
    left = session.exec(select(AuditEvent).where(AuditEvent.action == "family_left")).one()
    assert (left.region, left.person_id) == ("london", mover.id)
    assert left.detail["family"] == "london-t" and left.detail["place"] == "newcomer"
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "region_changed")).one()
    # The mover's page shows no family; the family's page no longer shows the mover.
    assert "You do not have a family yet" in client.get("/family/").get_data(as_text=True)
    other = app.test_client()
    login(other, "anchor@example.org")
    assert "Ngozi" not in other.get("/family/").get_data(as_text=True)


def test_both_leads_are_told_by_email(make_app, fake_smtp):
    app = make_app(BUDDY_CHANNELS="email", BUDDY_SMTP_HOST=fake_smtp.host,
                   BUDDY_SMTP_PORT=fake_smtp.port, BUDDY_MAIL_FROM="Buddy <buddy@example.org>")
    with Session(app.extensions["buddy.engine"], expire_on_commit=False) as session:
        built = build_world(app, session, Factory(app, session))
        client = app.test_client()
        login(client, "me@example.org")
        client.post("/account/edit", data={**to_wessex(edit_form(full_name="Ngozi Nwosu")),
                                           "leave_family": "yes"})
        assert app.test_cli_runner().invoke(args=["dispatch"]).exit_code == 0
    texts = {}
    for address in ("lead.london@example.org", "lead.wessex@example.org"):
        found = [email.message_from_bytes(m["content"], policy=policy.default)
                 for m in fake_smtp.messages_to(address)]
        assert len(found) == 1, address
        texts[address] = (found[0]["Subject"], found[0].get_body().get_content())
    subject, body = texts["lead.london@example.org"]
    assert subject == "Ngozi Nwosu has left family london-t and moved to Wessex"
    assert body.startswith("Hello Helen,")  # "Dr Helen Price"
    assert "Ngozi Nwosu (new to GP training) has moved from London to Wessex" in body
    assert "The family carries on with 3 members." in body
    assert f"/lead/families/{built['family'].id}" in body
    subject, body = texts["lead.wessex@example.org"]
    assert subject == "Ngozi Nwosu has moved to Wessex from London"
    assert "where they were in buddy family london-t" in body
    assert "next match run for the August 2027 intake" in body


def test_figures_count_the_mover_once_in_the_new_region(app, session, world):
    today = clock.today()
    with app.app_context():
        before = {r: indicators.summary(session, r, today) for r in ("london", "wessex")}
    assert (before["london"]["signed_up"], before["london"]["matched"]) == (2, 2)
    client = app.test_client()
    login(client, "me@example.org")
    client.post("/account/edit", data={**to_wessex(edit_form(full_name="Ngozi Nwosu")),
                                       "leave_family": "yes"})
    session.expire_all()
    with app.app_context():
        after = {r: indicators.summary(session, r, today) for r in ("london", "wessex")}
    assert (after["london"]["signed_up"], after["london"]["matched"]) == (1, 1)
    assert (after["wessex"]["signed_up"], after["wessex"]["matched"]) == (1, 0)


def test_the_anchor_who_moves_waits_for_approval_and_the_lead_is_told(app, session, world):
    client = app.test_client()
    login(client, "anchor@example.org")
    form = to_wessex(volunteer_edit_form(world["anchor"]))
    assert "Do you want to move to Wessex?" in client.post(
        "/account/edit", data=form).get_data(as_text=True)
    page = client.post("/account/edit", data=form).get_data(as_text=True)
    assert "needs to approve you before you join a family there" in page
    client.post("/account/edit", data={**form, "leave_family": "yes"})
    session.expire_all()
    anchor = session.get(Person, world["anchor"].id)
    assert (anchor.region, anchor.status, anchor.approved_region) == ("wessex", "pending", None)
    assert anchor.id not in members(session, world["family"])
    told = session.exec(select(Message).where(Message.kind == "region_move_lead_from")).one()
    assert "Anchor Person (a volunteer buddy)" in told.body
    assert "The family has no anchor now" in told.body
    to = session.exec(select(Message).where(Message.kind == "region_move_lead_to")).one()
    assert "need your approval before they are matched in Wessex" in to.body
    assert f"/lead/volunteers/{anchor.id}" in to.body


def test_a_family_left_without_a_newcomer_ends(app, session, factory):
    factory.staff("lead", region="london", email="lead.london@example.org")
    anchor = factory.volunteer(email="anchor@example.org")
    newcomer = factory.newcomer(email="me@example.org")
    family = publish_family(app, session, [(anchor, "anchor"), (newcomer, "newcomer")])
    family.chat_link = LINK
    session.add(family)
    session.commit()
    client = app.test_client()
    login(client, "me@example.org")
    client.post("/account/edit", data={**to_wessex(edit_form(full_name="Me")),
                                       "leave_family": "yes"})
    session.expire_all()
    ended = session.get(Family, family.id)
    assert (ended.status, ended.end_reason, ended.chat_link) == (
        "ended", "No newcomer is left in it", None)
    assert session.get(Person, newcomer.id).region == "wessex"
    told = session.exec(select(Message).where(Message.kind == "region_move_lead_from")).one()
    assert "The family ends now: no newcomer is left in it." in told.body
    # The anchor's pending messages about the family are cancelled.
    assert not session.exec(select(Message).where(
        Message.person_id == anchor.id, Message.kind.in_(("checkin", "buddy_nudge",
                                                         "close_continue")),
        Message.status == "pending")).all()


def test_a_move_without_a_family_is_not_asked_about(app, session, factory):
    person = factory.newcomer(email="me@example.org")
    client = app.test_client()
    login(client, "me@example.org")
    response = client.post("/account/edit", data=to_wessex(edit_form(full_name="Me")))
    assert response.headers["Location"] == "/account/"
    session.expire_all()
    assert session.get(Person, person.id).region == "wessex"
    assert not session.exec(select(AuditEvent).where(AuditEvent.action == "family_left")).all()


def test_a_move_takes_them_out_of_the_old_regions_drafts(app, session, factory):
    person = factory.newcomer(email="me@example.org")
    draft = Family(code="london-d", region="london", status=FamilyStatus.DRAFT)
    session.add(draft)
    session.flush()
    session.add(FamilyMember(family_id=draft.id, person_id=person.id, place="newcomer"))
    session.commit()
    client = app.test_client()
    login(client, "me@example.org")
    response = client.post("/account/edit", data=to_wessex(edit_form(full_name="Me")))
    assert response.headers["Location"] == "/account/"  # a draft is not a family to ask about
    assert members(session, draft) == set()
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "region_changed")).one()
    assert event.detail["left_drafts"] == 1
