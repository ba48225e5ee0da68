"""DA leads see and decide on volunteers of their own region only; admins manage leads."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from buddy.messaging.models import Message
from buddy.models import AuditEvent, Person, User
from tests.factories import login


@pytest.fixture
def lead_client(app, factory):
    factory.staff("lead", region="wessex", email="lead.wessex@example.org")
    client = app.test_client()
    login(client, "lead.wessex@example.org")
    return client


def test_lead_sees_only_their_regions_pending_volunteers(lead_client, factory):
    mine = factory.volunteer(status="pending", region="wessex", scheme="wessex:poole",
                             full_name="Wessex Volunteer")
    factory.volunteer(status="pending", region="london", full_name="London Volunteer")
    page = lead_client.get("/lead/volunteers").get_data(as_text=True)
    assert "Wessex Volunteer" in page and "London Volunteer" not in page
    assert f"/lead/volunteers/{mine.id}" in page
    assert "1 waiting for approval" in lead_client.get("/lead/").get_data(as_text=True)


@pytest.mark.parametrize(("decision", "status"), [("approve", "active"), ("decline", "declined")])
def test_lead_approves_or_declines(lead_client, factory, session, decision, status):
    person = factory.volunteer(status="pending", region="wessex", scheme="wessex:poole")
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
    assert "has already been" in again.get_data(as_text=True)


def test_another_regions_volunteer_is_not_found_by_url_or_form(lead_client, factory, session):
    other = factory.volunteer(status="pending", region="london")
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
    factory.volunteer(status="pending", region="london", full_name="London Volunteer")
    factory.volunteer(status="pending", region="north-east", scheme=None,
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


def test_admin_moves_a_lead_to_another_region(app, factory, session):
    factory.staff("admin", email="admin@example.org")
    lead = factory.staff("lead", region="wessex")
    client = app.test_client()
    login(client, "admin@example.org")
    client.post(f"/admin/leads/{lead.id}/region", data={"region": "north-east"})
    session.expire_all()
    assert session.get(User, lead.id).region == "north-east"
    assert client.post("/admin/leads/99999/region", data={"region": "london"}).status_code == 404
