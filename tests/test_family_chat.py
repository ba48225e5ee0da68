"""A family's group chat link: its anchor (or the region's lead) keeps it, only its members
and their lead see it, and it goes when the family ends."""

from __future__ import annotations

import pytest
from sqlmodel import select

from buddy.models import AuditEvent, Family
from buddy.services import endings
from buddy.services.chats import clean_link
from tests.factories import login
from tests.test_endings import make_family

LINK = "https://chat.whatsapp.com/Fa7Kq2Lr9XyZ0123abcd"


@pytest.fixture
def family(app, session, factory):
    return make_family(app, session, factory)


def as_member(app, person, factory):
    client = app.test_client()
    login(client, factory.user_of(person).email)
    return client


def test_the_anchor_adds_a_link_and_every_member_sees_it(app, session, factory, family):
    fam, people = family
    anchor = as_member(app, people["anchor"], factory)
    page = anchor.get("/family/").get_data(as_text=True)
    assert "Link to your family&#39;s group chat" in page
    response = anchor.post(f"/family/{fam.id}/chat", data={"chat_link": f"  {LINK} "})
    assert response.status_code == 302
    assert response.headers["Location"] == "/family/?chat=saved#chat"
    assert "The link has been saved: the family can see it now" in anchor.get(
        "/family/?chat=saved").get_data(as_text=True)
    session.expire_all()
    assert session.get(Family, fam.id).chat_link == LINK
    for who in ("newcomer", "buddy", "anchor"):
        page = as_member(app, people[who], factory).get("/family/").get_data(as_text=True)
        assert f'href="{LINK}"' in page
        assert "Join the family's WhatsApp group" in page
    # Only the anchor has the form.
    buddy_page = as_member(app, people["buddy"], factory).get("/family/").get_data(as_text=True)
    assert "Link to your family&#39;s group chat" not in buddy_page
    event = session.exec(select(AuditEvent).where(
        AuditEvent.action == "family_chat_added")).one()
    assert event.actor_id == factory.user_of(people["anchor"]).id
    assert event.detail == {"family_id": fam.id, "family": fam.code, "app": "WhatsApp"}
    assert LINK not in str(event.detail)


def test_the_anchor_changes_and_removes_it(app, session, factory, family):
    fam, people = family
    anchor = as_member(app, people["anchor"], factory)
    anchor.post(f"/family/{fam.id}/chat", data={"chat_link": LINK})
    signal = "https://signal.group/#CjQKIAbcdefghijklmnop"
    anchor.post(f"/family/{fam.id}/chat", data={"chat_link": signal})
    session.expire_all()
    assert session.get(Family, fam.id).chat_link == signal
    anchor.post(f"/family/{fam.id}/chat", data={"chat_link": signal, "action": "remove"})
    session.expire_all()
    assert session.get(Family, fam.id).chat_link is None
    page = as_member(app, people["newcomer"], factory).get("/family/").get_data(as_text=True)
    assert "Your family has no group chat link yet" in page
    actions = session.exec(select(AuditEvent.action).where(
        AuditEvent.action.like("family_chat_%")).order_by(AuditEvent.id)).all()
    assert actions == ["family_chat_added", "family_chat_changed", "family_chat_removed"]


@pytest.mark.parametrize("link, words", [
    ("http://chat.whatsapp.com/abc123", "starting with https://"),
    ("https://chat.whatsapp.com.evil.example/abc", "starting with https://"),
    ("https://evil.example/chat.whatsapp.com/abc", "starting with https://"),
    ("https://user@chat.whatsapp.com/abc", "starting with https://"),
    ("javascript:alert(1)", "starting with https://"),
    ("https://chat.whatsapp.com/", "not a group&#39;s invite link"),
    ("https://chat.whatsapp.com/ab c", "must not have spaces"),
    ("https://teams.microsoft.com/l/chat/" + "x" * 300, "300 characters or fewer"),
    ("", "starting with https://"),
])
def test_a_bad_link_is_refused_in_words_and_kept_in_the_box(app, session, factory, family,
                                                            link, words):
    fam, people = family
    anchor = as_member(app, people["anchor"], factory)
    response = anchor.post(f"/family/{fam.id}/chat", data={"chat_link": link})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "There is a problem" in page and words in page
    if link and "javascript" not in link:
        assert f'value="{link}"' in page.replace("&amp;", "&")
    session.expire_all()
    assert session.get(Family, fam.id).chat_link is None


@pytest.mark.parametrize("link", [
    LINK, "https://signal.group/#CjQKIAbc", "https://teams.microsoft.com/l/chat/0/0?users=x",
    "https://teams.live.com/l/invite/FEAxyz", "HTTPS://chat.whatsapp.com/Abc",
])
def test_known_chat_apps_are_accepted(app_context, link):
    assert clean_link(link) == link


def test_members_only_and_never_another_family(app, session, factory, family):
    fam, people = family
    as_member(app, people["anchor"], factory).post(f"/family/{fam.id}/chat",
                                                   data={"chat_link": LINK})
    other_family, others = make_family(app, session, factory)
    outsider = factory.newcomer()
    for person in (others["newcomer"], others["anchor"], outsider):
        client = as_member(app, person, factory)
        assert LINK not in client.get("/family/").get_data(as_text=True)
        # Nobody but the anchor changes it: not the anchor of another family, not a stranger.
        assert client.post(f"/family/{fam.id}/chat",
                           data={"chat_link": "https://signal.group/#x"}).status_code == 404
    # Nor a buddy or a newcomer of the family itself.
    for who in ("buddy", "newcomer"):
        client = as_member(app, people[who], factory)
        assert client.post(f"/family/{fam.id}/chat",
                           data={"chat_link": "https://signal.group/#x"}).status_code == 404
    session.expire_all()
    assert session.get(Family, fam.id).chat_link == LINK
    assert session.get(Family, other_family.id).chat_link is None


def test_the_regions_lead_sees_and_changes_it_another_lead_cannot(app, session, factory,
                                                                   family):
    fam, _ = family
    factory.staff("lead", region="london", email="lead.london@example.org")
    factory.staff("lead", region="wessex", email="lead.wessex@example.org")
    lead = app.test_client()
    login(lead, "lead.london@example.org")
    response = lead.post(f"/family/{fam.id}/chat", data={"chat_link": "whatsapp-group"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Enter a link to a group chat on WhatsApp" in page and 'value="whatsapp-group"' in page
    response = lead.post(f"/family/{fam.id}/chat", data={"chat_link": LINK})
    assert response.headers["Location"] == f"/lead/families/{fam.id}?chat=saved#chat"
    assert f'href="{LINK}"' in lead.get(f"/lead/families/{fam.id}").get_data(as_text=True)
    other = app.test_client()
    login(other, "lead.wessex@example.org")
    assert other.post(f"/family/{fam.id}/chat", data={"chat_link": ""}).status_code == 404
    session.expire_all()
    assert session.get(Family, fam.id).chat_link == LINK


def test_the_link_goes_when_the_family_ends(app, session, factory, family, client):
    fam, people = family
    as_member(app, people["anchor"], factory).post(f"/family/{fam.id}/chat",
                                                   data={"chat_link": LINK})
    session.expire_all()
    with app.app_context():
        endings.end(session, session.get(Family, fam.id), "Test", now=endings.clock.now())
    session.expire_all()
    assert session.get(Family, fam.id).chat_link is None
    client = as_member(app, people["newcomer"], factory)
    assert LINK not in client.get("/family/").get_data(as_text=True)
    # An ended family's link cannot be set again.
    anchor = as_member(app, people["anchor"], factory)
    assert anchor.post(f"/family/{fam.id}/chat", data={"chat_link": LINK}).status_code == 404
