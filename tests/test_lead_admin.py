"""DA leads see and decide on volunteers of their own region only; admins manage leads."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from buddy.messaging.models import Message
from buddy.models import AuditEvent, Person, User
from buddy.statuses import PersonStatus
from tests.factories import login


@pytest.fixture
def lead_client(app, factory):
    factory.staff("lead", region="wessex", email="lead.wessex@example.org")
    client = app.test_client()
    login(client, "lead.wessex@example.org")
    return client


def test_lead_sees_only_their_regions_pending_volunteers(lead_client, factory):
    mine = factory.volunteer(status=PersonStatus.PENDING, region="wessex", scheme="wessex:poole",
                             full_name="Wessex Volunteer")
    factory.volunteer(status=PersonStatus.PENDING, region="london", full_name="London Volunteer")
    page = lead_client.get("/lead/volunteers").get_data(as_text=True)
    assert "Wessex Volunteer" in page and "London Volunteer" not in page
    assert f"/lead/volunteers/{mine.id}" in page
    assert "1 waiting for approval" in lead_client.get("/lead/").get_data(as_text=True)


@pytest.mark.parametrize(("decision", "status"), [("approve", "active"), ("decline", "declined")])
def test_lead_approves_or_declines(lead_client, factory, session, decision, status):
    person = factory.volunteer(status=PersonStatus.PENDING, region="wessex", scheme="wessex:poole")
    response = lead_client.post(f"/lead/volunteers/{person.id}/decision",
                                data={"decision": decision})
    assert response.status_code == 302
    session.expire_all()
    saved = session.get(Person, person.id)
    lead = session.exec(select(User).where(User.role == "lead")).one()
    assert saved.status == status and saved.decided_by == lead.id
    event = session.exec(select(AuditEvent).where(AuditEvent.actor_id == lead.id)).one()
    assert event.action == f"volunteer_{'approved' if decision == 'approve' else 'declined'}"
    # Deciding twice is refused with a message.
    again = lead_client.post(f"/lead/volunteers/{person.id}/decision",
                             data={"decision": decision}, follow_redirects=True)
    assert f"is already {decision}d" in again.get_data(as_text=True)


def test_another_regions_volunteer_is_not_found_by_url_or_form(lead_client, factory, session):
    other = factory.volunteer(status=PersonStatus.PENDING, region="london")
    assert lead_client.get(f"/lead/volunteers/{other.id}").status_code == 404
    response = lead_client.post(f"/lead/volunteers/{other.id}/decision",
                                data={"decision": "approve"})
    assert response.status_code == 404
    session.expire_all()
    assert session.get(Person, other.id).status == "pending"


def test_newcomers_are_not_volunteer_pages(lead_client, factory):
    newcomer = factory.newcomer(region="wessex", scheme="wessex:poole")
    assert lead_client.get(f"/lead/volunteers/{newcomer.id}").status_code == 404


def test_members_cannot_reach_lead_or_admin_pages(client, factory):
    factory.newcomer(email="member@example.org")
    login(client, "member@example.org")
    for url in ("/lead/", "/lead/volunteers", "/admin/"):
        assert client.get(url).status_code == 404


def test_leads_cannot_reach_admin_pages(lead_client):
    assert lead_client.get("/admin/").status_code == 404
    assert lead_client.post("/admin/leads/1/region", data={"region": "london"}).status_code == 404


def test_admin_sees_every_region(app, factory):
    factory.staff("admin", email="admin@example.org")
    factory.volunteer(status=PersonStatus.PENDING, region="london", full_name="London Volunteer")
    factory.volunteer(status=PersonStatus.PENDING, region="north-east", scheme=None,
                      full_name="North East Volunteer")
    client = app.test_client()
    login(client, "admin@example.org")
    page = client.get("/lead/volunteers").get_data(as_text=True)
    assert "London Volunteer" in page and "North East Volunteer" in page


def test_admin_creates_a_lead_who_sets_a_password_by_email(app, factory, session):
    factory.staff("admin", email="admin@example.org")
    client = app.test_client()
    login(client, "admin@example.org")
    response = client.post("/admin/", data={"full_name": "Dr Priya Shah",
                                            "email": "Priya.Shah@NHS.net", "region": "wessex"})
    assert response.status_code == 302
    assert "is now a DA lead for Wessex" in client.get("/admin/").get_data(as_text=True)
    lead = session.exec(select(User).where(User.role == "lead")).one()
    assert (lead.email, lead.region) == ("priya.shah@nhs.net", "wessex")
    message = session.exec(select(Message).where(Message.user_id == lead.id)).one()
    link = re.search(r"http://localhost(/reset-password/\S+)", message.body).group(1)
    fresh = app.test_client()
    fresh.post(link, data={"password": "lead password here"})
    assert login(fresh, "priya.shah@nhs.net", "lead password here").headers["Location"] == "/lead/"


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"full_name": "A Lead", "email": "bad", "region": "wessex"}, "correct format"),
        ({"full_name": "", "email": "x@example.org", "region": "wessex"}, "Enter their full name"),
        ({"full_name": "A Lead", "email": "x@example.org", "region": ""}, "Choose the lead"),
    ],
)
def test_admin_gets_clear_messages_for_bad_lead_details(app, factory, session, form, message):
    factory.staff("admin", email="admin@example.org")
    client = app.test_client()
    login(client, "admin@example.org")
    response = client.post("/admin/", data=form)
    assert response.status_code == 200 and message in response.get_data(as_text=True)
    assert session.exec(select(User).where(User.role == "lead")).all() == []


@pytest.fixture
def admin_client(app, factory):
    factory.staff("admin", email="admin@example.org", full_name="Ada Admin")
    client = app.test_client()
    login(client, "admin@example.org")
    return client


def test_admin_moves_a_lead_to_another_region_after_confirming(admin_client, factory, session):
    lead = factory.staff("lead", region="wessex", full_name="Priya Shah")
    factory.staff("lead", region="wessex")  # Wessex keeps a lead
    page = admin_client.get(f"/admin/leads/{lead.id}").get_data(as_text=True)
    assert "Move to another region" in page and "Remove Priya Shah" in page
    # The first post only asks.
    ask = admin_client.post(f"/admin/leads/{lead.id}/region", data={"region": "north-east"})
    text = ask.get_data(as_text=True)
    assert ask.status_code == 200
    assert "Move Priya Shah from Wessex to North East?" in text
    assert "will have no DA lead" not in text
    session.expire_all()
    assert session.get(User, lead.id).region == "wessex"
    done = admin_client.post(f"/admin/leads/{lead.id}/region",
                             data={"region": "north-east", "confirm": "yes"},
                             follow_redirects=True).get_data(as_text=True)
    assert "Priya Shah now leads North East" in done and "now has no DA lead" not in done
    session.expire_all()
    assert session.get(User, lead.id).region == "north-east"
    event = session.exec(select(AuditEvent).where(
        AuditEvent.action == "lead_region_changed")).one()
    assert event.detail["from"] == "wessex" and event.detail["to"] == "north-east"
    assert event.actor_id == session.exec(select(User).where(User.role == "admin")).one().id


@pytest.mark.parametrize(("region", "message"), [
    ("wessex", "Priya Shah already leads Wessex: choose another region"),
    ("nowhere", "Choose a region from the list"), ("", "Choose a region from the list")])
def test_a_move_to_no_region_or_the_same_says_what_to_fix(admin_client, factory, session,
                                                           region, message):
    lead = factory.staff("lead", region="wessex", full_name="Priya Shah")
    response = admin_client.post(f"/admin/leads/{lead.id}/region",
                                 data={"region": region, "confirm": "yes"})
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(User, lead.id).region == "wessex"
    assert session.exec(select(AuditEvent).where(
        AuditEvent.action == "lead_region_changed")).all() == []


def test_moving_the_last_lead_of_a_region_tells_the_admin(admin_client, factory, session):
    from buddy.messaging.models import Flag

    lead = factory.staff("lead", region="wessex", full_name="Priya Shah")
    person = factory.newcomer(region="wessex", scheme="wessex:poole")
    flag = Flag(person_id=person.id, region="wessex", reason="help", text="HELP",
                assigned_to=lead.id)
    session.add(flag)
    session.commit()
    ask = admin_client.post(f"/admin/leads/{lead.id}/region",
                            data={"region": "london"}).get_data(as_text=True)
    assert "Wessex will have no DA lead" in ask
    assert "the 1 flag of Wessex assigned to them goes back to Wessex" in ask
    done = admin_client.post(f"/admin/leads/{lead.id}/region",
                             data={"region": "london", "confirm": "yes"},
                             follow_redirects=True).get_data(as_text=True)
    assert "Wessex now has no DA lead" in done
    assert "1 region has no DA lead" in done or "regions have no DA lead" in done
    session.expire_all()
    # A flag they can no longer see is not left waiting on them.
    assert session.get(Flag, flag.id).assigned_to is None


def test_admin_removes_a_lead_who_can_no_longer_sign_in(app, admin_client, factory, session):
    from buddy.messaging.models import Flag

    lead = factory.staff("lead", region="wessex", full_name="Priya Shah",
                         email="priya@example.org")
    person = factory.newcomer(region="wessex", scheme="wessex:poole")
    flag = Flag(person_id=person.id, region="wessex", reason="help", text="HELP")
    session.add(flag)
    session.commit()
    signed_in = app.test_client()
    login(signed_in, "priya@example.org")
    signed_in.post(f"/lead/flags/{flag.id}", data={"note": "Rang them", "assign_to": lead.id})
    assert signed_in.get("/lead/").status_code == 200

    ask = admin_client.get(f"/admin/leads/{lead.id}/remove").get_data(as_text=True)
    assert "Remove Priya Shah as DA lead for Wessex?" in ask
    assert "Wessex will have no DA lead" in ask and "the 1 flag assigned to them" in ask
    session.expire_all()
    assert session.get(User, lead.id).role == "lead"  # asking changes nothing

    done = admin_client.post(f"/admin/leads/{lead.id}/remove", follow_redirects=True)
    text = done.get_data(as_text=True)
    assert "Priya Shah is no longer a DA lead and can no longer sign in" in text
    assert "Wessex now has no DA lead" in text
    assert "Former DA leads" in text and "priya@example.org" in text
    # Their session has ended; signing in again is refused with words.
    assert signed_in.get("/lead/").status_code == 302
    again = login(app.test_client(), "priya@example.org")
    assert again.status_code == 200
    assert "Your DA lead account has been closed" in again.get_data(as_text=True)
    # History keeps their name: the account row stays, and so does what they did.
    session.expire_all()
    saved = session.get(User, lead.id)
    assert (saved.full_name, saved.role, saved.region) == ("Priya Shah", "former_lead", "wessex")
    note = session.exec(select(AuditEvent).where(AuditEvent.action == "flag_updated")).one()
    assert note.actor_id == lead.id and "Priya Shah: Rang them" in session.get(Flag, flag.id).note
    assert session.get(Flag, flag.id).assigned_to is None
    removed = session.exec(select(AuditEvent).where(AuditEvent.action == "lead_removed")).one()
    assert removed.region == "wessex" and removed.detail["user_id"] == lead.id
    # Nobody can assign them a flag any more, and their old pages are gone.
    assert "Priya Shah" not in admin_client.get(
        f"/lead/flags/{flag.id}?region=wessex").get_data(as_text=True).split("Assign to")[1]
    assert admin_client.get(f"/admin/leads/{lead.id}").status_code == 404
    assert admin_client.post(f"/admin/leads/{lead.id}/remove").status_code == 404


def test_a_removed_lead_gets_no_reset_link_and_an_old_one_is_dead(app, admin_client, factory,
                                                                  session):
    admin_client.post("/admin/", data={"full_name": "New Lead", "email": "new@example.org",
                                       "region": "london"})
    lead = session.exec(select(User).where(User.email == "new@example.org")).one()
    invite = session.exec(select(Message).where(Message.user_id == lead.id)).one()
    link = re.search(r"http://localhost(/reset-password/\S+)", invite.body).group(1)
    admin_client.post(f"/admin/leads/{lead.id}/remove")
    session.expire_all()
    assert session.get(Message, invite.id).status == "cancelled"
    anyone = app.test_client()
    assert anyone.get(link).status_code == 400
    anyone.post("/forgot-password", data={"email": "new@example.org"})
    assert session.exec(select(Message).where(Message.user_id == lead.id)).all() == [
        session.get(Message, invite.id)]


def test_only_admins_move_or_remove_leads(lead_client, factory, session):
    other = factory.staff("lead", region="london")
    for url in (f"/admin/leads/{other.id}", f"/admin/leads/{other.id}/remove"):
        assert lead_client.get(url).status_code == 404
    for url in (f"/admin/leads/{other.id}/region", f"/admin/leads/{other.id}/remove"):
        assert lead_client.post(url, data={"region": "wessex", "confirm": "yes"}
                                ).status_code == 404
    session.expire_all()
    assert session.get(User, other.id).role == "lead"


def test_a_volunteers_page_says_how_to_reach_them(lead_client, factory, session):
    person = factory.volunteer(status=PersonStatus.PENDING, region="wessex", scheme="wessex:poole",
                               channel="whatsapp", phone_country="GB", phone="07400 123456",
                               timezone="Europe/London")
    page = lead_client.get(f"/lead/volunteers/{person.id}").get_data(as_text=True)
    email = session.get(User, person.user_id).email
    assert f'href="mailto:{email}"' in page and 'href="tel:+447400123456"' in page
    assert 'href="https://wa.me/447400123456"' in page and "WhatsApp" in page
    assert "Europe/London" in page
