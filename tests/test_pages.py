"""The pages every NHS service has: help and contact, accessibility, privacy; and a member
asking their DA lead to contact them."""

from __future__ import annotations

import html

import pytest
from sqlmodel import select

from buddy import intakes
from buddy.messaging.models import Flag
from buddy.models import AuditEvent
from tests.factories import login


@pytest.mark.parametrize("url", ["/", "/help", "/accessibility", "/privacy", "/login"])
def test_every_page_links_to_help_accessibility_and_privacy(client, url):
    page = client.get(url).get_data(as_text=True)
    footer = page.split('class="nhsuk-footer"', 1)[1]
    for href, words in (("/help", "Help and contact"), ("/accessibility",
                        "Accessibility statement"), ("/privacy", "How we use your information")):
        assert f'href="{href}">{words}</a>' in footer


def test_help_says_where_to_get_urgent_help_and_how_to_reach_the_team(client):
    page = html.unescape(client.get("/help").get_data(as_text=True))
    for words in ('href="tel:999"', "111.nhs.uk", 'href="tel:111"', "Samaritans",
                  'href="tel:116123"', "NHS Practitioner Health", "DocHealth",
                  "Buddy is not an emergency service", "part of your assessment",
                  'href="mailto:buddy-team@example.org"'):
        assert words in page, words
    assert "Sign in</a> to ask now" in page


def test_the_team_address_and_the_data_controller_are_settings(make_app):
    app = make_app(BUDDY_CONTACT_EMAIL="buddy@hee.nhs.uk",
                   BUDDY_DATA_CONTROLLER="Health Education Somewhere")
    client = app.test_client()
    for url in ("/help", "/accessibility", "/privacy"):
        page = client.get(url).get_data(as_text=True)
        assert "mailto:buddy@hee.nhs.uk" in page and "example.org" not in page, url
    assert "Health Education Somewhere is the data controller" in client.get(
        "/privacy").get_data(as_text=True)
    assert "This website is run by Health Education Somewhere" in client.get(
        "/accessibility").get_data(as_text=True)


def test_without_a_team_address_the_sender_address_is_used(make_app):
    app = make_app(BUDDY_MAIL_FROM="Buddy <buddy@nhs.example>")
    assert "mailto:buddy@nhs.example" in app.test_client().get("/help").get_data(as_text=True)


def test_the_privacy_notice_names_the_controller_basis_retention_rights_and_the_ico(client):
    page = html.unescape(client.get("/privacy").get_data(as_text=True))
    months = intakes.programme().retention_months
    for words in ("NHS England (Workforce, Training and Education) is the data controller",
                  "Article 6(1)(e)", "explicit consent (UK GDPR Article 9(2)(a))",
                  "tick a separate box", f"We remove them {months} months after",
                  "Download your data", "Delete your account", "(access)", "(rectification)",
                  "(erasure)", "(restriction)", "(objection)", "ico.org.uk",
                  'href="tel:03031231113"', "0303 123 1113", "Twilio"):
        assert words in page, words
    assert 'id="regional-retention"' not in page  # no region keeps data for another time


def test_the_accessibility_statement_follows_the_public_sector_model(client):
    page = html.unescape(client.get("/accessibility").get_data(as_text=True))
    for words in ("partially compliant with the", "Web Content Accessibility Guidelines "
                  "version 2.2</a> AA standard", "axe-core", "360 pixels", "keyboard",
                  "How accessible this website is", "Reporting accessibility problems",
                  "Equality and Human Rights Commission (EHRC)",
                  "Equality Commission for Northern Ireland (ECNI)",
                  "This statement was prepared on"):
        assert words in page, words


def test_a_member_asks_their_lead_to_contact_them_from_the_help_page(app, client, factory,
                                                                    session):
    factory.staff("lead", region="wessex", full_name="Dr Priya Shah",
                  email="lead@example.org")
    person = factory.newcomer(region="wessex", scheme="wessex:poole", email="n@example.org")
    login(client, "n@example.org")
    page = client.get("/help").get_data(as_text=True)
    assert "You are in Wessex. Your DA lead is Dr Priya Shah." in page
    done = client.post("/help/ask", data={"text": "Where do I find a GP to register with?"},
                       follow_redirects=True).get_data(as_text=True)
    assert "We have asked your DA lead to contact you" in done
    again = client.post("/help/ask", data={"text": "Also about housing"},
                        follow_redirects=True).get_data(as_text=True)
    assert "Your DA lead already has your request" in again
    flag = session.exec(select(Flag).where(Flag.person_id == person.id)).one()
    assert (flag.reason, flag.region, flag.status) == ("help", "wessex", "open")
    assert flag.text == "Where do I find a GP to register with?\nAlso about housing"
    assert len(session.exec(select(AuditEvent).where(
        AuditEvent.action == "help_asked")).all()) == 2
    # The lead sees it with what they wrote, where they asked, and how to reach them.
    lead = app.test_client()
    login(lead, "lead@example.org")
    flag_page = lead.get(f"/lead/flags/{flag.id}").get_data(as_text=True)
    assert "Where do I find a GP to register with?" in flag_page
    assert "On the help page of the Buddy website" in flag_page
    assert "They asked for help" in flag_page and "mailto:n@example.org" in flag_page


def test_a_request_that_hides_text_is_refused_and_kept(client, factory, session):
    factory.newcomer(region="wessex", scheme="wessex:poole", email="n@example.org")
    login(client, "n@example.org")
    typed = "Please call \u202eme"
    response = client.post("/help/ask", data={"text": typed})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "There is a problem" in page
    assert "Remove the text-direction marks" in page and "Please call" in page
    assert session.exec(select(Flag)).all() == []


def test_only_members_ask_through_the_help_page(app, client, factory):
    assert client.post("/help/ask", data={"text": "hi"}).status_code == 302  # sign in first
    factory.staff("lead", region="wessex", email="lead@example.org")
    lead = app.test_client()
    login(lead, "lead@example.org")
    assert lead.post("/help/ask", data={"text": "hi"}).status_code == 404
    assert "Their requests appear as flags" in lead.get("/help").get_data(as_text=True)
